"""Stock policies (transforms/stock_policy.py): the domain report's §4.1 vectors exactly, the rounding
rules, and properties over drawn inputs."""

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from transforms.stock_policy import (
    PolicyError,
    assess,
    eoq,
    inventory_position,
    newsvendor,
    order_quantity,
    policy_for,
    reorder_point,
    round_order,
    safety_stock,
    safety_stock_demand_only,
    smallest_order,
    z_score,
)

D = Decimal


# -- reference vectors (domain report §4.1) -------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "z"), [("0.90", "1.2816"), ("0.95", "1.6449"), ("0.98", "2.0537"), ("0.99", "2.3263")]
)
def test_z_matches_the_table(level, z):
    assert z_score(D(level)).quantize(D("0.0001")) == D(z)


def test_safety_stock_and_reorder_point_vector():
    # d̄ = 4/day, σd = 2, L = 9 days, σL = 2 days, 95 % ⇒ SS = 16.45, ROP = 52.45 → 53.
    ss = safety_stock(z_score(D("0.95")), 4, 2, 9, 2)
    assert ss == D("16.45")
    assert 4 * 9 + ss == D("52.45")
    assert reorder_point(4, 9, ss) == 53


def test_demand_only_safety_stock():
    z = z_score(D("0.95"))
    assert safety_stock_demand_only(z, 2, 9) == D("9.87")  # 1.64485 × 2 × 3 = 9.869
    assert safety_stock(z, 4, 2, 9, 0) == safety_stock(z, 4, 2, 9, None) == D("9.87")


def test_eoq_vector():
    assert eoq(1300, 8, D("0.225")).quantize(D("0.0001")) == D("304.0468")


def test_newsvendor_vector():
    assert newsvendor(50, 8, D("0.70"), D("0.18")).quantize(D("0.001")) == D("56.604")


# -- rules ------------------------------------------------------------------------------------------


def test_reorder_point_rounds_up_even_a_whole_plus_a_cent():
    assert reorder_point(4, 9, D("0.01")) == 37
    assert reorder_point(4, 9, D("0")) == 36


def test_inventory_position():
    assert inventory_position(100, 40, 15, 30) == 95
    assert inventory_position(0, 0, 5, 10) == -15


@pytest.mark.parametrize(
    ("need", "moq", "multiple", "room", "expected"),
    [
        (7, 25, 10, 1000, 30),  # raised to the MOQ, then up to the multiple
        (42, 25, 10, 1000, 50),  # up to the multiple
        (42, 25, 10, 45, 40),  # cut to the largest multiple under the cap
        (42, 25, 10, 12, 30),  # the MOQ (30 as a multiple) does not fit: the MOQ wins over the cap
        (42, None, None, None, 42),
        (0, 25, 10, None, 0),
        (D("2.5"), 0, D("0.5"), None, D("2.5")),
    ],
)
def test_round_order(need, moq, multiple, room, expected):
    assert round_order(need, moq, multiple, room) == expected


def test_smallest_order_is_the_moq_rounded_up_to_the_multiple():
    assert smallest_order(25, 10) == 30
    assert smallest_order(None, 6) == 0
    assert smallest_order(12, None) == 12


def test_policy_for_the_reference_part():
    p = policy_for(4, 2, 9, 2, D("0.95"), 50, 10, None, 1300, 8, D("0.225"))
    assert (p.safety_stock, p.reorder_point, p.min, p.eoq) == (D("16.45"), 53, 53, 304)
    assert p.max == 53 + 304 and not p.capped
    assert p.over_limit == p.max + 50
    assert "16.45" in p.explain() and "→ 53" in p.explain()


def test_policy_cap_cuts_s_but_never_below_the_reorder_point():
    capped = policy_for(4, 2, 9, 2, D("0.95"), 0, 1, 200, 1300, 8, D("0.225"))
    assert capped.max == 200 and capped.capped and capped.over_limit == 200
    below = policy_for(4, 2, 9, 2, D("0.95"), 0, 1, 40, 1300, 8, D("0.225"))
    assert below.max == below.reorder_point == 53 and below.capped


def test_an_order_is_at_least_one_lot_above_s():
    # EOQ of 2 units but an MOQ of 100: S leaves room for one MOQ lot above s.
    p = policy_for(1, 0, 10, 0, D("0.9"), 100, 25, None, 2, 1, 1)
    assert p.max == p.min + 100
    assert order_quantity(p, p.min) == 100


def test_order_quantity_and_assess():
    p = policy_for(4, 2, 9, 2, D("0.95"), 50, 10, 400, 1300, 8, D("0.225"))
    assert order_quantity(p, 54) == 0 and assess(p, 54) == "ok"
    # S = 53 + 304 = 357 under the cap of 400: Q = 357 − 53 = 304, up to the multiple of 10 → 310.
    assert order_quantity(p, 53) == 310 and assess(p, 53) == "low"
    assert order_quantity(p, -100) == 460  # backorders count: 357 + 100 = 457 → 460
    # A cap of 350 cuts S to 350; at IP 53 the need of 297 rounds up to 300, which does not fit
    # under the cap (room 297): the largest multiple that fits is 290.
    tight = policy_for(4, 2, 9, 2, D("0.95"), 50, 10, 350, 1300, 8, D("0.225"))
    assert (tight.max, tight.capped, order_quantity(tight, 53)) == (350, True, 290)
    assert assess(p, 401) == "over" and assess(p, 400) == "ok"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: z_score(D(1)),
        lambda: z_score(D(0)),
        lambda: z_score("ninety"),
        lambda: safety_stock(D(1), -1, 2, 9, 2),
        lambda: eoq(100, 8, 0),
        lambda: safety_stock(D(1), 4.0, 2, 9, 2),  # floats never enter
        lambda: inventory_position(1, 1, 1, None),
    ],
)
def test_inputs_a_policy_cannot_use_are_refused(bad):
    with pytest.raises(PolicyError):
        bad()


# -- properties -------------------------------------------------------------------------------------

qty = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)
levels = st.decimals(min_value=D("0.5"), max_value=D("0.9999"), places=4)
whole = st.integers(min_value=0, max_value=500)


@given(qty, qty, st.integers(1, 120), qty, levels, levels)
def test_safety_stock_and_rop_are_monotone_in_service_level(d, sd, lt, lt_sd, a, b):
    lo, hi = sorted((a, b))
    ss_lo, ss_hi = (safety_stock(z_score(x), d, sd, lt, lt_sd) for x in (lo, hi))
    assert D(0) <= ss_lo <= ss_hi
    assert reorder_point(d, lt, ss_lo) <= reorder_point(d, lt, ss_hi)


@given(
    need=st.decimals(min_value=D("0.01"), max_value=5000, places=2),
    moq=whole,
    multiple=st.integers(1, 100),
    room=st.one_of(st.none(), st.integers(-100, 5000)),
)
def test_an_order_is_a_multiple_at_least_the_moq_and_under_the_cap_unless_the_moq_forces_it(need, moq, multiple, room):
    q = round_order(need, moq, multiple, room)
    assert q > 0 and q % multiple == 0 and q >= moq
    if room is None or q > room:
        assert room is None or q == smallest_order(moq, multiple), "only the MOQ may break the cap"
    if room is None or (need <= room and smallest_order(moq, multiple) <= room):
        assert q >= need, "the need is covered when it fits"


@given(
    d=st.decimals(min_value=0, max_value=200, places=2),
    sd=st.decimals(min_value=0, max_value=100, places=2),
    lt=st.integers(0, 90),
    lt_sd=st.decimals(min_value=0, max_value=20, places=2),
    level=levels,
    moq=whole,
    multiple=st.integers(1, 50),
    cap=st.one_of(st.none(), st.integers(0, 20_000)),
    k=st.integers(1, 500),
    h=st.decimals(min_value=D("0.01"), max_value=100, places=2),
    ip=st.integers(-2000, 20_000),
)
def test_the_policy_orders_sensibly(d, sd, lt, lt_sd, level, moq, multiple, cap, k, h, ip):
    p = policy_for(d, sd, lt, lt_sd, level, moq, multiple, cap, d * 365, k, h)
    assert D(0) <= p.safety_stock and p.reorder_point == p.min <= p.max
    assert p.reorder_point == p.reorder_point.to_integral_value() >= d * lt
    if cap is not None:
        assert p.max <= max(cap, p.min)
    q = order_quantity(p, ip)
    assert q >= 0
    if ip > p.min:
        assert q == 0
        return
    assume(q > 0)
    assert q % multiple == 0 and q >= moq
    after = ip + q
    if cap is None:
        assert after >= p.max, "an order reaches S"
        assert assess(p, after) != "over", "the policy's own order never makes the part over stock"
    else:
        assert after <= cap or q == smallest_order(moq, multiple)
