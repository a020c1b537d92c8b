"""The stock-count reconciliation report (盘点对账) of one business day: CSV, XLSX and HTML, zh or en.

Input: the reconciliation's lines (one per plant × storage location × material × batch × stock type,
as the flow's SQL returns them: :data:`LINE_FIELDS`) and its summary (:data:`SUMMARY_FIELDS`).
Format: domain report §5. The three files say the same thing to different readers:

- **CSV** (for scripts and pivots): one row per line, the header the line keys themselves (stable in
  both languages), codes not labels (``status`` = ``adjust``). UTF-8 with a byte-order mark and CRLF
  (:func:`transforms.report_files.csv_bytes`) so spreadsheet programs read Chinese explanations right.
- **XLSX** (for the people who approve adjustments): a summary sheet and a lines sheet with labels in
  the report's language, numbers as numbers. Workbook properties and zip entry times are fixed to the
  business day, so the same data gives the same bytes on every re-run.
- **HTML** (to read): headline tiles, adjustments per currency, the largest value differences as a
  bar chart per currency (inline SVG, drawn by :mod:`transforms.report_html`), and the lines that are
  not matched, largest value first (at most :data:`HTML_LINES`; the CSV and XLSX hold them all).

Numbers: quantities are written normalised (``5.000`` from one database and ``5`` from another print
the same); money in the currency's minor unit, ROUND_HALF_UP (:func:`transforms.money.quantize`).
Text cells never start a spreadsheet formula (:func:`transforms.report_html.safe_cell`); numbers
are written from Decimals, so a minus sign there is a number, never neutralised into text.
Lines are sorted by plant, storage location, material, batch, stock type whatever order they came in.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any, Literal

from transforms.money import MINOR_UNITS, quantize
from transforms.report_files import csv_bytes, replace_file
from transforms.report_html import CSS, _table, fmt_amounts, fmt_num, hbar_chart, safe_cell

Language = Literal["zh", "en"]

LINE_FIELDS: tuple[str, ...] = (
    "plant",
    "storage_location",
    "material",
    "batch",
    "stock_type",
    "abc_class",
    "book_qty",
    "physical_qty",
    "timing_qty",
    "difference_qty",
    "unit",
    "unit_cost",
    "currency",
    "difference_value",
    "status",
    "explanation",
    "movement_type",
    "reason_code",
    "count_document",
    "source",
    "decision",
    "sap_document",
)
QUANTITY_FIELDS = frozenset({"book_qty", "physical_qty", "timing_qty", "difference_qty"})
MONEY_FIELDS = frozenset({"unit_cost", "difference_value"})
SUMMARY_FIELDS: tuple[str, ...] = (
    "business_day",
    "lines",
    "matched",
    "explained",
    "recount",
    "adjust",
    "adjust_qty_gain",
    "adjust_qty_loss",
    "adjust_value_net",
    "adjust_value_abs",
    "record_accuracy",
    "approved",
    "posted",
    "low_stock",
    "over_stock",
)
STATUSES = ("matched", "explained", "recount", "adjust")
HTML_LINES = 200  # lines listed in the HTML; the CSV and XLSX carry every line
CHART_BARS = 10  # largest value differences charted per currency
_SORT_KEY = ("plant", "storage_location", "material", "batch", "stock_type")

TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Spare-parts order hub · stock-count reconciliation",
        "day": "Business day",
        "sheet_summary": "Summary",
        "sheet_lines": "Lines",
        "headline": "The count at a glance",
        "lines": "Lines reconciled",
        "matched": "Matched",
        "explained": "Explained (timing)",
        "recount": "To recount",
        "adjust": "To adjust",
        "adjust_qty_gain": "Adjustment gain (units)",
        "adjust_qty_loss": "Adjustment loss (units)",
        "adjust_value_net": "Adjustment value, net",
        "adjust_value_abs": "Adjustment value, absolute",
        "record_accuracy": "Inventory record accuracy",
        "approved": "Adjustments approved",
        "posted": "Adjustments posted in SAP",
        "low_stock": "Low-stock parts",
        "over_stock": "Over-stock parts",
        "business_day": "Business day",
        "sec_values": "Adjustments per currency",
        "sec_chart": "Largest value differences",
        "sec_lines": "Lines not matched, largest value first",
        "sec_definitions": "Definitions",
        "currency": "Currency",
        "chart": "Largest |difference value|, {currency}",
        "gain": "gain",
        "loss": "loss",
        "more_lines": "{n} more lines are in the CSV and XLSX files.",
        "no_lines": "Every line matched.",
        "no_values": "No difference has a value.",
        "metric": "Metric",
        "value": "Value",
        "def_status": (
            "matched: book = physical. explained: the difference is a timing difference (goods issued "
            "or received in one system and not yet in the other), with the open document. recount: "
            "outside the tolerance for posting, counted again first. adjust: a difference to post in SAP "
            "after approval (movement type 701/702 unrestricted, 703/704 quality inspection, 707/708 "
            "blocked; odd = gain, even = loss)."
        ),
        "def_value": (
            "Difference = physical − book − timing quantity; value = difference × standard price "
            "(unit cost), in the plant's company currency, rounded to its minor unit (ROUND_HALF_UP). "
            "Net value adds gains and losses, absolute value adds their sizes."
        ),
        "def_accuracy": "Inventory record accuracy = lines within tolerance (matched or explained) ÷ lines counted.",
        "status_matched": "matched",
        "status_explained": "explained",
        "status_recount": "recount",
        "status_adjust": "adjust",
        "decision_proposed": "awaiting approval",
        "decision_approved": "approved",
        "decision_rejected": "rejected",
        "decision_posted": "posted",
    },
    "zh": {
        "title": "配件订单集成中枢 · 库存盘点对账",
        "day": "业务日",
        "sheet_summary": "汇总",
        "sheet_lines": "明细",
        "headline": "盘点概览",
        "lines": "对账行",
        "matched": "一致",
        "explained": "已解释（时间差）",
        "recount": "需复盘",
        "adjust": "需调整",
        "adjust_qty_gain": "调整盘盈（数量）",
        "adjust_qty_loss": "调整盘亏（数量）",
        "adjust_value_net": "调整金额（净额）",
        "adjust_value_abs": "调整金额（绝对值）",
        "record_accuracy": "库存记录准确率",
        "approved": "已批准调整",
        "posted": "已在 SAP 过账",
        "low_stock": "低库存物料",
        "over_stock": "超储物料",
        "business_day": "业务日",
        "sec_values": "各币种调整",
        "sec_chart": "差异金额最大的行",
        "sec_lines": "不一致的行（按金额从大到小）",
        "sec_definitions": "定义",
        "currency": "币种",
        "chart": "差异金额绝对值最大的行（{currency}）",
        "gain": "盘盈",
        "loss": "盘亏",
        "more_lines": "另有 {n} 行见 CSV 与 XLSX 文件。",
        "no_lines": "所有行均一致。",
        "no_values": "没有带金额的差异。",
        "metric": "指标",
        "value": "数值",
        "def_status": (
            "一致：账面 = 实盘。已解释：差异为时间差（一方系统已发货或收货、另一方尚未记账），附未结单据。"
            "需复盘：超出可过账容差，先重新盘点。需调整：经审批后在 SAP 过账的差异（移动类型 701/702 非限制库存，"
            "703/704 质检库存，707/708 冻结库存；奇数为盘盈，偶数为盘亏）。"
        ),
        "def_value": (
            "差异 = 实盘 − 账面 − 时间差数量；金额 = 差异 × 标准价（单位成本），以工厂公司代码货币计，"
            "按该币种最小单位四舍五入（ROUND_HALF_UP）。净额为盘盈与盘亏相加，绝对值为两者大小相加。"
        ),
        "def_accuracy": "库存记录准确率 = 在容差内的行（一致或已解释）÷ 盘点行。",
        "status_matched": "一致",
        "status_explained": "已解释",
        "status_recount": "需复盘",
        "status_adjust": "需调整",
        "decision_proposed": "待审批",
        "decision_approved": "已批准",
        "decision_rejected": "已拒绝",
        "decision_posted": "已过账",
    },
}

COLUMNS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "plant": "Plant",
        "storage_location": "Storage location",
        "material": "Material",
        "batch": "Batch",
        "stock_type": "Stock type",
        "abc_class": "ABC",
        "book_qty": "Book qty",
        "physical_qty": "Physical qty",
        "timing_qty": "Timing qty",
        "difference_qty": "Difference qty",
        "unit": "Unit",
        "unit_cost": "Unit cost",
        "currency": "Currency",
        "difference_value": "Difference value",
        "status": "Status",
        "explanation": "Explanation",
        "movement_type": "Movement type",
        "reason_code": "Reason",
        "count_document": "Count document",
        "source": "Source",
        "decision": "Decision",
        "sap_document": "SAP document",
    },
    "zh": {
        "plant": "工厂",
        "storage_location": "库存地点",
        "material": "物料",
        "batch": "批次",
        "stock_type": "库存类型",
        "abc_class": "ABC 分类",
        "book_qty": "账面数量",
        "physical_qty": "实盘数量",
        "timing_qty": "时间差数量",
        "difference_qty": "差异数量",
        "unit": "单位",
        "unit_cost": "单位成本",
        "currency": "币种",
        "difference_value": "差异金额",
        "status": "状态",
        "explanation": "说明",
        "movement_type": "移动类型",
        "reason_code": "原因代码",
        "count_document": "盘点单据",
        "source": "来源",
        "decision": "审批",
        "sap_document": "SAP 凭证",
    },
}


class ReportError(ValueError):
    """Lines or a summary the report cannot be written from (a missing key, an unknown language)."""


# -- values ----------------------------------------------------------------------------------------


def report_paths(folder: Path, business_day: date) -> dict[str, Path]:
    stem = f"inventory_reconciliation_{business_day.isoformat()}"
    return {ext: folder / f"{stem}.{ext}" for ext in ("csv", "xlsx", "html")}


def _plain(d: Decimal) -> Decimal:
    """The same number without trailing zeros and never in exponent form (5.000 → 5, 1E+2 → 100)."""
    n = d.normalize()
    return n.quantize(Decimal(1)) if n == n.to_integral_value() else n


def _money(value: Decimal, currency: object) -> Decimal:
    # An amount in a currency the hub does not know is shown as it came rather than refused here:
    # the gates upstream judge currencies; the report only prints.
    if isinstance(currency, str) and currency in MINOR_UNITS:
        return quantize(value, currency)
    return _plain(value)


def _unit_cost(value: Decimal, currency: object) -> Decimal:
    """A price keeps extra places when it has them (per-unit prices of cheap parts), else its minor unit."""
    money = _money(value, currency)
    return money if money == value else _plain(value)


def _number(line: Mapping[str, Any], field: str) -> Decimal | None:
    value = line[field]
    if value is None:
        return None
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if field == "difference_value":
        return _money(d, line["currency"])
    if field == "unit_cost":
        return _unit_cost(d, line["currency"])
    return _plain(d)


def _sorted(lines: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    for i, line in enumerate(lines):
        missing = [f for f in LINE_FIELDS if f not in line]
        if missing:
            raise ReportError(f"line {i} has no {', '.join(missing)}")
    return sorted(lines, key=lambda ln: tuple("" if ln[k] is None else str(ln[k]) for k in _SORT_KEY))


def _check(language: str, summary: Mapping[str, Any]) -> Mapping[str, str]:
    if language not in TEXT:
        raise ReportError(f"language {language!r} is not one of {', '.join(TEXT)}")
    missing = [f for f in SUMMARY_FIELDS if f not in summary]
    if missing:
        raise ReportError(f"summary has no {', '.join(missing)}")
    return TEXT[language]


def _cell(line: Mapping[str, Any], field: str) -> str | Decimal | None:
    """A line's value for a file: numbers as exact Decimals, text formula-safe."""
    if field in QUANTITY_FIELDS or field in MONEY_FIELDS:
        return _number(line, field)
    value = line[field]
    return None if value is None else safe_cell(value)


def _fmt(value: str | Decimal | None) -> str:
    if value is None:
        return ""
    return format(value, "f") if isinstance(value, Decimal) else value


def _accuracy_pct(summary: Mapping[str, Any]) -> Decimal | None:
    acc = summary["record_accuracy"]
    return None if acc is None else (Decimal(acc) * 100).quantize(Decimal("0.1"))


# -- CSV -------------------------------------------------------------------------------------------


def csv_rows(lines: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The lines as CSV rows: the line keys as header, codes as they are, every text cell formula-safe."""
    return [list(LINE_FIELDS), *([_fmt(_cell(ln, f)) for f in LINE_FIELDS] for ln in _sorted(lines))]


# -- XLSX ------------------------------------------------------------------------------------------


def _summary_rows(summary: Mapping[str, Any], t: Mapping[str, str]) -> list[tuple[str, object, str]]:
    """(label, value, currency or unit) rows of the summary, money per currency."""
    rows: list[tuple[str, object, str]] = [(t["business_day"], str(summary["business_day"]), "")]
    for key in ("lines", "matched", "explained", "recount", "adjust"):
        rows.append((t[key], summary[key], ""))
    for key in ("adjust_qty_gain", "adjust_qty_loss"):
        rows.append((t[key], _plain(Decimal(summary[key] or 0)), ""))
    for key in ("adjust_value_net", "adjust_value_abs"):
        for cur, amount in sorted((summary[key] or {}).items()):
            rows.append((t[key], _money(Decimal(amount), cur), cur))
    acc = _accuracy_pct(summary)
    rows.append((t["record_accuracy"], acc, "%"))
    for key in ("approved", "posted", "low_stock", "over_stock"):
        rows.append((t[key], summary[key], ""))
    return rows


def _label(t: Mapping[str, str], kind: str, code: object) -> object:
    return t.get(f"{kind}_{code}", code) if code is not None else None


def xlsx_bytes(
    business_day: date, language: Language, summary: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]
) -> bytes:
    """The workbook: a summary sheet and one row per line, in the report's language."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    t = _check(language, summary)
    cols = COLUMNS[language]
    stamp = datetime.combine(business_day, time())
    wb = Workbook(write_only=True)
    props = wb.properties
    props.creator = props.lastModifiedBy = "spare-parts order hub"
    props.title = f"{t['title']} {business_day.isoformat()}"
    props.language = "zh-CN" if language == "zh" else "en"
    props.created = props.modified = stamp  # fixed: a re-run writes the same bytes

    ws = wb.create_sheet(t["sheet_summary"])
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 18
    ws.append([_bold(ws, t["metric"]), _bold(ws, t["value"]), _bold(ws, t["currency"])])
    for label, value, unit in _summary_rows(summary, t):
        shown = _money_cell(ws, value, unit) if unit in MINOR_UNITS else value
        ws.append([_xlsx_text(label), shown, unit])
    ws.append([])
    for key in ("def_status", "def_value", "def_accuracy"):
        ws.append([_xlsx_text(t[key])])

    ws = wb.create_sheet(t["sheet_lines"])
    for i, field in enumerate(LINE_FIELDS):
        ws.column_dimensions[_column_letter(i)].width = 40 if field == "explanation" else 14
    ws.freeze_panes = "A2"
    ws.append([_bold(ws, cols[f]) for f in LINE_FIELDS])
    for ln in _sorted(lines):
        row: list[object] = []
        for f in LINE_FIELDS:
            if f in ("status", "decision"):
                shown = _label(t, f, ln[f])
                row.append(None if shown is None else _xlsx_text(shown))
            elif f in MONEY_FIELDS and ln[f] is not None:
                row.append(_money_cell(ws, _cell(ln, f), ln["currency"]))
            else:
                value = _cell(ln, f)
                row.append(_xlsx_text(value) if isinstance(value, str) else value)
        ws.append(row)

    raw = io.BytesIO()
    # ExcelWriter rather than Workbook.save: save() stamps "modified" with the wall clock.
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _fixed_zip(raw.getvalue(), stamp)


def _xlsx_text(value: object) -> str:
    """Formula-safe text without the control characters XML 1.0 cannot hold (openpyxl refuses them):
    each becomes U+FFFD, so the reader sees that something was there."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", safe_cell(value))


def _bold(ws: Any, text: str) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cell = WriteOnlyCell(ws, value=_xlsx_text(text))
    cell.font = Font(bold=True)
    return cell


def _money_cell(ws: Any, value: object, currency: object) -> Any:
    """A number shown with its currency's minor unit (12.50, not 12.5) and thousands separators."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    places = MINOR_UNITS.get(str(currency), 2)
    cell.number_format = "#,##0" + ("." + "0" * places if places else "")
    return cell


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


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


# -- HTML ------------------------------------------------------------------------------------------


def _tile(name: str, value: str, note: str = "") -> str:
    return (
        f'<div class="tile"><div class="k">{escape(name)}</div><div class="v">{escape(value)}</div>'
        f'<div class="c">{escape(note)}</div></div>'
    )


def _line_label(ln: Mapping[str, Any], t: Mapping[str, str], value: Decimal) -> str:
    parts = [str(ln["plant"] or "—"), str(ln["material"])]
    if ln["batch"]:
        parts.append(str(ln["batch"]))
    parts.append(str(ln["stock_type"] or ""))
    return " · ".join(p for p in parts if p) + f" ({t['gain'] if value > 0 else t['loss']})"


def _charts(lines: Sequence[Mapping[str, Any]], t: Mapping[str, str]) -> list[str]:
    """One bar chart per currency (amounts of different currencies never share an axis)."""
    per_currency: dict[str, list[tuple[Decimal, Mapping[str, Any], Decimal]]] = {}
    for ln in lines:
        value = _number(ln, "difference_value")
        if value is None or value == 0:
            continue
        per_currency.setdefault(str(ln["currency"] or "—"), []).append((abs(value), ln, value))
    charts = []
    for cur in sorted(per_currency):
        # Largest first; ties by the line's key, so the chart is the same on every run.
        top = sorted(per_currency[cur], key=lambda item: -item[0])[:CHART_BARS]
        charts.append(
            hbar_chart(
                t["chart"].format(currency=cur),
                [_line_label(ln, t, v) for _, ln, v in top],
                [a for a, _, _ in top],
                color="#ef4444",
                label_width=250,
            )
        )
    return charts


def render_html(
    business_day: date, language: Language, summary: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]
) -> str:
    """One self-contained page (inline CSS and SVG, no script): opens offline, prints as it shows."""
    t = _check(language, summary)
    cols = COLUMNS[language]
    ordered = _sorted(lines)
    parts = [f"<h1>{escape(t['title'])}</h1>"]
    parts.append(f'<p class="meta">{escape(t["day"])} <b>{escape(business_day.isoformat())}</b></p>')

    acc = _accuracy_pct(summary)
    tiles = [
        _tile(t["lines"], fmt_num(summary["lines"])),
        _tile(t["matched"], fmt_num(summary["matched"])),
        _tile(t["explained"], fmt_num(summary["explained"])),
        _tile(t["recount"], fmt_num(summary["recount"])),
        _tile(
            t["adjust"],
            fmt_num(summary["adjust"]),
            f"+{fmt_num(_plain(Decimal(summary['adjust_qty_gain'] or 0)))} / "
            f"−{fmt_num(_plain(abs(Decimal(summary['adjust_qty_loss'] or 0))))}",
        ),
        _tile(t["record_accuracy"], "—" if acc is None else f"{acc}%"),
        _tile(t["approved"], fmt_num(summary["approved"]), f"{t['posted']} {fmt_num(summary['posted'])}"),
        _tile(t["low_stock"], fmt_num(summary["low_stock"]), f"{t['over_stock']} {fmt_num(summary['over_stock'])}"),
    ]
    parts.append(f"<h2>{escape(t['headline'])}</h2><div class='tiles'>{''.join(tiles)}</div>")

    net = summary["adjust_value_net"] or {}
    gross = summary["adjust_value_abs"] or {}
    value_rows = [
        [cur, fmt_amounts({cur: Decimal(net.get(cur, 0))}), fmt_amounts({cur: Decimal(gross.get(cur, 0))})]
        for cur in sorted({*net, *gross})
    ]
    parts.append(f"<h2>{escape(t['sec_values'])}</h2><div class='card'>")
    parts.append(
        _table([t["currency"], t["adjust_value_net"], t["adjust_value_abs"]], value_rows)
        if value_rows
        else f"<p class='note'>{escape(t['no_values'])}</p>"
    )
    parts.append("</div>")

    charts = _charts(ordered, t)
    parts.append(f"<h2>{escape(t['sec_chart'])}</h2><div class='grid'>")
    parts.extend(f"<div class='card'>{c}</div>" for c in charts)
    if not charts:
        parts.append(f"<div class='card'><p class='note'>{escape(t['no_values'])}</p></div>")
    parts.append("</div>")

    shown_fields = [f for f in LINE_FIELDS if f not in ("storage_location", "source")]
    open_lines = [ln for ln in ordered if ln["status"] != "matched"]
    open_lines.sort(key=lambda ln: -abs(_number(ln, "difference_value") or Decimal(0)))  # stable: key order ties
    rows = []
    for ln in open_lines[:HTML_LINES]:
        row = []
        for f in shown_fields:
            if f in ("status", "decision"):
                row.append(str(_label(t, f, ln[f]) or "—"))
            elif f == "difference_value":
                row.append(fmt_num(_number(ln, f), MINOR_UNITS.get(str(ln["currency"]))))
            elif f in QUANTITY_FIELDS or f in MONEY_FIELDS:
                row.append(fmt_num(_number(ln, f)))
            else:
                row.append("—" if ln[f] in (None, "") else str(ln[f]))
        rows.append(row)
    parts.append(f"<h2>{escape(t['sec_lines'])}</h2><div class='card'>")
    if rows:
        parts.append(_table([cols[f] for f in shown_fields], rows, 3))
        if len(open_lines) > HTML_LINES:
            parts.append(f"<p class='note'>{escape(t['more_lines'].format(n=len(open_lines) - HTML_LINES))}</p>")
    else:
        parts.append(f"<p class='note'>{escape(t['no_lines'])}</p>")
    parts.append("</div>")

    parts.append(f"<h2>{escape(t['sec_definitions'])}</h2><div class='card'><dl>")
    for key, title in (
        ("def_status", cols["status"]),
        ("def_value", cols["difference_value"]),
        ("def_accuracy", t["record_accuracy"]),
    ):
        parts.append(f"<dt>{escape(title)}</dt><dd>{escape(t[key])}</dd>")
    parts.append("</dl></div>")

    lang = "zh-CN" if language == "zh" else "en"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t['title'])} {business_day.isoformat()}</title><style>{CSS}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


# -- files -----------------------------------------------------------------------------------------


def render_reconciliation_report(
    business_day: date, language: Language, summary: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]
) -> dict[str, bytes]:
    """The three files' bytes by extension (``csv``, ``xlsx``, ``html``), nothing written."""
    _check(language, summary)
    return {
        "csv": csv_bytes(csv_rows(lines)),
        "xlsx": xlsx_bytes(business_day, language, summary, lines),
        "html": render_html(business_day, language, summary, lines).encode("utf-8"),
    }


def write_reconciliation_report(
    folder: Path,
    business_day: date,
    language: Language,
    summary: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
) -> dict[str, Path]:
    """Write ``inventory_reconciliation_<YYYY-MM-DD>.{csv,xlsx,html}`` into ``folder``, each under a
    temporary name and then renamed (a re-run of the day replaces the day's files); their paths.
    Everything is rendered before the first file is written, so bad input leaves the folder alone."""
    content = render_reconciliation_report(business_day, language, summary, lines)
    folder.mkdir(parents=True, exist_ok=True)
    paths = report_paths(folder, business_day)
    for ext, data in content.items():
        replace_file(paths[ext], data)
    return paths
