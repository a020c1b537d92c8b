"""A backlog beyond every database's limit of bound values per statement (issue 15).

PostgreSQL takes at most 65,535 bound values in one statement, SQLite 32,766 as it is built by
default since 3.32 (999 before; this machine's build allows 250,000, so the tests set the default
limit on every connection): a statement naming a list that grows with the data binds it in chunks
(``hub.db.in_chunks``). Each path here is fed more keys than the limit and must give the right
answer, not just not fail. The database is built once per backend (66,000 orders on PostgreSQL,
20,000 on SQLite, where a key of two columns then binds 40,000 values) and every test rolls its
changes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from hub import quarantine
from hub.bulk import upsert
from hub.db import KEY_CHUNK, in_chunks
from hub.keys import record_key
from hub.lifecycle import OrderState as S
from hub.schema import order_allocations, order_lines, orders
from hub.schema import quarantine as quarantine_table

SOURCE = "zoho_crm"
NOW = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
# Beyond PostgreSQL's 65,535 even for a key of one column; on SQLite beyond the default 32,766 values
# for a key of two columns.
BACKLOG = {"postgresql": 66_000, "sqlite": 20_000}
SQLITE_DEFAULT_LIMIT = 32_766


def _ids(n: int) -> list[str]:
    return [f"O{i:07d}" for i in range(n)]


def _orders(ids: list[str], status: str) -> Iterator[dict[str, Any]]:
    for i, crm_order_id in enumerate(ids):
        yield {
            "source": SOURCE,
            "crm_order_id": crm_order_id,
            "order_number": f"SO-{crm_order_id}",
            "customer_number": f"C{i % 97:05d}",
            "customer_name": "Kunde",
            "currency": "EUR",
            "order_time": NOW,
            "crm_modified_at": NOW,
            "net_amount": Decimal("10.00"),
            "tax_amount": Decimal("1.90"),
            "gross_amount": Decimal("11.90"),
            "line_count": 1,
            "status": status,
            "content_hash": "0" * 64,
            "updated_at": NOW,
        }


def _lines(ids: list[str]) -> Iterator[dict[str, Any]]:
    for crm_order_id in ids:
        yield {
            "source": SOURCE,
            "crm_order_id": crm_order_id,
            "line_no": 1,
            "material": f"M-{crm_order_id}",
            "quantity": Decimal(2),
            "unit": "PC",
            "unit_price": Decimal("5.00"),
            "discount": Decimal(0),
            "net_amount": Decimal("10.00"),
            "tax_rate": Decimal("0.19"),
            "tax_amount": Decimal("1.90"),
            "currency": "EUR",
        }


def _allocations(ids: list[str]) -> Iterator[dict[str, Any]]:
    for crm_order_id in ids:
        yield {
            "source": SOURCE,
            "crm_order_id": crm_order_id,
            "line_no": 1,
            "material": f"M-{crm_order_id}",
            "plant": "1000",
            "ordered_qty": Decimal(2),
            "allocated_qty": Decimal(2),
            "confirmed_qty": Decimal(2),
            "sap_item": "10",
            "run_id": "planned",
            "updated_at": NOW,
        }


def _quarantined(ids: list[str], stage: str, status: str) -> Iterator[dict[str, Any]]:
    for crm_order_id in ids:
        yield {
            "stage": stage,
            "source": SOURCE,
            "record_key": record_key(SOURCE, crm_order_id),
            "error_class": "Test",
            "detail": "held for the test",
            "payload": {"crm_order_id": crm_order_id},
            "status": status,
            "created_at": NOW,
            "updated_at": NOW,
        }


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def backlog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An engine on a hub database holding a backlog beyond the backend's limit: the orders in
    ``review`` (SAP's answer refused by the ``sap_postings`` gate), each with one line, one allocation
    and a quarantine row operations requeued."""
    from devtools.testrun import fresh_database
    from hub.db import make_engine, upgrade

    @contextmanager
    def database() -> Iterator[str]:
        if request.param == "sqlite":
            yield f"sqlite:///{tmp_path_factory.mktemp('limits') / 'hub.sqlite'}"
        else:
            with fresh_database(request.getfixturevalue("pg_url")) as url:
                yield url

    with database() as url:
        upgrade(url)
        engine = make_engine(url)
        if engine.dialect.name == "sqlite":
            import sqlite3

            from sqlalchemy import event

            @event.listens_for(engine, "connect")
            def _default_limit(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_DEFAULT_LIMIT)

        ids = _ids(BACKLOG[engine.dialect.name])
        with engine.begin() as conn:
            upsert(conn, orders, _orders(ids, S.REVIEW.value), key=("source", "crm_order_id"))
            upsert(conn, order_lines, _lines(ids), key=("source", "crm_order_id", "line_no"))
            upsert(conn, order_allocations, _allocations(ids), key=("source", "crm_order_id", "line_no"))
            upsert(
                conn,
                quarantine_table,
                _quarantined(ids, "sap_postings", "requeued"),
                key=("stage", "source", "record_key"),
            )
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def rolled_back(engine: Any) -> Iterator[Any]:
    """A connection whose changes are undone afterwards, so every test sees the same backlog."""
    with engine.connect() as conn:
        try:
            yield conn
        finally:
            conn.rollback()


def _keys(engine: Any) -> list[tuple[str, str]]:
    return [(SOURCE, i) for i in _ids(BACKLOG[engine.dialect.name])]


def test_in_chunks_binds_each_key_once_in_order_and_under_the_limit() -> None:
    keys = [3, 1, 3, 2, *range(10, 10 + 2 * KEY_CHUNK)]
    chunks = list(in_chunks(keys))
    assert [k for c in chunks for k in c] == list(dict.fromkeys(keys))
    assert max(len(c) for c in chunks) == KEY_CHUNK
    # A key of three columns still binds well under the smallest limit (SQLite before 3.32: 32,766).
    assert 3 * KEY_CHUNK < 32_766
    assert list(in_chunks([])) == []


def test_the_backlog_is_beyond_the_limit_for_one_statement(backlog: Any) -> None:
    """The limit is real: the whole backlog's keys in one statement are refused by the database."""
    from sqlalchemy import tuple_
    from sqlalchemy.exc import DBAPIError

    with rolled_back(backlog) as conn, pytest.raises(DBAPIError, match="(?i)variables|parameters"):
        conn.execute(select(func.count()).where(tuple_(orders.c.source, orders.c.crm_order_id).in_(_keys(backlog))))


def test_orders_with_lines_reads_a_backlog_beyond_the_limit(backlog: Any) -> None:
    from hub.repositories.orders import orders_with_lines

    keys = _keys(backlog)
    with rolled_back(backlog) as conn:
        heads, lines = orders_with_lines(conn, keys, S.REVIEW.value)
        assert set(heads) == set(keys)
        assert set(lines) == set(keys)
        assert {ln.material for ln in lines[keys[-1]]} == {f"M-{keys[-1][1]}"}
        # ... and only the orders in the state asked for.
        heads, _ = orders_with_lines(conn, keys, S.ACCEPTED.value)
        assert heads == {}


def test_quarantine_resolve_closes_a_backlog_beyond_the_limit(backlog: Any) -> None:
    record_keys = [record_key(SOURCE, i) for _, i in _keys(backlog)]
    with rolled_back(backlog) as conn:
        # Half of them, then all: the second call closes only those still open.
        assert quarantine.resolve(conn, SOURCE, record_keys[::2], ["sap_postings"]) == len(record_keys[::2])
        assert quarantine.resolve(conn, SOURCE, record_keys, ["sap_postings"]) == len(record_keys) - len(
            record_keys[::2]
        )
        still_open = conn.scalar(
            select(func.count()).select_from(quarantine_table).where(quarantine_table.c.status != "resolved")
        )
        assert still_open == 0


def test_requeued_backlog_beyond_the_limit_goes_back_through_the_gate(backlog: Any) -> None:
    """``hub quarantine requeue --stage sap_postings`` of every order the gate refused: each goes back
    to ``posted`` and its allocations are marked for this run's gate."""
    from flows.sap_order_posting.stages import release_requeued

    n = len(_keys(backlog))
    with rolled_back(backlog) as conn:
        assert release_requeued(conn, "run-2") == n
        by_status = dict(conn.execute(select(orders.c.status, func.count()).group_by(orders.c.status)).all())
        assert by_status == {S.POSTED.value: n}
        marked = conn.scalar(
            select(func.count()).select_from(order_allocations).where(order_allocations.c.run_id == "run-2")
        )
        assert marked == n


def test_confirmations_due_for_a_backlog_beyond_the_limit(backlog: Any) -> None:
    """Every posted order's confirmation, each with its line, read in one step."""
    from flows.sap_order_posting.due import pending
    from hub.repositories.orders import set_status

    keys = _keys(backlog)
    with rolled_back(backlog) as conn:
        set_status(conn, keys, S.POSTED, only_from=(S.REVIEW.value,))
        due = pending(conn, "en")
        assert len(due) == len(keys)
        assert {(c.source, c.crm_order_id) for c in due} == set(keys)
        assert all(len(c.lines) == 1 and c.lines[0].confirmed_qty == Decimal(2) for c in due)
