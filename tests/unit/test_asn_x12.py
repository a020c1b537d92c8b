"""SSCC-18 check digits against GS1's published examples, and the X12 856 writer, re-read by a small parser."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.asn_x12 import (
    CUSTOMER_PICKUP,
    AsnError,
    AsnItem,
    AsnOrder,
    AsnPack,
    AsnShipment,
    Envelope,
    Party,
    Separators,
    ascii_fold,
    write_856,
)
from transforms.sscc import SsccError, gs1_check_digit, is_valid_sscc, make_sscc, validate_sscc

# -- SSCC --------------------------------------------------------------------------------------------


def test_gs1_published_sscc_example() -> None:
    # GS1 General Specifications / EPC Tag Data Standard example: (00) 1 0614141 234567890 8,
    # urn:epc:id:sscc:0614141.1234567890.
    assert gs1_check_digit("10614141234567890") == 8
    assert make_sscc(1, "0614141", 234567890) == "106141412345678908"
    assert is_valid_sscc("106141412345678908")
    assert not is_valid_sscc("106141412345678909")


def test_gs1_published_gtin_example_uses_the_same_algorithm() -> None:
    # GS1's worked GTIN-13 example (check digit calculator page): 629104150021 → 3.
    assert gs1_check_digit("629104150021") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, "0614141", 1), "extension digit"),
        ((1, "061414", 1), None),  # a six-digit prefix is fine
        ((1, "06141", 1), None),
        ((1, "061", 1), "Company Prefix"),
        ((1, "06141A1", 1), "Company Prefix"),
        ((1, "0614141", 10**9), "does not fit"),
        ((1, "0614141", -1), "does not fit"),
    ],
)
def test_make_sscc_refuses_what_does_not_fit(args, message) -> None:
    if message is None:
        assert is_valid_sscc(make_sscc(*args))
    else:
        with pytest.raises(SsccError, match=message):
            make_sscc(*args)


def test_validate_sscc_says_what_is_wrong() -> None:
    assert validate_sscc("106141412345678908") == "106141412345678908"
    with pytest.raises(SsccError, match="check digit 9 is wrong, 8 expected"):
        validate_sscc("106141412345678909")
    for bad in ("10614141234567890", "1061414123456789081", "10614141234567890A", "１06141412345678908"):
        with pytest.raises(SsccError, match="18 digits"):
            validate_sscc(bad)


@given(st.integers(0, 9), st.text("0123456789", min_size=7, max_size=10), st.integers(0, 10**6 - 1))
def test_every_made_sscc_validates_and_any_single_digit_change_is_caught(ext, prefix, serial) -> None:
    code = make_sscc(ext, prefix, serial)
    assert len(code) == 18 and is_valid_sscc(code)
    for position in range(18):
        for digit in "0123456789":
            if digit != code[position]:
                assert not is_valid_sscc(code[:position] + digit + code[position + 1 :])


# -- a small, independent X12 reader -----------------------------------------------------------------


def parse_x12(text: str) -> list[list[str]]:
    """Segments as element lists. Separators come from the ISA itself, as a receiving translator reads them:
    the element separator is character 4, the component separator character 105, the terminator 106."""
    assert text.startswith("ISA")
    element, terminator = text[3], text[105]
    return [seg.strip("\r\n").split(element) for seg in text.split(terminator) if seg.strip("\r\n")]


def reconcile(segments: list[list[str]]) -> dict[str, int]:
    """Recompute every count and check it against what the file says; returns the figures."""
    ids = [s[0] for s in segments]
    assert ids[0] == "ISA" and ids[1] == "GS" and ids[2] == "ST" and ids[-3:] == ["SE", "GE", "IEA"]
    st_at, se_at = ids.index("ST"), ids.index("SE")
    body = segments[st_at : se_at + 1]
    assert int(segments[se_at][1]) == len(body), "SE01 counts ST through SE"
    assert segments[se_at][2] == segments[st_at][2], "SE02 repeats ST02"
    hls = [s for s in body if s[0] == "HL"]
    ctt = next(s for s in body if s[0] == "CTT")
    assert int(ctt[1]) == len(hls), "CTT01 is the number of HL segments"
    sn1 = [s for s in body if s[0] == "SN1"]
    assert int(ctt[2]) == sum(int(s[2]) for s in sn1), "CTT02 is the hash total of SN102"
    # HL ids run 1..n, each parent is an earlier HL one level up: S → O → P → I.
    levels = {"S": 0, "O": 1, "P": 2, "I": 3}
    seen: dict[str, str] = {}
    for n, hl in enumerate(hls, 1):
        assert hl[1] == str(n)
        if hl[3] == "S":
            assert hl[2] == ""
        else:
            assert levels[seen[hl[2]]] == levels[hl[3]] - 1
        seen[hl[1]] = hl[3]
    # Every pack is a valid SSCC, every item sits under a pack with one LIN and one SN1.
    for man in (s for s in body if s[0] == "MAN"):
        assert man[1] == "GM" and is_valid_sscc(man[2])
    isa, gs, ge, iea = segments[0], segments[1], segments[-2], segments[-1]
    assert len(isa) == 17 and iea[2] == isa[13] and ge[2] == gs[6] and ge[1] == "1" and iea[1] == "1"
    return {
        "hl": len(hls),
        "hash": int(ctt[2]),
        "packs": sum(1 for h in hls if h[3] == "P"),
        "items": sum(1 for h in hls if h[3] == "I"),
    }


# -- the 856 -----------------------------------------------------------------------------------------

ENVELOPE = Envelope(
    sender_qualifier="ZZ",
    sender_id="PARTSHUB",
    receiver_qualifier="ZZ",
    receiver_id="ACMEPARTS",
    interchange_control=17,
    group_control=17,
    transaction_control=1,
    created=datetime(2024, 5, 21, 9, 0, tzinfo=UTC),
)
SHIP_FROM = Party("Parts Hub Shanghai DC", "WH-SH01", address="88 Jinqiao Rd", city="Shanghai", country="CN")
SHIP_TO = Party("ACME Parts GmbH", "C100", city="Hamburg", postal_code="20095", country="DE")
SSCC1 = make_sscc(0, "0614141", 1)
SSCC2 = make_sscc(0, "0614141", 2)


def _shipment(**changes) -> AsnShipment:
    base = AsnShipment(
        shipment_id="80000017",
        shipped_at=datetime(2024, 5, 21, 16, 40, tzinfo=timezone(timedelta(hours=8))),
        ship_from=SHIP_FROM,
        ship_to=SHIP_TO,
        orders=(
            AsnOrder(
                "PO-88231",
                date(2024, 5, 18),
                "1000001",
                (
                    AsnPack(
                        SSCC1,
                        (
                            AsnItem(10, "P-1001", Decimal(5), "EA", "BRK-F", "Front brake pad"),
                            AsnItem(20, "P-2040", Decimal(10), "EA"),
                        ),
                    ),
                    AsnPack(SSCC2, (AsnItem(20, "P-2040", Decimal("8.000"), "EA"),)),
                ),
            ),
        ),
        carrier_code="SF",
        carrier_name="SF Express",
        tracking="SF1234567890123",
        gross_weight_kg=Decimal("12.50"),
    )
    return replace(base, **changes)


def test_sample_ship_notice() -> None:
    text = write_856(_shipment(), ENVELOPE)
    lines = text.splitlines()
    assert lines[0] == (
        "ISA*00*          *00*          *ZZ*PARTSHUB       *ZZ*ACMEPARTS      *240521*0900*U*00401*000000017*0*P*>~"
    )
    assert len(lines[0]) == 106
    assert lines[1:] == [
        "GS*SH*PARTSHUB*ACMEPARTS*20240521*0900*17*X*004010~",
        "ST*856*0001~",
        "BSN*00*80000017*20240521*0840*0001~",  # 16:40 GMT+8 is 08:40 UTC
        "HL*1**S~",
        "TD1*CTN25*2****G*12.5*KG~",
        "TD5*B*ZZ*SF*U*SF Express~",
        "REF*CN*SF1234567890123~",
        "DTM*011*20240521*0840*UT~",
        "N1*SF*Parts Hub Shanghai DC*92*WH-SH01~",
        "N3*88 Jinqiao Rd~",
        "N4*Shanghai***CN~",
        "N1*ST*ACME Parts GmbH*92*C100~",
        "N4*Hamburg**20095*DE~",
        "HL*2*1*O~",
        "PRF*PO-88231***20240518~",
        "REF*VN*1000001~",
        "HL*3*2*P~",
        f"MAN*GM*{SSCC1}~",
        "HL*4*3*I~",
        "LIN*10*VN*P-1001*BP*BRK-F~",
        "SN1**5*EA~",
        "PID*F****Front brake pad~",
        "HL*5*3*I~",
        "LIN*20*VN*P-2040~",
        "SN1**10*EA~",
        "HL*6*2*P~",
        f"MAN*GM*{SSCC2}~",
        "HL*7*6*I~",
        "LIN*20*VN*P-2040~",
        "SN1**8*EA~",
        "CTT*7*23~",
        "SE*31*0001~",
        "GE*1*17~",
        "IEA*1*000000017~",
    ]
    assert reconcile(parse_x12(text)) == {"hl": 7, "hash": 23, "packs": 2, "items": 3}


def test_pickup_sends_no_carrier() -> None:
    text = write_856(_shipment(transport_method=CUSTOMER_PICKUP, carrier_code=None, tracking=None), ENVELOPE)
    assert "TD5*B***H~" in text and "REF*CN" not in text
    reconcile(parse_x12(text))


def test_other_separators_and_no_line_breaks() -> None:
    separators = Separators(element="|", segment="\n", component="^", line_break="")
    text = write_856(_shipment(), ENVELOPE, separators)
    assert text.startswith("ISA|00|") and text.splitlines()[-1] == "IEA|1|000000017"
    assert reconcile(parse_x12(text))["hl"] == 7
    compact = write_856(_shipment(), ENVELOPE, Separators(line_break=""))
    assert "\n" not in compact and reconcile(parse_x12(compact))["hash"] == 23


def test_the_same_shipment_writes_the_same_bytes() -> None:
    assert write_856(_shipment(), ENVELOPE) == write_856(_shipment(), ENVELOPE)


def test_test_indicator_and_application_ids() -> None:
    text = write_856(_shipment(), replace(ENVELOPE, test=True, application_sender="HUB01", transaction_control=12345))
    segments = parse_x12(text)
    assert segments[0][15] == "T" and segments[1][2] == "HUB01" and segments[2][2] == "12345"


@pytest.mark.parametrize(
    ("shipment", "field"),
    [
        (lambda s: replace(s, ship_to=replace(SHIP_TO, name="ACME*Parts")), "shipment.ship_to.name"),
        (lambda s: replace(s, ship_to=replace(SHIP_TO, name="ACME~Parts")), "shipment.ship_to.name"),
        (lambda s: replace(s, ship_to=replace(SHIP_TO, name="ACME>Parts")), "shipment.ship_to.name"),
        (lambda s: replace(s, ship_to=replace(SHIP_TO, name="ACME\r\nBCC: x")), "shipment.ship_to.name"),
        (lambda s: replace(s, ship_to=replace(SHIP_TO, name="上海汽配")), "shipment.ship_to.name"),
        (lambda s: replace(s, ship_to=replace(SHIP_TO, name="x" * 61)), "shipment.ship_to.name"),
        (lambda s: replace(s, shipment_id="8"), "shipment.shipment_id"),
        (lambda s: replace(s, carrier_code=None), "shipment.carrier_code"),
        (lambda s: replace(s, orders=()), "shipment.orders"),
        (lambda s: replace(s, gross_weight_kg=Decimal(0)), "shipment.gross_weight_kg"),
        (lambda s: replace(s, shipped_at=datetime(2024, 5, 21)), "shipment.shipped_at"),
    ],
)
def test_values_the_file_cannot_carry_are_refused_by_field(shipment, field) -> None:
    with pytest.raises(AsnError) as err:
        write_856(shipment(_shipment()), ENVELOPE)
    assert err.value.field == field


def _with_item(item: AsnItem) -> AsnShipment:
    return _shipment(orders=(AsnOrder("PO-1", None, None, (AsnPack(SSCC1, (item,)),)),))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (AsnItem(10, "P-1", Decimal("2.5")), "quantity must be a whole number"),
        (AsnItem(10, "P-1", Decimal(0)), "quantity must be positive"),
        (AsnItem(10, "P-1", Decimal(10**10)), "quantity 10000000000 does not fit"),
        (AsnItem(10, "P*1", Decimal(1)), "vendor_part holds the separator"),
        (AsnItem(10, "P-1", Decimal(1), "PIECE"), "unit is 5 characters"),
        (AsnItem(0, "P-1", Decimal(1)), "line_no must be a number"),
    ],
)
def test_item_refusals(item: AsnItem, message: str) -> None:
    with pytest.raises(AsnError, match=f"shipment.orders\\[1\\].packs\\[1\\].items\\[1\\].{message}"):
        write_856(_with_item(item), ENVELOPE)


def test_pack_refusals() -> None:
    bad = _shipment(orders=(AsnOrder("PO-1", None, None, (AsnPack("106141412345678909", ()),)),))
    with pytest.raises(AsnError, match=r"packs\[1\].sscc SSCC 106141412345678909: check digit"):
        write_856(bad, ENVELOPE)
    twice = AsnPack(SSCC1, (AsnItem(1, "P", Decimal(1)),))
    with pytest.raises(AsnError, match="already used"):
        write_856(_shipment(orders=(AsnOrder("PO-1", None, None, (twice, twice)),)), ENVELOPE)
    with pytest.raises(AsnError, match=r"packs\[1\].items is empty"):
        write_856(_shipment(orders=(AsnOrder("PO-1", None, None, (AsnPack(SSCC1, ()),)),)), ENVELOPE)


@pytest.mark.parametrize(
    ("envelope", "field"),
    [
        (replace(ENVELOPE, sender_id="A" * 16), "envelope.sender_id"),
        (replace(ENVELOPE, interchange_control=0), "envelope.interchange_control"),
        (replace(ENVELOPE, group_control=10**9), "envelope.group_control"),
        (replace(ENVELOPE, sender_qualifier="Z"), "envelope.sender_qualifier"),
        (replace(ENVELOPE, created=datetime(2024, 5, 21)), "envelope.created"),
    ],
)
def test_envelope_refusals(envelope: Envelope, field: str) -> None:
    with pytest.raises(AsnError) as err:
        write_856(_shipment(), envelope)
    assert err.value.field == field


@pytest.mark.parametrize(
    "separators",
    [
        Separators(element="~"),
        Separators(element="A"),
        Separators(segment=" "),
        Separators(line_break="\r"),
        Separators(segment="\n"),
    ],
)
def test_bad_separators_are_refused(separators: Separators) -> None:
    with pytest.raises(AsnError, match="separators"):
        write_856(_shipment(), ENVELOPE, separators)


def test_non_ascii_can_be_allowed_for_partners_that_take_utf8() -> None:
    text = write_856(_shipment(ship_to=replace(SHIP_TO, name="上海汽配有限公司")), ENVELOPE, ascii_only=False)
    assert "N1*ST*上海汽配有限公司*92*C100~" in text


# -- property: whatever the shipment, the parsed file reconciles -------------------------------------

_safe = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="*~>|^"), min_size=2, max_size=20
)


@st.composite
def _shipments(draw: st.DrawFn) -> AsnShipment:
    serial = iter(range(1, 10**6))
    orders = []
    for _ in range(draw(st.integers(1, 3))):
        packs = []
        for _ in range(draw(st.integers(1, 3))):
            items = tuple(
                AsnItem(
                    draw(st.integers(1, 999_999)),
                    draw(_safe),
                    Decimal(draw(st.integers(1, 10**6))),
                    "EA",
                    draw(st.none() | _safe),
                    draw(st.none() | _safe),
                )
                for _ in range(draw(st.integers(1, 4)))
            )
            packs.append(AsnPack(make_sscc(draw(st.integers(0, 9)), "0614141", next(serial)), items))
        orders.append(AsnOrder(draw(_safe), draw(st.none() | st.dates()), draw(st.none() | _safe), tuple(packs)))
    return _shipment(orders=tuple(orders), tracking=draw(st.none() | _safe))


@given(_shipments(), st.sampled_from([Separators(), Separators("|", "\n", "^", ""), Separators(line_break="\r\n")]))
def test_any_shipment_reconciles(shipment: AsnShipment, separators: Separators) -> None:
    figures = reconcile(parse_x12(write_856(shipment, ENVELOPE, separators)))
    packs = [pack for order in shipment.orders for pack in order.packs]
    items = [item for pack in packs for item in pack.items]
    assert figures == {
        "hl": 1 + len(shipment.orders) + len(packs) + len(items),
        "hash": sum(int(item.quantity) for item in items),
        "packs": len(packs),
        "items": len(items),
    }


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Moorfleeter Straße 171", "Moorfleeter Strasse 171"),
        ("München", "Muenchen"),
        ("ul. Gdyńska 198, Poznań", "ul. Gdynska 198, Poznan"),
        ("Łódź", "Lodz"),
        ("Crossgate Rd 115", "Crossgate Rd 115"),
        ("上海市浦东新区", "上海市浦东新区"),  # no spelling in ASCII: left for the writer to refuse
    ],
)
def test_ascii_fold_spells_latin_letters_in_ascii(text, folded):
    assert ascii_fold(text) == folded


@given(st.text(max_size=40))
def test_ascii_fold_gives_ascii_or_leaves_the_text_alone(text):
    folded = ascii_fold(text)
    assert folded.isascii() or folded == text
