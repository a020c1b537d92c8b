"""The weekly replenishment planning report (补货计划): CSV, XLSX and HTML, zh or en.

Input, as the planning flow assembles it (issue 14, contract §R):

- ``summary`` (:data:`SUMMARY_FIELDS`): the planning week, bucket and horizon, one row per plant with
  its replenishment budget and what the proposals cost against it (:data:`PLANT_FIELDS`), the
  approval's status and who decided, the purchase requisitions created and the reorder reminders
  written per CRM.
- ``proposals`` (:data:`PROPOSAL_FIELDS`): one row per material × plant the run proposes to buy.
- ``top`` (:data:`TOP_FIELDS`): the parts to chart (the flow ranks them), each with its demand
  history, its forecast and its reorder point.

The three files say the same thing to different readers, as the stock-count report does
(:mod:`transforms.inventory_report`):

- **CSV** (for scripts and pivots): one row per proposal, the header the proposal keys themselves
  (stable in both languages), codes not labels (``budget_status`` = ``cut``); UTF-8 with a
  byte-order mark and CRLF (:func:`transforms.report_files.csv_bytes`).
- **XLSX** (for the planner who approves): a summary sheet, a proposals sheet with labels in the
  report's language and the budget status highlighted, and one sheet per top part holding its data
  table and an Excel line chart of it (history, forecast dashed, reorder point). Workbook properties
  and zip entry times are fixed to the planning week, so the same input gives the same bytes.
- **HTML** (to read): headline tiles, the budget per plant, the approval, reminders per CRM, the
  proposals the budget cut, one inline SVG chart per top part (drawn here: no script, no network)
  and the proposals table with the budget status highlighted (at most :data:`HTML_PROPOSALS` rows;
  the CSV and XLSX hold them all).

Numbers: quantities to :data:`QUANTITY_PLACES` places (SAP's quantity scale), written normalised
(``5.000`` and ``5`` print the same); money in the currency's minor unit, ROUND_HALF_UP. Floats are
read through their ``repr`` so ``0.1`` stays ``0.1``. Text cells never start a spreadsheet formula
(:func:`transforms.report_html.safe_cell`); numbers are written as numbers, so a minus sign there is
never neutralised into text. Proposals are ordered by plant, priority (lowest first: the order in
which the budget is spent), material, whatever order they came in; plants by plant; CRMs by name;
the top parts keep the flow's ranking.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html import escape
from pathlib import Path
from typing import Any, Literal

from transforms.money import MINOR_UNITS, quantize
from transforms.report_files import csv_bytes, replace_file
from transforms.report_html import CSS, FONT, _nice, _table, fmt_num, safe_cell

Language = Literal["zh", "en"]

PROPOSAL_FIELDS: tuple[str, ...] = (
    "planning_week",
    "plant",
    "material",
    "material_name",
    "demand_class",
    "model",
    "forecast_per_period",
    "safety_stock",
    "reorder_point",
    "min_qty",
    "max_qty",
    "position",
    "order_qty",
    "proposed_qty",
    "approved_qty",
    "budget_status",
    "value",
    "currency",
    "priority",
    "purchase_requisition",
)
QUANTITY_FIELDS = frozenset(
    {
        "forecast_per_period",
        "safety_stock",
        "reorder_point",
        "min_qty",
        "max_qty",
        "position",
        "order_qty",
        "proposed_qty",
        "approved_qty",
    }
)
MONEY_FIELDS = frozenset({"value"})
SUMMARY_FIELDS: tuple[str, ...] = (
    "planning_week",
    "bucket",
    "horizon",
    "plants",
    "status",
    "decided_by",
    "requisitions",
    "reminders",
)
PLANT_FIELDS: tuple[str, ...] = (
    "plant",
    "currency",
    "budget",
    "proposed_value",
    "within_value",
    "cut_value",
    "proposals",
    "cut",
)
PLANT_MONEY = ("budget", "proposed_value", "within_value", "cut_value")
TOP_FIELDS: tuple[str, ...] = (
    "plant",
    "material",
    "material_name",
    "periods",
    "history",
    "forecast_periods",
    "forecast",
    "reorder_point",
    "unit",
)
BUDGET_STATUSES = ("within", "partly_cut", "cut", "no_budget")
DEMAND_CLASSES = ("smooth", "intermittent", "erratic", "lumpy", "too_short")
QUANTITY_PLACES = 3  # SAP quantities carry three decimals; forecasts and safety stocks are no finer
HTML_PROPOSALS = 300  # proposals listed in the HTML; the CSV and XLSX carry every one
HIGHLIGHT = {"cut": "#fee2e2", "partly_cut": "#fef3c7"}  # the budget status, in the HTML and the XLSX
COLOR_HISTORY, COLOR_FORECAST, COLOR_ROP = "#2563eb", "#f59e0b", "#ef4444"

TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Spare-parts order hub · replenishment planning",
        "week": "Planning week",
        "bucket": "Bucket",
        "horizon": "Horizon",
        "bucket_month": "month",
        "bucket_week": "week",
        "axis_month": "Month",
        "axis_week": "Week",
        "periods": "{n} periods",
        "sheet_summary": "Summary",
        "sheet_proposals": "Proposals",
        "sheet_chart": "Chart",
        "headline": "The week at a glance",
        "proposals": "Proposals",
        "cut_proposals": "Cut by the budget",
        "proposed_value": "Proposed value",
        "within_value": "Within budget",
        "cut_value": "Cut value",
        "budget": "Budget",
        "requisitions": "Purchase requisitions in SAP",
        "reminders": "Reorder reminders",
        "status": "Approval",
        "decided_by": "Decided by",
        "nobody": "nobody yet",
        "sec_budget": "Budget per plant",
        "sec_approval": "Approval and requisitions",
        "sec_reminders": "Reorder reminders per CRM",
        "sec_cuts": "Proposals cut by the budget",
        "sec_charts": "Top parts: demand history, forecast and reorder point",
        "sec_proposals": "Proposals",
        "sec_definitions": "Definitions",
        "plant": "Plant",
        "currency": "Currency",
        "crm": "CRM",
        "count": "Reminders",
        "metric": "Metric",
        "value": "Value",
        "period": "Period",
        "quantity": "Quantity",
        "history": "History",
        "forecast": "Forecast",
        "reorder_point": "Reorder point",
        "chart_title": "{material} {name} · plant {plant}",
        "no_proposals": "Nothing to propose this week.",
        "no_cuts": "Every proposal fits the budget.",
        "no_charts": "No part to chart.",
        "no_reminders": "No reminder written.",
        "no_plants": "No plant planned.",
        "no_data": "No history and no forecast for this part.",
        "more_proposals": "{n} more proposals are in the CSV and XLSX files.",
        "def_forecast": (
            "Forecast per period: the chosen model's mean demand per bucket, picked per part by rolling-"
            "origin evaluation on RMSSE with a bias check. Demand class (Syntetos-Boylan): smooth, "
            "intermittent, erratic or lumpy by the average interval between demands (1.32) and the "
            "squared coefficient of variation of their sizes (0.49)."
        ),
        "def_policy": (
            "Safety stock covers the forecast error over the lead time; reorder point = demand over the "
            "lead time + safety stock; min/max with the minimum order quantity and the order multiple. "
            "Position = unrestricted stock + open purchase orders − open backorders; a part is proposed "
            "when its position is at or below the reorder point, up to the maximum."
        ),
        "def_budget": (
            "Each plant has a replenishment budget per week, in its company currency. Proposals are kept "
            "in priority order until the budget is spent: within = kept whole, partly cut = kept in part, "
            "cut = left out. Cut proposals are alerted and are not sent to SAP."
        ),
        "status_within": "within budget",
        "status_partly_cut": "partly cut",
        "status_cut": "cut",
        "status_no_budget": "no budget set",
        "class_smooth": "smooth",
        "class_intermittent": "intermittent",
        "class_erratic": "erratic",
        "class_lumpy": "lumpy",
        "class_too_short": "too short",
        "run_forecast": "forecast only",
        "run_proposed": "awaiting approval",
        "run_approved": "approved",
        "run_rejected": "rejected",
        "run_requested": "requisitions created",
        "run_nothing_to_order": "nothing to order",
    },
    "zh": {
        "title": "配件订单集成中枢 · 补货计划",
        "week": "计划周",
        "bucket": "时间粒度",
        "horizon": "预测期",
        "bucket_month": "月",
        "bucket_week": "周",
        "axis_month": "月份",
        "axis_week": "周",
        "periods": "{n} 期",
        "sheet_summary": "汇总",
        "sheet_proposals": "补货建议",
        "sheet_chart": "图表",
        "headline": "本周概览",
        "proposals": "补货建议",
        "cut_proposals": "因预算削减",
        "proposed_value": "建议金额",
        "within_value": "预算内金额",
        "cut_value": "削减金额",
        "budget": "预算",
        "requisitions": "SAP 采购申请",
        "reminders": "复购提醒",
        "status": "审批",
        "decided_by": "审批人",
        "nobody": "尚未审批",
        "sec_budget": "各工厂预算",
        "sec_approval": "审批与采购申请",
        "sec_reminders": "各 CRM 复购提醒",
        "sec_cuts": "因预算削减的建议",
        "sec_charts": "重点物料：需求历史、预测与再订货点",
        "sec_proposals": "补货建议",
        "sec_definitions": "定义",
        "plant": "工厂",
        "currency": "币种",
        "crm": "CRM",
        "count": "提醒数",
        "metric": "指标",
        "value": "数值",
        "period": "期间",
        "quantity": "数量",
        "history": "历史需求",
        "forecast": "预测",
        "reorder_point": "再订货点",
        "chart_title": "{material} {name} · 工厂 {plant}",
        "no_proposals": "本周没有补货建议。",
        "no_cuts": "所有建议均在预算内。",
        "no_charts": "没有需要绘图的物料。",
        "no_reminders": "未写入提醒。",
        "no_plants": "没有计划的工厂。",
        "no_data": "该物料没有历史需求，也没有预测。",
        "more_proposals": "另有 {n} 条建议见 CSV 与 XLSX 文件。",
        "def_forecast": (
            "每期预测：所选模型每个时间段的平均需求；每个物料按滚动原点评估的 RMSSE 并检查偏差来选择模型。"
            "需求类别（Syntetos-Boylan）：按需求平均间隔（1.32）与需求量变异系数平方（0.49）分为平稳、间歇、"
            "波动、块状。"
        ),
        "def_policy": (
            "安全库存覆盖提前期内的预测误差；再订货点 = 提前期需求 + 安全库存；最小/最大库存含最小订购量与订购倍数。"
            "库存位置 = 非限制库存 + 未结采购订单 − 未结欠货；库存位置不高于再订货点时建议补货，补到最大库存。"
        ),
        "def_budget": (
            "每个工厂每周有补货预算（公司代码货币）。建议按优先级依次保留，直到预算用完：预算内 = 全部保留，"
            "部分削减 = 部分保留，已削减 = 不保留。被削减的建议会告警，不发送到 SAP。"
        ),
        "status_within": "预算内",
        "status_partly_cut": "部分削减",
        "status_cut": "已削减",
        "status_no_budget": "未设预算",
        "class_smooth": "平稳",
        "class_intermittent": "间歇",
        "class_erratic": "波动",
        "class_lumpy": "块状",
        "class_too_short": "历史过短",
        "run_forecast": "仅预测",
        "run_proposed": "待审批",
        "run_approved": "已批准",
        "run_rejected": "已拒绝",
        "run_requested": "已创建采购申请",
        "run_nothing_to_order": "无需采购",
    },
}

COLUMNS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "planning_week": "Planning week",
        "plant": "Plant",
        "material": "Material",
        "material_name": "Description",
        "demand_class": "Demand class",
        "model": "Model",
        "forecast_per_period": "Forecast / period",
        "safety_stock": "Safety stock",
        "reorder_point": "Reorder point",
        "min_qty": "Min",
        "max_qty": "Max",
        "position": "Position",
        "order_qty": "Needed (before the budget)",
        "proposed_qty": "Proposed qty",
        "approved_qty": "Approved qty",
        "budget_status": "Budget",
        "value": "Value",
        "currency": "Currency",
        "priority": "Priority",
        "purchase_requisition": "Purchase requisition",
    },
    "zh": {
        "planning_week": "计划周",
        "plant": "工厂",
        "material": "物料",
        "material_name": "物料描述",
        "demand_class": "需求类别",
        "model": "模型",
        "forecast_per_period": "每期预测",
        "safety_stock": "安全库存",
        "reorder_point": "再订货点",
        "min_qty": "最小库存",
        "max_qty": "最大库存",
        "position": "库存位置",
        "order_qty": "需求量（预算前）",
        "proposed_qty": "建议数量",
        "approved_qty": "批准数量",
        "budget_status": "预算",
        "value": "金额",
        "currency": "币种",
        "priority": "优先级",
        "purchase_requisition": "采购申请",
    },
}


class ReportError(ValueError):
    """Input the report cannot be written from (a missing key, an unknown language, a series whose
    periods and values differ in length)."""


# -- values ----------------------------------------------------------------------------------------

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_ILLEGAL = re.compile(r"[\[\]:*?/\\'\x00-\x1f]")


def _clean(value: object) -> str:
    """Text without the control characters XML 1.0 cannot hold (SVG, XLSX): each becomes U+FFFD,
    so the reader sees that something was there."""
    return _XML_ILLEGAL.sub("\ufffd", "" if value is None else str(value))


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ReportError(f"{what} is not a number: {value!r}")
    try:
        d = Decimal(str(value))  # a float through its repr: 0.1 stays 0.1
    except (InvalidOperation, ValueError):
        raise ReportError(f"{what} is not a number: {value!r}") from None
    if not d.is_finite():
        raise ReportError(f"{what} is not a finite number: {value!r}")
    return d


def _plain(d: Decimal) -> Decimal:
    """The same number without trailing zeros and never in exponent form (5.000 → 5, 1E+2 → 100)."""
    n = d.normalize()
    return n.quantize(Decimal(1)) if n == n.to_integral_value() else n


def _qty(value: object, what: str = "quantity") -> Decimal | None:
    if value is None:
        return None
    d = _decimal(value, what).quantize(Decimal(1).scaleb(-QUANTITY_PLACES), rounding=ROUND_HALF_UP)
    return _plain(d)


def _money(value: object, currency: object, what: str = "amount") -> Decimal | None:
    # An amount in a currency the hub does not know is shown as it came rather than refused here:
    # the planning flow judges currencies; the report only prints.
    if value is None:
        return None
    d = _decimal(value, what)
    if isinstance(currency, str) and currency in MINOR_UNITS:
        return quantize(d, currency)
    return _plain(d)


def _week(summary: Mapping[str, Any]) -> date:
    week = summary["planning_week"]
    if isinstance(week, datetime):
        return week.date()
    if isinstance(week, date):
        return week
    try:
        return date.fromisoformat(str(week))
    except ValueError:
        raise ReportError(f"planning_week {week!r} is not a date") from None


def _missing(row: object, fields: Sequence[str], what: str) -> None:
    if not isinstance(row, Mapping):
        raise ReportError(f"{what} is not a mapping")
    missing = [f for f in fields if f not in row]
    if missing:
        raise ReportError(f"{what} has no {', '.join(missing)}")


def _check(
    language: str,
    summary: Mapping[str, Any],
    proposals: Sequence[Mapping[str, Any]],
    top: Sequence[Mapping[str, Any]],
) -> Mapping[str, str]:
    """Every key present and every series consistent, before a byte is rendered."""
    if language not in TEXT:
        raise ReportError(f"language {language!r} is not one of {', '.join(TEXT)}")
    _missing(summary, SUMMARY_FIELDS, "summary")
    _week(summary)
    for i, plant in enumerate(summary["plants"] or ()):
        _missing(plant, PLANT_FIELDS, f"summary plant {i}")
    for i, p in enumerate(proposals):
        _missing(p, PROPOSAL_FIELDS, f"proposal {i}")
    for i, part in enumerate(top):
        _missing(part, TOP_FIELDS, f"top part {i}")
        for periods, values in (("periods", "history"), ("forecast_periods", "forecast")):
            if len(part[periods]) != len(part[values]):
                raise ReportError(
                    f"top part {i} has {len(part[periods])} {periods} and {len(part[values])} {values} values"
                )
    return TEXT[language]


def _priority_key(value: object) -> tuple[int, Decimal, str]:
    if value is None or isinstance(value, bool):
        return (2, Decimal(0), "" if value is None else str(value))
    try:
        return (0, _decimal(value, "priority"), "")
    except ReportError:
        return (1, Decimal(0), str(value))


def _sorted(proposals: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """By plant, priority (lowest first, the order the budget is spent in), material, then the rest
    of the row: the same proposals in any order give the same files."""
    return sorted(
        proposals,
        key=lambda p: (
            str(p["plant"] or ""),
            _priority_key(p["priority"]),
            str(p["material"] or ""),
            tuple("" if p[f] is None else str(p[f]) for f in PROPOSAL_FIELDS),
        ),
    )


def _plants(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return sorted(summary["plants"] or (), key=lambda r: (str(r["plant"] or ""), str(r["currency"] or "")))


def _reminders(summary: Mapping[str, Any]) -> list[tuple[str, int]]:
    return sorted((str(crm), int(n)) for crm, n in (summary["reminders"] or {}).items())


def _cell(p: Mapping[str, Any], field: str) -> str | Decimal | None:
    """A proposal's value for a file: numbers as exact Decimals, text formula-safe."""
    if field in QUANTITY_FIELDS:
        return _qty(p[field], field)
    if field in MONEY_FIELDS:
        return _money(p[field], p["currency"], field)
    value = p[field]
    if value is None:
        return None
    if field == "planning_week" and isinstance(value, date):
        return value.isoformat()
    return safe_cell(value)


def _fmt(value: str | Decimal | None) -> str:
    if value is None:
        return ""
    return format(value, "f") if isinstance(value, Decimal) else value


def _label(t: Mapping[str, str], kind: str, code: object) -> str | None:
    return None if code is None else t.get(f"{kind}_{code}", str(code))


def _series(values: Sequence[object], what: str) -> list[Decimal]:
    return [_qty(v, what) or Decimal(0) for v in values]


# -- CSV -------------------------------------------------------------------------------------------


def csv_rows(proposals: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The proposals as CSV rows: the proposal keys as header, codes as they are, text formula-safe."""
    for i, p in enumerate(proposals):
        _missing(p, PROPOSAL_FIELDS, f"proposal {i}")
    return [list(PROPOSAL_FIELDS), *([_fmt(_cell(p, f)) for f in PROPOSAL_FIELDS] for p in _sorted(proposals))]


# -- XLSX ------------------------------------------------------------------------------------------


def _xlsx_text(value: object) -> str:
    return _clean(safe_cell(value))


def _bold(ws: Any, text: str) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cell = WriteOnlyCell(ws, value=_xlsx_text(text))
    cell.font = Font(bold=True)
    return cell


def _money_cell(ws: Any, value: object, currency: object, fill: str | None = None) -> Any:
    """A number shown with its currency's minor unit (12.50, not 12.5) and thousands separators."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    places = MINOR_UNITS.get(str(currency), 2)
    cell.number_format = "#,##0" + ("." + "0" * places if places else "")
    if fill:
        _fill(cell, fill)
    return cell


def _plain_cell(ws: Any, value: object, fill: str | None) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=_xlsx_text(value) if isinstance(value, str) else value)
    if fill:
        _fill(cell, fill)
    return cell


def _fill(cell: Any, color: str) -> None:
    from openpyxl.styles import PatternFill

    cell.fill = PatternFill("solid", start_color=color.lstrip("#").upper(), end_color=color.lstrip("#").upper())


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _sheet_name(index: int, part: Mapping[str, Any]) -> str:
    """``3 1010 M-100``: numbered, so names stay unique, cut to Excel's 31 characters, without the
    characters Excel refuses in a sheet name."""
    name = f"{index} {part['plant']} {part['material']}"
    return _SHEET_ILLEGAL.sub("_", _clean(name))[:31].rstrip() or str(index)


def _summary_sheet(wb: Any, summary: Mapping[str, Any], t: Mapping[str, str]) -> None:
    ws = wb.create_sheet(t["sheet_summary"])
    for col, width in zip("ABCDEFGH", (30, 18, 18, 18, 18, 18, 12, 12), strict=True):
        ws.column_dimensions[col].width = width
    ws.append([_bold(ws, t["metric"]), _bold(ws, t["value"])])
    ws.append([_xlsx_text(t["week"]), _week(summary).isoformat()])
    ws.append([_xlsx_text(t["bucket"]), _xlsx_text(_label(t, "bucket", summary["bucket"]) or "")])
    ws.append([_xlsx_text(t["horizon"]), summary["horizon"]])
    ws.append([_xlsx_text(t["status"]), _xlsx_text(_label(t, "run", summary["status"]) or "")])
    ws.append([_xlsx_text(t["decided_by"]), _xlsx_text(summary["decided_by"] or "")])
    ws.append([_xlsx_text(t["requisitions"]), summary["requisitions"]])
    for crm, n in _reminders(summary):
        ws.append([_xlsx_text(f"{t['reminders']} · {crm}"), n])
    ws.append([])
    head = [t["plant"], t["currency"], t["budget"], t["proposed_value"], t["within_value"], t["cut_value"]]
    ws.append([_bold(ws, h) for h in (*head, t["proposals"], t["cut_proposals"])])
    for r in _plants(summary):
        cur = r["currency"]
        fill = HIGHLIGHT["cut"] if (r["cut"] or 0) else None
        ws.append(
            [
                _plain_cell(ws, r["plant"], fill),
                _plain_cell(ws, cur, fill),
                *(_money_cell(ws, _money(r[k], cur, k), cur, fill) for k in PLANT_MONEY),
                _plain_cell(ws, r["proposals"], fill),
                _plain_cell(ws, r["cut"], fill),
            ]
        )
    ws.append([])
    for key in ("def_forecast", "def_policy", "def_budget"):
        ws.append([_xlsx_text(t[key])])


def _proposals_sheet(
    wb: Any, proposals: Sequence[Mapping[str, Any]], t: Mapping[str, str], cols: Mapping[str, str]
) -> None:
    ws = wb.create_sheet(t["sheet_proposals"])
    for i, field in enumerate(PROPOSAL_FIELDS):
        ws.column_dimensions[_column_letter(i)].width = 28 if field == "material_name" else 14
    ws.freeze_panes = "A2"
    ws.append([_bold(ws, cols[f]) for f in PROPOSAL_FIELDS])
    for p in _sorted(proposals):
        fill = HIGHLIGHT.get(str(p["budget_status"]))
        row: list[object] = []
        for f in PROPOSAL_FIELDS:
            if f == "budget_status":
                row.append(_plain_cell(ws, _label(t, "status", p[f]), fill))
            elif f == "demand_class":
                row.append(_plain_cell(ws, _label(t, "class", p[f]), fill))
            elif f in MONEY_FIELDS and p[f] is not None:
                row.append(_money_cell(ws, _cell(p, f), p["currency"], fill))
            else:
                row.append(_plain_cell(ws, _cell(p, f), fill))
        ws.append(row)


def _chart_sheet(wb: Any, index: int, part: Mapping[str, Any], bucket: object, t: Mapping[str, str]) -> None:
    """The part's data table (period, history, forecast, reorder point) and a line chart of it: the
    forecast dashed after the history, the reorder point a flat line across both."""
    from openpyxl.chart import LineChart, Reference
    from openpyxl.chart.data_source import AxDataSource, StrRef

    ws = wb.create_sheet(_sheet_name(index, part))
    ws.column_dimensions["A"].width = 14
    for col in "BCD":
        ws.column_dimensions[col].width = 14
    title = _chart_title(part, t)
    ws.append([_bold(ws, title)])
    ws.append([_bold(ws, h) for h in (t["period"], t["history"], t["forecast"], t["reorder_point"])])
    rop = float(_qty(part["reorder_point"], "reorder_point") or 0)
    history = _series(part["history"], "history")
    forecast = _series(part["forecast"], "forecast")
    for label, v in zip(part["periods"], history, strict=True):
        ws.append([_xlsx_text(label), float(v), None, rop])
    for label, v in zip(part["forecast_periods"], forecast, strict=True):
        ws.append([_xlsx_text(label), None, float(v), rop])
    rows = len(history) + len(forecast)
    if rows == 0:
        ws.append([_xlsx_text(t["no_data"])])
        return
    chart = LineChart()
    chart.title = title
    chart.height, chart.width = 9, 18
    chart.legend.position = "b"
    chart.x_axis.title = _label(t, "axis", bucket) or t["period"]
    chart.y_axis.title = f"{t['quantity']} ({_clean(part['unit'] or '')})" if part["unit"] else t["quantity"]
    chart.x_axis.delete = chart.y_axis.delete = False  # openpyxl 3.1 hides axes unless told
    chart.add_data(Reference(ws, min_col=2, max_col=4, min_row=2, max_row=2 + rows), titles_from_data=True)
    periods = Reference(ws, min_col=1, min_row=3, max_row=2 + rows)
    for series, color, dash in zip(
        chart.series, (COLOR_HISTORY, COLOR_FORECAST, COLOR_ROP), (None, "dash", "sysDot"), strict=True
    ):
        series.cat = AxDataSource(strRef=StrRef(f=str(periods)))  # text labels, not numbers
        series.smooth = False
        series.marker.symbol = "none"
        series.graphicalProperties.line.solidFill = color.lstrip("#").upper()
        series.graphicalProperties.line.width = 22000
        if dash:
            series.graphicalProperties.line.dashStyle = dash
    ws.add_chart(chart, "F2")


def xlsx_bytes(
    summary: Mapping[str, Any],
    proposals: Sequence[Mapping[str, Any]],
    top: Sequence[Mapping[str, Any]],
    language: Language,
) -> bytes:
    """The workbook: summary, proposals, and a sheet per top part with its data and chart."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    t = _check(language, summary, proposals, top)
    week = _week(summary)
    stamp = datetime.combine(week, time())
    wb = Workbook(write_only=True)
    props = wb.properties
    props.creator = props.lastModifiedBy = "spare-parts order hub"
    props.title = f"{t['title']} {week.isoformat()}"
    props.language = "zh-CN" if language == "zh" else "en"
    props.created = props.modified = stamp  # fixed: a re-run writes the same bytes

    _summary_sheet(wb, summary, t)
    _proposals_sheet(wb, proposals, t, COLUMNS[language])
    for i, part in enumerate(top, start=1):
        _chart_sheet(wb, i, part, summary["bucket"], t)

    raw = io.BytesIO()
    # ExcelWriter rather than Workbook.save: save() stamps "modified" with the wall clock.
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _fixed_zip(raw.getvalue(), stamp)


def _fixed_zip(content: bytes, stamp: datetime) -> bytes:
    """The same archive with every entry's time set to ``stamp`` (zipfile stamps the wall clock)."""
    out = io.BytesIO()
    when = (max(stamp.year, 1980), stamp.month, stamp.day, 0, 0, 0)
    with zipfile.ZipFile(io.BytesIO(content)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=when)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


# -- SVG chart -------------------------------------------------------------------------------------


def _chart_title(part: Mapping[str, Any], t: Mapping[str, str]) -> str:
    title = t["chart_title"].format(material=part["material"], name=part["material_name"] or "", plant=part["plant"])
    return " ".join(_clean(title).split())


def _t(x: float, y: float, s: str, anchor: str = "start", size: int = 10, **kw: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="#334155"{extra}>'
        f"{escape(_clean(s))}</text>"
    )


def _axis(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """A round axis from 0 (or a round negative, for returns) to a round maximum."""
    hi = _nice(max(values, default=Decimal(0)))
    low = min(values, default=Decimal(0))
    lo = -_nice(-low) if low < 0 else Decimal(0)
    return lo, hi


def svg_chart(
    part: Mapping[str, Any], bucket: object, t: Mapping[str, str], *, width: int = 600, height: int = 290
) -> str:
    """One part: its history (solid), the forecast (dashed, going on from the last history period),
    the reorder point (a flat line across both), axis labels, a legend and a title naming the
    material and plant. Plain SVG; every line and point carries a ``<title>`` with its number."""
    left, right, top, bottom = 56, 14, 34, 62
    plot_w, plot_h = width - left - right, height - top - bottom
    title = _chart_title(part, t)
    unit = _clean(part["unit"] or "")
    history = _series(part["history"], "history")
    forecast = _series(part["forecast"], "forecast")
    rop = _qty(part["reorder_point"], "reorder_point") or Decimal(0)
    labels = [_clean(p) for p in (*part["periods"], *part["forecast_periods"])]
    lo, hi = _axis([*history, *forecast, rop])
    span = hi - lo

    def y_of(v: Decimal) -> float:
        return top + plot_h - float((v - lo) / span) * plot_h

    n = len(labels)

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    body = [_t(left, 18, title, size=13, font_weight="600")]
    for k in range(6):
        v = lo + span * k / 5
        y = y_of(v)
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        body.append(_t(left - 4, y + 4, fmt_num(_plain(v)), anchor="end"))
    body.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#94a3b8"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#94a3b8"/>'
    )
    every = max(1, -(-n // 8))  # at most about eight period labels
    for i, label in enumerate(labels):
        # every k-th and the last; the last is drawn leftwards from its point, so the one before it
        # keeps a whole step away
        if i == n - 1 or (i % every == 0 and n - 1 - i >= every):
            anchor = "end" if i == n - 1 and n > 1 else "middle"  # the last label stays inside the frame
            body.append(_t(x_of(i), top + plot_h + 14, label, anchor=anchor))
    y_title = f"{t['quantity']} ({unit})" if unit else t["quantity"]
    body.append(_t(12, top + plot_h / 2, y_title, anchor="middle", transform=f"rotate(-90 12 {top + plot_h / 2:.1f})"))
    body.append(_t(left + plot_w / 2, top + plot_h + 30, _label(t, "axis", bucket) or t["period"], anchor="middle"))

    if not labels:
        body.append(_t(left + plot_w / 2, top + plot_h / 2, t["no_data"], anchor="middle"))
    if history and forecast:  # where the forecast starts
        x = (x_of(len(history) - 1) + x_of(len(history))) / 2
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#cbd5e1"/>')
    y_rop = y_of(rop)
    body.append(
        f'<line class="reorder-point" x1="{left}" x2="{width - right}" y1="{y_rop:.1f}" y2="{y_rop:.1f}" '
        f'stroke="{COLOR_ROP}" stroke-width="1.5" stroke-dasharray="2 3">'
        f"<title>{escape(t['reorder_point'])}: {fmt_num(rop)}</title></line>"
    )
    hist_pts = [(x_of(i), y_of(v)) for i, v in enumerate(history)]
    fc_pts = [(x_of(len(history) + i), y_of(v)) for i, v in enumerate(forecast)]
    lead = hist_pts[-1:]  # the dashed line goes on from the last actual period
    body.append(_polyline("history", hist_pts, COLOR_HISTORY, ""))
    body.append(_polyline("forecast", lead + fc_pts, COLOR_FORECAST, "6 4"))
    for kind, pts, values, periods, color in (
        ("history", hist_pts, history, part["periods"], COLOR_HISTORY),
        ("forecast", fc_pts, forecast, part["forecast_periods"], COLOR_FORECAST),
    ):
        for (x, y), v, p in zip(pts, values, periods, strict=True):
            body.append(
                f'<circle class="{kind}" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(_clean(p))}: {fmt_num(v)}</title></circle>"
            )
    body.extend(
        _legend(
            [
                (t["history"], COLOR_HISTORY, ""),
                (t["forecast"], COLOR_FORECAST, "6 4"),
                (f"{t['reorder_point']} {fmt_num(rop)}", COLOR_ROP, "2 3"),
            ],
            left,
            height - 10,
        )
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" font-family="{escape(FONT)}" '
        f'font-size="11" class="planning-chart"><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def _polyline(kind: str, points: Sequence[tuple[float, float]], color: str, dash: str) -> str:
    if len(points) < 2:
        return ""  # one point is drawn as its circle
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline class="{kind}" points="{coords}" fill="none" stroke="{color}" stroke-width="2"{dashed}/>'


def _legend(items: Sequence[tuple[str, str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, color, dash in items:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x:.1f}" x2="{x + 22:.1f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" stroke="{color}" '
            f'stroke-width="2"{dashed}/>'
        )
        out.append(_t(x + 26, y, name, size=11))
        x += 40 + 7 * len(name) + 6 * sum(1 for ch in name if ord(ch) > 0x2E80)
    return out


# -- HTML ------------------------------------------------------------------------------------------

_CSS_EXTRA = (
    "tr.cut td{background:#fee2e2} tr.partly_cut td{background:#fef3c7}"
    " .badge{display:inline-block;padding:1px 6px;border-radius:4px;font-size:11.5px;white-space:nowrap}"
    " .badge.cut{background:#fecaca;color:#7f1d1d} .badge.partly_cut{background:#fde68a;color:#78350f}"
    " .badge.within{background:#dcfce7;color:#14532d}"
)


def _tile(name: str, value: str, note: str = "") -> str:
    return (
        f'<div class="tile"><div class="k">{escape(name)}</div><div class="v">{escape(_clean(value))}</div>'
        f'<div class="c">{escape(_clean(note))}</div></div>'
    )


def _amounts(rows: Sequence[Mapping[str, Any]], key: str) -> str:
    per: dict[str, Decimal] = {}
    for r in rows:
        cur = str(r["currency"] or "—")
        per[cur] = per.get(cur, Decimal(0)) + (_money(r[key], r["currency"], key) or Decimal(0))
    return " · ".join(f"{cur} {fmt_num(v, MINOR_UNITS.get(cur))}" for cur, v in sorted(per.items())) or "—"


def _money_text(value: object, currency: object) -> str:
    return fmt_num(_money(value, currency), MINOR_UNITS.get(str(currency)))


def _proposal_cells(p: Mapping[str, Any], fields: Sequence[str], t: Mapping[str, str]) -> list[str]:
    row = []
    for f in fields:
        if f == "budget_status":
            row.append(_label(t, "status", p[f]) or "—")
        elif f == "demand_class":
            row.append(_label(t, "class", p[f]) or "—")
        elif f in MONEY_FIELDS:
            row.append(_money_text(p[f], p["currency"]))
        elif f in QUANTITY_FIELDS:
            row.append(fmt_num(_qty(p[f], f)))
        else:
            row.append("—" if p[f] in (None, "") else _clean(p[f]))
    return row


def _proposal_table(
    proposals: Sequence[Mapping[str, Any]], fields: Sequence[str], t: Mapping[str, str], cols: Mapping[str, str]
) -> str:
    """The proposals' table, each row classed by its budget status so cuts stand out."""
    head = "".join(f"<th{' class=l' if i < 3 else ''}>{escape(cols[f])}</th>" for i, f in enumerate(fields))
    rows = []
    for p in proposals:
        status = str(p["budget_status"])
        css = status if status in BUDGET_STATUSES else "unknown"
        cells = []
        for i, (f, text) in enumerate(zip(fields, _proposal_cells(p, fields, t), strict=True)):
            left = " class=l" if i < 3 else ""
            if f == "budget_status":
                shown = f'<span class="badge {css}">{escape(text)}</span>'
            elif f == "model" and text.startswith("combo(") and text.count(",") >= 2:
                # a combination of many models: its name in full on hover, not across a third of the page
                shown = f'<span title="{escape(text)}">combo ({text.count(",") + 1})</span>'
            else:
                shown = escape(text)
            cells.append(f"<td{left}>{shown}</td>")
        rows.append(f'<tr class="{css}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(
    summary: Mapping[str, Any],
    proposals: Sequence[Mapping[str, Any]],
    top: Sequence[Mapping[str, Any]],
    language: Language,
) -> str:
    """One self-contained page (inline CSS and SVG, no script): opens offline, prints as it shows."""
    t = _check(language, summary, proposals, top)
    cols = COLUMNS[language]
    week = _week(summary).isoformat()
    ordered = _sorted(proposals)
    plants = _plants(summary)
    reminders = _reminders(summary)
    status = _label(t, "run", summary["status"]) or "—"
    decided_by = _clean(summary["decided_by"]) if summary["decided_by"] else t["nobody"]

    parts = [f"<h1>{escape(t['title'])}</h1>"]
    parts.append(
        f'<p class="meta">{escape(t["week"])} <b>{escape(week)}</b> · {escape(t["bucket"])} '
        f"{escape(_label(t, 'bucket', summary['bucket']) or '—')} · {escape(t['horizon'])} "
        f"{escape(t['periods'].format(n=_clean(summary['horizon'])))} · {escape(t['status'])} "
        f"<b>{escape(status)}</b> · {escape(t['decided_by'])} {escape(decided_by)}</p>"
    )

    n_cut = sum(1 for p in ordered if p["budget_status"] in ("cut", "partly_cut"))
    tiles = [
        _tile(t["proposals"], fmt_num(len(ordered)), f"{t['cut_proposals']} {fmt_num(n_cut)}"),
        _tile(t["proposed_value"], _amounts(plants, "proposed_value"), f"{t['budget']} {_amounts(plants, 'budget')}"),
        _tile(t["within_value"], _amounts(plants, "within_value"), f"{t['cut_value']} {_amounts(plants, 'cut_value')}"),
        _tile(t["status"], status, f"{t['decided_by']} {decided_by}"),
        _tile(t["requisitions"], fmt_num(int(summary["requisitions"] or 0))),
        _tile(
            t["reminders"],
            fmt_num(sum(n for _, n in reminders)),
            " · ".join(f"{crm} {fmt_num(n)}" for crm, n in reminders),
        ),
    ]
    parts.append(f"<h2>{escape(t['headline'])}</h2><div class='tiles'>{''.join(tiles)}</div>")

    plant_rows = [
        [
            _clean(r["plant"]),
            _clean(r["currency"]),
            *(_money_text(r[k], r["currency"]) for k in PLANT_MONEY),
            fmt_num(int(r["proposals"] or 0)),
            fmt_num(int(r["cut"] or 0)),
        ]
        for r in plants
    ]
    head = [t["plant"], t["currency"], t["budget"], t["proposed_value"], t["within_value"], t["cut_value"]]
    parts.append(f"<h2>{escape(t['sec_budget'])}</h2><div class='card'>")
    parts.append(
        _table([*head, t["proposals"], t["cut_proposals"]], plant_rows, 2)
        if plant_rows
        else f"<p class='note'>{escape(t['no_plants'])}</p>"
    )
    parts.append("</div>")

    parts.append(f"<h2>{escape(t['sec_approval'])}</h2><div class='card'>")
    parts.append(
        _table(
            [t["metric"], t["value"]],
            [
                [t["status"], status],
                [t["decided_by"], decided_by],
                [t["requisitions"], fmt_num(int(summary["requisitions"] or 0))],
            ],
        )
    )
    parts.append("</div>")

    parts.append(f"<h2>{escape(t['sec_reminders'])}</h2><div class='card'>")
    parts.append(
        _table([t["crm"], t["count"]], [[_clean(crm), fmt_num(n)] for crm, n in reminders])
        if reminders
        else f"<p class='note'>{escape(t['no_reminders'])}</p>"
    )
    parts.append("</div>")

    cut_fields = (
        "plant",
        "material",
        "material_name",
        "priority",
        "order_qty",
        "proposed_qty",
        "approved_qty",
        "value",
        "currency",
        "budget_status",
    )
    cuts = [p for p in ordered if p["budget_status"] in ("cut", "partly_cut")]
    parts.append(f"<h2>{escape(t['sec_cuts'])}</h2><div class='card'>")
    parts.append(
        _proposal_table(cuts[:HTML_PROPOSALS], cut_fields, t, cols)
        if cuts
        else f"<p class='note'>{escape(t['no_cuts'])}</p>"
    )
    if len(cuts) > HTML_PROPOSALS:
        parts.append(f"<p class='note'>{escape(t['more_proposals'].format(n=len(cuts) - HTML_PROPOSALS))}</p>")
    parts.append("</div>")

    parts.append(f"<h2>{escape(t['sec_charts'])}</h2><div class='grid'>")
    parts.extend(f"<div class='card'>{svg_chart(part, summary['bucket'], t)}</div>" for part in top)
    if not top:
        parts.append(f"<div class='card'><p class='note'>{escape(t['no_charts'])}</p></div>")
    parts.append("</div>")

    shown = [f for f in PROPOSAL_FIELDS if f != "planning_week"]
    parts.append(f"<h2>{escape(t['sec_proposals'])}</h2><div class='card'>")
    if ordered:
        parts.append(_proposal_table(ordered[:HTML_PROPOSALS], shown, t, cols))
        if len(ordered) > HTML_PROPOSALS:
            more = t["more_proposals"].format(n=len(ordered) - HTML_PROPOSALS)
            parts.append(f"<p class='note'>{escape(more)}</p>")
    else:
        parts.append(f"<p class='note'>{escape(t['no_proposals'])}</p>")
    parts.append("</div>")

    parts.append(f"<h2>{escape(t['sec_definitions'])}</h2><div class='card'><dl>")
    for key, title in (
        ("def_forecast", cols["forecast_per_period"]),
        ("def_policy", cols["reorder_point"]),
        ("def_budget", cols["budget_status"]),
    ):
        parts.append(f"<dt>{escape(title)}</dt><dd>{escape(t[key])}</dd>")
    parts.append("</dl></div>")

    lang = "zh-CN" if language == "zh" else "en"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t['title'])} {escape(week)}</title><style>{CSS}\n{_CSS_EXTRA}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


# -- files -----------------------------------------------------------------------------------------


def render(
    summary: Mapping[str, Any],
    proposals: Sequence[Mapping[str, Any]],
    top: Sequence[Mapping[str, Any]],
    language: str,
) -> dict[str, bytes]:
    """The three files' bytes by extension (``csv``, ``xlsx``, ``html``), nothing written. Every
    input is checked first: bad input raises :class:`ReportError` before anything is rendered."""
    _check(language, summary, proposals, top)
    lang: Language = "zh" if language == "zh" else "en"
    return {
        "csv": csv_bytes(csv_rows(proposals)),
        "xlsx": xlsx_bytes(summary, proposals, top, lang),
        "html": render_html(summary, proposals, top, lang).encode("utf-8"),
    }


def report_paths(folder: Path, planning_week: date) -> dict[str, Path]:
    stem = f"replenishment_planning_{planning_week.isoformat()}"
    return {ext: folder / f"{stem}.{ext}" for ext in ("csv", "xlsx", "html")}


def write_planning_report(
    folder: Path,
    summary: Mapping[str, Any],
    proposals: Sequence[Mapping[str, Any]],
    top: Sequence[Mapping[str, Any]],
    language: str,
) -> dict[str, Path]:
    """Write ``replenishment_planning_<week>.{csv,xlsx,html}`` into ``folder``, each under a temporary
    name and then renamed (a re-run of the week replaces the week's files); their paths. Everything
    is rendered before the first file is written, so bad input leaves the folder alone."""
    content = render(summary, proposals, top, language)
    folder.mkdir(parents=True, exist_ok=True)
    paths = report_paths(folder, _week(summary))
    for ext, data in content.items():
        replace_file(paths[ext], data)
    return paths
