"""An X12 856 ship notice (ASN, version 004010) for one shipment, for customers that take EDI.

Hierarchy S → O → P → I (BSN05 ``0001``; domain reference §2.2):

- **S** shipment: ``TD1`` (cartons, gross weight), ``TD5`` (carrier), ``REF*BM`` bill of lading,
  ``REF*CN`` the carrier's tracking number, ``DTM*011`` shipped, ``N1*SF``/``N1*ST`` (+ N3/N4);
- **O** order: ``PRF`` the customer's PO (and its date), ``REF*VN`` our sales order;
- **P** pack: ``MAN*GM`` its SSCC-18 (check digit validated);
- **I** item: ``LIN`` (VN our part number, BP the buyer's), ``SN1`` shipped quantity and unit, ``PID``.

``CTT01`` is the number of HL segments and ``CTT02`` the hash total (sum) of the SN102 quantities;
``SE01`` counts the segments from ST to SE. Control numbers are passed in (the flow keeps the counter)
so a rewrite of the same shipment is byte-identical. Nothing is truncated or escaped: X12 has no
escape, so a value holding a separator, a control character, or (by default) anything outside
printable ASCII is refused with :class:`AsnError` naming the field, as is a value longer than its
element allows. Times are written in UTC (``DTM04`` ``UT``); ISA/GS times too.

Carrier (``TD5``): ``TD502`` ``ZZ`` (mutually defined) with the Qimen carrier code in ``TD503``
(those codes are not SCACs), ``TD504`` the transport method (``U`` private parcel service by default,
``H`` customer pickup, which sends no carrier), ``TD505`` the carrier's name when given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from transforms.sscc import SsccError, validate_sscc

VERSION = "00401"  # ISA12
GROUP_VERSION = "004010"  # GS08
CUSTOMER_PICKUP = "H"  # TD504 (X12 element 91)
PRIVATE_PARCEL = "U"
MOTOR_COMMON_CARRIER = "M"

_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class AsnError(ValueError):
    """A shipment the ASN cannot carry as it is; ``field`` names the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


@dataclass(frozen=True)
class Separators:
    element: str = "*"
    segment: str = "~"
    component: str = ">"  # ISA16
    line_break: str = "\n"  # after each segment terminator, for people reading the file; "" for none


@dataclass(frozen=True)
class Envelope:
    sender_qualifier: str  # ISA05, e.g. "ZZ" (mutually defined), "01" (DUNS)
    sender_id: str  # ISA06, ≤ 15
    receiver_qualifier: str  # ISA07
    receiver_id: str  # ISA08, ≤ 15
    interchange_control: int  # ISA13 / IEA02, 1..999999999
    group_control: int  # GS06 / GE02, 1..999999999
    transaction_control: int  # ST02 / SE02, 1..999999999 (at least four digits written)
    created: datetime  # ISA09/10, GS04/05; aware
    test: bool = False  # ISA15 T instead of P
    application_sender: str | None = None  # GS02; the ISA sender id when None
    application_receiver: str | None = None  # GS03; the ISA receiver id when None


@dataclass(frozen=True)
class Party:
    name: str  # N102
    id: str | None = None  # N104
    id_qualifier: str = "92"  # N103: 92 = assigned by the buyer
    address: str | None = None  # N301
    city: str | None = None  # N401
    region: str | None = None  # N402 (two letters)
    postal_code: str | None = None  # N403
    country: str | None = None  # N404 (ISO 3166 alpha-2)


@dataclass(frozen=True)
class AsnItem:
    line_no: int  # LIN01: the order line (our delivery item)
    vendor_part: str  # LIN VN: our part number
    quantity: Decimal  # SN102: whole units
    unit: str = "EA"  # SN103
    buyer_part: str | None = None  # LIN BP
    description: str | None = None  # PID05


@dataclass(frozen=True)
class AsnPack:
    sscc: str  # MAN*GM, 18 digits
    items: tuple[AsnItem, ...]


@dataclass(frozen=True)
class AsnOrder:
    purchase_order: str  # PRF01
    order_date: date | None  # PRF04
    sales_order: str | None  # REF*VN
    packs: tuple[AsnPack, ...]


@dataclass(frozen=True)
class AsnShipment:
    shipment_id: str  # BSN02: the delivery number
    shipped_at: datetime  # BSN03/04 and DTM*011; aware
    ship_from: Party
    ship_to: Party
    orders: tuple[AsnOrder, ...]
    carrier_code: str | None = None  # TD503
    carrier_name: str | None = None  # TD505
    transport_method: str = PRIVATE_PARCEL  # TD504
    tracking: str | None = None  # REF*CN
    bill_of_lading: str | None = None  # REF*BM
    gross_weight_kg: Decimal | None = None  # TD107


class _Writer:
    def __init__(self, separators: Separators, ascii_only: bool) -> None:
        self.sep = separators
        self.ascii_only = ascii_only
        self.segments: list[str] = []
        self.forbidden = {separators.element, separators.segment, separators.component} | set(separators.line_break)

    def value(self, field: str, value: str | None, low: int, high: int) -> str:
        if value is None or value == "":
            raise AsnError(field, "is required and missing")
        if not isinstance(value, str):
            raise AsnError(field, f"must be text, not {type(value).__name__}")
        for char in sorted(self.forbidden):
            if char in value:
                raise AsnError(field, f"holds the separator {char!r}: X12 cannot escape it")
        if _CONTROL.search(value):
            raise AsnError(field, "holds a control character")
        if self.ascii_only and not _PRINTABLE_ASCII.match(value):
            raise AsnError(field, "holds characters outside printable ASCII")
        if value != value.strip():
            raise AsnError(field, "has leading or trailing spaces")
        if not low <= len(value) <= high:
            raise AsnError(field, f"is {len(value)} characters long; the element takes {low}-{high}")
        return value

    def segment(self, *elements: str | None) -> None:
        items = [e or "" for e in elements]
        while items and items[-1] == "":  # X12: trailing empty elements are left off
            items.pop()
        self.segments.append(self.sep.element.join(items))

    def text(self) -> str:
        end = self.sep.segment + self.sep.line_break
        return "".join(segment + end for segment in self.segments)


# Letters that do not decompose into ASCII, spelled as trading partners' EDI mappers spell them.
_FOLD = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Ø": "O",
        "ø": "o",
        "Œ": "OE",
        "œ": "oe",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Þ": "Th",
        "þ": "th",
        "ı": "i",
    }
)
_UMLAUT = str.maketrans({"Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ä": "ae", "ö": "oe", "ü": "ue"})


def ascii_fold(text: str) -> str:
    """``text`` in X12's basic character set where a spelling exists (``Moorfleeter Straße`` →
    ``Moorfleeter Strasse``, ``Poznań`` → ``Poznan``, ``Müller`` → ``Mueller``); what has none (Chinese)
    is left as it is, for :func:`write_856` to refuse naming the field."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", text.translate(_UMLAUT).translate(_FOLD))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return folded if folded.isascii() else text


def _check_separators(sep: Separators) -> None:
    chars = [sep.element, sep.segment, sep.component]
    for name, char in zip(("element", "segment", "component"), chars, strict=True):
        if name == "segment" and char == "\n":
            continue  # a newline terminator is common (one segment a line)
        if len(char) != 1 or char.isalnum() or not char.isprintable() or char.isspace():
            raise AsnError(f"separators.{name}", f"must be one printable non-alphanumeric character, not {char!r}")
    if len(set(chars)) != 3:
        raise AsnError("separators", "element, segment and component separators must differ")
    if sep.line_break not in ("", "\n", "\r\n") or (sep.segment == "\n" and sep.line_break):
        raise AsnError("separators.line_break", "must be empty, LF or CRLF (empty when the terminator is LF)")


def _whole(field: str, quantity: Decimal | int) -> int:
    value = Decimal(quantity) if isinstance(quantity, int) and not isinstance(quantity, bool) else quantity
    if not isinstance(value, Decimal) or not value.is_finite() or value != value.to_integral_value():
        raise AsnError(field, f"must be a whole number, not {quantity!r}")
    if value <= 0:
        raise AsnError(field, f"must be positive, not {quantity}")
    if value >= 10**10:
        raise AsnError(field, f"{quantity} does not fit SN102 (10 digits)")
    return int(value)


def _control(field: str, number: int, high: int = 999_999_999) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= high:
        raise AsnError(field, f"must be a number from 1 to {high}, not {number!r}")
    return number


def _utc(field: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AsnError(field, "must be timezone-aware")
    return moment.astimezone(UTC)


def write_856(
    shipment: AsnShipment,
    envelope: Envelope,
    separators: Separators | None = None,
    *,
    ascii_only: bool = True,
) -> str:
    """The complete interchange (ISA … IEA) holding the 856 for ``shipment``."""
    sep = separators or Separators()
    _check_separators(sep)
    w = _Writer(sep, ascii_only)
    v = w.value
    created = _utc("envelope.created", envelope.created)
    shipped = _utc("shipment.shipped_at", shipment.shipped_at)
    interchange = _control("envelope.interchange_control", envelope.interchange_control)
    group = _control("envelope.group_control", envelope.group_control)
    transaction = _control("envelope.transaction_control", envelope.transaction_control)
    if not shipment.orders:
        raise AsnError("shipment.orders", "is empty")

    sender = v("envelope.sender_id", envelope.sender_id, 1, 15)
    receiver = v("envelope.receiver_id", envelope.receiver_id, 1, 15)
    w.segment(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        v("envelope.sender_qualifier", envelope.sender_qualifier, 2, 2),
        sender.ljust(15),
        v("envelope.receiver_qualifier", envelope.receiver_qualifier, 2, 2),
        receiver.ljust(15),
        created.strftime("%y%m%d"),
        created.strftime("%H%M"),
        "U",  # ISA11 in 00401: the US EDI standards id (the repetition separator came with 00402)
        VERSION,
        f"{interchange:09d}",
        "0",
        "T" if envelope.test else "P",
        sep.component,
    )
    w.segment(
        "GS",
        "SH",
        v("envelope.application_sender", envelope.application_sender or sender, 2, 15),
        v("envelope.application_receiver", envelope.application_receiver or receiver, 2, 15),
        f"{created.year:04d}{created.month:02d}{created.day:02d}",
        created.strftime("%H%M"),
        str(group),
        "X",
        GROUP_VERSION,
    )
    first = len(w.segments)
    control = f"{transaction:04d}"
    w.segment("ST", "856", control)
    day, time = f"{shipped.year:04d}{shipped.month:02d}{shipped.day:02d}", shipped.strftime("%H%M")
    w.segment("BSN", "00", v("shipment.shipment_id", shipment.shipment_id, 2, 30), day, time, "0001")

    hl = 0
    hash_total = 0
    seen_sscc: dict[str, str] = {}

    hl += 1
    shipment_hl = hl
    w.segment("HL", str(hl), "", "S")
    packs = sum(len(order.packs) for order in shipment.orders)
    if shipment.gross_weight_kg is not None:
        weight = shipment.gross_weight_kg
        if not weight.is_finite() or weight <= 0:
            raise AsnError("shipment.gross_weight_kg", f"must be positive, not {weight}")
        weight_text = v("shipment.gross_weight_kg", format(weight.normalize(), "f"), 1, 10)
        w.segment("TD1", "CTN25", str(packs), "", "", "", "G", weight_text, "KG")
    else:
        w.segment("TD1", "CTN25", str(packs))
    method = v("shipment.transport_method", shipment.transport_method, 1, 2)
    if method == CUSTOMER_PICKUP:
        w.segment("TD5", "B", "", "", method)
    else:
        code = v("shipment.carrier_code", shipment.carrier_code, 2, 80)
        name = v("shipment.carrier_name", shipment.carrier_name, 1, 30) if shipment.carrier_name else None
        w.segment("TD5", "B", "ZZ", code, method, name)
    if shipment.bill_of_lading:
        w.segment("REF", "BM", v("shipment.bill_of_lading", shipment.bill_of_lading, 1, 30))
    if shipment.tracking:
        w.segment("REF", "CN", v("shipment.tracking", shipment.tracking, 1, 30))
    w.segment("DTM", "011", day, time, "UT")
    for role, party in (("SF", shipment.ship_from), ("ST", shipment.ship_to)):
        _party(w, role, party, "shipment.ship_from" if role == "SF" else "shipment.ship_to")

    for o, order in enumerate(shipment.orders, 1):
        op = f"shipment.orders[{o}]"
        if not order.packs:
            raise AsnError(f"{op}.packs", "is empty")
        hl += 1
        order_hl = hl
        w.segment("HL", str(hl), str(shipment_hl), "O")
        po_date = order.order_date.strftime("%Y%m%d") if order.order_date else None
        w.segment("PRF", v(f"{op}.purchase_order", order.purchase_order, 1, 22), "", "", po_date)
        if order.sales_order:
            w.segment("REF", "VN", v(f"{op}.sales_order", order.sales_order, 1, 30))
        for k, pack in enumerate(order.packs, 1):
            pp = f"{op}.packs[{k}]"
            try:
                sscc = validate_sscc(pack.sscc)
            except SsccError as error:
                raise AsnError(f"{pp}.sscc", str(error)) from None
            if sscc in seen_sscc:
                raise AsnError(f"{pp}.sscc", f"{sscc} is already used by {seen_sscc[sscc]}")
            seen_sscc[sscc] = pp
            if not pack.items:
                raise AsnError(f"{pp}.items", "is empty")
            hl += 1
            pack_hl = hl
            w.segment("HL", str(hl), str(order_hl), "P")
            w.segment("MAN", "GM", sscc)
            for i, item in enumerate(pack.items, 1):
                ip = f"{pp}.items[{i}]"
                hl += 1
                w.segment("HL", str(hl), str(pack_hl), "I")
                line = _control(f"{ip}.line_no", item.line_no, 999_999)
                ids = ["VN", v(f"{ip}.vendor_part", item.vendor_part, 1, 48)]
                if item.buyer_part:
                    ids += ["BP", v(f"{ip}.buyer_part", item.buyer_part, 1, 48)]
                w.segment("LIN", str(line), *ids)
                quantity = _whole(f"{ip}.quantity", item.quantity)
                hash_total += quantity
                w.segment("SN1", "", str(quantity), v(f"{ip}.unit", item.unit, 2, 2))
                if item.description:
                    w.segment("PID", "F", "", "", "", v(f"{ip}.description", item.description, 1, 80))

    w.segment("CTT", str(hl), str(hash_total))
    w.segment("SE", str(len(w.segments) - first + 1), control)
    w.segment("GE", "1", str(group))
    w.segment("IEA", "1", f"{interchange:09d}")
    return w.text()


def _party(w: _Writer, role: str, party: Party, path: str) -> None:
    v = w.value
    name = v(f"{path}.name", party.name, 1, 60)
    if party.id:
        w.segment(
            "N1", role, name, v(f"{path}.id_qualifier", party.id_qualifier, 1, 2), v(f"{path}.id", party.id, 2, 80)
        )
    else:
        w.segment("N1", role, name)
    if party.address:
        w.segment("N3", v(f"{path}.address", party.address, 1, 55))
    if party.city or party.region or party.postal_code or party.country:
        w.segment(
            "N4",
            v(f"{path}.city", party.city, 2, 30) if party.city else None,
            v(f"{path}.region", party.region, 2, 2) if party.region else None,
            v(f"{path}.postal_code", party.postal_code, 3, 15) if party.postal_code else None,
            v(f"{path}.country", party.country, 2, 3) if party.country else None,
        )
