"""Pure parts of the SAP emulator: $filter, literals, value formats, multipart, the undo journal, and
the generated metadata against SAP's published metadata (when the reference files are at hand)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.sap.batch import BatchResponse, ChangeSet, parse_batch, write_batch
from sandbox.sap.edm import EntityType, prop
from sandbox.sap.errors import SapError
from sandbox.sap.odata_json import etag_value, format_value, key_predicate, parse_datetime_text, parse_value
from sandbox.sap.odata_query import compile_filter, equality_lookup, parse_literal, parse_orderby, sort_rows
from sandbox.sap.services import SERVICES
from sandbox.sap.store import Journal, Table

TYPE = EntityType(
    "T",
    [
        prop("Id S10 K"),
        prop("Name S40"),
        prop("Qty D13.3 u:Unit"),
        prop("Unit S3 uom"),
        prop("Amount D16.3 u:Cur"),
        prop("Cur S5 cur"),
        prop("Day DT"),
        prop("Changed DTO7 ETAG"),
        prop("Flag B"),
    ],
)
ROWS = [
    {
        "Id": "1",
        "Name": "O'Brien brake pad",
        "Qty": Decimal("5"),
        "Day": datetime(2026, 12, 1, tzinfo=UTC),
        "Changed": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        "Flag": True,
        "Cur": "CNY",
        "Amount": Decimal("12.5"),
    },
    {
        "Id": "2",
        "Name": "Filter",
        "Qty": Decimal("0.5"),
        "Day": datetime(2026, 12, 3, tzinfo=UTC),
        "Changed": datetime(2026, 12, 3, 8, 30, tzinfo=UTC),
        "Flag": False,
        "Cur": "JPY",
        "Amount": Decimal("1200"),
    },
    {
        "Id": "3",
        "Name": "",
        "Qty": None,
        "Day": None,
        "Changed": None,
        "Flag": False,
        "Cur": "EUR",
        "Amount": Decimal("0"),
    },
]


def ids(text: str) -> list[str]:
    _, predicate = compile_filter(text, TYPE)
    return [r["Id"] for r in ROWS if predicate(r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Id eq '1'", ["1"]),
        ("Id ne '1'", ["2", "3"]),
        ("Name eq 'O''Brien brake pad'", ["1"]),
        ("Qty gt 1M", ["1"]),
        ("Qty le 0.5m and Qty ge 0.5", ["2"]),
        ("Qty eq null", ["3"]),
        ("not (Qty eq null) and Flag eq false", ["2"]),
        ("Flag or Id eq '3'", ["1", "3"]),
        ("Day ge datetime'2026-12-02T00:00'", ["2"]),
        ("Changed lt datetimeoffset'2026-12-02T00:00:00Z'", ["1"]),
        ("Changed gt datetimeoffset'2026-12-01T12:00:00+02:00'", ["2"]),
        ("substringof('brake', Name)", ["1"]),
        ("startswith(Name,'Fil') or endswith(Name,'pad')", ["1", "2"]),
        ("tolower(Name) eq 'filter'", ["2"]),
        ("length(Name) eq 0", ["3"]),
        ("(Id eq '1' or Id eq '2') and not Flag", ["2"]),
    ],
)
def test_filter(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Nope eq 1", "Property 'Nope' not found"),
        ("Id eq", "ends unexpectedly"),
        ("Id eq '1' or", "ends unexpectedly"),
        ("Id eq 1", "is a string"),
        ("frobnicate(Id)", "not supported"),
        ("Id eq '1' )", "Invalid token"),
        ("Day ge datetime'not-a-date'", "Invalid datetime literal"),
    ],
)
def test_filter_errors(text: str, fragment: str) -> None:
    with pytest.raises(SapError) as error:
        compile_filter(text, TYPE)
    assert error.value.status == 400 and fragment in error.value.message


def test_equality_lookup_finds_indexable_filters() -> None:
    assert equality_lookup(compile_filter("Id eq '1' or Id eq '2'", TYPE)[0]) == ("Id", {"1", "2"})
    assert equality_lookup(compile_filter("Flag and Name eq 'x'", TYPE)[0]) == ("Name", {"x"})
    assert equality_lookup(compile_filter("Id eq '1' or Name eq 'x'", TYPE)[0]) is None


def test_orderby_multi_key_with_nulls_first() -> None:
    order = parse_orderby("Flag desc, Qty asc", TYPE)
    assert [r["Id"] for r in sort_rows(list(ROWS), order)] == ["1", "3", "2"]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'TG11'", "TG11"),
        ("'it''s'", "it's"),
        ("10M", Decimal("10")),
        ("-2.50m", Decimal("-2.50")),
        ("datetime'2017-12-31T00:00'", datetime(2017, 12, 31, tzinfo=UTC)),
        ("datetimeoffset'2024-01-01T01:00:00+01:00'", datetime(2024, 1, 1, tzinfo=UTC)),
        ("time'PT14H30M'", time(14, 30)),
        ("true", True),
        ("null", None),
    ],
)
def test_literals(literal: str, value: object) -> None:
    assert parse_literal(literal) == value


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_string_literals_round_trip(text: str) -> None:
    assert parse_literal("'" + text.replace("'", "''") + "'") == text


_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_comparison = st.tuples(st.sampled_from(sorted(_OPS)), st.integers(-5, 5))
_filters = st.recursive(
    _comparison,
    lambda inner: st.one_of(st.tuples(st.just("not"), inner), st.tuples(st.sampled_from(["and", "or"]), inner, inner)),
    max_leaves=8,
)


def _text(node: tuple) -> str:
    if node[0] == "not":
        return f"not ({_text(node[1])})"
    if node[0] in ("and", "or"):
        return f"({_text(node[1])}) {node[0]} ({_text(node[2])})"
    return f"Qty {node[0]} {node[1]}M"


def _truth(node: tuple, qty: Decimal) -> bool:
    if node[0] == "not":
        return not _truth(node[1], qty)
    if node[0] == "and":
        return _truth(node[1], qty) and _truth(node[2], qty)
    if node[0] == "or":
        return _truth(node[1], qty) or _truth(node[2], qty)
    return _OPS[node[0]](qty, Decimal(node[1]))


@settings(max_examples=200)
@given(_filters, st.integers(-6, 6))
def test_filter_matches_python_semantics(node: tuple, qty: int) -> None:
    _, predicate = compile_filter(_text(node), TYPE)
    assert predicate({"Qty": Decimal(qty)}) == _truth(node, Decimal(qty))


# -- values --------------------------------------------------------------------------------------


def test_dates_decimals_and_etags() -> None:
    p = TYPE.by_name
    row = {"Cur": "CNY", "Unit": "PC"}
    assert format_value(p["Day"], datetime(2005, 10, 24, tzinfo=UTC)) == "/Date(1130112000000)/"
    assert format_value(p["Changed"], datetime(2005, 10, 24, 15, 36, 52, tzinfo=UTC)) == "/Date(1130168212000+0000)/"
    assert format_value(p["Amount"], Decimal("2656.237"), row, p) == "2656.24"  # currency decimals, not scale 3
    assert format_value(p["Amount"], Decimal("1200"), {"Cur": "JPY"}, p) == "1200"
    assert format_value(p["Qty"], Decimal("5"), row, p) == "5.000"
    assert format_value(prop("Rate D24.9"), Decimal("12.34")) == "12.340000000"
    assert format_value(p["Name"], None) == ""
    assert format_value(p["Day"], None) is None
    assert parse_datetime_text("/Date(1130168212000+0000)/") == datetime(2005, 10, 24, 15, 36, 52, tzinfo=UTC)
    assert parse_datetime_text("2026-12-01T00:00:00") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_value(p["Qty"], "2.5") == Decimal("2.5") and parse_value(p["Qty"], 3) == Decimal(3)
    with pytest.raises(ValueError, match="longer than 10"):
        parse_value(p["Id"], "x" * 11)
    assert etag_value(p["Changed"], datetime(2005, 10, 24, 15, 36, 52, 123456, tzinfo=UTC)) == (
        "W/\"datetimeoffset'2005-10-24T15%3A36%3A52.1234560Z'\""
    )
    assert etag_value(prop("DeliveryVersion S4 ETAG"), "0002") == "W/\"'0002'\""
    two_keys = EntityType("K", [prop("A S4 K"), prop("B S4 K")])
    assert key_predicate(two_keys, {"A": "1", "B": "it's"}) == "(A='1',B='it''s')"


# -- multipart ------------------------------------------------------------------------------------


def _encode(items: list[tuple[str, list[dict]] | str]) -> bytes:
    lines = []
    for n, item in enumerate(items):
        lines.append("--batch_x")
        if isinstance(item, str):
            lines += [
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                "",
                item + " HTTP/1.1",
                "",
                "",
            ]
            continue
        lines += [f"Content-Type: multipart/mixed; boundary=changeset_{n}", ""]
        for m, body in enumerate(item[1]):
            lines += [
                f"--changeset_{n}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {n}.{m}",
                "",
                f"POST {item[0]} HTTP/1.1",
                "Content-Type: application/json",
                "",
                json.dumps(body, ensure_ascii=False),
            ]
        lines.append(f"--changeset_{n}--")
    lines.append("--batch_x--")
    return "\r\n".join(lines).encode()


_bodies = st.lists(
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=3), min_size=1, max_size=3
)
_items = st.lists(
    st.one_of(st.just("GET A_SalesOrder?$top=1"), st.tuples(st.just("A_SalesOrder"), _bodies)), min_size=1, max_size=5
)


@given(_items)
def test_multipart_round_trip(items: list) -> None:
    parsed = parse_batch(_encode(items), "multipart/mixed; boundary=batch_x")
    assert len(parsed) == len(items)
    for n, (item, got) in enumerate(zip(items, parsed, strict=True)):
        if isinstance(item, str):
            assert not isinstance(got, ChangeSet) and (got.method, got.url) == ("GET", "A_SalesOrder?$top=1")
        else:
            assert isinstance(got, ChangeSet)
            assert [json.loads(r.body) for r in got.requests] == item[1]
            assert [r.content_id for r in got.requests] == [f"{n}.{m}" for m in range(len(item[1]))]


def test_written_batch_answer_parses_as_mime() -> None:
    from email.parser import BytesParser
    from email.policy import HTTP

    ok = BatchResponse(201, {"Content-Type": "application/json"}, b'{"d":{}}', "1")
    failed = BatchResponse(400, {"Content-Type": "application/json"}, b'{"error":{}}')
    body = write_batch([[ok, ok], failed, BatchResponse(200, {}, b"{}")], "batch_a", ["changeset_b"])
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: multipart/mixed; boundary=batch_a\r\n\r\n" + body)
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["multipart/mixed", "application/http", "application/http"]
    inner = list(parts[0].iter_parts())
    assert [p["Content-ID"] for p in inner] == ["1", "1"]
    assert inner[0].get_payload().startswith("HTTP/1.1 201 Created\r\n")
    assert parts[1].get_payload().startswith("HTTP/1.1 400 Bad Request\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")  # every line ends in CRLF


# -- journal ----------------------------------------------------------------------------------------


def test_journal_undoes_a_failed_transaction() -> None:
    from sandbox.sap.edm import EntitySet

    journal = Journal()
    table = Table(EntitySet("T", TYPE), journal, indexed=("Name",))
    table.insert(table.new_row(Id="1", Name="a"))
    with pytest.raises(RuntimeError), journal.transaction():
        table.insert(table.new_row(Id="2", Name="b"))
        table.update(table.get(("1",)), {"Name": "c"})
        table.delete(table.get(("1",)))
        raise RuntimeError("changeset failed")
    assert [r["Id"] for r in table.all()] == ["1"]
    assert table.get(("1",))["Name"] == "a" and [r["Id"] for r in table.lookup("Name", "a")] == ["1"]
    assert table.lookup("Name", "c") == [] and table.lookup("Name", "b") == []


# -- metadata fidelity -----------------------------------------------------------------------------

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sap"
REFERENCE_FILES = {
    "API_SALES_ORDER_SRV": "API_SALES_ORDER_SRV.edmx",
    "API_MATERIAL_STOCK_SRV": "API_MATERIAL_STOCK_SRV.edmx",
    "API_PRODUCT_AVAILY_INFO_BASIC": "API_PRODUCT_AVAILY_INFO_BASIC.edmx",
    "API_OUTBOUND_DELIVERY_SRV;v=0002": "OP_API_OUTBOUND_DELIVERY_SRV_0002.edmx",
    "API_BILLING_DOCUMENT_SRV": "API_BILLING_DOCUMENT_SRV.edmx",
    "API_BUSINESS_PARTNER": "API_BUSINESS_PARTNER.edmx",
    "API_PURCHASEREQ_PROCESS_SRV": "API_PURCHASEREQ_PROCESS_SRV.edmx",
}
EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"
SAP = "{http://www.sap.com/Protocols/SAPData}"
ATTRIBUTES = (
    "Type",
    "MaxLength",
    "Precision",
    "Scale",
    "Nullable",
    "ConcurrencyMode",
    f"{SAP}creatable",
    f"{SAP}updatable",
    f"{SAP}filterable",
    f"{SAP}display-format",
    f"{SAP}unit",
    f"{SAP}semantics",
)


def _attributes(element: ET.Element, *, complex_type: bool = False) -> dict[str, str | None]:
    names = [
        a for a in ATTRIBUTES if not (complex_type and a.split("}")[-1] in ("creatable", "updatable", "filterable"))
    ]
    return {a: element.get(a) for a in names}


# What SAP's published EDMX says about the types, properties and function imports the emulator
# declares: facts extracted from ../shared/reference/sap (not the files themselves) so the check runs
# on every machine. When the reference is present it is re-extracted and must still agree.
REFERENCE_FACTS = Path(__file__).resolve().parents[1] / "fixtures" / "sap" / "reference_metadata.json"


def _facts(root: ET.Element, declared: ET.Element) -> dict[str, object]:
    """The reference's facts for what ``declared`` (our generated metadata) declares."""
    types = {t.get("Name"): t for t in root.iter(f"{EDM}EntityType")}
    types.update({t.get("Name"): t for t in root.iter(f"{EDM}ComplexType")})
    facts: dict[str, object] = {}
    for mine in [*declared.iter(f"{EDM}EntityType"), *declared.iter(f"{EDM}ComplexType")]:
        reference = types[mine.get("Name")]
        is_complex = mine.tag.endswith("ComplexType")
        props = {p.get("Name"): p for p in reference.findall(f"{EDM}Property")}
        facts[str(mine.get("Name"))] = {
            "key": [] if is_complex else [k.get("Name") for k in reference.find(f"{EDM}Key")],
            "navigation": sorted(n.get("Name") for n in reference.findall(f"{EDM}NavigationProperty")),
            "properties": {
                name: _attributes(props[name], complex_type=is_complex)
                for name in (p.get("Name") for p in mine.findall(f"{EDM}Property"))
            },
        }
    functions = {f.get("Name"): f for f in root.iter(f"{EDM}FunctionImport")}
    for fn in declared.iter(f"{EDM}FunctionImport"):
        reference = functions[fn.get("Name")]
        facts[f"function {fn.get('Name')}"] = {
            "return": reference.get("ReturnType"),
            "parameters": [p.get("Name") for p in reference.findall(f"{EDM}Parameter")],
        }
    return facts


def _ours(path: str) -> ET.Element:
    return ET.fromstring(SERVICES[path].metadata_xml)  # noqa: S314 - generated here


@pytest.mark.parametrize("path", sorted(REFERENCE_FILES))
def test_generated_metadata_matches_sap_field_for_field(path: str) -> None:
    facts = json.loads(REFERENCE_FACTS.read_text(encoding="utf-8"))[path]
    if REFERENCE.is_dir():  # the recorded facts must still be what SAP publishes
        theirs = ET.parse(REFERENCE / REFERENCE_FILES[path]).getroot()  # noqa: S314 - SAP's published file
        assert _facts(theirs, _ours(path)) == facts
    ours = _ours(path)
    for mine in [*ours.iter(f"{EDM}EntityType"), *ours.iter(f"{EDM}ComplexType")]:
        reference = facts[mine.get("Name")]
        is_complex = mine.tag.endswith("ComplexType")
        if not is_complex:
            assert [k.get("Name") for k in mine.find(f"{EDM}Key")] == reference["key"]
            assert {n.get("Name") for n in mine.findall(f"{EDM}NavigationProperty")} <= set(reference["navigation"])
        for p in mine.findall(f"{EDM}Property"):
            assert _attributes(p, complex_type=is_complex) == reference["properties"][p.get("Name")], (
                mine.get("Name"),
                p.get("Name"),
            )
    for fn in ours.iter(f"{EDM}FunctionImport"):
        reference = facts[f"function {fn.get('Name')}"]
        assert fn.get("ReturnType") == reference["return"]
        assert [p.get("Name") for p in fn.findall(f"{EDM}Parameter")] == reference["parameters"]
