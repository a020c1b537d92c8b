"""The alert history and the state of watched alerts, for ``flows.alerting`` (which decides and sends),
operations and the ops report.

``alerts`` holds one row per alert message: a failure record (:func:`record`, no message id), or a
message of :mod:`flows.alerting` with its stable ``message_id`` (unique), the numbers that triggered
it, what to do, and per channel what became of it. ``alert_states`` holds, per alert type and key, what
the checks last saw: open or resolved, since when, when it was last told.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub import jsonable
from hub.db import utcnow
from hub.schema import alert_states, alerts

# Delivery states per channel of one message; the first three are final.
SENT, REFUSED, SKIPPED, PENDING, WAITING = "sent", "refused", "skipped", "pending", "waiting"
FINAL = (SENT, REFUSED, SKIPPED)


def record(
    engine: Engine, kind: str, dag_id: str | None, run_id: str | None, task_id: str | None, message: str
) -> None:
    """A plain record in the history (no message to anyone)."""
    with engine.begin() as conn:
        conn.execute(
            insert(alerts).values(
                kind=kind, dag_id=dag_id, run_id=run_id, task_id=task_id, message=message[:4000], created_at=utcnow()
            )
        )


def add_message(engine: Engine, values: Mapping[str, Any]) -> int | None:
    """Store one alert message; None when a message with the same ``message_id`` is stored already."""
    row = {**values, "message": str(values["message"])[:4000], "facts": jsonable.plain(values.get("facts") or {})}
    row.setdefault("created_at", utcnow())
    try:
        with engine.begin() as conn:
            return conn.execute(insert(alerts).values(**row).returning(alerts.c.id)).scalar_one()
    except IntegrityError:
        with engine.connect() as conn:
            exists = conn.execute(select(alerts.c.id).where(alerts.c.message_id == row["message_id"])).first()
        if exists is None:
            raise
        return None


def undelivered(engine: Engine, since: datetime, limit: int = 500) -> list[Row]:
    """Messages created since ``since`` with a channel that is not final yet, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(alerts).where(alerts.c.message_id.is_not(None), alerts.c.created_at >= since).order_by(alerts.c.id)
        ).all()
    return [r for r in rows if any(d.get("status") not in FINAL for d in (r.deliveries or {}).values())][:limit]


def set_delivery(engine: Engine, alert_id: int, channel: str, status: str, detail: str | None = None) -> None:
    with engine.begin() as conn:
        current = conn.execute(select(alerts.c.deliveries).where(alerts.c.id == alert_id)).scalar_one()
        deliveries = dict(current or {})
        deliveries[channel] = {"status": status, **({"detail": detail[:500]} if detail else {})}
        conn.execute(update(alerts).where(alerts.c.id == alert_id).values(deliveries=deliveries))


def messages(engine: Engine, kind: str | None = None, alert_key: str | None = None) -> list[Row]:
    """The alert messages (rows with a message id), oldest first."""
    query = select(alerts).where(alerts.c.message_id.is_not(None)).order_by(alerts.c.id)
    if kind:
        query = query.where(alerts.c.kind == kind)
    if alert_key:
        query = query.where(alerts.c.alert_key == alert_key)
    with engine.connect() as conn:
        return conn.execute(query).all()


# -- watched alerts ------------------------------------------------------------------------------------
def states(conn: Connection, alert_type: str) -> dict[str, Row]:
    """The stored states of one alert type, by key."""
    rows = conn.execute(select(alert_states).where(alert_states.c.alert_type == alert_type)).all()
    return {r.alert_key: r for r in rows}


def save_state(conn: Connection, alert_type: str, alert_key: str, values: Mapping[str, Any], *, new: bool) -> None:
    row = {**values, "updated_at": utcnow()}
    if "facts" in row:
        row["facts"] = jsonable.plain(row["facts"])
    if new:
        conn.execute(insert(alert_states).values(alert_type=alert_type, alert_key=alert_key, **row))
    else:
        conn.execute(
            update(alert_states)
            .where(alert_states.c.alert_type == alert_type, alert_states.c.alert_key == alert_key)
            .values(**row)
        )


def open_states(engine: Engine) -> list[Row]:
    with engine.connect() as conn:
        return conn.execute(
            select(alert_states).where(alert_states.c.status == "open").order_by(alert_states.c.alert_type)
        ).all()
