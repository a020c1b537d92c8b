"""The daily ops report as one self-contained HTML page (inline CSS and SVG charts drawn here, no
script, no web font, no CDN: it opens offline) and as CSV rows, in Chinese or English.

Chart labels are SVG ``<text>``: the browser draws them with the reader's own fonts, so Chinese
renders as characters wherever a CJK font is installed (every desktop system has one). CSV cells
never start a spreadsheet formula (DESIGN §3.6): :func:`safe_cell`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from html import escape

from transforms.kpis import (
    AGE_BUCKETS,
    NOT_YET,
    STAGES,
    WINDOWS,
    Aging,
    OpsReport,
    Ratio,
    ServiceLevel,
    daily,
)

COLORS = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#84cc16", "#f97316")
WINDOW_COLORS = {"day": "#2563eb", "prev7": "#93c5fd", "prev28": "#cbd5e1"}
FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif"

TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Spare-parts order hub · daily operations report",
        "day": "Business day",
        "as_of": "as of",
        "zone": "time zone",
        "run": "run",
        "window_day": "the day",
        "window_prev7": "previous 7 days",
        "window_prev28": "previous 28 days",
        "per_day": "per day",
        "headline": "The day at a glance",
        "orders_in": "Orders in",
        "orders_confirmed": "Orders confirmed",
        "confirmed_in_full": "confirmed in full",
        "confirmation_fill": "Confirmation fill (units)",
        "otif_lines": "OTIF (lines)",
        "otif_orders": "OTIF (orders)",
        "line_fill": "Line fill rate",
        "order_fill": "Order fill rate",
        "unit_fill": "Unit fill rate",
        "lines_due": "Lines due",
        "orders_due": "Orders due",
        "untracked": "Lines due at untracked plants",
        "cycle_median": "Order cycle time (median, days)",
        "backorder_lines": "Open backorder lines",
        "quarantine_open": "Quarantine open",
        "ledger_backlog": "Ledger backlog",
        "sec_intake": "Orders in and confirmed",
        "sec_service": "On time in full and fill rates",
        "sec_cycle": "Order cycle time",
        "sec_aging": "Backorder aging",
        "sec_stock": "Stock health",
        "sec_gates": "Data-quality gate pass rates",
        "sec_quarantine": "Quarantine by reason",
        "sec_ledger": "Ledger backlog (messages to outside systems)",
        "sec_definitions": "KPI definitions",
        "sec_not_yet": "Not available yet",
        "crm": "CRM",
        "plant": "Plant",
        "all": "all",
        "orders": "orders",
        "lines": "lines",
        "amount": "gross amount",
        "chart_intake": "Orders in per day, by CRM",
        "chart_service": "OTIF and fill rates: the day against the previous 7 and 28 days",
        "chart_otif_trend": "Line OTIF by committed date (lines due that day)",
        "chart_cycle": "Median days per stage",
        "chart_aging": "Open backorder lines by days past the promised date",
        "chart_gates": "Pass rate over the previous 28 days and the day",
        "chart_quarantine": "Open quarantine records, top reasons",
        "stage_to_confirmed": "created → confirmed",
        "stage_to_shipped": "confirmed → shipped",
        "stage_to_delivered": "shipped → delivered",
        "stage_total": "created → delivered",
        "stage": "Stage",
        "median": "median",
        "mean": "mean",
        "p90": "90th pct.",
        "n": "orders",
        "skipped": "left out",
        "bucket": "Days past promise",
        "bucket_not_due": "not due yet",
        "units": "units",
        "value": "value",
        "top_shortages": "Most units short (open backorders)",
        "material": "Material",
        "materials": "materials in snapshot",
        "out_of_stock": "no unrestricted stock",
        "nothing_available": "nothing available",
        "backordered_materials": "with backorders",
        "short_beyond_available": "short beyond available",
        "short_qty": "units short",
        "taken_at": "snapshot",
        "active_materials": "active materials (master)",
        "gate": "Gate",
        "pass_rate": "pass rate",
        "evaluated": "evaluated",
        "quarantined": "quarantined",
        "runs": "runs",
        "failed_runs": "failed runs",
        "stage_q": "Stage",
        "source": "Source",
        "reason": "Reason",
        "field": "Field",
        "open": "open",
        "new": "new",
        "target": "Target",
        "pending": "pending",
        "in_flight": "in flight",
        "failed": "failed",
        "oldest_h": "oldest open (hours)",
        "sent": "sent",
        "none": "nothing in this window",
        "not_yet_safety_stock": (
            "Low / over stock against safety stock, reorder point and maximum stock, and days of cover: "
            "replenishment_planning (issue 11) sets those policies; until it runs, stock health shows SAP's "
            "snapshot against open backorders only."
        ),
        "not_yet_inventory_accuracy": (
            "Inventory record accuracy (counts within tolerance ÷ items counted): inventory_reconciliation "
            "is not built yet."
        ),
        "not_yet_untracked_plants": (
            "OTIF and fill rates of plants SAP ships from itself (not run by the 3PL over Qimen): no "
            "shipment or delivery date reaches the hub; their lines due are counted, not measured."
        ),
        "legend_vs": "vs",
        "short_otif_lines": "OTIF lines",
        "short_otif_orders": "OTIF orders",
        "short_line_fill": "line fill",
        "short_order_fill": "order fill",
        "short_unit_fill": "unit fill",
        "tracked": "measured plants (3PL)",
    },
    "zh": {
        "title": "配件订单集成中枢 · 运营日报",
        "day": "业务日",
        "as_of": "截至",
        "zone": "时区",
        "run": "运行",
        "window_day": "当日",
        "window_prev7": "前 7 天",
        "window_prev28": "前 28 天",
        "per_day": "日均",
        "headline": "当日概览",
        "orders_in": "新进订单",
        "orders_confirmed": "已确认订单",
        "confirmed_in_full": "全部确认",
        "confirmation_fill": "确认满足率（件数）",
        "otif_lines": "准时足量率 OTIF（行）",
        "otif_orders": "准时足量率 OTIF（订单）",
        "line_fill": "行满足率",
        "order_fill": "订单满足率",
        "unit_fill": "件数满足率",
        "lines_due": "到期订单行",
        "orders_due": "到期订单",
        "untracked": "未跟踪工厂的到期行",
        "cycle_median": "订单周期（中位数，天）",
        "backorder_lines": "未结欠货行",
        "quarantine_open": "隔离区未处理",
        "ledger_backlog": "发送台账积压",
        "sec_intake": "新进订单与确认",
        "sec_service": "准时足量（OTIF）与满足率",
        "sec_cycle": "订单周期",
        "sec_aging": "欠货账龄",
        "sec_stock": "库存健康",
        "sec_gates": "数据质量关卡通过率",
        "sec_quarantine": "隔离区（按原因）",
        "sec_ledger": "发送台账积压（发往外部系统的消息）",
        "sec_definitions": "指标定义",
        "sec_not_yet": "暂不可用",
        "crm": "CRM",
        "plant": "工厂",
        "all": "合计",
        "orders": "订单",
        "lines": "行",
        "amount": "含税金额",
        "chart_intake": "每日新进订单（按 CRM）",
        "chart_service": "OTIF 与满足率：当日对比前 7 天、前 28 天",
        "chart_otif_trend": "按承诺日期的行 OTIF（当日到期的行）",
        "chart_cycle": "各阶段中位天数",
        "chart_aging": "未结欠货行（超过承诺日期的天数）",
        "chart_gates": "通过率：前 28 天与当日",
        "chart_quarantine": "隔离区未处理记录，主要原因",
        "stage_to_confirmed": "创建 → 确认",
        "stage_to_shipped": "确认 → 发货",
        "stage_to_delivered": "发货 → 签收",
        "stage_total": "创建 → 签收",
        "stage": "阶段",
        "median": "中位数",
        "mean": "平均",
        "p90": "90 分位",
        "n": "订单数",
        "skipped": "未计入",
        "bucket": "超过承诺天数",
        "bucket_not_due": "未到期",
        "units": "件数",
        "value": "金额",
        "top_shortages": "欠货件数最多的物料",
        "material": "物料",
        "materials": "快照物料数",
        "out_of_stock": "无非限制库存",
        "nothing_available": "无可用量",
        "backordered_materials": "有欠货",
        "short_beyond_available": "欠货超过可用量",
        "short_qty": "欠货件数",
        "taken_at": "快照时间",
        "active_materials": "有效物料（主数据）",
        "gate": "关卡",
        "pass_rate": "通过率",
        "evaluated": "检查行数",
        "quarantined": "隔离",
        "runs": "运行次数",
        "failed_runs": "失败运行",
        "stage_q": "环节",
        "source": "来源",
        "reason": "原因",
        "field": "字段",
        "open": "未处理",
        "new": "新增",
        "target": "目标",
        "pending": "待发送",
        "in_flight": "发送中",
        "failed": "失败",
        "oldest_h": "最早未结（小时）",
        "sent": "已发送",
        "none": "此时段无数据",
        "not_yet_safety_stock": (
            "按安全库存、再订货点、最高库存判断的低库存/超储以及可供天数：这些策略由补货计划"
            "（replenishment_planning，issue 11）设定；在其运行之前，库存健康只对比 SAP 库存快照与未结欠货。"
        ),
        "not_yet_inventory_accuracy": "库存记录准确率（差异在容差内的盘点项 ÷ 盘点项）：库存对账流程尚未建成。",
        "not_yet_untracked_plants": (
            "由 SAP 自行发货的工厂（非第三方仓库 / 奇门）：发货与签收日期不进入中枢，"
            "其到期行只计数、不计算 OTIF 和满足率。"
        ),
        "legend_vs": "对比",
        "short_otif_lines": "OTIF 行",
        "short_otif_orders": "OTIF 订单",
        "short_line_fill": "行满足率",
        "short_order_fill": "订单满足率",
        "short_unit_fill": "件数满足率",
        "tracked": "计算工厂（第三方仓库）",
    },
}

DEFINITIONS_ZH: Mapping[str, str] = {
    "otif": (
        "准时足量率（OTIF）：在承诺日期前全部签收的订单行 ÷ 到期订单行。承诺日期 = SAP 确认的交货日期，"
        "没有时取客户要求日期；行按承诺日期所在的时段计为到期。足量 = 签收数量 ≥ 订购数量（按订购量，而非确认量）。"
        "签收日期 = 该交货单最后一个包裹签收（承运商轨迹）的业务日。订单 OTIF：订单所有行都在订单承诺日期"
        "（最晚一行的承诺日期）前全部签收。仅计算由中枢跟踪交货的工厂（第三方仓库）；已取消订单不计。"
    ),
    "fill": (
        "满足率（同一批到期行）：行满足率 = 全部发货的行 ÷ 行数；订单满足率 = 所有行全部发货（无欠货）的订单 ÷ 订单数；"
        "件数满足率 = 已发货件数 ÷ 订购件数（每行不超过订购量）。已发货 = 报告日结束前仓库已对交货单作最终出库确认。"
    ),
    "confirmation": (
        "已确认订单：SAP 接单后，在该时段首次向 CRM 发出确认的订单。确认满足率 = SAP 确认件数 ÷ 这些订单的订购件数；"
        "“全部确认” = 每行均全额确认。"
    ),
    "cycle": (
        "订单周期：最后一个交货单在该时段签收的订单，CRM 创建 → 首次确认 → 首次发货（最终出库确认）→ 最后签收，"
        "按日历天计，Σ(签收 − 创建) ÷ n（平均），并列中位数和 90 分位。"
        "某阶段时间缺失或先后颠倒的订单不计入该阶段，另行计数。"
    ),
    "backorder": (
        "欠货账龄：SAP 未全额确认的未结订单行（欠货、已过账、部分确认的订单），报告日结束 − 承诺日期（客户要求日期，"
        "没有时取下单日），按天计；分段 0–7 / 8–14 / 15–30 / 31–60 / >60 天（未到期：承诺日期在报告日之后），"
        "按行数、件数和金额（行净额按未确认件数分摊，逐行按币种最小单位四舍五入 ROUND_HALF_UP）。"
    ),
    "stock": (
        "库存健康：各工厂在报告日结束前最新的 SAP 库存快照（过账流程计划过的物料）：无非限制库存、无可用量"
        "（扣除 SAP 已确认需求后）、有未结欠货、欠货超过可用量的物料数。"
    ),
    "gates": "关卡通过率：该时段内各数据质量关卡通过的行 ÷ 检查的行。",
    "quarantine": "隔离区：仍未处理的记录，以及各时段新增的隔离记录，按环节和原因。",
    "ledger": (
        "发送台账积压：报告日结束前创建、尚未发送（待发送、发送中、失败）的消息，及最早一条的时长；各时段已发送的消息。"
    ),
}


def _definitions(language: str) -> Mapping[str, str]:
    from transforms.kpis import DEFINITIONS

    return DEFINITIONS_ZH if language == "zh" else DEFINITIONS


# -- formatting ------------------------------------------------------------------------------------


def fmt_num(value: Decimal | int | None, places: int | None = None) -> str:
    if value is None:
        return "—"
    d = Decimal(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return f"{d:,.{places}f}"
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d.normalize():,f}"


def fmt_pct(r: Ratio) -> str:
    p = r.pct()
    return "—" if p is None else f"{p}%"


def fmt_days(d: Decimal | None) -> str:
    return fmt_num(d, 1)


def fmt_amounts(amounts: Mapping[str, Decimal]) -> str:
    return " · ".join(f"{cur} {_money(v, cur):,}" for cur, v in sorted(amounts.items())) or "—"


def _money(amount: Decimal, currency: str) -> Decimal:
    """An amount in its currency's minor unit (ROUND_HALF_UP); sums of MONEY columns carry 4 places."""
    from transforms.money import quantize

    return quantize(amount, currency)


def safe_cell(value: object) -> str:
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @ (or a tab or
    carriage return) gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -- SVG charts ------------------------------------------------------------------------------------


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" font-family="{escape(FONT)}" font-size="11">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, s: str, anchor: str = "start", size: int = 11, fill: str = "#334155", **kw: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{extra}>'
        f"{escape(s)}</text>"
    )


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, color in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>')
        out.append(_text(x + 14, y, name))
        x += 24 + 7 * len(name) + (6 * sum(1 for ch in name if ord(ch) > 0x2E80))
    return out


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[Decimal]]],
    *,
    stacked: bool = False,
    percent: bool = False,
    width: int = 600,
    height: int = 260,
    label_every: int = 1,
) -> str:
    """Vertical bars: one group per category, one bar per series (side by side, or ``stacked``)."""
    left, right, top, bottom = 44, 10, 30, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    if stacked:
        peak = max((sum((s[2][i] for s in series), Decimal(0)) for i in range(len(categories))), default=Decimal(0))
    else:
        peak = max((v for s in series for v in s[2]), default=Decimal(0))
    top_value = Decimal(100) if percent else _nice(peak)
    body = [_text(left, 16, title, size=13, fill="#0f172a", font_weight="600")]
    for k in range(6):
        v = top_value * k / 5
        y = top + plot_h - plot_h * k / 5
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        body.append(_text(left - 4, y + 4, fmt_num(v) + ("%" if percent else ""), anchor="end", size=10))
    n = max(len(categories), 1)
    group_w = plot_w / n
    bar_w = group_w * 0.8 / (1 if stacked else max(len(series), 1))
    for i, cat in enumerate(categories):
        x0 = left + group_w * i + group_w * 0.1
        base = Decimal(0)
        for j, (name, color, values) in enumerate(series):
            v = values[i]
            if top_value == 0:
                continue
            h = float(v / top_value) * plot_h
            if stacked:
                y = top + plot_h - float(base / top_value) * plot_h - h
                x = x0
                base += v
            else:
                y = top + plot_h - h
                x = x0 + bar_w * j
            label = f"{name} {cat}: {fmt_num(v, 1 if percent else None)}{'%' if percent else ''}"
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{max(h, 0):.1f}" '
                f'fill="{color}"><title>{escape(label)}</title></rect>'
            )
        if i % label_every == 0:
            body.append(_text(left + group_w * (i + 0.5), top + plot_h + 14, cat, anchor="middle", size=10))
    body += _legend([(s[0], s[1]) for s in series], left, height - 8)
    return _svg(width, height, body, title)


def line_chart(
    title: str, categories: Sequence[str], values: Sequence[Decimal | None], *, width: int = 600, height: int = 240
) -> str:
    """A percentage per category (0–100 %); gaps where a value is None (nothing due)."""
    left, right, top, bottom = 44, 10, 30, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    body = [_text(left, 16, title, size=13, fill="#0f172a", font_weight="600")]
    for k in range(6):
        y = top + plot_h - plot_h * k / 5
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        body.append(_text(left - 4, y + 4, f"{20 * k}%", anchor="end", size=10))
    n = max(len(categories) - 1, 1)
    path: list[str] = []
    for i, (cat, v) in enumerate(zip(categories, values, strict=True)):
        x = left + plot_w * i / n
        if i % 7 == 0 or i == len(categories) - 1:
            body.append(_text(x, top + plot_h + 14, cat, anchor="middle", size=10))
        if v is None:
            path.append("")
            continue
        y = top + plot_h - float(v) / 100 * plot_h
        path.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2563eb"><title>{escape(cat)}: {v}%</title></circle>'
        )
    for run in " ".join(p or "|" for p in path).split("|"):
        points = run.split()
        if len(points) > 1:
            body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#2563eb" stroke-width="2"/>')
    return _svg(width, height, body, title)


def hbar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[Decimal],
    *,
    percent: bool = False,
    width: int = 600,
    color: str = "#2563eb",
    label_width: int = 230,
) -> str:
    """Horizontal bars, one per label."""
    row = 22
    height = 34 + row * max(len(labels), 1) + 8
    left, right, top = label_width, 60, 30
    plot_w = width - left - right
    top_value = Decimal(100) if percent else _nice(max(values, default=Decimal(0)))
    body = [_text(8, 16, title, size=13, fill="#0f172a", font_weight="600")]
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = top + row * i
        w = 0.0 if top_value == 0 else float(v / top_value) * plot_w
        shown = label if len(label) <= 40 else label[:39] + "…"
        body.append(_text(left - 6, y + 14, shown, anchor="end", size=10))
        body.append(
            f'<rect x="{left}" y="{y + 3:.1f}" width="{max(w, 0):.1f}" height="{row - 8}" fill="{color}">'
            f"<title>{escape(label)}: {v}</title></rect>"
        )
        body.append(_text(left + w + 4, y + 14, fmt_num(v, 1 if percent else None) + ("%" if percent else ""), size=10))
    return _svg(width, height, body, title)


def _nice(peak: Decimal) -> Decimal:
    """A round axis maximum at or above ``peak``."""
    if peak <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(peak))) - 1)
    for step in (1, 2, 5, 10):
        if peak <= magnitude * step:
            return magnitude * step
    return magnitude * 10


# -- HTML ------------------------------------------------------------------------------------------

CSS = "\n".join(
    (
        "body{font-family:FONT;margin:24px;color:#0f172a;background:#f8fafc;max-width:1240px}",
        "h1{font-size:22px;margin:0 0 4px}",
        "h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #e2e8f0;padding-bottom:4px}",
        ".meta{color:#475569;font-size:13px}",
        ".grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}",
        ".card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px;overflow-x:auto}",
        ".tiles{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:12px}",
        ".tile{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 12px}",
        ".tile .k{font-size:12px;color:#475569}.tile .v{font-size:24px;font-weight:600;margin:2px 0}",
        ".tile .c{font-size:11px;color:#64748b}",
        "table{border-collapse:collapse;font-size:12.5px;width:100%}",
        "th,td{padding:4px 8px;border-bottom:1px solid #e2e8f0;text-align:right}",
        "th:first-child,td:first-child,td.l,th.l{text-align:left} th{background:#f1f5f9;font-weight:600}",
        ".note{font-size:12px;color:#475569} dl{font-size:12.5px} dt{font-weight:600;margin-top:8px}",
        "dd{margin:2px 0 0 0;color:#334155} svg{max-width:100%;height:auto}",
    )
).replace("FONT", FONT)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], left_cols: int = 1) -> str:
    h = "".join(f"<th{' class=l' if i < left_cols else ''}>{escape(c)}</th>" for i, c in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=l' if i < left_cols else ''}>{escape(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _table_or_none(head: Sequence[str], rows: Sequence[Sequence[str]], t: Mapping[str, str], left: int = 1) -> str:
    return _table(head, rows, left) if rows else f"<p class='note'>{escape(t['none'])}</p>"


def _wl(t: Mapping[str, str], w: str) -> str:
    return t[f"window_{w}"]


def _tile(name: str, day: str, prev7: str, prev28: str, t: Mapping[str, str]) -> str:
    return (
        f'<div class="tile"><div class="k">{escape(name)}</div><div class="v">{escape(day)}</div>'
        f'<div class="c">{escape(t["window_prev7"])} {escape(prev7)} · '
        f"{escape(t['window_prev28'])} {escape(prev28)}</div></div>"
    )


def _service_rows(levels: Mapping[str, ServiceLevel], t: Mapping[str, str]) -> list[list[str]]:
    return [
        [t["otif_lines"], *(fmt_pct(levels[w].otif_lines) for w in WINDOWS)],
        [t["otif_orders"], *(fmt_pct(levels[w].otif_orders) for w in WINDOWS)],
        [t["line_fill"], *(fmt_pct(levels[w].line_fill) for w in WINDOWS)],
        [t["order_fill"], *(fmt_pct(levels[w].order_fill) for w in WINDOWS)],
        [t["unit_fill"], *(fmt_pct(levels[w].unit_fill) for w in WINDOWS)],
        [t["lines_due"], *(fmt_num(levels[w].lines) for w in WINDOWS)],
        [t["orders_due"], *(fmt_num(levels[w].orders) for w in WINDOWS)],
        [t["untracked"], *(fmt_num(levels[w].untracked) for w in WINDOWS)],
    ]


def _count_cells(values: Mapping[str, Decimal | int]) -> list[str]:
    """The day's count, and the previous windows' daily averages."""
    return [
        fmt_num(values["day"]),
        fmt_num(daily(values["prev7"], "prev7")),
        fmt_num(daily(values["prev28"], "prev28")),
    ]


def _pct_value(r: Ratio) -> Decimal:
    return r.pct() or Decimal(0)


def render_html(report: OpsReport, language: str = "zh", *, run_id: str = "") -> str:
    t = TEXT[language]
    span = report.span
    windows_head = [_wl(t, w) for w in WINDOWS]
    counts_head = [_wl(t, "day"), f"{_wl(t, 'prev7')} ({t['per_day']})", f"{_wl(t, 'prev28')} ({t['per_day']})"]
    parts: list[str] = []
    service = report.service[""]
    intake = report.intake[""]
    confirmed = report.confirmed[""]
    cycle = report.cycle
    aging_all = report.aging[""]
    backorder_lines = sum(a.lines for a in aging_all.values())
    open_q = sum(int(r["open_records"] or 0) for r in report.quarantine)  # type: ignore[call-overload]
    backlog = sum(int(r["pending"] or 0) + int(r["in_flight"] or 0) + int(r["failed"] or 0) for r in report.ledger)  # type: ignore[call-overload]

    # header and tiles
    parts.append(f"<h1>{escape(t['title'])}</h1>")
    parts.append(
        f'<p class="meta">{escape(t["day"])} <b>{span.day.isoformat()}</b> · '
        f"{escape(t['zone'])} {escape(str(span.zone))} · "
        f"{escape(t['as_of'])} {escape(span.day_end.astimezone(span.zone).isoformat(timespec='minutes'))}"
        + (f" · {escape(t['run'])} {escape(run_id)}" if run_id else "")
        + "</p>"
    )
    tiles = [
        _tile(t["orders_in"], *_count_cells({w: intake[w].orders for w in WINDOWS}), t),
        _tile(t["orders_confirmed"], *_count_cells({w: confirmed[w].orders for w in WINDOWS}), t),
        _tile(t["otif_lines"], *(fmt_pct(service[w].otif_lines) for w in WINDOWS), t),
        _tile(t["unit_fill"], *(fmt_pct(service[w].unit_fill) for w in WINDOWS), t),
        _tile(t["cycle_median"], *(fmt_days(cycle[w]["total"].median) for w in WINDOWS), t),
        _tile(t["line_fill"], *(fmt_pct(service[w].line_fill) for w in WINDOWS), t),
        f'<div class="tile"><div class="k">{escape(t["backorder_lines"])}</div>'
        f'<div class="v">{fmt_num(backorder_lines)}</div>'
        f'<div class="c">{escape(t["quarantine_open"])} {fmt_num(open_q)}</div></div>',
        f'<div class="tile"><div class="k">{escape(t["ledger_backlog"])}</div><div class="v">{fmt_num(backlog)}</div>'
        f'<div class="c">{escape(t["pending"])} / {escape(t["in_flight"])} / {escape(t["failed"])}</div></div>',
    ]
    parts.append(f"<h2>{escape(t['headline'])}</h2><div class='tiles'>{''.join(tiles)}</div>")

    # orders in and confirmed
    sources = sorted({*report.sources, *(k for k in report.intake if k)})  # type: ignore[misc]
    rows = []
    for key in ["", *sources]:
        per = report.intake.get(key)
        conf = report.confirmed.get(key)
        name = t["all"] if key == "" else str(key)
        if per is not None:
            rows.append([name, t["orders_in"], *_count_cells({w: per[w].orders for w in WINDOWS})])
            rows.append([name, f"{t['orders_in']} · {t['lines']}", *_count_cells({w: per[w].lines for w in WINDOWS})])
        if conf is not None:
            rows.append([name, t["orders_confirmed"], *_count_cells({w: conf[w].orders for w in WINDOWS})])
            rows.append([name, t["confirmed_in_full"], *_count_cells({w: conf[w].in_full for w in WINDOWS})])
            rows.append([name, t["confirmation_fill"], *(fmt_pct(conf[w].units) for w in WINDOWS)])
    amount_rows = [
        [t["all"] if k == "" else str(k), *(fmt_amounts(report.intake[k][w].amounts) for w in WINDOWS)]
        for k in ["", *sources]
        if k in report.intake
    ]
    days = sorted(report.intake_by_day)
    chart_sources = sorted({s for d in days for s in report.intake_by_day[d]} | set(report.sources))
    intake_chart = bar_chart(
        t["chart_intake"],
        [d.strftime("%m-%d") for d in days],
        [
            (s, COLORS[i % len(COLORS)], [Decimal(report.intake_by_day[d].get(s, 0)) for d in days])
            for i, s in enumerate(chart_sources)
        ],
        stacked=True,
        label_every=7,
    )
    parts.append(f"<h2>{escape(t['sec_intake'])}</h2>")
    parts.append(
        f"<div class='grid'><div class='card'>{_table([t['crm'], '', *counts_head], rows, 2)}"
        f"<p class='note'>{escape(t['amount'])}</p>{_table([t['crm'], *windows_head], amount_rows)}</div>"
        f"<div class='card'>{intake_chart}</div></div>"
    )

    # service levels
    kpis = ("otif_lines", "otif_orders", "line_fill", "order_fill", "unit_fill")
    service_chart = bar_chart(
        t["chart_service"],
        [t[f"short_{k}"] for k in kpis],
        [(_wl(t, w), WINDOW_COLORS[w], [_pct_value(getattr(service[w], k)) for k in kpis]) for w in WINDOWS],
        percent=True,
    )
    trend_days = sorted(report.otif_trend)
    trend = line_chart(
        t["chart_otif_trend"],
        [d.strftime("%m-%d") for d in trend_days],
        [report.otif_trend[d].pct() for d in trend_days],
    )

    def breakdown(levels: Mapping, head: str) -> str:  # type: ignore[type-arg]
        body = []
        for key in sorted(levels, key=str):
            lv = levels[key]
            body.append(
                [str(key) or "—"]
                + [
                    f"{fmt_pct(lv[w].otif_lines)} / {fmt_pct(lv[w].unit_fill)} ({fmt_num(lv[w].lines)})"
                    for w in WINDOWS
                ]
            )
        return _table([f"{head}: {t['otif_lines']} / {t['unit_fill']} ({t['lines_due']})", *windows_head], body)

    parts.append(f"<h2>{escape(t['sec_service'])}</h2>")
    parts.append(
        f"<div class='grid'><div class='card'>{_table(['', *windows_head], _service_rows(service, t))}"
        f"<p class='note'>{escape(t['tracked'])}: {escape(', '.join(report.tracked_plants) or '—')}</p></div>"
        f"<div class='card'>{service_chart}</div>"
        f"<div class='card'>{breakdown(report.service_by_source, t['crm'])}"
        f"{breakdown(report.service_by_plant, t['plant'])}</div>"
        f"<div class='card'>{trend}</div></div>"
    )

    # cycle time
    cycle_rows = []
    for s in STAGES:
        for w in WINDOWS:
            st = cycle[w][s]
            cycle_rows.append(
                [
                    t[f"stage_{s}"],
                    _wl(t, w),
                    fmt_days(st.median),
                    fmt_days(st.mean),
                    fmt_days(st.p90),
                    fmt_num(st.n),
                    fmt_num(st.skipped),
                ]
            )
    stage_colors = dict(zip(STAGES[:3], COLORS[:3], strict=True))
    cycle_chart = bar_chart(
        t["chart_cycle"],
        windows_head,
        [(t[f"stage_{s}"], stage_colors[s], [cycle[w][s].median or Decimal(0) for w in WINDOWS]) for s in STAGES[:3]],
        stacked=True,
    )
    parts.append(f"<h2>{escape(t['sec_cycle'])}</h2>")
    parts.append(
        "<div class='grid'><div class='card'>"
        + _table([t["stage"], "", t["median"], t["mean"], t["p90"], t["n"], t["skipped"]], cycle_rows, 2)
        + "</div>"
        f"<div class='card'>{cycle_chart}</div></div>"
    )

    # backorder aging
    def bucket_name(b: str) -> str:
        return t["bucket_not_due"] if b == "not_due" else b

    aging_rows = [
        [bucket_name(b), fmt_num(aging_all[b].lines), fmt_num(aging_all[b].units), fmt_amounts(aging_all[b].values)]
        for b in AGE_BUCKETS
    ]
    total = sum((aging_all[b] for b in AGE_BUCKETS), Aging())
    aging_rows.append([t["all"], fmt_num(total.lines), fmt_num(total.units), fmt_amounts(total.values)])
    plant_rows = [
        [str(p) or "—", *(fmt_num(report.aging_by_plant[p][b].lines) for b in AGE_BUCKETS)]
        for p in sorted(report.aging_by_plant, key=str)
    ]
    aging_chart = bar_chart(
        t["chart_aging"],
        [bucket_name(b) for b in AGE_BUCKETS],
        [(t["lines"], "#f59e0b", [Decimal(aging_all[b].lines) for b in AGE_BUCKETS])],
    )
    short_rows = [[p or "—", m, fmt_num(n), fmt_num(u)] for p, m, n, u in report.shortages]
    parts.append(f"<h2>{escape(t['sec_aging'])}</h2>")
    parts.append(
        f"<div class='grid'><div class='card'>{_table([t['bucket'], t['lines'], t['units'], t['value']], aging_rows)}"
        f"{_table([t['plant'], *(bucket_name(b) for b in AGE_BUCKETS)], plant_rows)}</div>"
        f"<div class='card'>{aging_chart}<p class='note'>{escape(t['top_shortages'])}</p>"
        f"{_table([t['plant'], t['material'], t['lines'], t['units']], short_rows, 2)}</div></div>"
    )

    # stock health
    stock_cols = ("materials", "out_of_stock", "nothing_available", "backordered_materials", "short_beyond_available")
    stock_rows = [
        [
            str(r["plant"]),
            *(fmt_num(int(r[c] or 0)) for c in stock_cols),
            fmt_num(r["short_qty"]),  # type: ignore[arg-type, call-overload]
            _local(r["taken_at"], span),
        ]
        for r in report.stock
    ]
    active = report.stock[0]["active_materials"] if report.stock else None
    parts.append(f"<h2>{escape(t['sec_stock'])}</h2>")
    parts.append(
        "<div class='card'>"
        + _table_or_none([t["plant"], *(t[c] for c in stock_cols), t["short_qty"], t["taken_at"]], stock_rows, t)
        + f"<p class='note'>{escape(t['active_materials'])}: {fmt_num(active)} · "  # type: ignore[arg-type]
        f"{escape(t['not_yet_safety_stock'])}</p></div>"
    )

    # gates
    gate_rows = []
    for gate in sorted(report.gates, key=str):
        lv = report.gates[gate]
        gate_rows.append(
            [str(gate)]
            + [f"{fmt_pct(lv[w].pass_rate)} ({fmt_num(lv[w].passed)}/{fmt_num(lv[w].evaluated)})" for w in WINDOWS]
            + [
                fmt_num(lv["prev28"].quarantined + lv["day"].quarantined),
                fmt_num(lv["day"].failed_runs + lv["prev28"].failed_runs),
            ]
        )
    gate_names = sorted(report.gates, key=str)
    gates_chart = hbar_chart(
        t["chart_gates"],
        [str(g) for g in gate_names],
        [_pct_value(report.gates[g]["prev28"].pass_rate + report.gates[g]["day"].pass_rate) for g in gate_names],
        percent=True,
        color="#10b981",
        label_width=170,
    )
    parts.append(f"<h2>{escape(t['sec_gates'])}</h2>")
    parts.append(
        "<div class='grid'><div class='card'>"
        + _table_or_none([t["gate"], *windows_head, t["quarantined"], t["failed_runs"]], gate_rows, t)
        + "</div>"
        f"<div class='card'>{gates_chart if gate_rows else ''}</div></div>"
    )

    # quarantine
    q_rows = [
        [
            str(r["stage"]),
            str(r["source"]),
            str(r["error_class"]),
            str(r["field"] or "—"),
            fmt_num(int(r["open_records"] or 0)),  # type: ignore[call-overload]
            *(fmt_num(v) for v in _windowed(r, "new").values()),
        ]
        for r in report.quarantine
    ]
    top_q = [r for r in report.quarantine if int(r["open_records"] or 0) > 0][:10]  # type: ignore[call-overload]
    q_chart = hbar_chart(
        t["chart_quarantine"],
        [f"{r['stage']} · {r['error_class']}({r['field'] or '-'})" for r in top_q],
        [Decimal(int(r["open_records"] or 0)) for r in top_q],  # type: ignore[call-overload]
        color="#ef4444",
        label_width=260,
    )
    parts.append(f"<h2>{escape(t['sec_quarantine'])}</h2>")
    parts.append(
        "<div class='grid'><div class='card'>"
        + _table_or_none(
            [
                t["stage_q"],
                t["source"],
                t["reason"],
                t["field"],
                t["open"],
                *(f"{t['new']} · {h}" for h in windows_head),
            ],
            q_rows,
            t,
            4,
        )
        + "</div>"
        f"<div class='card'>{q_chart if top_q else ''}</div></div>"
    )

    # ledger
    l_rows = [
        [
            str(r["target"]),
            fmt_num(int(r["pending"] or 0)),
            fmt_num(int(r["in_flight"] or 0)),
            fmt_num(int(r["failed"] or 0)),  # type: ignore[call-overload]
            fmt_num(r["oldest_open_hours"]),
            *(fmt_num(v) for v in _windowed(r, "sent").values()),
        ]  # type: ignore[arg-type]
        for r in report.ledger
    ]
    parts.append(f"<h2>{escape(t['sec_ledger'])}</h2>")
    parts.append(
        "<div class='card'>"
        + (
            _table(
                [
                    t["target"],
                    t["pending"],
                    t["in_flight"],
                    t["failed"],
                    t["oldest_h"],
                    *(t["sent"] + " · " + h for h in windows_head),
                ],
                l_rows,
            )
            if l_rows
            else escape(t["none"])
        )
        + "</div>"
    )

    # definitions
    defs = _definitions(language)
    parts.append(f"<h2>{escape(t['sec_definitions'])}</h2><div class='card'><dl>")
    for key, title in (
        ("otif", "otif_lines"),
        ("fill", "line_fill"),
        ("confirmation", "orders_confirmed"),
        ("cycle", "sec_cycle"),
        ("backorder", "sec_aging"),
        ("stock", "sec_stock"),
        ("gates", "sec_gates"),
        ("quarantine", "sec_quarantine"),
        ("ledger", "sec_ledger"),
    ):
        parts.append(f"<dt>{escape(t[title])}</dt><dd>{escape(defs[key])}</dd>")
    parts.append("</dl></div>")
    parts.append(f"<h2>{escape(t['sec_not_yet'])}</h2><div class='card'><ul class='note'>")
    parts.extend(f"<li>{escape(t['not_yet_' + k])}</li>" for k in NOT_YET)
    parts.append("</ul></div>")

    lang = "zh-CN" if language == "zh" else "en"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t['title'])} {span.day.isoformat()}</title><style>{CSS}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def _windowed(row: Mapping[str, object], prefix: str) -> dict[str, int]:
    from transforms.kpis import windowed_counts

    return windowed_counts(row, prefix)


def _local(moment: object, span: object) -> str:
    from datetime import UTC, datetime

    if not isinstance(moment, datetime):
        return "—"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(span.zone).strftime("%Y-%m-%d %H:%M")  # type: ignore[attr-defined]


# -- CSV -------------------------------------------------------------------------------------------

CSV_HEAD = ("section", "metric", "dimension", "window", "value", "unit")


def csv_rows(report: OpsReport, language: str = "zh") -> list[list[str]]:
    """The report's numbers as long-format rows: section, metric, dimension, window, value, unit.
    Metric and window names are stable identifiers (for pivots and scripts); dimensions are the data's
    own (CRM, plant, gate, …). Every cell is formula-safe."""
    out: list[tuple[object, ...]] = []

    def add(section: str, metric: str, dimension: object, window: str, value: object, unit: str) -> None:
        out.append((section, metric, dimension, window, "" if value is None else value, unit))

    for key, per in report.intake.items():
        for w in WINDOWS:
            add("orders_in", "orders", key or "all", w, per[w].orders, "orders")
            add("orders_in", "lines", key or "all", w, per[w].lines, "lines")
            for cur, amount in sorted(per[w].amounts.items()):
                add("orders_in", "gross_amount", key or "all", w, _money(amount, cur), cur)
    for key, per in report.confirmed.items():
        for w in WINDOWS:
            add("confirmed", "orders", key or "all", w, per[w].orders, "orders")
            add("confirmed", "in_full", key or "all", w, per[w].in_full, "orders")
            add("confirmed", "unit_fill", key or "all", w, per[w].units.pct(), "%")
    for label, levels in (
        ("all", report.service),
        ("crm", report.service_by_source),
        ("plant", report.service_by_plant),
    ):
        for key, per in levels.items():
            dim = key if label != "all" else "all"
            dim = f"{label}:{dim}" if label != "all" else "all"
            for w in WINDOWS:
                lv = per[w]
                for metric in ("otif_lines", "otif_orders", "line_fill", "order_fill", "unit_fill"):
                    add("service", metric, dim, w, getattr(lv, metric).pct(), "%")
                add("service", "lines_due", dim, w, lv.lines, "lines")
                add("service", "orders_due", dim, w, lv.orders, "orders")
                add("service", "untracked_lines_due", dim, w, lv.untracked, "lines")
    for d, r in sorted(report.otif_trend.items()):
        add("service", "otif_lines_by_committed_date", d.isoformat(), "day_of_span", r.pct(), "%")
    for w in WINDOWS:
        for s in STAGES:
            st = report.cycle[w][s]
            for metric, v in (("median", st.median), ("mean", st.mean), ("p90", st.p90)):
                add(
                    "cycle_time",
                    f"{s}_{metric}",
                    "all",
                    w,
                    None if v is None else fmt_num(v, 2).replace(",", ""),
                    "days",
                )
            add("cycle_time", f"{s}_orders", "all", w, st.n, "orders")
            add("cycle_time", f"{s}_left_out", "all", w, st.skipped, "orders")
    for label, aging in (("all", report.aging), ("plant", report.aging_by_plant)):
        for key, per in aging.items():
            dim = "all" if label == "all" else f"plant:{key}"
            for b in AGE_BUCKETS:
                add("backorder_aging", "lines", dim, b, per[b].lines, "lines")
                add("backorder_aging", "units", dim, b, per[b].units, "units")
                for cur, v in sorted(per[b].values.items()):
                    add("backorder_aging", "value", dim, b, v, cur)
    for plant, material, _lines, units in report.shortages:
        add("backorder_aging", "top_shortage_units", f"{plant}:{material}", "as_of", units, "units")
    for r in report.stock:
        for c in ("materials", "out_of_stock", "nothing_available", "backordered_materials", "short_beyond_available"):
            add("stock_health", c, f"plant:{r['plant']}", "as_of", r[c], "materials")
        add("stock_health", "short_qty", f"plant:{r['plant']}", "as_of", r["short_qty"], "units")
    for gate, per in report.gates.items():
        for w in WINDOWS:
            lv = per[w]
            add("gates", "pass_rate", gate, w, lv.pass_rate.pct(), "%")
            add("gates", "evaluated", gate, w, lv.evaluated, "rows")
            add("gates", "quarantined", gate, w, lv.quarantined, "rows")
            add("gates", "failed_runs", gate, w, lv.failed_runs, "runs")
    for r in report.quarantine:
        dim = f"{r['stage']}|{r['source']}|{r['error_class']}|{r['field']}"
        add("quarantine", "open", dim, "as_of", r["open_records"], "records")
        for w, v in _windowed(r, "new").items():
            add("quarantine", "new", dim, w, v, "records")
    for r in report.ledger:
        for c in ("pending", "in_flight", "failed"):
            add("ledger", c, r["target"], "as_of", r[c], "messages")
        add("ledger", "oldest_open_hours", r["target"], "as_of", r["oldest_open_hours"], "hours")
        for w, v in _windowed(r, "sent").items():
            add("ledger", "sent", r["target"], w, v, "messages")
    return [list(CSV_HEAD), *([safe_cell(c) for c in row] for row in out)]
