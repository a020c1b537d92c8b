"""The stock-count reconciliation report (transforms/inventory_report.py): files, formats, safety."""

import csv
import io
import time
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.inventory_report import (
    CHART_BARS,
    HTML_LINES,
    LINE_FIELDS,
    ReportError,
    csv_rows,
    render_html,
    render_reconciliation_report,
    write_reconciliation_report,
    xlsx_bytes,
)

D = Decimal
DAY = date(2026, 3, 2)


def line(**changes):
    base = {
        "plant": "1010",
        "storage_location": "0001",
        "material": "M-100",
        "batch": "",
        "stock_type": "01",
        "abc_class": "A",
        "book_qty": D("10.000"),
        "physical_qty": D("7.000"),
        "timing_qty": D("0.000"),
        "difference_qty": D("-3.000"),
        "unit": "PC",
        "unit_cost": D("12.5000"),
        "currency": "CNY",
        "difference_value": D("-37.5000"),
        "status": "adjust",
        "explanation": "shrinkage",
        "movement_type": "702",
        "reason_code": "0001",
        "count_document": "CHK-1",
        "source": "inventory_report",
        "decision": "proposed",
        "sap_document": None,
    }
    base.update(changes)
    return base


def summary(**changes):
    base = {
        "business_day": DAY,
        "lines": 3,
        "matched": 1,
        "explained": 0,
        "recount": 1,
        "adjust": 1,
        "adjust_qty_gain": D(0),
        "adjust_qty_loss": D(-3),
        "adjust_value_net": {"CNY": D("-37.5")},
        "adjust_value_abs": {"CNY": D("37.5")},
        "record_accuracy": D("0.3333"),
        "approved": 1,
        "posted": 0,
        "low_stock": 2,
        "over_stock": 1,
    }
    base.update(changes)
    return base


LINES = [
    line(plant="2010", currency="EUR", unit_cost=D("3.1"), difference_qty=D(5), difference_value=D("15.5")),
    line(),
    line(material="M-050", status="matched", difference_qty=D(0), difference_value=D(0), decision=None),
]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode()), "UTF-8 with a byte-order mark"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_writes_the_three_files_by_name_and_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "reports"
    paths = write_reconciliation_report(folder, DAY, "zh", summary(), LINES)
    assert {k: p.name for k, p in paths.items()} == {
        "csv": "inventory_reconciliation_2026-03-02.csv",
        "xlsx": "inventory_reconciliation_2026-03-02.xlsx",
        "html": "inventory_reconciliation_2026-03-02.html",
    }
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values())


def test_a_re_run_writes_the_same_bytes_whatever_the_clock(monkeypatch):
    first = render_reconciliation_report(DAY, "en", summary(), LINES)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # zip entries would carry the wall clock
    again = render_reconciliation_report(DAY, "en", summary(), list(reversed(LINES)))
    assert first == again


def test_bad_input_writes_nothing(tmp_path):
    bad = dict(line())
    del bad["unit_cost"]
    with pytest.raises(ReportError, match="unit_cost"):
        write_reconciliation_report(tmp_path / "r", DAY, "en", summary(), [bad])
    with pytest.raises(ReportError, match="language"):
        write_reconciliation_report(tmp_path / "r", DAY, "fr", summary(), LINES)  # type: ignore[arg-type]
    incomplete = summary()
    del incomplete["record_accuracy"]
    with pytest.raises(ReportError, match="record_accuracy"):
        write_reconciliation_report(tmp_path / "r", DAY, "en", incomplete, LINES)
    assert not (tmp_path / "r").exists()


def test_csv_rows_are_sorted_exact_and_stable():
    rows = read_csv(render_reconciliation_report(DAY, "zh", summary(), LINES)["csv"])
    assert rows[0] == list(LINE_FIELDS), "the header is the line keys, in either language"
    by = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(r["plant"], r["material"]) for r in by] == [("1010", "M-050"), ("1010", "M-100"), ("2010", "M-100")]
    r = by[1]
    assert (r["book_qty"], r["physical_qty"], r["difference_qty"]) == ("10", "7", "-3"), "quantities normalised"
    assert r["difference_value"] == "-37.50" and r["unit_cost"] == "12.50", "money in the minor unit"
    assert r["status"] == "adjust" and r["decision"] == "proposed" and r["sap_document"] == "", "codes, not labels"
    assert by[2]["unit_cost"] == "3.10" and by[2]["difference_value"] == "15.50"


def test_unit_cost_keeps_places_beyond_the_minor_unit():
    rows = csv_rows([line(unit_cost=D("0.0350"))])
    assert rows[1][LINE_FIELDS.index("unit_cost")] == "0.035"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_never_starts_a_formula_but_numbers_keep_their_sign(start):
    evil = f'{start}HYPERLINK("http://x","y")'
    rows = read_csv(render_reconciliation_report(DAY, "en", summary(), [line(material=evil, explanation=evil)])["csv"])
    r = dict(zip(rows[0], rows[1], strict=True))
    assert r["material"] == "'" + evil and r["explanation"] == "'" + evil
    assert r["difference_qty"] == "-3" and r["difference_value"] == "-37.50"


def test_xlsx_labels_numbers_and_fixed_properties():
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(DAY, "zh", summary(), [*LINES, line(material="=1+1")])))
    assert wb.sheetnames == ["汇总", "明细"]
    assert wb.properties.created == wb.properties.modified == datetime(2026, 3, 2)
    ws = wb["明细"]
    head = [c.value for c in ws[1]]
    assert head[:3] == ["工厂", "库存地点", "物料"] and "差异金额" in head
    rows = {(r[0].value, r[2].value): r for r in ws.iter_rows(min_row=2)}
    row = rows[("1010", "M-100")]
    value = row[head.index("差异金额")]
    assert value.data_type == "n" and value.value == -37.5 and value.number_format == "#,##0.00"
    assert row[head.index("差异数量")].value == -3
    assert row[head.index("状态")].value == "需调整" and row[head.index("审批")].value == "待审批"
    formula = rows[("1010", "'=1+1")][2]
    assert formula.data_type == "s", "text starting with = is text, not a formula"
    summary_rows = {r[0]: r[1:] for r in wb["汇总"].iter_rows(values_only=True) if r[0]}
    assert summary_rows["库存记录准确率"] == (33.3, "%")
    assert summary_rows["调整金额（净额）"] == (-37.5, "CNY")


def test_html_charts_the_largest_value_differences_per_currency():
    many = [line(material=f"M-{i:03d}", difference_qty=D(-i), difference_value=D(-i) * D("12.5")) for i in range(1, 16)]
    html = render_html(DAY, "en", summary(), [*many, LINES[0]])
    assert html.count("<svg") == 2, "one chart per currency: CNY and EUR never share an axis"
    cny = html[html.index("difference value|, CNY") : html.index("difference value|, EUR")]
    assert cny.count("<rect") == CHART_BARS
    assert "1010 · M-015 · 01 (loss)" in cny and "M-005 " not in cny, "the largest ten, not the first ten"
    assert cny.index("M-015") < cny.index("M-014"), "largest first"
    assert "2010 · M-100 · 01 (gain)" in html
    assert "<script" not in html.lower()


def test_html_in_chinese_escapes_text_and_caps_the_line_table():
    many = [line(material=f"M-{i:04d}", explanation="<b>x</b>") for i in range(HTML_LINES + 7)]
    html = render_html(DAY, "zh", summary(), many)
    assert '<html lang="zh-CN">' in html and "库存盘点对账" in html and "需调整" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "另有 7 行见 CSV 与 XLSX 文件" in html
    assert "33.3%" in html and "CNY -37.50" in html


def test_html_says_so_when_everything_matched():
    html = render_html(DAY, "en", summary(adjust_value_net={}, adjust_value_abs={}, record_accuracy=None), [LINES[2]])
    assert "Every line matched." in html and "<svg" not in html


text = st.text(max_size=40)


@settings(max_examples=60)
@given(material=text, explanation=text, batch=text, reason=st.one_of(st.none(), text))
def test_any_text_round_trips_formula_safe(material, explanation, batch, reason):
    lines = [line(material=material, explanation=explanation, batch=batch, reason_code=reason)]
    files = render_reconciliation_report(DAY, "en", summary(), lines)
    rows = read_csv(files["csv"])
    r = dict(zip(rows[0], rows[1], strict=True))
    for field, value in (("material", material), ("explanation", explanation), ("batch", batch)):
        assert r[field] in (value, "'" + value)
        assert r[field][:1] not in ("=", "+", "-", "@", "\t", "\r")
    wb = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    for cell in wb.worksheets[1][2]:
        assert cell.data_type != "f"
    assert files["html"].decode("utf-8").count("<table") >= 1
