"""Moving orders between states (hub/schema.py ORDER_STATES), shared by the posting and confirmation steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select, tuple_, update

from hub.db import utcnow
from hub.schema import orders, quarantine
from transforms.crm_orders import crm_order_id_of

OrderKey = tuple[str, str]  # (source, crm_order_id)


def set_status(
    conn: Connection,
    keys: Iterable[OrderKey],
    status: str,
    run_id: str | None = None,
    *,
    only_from: Sequence[str] | None = None,
) -> int:
    """Move the orders ``keys`` to ``status`` (only those now in ``only_from``, when given)."""
    keys = list(keys)
    if not keys:
        return 0
    stmt = update(orders).where(tuple_(orders.c.source, orders.c.crm_order_id).in_(keys))
    if only_from:
        stmt = stmt.where(orders.c.status.in_(list(only_from)))
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if run_id:
        values["run_id"] = run_id
    return conn.execute(stmt.values(**values)).rowcount


def requeued_orders(conn: Connection, stages: Sequence[str]) -> list[OrderKey]:
    """The orders whose quarantine rows at ``stages`` operations requeued."""
    rows = conn.execute(
        select(quarantine.c.source, quarantine.c.record_key).where(
            quarantine.c.stage.in_(list(stages)), quarantine.c.status == "requeued"
        )
    )
    return [(r.source, crm_order_id_of(r.record_key)) for r in rows]
