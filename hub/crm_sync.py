"""The steps of ``crm_order_sync``: pull → raw gate → map and accept, one CRM at a time.

Each step reads what the previous one left in ``crm_inbox`` for the same run and returns counts
only, so the DAG's tasks stay thin adapters and XCom never carries order payloads. Every order
pulled ends either accepted (in ``orders``) or in the quarantine with the reason; the counts
returned balance: pulled = accepted + quarantined.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, tuple_, update

from hub import jsonable, order_review, quarantine
from hub.bulk import upsert
from hub.crm_sources import CrmSource, get_source
from hub.db import utcnow
from hub.lifecycle import NOT_IN_SAP, OrderState
from hub.schema import (
    crm_inbox,
    customer_map,
    material_map,
    order_allocations,
    order_confirmations,
    order_lines,
    orders,
    sync_cursors,
)
from transforms import crm_orders

RAW_GATE = "raw_crm_orders"
MAPPING_STAGE = "crm_mapping"
REVIEW_STAGE = "order_review"
ACCEPT_STAGE = "accepted_orders"
CRM_STAGES = (RAW_GATE, MAPPING_STAGE, REVIEW_STAGE, ACCEPT_STAGE)

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


# -- step 1: pull --------------------------------------------------------------------------------
SALES_ORDERS_STREAM = "sales_orders"
# Inbox stages a run has not finished with: a run that failed after its pull left its orders here.
OPEN_STAGES = ("pulled", "raw_passed")


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
    from hub.connections import get_connection
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
            order_id = crm_orders.crm_order_id_of(row.record_key)
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


def _refresh_masters(engine: Engine, source: CrmSource, client: Any, run_id: str) -> None:
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


# -- step 2: raw gate ----------------------------------------------------------------------------
# What reading a hostile record can raise (a list where an object was expected, a number out of a
# type's range): the record is quarantined whole, the others go on. Anything else is a bug and fails.
_UNREADABLE = (AttributeError, TypeError, ValueError, ArithmeticError, KeyError, IndexError)


def _unreadable(source_name: str, key: str, payload: Any, exc: Exception) -> quarantine.QuarantineRecord:
    return quarantine.QuarantineRecord(
        RAW_GATE,
        source_name,
        key,
        "Unreadable",
        f"order {crm_orders.crm_order_id_of(key)}: the CRM record cannot be read ({type(exc).__name__}: {exc})",
        payload if isinstance(payload, Mapping) else {"payload": payload},
        field="payload",
    )


def _inbox(conn: Connection, source_name: str, run_id: str, stage: str) -> list[Any]:
    return conn.execute(
        select(crm_inbox.c.crm_order_id, crm_inbox.c.payload)
        .where(crm_inbox.c.source == source_name, crm_inbox.c.run_id == run_id, crm_inbox.c.stage == stage)
        .order_by(crm_inbox.c.crm_order_id)
    ).all()


def _set_stage(conn: Connection, source_name: str, order_ids: Iterable[str], stage: str) -> None:
    ids = list(order_ids)
    for i in range(0, len(ids), 500):
        conn.execute(
            update(crm_inbox)
            .where(crm_inbox.c.source == source_name, crm_inbox.c.crm_order_id.in_(ids[i : i + 500]))
            .values(stage=stage, updated_at=utcnow())
        )


def raw_gate(engine: Engine, source_name: str, run_id: str) -> dict[str, Any]:
    """Run the raw gate on the pulled orders; an order with any bad line is quarantined whole."""
    import pandas as pd

    from quality.gate import run_gate

    source = get_source(source_name)
    with engine.begin() as conn:
        inbox = _inbox(conn, source_name, run_id, "pulled")
        lines, unreadable = [], []
        for oid, payload in inbox:
            key = crm_orders.record_key(source_name, oid)
            try:
                # Keyed by the inbox's order id: a record whose own id is junk stays this record.
                lines += [{**line, "record_key": key, "payload": payload} for line in source.raw_lines(payload)]
            except _UNREADABLE as exc:
                unreadable.append(_unreadable(source_name, key, payload, exc))
        quarantine.add(conn, unreadable, run_id)
        frame = pd.DataFrame(lines, columns=[*crm_orders.RAW_COLUMNS, "payload"])
        outcome = run_gate(RAW_GATE, frame, conn=conn, run_id=run_id, source=source_name)
        passed_keys = set(outcome.passed["record_key"]) if len(outcome.passed) else set()
        failed_keys = set(frame["record_key"]) - passed_keys if len(frame) else set()
        failed_keys |= {r.record_key for r in unreadable}
        # A passing line of a failing order must not slip through on its own.
        ok = [oid for oid, _ in inbox if crm_orders.record_key(source_name, oid) not in failed_keys]
        bad = [oid for oid, _ in inbox if crm_orders.record_key(source_name, oid) in failed_keys]
        _set_stage(conn, source_name, ok, "raw_passed")
        _set_stage(conn, source_name, bad, "quarantined")
    return {"source": source_name, "evaluated": len(inbox), "passed": len(ok), "quarantined": len(bad)}


# -- step 3: map and accept ----------------------------------------------------------------------
def _masters(conn: Connection, source_name: str) -> crm_orders.Masters:
    accounts = conn.execute(
        select(customer_map.c.crm_account_id, customer_map.c.customer_number, customer_map.c.name).where(
            customer_map.c.source == source_name
        )
    ).all()
    products = conn.execute(
        select(material_map.c.crm_product_id, material_map.c.material).where(material_map.c.source == source_name)
    ).all()
    return crm_orders.Masters(
        customers={a.crm_account_id: a.customer_number for a in accounts if a.customer_number},
        customer_names={a.crm_account_id: a.name for a in accounts},
        materials={p.crm_product_id: p.material for p in products if p.material},
    )


def _default_tax_rate(settings: Any, source_name: str) -> Decimal:
    """The VAT rate for lines whose CRM sends none: Fxiaoke tenants are Chinese (13 %)."""
    country = {"fxiaoke": "CN"}.get(source_name)
    return settings.tax.rates.get(country, Decimal(0)) if country else Decimal(0)


def accept(engine: Engine, source_name: str, run_id: str) -> dict[str, Any]:
    """Map raw-passed orders to canonical ones, review them, gate them, and upsert the accepted."""
    import pandas as pd

    from hub.settings import get_settings
    from quality.gate import run_gate

    settings = get_settings()
    source = get_source(source_name)
    tax_rate = _default_tax_rate(settings, source_name)
    held: list[quarantine.QuarantineRecord] = []
    canonical: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    with engine.begin() as conn:
        inbox = _inbox(conn, source_name, run_id, "raw_passed")
        payloads = {crm_orders.record_key(source_name, oid): p for oid, p in inbox}
        masters = _masters(conn, source_name)
        for key, payload in payloads.items():
            try:
                canonical[key] = crm_orders.canonical_order(
                    source.raw_lines(payload),
                    masters,
                    lambda _s: tax_rate,
                    settings.tax.decimal_rounding,
                    plant=settings.plants.default,
                    tax_rounding_scope=settings.tax.rounding_scope,
                )
            except crm_orders.MappingError as exc:
                held.append(
                    quarantine.QuarantineRecord(
                        MAPPING_STAGE,
                        source_name,
                        key,
                        "MappingError",
                        str(exc),
                        payload,
                        field=exc.field,
                    )
                )
                continue
            except _UNREADABLE as exc:  # past the raw gate only if a limit is missing: this record only
                held.append(
                    quarantine.QuarantineRecord(
                        MAPPING_STAGE,
                        source_name,
                        key,
                        type(exc).__name__,
                        f"order {crm_orders.crm_order_id_of(key)}: cannot be mapped ({exc})",
                        payload,
                    )
                )
                continue
            # The set-based write below fails for the whole batch on one value a column cannot hold.
            misfit = _misfit(*canonical[key])
            if misfit is not None:
                del canonical[key]
                field, detail = misfit
                held.append(
                    quarantine.QuarantineRecord(
                        ACCEPT_STAGE, source_name, key, "DoesNotFit", detail, payload, field=field
                    )
                )
        for key, findings in order_review.review_batch(conn, canonical, settings.tolerances.price_pct).items():
            held.append(
                quarantine.QuarantineRecord(
                    REVIEW_STAGE,
                    source_name,
                    key,
                    "BusinessRule",
                    "; ".join(f.message for f in findings),
                    payloads[key],
                    field=findings[0].field,
                    expectations=[f.rule for f in findings],
                )
            )
            del canonical[key]
        quarantine.add(conn, held, run_id)

        frame = pd.DataFrame(
            [
                {
                    "record_key": key,
                    "order_number": order["order_number"],
                    "customer_number": order["customer_number"],
                    "order_net_amount": order["net_amount"],
                    **line,
                    "payload": payloads[key],
                }
                for key, (order, lines) in canonical.items()
                for line in lines
            ]
        )
        outcome = run_gate(ACCEPT_STAGE, frame, conn=conn, run_id=run_id, source=source_name)
        passed = set(outcome.passed["record_key"]) if len(outcome.passed) else set()
        accepted = {k: v for k, v in canonical.items() if k in passed}
        written, unchanged, held_after_posting = _write_orders(conn, source_name, accepted, payloads, run_id)

        accepted_keys = [k for k in accepted if k not in held_after_posting]
        quarantine.resolve(conn, source_name, accepted_keys)
        accepted_ids = {crm_orders.crm_order_id_of(k) for k in accepted_keys}
        _set_stage(conn, source_name, accepted_ids, "accepted")
        rejected = [oid for oid, _ in inbox if oid not in accepted_ids]
        _set_stage(conn, source_name, rejected, "quarantined")
        withdrawn = _withdraw_rejected(conn, source_name, run_id)
    return {
        "source": source_name,
        "evaluated": len(inbox),
        "accepted": len(accepted_ids),
        "written": written,
        "unchanged": unchanged,
        "quarantined": len(rejected),
        "withdrawn": withdrawn,
    }


def _withdraw_rejected(conn: Connection, source_name: str, run_id: str) -> int:
    """Take back accepted-but-not-posted orders whose new CRM version this run quarantined.

    Otherwise the old version would sit in ``orders`` while the new one sits in the quarantine, and
    SAP would get what the customer no longer asked for. Orders SAP already has stay (see
    ``ChangedAfterPosting``); their lines go with them (ON DELETE CASCADE).
    """
    rejected = select(crm_inbox.c.crm_order_id).where(
        crm_inbox.c.source == source_name, crm_inbox.c.run_id == run_id, crm_inbox.c.stage == "quarantined"
    )
    where = (orders.c.source == source_name, orders.c.status.in_(NOT_IN_SAP), orders.c.crm_order_id.in_(rejected))
    withdrawn = select(orders.c.source, orders.c.crm_order_id).where(*where)
    # The posting flow's plan and confirmation rows go with the order (they have no foreign key).
    for table in (order_lines, order_allocations, order_confirmations):
        conn.execute(delete(table).where(tuple_(table.c.source, table.c.crm_order_id).in_(withdrawn)))
    return conn.execute(delete(orders).where(*where)).rowcount


def _misfit(order: Mapping[str, Any], lines: list[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(field, sentence) for the first value of a canonical order its hub column cannot hold, else None.

    The gates' limits (quality/limits.py) keep such values out; this is the last line before the
    set-based upsert, read from the columns themselves, so a limit missing there costs one record.
    """
    from hub.exact import ExactDecimal

    label = order.get("order_number") or order.get("crm_order_id")
    for table, rows in ((orders, [order]), (order_lines, lines)):
        for row in rows:
            where = f"order {label}" + (f" line {row['line_no']}" if table is order_lines else "")
            for name, value in row.items():
                if name not in table.c or value is None:
                    continue
                kind = table.c[name].type
                length = getattr(kind, "length", None)
                if isinstance(value, str) and length is not None and len(value) > length:
                    return name, f"{where}: {name} must be at most {length} characters for the hub (got {len(value)})"
                if isinstance(value, str) and ("\x00" in value or not _encodable(value)):
                    return name, f"{where}: {name} must not contain NUL or unpaired surrogates (got {value[:40]!r})"
                if isinstance(kind, ExactDecimal) and isinstance(value, Decimal | int):
                    number = Decimal(value)
                    if not number.is_finite() or abs(number) >= kind.limit:
                        numeric = f"NUMERIC({kind.precision},{kind.scale})"
                        return (
                            name,
                            f"{where}: {name} must be < {kind.limit:.0e} for the hub's {numeric} (got {number:.6g})",
                        )
                if name == "line_no" and isinstance(value, int) and not 0 < value < 2**31:
                    return name, f"{where}: {name} must fit an Integer column (got {value})"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _initial_state(order: dict[str, Any]) -> str:
    cancelled = order.get("crm_status") in crm_orders.CANCELLED_STATUSES
    return OrderState.CANCELLED if cancelled else OrderState.ACCEPTED


def _write_orders(
    conn: Connection,
    source_name: str,
    accepted: dict[str, tuple[dict, list[dict]]],
    payloads: Mapping[str, Any],
    run_id: str,
) -> tuple[int, int, set[str]]:
    """Upsert new and changed orders; refuse changes to orders SAP already has."""
    if not accepted:
        return 0, 0, set()
    ids = [order["crm_order_id"] for order, _ in accepted.values()]
    existing = {
        r.crm_order_id: r
        for r in conn.execute(
            select(orders.c.crm_order_id, orders.c.content_hash, orders.c.status).where(
                orders.c.source == source_name, orders.c.crm_order_id.in_(ids)
            )
        )
    }
    now = utcnow()
    to_write, held = [], set()
    for key, (order, lines) in accepted.items():
        prior = existing.get(order["crm_order_id"])
        if prior is not None and prior.content_hash == order["content_hash"]:
            continue
        if prior is not None and prior.status not in NOT_IN_SAP:
            held.add(key)
            continue
        to_write.append((order, lines))
    quarantine.add(
        conn,
        [
            quarantine.QuarantineRecord(
                ACCEPT_STAGE,
                source_name,
                key,
                "ChangedAfterPosting",
                f"order {accepted[key][0]['order_number']}: changed in the CRM after it was posted to SAP "
                f"(status {existing[accepted[key][0]['crm_order_id']].status}); change it in SAP or cancel it there",
                payloads[key],
            )
            for key in held
        ],
        run_id,
    )
    if to_write:
        changed = [(source_name, o["crm_order_id"]) for o, _ in to_write]
        conn.execute(delete(order_lines).where(tuple_(order_lines.c.source, order_lines.c.crm_order_id).in_(changed)))
        upsert(
            conn,
            orders,
            # A customer's cancellation before SAP has the order ends it here: never planned, posted or confirmed.
            [{**o, "status": _initial_state(o), "run_id": run_id, "updated_at": now} for o, _ in to_write],
            key=("source", "crm_order_id"),
        )
        upsert(
            conn, order_lines, [ln for _, lines in to_write for ln in lines], key=("source", "crm_order_id", "line_no")
        )
    return len(to_write), len(accepted) - len(to_write) - len(held), held
