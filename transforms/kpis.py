"""Operations KPIs (the daily ops report): pure functions over the facts the report's named queries
return (``include/sql/kpi_*.sql``). Definitions follow the domain report §6; each choice the
definitions leave open is stated here and printed in the report (:data:`DEFINITIONS`).

Time: the report covers one **business day** ``D`` (``hub.timezone``) and compares it with the 7 and
the 28 days before it (``prev7`` = D-7 … D-1, ``prev28`` = D-28 … D-1). Everything is measured as of
the end of ``D``: facts stamped later are not seen, so re-running a past day gives the same report
for the same database. Counts compare as a daily average; rates are pooled over the window (hits ÷
total of all its days, not an average of daily rates).

Quantities and money are :class:`~decimal.Decimal`; rates are Decimals (0 … 1) rounded only for
display; durations are counted in whole microseconds and shown in days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from transforms.business_day import business_date, business_zone, day_start
from transforms.money import quantize

WINDOWS = ("day", "prev7", "prev28")
WINDOW_DAYS = {"day": 1, "prev7": 7, "prev28": 28}
# The parts of the span the SQL labels rows with (kpi_gate_rates.sql …) and the windows each is in.
BUCKET_WINDOWS = {"day": ("day",), "week": ("prev7", "prev28"), "month": ("prev28",)}
SPAN_DAYS = 29  # the day and the 28 before it

# Backorder aging buckets (domain report §6, project definition): days past the promised date.
AGE_BUCKETS = ("not_due", "0-7", "8-14", "15-30", "31-60", ">60")
_AGE_LIMITS = ((7, "0-7"), (14, "8-14"), (30, "15-30"), (60, "31-60"))

STAGES = ("to_confirmed", "to_shipped", "to_delivered", "total")
_DAY = Decimal(86_400_000_000)  # microseconds

DEFINITIONS = {
    "otif": (
        "On time in full (OTIF): order lines delivered in full by their committed date ÷ lines due. "
        "Committed date = SAP's confirmed date of the line, else the customer's requested date; a line is "
        "due in the window its committed date falls in. In full = signed-for quantity ≥ ordered quantity "
        "(the ordered, not the confirmed quantity). Delivered date = the business day the last parcel of "
        "the delivery was signed for (carrier tracking). Order OTIF: every line of the order in full by the "
        "order's committed date (its latest line's). Measured for plants whose deliveries the hub tracks "
        "(3PL plants); cancelled orders are left out."
    ),
    "fill": (
        "Fill rates, for the same lines due: line fill = lines shipped complete ÷ lines; order fill = "
        "orders with every line shipped complete (no backorder) ÷ orders; unit fill = units shipped ÷ "
        "units ordered (each line capped at its ordered quantity). Shipped = the warehouse's final "
        "stockout confirmation of the delivery came in by the end of the report day."
    ),
    "confirmation": (
        "Orders confirmed: orders first confirmed to their CRM in the window, after SAP took them. "
        "Confirmation fill = units SAP confirmed ÷ units ordered of those orders; 'in full' = every line "
        "confirmed in full."
    ),
    "cycle": (
        "Order cycle time, for orders whose last delivery was signed for in the window: CRM created → "
        "first confirmation → first shipment (final stockout confirmation) → last parcel signed for, in "
        "calendar days, Σ(delivered − created) ÷ n (mean), with median and 90th percentile. An order "
        "whose stage times are missing or out of order is left out of that stage and counted."
    ),
    "backorder": (
        "Backorder aging: for each open line SAP has not confirmed in full (orders backordered, posted "
        "or partly confirmed), end of the report day − promised date (the customer's requested date, "
        "else the order date), in days; buckets 0–7 / 8–14 / 15–30 / 31–60 / >60 (not yet due: "
        "promised date after the report day), by lines, units and value (the line's net amount "
        "prorated to the open units, rounded to the currency's minor unit per line, ROUND_HALF_UP)."
    ),
    "stock": (
        "Stock health: per plant, the latest SAP stock snapshot taken by the end of the report day "
        "(materials the posting runs planned): materials with no unrestricted stock, with nothing "
        "available (after SAP's open confirmed demand), with open backorders, and with more "
        "backordered than available."
    ),
    "gates": "Gate pass rate: rows passed ÷ rows evaluated by each data-quality gate in the window.",
    "quarantine": "Quarantine: records still open, and records held in each window, by stage and reason.",
    "ledger": (
        "Ledger backlog: messages to outside systems created by the end of the report day and not "
        "sent (pending, in flight, failed), with the age of the oldest; messages sent per window."
    ),
}
# What the report cannot show yet, and why.
NOT_YET = (
    "safety_stock",  # replenishment_planning (issue 11) sets safety stock, reorder point, max stock
    "inventory_accuracy",  # inventory_reconciliation is not built yet
    "untracked_plants",  # plants SAP ships itself: no delivered date reaches the hub
)


# -- time ------------------------------------------------------------------------------------------


def report_day(run_after: datetime, zone: str | tzinfo) -> date:
    """The business day a run reports on: the last complete one before the run's own business day."""
    return business_date(run_after, zone) - timedelta(days=1)


@dataclass(frozen=True)
class Span:
    """The report day ``day`` in ``zone`` and the 28 days before it."""

    day: date
    zone: tzinfo

    @classmethod
    def of(cls, day: date, zone: str | tzinfo) -> Span:
        return cls(day, business_zone(zone))

    @property
    def first_day(self) -> date:
        return self.day - timedelta(days=SPAN_DAYS - 1)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(SPAN_DAYS)]

    def start_of(self, day: date) -> datetime:
        return day_start(day, self.zone).astimezone(UTC)

    @property
    def day_start(self) -> datetime:
        return self.start_of(self.day)

    @property
    def day_end(self) -> datetime:
        return self.start_of(self.day + timedelta(days=1))

    @property
    def week_start(self) -> datetime:
        return self.start_of(self.day - timedelta(days=7))

    @property
    def month_start(self) -> datetime:
        return self.start_of(self.first_day)

    def params(self) -> dict[str, object]:
        """The bound values the kpi_* queries take (instants in UTC)."""
        return {
            "day_start": self.day_start,
            "day_end": self.day_end,
            "week_start": self.week_start,
            "month_start": self.month_start,
            "first_day": self.first_day,
            "last_day": self.day,
        }

    def date_of(self, instant: datetime) -> date:
        return business_date(instant, self.zone)

    def windows_of(self, day: date | None) -> tuple[str, ...]:
        """The windows a business day belongs to: ("day",), ("prev7", "prev28"), ("prev28",) or ()."""
        if day is None:
            return ()
        back = (self.day - day).days
        if back == 0:
            return ("day",)
        if 1 <= back <= 7:
            return ("prev7", "prev28")
        if 8 <= back <= 28:
            return ("prev28",)
        return ()

    def windows_at(self, instant: datetime | None) -> tuple[str, ...]:
        return () if instant is None else self.windows_of(self.date_of(instant))


# -- numbers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """``hits`` of ``total`` (counts or quantities); pooled by adding."""

    hits: Decimal = Decimal(0)
    total: Decimal = Decimal(0)

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.hits + other.hits, self.total + other.total)

    @property
    def value(self) -> Decimal | None:
        return None if self.total == 0 else Decimal(self.hits) / Decimal(self.total)

    def pct(self, places: int = 1) -> Decimal | None:
        v = self.value
        return None if v is None else (v * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def ratio(hits: object, total: object) -> Ratio:
    return Ratio(Decimal(hits), Decimal(total))  # type: ignore[arg-type]


def daily(total: Decimal | int, window: str) -> Decimal:
    """A window's count as a daily average, one decimal place."""
    return (Decimal(total) / WINDOW_DAYS[window]).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def days_between(start: datetime, end: datetime) -> Decimal:
    """``end - start`` in days, from whole microseconds (a Decimal to 28 significant digits)."""
    delta = _aware(end) - _aware(start)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros) / _DAY


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def percentile(values: Sequence[Decimal], q: int) -> Decimal | None:
    """The nearest-rank ``q``-th percentile (1 ≤ q ≤ 100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-q * len(ordered) // 100))  # ceil(q/100 × n)
    return ordered[rank - 1]


def median(values: Sequence[Decimal]) -> Decimal | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# -- facts (one row of a kpi_* query each) ------------------------------------------------------------


@dataclass(frozen=True)
class OrderFact:
    """kpi_order_events.sql"""

    source: str
    crm_order_id: str
    currency: str
    gross_amount: Decimal
    line_count: int
    status: str
    ordered_at: datetime
    posted_at: datetime | None = None
    confirmed_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    open_deliveries: int = 0
    lines_confirmed_full: int = 0
    ordered_qty: Decimal | None = None
    confirmed_qty: Decimal | None = None
    order_number: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.crm_order_id)

    @property
    def fully_delivered_at(self) -> datetime | None:
        """When the last delivery was signed for, if none is still open (as of the report day)."""
        return self.delivered_at if self.delivered_at is not None and self.open_deliveries == 0 else None


@dataclass(frozen=True)
class LineFact:
    """kpi_order_lines.sql"""

    source: str
    crm_order_id: str
    line_no: int
    material: str
    plant: str | None
    currency: str
    status: str
    ordered_at: datetime
    requested_date: date | None
    ordered_qty: Decimal
    net_amount: Decimal
    confirmed_qty: Decimal = Decimal(0)
    confirmed_date: date | None = None
    shipped_qty: Decimal = Decimal(0)
    delivered_qty: Decimal = Decimal(0)
    delivered_at: datetime | None = None

    @property
    def order_key(self) -> tuple[str, str]:
        return (self.source, self.crm_order_id)

    @property
    def committed_date(self) -> date | None:
        return self.confirmed_date or self.requested_date

    @property
    def short_qty(self) -> Decimal:
        return max(self.ordered_qty - self.confirmed_qty, Decimal(0))

    @property
    def shipped_complete(self) -> bool:
        return self.shipped_qty >= self.ordered_qty

    def in_full_by(self, due: date, zone: tzinfo) -> bool:
        """Signed for in full, the last of it on or before ``due`` (a business day in ``zone``)."""
        return (
            self.delivered_qty >= self.ordered_qty
            and self.delivered_at is not None
            and business_date(self.delivered_at, zone) <= due
        )


# -- service levels: OTIF and fill rates -------------------------------------------------------------


@dataclass(frozen=True)
class ServiceLevel:
    lines: int = 0
    orders: int = 0
    otif_lines: Ratio = field(default_factory=Ratio)
    otif_orders: Ratio = field(default_factory=Ratio)
    line_fill: Ratio = field(default_factory=Ratio)
    order_fill: Ratio = field(default_factory=Ratio)
    unit_fill: Ratio = field(default_factory=Ratio)
    untracked: int = 0  # lines due at plants whose deliveries the hub does not track

    def __add__(self, other: ServiceLevel) -> ServiceLevel:
        return ServiceLevel(
            self.lines + other.lines,
            self.orders + other.orders,
            self.otif_lines + other.otif_lines,
            self.otif_orders + other.otif_orders,
            self.line_fill + other.line_fill,
            self.order_fill + other.order_fill,
            self.unit_fill + other.unit_fill,
            self.untracked + other.untracked,
        )


def service_levels(
    lines: Iterable[LineFact],
    span: Span,
    tracked_plants: Iterable[str],
    by: Callable[[LineFact], Hashable] = lambda _ln: "",
) -> dict[Hashable, dict[str, ServiceLevel]]:
    """OTIF and fill rates per group (``by``) and window. A line is due in the window of its committed
    date; an order (its lines in the group) in the window of its latest line's committed date, and is
    on time in full when every line was signed for in full by then."""
    tracked = set(tracked_plants)
    result: dict[Hashable, dict[str, ServiceLevel]] = defaultdict(lambda: {w: ServiceLevel() for w in WINDOWS})
    groups: dict[tuple[Hashable, tuple[str, str]], list[LineFact]] = defaultdict(list)
    for ln in lines:
        due = ln.committed_date
        if ln.status == "cancelled" or due is None:
            continue  # no promise to measure against: backorder aging counts it
        if ln.plant not in tracked:
            for w in span.windows_of(due):
                result[by(ln)][w] += ServiceLevel(untracked=1)
            continue
        groups[(by(ln), ln.order_key)].append(ln)
    for (key, _order), order_lines in groups.items():
        for ln in order_lines:
            line = ServiceLevel(
                lines=1,
                otif_lines=ratio(int(ln.in_full_by(ln.committed_date, span.zone)), 1),  # type: ignore[arg-type]
                line_fill=ratio(int(ln.shipped_complete), 1),
                unit_fill=Ratio(min(ln.shipped_qty, ln.ordered_qty), ln.ordered_qty),
            )
            for w in span.windows_of(ln.committed_date):
                result[key][w] += line
        due = max(ln.committed_date for ln in order_lines)  # type: ignore[type-var]
        order = ServiceLevel(
            orders=1,
            otif_orders=ratio(int(all(ln.in_full_by(due, span.zone) for ln in order_lines)), 1),
            order_fill=ratio(int(all(ln.shipped_complete for ln in order_lines)), 1),
        )
        for w in span.windows_of(due):
            result[key][w] += order
    return dict(result)


def otif_by_day(lines: Iterable[LineFact], span: Span, tracked_plants: Iterable[str]) -> dict[date, Ratio]:
    """Line OTIF per committed date over the span (the trend chart)."""
    tracked = set(tracked_plants)
    out = {d: Ratio() for d in span.days}
    for ln in lines:
        due = ln.committed_date
        if ln.status == "cancelled" or due is None or due not in out or ln.plant not in tracked:
            continue
        out[due] += ratio(int(ln.in_full_by(due, span.zone)), 1)
    return out


# -- orders in and confirmed ------------------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    orders: int = 0
    lines: int = 0
    amounts: Mapping[str, Decimal] = field(default_factory=dict)  # gross per currency

    def __add__(self, other: Intake) -> Intake:
        amounts = dict(self.amounts)
        for cur, amount in other.amounts.items():
            amounts[cur] = amounts.get(cur, Decimal(0)) + amount
        return Intake(self.orders + other.orders, self.lines + other.lines, amounts)


def orders_in(
    orders: Iterable[OrderFact], span: Span, by: Callable[[OrderFact], Hashable] = lambda _o: ""
) -> dict[Hashable, dict[str, Intake]]:
    """Orders placed in the CRM per group and window: orders, lines, gross amount per currency."""
    result: dict[Hashable, dict[str, Intake]] = defaultdict(lambda: {w: Intake() for w in WINDOWS})
    for o in orders:
        for w in span.windows_at(o.ordered_at):
            result[by(o)][w] += Intake(1, o.line_count, {o.currency: o.gross_amount})
    return dict(result)


def orders_by_day(orders: Iterable[OrderFact], span: Span) -> dict[date, dict[str, int]]:
    """Orders placed per business day of the span and source (the intake chart)."""
    out: dict[date, dict[str, int]] = {d: defaultdict(int) for d in span.days}
    for o in orders:
        day = span.date_of(o.ordered_at)
        if day in out:
            out[day][o.source] += 1
    return {d: dict(v) for d, v in out.items()}


@dataclass(frozen=True)
class Confirmed:
    orders: int = 0
    in_full: int = 0
    units: Ratio = field(default_factory=Ratio)  # confirmed ÷ ordered

    def __add__(self, other: Confirmed) -> Confirmed:
        return Confirmed(self.orders + other.orders, self.in_full + other.in_full, self.units + other.units)


def confirmations(
    orders: Iterable[OrderFact], span: Span, by: Callable[[OrderFact], Hashable] = lambda _o: ""
) -> dict[Hashable, dict[str, Confirmed]]:
    """Orders first confirmed to their CRM per group and window."""
    result: dict[Hashable, dict[str, Confirmed]] = defaultdict(lambda: {w: Confirmed() for w in WINDOWS})
    for o in orders:
        windows = span.windows_at(o.confirmed_at)
        if not windows:
            continue
        full = int(o.line_count > 0 and o.lines_confirmed_full >= o.line_count)
        units = Ratio(o.confirmed_qty or Decimal(0), o.ordered_qty or Decimal(0))
        for w in windows:
            result[by(o)][w] += Confirmed(1, full, units)
    return dict(result)


# -- cycle time -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageTimes:
    n: int
    mean: Decimal | None
    median: Decimal | None
    p90: Decimal | None
    skipped: int  # orders left out of this stage: a time missing or out of order


def _stage_values(o: OrderFact, delivered: datetime) -> dict[str, Decimal | None]:
    def span_of(a: datetime | None, b: datetime | None) -> Decimal | None:
        if a is None or b is None:
            return None
        d = days_between(a, b)
        return d if d >= 0 else None

    return {
        "to_confirmed": span_of(o.ordered_at, o.confirmed_at),
        "to_shipped": span_of(o.confirmed_at, o.shipped_at),
        "to_delivered": span_of(o.shipped_at, delivered),
        "total": span_of(o.ordered_at, delivered),
    }


def cycle_times(orders: Iterable[OrderFact], span: Span) -> dict[str, dict[str, StageTimes]]:
    """Per window, per stage: the order cycle time of the orders fully delivered in the window."""
    values: dict[str, dict[str, list[Decimal]]] = {w: {s: [] for s in STAGES} for w in WINDOWS}
    counted: dict[str, int] = dict.fromkeys(WINDOWS, 0)
    for o in orders:
        delivered = o.fully_delivered_at
        windows = span.windows_at(delivered)
        if not windows:
            continue
        stages = _stage_values(o, delivered)  # type: ignore[arg-type]
        for w in windows:
            counted[w] += 1
            for s, v in stages.items():
                if v is not None:
                    values[w][s].append(v)
    out: dict[str, dict[str, StageTimes]] = {}
    for w in WINDOWS:
        out[w] = {}
        for s in STAGES:
            vs = values[w][s]
            mean = sum(vs, Decimal(0)) / len(vs) if vs else None
            out[w][s] = StageTimes(len(vs), mean, median(vs), percentile(vs, 90), counted[w] - len(vs))
    return out


# -- backorder aging -------------------------------------------------------------------------------


def age_bucket(age_days: int) -> str:
    if age_days < 0:
        return "not_due"
    for limit, name in _AGE_LIMITS:
        if age_days <= limit:
            return name
    return ">60"


@dataclass(frozen=True)
class Aging:
    lines: int = 0
    units: Decimal = Decimal(0)
    values: Mapping[str, Decimal] = field(default_factory=dict)  # per currency

    def __add__(self, other: Aging) -> Aging:
        values = dict(self.values)
        for cur, v in other.values.items():
            values[cur] = values.get(cur, Decimal(0)) + v
        return Aging(self.lines + other.lines, self.units + other.units, values)


def open_value(line: LineFact) -> Decimal:
    """The line's net amount prorated to its open (unconfirmed) units, in the currency's minor unit."""
    if line.ordered_qty <= 0:
        return Decimal(0)
    return quantize(line.net_amount * line.short_qty / line.ordered_qty, line.currency)


def backorder_aging(
    lines: Iterable[LineFact],
    span: Span,
    backorder_states: Iterable[str],
    by: Callable[[LineFact], Hashable] = lambda _ln: "",
) -> dict[Hashable, dict[str, Aging]]:
    """Open backordered quantities per group and age bucket, as of the end of the report day."""
    states = set(backorder_states)
    result: dict[Hashable, dict[str, Aging]] = defaultdict(lambda: {b: Aging() for b in AGE_BUCKETS})
    for ln in lines:
        if ln.status not in states or ln.short_qty <= 0:
            continue
        promised = ln.requested_date or span.date_of(ln.ordered_at)
        bucket = age_bucket((span.day - promised).days)
        result[by(ln)][bucket] += Aging(1, ln.short_qty, {ln.currency: open_value(ln)})
    return dict(result)


def top_shortages(
    lines: Iterable[LineFact], backorder_states: Iterable[str], limit: int = 10
) -> list[tuple[str, str, int, Decimal]]:
    """(plant, material, open lines, units short), most units short first."""
    states = set(backorder_states)
    acc: dict[tuple[str, str], list] = {}
    for ln in lines:
        if ln.status in states and ln.short_qty > 0:
            row = acc.setdefault((ln.plant or "", ln.material), [0, Decimal(0)])
            row[0] += 1
            row[1] += ln.short_qty
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return [(plant, material, n, units) for (plant, material), (n, units) in ranked[:limit]]


# -- gates, quarantine, ledger ------------------------------------------------------------------------


@dataclass(frozen=True)
class GateLevel:
    runs: int = 0
    failed_runs: int = 0
    evaluated: int = 0
    passed: int = 0
    quarantined: int = 0

    def __add__(self, other: GateLevel) -> GateLevel:
        return GateLevel(
            self.runs + other.runs,
            self.failed_runs + other.failed_runs,
            self.evaluated + other.evaluated,
            self.passed + other.passed,
            self.quarantined + other.quarantined,
        )

    @property
    def pass_rate(self) -> Ratio:
        return ratio(self.passed, self.evaluated)


def gate_levels(
    rows: Iterable[Mapping[str, object]], by: Callable[[Mapping[str, object]], Hashable] = lambda r: r["gate"]
) -> dict[Hashable, dict[str, GateLevel]]:
    """kpi_gate_rates.sql rows (one per bucket, gate and source) per group and window."""
    result: dict[Hashable, dict[str, GateLevel]] = defaultdict(lambda: {w: GateLevel() for w in WINDOWS})
    for r in rows:
        level = GateLevel(*(int(r[k] or 0) for k in ("runs", "failed_runs", "evaluated", "passed", "quarantined")))  # type: ignore[call-overload]
        for w in BUCKET_WINDOWS[str(r["bucket"])]:
            result[by(r)][w] += level
    return dict(result)


def windowed_counts(row: Mapping[str, object], prefix: str) -> dict[str, int]:
    """``<prefix>_day``, ``_week``, ``_month`` columns of one row as counts per window."""
    d, w, m = (int(row[f"{prefix}_{b}"] or 0) for b in ("day", "week", "month"))  # type: ignore[call-overload]
    return {"day": d, "prev7": w, "prev28": w + m}


def age_hours(since: datetime | None, as_of: datetime) -> Decimal | None:
    """Hours from ``since`` to ``as_of``, one decimal place; None when there is nothing open."""
    if since is None:
        return None
    return (days_between(since, as_of) * 24).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# -- the whole report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpsReport:
    """Every KPI of one day's ops report, ready to render (transforms/report_html.py)."""

    span: Span
    sources: Sequence[str]
    plants: Sequence[str]
    tracked_plants: Sequence[str]
    intake: Mapping[Hashable, Mapping[str, Intake]]  # "" = all CRMs, else per source
    intake_by_day: Mapping[date, Mapping[str, int]]
    confirmed: Mapping[Hashable, Mapping[str, Confirmed]]
    service: Mapping[Hashable, Mapping[str, ServiceLevel]]  # "" = all
    service_by_source: Mapping[Hashable, Mapping[str, ServiceLevel]]
    service_by_plant: Mapping[Hashable, Mapping[str, ServiceLevel]]
    otif_trend: Mapping[date, Ratio]
    cycle: Mapping[str, Mapping[str, StageTimes]]
    aging: Mapping[Hashable, Mapping[str, Aging]]  # "" = all
    aging_by_plant: Mapping[Hashable, Mapping[str, Aging]]
    shortages: Sequence[tuple[str, str, int, Decimal]]
    stock: Sequence[Mapping[str, object]]
    gates: Mapping[Hashable, Mapping[str, GateLevel]]
    quarantine: Sequence[Mapping[str, object]]
    ledger: Sequence[Mapping[str, object]]

    @property
    def as_of(self) -> datetime:
        return self.span.day_end


def _totals(parts: Mapping[Hashable, Mapping[str, object]], zero: Callable[[], object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for per_window in parts.values():
        for w, v in per_window.items():
            out[w] = out[w] + v if w in out else v  # type: ignore[operator]
    return out or {w: zero() for w in WINDOWS}


def build_report(
    span: Span,
    orders: Sequence[OrderFact],
    lines: Sequence[LineFact],
    gate_rows: Sequence[Mapping[str, object]],
    quarantine_rows: Sequence[Mapping[str, object]],
    ledger_rows: Sequence[Mapping[str, object]],
    stock_rows: Sequence[Mapping[str, object]],
    *,
    sources: Sequence[str],
    plants: Sequence[str],
    tracked_plants: Sequence[str],
    backorder_states: Sequence[str],
) -> OpsReport:
    by_source = orders_in(orders, span, by=lambda o: o.source)
    confirmed_by_source = confirmations(orders, span, by=lambda o: o.source)
    service = service_levels(lines, span, tracked_plants)
    ledger = [
        {**r, "oldest_open_hours": age_hours(r.get("oldest_open"), span.day_end)}  # type: ignore[arg-type]
        for r in ledger_rows
    ]
    return OpsReport(
        span=span,
        sources=list(sources),
        plants=list(plants),
        tracked_plants=list(tracked_plants),
        intake={"": _totals(by_source, Intake), **by_source},  # type: ignore[dict-item]
        intake_by_day=orders_by_day(orders, span),
        confirmed={"": _totals(confirmed_by_source, Confirmed), **confirmed_by_source},  # type: ignore[dict-item]
        service=service or {"": {w: ServiceLevel() for w in WINDOWS}},
        service_by_source=service_levels(lines, span, tracked_plants, by=lambda ln: ln.source),
        service_by_plant=service_levels(lines, span, tracked_plants, by=lambda ln: ln.plant or ""),
        otif_trend=otif_by_day(lines, span, tracked_plants),
        cycle=cycle_times(orders, span),
        aging=backorder_aging(lines, span, backorder_states) or {"": {b: Aging() for b in AGE_BUCKETS}},
        aging_by_plant=backorder_aging(lines, span, backorder_states, by=lambda ln: ln.plant or ""),
        shortages=top_shortages(lines, backorder_states),
        stock=list(stock_rows),
        gates=gate_levels(gate_rows),
        quarantine=list(quarantine_rows),
        ledger=ledger,
    )
