"""Stock allocation: who gets the available quantity of a material at a plant when demand exceeds it.

Rule (DESIGN §2): by priority, then by order time. Priority is the customer's SAP delivery priority
(``A_CustomerSalesArea.DeliveryPriority``: "01" urgent before "02" normal before "03" low); ties go
to the older order, then the lower order number and line, so the result never depends on input order.
A line gets what is left, up to its quantity (partial allocation); the rest is backordered.

The hub posts orders to SAP in :func:`posting_sequence` order, so SAP's own first-come-first-served
availability check confirms what this allocation planned.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

ZERO = Decimal(0)
LOWEST_PRIORITY = "99"  # customers SAP gives no delivery priority queue behind everyone else


# NamedTuples, not dataclasses: a posting run builds one of each per open order line, and a tuple is
# built several times faster than a frozen dataclass (bench/allocation.py).
class Demand(NamedTuple):
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
        return _rank(self)


class Allocation(NamedTuple):
    demand: Demand
    allocated: Decimal

    @property
    def backordered(self) -> Decimal:
        return self.demand.quantity - self.allocated


def allocate(demands: Iterable[Demand], available: Mapping[tuple[str, str], Decimal]) -> list[Allocation]:
    """Allocate ``available[(material, plant)]`` to ``demands`` in rank order; returns them ranked.

    Availability below zero (SAP already promised more than it holds) counts as zero.
    """
    with _gc_paused():
        left = {key: max(qty, ZERO) for key, qty in available.items()}
        result = []
        for demand in sorted(demands, key=_rank):
            key = (demand.material, demand.plant)
            share = min(demand.quantity, left.get(key, ZERO))
            left[key] = left.get(key, ZERO) - share
            result.append(Allocation(demand, share))
    return result


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Two tuples per line and no reference cycles: at 1M lines the cyclic collector would keep
    # rescanning millions of live objects for nothing (40 % of the time, bench/allocation.py).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rank(d: Demand) -> tuple[str, datetime, str, int]:
    return d.priority or LOWEST_PRIORITY, d.order_time, d.order_number, d.line_no


def posting_sequence(allocations: Iterable[Allocation]) -> list[tuple[str, str]]:
    """The orders with anything allocated, in the order SAP must see them: by their best-ranked line."""
    # Sorting allocate()'s output again costs one linear pass (it is already ranked); the first line
    # of an order seen in rank order is its best.
    ranked = sorted((a for a in allocations if a.allocated > 0), key=lambda a: _rank(a.demand))
    return list(dict.fromkeys(a.demand.order_key for a in ranked))
