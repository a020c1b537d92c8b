"""The ledger: every write to an outside system goes through here, exactly once (DESIGN §3.2).

A send is recorded *before* the call (status ``in_flight``, attempts + 1) and its result after.
So a task killed between the call and the record leaves an ``in_flight`` row behind; the retry
then asks ``lookup`` ("does the target already have it?") before calling again, and records what
the target says instead of sending twice.

Rules:
- same key, same payload hash, already sent → the stored result, no call;
- same key, different payload hash → ``LedgerConflict`` for a human, never a silent resend;
- a row claimed by another try (another worker, or an earlier try of the same task that may still be
  running) → ``LedgerBusy`` until its lease runs out, unless ``lookup`` proves the target already has
  it. Claims use ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers itself.

Every target declares its delivery mode (:data:`TARGETS`, shown in the README): **exactly once**
targets must be given a ``lookup`` (the target can be asked what it holds), so a send that may have
reached them is never repeated blindly; **at least once** targets have no such question, and after a
kill they are sent again with the same stable message id, which the receiver deduplicates.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub import jsonable
from hub.db import count_in_chunks, in_chunks, utcnow
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


class Delivery(StrEnum):
    EXACTLY_ONCE = "exactly once"
    AT_LEAST_ONCE = "at least once"


@dataclass(frozen=True)
class TargetSpec:
    mode: Delivery
    how: str  # what makes it so, for the README and for operators


# Every ledger target, by name pattern. A new outside write is declared here first.
TARGETS: dict[str, TargetSpec] = {
    "sap.sales_order": TargetSpec(
        Delivery.EXACTLY_ONCE, "SAP is asked by PurchaseOrderByCustomer (and sold-to) before every create"
    ),
    "crm.*.confirmation": TargetSpec(
        Delivery.EXACTLY_ONCE, "the CRM record is read back: a write-back it already holds is not repeated"
    ),
    "crm.*.shipment": TargetSpec(
        Delivery.EXACTLY_ONCE, "the CRM record is read back: a shipment status it already holds is not repeated"
    ),
    "qimen.stockout": TargetSpec(
        Delivery.EXACTLY_ONCE,
        "the warehouse is asked by stockout.query (deliveryOrderCode = SAP delivery); a repeated create "
        "with the same content is answered with the same deliveryOrderId",
    ),
    "qimen.cancel": TargetSpec(
        Delivery.EXACTLY_ONCE, "order.cancel is idempotent: a cancelled order answers success again, never twice"
    ),
    "sap.goods_issue": TargetSpec(
        Delivery.EXACTLY_ONCE, "the delivery is read back: goods movement status C means it was posted"
    ),
    "sap.delivery_cancel": TargetSpec(
        Delivery.EXACTLY_ONCE, "the delivery is read back: gone means deleted, the order items' rejection reason set"
    ),
    "sap.physical_inventory": TargetSpec(
        Delivery.EXACTLY_ONCE,
        "SAP is asked by PhysInventoryReferenceNumber (plant, storage location, day): a document found is "
        "completed, never created twice, and its differences are posted once",
    ),
    "sap.purchase_requisition": TargetSpec(
        Delivery.EXACTLY_ONCE,
        "SAP is asked by PurReqnExternalReference (plant, planning week, part) before a retried create: a "
        "requisition found is the answer, never created twice",
    ),
    "crm.*.reminder": TargetSpec(
        Delivery.EXACTLY_ONCE,
        "the CRM is searched for the reminder's key field (customer, part, last purchase) before every "
        "create: a reminder it holds is not written again",
    ),
    "file.settlement": TargetSpec(
        Delivery.EXACTLY_ONCE,
        "the finance drop is asked for the file by name: the same SHA-256 there is delivered; other bytes "
        "under the name are refused, never overwritten (uploads go to .<name>.part and are renamed)",
    ),
    "file.asn": TargetSpec(
        Delivery.EXACTLY_ONCE, "written to a temporary name and renamed: the file present with the same bytes is sent"
    ),
    "mail.*": TargetSpec(
        Delivery.AT_LEAST_ONCE,
        "a stable Message-ID per content: a resend after a kill is a duplicate mail servers drop",
    ),
    "chat.*.alert": TargetSpec(
        Delivery.AT_LEAST_ONCE,
        "a group robot (WeCom, DingTalk) cannot be asked what it posted: a resend after a kill repeats the "
        "message, which carries its stable alert message id for the readers",
    ),
    "webhook.alert": TargetSpec(
        Delivery.AT_LEAST_ONCE,
        "a resend after a kill carries the same message_id (body and X-Hub-Message-Id): the receiver deduplicates",
    ),
}


def target_spec(target: str) -> TargetSpec:
    """The declared delivery of ``target``; an undeclared target is a programming error."""
    for pattern, spec in TARGETS.items():
        if fnmatch.fnmatchcase(target, pattern):
            return spec
    raise ValueError(f"ledger target {target!r} is not declared in hub.ledger.TARGETS")


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


def try_owner(dag_id: str, task_id: str, map_index: int, try_number: int, run_id: str) -> str:
    """The claim owner of one try of one task instance: no two tries ever share a claim."""
    index = f"[{map_index}]" if map_index is not None and map_index >= 0 else ""
    return f"{dag_id}.{task_id}{index}#{try_number}@{run_id}"


def task_try_owner(ti: Any) -> str:
    """:func:`try_owner` of an Airflow task instance (anything with its five attributes)."""
    return try_owner(ti.dag_id, ti.task_id, ti.map_index, ti.try_number, ti.run_id)


class Ledger:
    """Exactly-once sends over one hub database.

    ``owner`` identifies one try of one task (:func:`try_owner`). A claim belongs to its owner: any
    other owner, a later try of the same task included (the earlier one may be a zombie still
    sending), must wait for the lease to run out, or prove through the target's ``lookup`` what was
    sent.
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
        _require_lookup(target, lookup)
        digest = payload_hash(payload)
        row, busy = self._claim(target, key, payload, digest)
        if row.status == "sent":
            return SendResult(target, key, row.response_ref, row.response, called=False)
        if busy:
            found = lookup(payload) if lookup is not None else None
            if found is None:
                raise LedgerBusy(f"ledger {target}/{key} is claimed by {row.claimed_by} until {row.claimed_until}")
            self._record_sent(row.id, found)
            return SendResult(target, key, found.ref, found.response, called=False)

        if row.attempts > 0 and lookup is not None:
            # An earlier attempt may have reached the target before we lost track of it.
            try:
                found = lookup(payload)
            except BaseException as exc:  # the claim must not outlive this try: failed, retried later
                self._record_failed(row.id, exc)
                raise
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
        expected: tuple[type[Exception], ...] = (),
    ) -> list[SendResult | Exception]:
        """:meth:`send` for many ``(key, payload)`` items with one ``call`` for all that need sending
        (e.g. one SAP ``$batch``), keeping their order. ``call`` and ``lookup`` answer per payload, in
        order; an exception in the answer fails that item only, one raised by ``call`` fails all it was
        given. ``lookup_first`` asks ``lookup`` about every unsent item, not only retried ones (SAP
        orders: the target may hold the document even when the ledger has never seen it).
        ``replace_unsent`` (only with ``lookup_first``) lets a new payload take the place of one that
        failed or never went out, instead of a LedgerConflict: an order fixed after the target refused
        it is sent in its new form, once the lookup has shown the target holds no earlier version.
        ``expected`` are the exception types that are the target's answer (a refusal, an outage): raised
        by ``call`` or ``lookup`` they are recorded and returned per item; anything else is a bug in
        the caller and propagates once the claimed entries are marked failed.
        Returns per item a SendResult or the exception (LedgerConflict/LedgerBusy included).
        """
        _require_lookup(target, lookup)
        results: list[SendResult | Exception | None] = [None] * len(items)
        waiting: list[tuple[int, Row]] = []
        busy: list[tuple[int, Row]] = []  # claimed by another try: only a lookup may settle them
        for i, (key, payload) in enumerate(items):
            try:
                row, held_elsewhere = self._claim(
                    target, key, payload, payload_hash(payload), replace_unsent=replace_unsent
                )
            except LedgerError as exc:
                results[i] = exc
                continue
            if row.status == "sent":
                results[i] = SendResult(target, key, row.response_ref, row.response, called=False)
            else:
                (busy if held_elsewhere else waiting).append((i, row))

        retried = [(i, row) for i, row in waiting if lookup_first or row.attempts > 0]
        if (retried or busy) and lookup is not None:
            # Earlier attempts, or a try still running elsewhere, may have reached the target already.
            asked = retried + busy
            try:
                answers_found = lookup([items[i][1] for i, _ in asked])
            except expected as exc:  # cannot tell what the target holds: send none of them
                for _, row in retried:
                    self._record_failed(row.id, exc)
                for i, _ in asked:
                    results[i] = exc
                answers_found = [None] * len(asked)
            except BaseException as exc:
                for _, row in waiting:
                    self._record_failed(row.id, exc)
                raise
            for (i, row), found in zip(asked, answers_found, strict=True):
                if found is not None:
                    self._record_sent(row.id, found)
                    results[i] = SendResult(target, items[i][0], found.ref, found.response, called=False)
            waiting = [(i, row) for i, row in waiting if results[i] is None]
        for i, row in busy:
            if results[i] is None:
                results[i] = LedgerBusy(
                    f"ledger {target}/{items[i][0]} is claimed by {row.claimed_by} until {row.claimed_until}"
                )

        if waiting:
            try:
                answers: Sequence[Delivered | Exception] = call([items[i][1] for i, _ in waiting])
            except expected as exc:  # the whole call failed: so did every item in it
                answers = [exc] * len(waiting)
            except BaseException as exc:
                for _, row in waiting:
                    self._record_failed(row.id, exc)
                raise
            for (i, row), answer in zip(waiting, answers, strict=True):
                if isinstance(answer, Exception):
                    self._record_failed(row.id, answer)
                    results[i] = answer
                else:
                    self._record_sent(row.id, answer)
                    results[i] = SendResult(target, items[i][0], answer.ref, answer.response, called=True)
        return results  # type: ignore[return-value] - every slot is filled above

    def settle(
        self,
        target: str,
        keys: Sequence[str],
        lookup: Callable[[list[Any]], Sequence[Delivered | None]],
        *,
        expected: tuple[type[Exception], ...] = (),
    ) -> tuple[list[tuple[Row, Delivered]], list[Row]]:
        """Ask the target about the entries among ``keys`` that may have reached it without the ledger
        knowing (in flight, or failed after an attempt) and record those it holds as sent.

        Returns the settled entries with what the target holds, and the entries still unknown: the
        lookup failed, or the target does not hold them yet while another try's claim is live (it
        may be sending them right now).
        """
        rows: list[Row] = []
        with self.engine.connect() as conn:
            for chunk in in_chunks(keys):
                rows += conn.execute(
                    select(ledger).where(
                        ledger.c.target == target,
                        ledger.c.idem_key.in_(chunk),
                        ledger.c.status.in_(("in_flight", "failed")),
                        ledger.c.attempts > 0,
                    )
                ).all()
        if not rows:
            return [], []
        try:
            answers = lookup([r.payload for r in rows])
        except expected:
            return [], rows
        now = utcnow()
        settled, unknown = [], []
        for row, found in zip(rows, answers, strict=True):
            if found is not None:
                self._record_sent(row.id, found)
                settled.append((row, found))
            elif row.status == "in_flight" and _aware(row.claimed_until) > now:
                unknown.append(row)
        return settled, unknown

    # -- claims --------------------------------------------------------------------------------
    def _claim(
        self, target: str, key: str, payload: Any, digest: str, *, replace_unsent: bool = False
    ) -> tuple[Row, bool]:
        """Insert the entry if new, lock it, and mark it in flight for this owner.

        Returns the row as it was *before* this claim (status and attempts of earlier tries), and
        whether another owner holds a live claim on it (then it is left as it is).
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
                return row, False
            if row.status == "in_flight" and row.claimed_by != self.owner and _aware(row.claimed_until) > now:
                return row, True
            self._mark_in_flight(conn, [row.id], now)
            return row, False

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
        expected: tuple[type[Exception], ...] = (),
    ) -> Iterator[tuple[Row, SendResult | Exception]]:
        """Send rows claimed by :meth:`claim_batch`, asking ``lookup`` first; yield each outcome
        (``expected`` as for :meth:`send_many`)."""
        for row in rows[:1]:
            _require_lookup(row.target, lookup)
        for row in rows:
            try:
                found = lookup(row.payload) if lookup is not None else None
                outcome = found or call(row.payload)
            except expected as exc:  # one refused or unreachable entry must not stop the batch
                self._record_failed(row.id, exc)
                yield row, exc
                continue
            except BaseException as exc:
                self._record_failed(row.id, exc)
                raise
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
                # Another try may have settled it meanwhile (its lookup found it): sent stays sent.
                .where(ledger.c.id == entry_id, ledger.c.status != "sent")
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
    if target:
        stmt = stmt.where(ledger.c.target == target)
    with engine.begin() as conn:
        if ids:
            return count_in_chunks(conn, ids, lambda chunk: stmt.where(ledger.c.id.in_(chunk)))
        return conn.execute(stmt).rowcount


def _require_lookup(target: str, lookup: Callable[..., Any] | None) -> None:
    if target_spec(target).mode is Delivery.EXACTLY_ONCE and lookup is None:
        raise ValueError(f"ledger target {target!r} is declared exactly once: a send needs its lookup")


def _aware(value: datetime | None) -> datetime:
    """SQLite returns naive datetimes; the hub stores UTC everywhere."""
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
