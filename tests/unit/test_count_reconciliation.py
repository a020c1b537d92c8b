"""The judging rules of a count line (transforms/count_reconciliation.py): examples and properties."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from transforms.count_reconciliation import Line, ReasonCodes, Tolerances, judge, limit_note, plants_over_limit

D = Decimal
TOL = Tolerances(item_qty=D(0), item_value=D("500.00"), document_value=D("20000.00"))
REASONS = ReasonCodes(loss="0001", gain="0002", wms_adjust="0003")


def line(book: str, physical: str, **kw) -> Line:
    base = {
        "plant": "1010",
        "material": "SP-1",
        "stock_type": "01",
        "basis": "count",
        "book_qty": D(book),
        "physical_qty": D(physical),
        "timing_shipped": D(0),
        "timing_received": D(0),
        "unit_cost": D("10.00"),
        "pack_size": D(1),
    }
    return Line(**{**base, **kw})


def test_equal_is_matched() -> None:
    j = judge(line("10", "10"), TOL, REASONS)
    assert (j.status, j.difference_qty, j.difference_value) == ("matched", 0, 0)


def test_timing_explains_a_shipment_not_goods_issued() -> None:
    j = judge(line("10", "7", timing_shipped=D(3)), TOL, REASONS)
    assert j.status == "explained" and j.timing_qty == -3 and "3 shipped, not goods-issued" in j.explanation


def test_timing_explains_a_receipt_not_booked() -> None:
    j = judge(line("10", "12", timing_received=D(2)), TOL, REASONS)
    assert j.status == "explained" and "2 received, not booked" in j.explanation


def test_what_timing_leaves_is_the_difference() -> None:
    j = judge(line("10", "6", timing_shipped=D(3)), TOL, REASONS)
    assert (j.status, j.difference_qty, j.difference_value, j.movement_type, j.reason_code) == (
        "adjust",
        D(-1),
        D("-10.00"),
        "702",
        "0001",
    )


def test_beyond_tolerance_goes_to_recount_and_a_recount_confirms() -> None:
    first = judge(line("100", "40", unit_cost=D("20.00")), TOL, REASONS)
    assert first.status == "recount" and first.difference_value == D("-1200.00") and first.movement_type is None
    confirmed = judge(line("100", "40", unit_cost=D("20.00"), previous_status="recount"), TOL, REASONS)
    assert confirmed.status == "adjust" and confirmed.explanation == "recount confirms the difference"


def test_a_quantity_tolerance_lets_cheap_parts_through() -> None:
    tol = Tolerances(item_qty=D(5), item_value=D(0), document_value=D(100000))
    assert judge(line("100", "96", unit_cost=D("999")), tol, REASONS).status == "adjust"
    assert judge(line("100", "94", unit_cost=D("999")), tol, REASONS).status == "recount"


def test_packs_counted_as_units_are_recounted_never_adjusted() -> None:
    j = judge(line("120", "10", pack_size=D(12), unit_cost=D("0.01")), TOL, REASONS)
    assert j.status == "recount" and "packs of 12" in j.explanation


def test_movement_types_by_stock_type() -> None:
    assert judge(line("5", "6", stock_type="07"), TOL, REASONS).movement_type == "707"
    assert judge(line("5", "4", stock_type="07"), TOL, REASONS).movement_type == "708"
    assert judge(line("5", "6", stock_type="02"), TOL, REASONS).movement_type == "703"
    assert judge(line("5", "6"), TOL, REASONS).reason_code == "0002"


def test_a_warehouse_adjustment_is_mirrored() -> None:
    j = judge(line("50", "-2", basis="wms_adjust"), TOL, REASONS)
    assert (j.status, j.difference_qty, j.movement_type, j.reason_code) == ("adjust", D(-2), "702", "0003")


def test_the_document_limit_names_the_plants_over_it() -> None:
    assert plants_over_limit({"1010": D("20.00"), "1020": D("10.00")}, D("15.00")) == {"1010": D("20.00")}
    assert plants_over_limit({"1010": D("15.00")}, D("15.00")) == {}  # at the limit is within it
    assert "per-document limit 15.00" in limit_note("1010", D("20.00"), D("15.00"))


quantities = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False)
costs = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)


@given(
    book=quantities,
    physical=quantities,
    shipped=quantities,
    received=quantities,
    cost=costs,
    stock_type=st.sampled_from(["01", "02", "07"]),
    previous=st.sampled_from([None, "matched", "recount", "adjust"]),
    pack=st.sampled_from([None, D(1), D(5), D(12)]),
)
def test_every_line_gets_one_consistent_verdict(book, physical, shipped, received, cost, stock_type, previous, pack):
    ln = Line("1010", "SP-1", stock_type, "count", book, physical, shipped, received, cost, pack, previous)
    j = judge(ln, TOL, REASONS)
    assert j.status in ("matched", "explained", "recount", "adjust")
    # The numbers add up: physical = book + timing + difference, exactly.
    assert physical == book + j.timing_qty + j.difference_qty
    assert j.difference_value == (j.difference_qty * cost).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    if j.status in ("matched", "explained"):
        assert j.difference_qty == 0 and j.movement_type is None
    if j.status == "adjust":
        assert j.difference_qty != 0 and j.movement_type is not None and j.reason_code is not None
        # A gain gets the odd movement type (701/703/707), a loss the even one.
        assert (int(j.movement_type) % 2 == 1) == (j.difference_qty > 0)
    if j.status == "recount":
        assert j.movement_type is None


@given(st.dictionaries(st.sampled_from(["1010", "1020", "2010"]), costs), costs)
def test_only_plants_above_the_limit_are_over_it(totals, limit):
    over = plants_over_limit(totals, limit)
    assert set(over) <= set(totals)
    assert all(over[p] == totals[p] > limit for p in over)
    assert all(totals[p] <= limit for p in set(totals) - set(over))


def test_what_sap_could_never_post_is_recounted() -> None:
    negative = judge(line("3", "-1"), TOL, REASONS)
    assert negative.status == "recount" and "negative count" in negative.explanation
    unpriced = judge(line("3", "2", unit_cost=None), TOL, REASONS)
    assert unpriced.status == "recount" and "no standard price" in unpriced.explanation
