"""Orders and their lines: reads the flows share, and the one write path of ``orders.status``
(``set_status``; the lifecycle is hub/lifecycle.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, select, update

from hub.db import count_in_chunks, pairs_in, rows_in_chunks, utcnow
from hub.keys import crm_order_id_of
from hub.lifecycle import ALL_STATES, IllegalTransition, OrderState, allowed_from
from hub.schema import materials, order_lines, orders, quarantine

OrderKey = tuple[str, str]  # (source, crm_order_id)


def set_status(
    conn: Connection,
    keys: Iterable[OrderKey],
    status: OrderState | str,
    run_id: str | None = None,
    *,
    only_from: Sequence[str] | None = None,
) -> int:
    """Move the orders ``keys`` to ``status``; returns how many moved.

    With ``only_from`` the move applies to the orders now in one of those states and skips the others
    silently (another step may have moved them since they were read). Without it every order must be in
    a state allowed to move to ``status``, or :class:`IllegalTransition` is raised naming them.
    """
    status = OrderState(status)
    keys = list(dict.fromkeys(keys))
    if not keys:
        return 0
    legal = allowed_from(status)
    if only_from is not None:
        unknown = set(only_from) - set(ALL_STATES)
        if unknown:
            raise ValueError(f"unknown order states {sorted(unknown)}")
        illegal = sorted(set(only_from) - set(legal))
        if illegal:
            raise IllegalTransition(f"orders cannot move from {illegal} to {status.value}")
        legal = tuple(s for s in legal if s in only_from)
    else:
        stuck = rows_in_chunks(
            conn,
            keys,
            lambda chunk: select(orders.c.source, orders.c.crm_order_id, orders.c.status).where(
                _by_key(chunk), orders.c.status.not_in(legal)
            ),
        )
        if stuck:
            shown = ", ".join(f"{r.source}/{r.crm_order_id} ({r.status})" for r in stuck[:5])
            raise IllegalTransition(f"{len(stuck)} orders cannot move to {status.value}: {shown}")
    values: dict[str, Any] = {"status": status.value, "updated_at": utcnow()}
    if run_id:
        values["run_id"] = run_id
    return count_in_chunks(
        conn, keys, lambda chunk: update(orders).where(_by_key(chunk), orders.c.status.in_(legal)).values(**values)
    )


def _by_key(chunk: Sequence[OrderKey]) -> ColumnElement[bool]:
    """The orders of ``chunk`` as ``source = … AND crm_order_id IN (…)`` (:func:`hub.db.pairs_in`): the
    shape in which SQLite finds them by the primary key. Beside ``status IN (…)`` a row-value
    ``(source, crm_order_id) IN (VALUES …)`` made it walk the status index, the whole backlog of that
    state once per call (3.3 ms instead of 0.008 ms for one order at 12,000 backorders)."""
    return pairs_in(orders.c.source, orders.c.crm_order_id, chunk)


def requeued_orders(conn: Connection, stages: Sequence[str]) -> list[OrderKey]:
    """The orders whose quarantine rows at ``stages`` operations requeued."""
    rows = conn.execute(
        select(quarantine.c.source, quarantine.c.record_key).where(
            quarantine.c.stage.in_(list(stages)), quarantine.c.status == "requeued"
        )
    )
    return [(r.source, crm_order_id_of(r.record_key)) for r in rows]


class OpenLine(NamedTuple):
    source: str
    crm_order_id: str
    order_number: str
    customer_number: str
    currency: str
    order_time: Any
    line_no: int
    material: str
    quantity: Decimal
    plant: str


def open_lines(conn: Connection, states: Sequence[str], default_plant: str) -> list[OpenLine]:
    """The lines of the orders in ``states``, each with its plant (the default plant where none is set)."""
    rows = conn.execute(
        select(
            orders.c.source,
            orders.c.crm_order_id,
            orders.c.order_number,
            orders.c.customer_number,
            orders.c.currency,
            orders.c.order_time,
            order_lines.c.line_no,
            order_lines.c.material,
            order_lines.c.quantity,
            order_lines.c.plant,
        )
        .join(
            order_lines,
            (order_lines.c.source == orders.c.source) & (order_lines.c.crm_order_id == orders.c.crm_order_id),
        )
        .where(orders.c.status.in_(list(states)))
        .order_by(orders.c.source, orders.c.crm_order_id, order_lines.c.line_no)
    ).all()
    return [OpenLine(*r)._replace(plant=r.plant or default_plant) for r in rows]


def orders_with_lines(
    conn: Connection, keys: Sequence[OrderKey], state: str
) -> tuple[dict[OrderKey, Any], dict[OrderKey, list]]:
    """Headers of the orders among ``keys`` now in ``state``, and their lines, each line with its
    material's SAP base unit: the review checked MOQ and pack size in base units, and a CRM's own unit
    text (个, Stk) means nothing to SAP."""
    if not keys:
        return {}, {}
    accepted = rows_in_chunks(
        conn,
        keys,
        lambda chunk: select(orders).where(
            pairs_in(orders.c.source, orders.c.crm_order_id, chunk), orders.c.status == state
        ),
    )
    heads = {(r.source, r.crm_order_id): r for r in accepted}
    lines: dict[OrderKey, list[Any]] = defaultdict(list)
    for ln in rows_in_chunks(
        conn,
        keys,
        lambda chunk: (
            select(order_lines, materials.c.base_unit)
            .outerjoin(materials, materials.c.material == order_lines.c.material)
            .where(pairs_in(order_lines.c.source, order_lines.c.crm_order_id, chunk))
            .order_by(order_lines.c.source, order_lines.c.crm_order_id, order_lines.c.line_no)
        ),
    ):
        lines[(ln.source, ln.crm_order_id)].append(ln)
    return heads, lines


def order_of(conn: Connection, order_number: str, sold_to: str) -> OrderKey | None:
    """The hub order posted to SAP as ``order_number`` for ``sold_to`` (the ledger key of sap.sales_order)."""
    row = conn.execute(
        select(orders.c.source, orders.c.crm_order_id).where(
            orders.c.order_number == order_number, orders.c.customer_number == sold_to
        )
    ).first()
    return (row.source, row.crm_order_id) if row else None
