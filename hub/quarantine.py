"""The quarantine: records refused at a stage, with the reason, kept for replay (DESIGN §3.1).

One row per (stage, source, record key). Re-pulling the same bad record updates its row; a record
that later passes the stage resolves it; operations requeue rows so the owning flow feeds their
payload through again on its next run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update

from hub import jsonable
from hub.bulk import upsert
from hub.db import utcnow
from hub.schema import quarantine


@dataclass(frozen=True)
class QuarantineRecord:
    stage: str
    source: str
    record_key: str
    error_class: str
    detail: str
    payload: dict[str, Any]
    field: str | None = None
    expectations: list[str] = dataclasses.field(default_factory=list)


def add(conn: Connection, records: Iterable[QuarantineRecord], run_id: str | None = None) -> int:
    """Put ``records`` in the quarantine (status open); return how many."""
    now = utcnow()
    rows = [
        {
            "stage": r.stage,
            "source": r.source,
            "record_key": r.record_key,
            "error_class": r.error_class,
            "field": r.field,
            "detail": r.detail[:4000],
            "expectations": list(r.expectations),
            "payload": jsonable.plain(r.payload),
            "status": "open",
            "run_id": run_id,
            "created_at": now,
            "updated_at": now,
        }
        for r in records
    ]
    if not rows:
        return 0
    return upsert(
        conn,
        quarantine,
        rows,
        key=("stage", "source", "record_key"),
        update=("error_class", "field", "detail", "expectations", "payload", "status", "run_id", "updated_at"),
    )


def resolve(conn: Connection, source: str, record_keys: Sequence[str], stages: Sequence[str] | None = None) -> int:
    """Close the quarantine rows of records that have now passed."""
    if not record_keys:
        return 0
    stmt = (
        update(quarantine)
        .where(quarantine.c.source == source, quarantine.c.record_key.in_(list(record_keys)))
        .where(quarantine.c.status != "resolved")
        .values(status="resolved", updated_at=utcnow())
    )
    if stages:
        stmt = stmt.where(quarantine.c.stage.in_(list(stages)))
    return conn.execute(stmt).rowcount


def requeued(conn: Connection, source: str, stages: Sequence[str]) -> list[Row]:
    """Rows operations asked to replay for ``source`` at ``stages``."""
    return conn.execute(
        select(quarantine)
        .where(quarantine.c.source == source, quarantine.c.stage.in_(list(stages)), quarantine.c.status == "requeued")
        .order_by(quarantine.c.id)
    ).all()


def list_records(
    engine: Engine,
    status: str | None = "open",
    stage: str | None = None,
    source: str | None = None,
    limit: int = 200,
) -> list[Row]:
    query = select(quarantine).order_by(quarantine.c.id.desc()).limit(limit)
    for col, value in (("status", status), ("stage", stage), ("source", source)):
        if value:
            query = query.where(quarantine.c[col] == value)
    with engine.connect() as conn:
        return conn.execute(query).all()


def requeue(
    engine: Engine,
    ids: Sequence[int] | None = None,
    stage: str | Sequence[str] | None = None,
    source: str | None = None,
) -> int:
    """Mark open rows for replay (``hub quarantine requeue`` and the DAG param)."""
    stmt = update(quarantine).where(quarantine.c.status == "open").values(status="requeued", updated_at=utcnow())
    if ids:
        stmt = stmt.where(quarantine.c.id.in_(list(ids)))
    if stage:
        stmt = stmt.where(quarantine.c.stage.in_([stage] if isinstance(stage, str) else list(stage)))
    if source:
        stmt = stmt.where(quarantine.c.source == source)
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount


def supersede(conn: Connection, stage: str, source: str) -> int:
    """Resolve every unresolved row of a stage whose input is a full snapshot: the new snapshot's
    failures are added again, the rest were fixed at the source."""
    return conn.execute(
        update(quarantine)
        .where(quarantine.c.stage == stage, quarantine.c.source == source, quarantine.c.status != "resolved")
        .values(status="resolved", updated_at=utcnow())
    ).rowcount
