"""Stock allocation: who gets the available quantity of a material at a plant when demand exceeds it.

Rule (DESIGN §2): by priority, then by order time. Priority is the customer's SAP delivery priority
(``A_CustomerSalesArea.DeliveryPriority``: "01" urgent before "02" normal before "03" low); ties go
to the older order, then the lower order number and line, so the result never depends on input order.
A line gets what is left, up to its quantity (partial allocation); the rest is backordered.

The hub posts orders to SAP in :func:`posting_sequence` order, so SAP's own first-come-first-served
availability check confirms what this allocation planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)
LOWEST_PRIORITY = "99"  # customers SAP gives no delivery priority queue behind everyone else


@dataclass(frozen=True)
class Demand:
    source: str
    crm_order_id: str
    order_number: str
    line_no: int
    material: str
    plant: str
    quantity: Decimal
    priority: str
    order_time: datetime

    @property
    def order_key(self) -> tuple[str, str]:
        return self.source, self.crm_order_id

    @property
    def rank(self) -> tuple[str, datetime, str, int]:
        return self.priority or LOWEST_PRIORITY, self.order_time, self.order_number, self.line_no


@dataclass(frozen=True)
class Allocation:
    demand: Demand
    allocated: Decimal

    @property
    def backordered(self) -> Decimal:
        return self.demand.quantity - self.allocated


def allocate(demands: Iterable[Demand], available: Mapping[tuple[str, str], Decimal]) -> list[Allocation]:
    """Allocate ``available[(material, plant)]`` to ``demands`` in rank order; returns them ranked.

    Availability below zero (SAP already promised more than it holds) counts as zero.
    """
    left = {key: max(qty, ZERO) for key, qty in available.items()}
    result = []
    for demand in sorted(demands, key=lambda d: d.rank):
        key = (demand.material, demand.plant)
        share = min(demand.quantity, left.get(key, ZERO))
        left[key] = left.get(key, ZERO) - share
        result.append(Allocation(demand, share))
    return result


def posting_sequence(allocations: Iterable[Allocation]) -> list[tuple[str, str]]:
    """The orders with anything allocated, in the order SAP must see them: by their best-ranked line."""
    best: dict[tuple[str, str], tuple[str, datetime, str, int]] = {}
    for a in allocations:
        if a.allocated > 0:
            key = a.demand.order_key
            best[key] = min(best.get(key, a.demand.rank), a.demand.rank)
    return sorted(best, key=lambda k: best[k])
