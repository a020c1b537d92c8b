"""The warehouse's counts read into count lines: Qimen ``inventory.report`` pages, ``stockchange.report``
messages, and plant 2010's CSV count sheets (pure functions; no I/O).

Rules (logistics_report.md §3.5, §3.6, §3.10; the issue-11 contract):

- **inventory.report** page: ``totalPage``, ``currentPage`` (1-based, ≤ totalPage), ``warehouseCode``,
  ``checkOrderCode`` and ``outBizCode`` are required; ``adjustType`` CHECK (a count) or ADJUST (already
  adjusted in the WMS), CHECK when left out (the 2018 SDK has no such field); ``checkTime`` GMT+8
  ``YYYY-MM-DD HH:MM:SS``, optional (``counted_at`` None then). Per item: ``itemCode`` and ``quantity``
  (the **difference**, signed) required; ``totalQty`` (the counted on-hand, ≥ 0) optional, so
  ``counted_qty`` is None and the reader takes book + difference; ``inventoryType`` ZP when left out;
  ``batchCode`` "" when left out. ZT (在途, in transit) items are not on hand: kept apart in
  :attr:`ReportPage.in_transit`, never count lines. ZP → stock type 01; CC, JS, XS → 07.
- **assemble_count**: the pages of one ``checkOrderCode`` make one :class:`CountDocument` once pages
  1..totalPage are all there (else :class:`IncompleteCount` naming the missing ones); the same page
  again with the same content (a duplicate push) is ignored, with other content it is a
  :class:`ConflictingPage`; pages that disagree on the header (warehouse, adjustType, totalPage) too.
- **stockchange.report**: per item ``ownerCode``, ``warehouseCode``, ``orderCode``, ``outBizCode``,
  ``itemCode`` and a signed ``quantity`` are required (§3.6); ``changeTime`` GMT+8 optional.
- **Count sheet** (CSV, UTF-8, a BOM tolerated): the header must name every column of
  :data:`SHEET_COLUMNS` (others are ignored); per row plant, storage_location, material, stock_type
  (01, 02, 07), counted_qty (a finite number ≥ 0), unit and counted_at (ISO-8601 **with** an offset)
  are required; a material, batch and stock type counted twice in one sheet is an error. Any error
  refuses the sheet whole (:class:`CountSheetError` with file, row (the CSV record number, header = 1), field).

Every problem is a :class:`CountError` subclass; nothing else escapes, whatever the input.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from xml.parsers import expat

GMT8 = timezone(timedelta(hours=8))
STOCK_TYPES: dict[str, str] = {"ZP": "01", "CC": "07", "JS": "07", "XS": "07"}
IN_TRANSIT = "ZT"
ADJUST_TYPES = ("CHECK", "ADJUST")
SHEET_STOCK_TYPES = ("01", "02", "07")
SHEET_COLUMNS = (
    "plant",
    "storage_location",
    "material",
    "batch",
    "stock_type",
    "counted_qty",
    "unit",
    "counted_at",
    "counter",
)
MAX_BODY = 8 * 1024 * 1024
MAX_DEPTH = 32
MAX_CODE = 64
_LISTS = {"items": "item", "batchs": "batch"}
_SHARED = frozenset({"ownerCode", "warehouseCode", "orderCode", "outBizCode"})
_QIMEN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

Source = Literal["inventory_report", "count_sheet"]


class CountError(ValueError):
    """A count message or sheet that cannot be used (the flow quarantines it whole, with the reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReportError(CountError):
    """A pushed report that is not a usable inventory.report / stockchange.report; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class IncompleteCount(CountError):
    def __init__(self, document: str, missing: list[int], total: int) -> None:
        shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
        super().__init__(f"count {document}: page(s) {shown} of {total} not received")
        self.document = document
        self.missing = missing


class ConflictingPage(CountError):
    def __init__(self, document: str, page: int, why: str) -> None:
        super().__init__(f"count {document} page {page}: {why}")
        self.document = document
        self.page = page


class CountSheetError(CountError):
    def __init__(self, file: str, row: int, field: str, message: str) -> None:
        super().__init__(f"{file} row {row} {field}: {message}")
        self.file = file
        self.row = row
        self.field = field


@dataclass(frozen=True)
class CountLine:
    source: Source
    document: str  # checkOrderCode, or the sheet's file name
    warehouse: str | None  # Qimen warehouseCode (reports)
    plant: str | None  # SAP plant (sheets)
    material: str
    stock_type: str  # "01" | "02" | "07"
    inventory_type: str  # raw: ZP, CC, JS, XS (reports); the sheet's stock type (sheets)
    batch: str
    difference: Decimal | None  # reports: counted − the WMS's stock before the count; sheets: None
    counted_qty: Decimal | None  # totalQty / counted_qty; None when the report leaves totalQty out
    unit: str | None  # only when the sheet says
    adjust_type: str  # "CHECK" | "ADJUST"
    counted_at: datetime | None  # aware; None when a report has no checkTime
    message_key: str  # the page's outBizCode, or "<file>#<row>"
    storage_location: str = ""  # the sheet's; "" from a report (the WMS has no SAP storage location)


@dataclass(frozen=True)
class ReportPage:
    check_order_code: str
    check_order_id: str
    warehouse: str
    owner: str
    check_time: datetime | None
    out_biz_code: str
    adjust_type: str
    total_page: int
    current_page: int
    page_size: int | None
    remark: str
    lines: tuple[CountLine, ...]
    in_transit: tuple[tuple[str, str, Decimal], ...]  # (itemCode, batchCode, quantity) of ZT items


@dataclass(frozen=True)
class CountDocument:
    check_order_code: str
    warehouse: str
    adjust_type: str
    check_time: datetime | None
    total_page: int
    lines: tuple[CountLine, ...]
    message_keys: tuple[str, ...]  # one outBizCode per page, in page order


@dataclass(frozen=True)
class StockChangeLine:
    owner: str
    warehouse: str
    order_code: str
    order_type: str  # CGRK, CCRK, QTCK … ("" when left out)
    out_biz_code: str
    material: str
    inventory_type: str
    stock_type: str | None  # None for ZT (in transit)
    batch: str
    quantity: Decimal  # signed change
    changed_at: datetime | None
    remark: str


# -- XML ------------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("children", "name", "text")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: list[_Node] = []
        self.text: list[str] = []


def _camel(tag: str) -> str:
    head, *rest = tag.rpartition("}")[2].split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _refuse(*_args: Any) -> None:
    raise ReportError("body", "DOCTYPE and entity declarations are not accepted")


def _tree(body: str | bytes) -> _Node:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_BODY:
        raise ReportError("body", f"larger than {MAX_BODY} bytes")
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(name: str, _attrs: Any) -> None:
        if len(stack) >= MAX_DEPTH:
            raise ReportError("body", f"elements nested deeper than {MAX_DEPTH}")
        node = _Node(_camel(name))
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def data(text: str) -> None:
        if stack:
            stack[-1].text.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(raw, True)
    except expat.ExpatError as exc:
        raise ReportError("body", f"not well-formed XML: {exc}") from None
    except (UnicodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, CountError):
            raise
        raise ReportError("body", f"not readable XML: {type(exc).__name__}") from None
    if len(roots) != 1 or roots[0].name != "request":
        raise ReportError("body", "the root element must be <request>")
    return roots[0]


def _convert(node: _Node) -> Any:
    if not node.children:
        return "".join(node.text).strip()
    out: dict[str, Any] = {}
    for child in node.children:
        if child.name in _LISTS:
            out.setdefault(child.name, []).extend(_convert(c) for c in child.children)
        elif child.name in _LISTS.values():  # a bare item at its parent's level (older SDKs)
            wrapper = next(k for k, v in _LISTS.items() if v == child.name)
            out.setdefault(wrapper, []).append(_convert(child))
        elif child.name not in out:
            out[child.name] = _convert(child)
    return out


def _document(body: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if not isinstance(body, str | bytes):
        raise ReportError("body", "must be the XML text or the parsed request")
    doc = _convert(_tree(body))
    return doc if isinstance(doc, dict) else {}


# -- fields -----------------------------------------------------------------------------------------


def _text(fields: Mapping[str, Any], key: str, path: str, *, required: bool = False, limit: int = MAX_CODE) -> str:
    value = fields.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ReportError(path, "must be text, not nested elements")
    value = value.strip()
    if required and not value:
        raise ReportError(path, "is required")
    if len(value) > limit:
        raise ReportError(path, f"longer than {limit} characters")
    return value


def _decimal(raw: str, path: str, *, low: Decimal | None = None) -> Decimal:
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise ReportError(path, f"not a number: {raw[:40]!r}") from None
    if not value.is_finite() or abs(value) >= Decimal(10) ** 15:
        raise ReportError(path, f"not a usable number: {raw[:40]!r}")
    if low is not None and value < low:
        raise ReportError(path, f"must be ≥ {low}")
    return value


def _page_number(fields: Mapping[str, Any], key: str, *, required: bool = True) -> int | None:
    raw = _text(fields, key, key, required=required, limit=9)
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ReportError(key, f"must be a whole number ≥ 1, not {raw!r}")
    return int(raw)


def _time(raw: str, path: str) -> datetime | None:
    if not raw:
        return None
    if not _QIMEN_TIME.fullmatch(raw):
        raise ReportError(path, f"not YYYY-MM-DD HH:MM:SS: {raw[:40]!r}")
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
    except ValueError:
        raise ReportError(path, f"not a date and time: {raw!r}") from None


def _items(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = doc.get("items", [])
    if items in ("", None):
        return []
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ReportError("items", "must be a list of <item> elements")
    return items


# -- inventory.report -------------------------------------------------------------------------------


def parse_inventory_report(body: str | bytes | Mapping[str, Any]) -> ReportPage:
    """One pushed ``inventory.report`` page (the raw XML, or the request as parsed by the receiver's
    parser) read into a :class:`ReportPage`; :class:`ReportError` naming the field otherwise."""
    doc = _document(body)
    total = _page_number(doc, "totalPage")
    current = _page_number(doc, "currentPage")
    assert total is not None and current is not None
    if current > total:
        raise ReportError("currentPage", f"{current} is beyond totalPage {total}")
    warehouse = _text(doc, "warehouseCode", "warehouseCode", required=True)
    code = _text(doc, "checkOrderCode", "checkOrderCode", required=True)
    out_biz = _text(doc, "outBizCode", "outBizCode", required=True)
    adjust = _text(doc, "adjustType", "adjustType") or "CHECK"
    if adjust not in ADJUST_TYPES:
        raise ReportError("adjustType", f"must be CHECK or ADJUST, not {adjust[:20]!r}")
    check_time = _time(_text(doc, "checkTime", "checkTime", limit=40), "checkTime")
    lines: list[CountLine] = []
    in_transit: list[tuple[str, str, Decimal]] = []
    for n, item in enumerate(_items(doc), 1):
        path = f"items[{n}]"
        material = _text(item, "itemCode", f"{path}.itemCode", required=True)
        inventory_type = _text(item, "inventoryType", f"{path}.inventoryType") or "ZP"
        batch = _text(item, "batchCode", f"{path}.batchCode")
        difference = _decimal(_text(item, "quantity", f"{path}.quantity", required=True), f"{path}.quantity")
        raw_total = _text(item, "totalQty", f"{path}.totalQty")
        counted = _decimal(raw_total, f"{path}.totalQty", low=Decimal(0)) if raw_total else None
        if inventory_type == IN_TRANSIT:
            in_transit.append((material, batch, difference))
            continue
        if inventory_type not in STOCK_TYPES:
            raise ReportError(f"{path}.inventoryType", f"{inventory_type[:20]!r} is not ZP, CC, JS, XS or ZT")
        lines.append(
            CountLine(
                source="inventory_report",
                document=code,
                warehouse=warehouse,
                plant=None,
                material=material,
                stock_type=STOCK_TYPES[inventory_type],
                inventory_type=inventory_type,
                batch=batch,
                difference=difference,
                counted_qty=counted,
                unit=None,
                adjust_type=adjust,
                counted_at=check_time,
                message_key=out_biz,
            )
        )
    page_size = _page_number(doc, "pageSize", required=False)
    return ReportPage(
        check_order_code=code,
        check_order_id=_text(doc, "checkOrderId", "checkOrderId"),
        warehouse=warehouse,
        owner=_text(doc, "ownerCode", "ownerCode"),
        check_time=check_time,
        out_biz_code=out_biz,
        adjust_type=adjust,
        total_page=total,
        current_page=current,
        page_size=page_size,
        remark=_text(doc, "remark", "remark", limit=500),
        lines=tuple(lines),
        in_transit=tuple(in_transit),
    )


def _content(page: ReportPage) -> tuple[Any, ...]:
    # What makes two copies of a page the same page (the message key may be restamped on a resend).
    return (page.warehouse, page.adjust_type, page.total_page, page.check_time, page.lines, page.in_transit)


def assemble_count(pages: Iterable[ReportPage]) -> CountDocument:
    """The pages of one count (one checkOrderCode) as one document; see the module docstring."""
    held: dict[int, ReportPage] = {}
    first: ReportPage | None = None
    for page in pages:
        if first is None:
            first = page
        elif page.check_order_code != first.check_order_code:
            raise ConflictingPage(first.check_order_code, page.current_page, f"belongs to {page.check_order_code}")
        elif (page.warehouse, page.adjust_type, page.total_page) != (
            first.warehouse,
            first.adjust_type,
            first.total_page,
        ):
            raise ConflictingPage(page.check_order_code, page.current_page, "warehouse, adjustType or totalPage differ")
        seen = held.get(page.current_page)
        if seen is None:
            held[page.current_page] = page
        elif _content(seen) != _content(page):
            raise ConflictingPage(page.check_order_code, page.current_page, "pushed again with other content")
    if first is None:
        raise CountError("no pages to assemble")
    missing = [n for n in range(1, first.total_page + 1) if n not in held]
    if missing:
        raise IncompleteCount(first.check_order_code, missing, first.total_page)
    ordered = [held[n] for n in range(1, first.total_page + 1)]
    return CountDocument(
        check_order_code=first.check_order_code,
        warehouse=first.warehouse,
        adjust_type=first.adjust_type,
        check_time=next((p.check_time for p in ordered if p.check_time is not None), None),
        total_page=first.total_page,
        lines=tuple(line for p in ordered for line in p.lines),
        message_keys=tuple(p.out_biz_code for p in ordered),
    )


# -- stockchange.report -----------------------------------------------------------------------------


def parse_stockchange(body: str | bytes | Mapping[str, Any]) -> list[StockChangeLine]:
    """A pushed ``stockchange.report`` read into its lines; :class:`ReportError` naming the field."""
    doc = _document(body)
    items = _items(doc)
    if not items:
        raise ReportError("items", "a stock change needs at least one item")
    out: list[StockChangeLine] = []
    for n, item in enumerate(items, 1):
        path = f"items[{n}]"

        def text(key: str, limit: int = MAX_CODE, *, item: Mapping[str, Any] = item, path: str = path) -> str:
            value = _text(item, key, f"{path}.{key}", limit=limit)
            # The four ids may sit once at the document level instead of on every item.
            return value or (_text(doc, key, key, limit=limit) if key in _SHARED else "")

        values = {k: text(k) for k in ("ownerCode", "warehouseCode", "orderCode", "outBizCode", "itemCode")}
        for key, value in values.items():
            if not value:
                raise ReportError(f"{path}.{key}", "is required")
        inventory_type = text("inventoryType") or "ZP"
        if inventory_type not in STOCK_TYPES and inventory_type != IN_TRANSIT:
            raise ReportError(f"{path}.inventoryType", f"{inventory_type[:20]!r} is not ZP, CC, JS, XS or ZT")
        out.append(
            StockChangeLine(
                owner=values["ownerCode"],
                warehouse=values["warehouseCode"],
                order_code=values["orderCode"],
                order_type=text("orderType"),
                out_biz_code=values["outBizCode"],
                material=values["itemCode"],
                inventory_type=inventory_type,
                stock_type=STOCK_TYPES.get(inventory_type),
                batch=text("batchCode"),
                quantity=_decimal(_text(item, "quantity", f"{path}.quantity", required=True), f"{path}.quantity"),
                changed_at=_time(text("changeTime", 40), f"{path}.changeTime"),
                remark=text("remark", 500),
            )
        )
    return out


# -- count sheets -----------------------------------------------------------------------------------


def parse_count_sheet(text: str, file_name: str) -> list[CountLine]:
    """A count sheet's rows as count lines (``source`` count_sheet, ``difference`` None,
    ``counted_qty`` as counted, ``unit`` as written); :class:`CountSheetError` for the first problem."""
    if not isinstance(text, str):
        raise CountSheetError(file_name, 0, "file", "must be decoded text")
    if "\x00" in text:
        raise CountSheetError(file_name, 0, "file", "contains NUL characters: not a CSV text file")
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise CountSheetError(file_name, reader.line_num, "file", f"not readable CSV: {exc}") from None
    if not rows:
        raise CountSheetError(file_name, 1, "header", "the sheet is empty")
    header = [h.strip().lower() for h in rows[0]]
    for column in SHEET_COLUMNS:
        if column not in header:
            raise CountSheetError(file_name, 1, column, "missing column")
    at = {column: header.index(column) for column in SHEET_COLUMNS}
    lines: list[CountLine] = []
    seen: set[tuple[str, str, str, str, str]] = set()
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line (a trailing one, often)
        if len(row) != len(header):
            raise CountSheetError(file_name, number, "row", f"{len(row)} fields, the header has {len(header)}")
        cell = {column: row[at[column]].strip() for column in SHEET_COLUMNS}

        def need(column: str, limit: int = MAX_CODE, *, cell: dict[str, str] = cell, number: int = number) -> str:
            value = cell[column]
            if not value:
                raise CountSheetError(file_name, number, column, "is required")
            if len(value) > limit:
                raise CountSheetError(file_name, number, column, f"longer than {limit} characters")
            return value

        plant, location, material = need("plant", 4), need("storage_location", 4), need("material", 40)
        stock_type, unit = need("stock_type", 2), need("unit", 3)
        if stock_type not in SHEET_STOCK_TYPES:
            raise CountSheetError(file_name, number, "stock_type", f"{stock_type!r} is not 01, 02 or 07")
        if len(cell["batch"]) > 10:
            raise CountSheetError(file_name, number, "batch", "longer than 10 characters")
        raw_qty = need("counted_qty", 20)
        try:
            counted = _decimal(raw_qty, "counted_qty", low=Decimal(0))
        except ReportError as exc:
            raise CountSheetError(file_name, number, "counted_qty", exc.message.partition(": ")[2]) from None
        raw_at = need("counted_at", 40)
        try:
            counted_at = datetime.fromisoformat(raw_at)
        except ValueError:
            raise CountSheetError(file_name, number, "counted_at", f"not ISO-8601: {raw_at!r}") from None
        if counted_at.tzinfo is None or counted_at.utcoffset() is None:
            raise CountSheetError(file_name, number, "counted_at", "needs a UTC offset (e.g. +01:00)")
        key = (plant, location, material, cell["batch"], stock_type)
        if key in seen:
            raise CountSheetError(file_name, number, "material", f"{material} {stock_type} counted twice")
        seen.add(key)
        lines.append(
            CountLine(
                source="count_sheet",
                document=file_name,
                warehouse=None,
                plant=plant,
                material=material,
                stock_type=stock_type,
                inventory_type=stock_type,
                batch=cell["batch"],
                difference=None,
                counted_qty=counted,
                unit=unit,
                adjust_type="CHECK",
                counted_at=counted_at,
                message_key=f"{file_name}#{number}",
                storage_location=location,
            )
        )
    return lines
