"""The order lifecycle (hub/lifecycle.py) is declared once and enforced: by ``set_status`` and by the
database itself (CHECK on the states, a trigger over ``order_transitions``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from flows.crm_order_sync.review import _open_exposure
from hub.bulk import upsert
from hub.lifecycle import (
    ALL_STATES,
    COUNTS_AGAINST_CREDIT,
    IN_SAP,
    NOT_IN_SAP,
    TRANSITIONS,
    IllegalTransition,
    OrderState,
    transition_pairs,
)
from hub.repositories.orders import set_status
from hub.schema import customers, order_transitions, orders

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _order(crm_order_id: str, status: str, gross: str = "100.00") -> dict:
    return {
        "source": "zoho_crm",
        "crm_order_id": crm_order_id,
        "order_number": f"SO-{crm_order_id}",
        "customer_number": "C100",
        "currency": "CNY",
        "order_time": NOW,
        "crm_modified_at": NOW,
        "net_amount": Decimal(gross),
        "tax_amount": Decimal("0"),
        "gross_amount": Decimal(gross),
        "line_count": 1,
        "status": status,
        "content_hash": "h",
        "updated_at": NOW,
    }


def _status(engine, crm_order_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(orders.c.status).where(orders.c.crm_order_id == crm_order_id)).scalar_one()


def test_the_database_holds_exactly_the_declared_transitions(hub_db):
    with hub_db.connect() as conn:
        stored = sorted(tuple(r) for r in conn.execute(select(order_transitions)))
    assert stored == transition_pairs()


def test_the_derived_state_sets_partition_the_lifecycle():
    assert set(IN_SAP) | set(NOT_IN_SAP) == set(ALL_STATES) and not set(IN_SAP) & set(NOT_IN_SAP)
    # Issue 8: partly confirmed, held and review orders are still the customer's open business.
    for state in ("accepted", "backordered", "held", "posted", "review", "confirmed", "partial", "shipped"):
        assert state in COUNTS_AGAINST_CREDIT, state
    for state in ("cancelled", "invoiced", "settled"):
        assert state not in COUNTS_AGAINST_CREDIT, state
    # Every state but the end can be left; every state but the start can be reached.
    reachable = {new for targets in TRANSITIONS.values() for new in targets}
    assert reachable == set(OrderState)
    assert [s for s, targets in TRANSITIONS.items() if not targets] == [OrderState.SETTLED]


def test_an_illegal_move_raises_and_changes_nothing(hub_db):
    with hub_db.begin() as conn:
        conn.execute(orders.insert(), [_order("1", "confirmed"), _order("2", "posted")])
    with pytest.raises(IllegalTransition, match="zoho_crm/1 \\(confirmed\\)"), hub_db.begin() as conn:
        set_status(conn, [("zoho_crm", "1"), ("zoho_crm", "2")], OrderState.ACCEPTED)
    assert (_status(hub_db, "1"), _status(hub_db, "2")) == ("confirmed", "posted")
    with pytest.raises(IllegalTransition), hub_db.begin() as conn:
        set_status(conn, [("zoho_crm", "2")], "accepted", only_from=("posted",))


def test_only_from_skips_orders_another_step_moved(hub_db):
    with hub_db.begin() as conn:
        conn.execute(orders.insert(), [_order("1", "accepted"), _order("2", "posted")])
        moved = set_status(conn, [("zoho_crm", "1"), ("zoho_crm", "2")], "backordered", only_from=("accepted",))
    assert moved == 1 and (_status(hub_db, "1"), _status(hub_db, "2")) == ("backordered", "posted")


def test_the_database_refuses_an_illegal_update_and_an_unknown_state(hub_db):
    """Even a statement that bypasses set_status (a hand-written fix, a future bug) cannot do it."""
    with hub_db.begin() as conn:
        conn.execute(orders.insert(), [_order("1", "confirmed")])
    with pytest.raises((IntegrityError, DBAPIError), match="illegal order status transition"):
        with hub_db.begin() as conn:
            conn.execute(update(orders).where(orders.c.crm_order_id == "1").values(status="accepted"))
    with pytest.raises(IntegrityError), hub_db.begin() as conn:
        conn.execute(orders.insert(), [_order("2", "lost")])
    # The bulk upsert path is guarded too (PostgreSQL: ON CONFLICT DO UPDATE; SQLite: its UPSERT).
    with pytest.raises((IntegrityError, DBAPIError), match="illegal order status transition"):
        with hub_db.begin() as conn:
            upsert(conn, orders, [_order("1", "accepted")], key=("source", "crm_order_id"))
    assert _status(hub_db, "1") == "confirmed"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.sampled_from(list(OrderState)), new=st.sampled_from(list(OrderState)))
def test_set_status_and_the_database_agree_with_the_declaration(hub_db, old, new):
    """For any pair of states, set_status moves an order iff the declaration allows it, and so does
    the database's trigger for a plain UPDATE of another order in the same state."""
    by_step, by_sql = f"s-{old}-{new}", f"q-{old}-{new}"
    with hub_db.begin() as conn:
        conn.execute(orders.delete().where(orders.c.crm_order_id.in_([by_step, by_sql])))
        conn.execute(orders.insert(), [_order(by_step, old.value), _order(by_sql, old.value)])
    legal = old == new or new in TRANSITIONS[old]
    try:
        with hub_db.begin() as conn:
            set_status(conn, [("zoho_crm", by_step)], new)
        moved = True
    except IllegalTransition:
        moved = False
    try:
        with hub_db.begin() as conn:
            conn.execute(orders.update().where(orders.c.crm_order_id == by_sql).values(status=new.value))
        db_allows = True
    except (IntegrityError, DBAPIError):
        db_allows = False
    assert moved == legal == db_allows, (old, new)
    assert _status(hub_db, by_step) == (new if legal else old)


def test_partly_confirmed_orders_count_against_the_credit_limit(hub_db):
    """Issue 8: OPEN_STATES predated `partial`, so partly confirmed orders stopped counting."""
    with hub_db.begin() as conn:
        conn.execute(
            customers.insert(),
            [
                {
                    "customer_number": "C100",
                    "name": "Kunde",
                    "currency": "CNY",
                    "credit_limit": Decimal("1000"),
                    "blocked": False,
                    "updated_at": NOW,
                }
            ],
        )
        conn.execute(
            orders.insert(),
            [_order("1", "partial", "300.00"), _order("2", "held", "50.00"), _order("3", "cancelled", "999.00")],
        )
        exposure = _open_exposure(conn, {"C100"}, [("zoho_crm", "none")])
    assert exposure["C100"] == Decimal("350.00")
