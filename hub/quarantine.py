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

from sqlalchemy import Connection, Engine, Row, func, select, update

from hub import jsonable
from hub.bulk import upsert
from hub.db import count_in_chunks, utcnow
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
        .where(quarantine.c.source == source, quarantine.c.status != "resolved")
        .values(status="resolved", updated_at=utcnow())
    )
    if stages:
        stmt = stmt.where(quarantine.c.stage.in_(list(stages)))
    return count_in_chunks(conn, record_keys, lambda chunk: stmt.where(quarantine.c.record_key.in_(chunk)))


def requeued(conn: Connection, source: str, stages: Sequence[str]) -> list[Row]:
    """Rows operations asked to replay for ``source`` at ``stages``."""
    return conn.execute(
        select(quarantine)
        .where(quarantine.c.source == source, quarantine.c.stage.in_(list(stages)), quarantine.c.status == "requeued")
        .order_by(quarantine.c.id)
    ).all()


STATUSES = ("open", "requeued", "resolved")


def _filtered(query, status: str | None, stage: str | None, source: str | None, error_class: str | None):  # noqa: ANN001, ANN202
    for col, value in (("status", status), ("stage", stage), ("source", source), ("error_class", error_class)):
        if value:
            query = query.where(quarantine.c[col] == value)
    return query


def list_records(
    engine: Engine,
    status: str | None = "open",
    stage: str | None = None,
    source: str | None = None,
    limit: int = 200,
    *,
    error_class: str | None = None,
    offset: int = 0,
) -> list[Row]:
    """Rows matching the filters, newest first (``limit`` rows from ``offset``)."""
    query = select(quarantine).order_by(quarantine.c.id.desc()).limit(limit).offset(offset)
    with engine.connect() as conn:
        return conn.execute(_filtered(query, status, stage, source, error_class)).all()


def count_records(
    engine: Engine,
    status: str | None = "open",
    stage: str | None = None,
    source: str | None = None,
    *,
    error_class: str | None = None,
) -> int:
    """How many rows match the filters (the M of "showing N of M")."""
    query = _filtered(select(func.count()).select_from(quarantine), status, stage, source, error_class)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def get_record(engine: Engine, record_id: int) -> Row | None:
    """One row by id, whatever its status."""
    with engine.connect() as conn:
        return conn.execute(select(quarantine).where(quarantine.c.id == record_id)).first()


def summary(engine: Engine, status: str | None = "open") -> list[Row]:
    """Counts per (stage, source, error_class) of the rows with ``status`` (all with ``None``),
    largest first: what is held back, where and why."""
    n = func.count().label("count")
    query = select(quarantine.c.stage, quarantine.c.source, quarantine.c.error_class, n).group_by(
        quarantine.c.stage, quarantine.c.source, quarantine.c.error_class
    )
    query = _filtered(query, status, None, None, None).order_by(n.desc(), quarantine.c.stage, quarantine.c.source)
    with engine.connect() as conn:
        return conn.execute(query).all()


def known_values(engine: Engine) -> dict[str, list[str]]:
    """The stages, sources and error classes the quarantine has held (any status), sorted: what a
    filter can name."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for col in ("stage", "source", "error_class"):
            column = quarantine.c[col]
            out[col] = [v for (v,) in conn.execute(select(column).distinct().order_by(column))]
    return out


def requeue(
    engine: Engine,
    ids: Sequence[int] | None = None,
    stage: str | Sequence[str] | None = None,
    source: str | None = None,
) -> int:
    """Mark open rows for replay (``hub quarantine requeue`` and the DAG param)."""
    stmt = update(quarantine).where(quarantine.c.status == "open").values(status="requeued", updated_at=utcnow())
    if stage:
        stmt = stmt.where(quarantine.c.stage.in_([stage] if isinstance(stage, str) else list(stage)))
    if source:
        stmt = stmt.where(quarantine.c.source == source)
    with engine.begin() as conn:
        if ids:
            return count_in_chunks(conn, ids, lambda chunk: stmt.where(quarantine.c.id.in_(chunk)))
        return conn.execute(stmt).rowcount


def supersede(conn: Connection, stage: str, source: str) -> int:
    """Resolve every unresolved row of a stage whose input is a full snapshot: the new snapshot's
    failures are added again, the rest were fixed at the source."""
    return conn.execute(
        update(quarantine)
        .where(quarantine.c.stage == stage, quarantine.c.source == source, quarantine.c.status != "resolved")
        .values(status="resolved", updated_at=utcnow())
    ).rowcount


def field_paths(payload: Any, field: str | None, limit: int = 20) -> list[tuple[str, Any]]:
    """Where ``field`` occurs in a record's payload, as (JSON path, value) pairs, for the operator
    who has to fix it: ``[("lines[3].quantity", 80)]``. A dotted field (``lines.quantity``) matches
    its last part."""
    if not field:
        return []
    name = field.rsplit(".", 1)[-1]
    found: list[tuple[str, Any]] = []

    def walk(node: Any, path: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}.{key}" if path else str(key)
                if key == name:
                    found.append((here, value))
                walk(value, here)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(payload, "")
    return found[:limit]
