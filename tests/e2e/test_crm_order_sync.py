"""crm_order_sync end to end with ``dag.test()``: sandbox CRMs → hub database, on SQLite and PostgreSQL.

One sandbox per module (the tests edit its records); a fresh hub database per test.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync
from sqlalchemy import select

from hub.schema import crm_inbox, order_lines, orders, quarantine

SEED, ORDERS = 11, 260
WEEK = timedelta(days=7)
# The field a person must fix, per defect kind the sandbox plants.
EXPECTED_FIELD = {
    "missing_customer": "crm_account_id",
    "unknown_product": "material",
    "bad_quantity": "quantity",
    "non_numeric_price": "unit_price",
    "duplicate_line_numbers": "line_no",
    "currency_mismatch": "line_currency",
    "blocked_customer": "customer_number",
    "below_moq": "quantity",
    "pack_size_violation": "quantity",
    "price_out_of_tolerance": "unit_price",
}

pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
# Behaviour that does not depend on the database runs on SQLite only, to keep the suite short;
# the full sync and the re-run identity run on both.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def hub_env(crm_sandbox, seed, hub_db, tmp_path, monkeypatch, airflow_home):
    from hub.settings import get_settings

    deploy(crm_sandbox, seed, hub_db, tmp_path, monkeypatch)
    yield hub_db
    get_settings.cache_clear()


def snapshot(engine) -> dict[str, list]:  # noqa: ANN001
    """The business content of the hub tables, without bookkeeping columns."""
    skip = {"updated_at", "created_at", "run_id"}
    out = {}
    with engine.connect() as conn:
        for table in (orders, order_lines, quarantine, crm_inbox):
            cols = [c for c in table.c if c.name not in skip]
            out[table.name] = sorted(
                (tuple(str(r) for r in row) for row in conn.execute(select(*cols))), key=lambda t: t
            )
    return out


def _numbers(engine) -> tuple[set[str], dict[str, Any]]:  # noqa: ANN001
    with engine.connect() as conn:
        accepted = set(conn.execute(select(orders.c.order_number)).scalars())
        held = {
            (r.payload.get("SO_Number") or r.payload.get("name")): r
            for r in conn.execute(select(quarantine).where(quarantine.c.status == "open"))
        }
    return accepted, held


def test_full_sync_accepts_clean_orders_and_quarantines_every_defect(crm_sandbox, seed, hub_env):
    from sandbox.seed_data import QUARANTINE_DEFECTS

    now = datetime.fromisoformat(crm_sandbox["now"])
    run_dag("master_data_sync")
    sync(now)

    accepted, held = _numbers(hub_env)
    assert len(accepted) + len(held) == len(seed.orders)  # nothing lost
    for order in seed.orders:
        must_hold = any(kind in QUARANTINE_DEFECTS for kind in order.defects)
        if must_hold:
            assert order.number in held, f"{order.number} {order.defects} was not quarantined"
            row = held[order.number]
            (kind,) = order.defects
            assert row.field == EXPECTED_FIELD[kind], (order.number, kind, row.field, row.detail)
            assert row.detail and row.payload, order.number
        else:
            assert order.number in accepted, f"{order.number} {order.defects}: {held.get(order.number)}"
    kinds_held = {k for o in seed.orders if o.number in held for k in o.defects}
    assert kinds_held == set(QUARANTINE_DEFECTS)

    with hub_env.connect() as conn:
        stages = [r.stage for r in conn.execute(select(crm_inbox.c.stage))]
    assert stages.count("accepted") == len(accepted) and stages.count("quarantined") == len(held)


def test_same_interval_twice_leaves_the_database_identical(crm_sandbox, hub_env):
    now = datetime.fromisoformat(crm_sandbox["now"])
    run_dag("master_data_sync")
    sync(now)
    first = snapshot(hub_env)
    sync(now)
    assert snapshot(hub_env) == first


@SQLITE_ONLY
def test_daily_backfill_of_a_week_equals_one_pull(crm_sandbox, hub_env):
    """Seven consecutive daily windows: no order lost or doubled at the boundaries."""
    now = datetime.fromisoformat(crm_sandbox["now"])
    run_dag("master_data_sync")
    for day in range(7, 0, -1):
        sync(now - timedelta(days=day - 1), start=now - timedelta(days=day))
    backfilled = snapshot(hub_env)["orders"]
    sync(now, start=now - WEEK)
    assert snapshot(hub_env)["orders"] == backfilled
    assert backfilled, "the last week of the seed has orders"


@SQLITE_ONLY
def test_edited_order_is_updated_not_duplicated(crm_sandbox, seed, hub_env):
    control = crm_sandbox["control_url"]
    now = datetime.fromisoformat(crm_sandbox["now"])
    run_dag("master_data_sync")
    sync(now)
    accepted, _ = _numbers(hub_env)
    target = next(o for o in seed.orders_of("zoho_crm") if o.number in accepted and len(o.lines) >= 1)
    record = requests.get(f"{control}/records/zoho_crm/Sales_Orders/{target.crm_id}", timeout=10).json()
    items = record["record"]["Ordered_Items"]
    first = items[0]
    new_qty = int(first["Quantity"]) * 2
    requests.post(
        f"{control}/records/zoho_crm",
        json={
            "module": "Sales_Orders",
            "id": target.crm_id,
            "touch": True,
            "fields": {"Ordered_Items": [{**first, "Quantity": new_qty}, *items[1:]]},
        },
        timeout=10,
    ).raise_for_status()
    requests.post(f"{control}/clock", json={"advance_seconds": 60}, timeout=10).raise_for_status()
    later = now + timedelta(minutes=5)
    sync(later, start=now - timedelta(minutes=1))

    with hub_env.connect() as conn:
        rows = conn.execute(select(orders).where(orders.c.order_number == target.number)).all()
        qty = conn.execute(
            select(order_lines.c.quantity).where(
                order_lines.c.crm_order_id == target.crm_id, order_lines.c.line_no == int(first["Sequence_Number"])
            )
        ).scalar_one()
    assert len(rows) == 1
    assert qty == new_qty

    # Edited again, now broken: the accepted (not yet posted) version is withdrawn, not left behind.
    requests.post(
        f"{control}/records/zoho_crm",
        json={
            "module": "Sales_Orders",
            "id": target.crm_id,
            "touch": True,
            "fields": {"Ordered_Items": [{**first, "Quantity": 0}, *items[1:]]},
        },
        timeout=10,
    ).raise_for_status()
    sync(later, start=now - timedelta(minutes=1))
    accepted, held = _numbers(hub_env)
    assert target.number not in accepted
    assert held[target.number].field == "quantity"
    with hub_env.connect() as conn:
        assert not conn.execute(select(order_lines).where(order_lines.c.crm_order_id == target.crm_id)).all()


@SQLITE_ONLY
def test_requeue_from_the_dag_param_replays_quarantined_orders(crm_sandbox, seed, hub_env):
    from sqlalchemy import update

    from hub.schema import customers

    now = datetime.fromisoformat(crm_sandbox["now"])
    run_dag("master_data_sync")
    sync(now)
    _, held = _numbers(hub_env)
    blocked = next(o for o in seed.orders if "blocked_customer" in o.defects and o.number in held)
    with hub_env.begin() as conn:  # operations clear the block in the ERP
        conn.execute(
            update(customers).where(customers.c.customer_number == blocked.customer_number).values(blocked=False)
        )
    # A window with no CRM changes: only the replayed records flow.
    quiet = now + timedelta(hours=1)
    sync(quiet, start=quiet - timedelta(minutes=15), requeue_quarantined=True)
    accepted, held_after = _numbers(hub_env)
    assert blocked.number in accepted and blocked.number not in held_after
    assert len(held_after) < len(held)
    same_customer = [o.number for o in seed.orders if o.customer_number == blocked.customer_number]
    assert not set(same_customer) & {n for n, r in held_after.items() if r.stage == "order_review"}
    # Everything else that was held is held again, for the same reason: nothing slipped through.
    assert {n: r.field for n, r in held_after.items()} == {
        n: r.field for n, r in held.items() if n not in same_customer or r.stage != "order_review"
    }
