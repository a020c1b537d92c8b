"""The order lifecycle, declared once (DESIGN §3.7): the states, what each one means, the allowed
transitions, and every set of states the flows use, derived from them.

The database enforces the same table: ``orders.status`` has a CHECK constraint over :data:`OrderState`
and a trigger refuses any update whose (old, new) pair is not in ``order_transitions``, which the
migrations fill from :data:`TRANSITIONS` (a test keeps the two equal). ``hub.repositories.orders.set_status``
is the one way the flows move orders; it raises :class:`IllegalTransition` before the database has to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class OrderState(StrEnum):
    ACCEPTED = "accepted"  # reviewed and accepted; not planned yet
    CANCELLED = "cancelled"  # cancelled in the CRM before it reached SAP
    BACKORDERED = "backordered"  # planned, nothing available: not in SAP, planned again every run
    HELD = "held"  # SAP will not take it (quarantine sap_posting): waits for a fix and a requeue
    POSTED = "posted"  # in SAP, the customer not told yet
    REVIEW = "review"  # in SAP, the sap_postings gate failed: a human looks before anyone is told
    CONFIRMED = "confirmed"  # in SAP, all confirmed, the customer told
    PARTIAL = "partial"  # in SAP, partly confirmed and told; SAP still owes the rest
    PARTLY_SHIPPED = "partly_shipped"  # the warehouse shipped part of what SAP confirmed; more to come
    SHIPPED = "shipped"  # everything SAP confirmed has left the warehouse (goods issue posted)
    DELIVERED = "delivered"  # every parcel signed for by the customer
    INVOICED = "invoiced"
    SETTLED = "settled"


S = OrderState


@dataclass(frozen=True)
class StateInfo:
    in_sap: bool  # SAP holds a sales order for it
    counts_against_credit: bool  # open business with the customer: not cancelled, not invoiced yet
    steps: frozenset[str] = frozenset()  # the flow steps that pick orders up in this state


_STATES: Mapping[OrderState, StateInfo] = {
    S.ACCEPTED: StateInfo(in_sap=False, counts_against_credit=True, steps=frozenset({"plan"})),
    S.CANCELLED: StateInfo(in_sap=False, counts_against_credit=False),  # in SAP too: its open items rejected
    S.BACKORDERED: StateInfo(in_sap=False, counts_against_credit=True, steps=frozenset({"plan", "confirm"})),
    S.HELD: StateInfo(in_sap=False, counts_against_credit=True),
    S.POSTED: StateInfo(in_sap=True, counts_against_credit=True, steps=frozenset({"refresh", "confirm"})),
    S.REVIEW: StateInfo(in_sap=True, counts_against_credit=True),
    S.CONFIRMED: StateInfo(in_sap=True, counts_against_credit=True, steps=frozenset({"ship"})),
    S.PARTIAL: StateInfo(in_sap=True, counts_against_credit=True, steps=frozenset({"refresh", "confirm", "ship"})),
    S.PARTLY_SHIPPED: StateInfo(in_sap=True, counts_against_credit=True, steps=frozenset({"ship", "track"})),
    S.SHIPPED: StateInfo(in_sap=True, counts_against_credit=True, steps=frozenset({"track", "bill"})),
    S.DELIVERED: StateInfo(in_sap=True, counts_against_credit=True, steps=frozenset({"bill"})),
    S.INVOICED: StateInfo(in_sap=True, counts_against_credit=False, steps=frozenset({"settle"})),
    S.SETTLED: StateInfo(in_sap=True, counts_against_credit=False),
}

# Allowed moves (old → new). Staying in a state is always allowed and is not listed.
TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = {
    # Not in SAP: the CRM may change or cancel it (and reopen a cancelled one), plan may backorder it,
    # SAP may refuse it (held) or take it (posted).
    S.ACCEPTED: frozenset({S.CANCELLED, S.BACKORDERED, S.HELD, S.POSTED}),
    S.BACKORDERED: frozenset({S.ACCEPTED, S.CANCELLED, S.HELD, S.POSTED}),
    S.HELD: frozenset({S.ACCEPTED, S.CANCELLED, S.POSTED}),
    S.CANCELLED: frozenset({S.ACCEPTED}),
    # In SAP: the gate may send it to review; the customer is told (confirmed / partial); a requeued
    # confirmation or review goes back to posted.
    # A CRM cancellation of an order in SAP ends it once the warehouse stopped it and SAP rejected
    # its open items (shipment_notices); goods that already left go on and the order ships.
    S.POSTED: frozenset({S.REVIEW, S.CONFIRMED, S.PARTIAL, S.CANCELLED}),
    S.REVIEW: frozenset({S.POSTED}),
    S.PARTIAL: frozenset({S.REVIEW, S.CONFIRMED, S.POSTED, S.PARTLY_SHIPPED, S.SHIPPED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.POSTED, S.PARTLY_SHIPPED, S.SHIPPED, S.CANCELLED}),
    # The warehouse ships in parts; tracking ends in delivered; billing follows goods issue.
    S.PARTLY_SHIPPED: frozenset({S.SHIPPED, S.INVOICED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.INVOICED}),
    S.DELIVERED: frozenset({S.INVOICED}),
    S.INVOICED: frozenset({S.SETTLED}),
    S.SETTLED: frozenset(),
}


def _where(test: Any) -> tuple[str, ...]:
    return tuple(s.value for s in OrderState if test(_STATES[s]))


ALL_STATES: tuple[str, ...] = tuple(s.value for s in OrderState)
NOT_IN_SAP = _where(lambda i: not i.in_sap)  # a CRM change may still rewrite or withdraw these
IN_SAP = _where(lambda i: i.in_sap)
COUNTS_AGAINST_CREDIT = _where(lambda i: i.counts_against_credit)
PLANNABLE = _where(lambda i: "plan" in i.steps)  # plan() allocates stock to these
REFRESHABLE = _where(lambda i: "refresh" in i.steps)  # in SAP with quantities SAP may still confirm
CONFIRMABLE = _where(lambda i: "confirm" in i.steps)  # the customer may still be told something new
SHIPPABLE = _where(lambda i: "ship" in i.steps)  # SAP may create deliveries the warehouse must get
TRACKABLE = _where(lambda i: "track" in i.steps)  # parcels on their way to the customer


class IllegalTransition(ValueError):
    """An order was asked to move along a transition the lifecycle does not allow."""


def allowed_from(target: OrderState | str) -> tuple[str, ...]:
    """The states an order may be in to move to ``target`` (``target`` itself included)."""
    target = OrderState(target)
    return tuple(s.value for s in OrderState if s == target or target in TRANSITIONS[s])


def transition_pairs() -> list[tuple[str, str]]:
    """Every allowed (old, new) pair: the content of the ``order_transitions`` table."""
    return sorted((old.value, new.value) for old, targets in TRANSITIONS.items() for new in targets)
