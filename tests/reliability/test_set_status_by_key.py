"""``set_status`` finds the orders it moves by their primary key (issue 15: with ``only_from`` SQLite
walked the status index, the whole backlog of that state once per posted order), and moves the same
orders on SQLite and PostgreSQL: across sources, chunks, duplicates, unknown keys and every state."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, insert, select, text

from hub.db import KEY_CHUNK
from hub.lifecycle import ALL_STATES, IllegalTransition, OrderState, allowed_from
from hub.repositories.orders import set_status
from hub.schema import orders

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SOURCES = ["fxiaoke", "zoho_crm"]


def _order(source: str, crm_order_id: str, status: str) -> dict[str, Any]:
    return {
        "source": source,
        "crm_order_id": crm_order_id,
        "order_number": f"SO-{source}-{crm_order_id}",
        "customer_number": "C100",
        "currency": "CNY",
        "order_time": NOW,
        "crm_modified_at": NOW,
        "net_amount": Decimal(1),
        "tax_amount": Decimal(0),
        "gross_amount": Decimal(1),
        "line_count": 1,
        "status": status,
        "content_hash": "h",
        "updated_at": NOW,
    }


def _states(conn: Any) -> dict[tuple[str, str], str]:
    return {(r.source, r.crm_order_id): r.status for r in conn.execute(select(orders))}


@st.composite
def moves(draw: st.DrawFn) -> tuple[dict, list, str, tuple | None]:
    stored = draw(
        st.dictionaries(
            st.tuples(st.sampled_from(SOURCES), st.sampled_from([f"{i}" for i in range(12)])),
            st.sampled_from(ALL_STATES),
            max_size=20,
        )
    )
    known = sorted(stored)
    asked = draw(
        st.lists(
            st.one_of(
                st.sampled_from(known) if known else st.nothing(),
                st.tuples(st.sampled_from(SOURCES), st.just("unknown")),
            ),
            max_size=25,
        )
    )
    target = draw(st.sampled_from(ALL_STATES))
    legal = allowed_from(OrderState(target))
    only_from = draw(st.one_of(st.none(), st.lists(st.sampled_from(legal), min_size=1, unique=True).map(tuple)))
    return stored, asked, target, only_from


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=moves())
def test_set_status_moves_exactly_the_orders_it_may(hub_db, case):
    stored, asked, target, only_from = case
    with hub_db.begin() as conn:
        conn.execute(delete(orders))
        if stored:
            conn.execute(insert(orders), [_order(s, i, state) for (s, i), state in stored.items()])
    legal = set(allowed_from(OrderState(target))) & set(only_from or ALL_STATES)
    movable = {k for k in set(asked) if k in stored and stored[k] in legal}
    stuck = {k for k in set(asked) if k in stored and stored[k] not in legal}
    with hub_db.begin() as conn:
        if only_from is None and stuck:
            with pytest.raises(IllegalTransition, match=f"{len(stuck)} orders cannot move"):
                set_status(conn, asked, target, "r1")
            expected = stored
        else:
            assert set_status(conn, asked, target, "r1", only_from=only_from) == len(movable)
            expected = {k: target if k in movable else state for k, state in stored.items()}
    with hub_db.connect() as conn:
        assert _states(conn) == expected


def test_set_status_moves_a_backlog_beyond_one_chunk_from_both_sources(hub_db):
    n = KEY_CHUNK + 7
    with hub_db.begin() as conn:
        conn.execute(
            insert(orders),
            [_order(s, str(i), "backordered" if i % 3 else "confirmed") for s in SOURCES for i in range(n)],
        )
    keys = [(s, str(i)) for i in range(n) for s in SOURCES]  # sources interleaved, as a step reads them
    with hub_db.begin() as conn:
        moved = set_status(conn, keys, "posted", "r1", only_from=("accepted", "backordered", "held"))
    with hub_db.connect() as conn:
        states = _states(conn)
    assert moved == sum(1 for i in range(n) if i % 3) * len(SOURCES)
    assert states == {(s, str(i)): "posted" if i % 3 else "confirmed" for s in SOURCES for i in range(n)}


@pytest.mark.parametrize("analysed", [False, True], ids=["as-loaded", "analysed"])
@pytest.mark.parametrize("only_from", [("accepted", "backordered", "held"), None])
@pytest.mark.parametrize("keys", [[("zoho_crm", "7")], [("zoho_crm", "7"), ("fxiaoke", "8"), ("zoho_crm", "9")]])
def test_on_sqlite_set_status_finds_the_orders_by_their_key(sqlite_url, only_from, keys, analysed):
    """Every statement set_status runs, planned by SQLite over a backlog of 3,000 backorders (with
    and without ANALYZE's statistics): each looks the orders up by the primary key, none scans the
    table or walks the status index."""
    from hub.db import make_engine, upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(insert(orders), [_order(s, str(i), "backordered") for s in SOURCES for i in range(1500)])
        if analysed:
            conn.execute(text("ANALYZE"))
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with engine.begin() as conn:
        assert set_status(conn, keys, "posted", "r1", only_from=only_from) == len(keys)
    event.remove(engine, "before_cursor_execute", record)
    on_orders = [(s, p) for s, p in statements if "orders" in s and s.lstrip().upper().startswith(("UPDATE", "SELECT"))]
    assert any(s.lstrip().upper().startswith("UPDATE") for s, _ in on_orders)
    with engine.connect() as conn:
        for statement, parameters in on_orders:
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            searches = [step for step in plan if "orders" in step and ("SEARCH" in step or "SCAN" in step)]
            assert searches, plan
            assert all("USING INDEX sqlite_autoindex_orders_1 (source=? AND crm_order_id=?)" in s for s in searches), (
                statement,
                plan,
            )
    engine.dispose()
