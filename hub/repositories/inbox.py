"""The receiver's inbox (``receiver_inbox``): what outside systems pushed, stored before they hear
``success``, read and marked by the batch flows.

One row per message: ``(method, message_key)`` is unique, the key being the sender's message id
(Qimen ``outBizCode``) or ``sha256:<hex>`` of the raw body when it sent none, so a replay is
recognised and stored once. :func:`store` commits before it returns, so the receiver answers only
for what is durably held.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.db import count_in_chunks, utcnow
from hub.schema import receiver_inbox

log = logging.getLogger(__name__)

OUTCOMES = ("processed", "quarantined", "superseded")
MAX_KEY = 200  # receiver_inbox.message_key
MAX_DOCUMENT_CODE = 100  # receiver_inbox.document_code


def body_key(body: bytes) -> str:
    """The message key of a message without an id of its own: the SHA-256 of its raw body bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def store(
    engine: Engine,
    *,
    method: str,
    message_key: str,
    document_code: str | None,
    body: str,
    params: Mapping[str, Any],
) -> bool:
    """Hold one pushed message, committed on return. True = a new row; False = ``(method, message_key)``
    was already held (the row is left as it is). Raises on a database error, so the caller can refuse
    the push and the sender retries.

    A held key whose body differs is logged (WARNING): the sender reused a message id for other
    content, which the flow's gate, not the receiver, must judge."""
    if not method or not message_key:
        raise ValueError("store needs a method and a message key")
    if len(message_key) > MAX_KEY:
        raise ValueError(f"message key longer than {MAX_KEY} characters")
    values = {
        "method": method,
        "message_key": message_key,
        "document_code": document_code[:MAX_DOCUMENT_CODE] if document_code else None,
        "body": body,
        "params": dict(params),
        "received_at": utcnow(),
    }
    with engine.begin() as conn:
        dialect = conn.dialect.name
        if dialect in ("postgresql", "sqlite"):
            # ON CONFLICT DO NOTHING: two deliveries of one message racing each other both succeed,
            # one of them as "already held", instead of one failing on the unique constraint.
            make = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = (
                make(receiver_inbox)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["method", "message_key"])
                .returning(receiver_inbox.c.id)
            )
            # RETURNING, not rowcount: a driver may report -1 for an INSERT … ON CONFLICT.
            added = conn.execute(stmt).first() is not None
        else:  # pragma: no cover - the hub runs on PostgreSQL and SQLite only
            held = _held_body(conn, method, message_key)
            added = held is None
            if added:
                conn.execute(insert(receiver_inbox).values(**values))
        if not added and _held_body(conn, method, message_key) != body:
            log.warning("inbox: %s %s already held with another body; the first one is kept", method, message_key)
    return added


def _held_body(conn: Connection, method: str, message_key: str) -> str | None:
    return conn.execute(
        select(receiver_inbox.c.body).where(
            receiver_inbox.c.method == method, receiver_inbox.c.message_key == message_key
        )
    ).scalar_one_or_none()


def pending(engine: Engine, method: str) -> list[Row]:
    """The messages of ``method`` (short name, e.g. ``stockout.confirm``) not yet processed, oldest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(receiver_inbox)
                .where(receiver_inbox.c.method == method, receiver_inbox.c.processed_at.is_(None))
                .order_by(receiver_inbox.c.id)
            )
        )


def mark(conn: Connection, ids: Iterable[int], outcome: str) -> int:
    """Mark the messages ``ids`` done with ``outcome`` (processed | quarantined | superseded), in the
    caller's transaction; returns how many rows it marked."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    now = utcnow()
    return count_in_chunks(
        conn,
        ids,
        lambda chunk: (
            update(receiver_inbox).where(receiver_inbox.c.id.in_(chunk)).values(processed_at=now, outcome=outcome)
        ),
    )
