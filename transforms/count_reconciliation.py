"""Book against physical, one line at a time: what a count difference is, and what to do about it.

The set-based part (which count is the day's physical quantity, the book stock, the open documents
that explain timing) runs in the hub database (``include/sql/count_reconciliation_lines.sql``); this
module judges each joined line, so the rules are pure and tested by themselves.

Rules (domain_report.md §5; SAP MI07/MI11 practice):

- ``difference = physical - book - timing``: ``timing`` is what open documents explain (goods that
  left the warehouse but are not goods-issued in SAP yet count negative, goods the warehouse received
  that SAP has not booked positive), so it is taken out before anything is called a difference.
- no difference at all → ``matched``; a difference that timing explains entirely → ``explained``.
- a count whose quantity is the book divided by the pack size (or times it) looks like the wrong unit
  of measure: ``recount``, never an adjustment.
- a difference within an item tolerance (quantity **or** value, settings ``tolerances.count_*``) →
  ``adjust``; beyond both → ``recount``, unless the item was already on the previous day's recount
  list and the recount confirms a difference → ``adjust``.
- an adjustment the warehouse already made (``adjustType`` ADJUST) is mirrored in SAP → ``adjust``.
- a negative count, or a part without a standard price, can never be posted → ``recount``.
- per plant, when the adjustments together are worth more than ``inventory.document_value``, none of
  them is postable (SAP's per-document tolerance): they all go to ``recount`` (:func:`plants_over_limit`).

Movement types follow SAP's physical-inventory postings: 701/702 unrestricted, 703/704 quality
inspection, 707/708 blocked stock (gain/loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MOVEMENT_TYPES = {"01": ("701", "702"), "02": ("703", "704"), "07": ("707", "708")}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Tolerances:
    item_qty: Decimal
    item_value: Decimal
    document_value: Decimal


@dataclass(frozen=True)
class ReasonCodes:
    loss: str
    gain: str
    wms_adjust: str


@dataclass(frozen=True)
class Line:
    """One joined line of the day: the book, the physical quantity and what open documents explain."""

    plant: str
    material: str
    stock_type: str
    basis: str  # "count" or "wms_adjust"
    book_qty: Decimal
    physical_qty: Decimal
    timing_shipped: Decimal  # left the warehouse, not goods-issued in SAP (>= 0)
    timing_received: Decimal  # received by the warehouse, not booked in SAP (>= 0)
    unit_cost: Decimal | None
    pack_size: Decimal | None = None
    previous_status: str | None = None  # the same item's result on the previous business day


@dataclass(frozen=True)
class Judgement:
    status: str  # matched | explained | recount | adjust
    timing_qty: Decimal
    difference_qty: Decimal
    difference_value: Decimal
    explanation: str
    movement_type: str | None = None
    reason_code: str | None = None


def _value(quantity: Decimal, unit_cost: Decimal | None) -> Decimal:
    return (quantity * (unit_cost or Decimal(0))).quantize(CENT, rounding=ROUND_HALF_UP)


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def _wrong_unit(line: Line) -> bool:
    pack = line.pack_size
    if not pack or pack <= 1 or line.book_qty <= 0:
        return False
    return line.physical_qty * pack == line.book_qty or line.physical_qty == line.book_qty * pack


def _adjustment(line: Line, difference: Decimal, reasons: ReasonCodes) -> tuple[str, str]:
    gain, loss = MOVEMENT_TYPES.get(line.stock_type, MOVEMENT_TYPES["01"])
    if line.basis == "wms_adjust":
        return (gain if difference > 0 else loss), reasons.wms_adjust
    return (gain, reasons.gain) if difference > 0 else (loss, reasons.loss)


def judge(line: Line, tolerances: Tolerances, reasons: ReasonCodes) -> Judgement:
    """The status of one line and the numbers behind it (see the module's rules)."""
    timing = line.timing_received - line.timing_shipped
    if line.basis == "wms_adjust":
        # The warehouse reported the change itself (its difference is the physical quantity here).
        difference = line.physical_qty
        value = _value(difference, line.unit_cost)
        if difference == 0:
            return Judgement("matched", Decimal(0), difference, value, "WMS adjustment of 0")
        movement, reason = _adjustment(line, difference, reasons)
        return Judgement(
            "adjust", Decimal(0), difference, value, "already adjusted in the warehouse (ADJUST)", movement, reason
        )
    raw = line.physical_qty - line.book_qty
    difference = raw - timing
    value = _value(difference, line.unit_cost)
    if difference and (line.physical_qty < 0 or line.unit_cost is None):
        # Nothing SAP could post: stock cannot be negative, and a part without a standard price has
        # no value to post at (its plant data is missing from the ERP extract).
        why = "a negative count" if line.physical_qty < 0 else "no standard price in the ERP's plant data"
        return Judgement("recount", timing, difference, value, f"{why}: count again before anything is posted")
    if raw == 0 and timing == 0:
        return Judgement("matched", timing, difference, value, "book = physical")
    if difference == 0:
        parts = []
        if line.timing_shipped:
            parts.append(f"{_qty(line.timing_shipped)} shipped, not goods-issued in SAP")
        if line.timing_received:
            parts.append(f"{_qty(line.timing_received)} received, not booked in SAP")
        return Judgement("explained", timing, difference, value, "; ".join(parts))
    if _wrong_unit(line):
        return Judgement(
            "recount",
            timing,
            difference,
            value,
            f"counted {_qty(line.physical_qty)} against a book of {_qty(line.book_qty)}: looks like packs of "
            f"{_qty(line.pack_size or Decimal(0))} counted as units, or units as packs",
        )
    within = abs(difference) <= tolerances.item_qty or abs(value) <= tolerances.item_value
    if within or line.previous_status == "recount":
        movement, reason = _adjustment(line, difference, reasons)
        why = "within item tolerance" if within else "recount confirms the difference"
        return Judgement("adjust", timing, difference, value, why, movement, reason)
    return Judgement(
        "recount",
        timing,
        difference,
        value,
        f"difference {_qty(difference)} ({value} value) beyond item tolerance "
        f"({_qty(tolerances.item_qty)} units or {tolerances.item_value} value)",
    )


def plants_over_limit(adjust_value: Mapping[str, Decimal], limit: Decimal) -> dict[str, Decimal]:
    """The plants whose adjustments' absolute value (summed per plant) exceeds ``limit``: none of their
    adjustments is postable, each goes to recount (SAP's per-document tolerance)."""
    return {plant: total for plant, total in adjust_value.items() if total > limit}


def limit_note(plant: str, total: Decimal, limit: Decimal) -> str:
    """What a demoted line's explanation gains."""
    return (
        f"; plant {plant}'s adjustments total {total}, over the per-document limit {limit}: nothing postable, recount"
    )
