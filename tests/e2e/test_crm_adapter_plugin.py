"""Adding a CRM is one file: a fake CRM adapter (tests/fixtures/fake_crm.py), registered through the
registry's public ``register`` and enabled in ``crm.enabled`` beside Zoho and Fxiaoke, goes through
``crm_order_sync`` end to end with ``dag.test()`` like the others: pulled, gated, accepted or
quarantined, counts balanced. Nothing else in the project knows it.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagruns import deploy, run_dag, sync, task_result
from sqlalchemy import select

from hub.schema import crm_inbox, orders, quarantine

SEED, ORDERS = 11, 40
FAKE_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_crm.py"

pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


@pytest.fixture
def fake_crm() -> Iterator[Any]:
    """The one file, loaded as a plugin would be and registered; unregistered afterwards."""
    from connectors import crm

    spec = importlib.util.spec_from_file_location("fake_crm", FAKE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    crm.register(module.ADAPTER)
    yield module
    crm.unregister(module.NAME)


def _catalogue(seed: Any, day: datetime) -> tuple[Any, Any, Any, int]:
    """A customer, a material, its price on ``day`` in the customer's currency, and a quantity the
    review accepts (≥ MOQ, a multiple of the pack size): what a clean order of the fake CRM holds."""
    from transforms.business_day import business_date

    when = business_date(day, "Asia/Shanghai")
    customer = max((c for c in seed.customers if not c.blocked), key=lambda c: c.credit_limit)
    priced = [
        (price, seed.material_by_number[number])
        for pl in seed.price_lists
        if pl.currency == customer.currency and pl.valid_from <= when <= pl.valid_to
        for number, price in pl.prices.items()
        if number in seed.material_by_number
    ]
    price, material = min(priced, key=lambda pm: (pm[0], pm[1].number))
    quantity = material.pack_size * math.ceil(material.moq / material.pack_size)
    return customer, material, price, quantity


def test_a_crm_added_in_one_file_runs_through_crm_order_sync(
    crm_sandbox, seed, hub_db, tmp_path, monkeypatch, fake_crm, airflow_home
):
    from hub.settings import get_settings

    now = datetime.fromisoformat(crm_sandbox["now"])
    stamp = (now - timedelta(days=1)).isoformat()
    customer, material, price, qty = _catalogue(seed, now - timedelta(days=1))
    ccy = customer.currency

    def order(uid: str, account: str, quantity: int) -> dict[str, Any]:
        items = [{"pos": 1, "sku": "P-1", "qty": str(quantity), "price": str(price)}]
        return {"uid": uid, "no": f"FK-{uid}", "customer": account, "ccy": ccy, "placed": stamp, "changed": stamp,
                "state": "open", "items": items}  # fmt: skip

    fake_crm.STORE.update(
        accounts=[{"uid": "A-1", "erp_no": customer.number, "title": customer.name, "changed": stamp}],
        products=[{"uid": "P-1", "code": material.number, "title": material.description_en, "changed": stamp}],
        orders=[
            order("1", "A-1", qty),
            order("2", "A-1", qty * 2),
            order("3", "A-1", 0),  # quantity 0: the raw gate quarantines it
            order("4", "A-404", qty),  # an account the CRM does not have: mapping quarantines it
            {**order("5", "A-1", qty), "changed": (now + timedelta(days=1)).isoformat()},  # outside the window
        ],
    )
    deploy(crm_sandbox, seed, hub_db, tmp_path, monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_CRM_FAKE", json.dumps({"conn_type": "http", "host": "memory://fake"}))
    monkeypatch.setenv("HUB__CRM__ENABLED", "zoho_crm,fxiaoke,fake_crm")
    get_settings.cache_clear()
    try:
        run_dag("master_data_sync")
        run = sync(now)
    finally:
        get_settings.cache_clear()

    per_crm = {r["source"]: r for r in task_result(run, "publish")["per_crm"]}
    assert set(per_crm) == {"zoho_crm", "fxiaoke", "fake_crm"}
    for result in per_crm.values():
        assert result["pulled"] == result["accepted"] + result["quarantined"] > 0, result
    fake = per_crm["fake_crm"]
    assert (fake["pulled"], fake["accepted"], fake["quarantined"], fake["raw_quarantined"]) == (4, 2, 2, 1)

    with hub_db.connect() as conn:
        accepted = conn.execute(select(orders).where(orders.c.source == "fake_crm")).all()
        open_rows = select(quarantine).where(quarantine.c.source == "fake_crm", quarantine.c.status == "open")
        held = {r.record_key: r for r in conn.execute(open_rows)}
        inbox = select(crm_inbox.c.crm_order_id, crm_inbox.c.stage).where(crm_inbox.c.source == "fake_crm")
        stages = dict(conn.execute(inbox).all())
    assert {o.order_number: (o.customer_number, o.currency, o.status) for o in accepted} == {
        "FK-1": (customer.number, ccy, "accepted"),
        "FK-2": (customer.number, ccy, "accepted"),
    }
    assert {k: (r.stage, r.field) for k, r in held.items()} == {
        "fake_crm:3": ("raw_crm_orders", "quantity"),
        "fake_crm:4": ("crm_mapping", "crm_account_id"),
    }
    assert stages == {"1": "accepted", "2": "accepted", "3": "quarantined", "4": "quarantined"}
