"""sap_order_posting end to end with ``dag.test()``: CRMs → hub → SAP → CRM write-back and e-mail.

A fresh, frozen sandbox per test (SAP keeps what earlier runs created) and a fresh hub database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync, task_result
from sqlalchemy import func, select

from hub.schema import gate_results, ledger, order_allocations, orders, sap_orders, stock_snapshots

SEED, ORDERS = 5, 160
pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
FINAL = {"confirmed", "partial", "backordered", "held", "review"}


@pytest.fixture
def world(hub_db, tmp_path, monkeypatch, airflow_home) -> Iterator[dict[str, Any]]:
    """A sandbox with the CRMs' orders already accepted into the hub."""
    from hub.settings import get_settings
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
        deploy(info, seed, hub_db, tmp_path, monkeypatch)
        run_dag("master_data_sync")
        sync(datetime.fromisoformat(info["now"]))
        yield {"sandbox": info, "seed": seed, "engine": hub_db, "control": info["control_url"]}
    get_settings.cache_clear()


def sap_client(info: dict[str, Any]) -> Any:
    from connectors.sap_s4 import SapClient, SapConfig

    sap = info["systems"]["sap_s4"]
    return SapClient(SapConfig(base_url=sap["base_url"], user=sap["user"], password=sap["password"]))


def states(engine) -> dict[str, str]:  # noqa: ANN001
    with engine.connect() as conn:
        return dict(conn.execute(select(orders.c.order_number, orders.c.status)).all())


def mailbox(control: str) -> list[dict[str, Any]]:
    return requests.get(f"{control}/mail", timeout=10).json()["messages"]


def sap_posts(control: str) -> int:
    calls = requests.get(f"{control}/calls", params={"system": "sap_s4"}, timeout=10).json()["calls"]
    return sum(1 for c in calls if c["method"] == "POST")


def test_accepted_orders_become_sap_orders_and_customers_are_told(world):
    engine, control = world["engine"], world["control"]
    accepted = states(engine)
    run = run_dag("sap_order_posting")
    summary = task_result(run, "confirm")

    after = states(engine)
    assert set(after) == set(accepted)  # nothing lost
    assert set(after.values()) <= FINAL, sorted(set(after.values()))
    with engine.connect() as conn:
        links = dict(conn.execute(select(sap_orders.c.order_number, sap_orders.c.sap_order)).all())
        allocations = conn.execute(select(order_allocations)).all()
        number_of = {
            (r.source, r.crm_order_id): r.order_number
            for r in conn.execute(select(orders.c.source, orders.c.crm_order_id, orders.c.order_number))
        }
        snapshot = {(r.material, r.plant): r.available for r in conn.execute(select(stock_snapshots))}
        gate = conn.execute(select(gate_results).where(gate_results.c.gate == "sap_postings")).all()
        mails_sent = conn.execute(
            select(func.count()).where(ledger.c.target == "mail.order_confirmation", ledger.c.status == "sent")
        ).scalar_one()
    in_sap = {n for n, s in after.items() if s in ("confirmed", "partial", "review")}
    assert set(links) == in_sap and summary["posted"] == len(in_sap) > 0
    assert any(s == "backordered" for s in after.values()) or any(s == "partial" for s in after.values())

    # SAP holds exactly the posted orders, once each, under the CRM order number.
    with sap_client(world["sandbox"]) as sap:
        found = sap.find_sales_orders(sorted(accepted))
    assert {po: doc.number for po, doc in found.items()} == links

    # The allocation never promised more than SAP said was available.
    promised: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for a in allocations:
        assert 0 <= a.confirmed_qty <= a.ordered_qty
        promised[(a.material, a.plant)] += a.allocated_qty
    for pair, qty in promised.items():
        assert qty <= max(snapshot[pair], Decimal(0)), pair
    for a in allocations:
        if after[number_of[a.source, a.crm_order_id]] == "confirmed":
            assert a.confirmed_qty == a.ordered_qty and a.confirmed_date is not None

    # Told in the CRM the order came from, and by e-mail in the customer's language.
    seed = world["seed"].order_by_number
    zoho = next(n for n, s in after.items() if s == "confirmed" and seed[n].crm == "zoho_crm")
    record = requests.get(f"{control}/records/zoho_crm/Sales_Orders/{seed[zoho].crm_id}", timeout=10).json()["record"]
    assert record["Status"] == "Confirmed" and record["SAP_Order_No__c"] == links[zoho]
    fx = next(n for n, s in after.items() if s in ("confirmed", "partial") and seed[n].crm == "fxiaoke")
    record = requests.get(f"{control}/records/fxiaoke/SalesOrderObj/{seed[fx].crm_id}", timeout=10).json()["record"]
    assert record["sap_order_no__c"] == links[fx]
    assert record["hub_status__c"] == {"confirmed": "confirmed", "partial": "partially_confirmed"}[after[fx]]
    mails = mailbox(control)
    assert len(mails) == mails_sent == summary["confirm"]["mail_sent"] > 0
    subjects = " ".join(m["subject"] for m in mails)
    assert "订单" in subjects and "Order" in subjects
    lines_in_sap = sum(1 for a in allocations if number_of[a.source, a.crm_order_id] in in_sap)
    assert gate and sum(g.evaluated for g in gate) == lines_in_sap  # one row per posted line

    # A second run changes nothing: no SAP write, no e-mail, no CRM write.
    posts_before, writes_before = sap_posts(control), _crm_writes(control)
    run_dag("sap_order_posting")
    assert states(engine) == after
    assert sap_posts(control) == posts_before
    assert len(mailbox(control)) == len(mails) and _crm_writes(control) == writes_before


def _crm_writes(control: str) -> int:
    return len(requests.get(f"{control}/writes", timeout=10).json()["writes"])


@SQLITE_ONLY
def test_backorders_are_confirmed_when_stock_arrives(world):
    engine, control = world["engine"], world["control"]
    run_dag("sap_order_posting")
    before = states(engine)
    waiting = sorted(n for n, s in before.items() if s in ("backordered", "partial"))
    assert waiting, "the seed leaves some orders short of stock"
    with engine.connect() as conn:
        short = conn.execute(
            select(
                order_allocations.c.material,
                order_allocations.c.plant,
                func.sum(order_allocations.c.ordered_qty - order_allocations.c.confirmed_qty),
            )
            .where(order_allocations.c.confirmed_qty < order_allocations.c.ordered_qty)
            .group_by(order_allocations.c.material, order_allocations.c.plant)
        ).all()
    for material, plant, missing in short:
        requests.post(
            f"{control}/records/sap_s4",
            json={
                "module": "goods_receipt",
                "fields": {"Material": material, "Plant": plant, "Quantity": str(missing)},
            },
            timeout=10,
        ).raise_for_status()
    mails_before = len(mailbox(control))

    run_dag("sap_order_posting")
    after = states(engine)
    assert {n: after[n] for n in waiting} == dict.fromkeys(waiting, "confirmed")
    with engine.connect() as conn:
        assert not conn.execute(
            select(func.count()).where(order_allocations.c.confirmed_qty < order_allocations.c.ordered_qty)
        ).scalar_one()
    # Each waiting customer with an e-mail address hears the news once more.
    assert len(mailbox(control)) > mails_before


@SQLITE_ONLY
def test_refused_and_cancelled_orders_stay_out_of_sap_and_the_others_go_through(world):
    engine, control, seed = world["engine"], world["control"], world["seed"]
    accepted = states(engine)
    victim = next(o for o in seed.orders if o.number in accepted)
    # The customer cancels another order in Zoho before the hub posts it.
    cancelled = next(
        o for o in seed.orders_of("zoho_crm") if o.number in accepted and o.customer_number != victim.customer_number
    )
    requests.post(
        f"{control}/records/zoho_crm",
        json={"module": "Sales_Orders", "id": cancelled.crm_id, "touch": True, "fields": {"Status": "Cancelled"}},
        timeout=10,
    ).raise_for_status()
    requests.post(f"{control}/clock", json={"advance_seconds": 60}, timeout=10).raise_for_status()
    now = datetime.fromisoformat(world["sandbox"]["now"])
    sync(now + timedelta(minutes=5), start=now - timedelta(minutes=1))
    requests.post(
        f"{control}/records/sap_s4",
        json={"module": "A_Customer", "id": victim.customer_number, "fields": {"OrderIsBlockedForCustomer": "01"}},
        timeout=10,
    ).raise_for_status()
    run_dag("sap_order_posting")
    after = states(engine)
    blocked = {o.number for o in seed.orders if o.customer_number == victim.customer_number and o.number in after}
    assert {after[n] for n in blocked} == {"held"}
    assert {s for n, s in after.items() if n not in blocked | {cancelled.number}} <= FINAL - {"held"}
    from hub.quarantine import list_records

    held = [r for r in list_records(engine, stage="sap_posting") if r.record_key.endswith(victim.crm_id)]
    assert held and held[0].field and victim.number in held[0].detail

    assert after[cancelled.number] == "cancelled"
    with sap_client(world["sandbox"]) as sap:
        assert cancelled.number not in sap.find_sales_orders([cancelled.number])
    assert all(cancelled.number not in m["subject"] for m in mailbox(control))


@SQLITE_ONLY
def test_a_refused_e_mail_address_is_quarantined_and_sent_once_fixed_and_requeued(world):
    from hub.quarantine import list_records, requeue
    from hub.schema import customers

    engine, control, seed = world["engine"], world["control"], world["seed"]
    victim = next(o for o in seed.orders if o.number in states(engine))
    with engine.begin() as conn:  # a typo in the ERP master data: the customer's server does not exist
        conn.execute(
            customers.update()
            .where(customers.c.customer_number == victim.customer_number)
            .values(email="buyer@invalid.example")
        )
    run_dag("sap_order_posting")
    refused = [r for r in list_records(engine, stage="confirmation_mail") if r.record_key.endswith(victim.crm_id)]
    assert refused and refused[0].field == "email" and victim.number in refused[0].detail
    assert states(engine)[victim.number] in {"confirmed", "partial", "backordered"}  # the CRM was told anyway

    with engine.begin() as conn:
        conn.execute(
            customers.update()
            .where(customers.c.customer_number == victim.customer_number)
            .values(email="buyer@parts-customer.example")
        )
    assert requeue(engine, stage="confirmation_mail") >= 1
    run_dag("sap_order_posting")
    to_fixed = requests.get(f"{control}/mail", params={"to": "buyer@parts-customer.example"}, timeout=10).json()[
        "messages"
    ]
    assert any(victim.number in m["subject"] for m in to_fixed)
    assert not [r for r in list_records(engine, stage="confirmation_mail") if r.record_key.endswith(victim.crm_id)]
