"""transforms.warehouse_counts: the report's inventory.report sample, page assembly (missing, repeated and
conflicting pages), stockchange.report, count sheets with each kind of error, and hypothesis: garbage
never raises anything but the module's CountError types, and a well-formed report round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.warehouse_counts import (
    ConflictingPage,
    CountError,
    CountSheetError,
    IncompleteCount,
    ReportError,
    assemble_count,
    parse_count_sheet,
    parse_inventory_report,
    parse_stockchange,
)

GMT8 = timezone(timedelta(hours=8))

# logistics_report.md §3.5, verbatim (with its indentation).
SAMPLE = """<?xml version="1.0" encoding="utf-8"?>
<request>
 <totalPage>1</totalPage><currentPage>1</currentPage><pageSize>2</pageSize>
 <warehouseCode>WH-SH01</warehouseCode><checkOrderCode>PD20240531001</checkOrderCode>
 <checkOrderId>WMSPD0000123</checkOrderId><ownerCode>OWNER01</ownerCode>
 <checkTime>2024-05-31 18:00:00</checkTime><outBizCode>PD20240531001-P1</outBizCode>
 <adjustType>CHECK</adjustType><remark>月末盘点</remark>
 <items>
  <item><itemCode>P-1001</itemCode><inventoryType>ZP</inventoryType><quantity>2</quantity><totalQty>42</totalQty></item>
  <item><itemCode>P-2040</itemCode><inventoryType>ZP</inventoryType><quantity>-1</quantity><totalQty>119</totalQty></item>
 </items>
</request>"""


def page(n: int, total: int, items: str, *, code: str = "PD1", adjust: str | None = "CHECK", extra: str = "") -> str:
    adjust_xml = f"<adjustType>{adjust}</adjustType>" if adjust else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><request><totalPage>{total}</totalPage><currentPage>{n}</currentPage>'
        f"<pageSize>20</pageSize><warehouseCode>WH-SZ01</warehouseCode><ownerCode>PARTSHUB</ownerCode>"
        f"<checkOrderCode>{code}</checkOrderCode><outBizCode>{code}-P{n}</outBizCode>{adjust_xml}{extra}"
        f"<items>{items}</items></request>"
    )


def item(code: str, qty: str, total: str | None = None, inventory_type: str | None = None, batch: str = "") -> str:
    parts = f"<itemCode>{code}</itemCode><quantity>{qty}</quantity>"
    parts += f"<totalQty>{total}</totalQty>" if total is not None else ""
    parts += f"<inventoryType>{inventory_type}</inventoryType>" if inventory_type else ""
    parts += f"<batchCode>{batch}</batchCode>" if batch else ""
    return f"<item>{parts}</item>"


def test_the_reports_sample() -> None:
    p = parse_inventory_report(SAMPLE)
    assert (p.check_order_code, p.check_order_id, p.warehouse, p.owner) == (
        "PD20240531001",
        "WMSPD0000123",
        "WH-SH01",
        "OWNER01",
    )
    assert (p.total_page, p.current_page, p.page_size, p.adjust_type, p.remark) == (1, 1, 2, "CHECK", "月末盘点")
    assert p.check_time == datetime(2024, 5, 31, 18, tzinfo=GMT8)
    assert [(ln.material, ln.stock_type, ln.difference, ln.counted_qty) for ln in p.lines] == [
        ("P-1001", "01", Decimal(2), Decimal(42)),
        ("P-2040", "01", Decimal(-1), Decimal(119)),
    ]
    line = p.lines[0]
    assert (line.source, line.document, line.warehouse, line.plant, line.batch, line.unit, line.message_key) == (
        "inventory_report",
        "PD20240531001",
        "WH-SH01",
        None,
        "",
        None,
        "PD20240531001-P1",
    )
    assert parse_inventory_report(SAMPLE.encode()) == p


def test_types_defaults_and_in_transit() -> None:
    p = parse_inventory_report(
        page(
            1,
            1,
            item("A", "-2") + item("B", "1", "5", "CC", "L1") + item("C", "0", "3", "JS") + item("D", "4", "4", "ZT"),
            adjust=None,
        )
    )
    assert p.adjust_type == "CHECK" and p.check_time is None  # the 2018 SDK's reports
    assert [(ln.material, ln.inventory_type, ln.stock_type, ln.batch, ln.counted_qty) for ln in p.lines] == [
        ("A", "ZP", "01", "", None),  # no totalQty: the reader takes book + difference
        ("B", "CC", "07", "L1", Decimal(5)),
        ("C", "JS", "07", "", Decimal(3)),
    ]
    assert p.in_transit == (("D", "", Decimal(4)),)
    bare = page(1, 1, "").replace("<items></items>", item("A", "1"))  # an unwrapped <item> (older SDKs)
    assert [ln.material for ln in parse_inventory_report(bare).lines] == ["A"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (page(1, 1, item("A", "x")), "items[1].quantity"),
        (page(1, 1, item("A", "NaN")), "items[1].quantity"),
        (page(1, 1, item("A", "1", "-3")), "items[1].totalQty"),
        (page(1, 1, "<item><quantity>1</quantity></item>"), "items[1].itemCode"),
        (page(1, 1, item("A", "1", inventory_type="QQ")), "items[1].inventoryType"),
        (page(2, 1, item("A", "1")), "currentPage"),
        (page(0, 1, item("A", "1")), "currentPage"),
        (page(1, 1, item("A", "1"), adjust="FIX"), "adjustType"),
        (page(1, 1, item("A", "1"), extra="<checkTime>2024/05/31</checkTime>"), "checkTime"),
        (page(1, 1, item("A", "1")).replace("<warehouseCode>WH-SZ01</warehouseCode>", ""), "warehouseCode"),
        (page(1, 1, item("A", "1")).replace("<outBizCode>PD1-P1</outBizCode>", ""), "outBizCode"),
        ("<response/>", "body"),
        ("<request><a>", "body"),
        ('<!DOCTYPE r [<!ENTITY x "y">]><request>&x;</request>', "body"),
    ],
)
def test_report_errors_name_the_field(body: str, field: str) -> None:
    with pytest.raises(ReportError) as refused:
        parse_inventory_report(body)
    assert refused.value.field == field


def test_assemble_pages_in_any_order_a_duplicate_once() -> None:
    p1, p2, p3 = (parse_inventory_report(page(n, 3, item(f"M{n}", str(-n), str(10 - n)))) for n in (1, 2, 3))
    doc = assemble_count([p3, p1, p2, p2])
    assert [ln.material for ln in doc.lines] == ["M1", "M2", "M3"]
    assert doc.message_keys == ("PD1-P1", "PD1-P2", "PD1-P3") and doc.total_page == 3
    with pytest.raises(IncompleteCount) as incomplete:
        assemble_count([p1, p3])
    assert incomplete.value.missing == [2]
    changed = parse_inventory_report(page(2, 3, item("M2", "-5", "5")))
    with pytest.raises(ConflictingPage, match="other content"):
        assemble_count([p1, p2, changed, p3])
    with pytest.raises(ConflictingPage, match="belongs to"):
        assemble_count([p1, parse_inventory_report(page(2, 3, item("M2", "-2"), code="PD2"))])
    with pytest.raises(ConflictingPage, match="totalPage"):
        assemble_count([p1, parse_inventory_report(page(2, 2, item("M2", "-2")))])
    with pytest.raises(CountError):
        assemble_count([])


def test_stockchange() -> None:
    body = (
        "<request><items><item><ownerCode>PARTSHUB</ownerCode><warehouseCode>WH-SH01</warehouseCode>"
        "<orderCode>CG1</orderCode><orderType>CGRK</orderType><outBizCode>CG1-1</outBizCode><itemCode>A</itemCode>"
        "<quantity>6</quantity><changeTime>2026-11-30 18:00:00</changeTime></item>"
        "<item><ownerCode>PARTSHUB</ownerCode><warehouseCode>WH-SH01</warehouseCode><orderCode>CG1</orderCode>"
        "<outBizCode>CG1-1</outBizCode><itemCode>B</itemCode><inventoryType>CC</inventoryType>"
        "<quantity>-2</quantity></item></items></request>"
    )
    a, b = parse_stockchange(body)
    assert (a.order_type, a.material, a.stock_type, a.quantity) == ("CGRK", "A", "01", Decimal(6))
    assert a.changed_at == datetime(2026, 11, 30, 18, tzinfo=GMT8)
    assert (b.inventory_type, b.stock_type, b.quantity, b.changed_at) == ("CC", "07", Decimal(-2), None)
    with pytest.raises(ReportError) as refused:
        parse_stockchange(body.replace("<orderCode>CG1</orderCode>", "", 1))
    assert refused.value.field == "items[1].orderCode"
    with pytest.raises(ReportError):
        parse_stockchange("<request/>")


HEADER = "plant,storage_location,material,batch,stock_type,counted_qty,unit,counted_at,counter\n"
ROW = "2010,0001,SP-1,,01,12,PC,2026-11-30T16:05:00+01:00,K. Petersen\n"


def test_count_sheet() -> None:
    lines = parse_count_sheet(
        "\ufeff" + HEADER + ROW + "2010,0001,SP-2,B7,07,3.5,PAK,2026-11-30T17:00:00+01:00,\n\n", "s.csv"
    )
    first, second = lines
    assert (first.source, first.document, first.plant, first.warehouse, first.storage_location) == (
        "count_sheet",
        "s.csv",
        "2010",
        None,
        "0001",
    )
    assert (first.material, first.stock_type, first.counted_qty, first.unit, first.difference) == (
        "SP-1",
        "01",
        Decimal(12),
        "PC",
        None,
    )
    assert first.counted_at == datetime(2026, 11, 30, 15, 5, tzinfo=UTC)
    assert (second.batch, second.counted_qty, second.unit, second.message_key) == (
        "B7",
        Decimal("3.5"),
        "PAK",
        "s.csv#3",
    )
    reordered = "counter,plant,material,storage_location,stock_type,batch,unit,counted_qty,counted_at,note\n"
    row = "K,2010,SP-1,0001,01,,PC,4,2026-11-30T16:05:00+01:00,x\n"
    assert parse_count_sheet(reordered + row, "r.csv")[0].counted_qty == 4
    assert parse_count_sheet(HEADER, "empty.csv") == []


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        (HEADER.replace(",counter", "") + ROW.replace(",K. Petersen", ""), 1, "counter"),
        (HEADER + ROW.replace(",12,", ",zwölf,"), 2, "counted_qty"),
        (HEADER + ROW.replace(",12,", ",-1,"), 2, "counted_qty"),
        (HEADER + ROW.replace(",12,", ",Infinity,"), 2, "counted_qty"),
        (HEADER + ROW.replace(",01,", ",05,"), 2, "stock_type"),
        (HEADER + ROW.replace("+01:00", ""), 2, "counted_at"),
        (HEADER + ROW.replace("2026-11-30T16:05:00+01:00", "gestern"), 2, "counted_at"),
        (HEADER + ROW.replace("SP-1", ""), 2, "material"),
        (HEADER + ROW + ROW, 3, "material"),
        (HEADER + ROW.replace(",PC,", ",PC,extra,"), 2, "row"),
        ("", 1, "header"),
    ],
)
def test_count_sheet_errors(text: str, row: int, field: str) -> None:
    with pytest.raises(CountSheetError) as refused:
        parse_count_sheet(text, "bad.csv")
    assert (refused.value.file, refused.value.row, refused.value.field) == ("bad.csv", row, field)


@given(st.binary(max_size=400) | st.text(max_size=400))
def test_garbage_reports_raise_only_count_errors(body: bytes | str) -> None:
    for parse in (parse_inventory_report, parse_stockchange):
        try:
            parse(body)
        except CountError:
            pass


_leaf = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="<>&"), max_size=12)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "totalPage",
                    "currentPage",
                    "warehouseCode",
                    "checkOrderCode",
                    "outBizCode",
                    "adjustType",
                    "checkTime",
                    "items",
                    "x",
                ]
            ),
            _leaf,
        ),
        max_size=8,
    )
)
def test_mutated_reports_raise_only_count_errors(fields: list[tuple[str, str]]) -> None:
    base = page(1, 1, item("A", "1", "2"))
    for name, value in fields:
        base = base.replace("</request>", f"<{name}>{value}</{name}></request>")
        base = base.replace(f"<{name}>", f"<{name}>{value}", 1) if name != "items" else base
    try:
        parse_inventory_report(base)
    except CountError:
        pass


@given(st.text(max_size=300), st.lists(st.text(max_size=15), max_size=9))
def test_garbage_sheets_raise_only_count_sheet_errors(tail: str, cells: list[str]) -> None:
    for text in (tail, HEADER + tail, HEADER + ",".join(cells) + "\n"):
        try:
            parse_count_sheet(text, "g.csv")
        except CountSheetError:
            pass


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Z]{2}-[0-9]{3,5}", fullmatch=True),
            st.integers(-1000, 1000),
            st.none() | st.integers(0, 10**6),
            st.sampled_from(["ZP", "CC", "JS", "XS"]),
        ),
        min_size=1,
        max_size=45,
        unique_by=lambda t: t[0],
    ),
    st.integers(1, 20),
)
def test_pages_round_trip(rows: list[tuple[str, int, int | None, str]], size: int) -> None:
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    pages = [
        parse_inventory_report(
            page(n, len(chunks), "".join(item(c, str(d), None if t is None else str(t), k) for c, d, t, k in chunk))
        )
        for n, chunk in enumerate(chunks, 1)
    ]
    doc = assemble_count(reversed(pages))
    assert [(ln.material, ln.difference, ln.counted_qty, ln.inventory_type) for ln in doc.lines] == [
        (c, Decimal(d), None if t is None else Decimal(t), k) for c, d, t, k in rows
    ]
