"""Replenishment proposals: forecast → policy → order quantity, and the budget spent by priority."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from transforms import replenishment as rp
from transforms import stock_policy

D = Decimal


def _cand(material: str, qty: str, cost: str, cover: str | None, abc: str = "B", moq: str = "1", multiple: str = "1"):
    return rp.Candidate(material, D(qty), D(cost), D(moq), D(multiple), abc, None if cover is None else D(cover))


def test_priority_is_cover_then_abc_then_value():
    ranked = sorted(
        [
            _cand("late", "10", "1", "30"),
            _cand("soon_c", "10", "1", "2", abc="C"),
            _cand("soon_a", "10", "1", "2", abc="A"),
            _cand("never", "10", "1", None),
            _cand("soon_a_dear", "10", "5", "2", abc="A"),
        ],
        key=rp.priority_key,
    )
    assert [c.material for c in ranked] == ["soon_a_dear", "soon_a", "soon_c", "late", "never"]


def test_budget_cuts_by_priority_and_respects_lots():
    out = rp.allot(
        [
            _cand("first", "100", "10", "1"),  # 1000
            _cand("second", "100", "10", "2", moq="30", multiple="10"),  # 1000, only 500 left → 50
            _cand("third", "50", "10", "3", moq="50"),  # 500, 0 left → cut
            _cand("cheap", "1", "0.5", "9"),  # still none left
        ],
        D("1500"),
    )
    got = {a.candidate.material: (a.priority, a.proposed_qty, a.status) for a in out}
    assert got == {
        "first": (1, D(100), "within"),
        "second": (2, D(50), "partly_cut"),
        "third": (3, D(0), "cut"),
        "cheap": (4, D(0), "cut"),
    }


def test_money_left_after_a_cut_goes_down_the_list():
    out = rp.allot([_cand("dear", "1", "900", "1"), _cand("cheap", "5", "10", "50")], D("100"))
    assert [(a.candidate.material, a.status, a.proposed_qty) for a in out] == [
        ("dear", "cut", D(0)),
        ("cheap", "within", D(5)),
    ]


def test_no_budget_keeps_everything():
    out = rp.allot([_cand("a", "7", "3", "1")], None)
    assert out[0].status == "no_budget" and out[0].proposed_qty == 7 and out[0].value == D("21.00")


@given(
    st.lists(
        st.tuples(
            st.integers(1, 500),  # qty
            st.decimals("0.01", "200", places=2),  # unit cost
            st.integers(0, 60),  # moq
            st.integers(1, 25),  # multiple
            st.one_of(st.none(), st.decimals("0", "90", places=1)),  # cover
        ),
        max_size=25,
    ),
    st.decimals("0", "20000", places=2),
)
def test_budget_never_exceeded_and_lots_kept(rows, budget):
    cands = [
        _cand(f"m{i}", str(q), str(c), None if cov is None else str(cov), moq=str(m), multiple=str(k))
        for i, (q, c, m, k, cov) in enumerate(rows)
    ]
    out = rp.allot(cands, budget)
    assert sum(a.value for a in out) <= budget
    assert sorted(a.priority for a in out) == list(range(1, len(cands) + 1))
    for a in out:
        c = a.candidate
        assert D(0) <= a.proposed_qty <= c.order_qty
        assert a.value == (a.proposed_qty * c.unit_cost).quantize(D("0.01"))
        if a.status == "within":
            assert a.proposed_qty == c.order_qty
        if a.status == "partly_cut":
            assert a.proposed_qty % c.multiple == 0
            assert a.proposed_qty >= stock_policy.smallest_order(c.moq, c.multiple)
        if a.status == "cut":
            assert a.proposed_qty == 0


def test_per_day_covers_lead_time_and_review():
    # 21 days of lead + 7 of review in months of 30.4375 days: the first bucket only
    assert rp.per_day([30.4375, 999.0], "month", D(21)) == D(1)
    # 60 days of lead + 7 of review: ceil(67 / 30.4375) = 3 buckets
    assert rp.per_day([30.4375, 60.875, 91.3125, 500], "month", D(60)) == D(2)
    assert rp.per_day([7, 14], "week", D(0)) == D(1)
    assert rp.per_day([], "week", D(5)) == 0


def test_error_sd_spreads_over_the_days():
    assert rp.error_sd_per_day(14.0, "week") == D("14") / D(7).sqrt()
    assert rp.error_sd_per_day(0.0, "month") == 0


def _plan(**given):
    """``rp.plan`` with a plain part's defaults: 95 %, lot of 1, no cap, EOQ costs 50 / 1, nothing held."""
    values = {"lead_time_sd_days": D(0), "service_level": D("0.95"), "moq": D(1), "multiple": D(1),
              "max_stock": None, "order_cost": D(50), "holding_cost": D(1), "on_hand": D(0), "on_order": D(0),
              "reserved": D(0), "backordered": D(0)}  # fmt: skip
    return rp.plan(**{**values, **given})


def test_plan_is_the_reference_policy_with_the_forecast_error():
    # domain_report §4.1 vector: d̄ = 4/day, σ = 2, L = 9 d, σ_L = 2, 95 % → SS 16.45, ROP 52.45 → 53
    p = _plan(
        demand_per_day=D(4),
        error_sd_per_day=D(2),
        lead_time_days=D(9),
        lead_time_sd_days=D(2),
        on_hand=D(40),
        on_order=D(10),
        reserved=D(5),
    )
    assert p.policy.reorder_point == 53 and p.policy.safety_stock.quantize(D("0.01")) == D("16.45")
    assert p.position == 45 and p.order_qty == p.policy.max - 45 and p.days_of_cover == D("11.250")


def test_no_forecast_orders_nothing():
    p = _plan(demand_per_day=D(0), error_sd_per_day=D(0), lead_time_days=D(14), moq=D(10), multiple=D(10))
    assert p.order_qty == 0 and p.days_of_cover is None
