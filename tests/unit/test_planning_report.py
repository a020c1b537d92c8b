"""The replenishment planning report (transforms/planning_report.py): files, charts, formats, safety."""

import csv
import io
import re
import time
import xml.etree.ElementTree as ET
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.planning_report import (
    COLUMNS,
    HTML_PROPOSALS,
    PROPOSAL_FIELDS,
    TEXT,
    ReportError,
    csv_rows,
    render,
    render_html,
    svg_chart,
    write_planning_report,
    xlsx_bytes,
)

D = Decimal
WEEK = date(2026, 3, 2)
SVG = "{http://www.w3.org/2000/svg}"


def proposal(**changes):
    base = {
        "planning_week": WEEK,
        "plant": "1010",
        "material": "M-100",
        "material_name": "Brake pad",
        "demand_class": "intermittent",
        "model": "combo(ADIDA,IMAPA)",
        "forecast_per_period": 2.3333333333,
        "safety_stock": D("4.50"),
        "reorder_point": D("12"),
        "min_qty": D("12"),
        "max_qty": D("30"),
        "position": D("8.000"),
        "order_qty": D("30.000"),
        "proposed_qty": D("22.000"),
        "approved_qty": None,
        "budget_status": "within",
        "value": D("275.0000"),
        "currency": "CNY",
        "priority": 1,
        "purchase_requisition": None,
    }
    base.update(changes)
    return base


def summary(**changes):
    base = {
        "planning_week": WEEK,
        "bucket": "month",
        "horizon": 6,
        "plants": [
            {
                "plant": "2010",
                "currency": "EUR",
                "budget": D("100"),
                "proposed_value": D("150.5"),
                "within_value": D("100"),
                "cut_value": D("50.5"),
                "proposals": 2,
                "cut": 1,
            },
            {
                "plant": "1010",
                "currency": "CNY",
                "budget": D("10000"),
                "proposed_value": D("412.5"),
                "within_value": D("412.5"),
                "cut_value": D("0"),
                "proposals": 2,
                "cut": 0,
            },
        ],
        "status": "approved",
        "decided_by": "planner.li",
        "requisitions": 2,
        "reminders": {"zoho": 3, "fxiaoke": 2},
    }
    base.update(changes)
    return base


def part(**changes):
    base = {
        "plant": "1010",
        "material": "M-100",
        "material_name": "Brake pad",
        "periods": ["2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"],
        "history": [0.0, 3.0, 0.0, 5.0, 2.0, 0.0],
        "forecast_periods": ["2026-03", "2026-04", "2026-05"],
        "forecast": [2.5, 2.5, 2.5],
        "reorder_point": 12.0,
        "unit": "PC",
    }
    base.update(changes)
    return base


PROPOSALS = [
    proposal(plant="2010", material="M-300", currency="EUR", value=D("50.5"), budget_status="cut", priority=2),
    proposal(),
    proposal(material="M-200", priority=2, value=D("137.5"), demand_class="smooth", model="AutoETS"),
    proposal(plant="2010", material="M-400", currency="EUR", value=D("100"), budget_status="within", priority=1),
]
TOP = [part(), part(plant="2010", material="M-300", material_name="Filter", unit="EA", reorder_point=4)]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode()), "UTF-8 with a byte-order mark"
    assert b"\r\n" in data
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of the page, parsed as XML (which also proves each is well-formed)."""
    found = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    return [ET.fromstring(s) for s in found]  # noqa: S314 - the report's own output


def classed(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(f"{SVG}{tag}") if e.get("class") == cls]


def points(line: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in line.get("points").split()]


# -- files -----------------------------------------------------------------------------------------


def test_render_gives_the_three_files_and_write_puts_them_by_week(tmp_path):
    files = render(summary(), PROPOSALS, TOP, "en")
    assert set(files) == {"csv", "xlsx", "html"} and all(isinstance(b, bytes) for b in files.values())
    folder = tmp_path / "reports"
    paths = write_planning_report(folder, summary(), PROPOSALS, TOP, "zh")
    assert {k: p.name for k, p in paths.items()} == {
        "csv": "replenishment_planning_2026-03-02.csv",
        "xlsx": "replenishment_planning_2026-03-02.xlsx",
        "html": "replenishment_planning_2026-03-02.html",
    }
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values())
    assert paths["xlsx"].read_bytes() == render(summary(), PROPOSALS, TOP, "zh")["xlsx"]


def test_same_input_gives_the_same_bytes_whatever_the_clock_or_order(monkeypatch):
    first = render(summary(), PROPOSALS, TOP, "zh")
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # zip entries would carry the wall clock
    shuffled = summary(plants=list(reversed(summary()["plants"])), reminders={"fxiaoke": 2, "zoho": 3})
    again = render(shuffled, list(reversed(PROPOSALS)), TOP, "zh")
    assert first == again


def test_a_string_week_is_read_as_the_date():
    assert render(summary(planning_week="2026-03-02"), PROPOSALS, TOP, "en") == render(summary(), PROPOSALS, TOP, "en")


def test_bad_input_raises_and_writes_nothing(tmp_path):
    folder = tmp_path / "r"
    bad = proposal()
    del bad["reorder_point"]
    with pytest.raises(ReportError, match="proposal 0 has no reorder_point"):
        write_planning_report(folder, summary(), [bad], TOP, "en")
    with pytest.raises(ReportError, match="language"):
        write_planning_report(folder, summary(), PROPOSALS, TOP, "fr")
    incomplete = summary()
    del incomplete["reminders"]
    with pytest.raises(ReportError, match="summary has no reminders"):
        write_planning_report(folder, incomplete, PROPOSALS, TOP, "en")
    plant = dict(summary()["plants"][0])
    del plant["cut_value"]
    with pytest.raises(ReportError, match="plant 0 has no cut_value"):
        write_planning_report(folder, summary(plants=[plant]), PROPOSALS, TOP, "en")
    with pytest.raises(ReportError, match="6 periods and 5 history"):
        write_planning_report(folder, summary(), PROPOSALS, [part(history=[1, 2, 3, 4, 5])], "en")
    with pytest.raises(ReportError, match="planning_week"):
        write_planning_report(folder, summary(planning_week="next monday"), PROPOSALS, TOP, "en")
    with pytest.raises(ReportError, match="not a number"):
        render(summary(), [proposal(proposed_qty="lots")], TOP, "en")
    assert not folder.exists()


# -- CSV -------------------------------------------------------------------------------------------


def test_csv_has_the_proposal_keys_and_one_exact_row_per_proposal_in_budget_order():
    rows = read_csv(render(summary(), PROPOSALS, TOP, "zh")["csv"])
    assert rows[0] == list(PROPOSAL_FIELDS), "the header is the proposal keys, in either language"
    by = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(r["plant"], r["material"]) for r in by] == [
        ("1010", "M-100"),
        ("1010", "M-200"),
        ("2010", "M-400"),
        ("2010", "M-300"),
    ], "per plant in priority order: the order the budget is spent in"
    r = by[0]
    assert r["planning_week"] == "2026-03-02"
    assert r["forecast_per_period"] == "2.333", "quantities to three places"
    assert (r["safety_stock"], r["position"], r["proposed_qty"]) == ("4.5", "8", "22"), "normalised"
    assert r["value"] == "275.00", "money in the currency's minor unit"
    assert r["approved_qty"] == "" and r["purchase_requisition"] == "", "None is an empty cell"
    assert r["budget_status"] == "within" and r["demand_class"] == "intermittent", "codes, not labels"
    assert r["model"] == "combo(ADIDA,IMAPA)" and r["priority"] == "1"
    assert by[3]["budget_status"] == "cut" and by[3]["value"] == "50.50"


def test_csv_after_approval_carries_quantities_and_requisitions():
    done = [proposal(approved_qty=D("20"), purchase_requisition="0010000012")]
    rows = csv_rows(done)
    r = dict(zip(rows[0], rows[1], strict=True))
    assert r["approved_qty"] == "20" and r["purchase_requisition"] == "0010000012"


def test_text_never_starts_a_formula_but_numbers_keep_their_sign():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        evil = f'{start}HYPERLINK("http://x","y")'
        rows = read_csv(
            render(summary(), [proposal(material=evil, material_name=evil, position=D(-3))], [], "en")["csv"]
        )
        r = dict(zip(rows[0], rows[1], strict=True))
        assert r["material"] == "'" + evil and r["material_name"] == "'" + evil
        assert r["position"] == "-3", "a negative position is a number, not neutralised"


def test_no_proposals_gives_a_header_only_csv_and_says_so_in_html():
    files = render(summary(plants=[], requisitions=0, reminders={}), [], [], "en")
    assert read_csv(files["csv"]) == [list(PROPOSAL_FIELDS)]
    html = files["html"].decode()
    assert "Nothing to propose this week." in html and "Every proposal fits the budget." in html
    assert "No part to chart." in html and "No reminder written." in html and "<svg" not in html
    wb = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    assert wb.sheetnames == ["Summary", "Proposals"]
    assert wb["Proposals"].max_row == 1


# -- XLSX ------------------------------------------------------------------------------------------


def test_xlsx_sheets_labels_numbers_highlight_and_fixed_properties():
    data = xlsx_bytes(summary(), [*PROPOSALS, proposal(material="=1+1", priority=9)], TOP, "zh")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["汇总", "补货建议", "1 1010 M-100", "2 2010 M-300"]
    assert wb.properties.created == wb.properties.modified == datetime(2026, 3, 2)
    assert wb.properties.language == "zh-CN"
    ws = wb["补货建议"]
    head = [c.value for c in ws[1]]
    assert head == [COLUMNS["zh"][f] for f in PROPOSAL_FIELDS]
    rows = {(r[1].value, r[2].value): r for r in ws.iter_rows(min_row=2)}
    row = rows[("1010", "M-100")]
    value = row[head.index("金额")]
    assert value.data_type == "n" and value.value == 275 and value.number_format == "#,##0.00"
    assert row[head.index("建议数量")].value == 22 and row[head.index("每期预测")].value == 2.333
    assert row[head.index("预算")].value == "预算内" and row[head.index("需求类别")].value == "间歇"
    assert row[head.index("批准数量")].value is None
    cut = rows[("2010", "M-300")]
    assert cut[head.index("预算")].value == "已削减"
    assert cut[0].fill.fgColor.rgb.endswith("FEE2E2"), "cut rows are highlighted"
    assert row[0].fill.fill_type is None, "rows within budget are not"
    formula = rows[("1010", "'=1+1")][2]
    assert formula.data_type == "s", "text starting with = is text, not a formula"

    metrics = {r[0]: r[1] for r in wb["汇总"].iter_rows(values_only=True) if r[0]}
    assert metrics["计划周"] == "2026-03-02" and metrics["时间粒度"] == "月" and metrics["预测期"] == 6
    assert metrics["审批"] == "已批准" and metrics["审批人"] == "planner.li" and metrics["SAP 采购申请"] == 2
    assert metrics["复购提醒 · fxiaoke"] == 2 and metrics["复购提醒 · zoho"] == 3
    plants = [r for r in wb["汇总"].iter_rows(values_only=True) if r[0] in ("1010", "2010")]
    assert plants == [
        ("1010", "CNY", 10000, 412.5, 412.5, 0, 2, 0, None)[: len(plants[0])],
        ("2010", "EUR", 100, 150.5, 100, 50.5, 2, 1, None)[: len(plants[1])],
    ]


def test_xlsx_has_a_line_chart_per_top_part_with_history_forecast_and_reorder_point():
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(summary(), PROPOSALS, TOP, "en")))
    ws = wb["1 1010 M-100"]
    table = list(ws.iter_rows(values_only=True))
    assert table[0][0] == "M-100 Brake pad · plant 1010"
    assert table[1][:4] == ("Period", "History", "Forecast", "Reorder point")
    assert table[2][:4] == ("2025-09", 0, None, 12)
    assert table[5][:4] == ("2025-12", 5, None, 12)
    assert table[8][:4] == ("2026-03", None, 2.5, 12), "the forecast goes on after the history"
    assert len(table) == 2 + 6 + 3
    charts = [c for name in wb.sheetnames[2:] for c in wb[name]._charts]
    assert len(charts) == 2, "one chart per top part"
    chart = wb["1 1010 M-100"]._charts[0]
    assert chart.tagname == "lineChart" and len(chart.series) == 3, "history, forecast, reorder point"
    assert [s.tx.strRef.f for s in chart.series] == ["'1 1010 M-100'!B2", "'1 1010 M-100'!C2", "'1 1010 M-100'!D2"]
    assert [s.val.numRef.f for s in chart.series] == [f"'1 1010 M-100'!${c}$3:${c}$11" for c in "BCD"]
    assert {s.cat.strRef.f for s in chart.series} == {"'1 1010 M-100'!$A$3:$A$11"}, "periods as text labels"
    dashes = [s.graphicalProperties.line.prstDash for s in chart.series]
    assert dashes[0] in (None, "solid") and dashes[1] == "dash", "the forecast is dashed"
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(summary(), PROPOSALS, TOP, "en"))) as z:
        xml = z.read("xl/charts/chart1.xml").decode()
    assert "M-100 Brake pad · plant 1010" in xml and ">Month<" in xml and ">Quantity (PC)<" in xml, "titles"
    assert '<delete val="0"/>' in xml, "axes shown"


def test_xlsx_chart_axis_in_chinese_and_weeks():
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(summary(bucket="week"), [], TOP[:1], "zh")))
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(summary(bucket="week"), [], TOP[:1], "zh"))) as z:
        xml = z.read("xl/charts/chart1.xml").decode()
    assert ">周<" in xml and ">数量 (PC)<" in xml and "M-100 Brake pad · 工厂 1010" in xml
    assert [c.value for c in wb.worksheets[2][2]][:4] == ["期间", "历史需求", "预测", "再订货点"]


def test_sheet_names_of_hostile_parts_are_valid_and_unique():
    hostile = [part(material="a/b:c*?[x]'"), part(material="a/b:c*?[x]'"), part(material="M" * 60)]
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(summary(), [], hostile, "en")))
    names = wb.sheetnames[2:]
    assert len(set(names)) == 3 and all(len(n) <= 31 for n in names)
    assert all(not set(n) & set("[]:*?/\\'") for n in names)


# -- HTML ------------------------------------------------------------------------------------------


def test_html_charts_each_top_part_with_history_dashed_forecast_and_reorder_point():
    html = render_html(summary(), PROPOSALS, TOP, "en")
    assert "<script" not in html.lower() and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    charts = svgs(html)
    assert len(charts) == 2
    svg = charts[0]
    assert svg.find(f"{SVG}title").text == "M-100 Brake pad · plant 1010"
    history, forecast = classed(svg, "polyline", "history"), classed(svg, "polyline", "forecast")
    assert len(history) == len(forecast) == 1
    h, f = points(history[0]), points(forecast[0])
    assert len(h) == 6 and len(f) == 1 + 3, "the forecast starts at the last actual period"
    assert f[0] == h[-1] and all(a[0] < b[0] for a, b in zip(h + f[1:], h[1:] + f[1:], strict=False) if a != b)
    assert forecast[0].get("stroke-dasharray") and not history[0].get("stroke-dasharray")
    assert h[3][1] < h[4][1] < h[0][1], "higher demand is drawn higher"
    rop = classed(svg, "line", "reorder-point")
    assert len(rop) == 1 and rop[0].get("y1") == rop[0].get("y2")
    assert float(rop[0].get("y1")) < min(y for _, y in h), "the reorder point 12 is above every history value"
    texts = [e.text for e in svg.iter(f"{SVG}text")]
    assert {"History", "Forecast", "Reorder point 12", "Month", "Quantity (PC)"} <= set(texts)
    assert "2025-09" in texts and "2026-05" in texts, "first and last period labelled"
    tips = [e.text for e in svg.iter(f"{SVG}title")]
    assert "2025-12: 5" in tips and "2026-03: 2.5" in tips
    assert classed(charts[1], "line", "reorder-point") and "Quantity (EA)" in [
        e.text for e in charts[1].iter(f"{SVG}text")
    ]


def test_html_summary_budget_cuts_reminders_and_highlighted_proposals():
    html = render_html(summary(), PROPOSALS, TOP, "en")
    assert '<html lang="en">' in html and "Planning week <b>2026-03-02</b>" in html
    assert "Approval <b>approved</b>" in html and "Decided by planner.li" in html
    budget = html[html.index("Budget per plant") : html.index("Approval and requisitions")]
    assert budget.index("1010") < budget.index("2010")
    assert (
        "<td class=l>2010</td><td class=l>EUR</td><td>100.00</td><td>150.50</td><td>100.00</td><td>50.50</td>" in budget
    )
    assert "10,000.00" in budget
    reminders = html[html.index("Reorder reminders per CRM") : html.index("Proposals cut by the budget")]
    assert "<td class=l>fxiaoke</td><td>2</td>" in reminders and "<td class=l>zoho</td><td>3</td>" in reminders
    assert reminders.index("fxiaoke") < reminders.index("zoho")
    cuts = html[html.index("Proposals cut by the budget") : html.index("Top parts:")]
    assert "M-300" in cuts and "M-100" not in cuts and "M-400" not in cuts
    table = html[html.index("<h2>Proposals</h2>") :]
    assert table.count('<tr class="cut">') == 1 and table.count('<tr class="within">') == 3
    assert '<span class="badge cut">cut</span>' in table
    assert "tr.cut td{background:#fee2e2}" in html
    assert "2.333" in table and "275.00" in table


def test_html_in_chinese():
    html = render_html(summary(status="proposed", decided_by=None), PROPOSALS, TOP, "zh")
    assert '<html lang="zh-CN">' in html and "补货计划" in html and "各工厂预算" in html
    assert "待审批" in html and "尚未审批" in html and "已削减" in html and "间歇" in html
    texts = [e.text for svg in svgs(html) for e in svg.iter(f"{SVG}text")]
    assert {"历史需求", "预测", "再订货点 12", "月份", "数量 (PC)"} <= set(texts)
    assert "M-100 Brake pad · 工厂 1010" in [svg.find(f"{SVG}title").text for svg in svgs(html)]


def test_both_languages_name_every_field_and_text():
    assert set(TEXT["zh"]) == set(TEXT["en"])
    assert set(COLUMNS["zh"]) == set(COLUMNS["en"]) == set(PROPOSAL_FIELDS)


def test_html_escapes_hostile_text_everywhere():
    evil = '<script>alert("x")</script>&'
    html = render_html(
        summary(decided_by=evil, reminders={evil: 1}),
        [proposal(material=evil, material_name=evil, model=evil, budget_status="cut")],
        [part(material=evil, material_name=evil, periods=[evil] * 6, unit=evil)],
        "en",
    )
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    [svg] = svgs(html)  # still well-formed XML
    assert svg.find(f"{SVG}title").text.startswith(evil)


def test_html_caps_the_proposal_table():
    many = [proposal(material=f"M-{i:04d}") for i in range(HTML_PROPOSALS + 4)]
    html = render_html(summary(), many, [], "en")
    assert "4 more proposals are in the CSV and XLSX files." in html
    assert html.count('<tr class="within">') == HTML_PROPOSALS


@pytest.mark.parametrize(
    ("history", "forecast"),
    [([], []), ([], [1.0, 2.0]), ([3.0], []), ([0.0] * 6, [0.0] * 3), ([-2.0, 4.0], [1.0])],
)
def test_charts_of_degenerate_series_are_well_formed(history, forecast):
    t = TEXT["en"]
    p = part(
        periods=[f"2025-{i + 1:02d}" for i in range(len(history))],
        history=history,
        forecast_periods=[f"2026-{i + 1:02d}" for i in range(len(forecast))],
        forecast=forecast,
        reorder_point=0,
    )
    svg = ET.fromstring(svg_chart(p, "month", t))  # noqa: S314 - the report's own output
    assert len(classed(svg, "line", "reorder-point")) == 1
    assert len(classed(svg, "circle", "history")) == len(history)
    assert len(classed(svg, "circle", "forecast")) == len(forecast)
    if not history and not forecast:
        assert t["no_data"] in [e.text for e in svg.iter(f"{SVG}text")]
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(summary(), [], [p], "en")))
    assert len(wb.sheetnames) == 3


# -- properties ------------------------------------------------------------------------------------

text = st.text(max_size=30)
amount = st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False, allow_infinity=False)
series = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=12)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(material=text, name=text, model=text, pr=st.one_of(st.none(), text), value=amount, position=amount)
def test_any_text_and_number_round_trips_formula_safe(material, name, model, pr, value, position):
    p = proposal(material=material, material_name=name, model=model, purchase_requisition=pr, value=value,
                 position=position)  # fmt: skip
    files = render(summary(), [p], [part(material=material, material_name=name)], "en")
    r = dict(zip(*read_csv(files["csv"]), strict=True))
    for field, given_text in (("material", material), ("material_name", name), ("model", model)):
        assert r[field] in (given_text, "'" + given_text)
        assert r[field][:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert D(r["value"]) == value.quantize(D("0.01"), rounding="ROUND_HALF_UP")
    assert D(r["position"]) == position.quantize(D("0.001"), rounding="ROUND_HALF_UP")
    wb = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    for row in wb["Proposals"].iter_rows():
        assert all(c.data_type != "f" for c in row)
    html = files["html"].decode("utf-8")
    assert len(svgs(html)) == 1 and "<script" not in html.lower()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=series, forecast=series, rop=st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_every_point_lies_inside_the_plot_and_the_reorder_point_is_flat(history, forecast, rop):
    p = part(
        periods=[str(i) for i in range(len(history))],
        history=history,
        forecast_periods=[f"f{i}" for i in range(len(forecast))],
        forecast=forecast,
        reorder_point=rop,
    )
    svg = ET.fromstring(svg_chart(p, "week", TEXT["en"]))  # noqa: S314 - the report's own output
    width, height = (float(v) for v in svg.get("viewBox").split()[2:])
    circles = [(float(c.get("cx")), float(c.get("cy"))) for c in svg.iter(f"{SVG}circle")]
    assert len(circles) == len(history) + len(forecast)
    assert all(0 <= x <= width and 0 <= y <= height for x, y in circles)
    assert [x for x, _ in circles] == sorted(x for x, _ in circles), "periods run left to right"
    [rop_line] = classed(svg, "line", "reorder-point")
    assert rop_line.get("y1") == rop_line.get("y2")
    assert render(summary(), [], [p], "zh") == render(summary(), [], [p], "zh")
