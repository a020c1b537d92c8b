"""Allocation by priority then order time: examples and properties."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from transforms.allocation import Demand, allocate, posting_sequence

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def demand(order: str, qty: int, *, priority: str = "02", minutes: int = 0, material: str = "SP-1", line: int = 1):
    return Demand(
        "zoho_crm", order, order, line, material, "1010", Decimal(qty), priority, T0 + timedelta(minutes=minutes)
    )


def test_priority_beats_order_time_and_partial_then_backorder():
    late_urgent = demand("SO-3", 4, priority="01", minutes=30)
    early_normal = demand("SO-1", 5, minutes=0)
    later_normal = demand("SO-2", 5, minutes=10)
    result = {
        a.demand.order_number: a
        for a in allocate([early_normal, later_normal, late_urgent], {("SP-1", "1010"): Decimal(7)})
    }
    assert result["SO-3"].allocated == 4
    assert result["SO-1"].allocated == 3 and result["SO-1"].backordered == 2
    assert result["SO-2"].allocated == 0 and result["SO-2"].backordered == 5


def test_unknown_material_and_negative_availability_allocate_nothing():
    result = allocate([demand("SO-1", 2), demand("SO-2", 2, material="SP-9")], {("SP-1", "1010"): Decimal(-3)})
    assert [a.allocated for a in result] == [0, 0]
    assert posting_sequence(result) == []


def test_posting_sequence_follows_best_line_and_skips_unallocated():
    a = demand("SO-A", 1, minutes=5)
    b = demand("SO-B", 1, priority="01", minutes=50)
    c = demand("SO-C", 1, minutes=1, material="SP-2")
    result = allocate([a, b, c], {("SP-1", "1010"): Decimal(2)})
    assert posting_sequence(result) == [("zoho_crm", "SO-B"), ("zoho_crm", "SO-A")]


demands = st.lists(
    st.builds(
        demand,
        order=st.sampled_from([f"SO-{i}" for i in range(8)]),
        qty=st.integers(1, 50),
        priority=st.sampled_from(["01", "02", "03", ""]),
        minutes=st.integers(0, 600),
        material=st.sampled_from(["SP-1", "SP-2", "SP-3"]),
        line=st.integers(1, 5),
    ),
    max_size=40,
)
stock = st.dictionaries(
    st.sampled_from([("SP-1", "1010"), ("SP-2", "1010"), ("SP-3", "1010")]),
    st.integers(-20, 200).map(Decimal),
)


@given(demands, stock)
def test_allocation_never_exceeds_stock_or_demand_and_uses_what_it_can(ds, available):
    result = allocate(ds, available)
    assert len(result) == len(ds)
    used, wanted = defaultdict(Decimal), defaultdict(Decimal)
    for a in result:
        assert 0 <= a.allocated <= a.demand.quantity
        used[(a.demand.material, a.demand.plant)] += a.allocated
        wanted[(a.demand.material, a.demand.plant)] += a.demand.quantity
    for key, total in wanted.items():
        assert used[key] == min(total, max(available.get(key, Decimal(0)), Decimal(0)))


@given(demands, stock)
def test_no_line_is_served_while_a_better_ranked_line_of_its_material_waits(ds, available):
    result = allocate(ds, available)
    for better in result:
        if better.backordered > 0:
            for worse in result:
                same = (worse.demand.material, worse.demand.plant) == (better.demand.material, better.demand.plant)
                if same and worse.demand.rank > better.demand.rank:
                    assert worse.allocated == 0


@given(demands, stock, st.randoms())
def test_result_does_not_depend_on_input_order(ds, available, rnd):
    shuffled = list(ds)
    rnd.shuffle(shuffled)
    key = lambda a: (a.demand.rank, a.demand.material, a.demand.quantity, a.allocated)  # noqa: E731
    assert sorted(map(key, allocate(ds, available))) == sorted(map(key, allocate(shuffled, available)))
