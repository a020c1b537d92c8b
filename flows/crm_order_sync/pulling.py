"""Step 1, pull: the orders a CRM changed since the stored high-water mark land in ``crm_inbox``,
with the CRM's account and product mappings refreshed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from connectors.crm import CrmAdapter
from flows.crm_order_sync.stages import CRM_STAGES, OPEN_STAGES
from flows.crms import adapter as get_source
from hub import jsonable, quarantine
from hub.bulk import upsert
from hub.db import utcnow
from hub.keys import crm_order_id_of
from hub.schema import (
    crm_inbox,
    customer_map,
    material_map,
    sync_cursors,
)
from transforms.crm_orders import parse_time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """The data interval a run covers: [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start} .. {self.end}")


def _payload_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(jsonable.dumps(payload, canonical=True).encode()).hexdigest()


SALES_ORDERS_STREAM = "sales_orders"


@dataclass(frozen=True)
class Incremental:
    """A scheduled pull: from the stored high-water mark (minus the overlap) up to ``end``.

    ``end`` is the run's data interval end, or its ``run_after`` for a run triggered without a
    logical date. ``interval_start`` is the data interval start when the run has one: the pull then
    reaches back at least that far, so clearing an old scheduled run pulls its own interval again.
    """

    end: datetime
    interval_start: datetime | None = None

    def __post_init__(self) -> None:
        if self.end.tzinfo is None or (self.interval_start is not None and self.interval_start.tzinfo is None):
            raise ValueError("pull bounds must be timezone-aware")


def high_water_mark(conn: Connection, source_name: str) -> datetime | None:
    """The end bound (exclusive) up to which ``source_name``'s orders were last pulled, or None."""
    value = conn.execute(
        select(sync_cursors.c.cursor_value).where(
            sync_cursors.c.source == source_name, sync_cursors.c.stream == SALES_ORDERS_STREAM
        )
    ).scalar_one_or_none()
    return datetime.fromisoformat(value) if value else None


def pull_range(
    mark: datetime | None,
    span: Window | Incremental,
    *,
    overlap_seconds: int = 0,
    initial_from: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The ``[from, to)`` of CRM modification times a pull reads (``from >= to``: nothing to read).

    - an explicit :class:`Window` (the params ``window_start`` / ``window_end``): exactly that window;
    - an :class:`Incremental` pull: from the high-water mark ``mark`` minus the overlap (the first
      pull of a CRM: from ``crm.initial_pull_from``), and at least from the run's data interval start
      minus the overlap, up to the interval end.

    The high-water mark is the *end bound we pulled up to*, on Airflow's clock, not the newest
    modification time the CRM reported: it says exactly which range is covered, also after quiet
    periods with no changes, and a run that pulled nothing still moves it. The CRM's clock and ours
    differ, and a CRM may make a change visible a moment after stamping it, so every pull reaches
    back ``crm.overlap_seconds`` before the mark; orders read twice are merged by id.
    """
    if isinstance(span, Window):
        return span.start, span.end
    overlap = timedelta(seconds=overlap_seconds)
    candidates = []
    if mark is not None:
        candidates.append(mark - overlap)
    elif initial_from is not None:
        candidates.append(initial_from)
    if span.interval_start is not None:
        candidates.append(span.interval_start - overlap)
    if not candidates:
        raise ValueError(
            "nothing pulled from this CRM yet and the run has no data interval: set crm.initial_pull_from "
            "(ISO-8601 with an offset) to where the first pull starts, or give window_start / window_end"
        )
    return min(candidates), span.end


def span_of_run(
    params: Mapping[str, Any],
    interval_start: datetime | None,
    interval_end: datetime | None,
    run_after: datetime,
) -> Window | Incremental:
    """What a run pulls, from the run's own values only (never the wall clock).

    The params ``window_start`` (and optionally ``window_end``) ask for exactly that window, which
    leaves the high-water mark alone. Otherwise the pull is incremental, from the high-water mark up
    to the data interval end; a run triggered without a logical date (REST API, ``airflow dags
    trigger`` without ``-l``) has no data interval and pulls up to its ``run_after``.
    """
    bounds = {}
    for name in ("window_start", "window_end"):
        raw = params.get(name)
        if raw and parse_time(raw) is None:
            raise ValueError(f"param {name}={raw!r} is not an ISO-8601 time with an offset, e.g. 2026-11-20T00:00:00Z")
        bounds[name] = parse_time(raw) if raw else None
    end = interval_end or run_after
    if bounds["window_start"] is not None:
        return Window(bounds["window_start"], bounds["window_end"] or end)
    if bounds["window_end"] is not None:
        raise ValueError(
            "param window_end needs window_start: give both to re-run a window, or neither to pull from the "
            "high-water mark"
        )
    return Incremental(end, interval_start)


def pull(
    engine: Engine,
    source_name: str,
    window: Window | Incremental,
    run_id: str,
    *,
    overlap_seconds: int = 0,
    initial_from: datetime | None = None,
    requeue: bool = False,
    client: Any = None,
) -> dict[str, Any]:
    """Pull the orders the CRM changed in the pull range (see :func:`pull_range`) into the inbox.

    Nothing is lost when a run fails: the inbox rows and the high-water mark are written in one
    transaction, so a pull that fails moves nothing and the next one reads its range again; and
    the orders a failed run pulled but did not finish (inbox stage ``pulled`` or ``raw_passed``)
    are taken over by the next pull, which runs them through the raw gate and accept again (a newer
    version the CRM sent wins). An :class:`Incremental` pull advances the mark to its end, never
    back; an explicit :class:`Window` (a re-run of a chosen window) never moves it.

    Requeued quarantine records of this CRM are fed in too, unless the CRM sent a version of the
    same order in this pull (the CRM's current version wins).
    """
    from flows.connections import get_connection
    from hub.token_cache import token_store

    source = get_source(source_name)
    with engine.connect() as conn:
        mark = high_water_mark(conn, source_name)
    start, end = pull_range(mark, window, overlap_seconds=overlap_seconds, initial_from=initial_from)
    client = client or source.make_client(get_connection(source.conn_id), token_store(engine))
    try:
        _refresh_masters(engine, source, client, run_id)
        # The overlap re-reads records near the boundary; keyed by id, each order appears once.
        pulled = {source.order_id(o): o for o in client.iter_sales_orders(start, end)} if start < end else {}
        source.enrich(client, list(pulled.values()))
    finally:
        client.close()

    if requeue:
        quarantine.requeue(engine, stage=CRM_STAGES, source=source_name)
    with engine.begin() as conn:
        now = utcnow()
        # Orders a failed run left unfinished belong to this run now.
        adopted = conn.execute(
            update(crm_inbox)
            .where(crm_inbox.c.source == source_name, crm_inbox.c.stage.in_(OPEN_STAGES))
            .values(run_id=run_id, stage="pulled", updated_at=now)
        ).rowcount
        replays = {}
        for row in quarantine.requeued(conn, source_name, CRM_STAGES):
            order_id = crm_order_id_of(row.record_key)
            if order_id not in pulled:
                replays[order_id] = row.payload
        rows = [
            {
                "source": source_name,
                "crm_order_id": order_id,
                "modified_at": source.modified_at(payload),
                "payload": payload,
                "payload_hash": _payload_hash(payload),
                "run_id": run_id,
                "stage": "pulled",
                "updated_at": now,
            }
            for order_id, payload in (pulled | replays).items()
        ]
        # run_id is compared here: an unchanged order pulled again belongs to this run now.
        upsert(conn, crm_inbox, rows, key=("source", "crm_order_id"), ignore=frozenset({"updated_at"}))
        new_mark = mark
        if isinstance(window, Incremental):
            # Re-read under the transaction: the mark only ever moves forward.
            current = high_water_mark(conn, source_name)
            new_mark = max(m for m in (current, end) if m is not None)
            if new_mark != current:
                upsert(
                    conn,
                    sync_cursors,
                    [
                        {
                            "source": source_name,
                            "stream": SALES_ORDERS_STREAM,
                            "cursor_value": new_mark.astimezone(UTC).isoformat(),
                            "run_id": run_id,
                            "updated_at": now,
                        }
                    ],
                    key=("source", "stream"),
                )
        in_run = conn.execute(
            select(func.count())
            .select_from(crm_inbox)
            .where(crm_inbox.c.source == source_name, crm_inbox.c.run_id == run_id, crm_inbox.c.stage == "pulled")
        ).scalar_one()
    result = {
        "source": source_name,
        "pulled": in_run,
        "from_crm": len(pulled),
        "replayed": len(replays),
        "adopted": adopted,
        "range": [start.isoformat(), end.isoformat()],
        "high_water_mark": new_mark.isoformat() if new_mark else None,
    }
    log.info(
        "%s: pulled %d orders changed in [%s, %s) (+%d replayed from the quarantine, +%d left by a failed run); "
        "high-water mark %s",
        source_name,
        len(pulled),
        start.isoformat(),
        end.isoformat(),
        len(replays),
        adopted,
        result["high_water_mark"],
    )
    return result


def _refresh_masters(engine: Engine, source: CrmAdapter, client: Any, run_id: str) -> None:
    """Refresh the account → customer and product → material mappings from the CRM.

    Incremental: each stream reads what changed since the newest modification time it has seen
    (inclusive, so a record stamped on the cursor is read again, harmlessly).
    """
    now = utcnow()
    for stream, table, key, fetch, to_row in (
        ("accounts", customer_map, "crm_account_id", client.list_accounts, source.account),
        ("products", material_map, "crm_product_id", client.list_products, source.product),
    ):
        with engine.connect() as conn:
            cursor = conn.execute(
                select(sync_cursors.c.cursor_value).where(
                    sync_cursors.c.source == source.name, sync_cursors.c.stream == stream
                )
            ).scalar_one_or_none()
        since = datetime.fromisoformat(cursor) if cursor else None
        rows = [{**to_row(r), "source": source.name, "updated_at": now} for r in fetch(modified_since=since)]
        newest = max((r["crm_modified_at"] for r in rows if r["crm_modified_at"]), default=None)
        with engine.begin() as conn:
            upsert(conn, table, rows, key=("source", key))
            if newest is not None and (since is None or newest > since):
                upsert(
                    conn,
                    sync_cursors,
                    [
                        {
                            "source": source.name,
                            "stream": stream,
                            "cursor_value": newest.isoformat(),
                            "run_id": run_id,
                            "updated_at": now,
                        }
                    ],
                    key=("source", "stream"),
                )
