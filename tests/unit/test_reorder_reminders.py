"""Reorder reminders: a customer's steady rhythm for a part, and when it is due."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.reorder_reminders import is_due, reminder_key, rhythm

D = Decimal
START = date(2026, 10, 1)


def _every(days: list[int], qty: str = "10") -> list[tuple[date, Decimal]]:
    return [(START + timedelta(days=d), D(qty)) for d in days]


def test_a_fortnightly_buyer_has_a_rhythm():
    r = rhythm(_every([0, 14, 27, 42, 56]), 3, D("0.35"))
    assert r is not None
    assert (r.purchases, r.interval_days, r.last_purchase, r.due_date) == (
        5,
        14,
        START + timedelta(56),
        START + timedelta(70),
    )
    assert r.typical_qty == 10 and r.interval_cv < D("0.1")


def test_irregular_or_too_few_purchases_have_none():
    assert rhythm(_every([0, 2, 30, 33]), 3, D("0.35")) is None  # gaps 2, 28, 3
    assert rhythm(_every([0, 14]), 3, D("0.35")) is None
    assert rhythm([(START, D(0)), (START + timedelta(7), D(0)), (START + timedelta(14), D(0))], 3, D("0.35")) is None


def test_same_day_orders_are_one_purchase_summed():
    purchases = _every([0, 0, 10, 20], "4")
    r = rhythm(purchases, 3, D("0.35"))
    assert r is not None and r.purchases == 3 and r.interval_days == 10 and r.typical_qty == 4


def test_typical_quantity_is_the_median_one_really_bought():
    purchases = [(START, D(5)), (START + timedelta(7), D(100)), (START + timedelta(14), D(6))]
    assert rhythm(purchases, 3, D("0.35")).typical_qty == 6
    purchases.append((START + timedelta(21), D(17)))  # an even count: the lower middle, not 11.5
    assert rhythm(purchases, 3, D("0.35")).typical_qty == 6


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2026, 11, 1), False),  # due 11-20: more than 7 days ahead
        (date(2026, 11, 13), True),  # 7 days ahead
        (date(2026, 11, 20), True),  # the day
        (date(2026, 11, 29), True),  # late, within one interval
        (date(2026, 12, 4), False),  # two weeks late: stopped buying
    ],
)
def test_due_within_lead_days_or_less_than_one_interval_late(today, due):
    r = rhythm([(date(2026, 10, 23), D(1)), (date(2026, 11, 6), D(1)), (date(2026, 10, 9), D(1))], 3, D("0.35"))
    assert r.due_date == date(2026, 11, 20)
    assert is_due(r, today, 7) is due


def test_key_names_customer_part_and_cycle():
    assert reminder_key("1000133", "SP-21256", date(2026, 12, 1)) == "RR-1000133-SP-21256-20261201"
    with pytest.raises(ValueError, match="longer than 100"):
        reminder_key("1000133", "X" * 90, date(2026, 12, 1))


@given(
    st.lists(st.tuples(st.integers(0, 400), st.integers(1, 50)), min_size=0, max_size=30),
    st.integers(2, 6),
    st.decimals("0.05", "1.5", places=2),
)
def test_rhythm_properties(points, min_purchases, max_cv):
    purchases = [(START + timedelta(days=d), D(q)) for d, q in points]
    r = rhythm(purchases, min_purchases, max_cv)
    days = sorted({d for d, _ in points})
    if r is None:
        return
    assert r.purchases == len(days) >= min_purchases
    assert r.interval_cv <= max_cv
    assert r.last_purchase == START + timedelta(days=days[-1])
    assert r.due_date == r.last_purchase + timedelta(days=r.interval_days)
    gaps = [b - a for a, b in zip(days, days[1:], strict=False)]
    assert min(gaps) <= r.interval_days <= max(gaps)
    assert is_due(r, r.due_date, 0)
