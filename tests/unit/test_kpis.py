"""KPI math of the ops report (transforms/kpis.py) and its CSV/HTML forms (transforms/report_html.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from transforms.kpis import (
    AGE_BUCKETS,
    LineFact,
    OpsReport,
    Ratio,
    Span,
    age_bucket,
    backorder_aging,
    build_report,
    days_between,
    median,
    percentile,
    report_day,
    service_levels,
)
from transforms.report_html import csv_rows, render_html, safe_cell

DAY = date(2026, 12, 1)
SPAN = Span.of(DAY, "Asia/Shanghai")
qty = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False, allow_infinity=False)


def _line(n: int, ordered: Decimal, shipped: Decimal, delivered: Decimal, due: date, delivered_on: date | None, **kw):
    at = (
        None
        if delivered_on is None
        else datetime(delivered_on.year, delivered_on.month, delivered_on.day, 2, tzinfo=UTC)
    )
    return LineFact(
        source=kw.get("source", "zoho_crm"),
        crm_order_id=kw.get("order", f"O{n}"),
        line_no=n,
        material="M",
        plant=kw.get("plant", "1010"),
        currency="CNY",
        status=kw.get("status", "confirmed"),
        ordered_at=datetime(2026, 11, 1, tzinfo=UTC),
        requested_date=None,
        ordered_qty=ordered,
        net_amount=kw.get("net", Decimal(0)),
        confirmed_qty=kw.get("confirmed", ordered),
        confirmed_date=due,
        shipped_qty=shipped,
        delivered_qty=delivered,
        delivered_at=at,
    )


def test_report_day_is_the_business_day_before_the_run():
    # 2026-12-01 17:30Z is already 12-02 in Shanghai: the report covers 12-01.
    assert report_day(datetime(2026, 12, 1, 17, 30, tzinfo=UTC), "Asia/Shanghai") == DAY
    assert report_day(datetime(2026, 12, 1, 15, 30, tzinfo=UTC), "Asia/Shanghai") == DAY - timedelta(days=1)


def test_span_edges_are_local_midnights():
    assert SPAN.day_start == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert SPAN.day_end == datetime(2026, 12, 1, 16, tzinfo=UTC)
    assert SPAN.week_start == datetime(2026, 11, 23, 16, tzinfo=UTC)
    assert SPAN.month_start == datetime(2026, 11, 2, 16, tzinfo=UTC) and SPAN.first_day == date(2026, 11, 3)
    assert SPAN.windows_of(DAY) == ("day",)
    assert SPAN.windows_of(DAY - timedelta(days=7)) == ("prev7", "prev28")
    assert SPAN.windows_of(DAY - timedelta(days=8)) == ("prev28",)
    assert SPAN.windows_of(DAY - timedelta(days=29)) == () == SPAN.windows_of(DAY + timedelta(days=1))


@given(st.integers(min_value=-400, max_value=400))
def test_age_buckets_cover_every_age_once(age):
    bucket = age_bucket(age)
    assert bucket in AGE_BUCKETS
    assert (bucket == "not_due") == (age < 0)
    assert (bucket == ">60") == (age > 60)


@given(st.lists(st.tuples(qty, qty, qty, st.integers(0, 40), st.integers(-3, 5), st.booleans()), max_size=30))
def test_service_level_rates_are_bounded_and_pool(rows):
    lines = []
    for n, (ordered, shipped, delivered, back, late, untracked) in enumerate(rows):
        due = DAY - timedelta(days=back)
        lines.append(
            _line(
                n,
                ordered,
                min(shipped, ordered * 2),
                delivered,
                due,
                due + timedelta(days=late),
                plant="2010" if untracked else "1010",
                order=f"O{n % 7}",
            )
        )
    levels = service_levels(lines, SPAN, ["1010"]).get("", None)
    if levels is None:
        return
    for w in ("day", "prev7", "prev28"):
        lv = levels[w]
        for r in (lv.otif_lines, lv.otif_orders, lv.line_fill, lv.order_fill, lv.unit_fill):
            assert r.value is None or 0 <= r.value <= 1
            assert r.hits <= r.total
        assert lv.otif_lines.total == lv.line_fill.total == lv.lines
        # on time in full implies shipped complete implies a unit fill of the whole line
        assert lv.otif_lines.hits <= lv.line_fill.hits or any(ln.delivered_qty > ln.shipped_qty for ln in lines)
    # prev28 pools prev7 and the 21 days before: never fewer lines than prev7
    assert levels["prev28"].lines >= levels["prev7"].lines
    assert levels["prev28"].untracked >= levels["prev7"].untracked


def test_otif_needs_full_quantity_by_the_committed_business_day():
    on_time = _line(1, Decimal(10), Decimal(10), Decimal(10), DAY, DAY)
    late = _line(2, Decimal(10), Decimal(10), Decimal(10), DAY, DAY + timedelta(days=1))
    short = _line(3, Decimal(10), Decimal(10), Decimal("9.999"), DAY, DAY)
    # signed for at 2026-12-01 17:00Z = 12-02 01:00 in Shanghai: a day late
    local_late = LineFact(
        **{
            **on_time.__dict__,
            "line_no": 4,
            "crm_order_id": "O4",
            "delivered_at": datetime(2026, 12, 1, 17, tzinfo=UTC),
        }
    )
    day = service_levels([on_time, late, short, local_late], SPAN, ["1010"])[""]["day"]
    assert (day.otif_lines.hits, day.otif_lines.total) == (1, 4)
    assert (day.line_fill.hits, day.unit_fill.hits, day.unit_fill.total) == (4, Decimal(40), Decimal(40))


def test_order_otif_needs_every_line_by_the_latest_committed_date():
    a = _line(1, Decimal(1), Decimal(1), Decimal(1), DAY - timedelta(days=2), DAY, order="X")
    b = _line(2, Decimal(1), Decimal(1), Decimal(1), DAY, DAY, order="X")
    levels = service_levels([a, b], SPAN, ["1010"])[""]
    assert levels["day"].orders == 1 and levels["day"].otif_orders.pct() == Decimal("100.0")
    # line a was late for its own date: the line KPI sees it in the week before
    assert levels["prev7"].lines == 1 and levels["prev7"].otif_lines.pct() == Decimal("0.0")


@given(st.lists(st.decimals(min_value=0, max_value=1000, places=2), min_size=1, max_size=50))
def test_median_and_percentiles_lie_within_the_values(values):
    assert min(values) <= median(values) <= max(values)
    assert percentile(values, 90) in values and percentile(values, 100) == max(values)
    assert percentile(values, 1) == min(values)


@given(st.integers(min_value=0, max_value=10**12))
def test_days_between_counts_microseconds(micros):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    days = days_between(start, start + timedelta(microseconds=micros))
    assert abs(days * 86_400_000_000 - micros) <= Decimal("1e-12") * max(micros, 1)
    assert days_between(start.replace(tzinfo=None), start + timedelta(days=2)) == 2  # naive = UTC


@given(st.lists(st.tuples(qty, qty, st.decimals(min_value=0, max_value=10**6, places=4)), max_size=20))
def test_backorder_value_is_exact_and_within_the_lines(rows):
    lines = [
        _line(
            n, ordered, Decimal(0), Decimal(0), DAY, None, confirmed=min(confirmed, ordered), net=net, status="partial"
        )
        for n, (ordered, confirmed, net) in enumerate(rows)
    ]
    aging = backorder_aging(lines, SPAN, ["partial"]).get("", {})
    owed = [ln for ln in lines if ln.ordered_qty > ln.confirmed_qty]
    assert sum(a.lines for a in aging.values()) == len(owed)
    assert sum((a.units for a in aging.values()), Decimal(0)) == sum((ln.short_qty for ln in owed), Decimal(0))
    value = sum((a.values.get("CNY", Decimal(0)) for a in aging.values()), Decimal(0))
    assert value <= sum((ln.net_amount for ln in owed), Decimal(0)) + Decimal("0.005") * len(owed)
    assert value == value.quantize(Decimal("0.01"))


def test_ratio_pools_and_rounds_half_up():
    assert (Ratio(Decimal(1), Decimal(8)) + Ratio(Decimal(0), Decimal(0))).pct() == Decimal("12.5")
    assert Ratio(Decimal(1), Decimal(3)).pct() == Decimal("33.3") and Ratio().pct() is None
    assert Ratio(Decimal(1), Decimal(1600)).pct(2) == Decimal("0.06")  # 0.0625 % → 0.06 %
    assert Ratio(Decimal(1), Decimal(800)).pct(2) == Decimal("0.13")  # 0.125 % → 0.13 % (half up)


@given(st.text(max_size=20))
def test_csv_cells_never_start_a_formula(text):
    cell = safe_cell(text)
    assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert cell.removeprefix("'") == text or cell == text


def _empty_report() -> OpsReport:
    return build_report(
        SPAN,
        [],
        [],
        [],
        [],
        [],
        [],
        sources=["zoho_crm"],
        plants=["1010"],
        tracked_plants=["1010"],
        backorder_states=["backordered"],
    )


def test_an_empty_day_renders_in_both_languages_with_the_definitions():
    report = _empty_report()
    zh, en = render_html(report, "zh"), render_html(report, "en")
    assert "准时足量率" in zh and "<svg" in zh and "http" not in zh.replace("http://www.w3.org/2000/svg", "")
    assert "On time in full (OTIF)" in en and "replenishment_planning" in en
    rows = csv_rows(report, "en")
    assert rows[0] == ["section", "metric", "dimension", "window", "value", "unit"]


def test_labels_from_the_data_are_escaped_and_formula_safe():
    row = {
        "stage": "<script>",
        "source": "=cmd",
        "error_class": "-1+1",
        "field": "@x",
        "open_records": 1,
        "new_day": 1,
        "new_week": 0,
        "new_month": 0,
    }
    report = build_report(
        SPAN,
        [],
        [],
        [],
        [row],
        [],
        [],
        sources=["zoho_crm"],
        plants=["1010"],
        tracked_plants=["1010"],
        backorder_states=["backordered"],
    )
    html = render_html(report, "en")
    assert "<script>" not in html and "&lt;script&gt;" in html
    for r in csv_rows(report, "en"):
        assert all(c[:1] not in ("=", "+", "-", "@") for c in r)
