"""Moving orders between states: the one write path of ``orders.status`` (lifecycle: hub/lifecycle.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select, tuple_, update

from hub.db import utcnow
from hub.keys import crm_order_id_of
from hub.lifecycle import ALL_STATES, IllegalTransition, OrderState, allowed_from
from hub.schema import orders, quarantine

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
        stuck = conn.execute(
            select(orders.c.source, orders.c.crm_order_id, orders.c.status).where(
                tuple_(orders.c.source, orders.c.crm_order_id).in_(keys), orders.c.status.not_in(legal)
            )
        ).all()
        if stuck:
            shown = ", ".join(f"{r.source}/{r.crm_order_id} ({r.status})" for r in stuck[:5])
            raise IllegalTransition(f"{len(stuck)} orders cannot move to {status.value}: {shown}")
    values: dict[str, Any] = {"status": status.value, "updated_at": utcnow()}
    if run_id:
        values["run_id"] = run_id
    moved = 0
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        moved += conn.execute(
            update(orders)
            .where(tuple_(orders.c.source, orders.c.crm_order_id).in_(chunk), orders.c.status.in_(legal))
            .values(**values)
        ).rowcount
    return moved


def requeued_orders(conn: Connection, stages: Sequence[str]) -> list[OrderKey]:
    """The orders whose quarantine rows at ``stages`` operations requeued."""
    rows = conn.execute(
        select(quarantine.c.source, quarantine.c.record_key).where(
            quarantine.c.stage.in_(list(stages)), quarantine.c.status == "requeued"
        )
    )
    return [(r.source, crm_order_id_of(r.record_key)) for r in rows]
