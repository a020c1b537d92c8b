"""The ledger: every write to an outside system goes through here, exactly once (DESIGN §3.2).

A send is recorded *before* the call (status ``in_flight``, attempts + 1) and its result after.
So a task killed between the call and the record leaves an ``in_flight`` row behind; the retry
then asks ``lookup`` ("does the target already have it?") before calling again, and records what
the target says instead of sending twice.

Rules:
- same key, same payload hash, already sent → the stored result, no call;
- same key, different payload hash → ``LedgerConflict`` for a human, never a silent resend;
- a row held by another worker → ``LedgerBusy`` (retry later). Claims use
  ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers by itself.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub import jsonable
from hub.db import utcnow
from hub.schema import ledger


@dataclass(frozen=True)
class Delivered:
    """What the outside system answered: its reference (e.g. the SAP order number) and body."""

    ref: str | None = None
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class SendResult:
    target: str
    key: str
    ref: str | None
    response: dict[str, Any] | None
    called: bool  # False when the stored or looked-up result was returned without a call


class LedgerError(Exception):
    pass


class LedgerConflict(LedgerError):
    """Same idempotency key, different payload: a human must decide."""

    def __init__(self, target: str, key: str, stored_hash: str, new_hash: str) -> None:
        super().__init__(
            f"ledger {target}/{key}: payload changed since it was first sent "
            f"(stored {stored_hash[:12]}…, now {new_hash[:12]}…); not resending"
        )
        self.target, self.key = target, key


class LedgerBusy(LedgerError):
    """Another worker holds the claim on this entry; try again after its lease."""


def payload_hash(payload: Any) -> str:
    return hashlib.sha256(jsonable.dumps(payload, canonical=True).encode()).hexdigest()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Ledger:
    """Exactly-once sends over one hub database.

    ``owner`` identifies the logical worker (e.g. ``dag.task[map_index]``): a retry of the same
    task may take over its own expired-or-not ``in_flight`` claim, another owner must wait for
    the lease to run out.
    """

    def __init__(self, engine: Engine, owner: str | None = None, lease: timedelta = timedelta(minutes=10)):
        self.engine = engine
        self.owner = owner or default_owner()
        self.lease = lease

    # -- the one public write path -------------------------------------------------------------
    def send(
        self,
        target: str,
        key: str,
        payload: Any,
        call: Callable[[Any], Delivered],
        lookup: Callable[[Any], Delivered | None] | None = None,
    ) -> SendResult:
        """Send ``payload`` to ``target`` once under ``key``; see the module docstring."""
        digest = payload_hash(payload)
        row = self._claim(target, key, payload, digest)
        if row.status == "sent":
            return SendResult(target, key, row.response_ref, row.response, called=False)

        if row.attempts > 0 and lookup is not None:
            # An earlier attempt may have reached the target before we lost track of it.
            found = lookup(payload)
            if found is not None:
                self._record_sent(row.id, found)
                return SendResult(target, key, found.ref, found.response, called=False)

        try:
            outcome = call(payload)
        except BaseException as exc:
            self._record_failed(row.id, exc)
            raise
        self._record_sent(row.id, outcome)
        return SendResult(target, key, outcome.ref, outcome.response, called=True)

    def send_many(
        self,
        target: str,
        items: Sequence[tuple[str, Any]],
        call: Callable[[list[Any]], Sequence[Delivered | Exception]],
        lookup: Callable[[list[Any]], Sequence[Delivered | None]] | None = None,
        *,
        lookup_first: bool = False,
        replace_unsent: bool = False,
    ) -> list[SendResult | Exception]:
        """:meth:`send` for many ``(key, payload)`` items with one ``call`` for all that need sending
        (e.g. one SAP ``$batch``), keeping their order. ``call`` and ``lookup`` answer per payload, in
        order; an exception in the answer fails that item only, one raised by ``call`` fails all it was
        given. ``lookup_first`` asks ``lookup`` about every unsent item, not only retried ones (SAP
        orders: the target may hold the document even when the ledger has never seen it).
        ``replace_unsent`` (only with ``lookup_first``) lets a new payload take the place of one that
        failed or never went out, instead of a LedgerConflict: an order fixed after the target refused
        it is sent in its new form, once the lookup has shown the target holds no earlier version.
        Returns per item a SendResult or the exception (LedgerConflict/LedgerBusy included).
        """
        results: list[SendResult | Exception | None] = [None] * len(items)
        waiting: list[tuple[int, Row]] = []
        for i, (key, payload) in enumerate(items):
            try:
                row = self._claim(target, key, payload, payload_hash(payload), replace_unsent=replace_unsent)
            except LedgerError as exc:
                results[i] = exc
                continue
            if row.status == "sent":
                results[i] = SendResult(target, key, row.response_ref, row.response, called=False)
            else:
                waiting.append((i, row))

        retried = [(i, row) for i, row in waiting if lookup_first or row.attempts > 0]
        if retried and lookup is not None:
            # Earlier attempts may have reached the target before we lost track of them.
            try:
                answers_found = lookup([items[i][1] for i, _ in retried])
            except Exception as exc:  # noqa: BLE001 - cannot tell what the target holds: send none of them
                for i, row in retried:
                    self._record_failed(row.id, exc)
                    results[i] = exc
                answers_found = [None] * len(retried)
            for (i, row), found in zip(retried, answers_found, strict=True):
                if found is not None:
                    self._record_sent(row.id, found)
                    results[i] = SendResult(target, items[i][0], found.ref, found.response, called=False)
            waiting = [(i, row) for i, row in waiting if results[i] is None]

        if waiting:
            try:
                answers: Sequence[Delivered | Exception] = call([items[i][1] for i, _ in waiting])
            except Exception as exc:  # noqa: BLE001 - the whole call failed: so did every item in it
                answers = [exc] * len(waiting)
            for (i, row), answer in zip(waiting, answers, strict=True):
                if isinstance(answer, Exception):
                    self._record_failed(row.id, answer)
                    results[i] = answer
                else:
                    self._record_sent(row.id, answer)
                    results[i] = SendResult(target, items[i][0], answer.ref, answer.response, called=True)
        return results  # type: ignore[return-value] - every slot is filled above

    # -- claims --------------------------------------------------------------------------------
    def _claim(self, target: str, key: str, payload: Any, digest: str, *, replace_unsent: bool = False) -> Row:
        """Insert the entry if new, lock it, and mark it in flight for this owner.

        Returns the row as it was *before* this claim (status and attempts of earlier tries).
        """
        now = utcnow()
        with self.engine.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(
                insert(ledger)
                .values(
                    target=target,
                    idem_key=key,
                    payload_hash=digest,
                    payload=jsonable.plain(payload),
                    status="pending",
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["target", "idem_key"])
            )
            row = conn.execute(
                select(ledger)
                .where(ledger.c.target == target, ledger.c.idem_key == key)
                .with_for_update(skip_locked=True)
            ).one_or_none()
            if row is None:
                raise LedgerBusy(f"ledger {target}/{key} is being sent by another worker")
            if row.payload_hash != digest:
                if not (replace_unsent and row.status in ("pending", "failed")):
                    raise LedgerConflict(target, key, row.payload_hash, digest)
                conn.execute(
                    update(ledger)
                    .where(ledger.c.id == row.id)
                    .values(payload=jsonable.plain(payload), payload_hash=digest, updated_at=now)
                )
            if row.status == "sent":
                return row
            if row.status == "in_flight" and row.claimed_by != self.owner and _aware(row.claimed_until) > now:
                raise LedgerBusy(f"ledger {target}/{key} is claimed by {row.claimed_by} until {row.claimed_until}")
            self._mark_in_flight(conn, [row.id], now)
            return row

    def _mark_in_flight(self, conn: Connection, ids: list[int], now: datetime) -> None:
        conn.execute(
            update(ledger)
            .where(ledger.c.id.in_(ids))
            .values(
                status="in_flight",
                attempts=ledger.c.attempts + 1,
                claimed_by=self.owner,
                claimed_until=now + self.lease,
                updated_at=now,
            )
        )

    def claim_batch(self, target: str, limit: int = 100) -> list[Row]:
        """Claim up to ``limit`` entries of ``target`` waiting to be (re)sent.

        Parallel workers calling this get disjoint batches: rows another worker has locked are
        skipped, not waited for.
        """
        now = utcnow()
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(ledger)
                .where(
                    ledger.c.target == target,
                    or_(
                        ledger.c.status == "pending",
                        and_(ledger.c.status == "in_flight", ledger.c.claimed_until < now),
                    ),
                )
                .order_by(ledger.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                self._mark_in_flight(conn, [r.id for r in rows], now)
            return rows

    def resend_claimed(
        self,
        rows: list[Row],
        call: Callable[[Any], Delivered],
        lookup: Callable[[Any], Delivered | None] | None = None,
    ) -> Iterator[tuple[Row, SendResult | Exception]]:
        """Send rows claimed by :meth:`claim_batch`, asking ``lookup`` first; yield each outcome."""
        for row in rows:
            try:
                found = lookup(row.payload) if lookup is not None else None
                outcome = found or call(row.payload)
            except Exception as exc:  # noqa: BLE001 - one failed entry must not stop the batch
                self._record_failed(row.id, exc)
                yield row, exc
                continue
            self._record_sent(row.id, outcome)
            yield row, SendResult(row.target, row.idem_key, outcome.ref, outcome.response, called=found is None)

    # -- results -------------------------------------------------------------------------------
    def _record_sent(self, entry_id: int, outcome: Delivered) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                update(ledger)
                .where(ledger.c.id == entry_id)
                .values(
                    status="sent",
                    response_ref=outcome.ref,
                    response=outcome.response,
                    last_error=None,
                    claimed_by=None,
                    claimed_until=None,
                    sent_at=now,
                    updated_at=now,
                )
            )

    def _record_failed(self, entry_id: int, exc: BaseException) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(ledger)
                .where(ledger.c.id == entry_id)
                .values(
                    status="failed",
                    last_error=f"{type(exc).__name__}: {exc}"[:4000],
                    claimed_by=None,
                    claimed_until=None,
                    updated_at=utcnow(),
                )
            )


# -- operations (hub ledger list | retry) ------------------------------------------------------
def list_entries(engine: Engine, status: str | None = None, target: str | None = None, limit: int = 200) -> list[Row]:
    query = (
        select(
            ledger.c.id,
            ledger.c.target,
            ledger.c.idem_key,
            ledger.c.status,
            ledger.c.attempts,
            ledger.c.response_ref,
            ledger.c.last_error,
            ledger.c.updated_at,
        )
        .order_by(ledger.c.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(ledger.c.status == status)
    if target:
        query = query.where(ledger.c.target == target)
    with engine.connect() as conn:
        return conn.execute(query).all()


def requeue_failed(engine: Engine, ids: list[int] | None = None, target: str | None = None) -> int:
    """Mark failed entries pending again; the owning flow re-sends them on its next run.

    Attempts are kept, so the re-send asks the target first whether an earlier try got through.
    """
    stmt = update(ledger).where(ledger.c.status == "failed").values(status="pending", updated_at=utcnow())
    if ids:
        stmt = stmt.where(ledger.c.id.in_(ids))
    if target:
        stmt = stmt.where(ledger.c.target == target)
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount


def _aware(value: datetime | None) -> datetime:
    """SQLite returns naive datetimes; the hub stores UTC everywhere."""
    from datetime import UTC

    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
