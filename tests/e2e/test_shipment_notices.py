"""shipment_notices end to end with ``dag.test()``: SAP deliveries of 3PL plants → Qimen outbound
orders in the WMS emulator → confirmations pushed through the real receiver → goods issue in SAP →
CRMs, customers and EDI files told → parcels tracked to ``delivered``.

One frozen sandbox and hub database for the module; the tests run in order, each a step further.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync, task_result
from sqlalchemy import select

from hub.schema import deliveries, delivery_lines, ledger, orders, parcels, quarantine, receiver_inbox

SEED, ORDERS = 11, 120
EDI_CUSTOMERS = ("1000187", "1000175")  # Alpen Truck Parts GmbH, Van Dijk Hydrauliek B.V. in this seed
pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
DAY = 86_400


@pytest.fixture(scope="module")
def world(tmp_path_factory, hub, airflow_home) -> Iterator[dict[str, Any]]:
    from devtools.servers import serving
    from hub.settings import get_settings
    from receiver.app import create_app
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    module_hub_db = hub
    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("shipments")
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        control = info["control_url"]
        seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
        deploy(info, seed, module_hub_db, tmp_path, monkeypatch)
        monkeypatch.setenv("HUB__LOGISTICS__ASN_DIR", str(tmp_path / "asn"))
        monkeypatch.setenv("HUB__LOGISTICS__EDI_CUSTOMERS", ",".join(EDI_CUSTOMERS))
        get_settings.cache_clear()
        wms = info["systems"]["qimen_wms"]

        def sandbox_now() -> datetime:
            return datetime.fromisoformat(requests.get(f"{control}/clock", timeout=10).json()["now"])

        app = create_app(lambda: module_hub_db, wms["secret"], wms["app_key"], wms["customer_id"], clock=sandbox_now)
        with serving(app) as receiver_url:
            requests.post(f"{control}/qimen_wms/receiver", json={"url": f"{receiver_url}/qimen"}, timeout=10)
            now = datetime.fromisoformat(info["now"])
            run_dag("master_data_sync", at=now)
            sync(now)
            run_dag("sap_order_posting", at=now)
            yield {
                "info": info,
                "engine": module_hub_db,
                "control": control,
                "now": sandbox_now,
                "asn": tmp_path / "asn",
            }
    monkeypatch.undo()
    get_settings.cache_clear()


def advance(world: dict[str, Any], seconds: float) -> datetime:
    requests.post(f"{world['control']}/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()
    return world["now"]()


def push(world: dict[str, Any]) -> list[dict[str, Any]]:
    r = requests.post(f"{world['control']}/qimen_wms/push", timeout=60)
    r.raise_for_status()
    return r.json()["pushes"]


def rows(engine, table) -> list[Any]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(table)).all()


def test_new_deliveries_of_3pl_plants_reach_the_warehouse_once(world):
    engine, control = world["engine"], world["control"]
    at = advance(world, 4 * DAY)  # SAP creates deliveries as confirmed dates come due
    run = run_dag("shipment_notices", at=at)
    found, sent = task_result(run, "discover")["discover"], task_result(run, "send")["send"]
    held = rows(engine, deliveries)
    assert found["new"] > 0 and sent["sent"] == found["new"], (found, sent)
    assert {d.plant for d in held} <= {"1010", "1020"}  # only 3PL plants go to the warehouse
    wms_orders = requests.get(f"{control}/qimen_wms/orders", timeout=10).json()
    codes = {o["deliveryOrderCode"] for o in wms_orders["orders"]}
    assert {d.delivery for d in held if d.status == "sent"} <= codes
    # A re-run sends nothing twice: the ledger holds one stockout per delivery.
    again = run_dag("shipment_notices", at=at)
    assert task_result(again, "send")["send"]["sent"] == 0
    entries = [e for e in rows(engine, ledger) if e.target == "qimen.stockout"]
    assert len(entries) == len({e.idem_key for e in entries}) == found["new"]


def test_pushed_confirmations_post_goods_issue_and_tell_everyone(world):
    engine, control = world["engine"], world["control"]
    at = advance(world, DAY)  # the warehouse picks, packs and ships
    pushed = push(world)
    assert pushed, "the WMS pushed confirmations to the receiver"
    stored = rows(engine, receiver_inbox)
    assert stored and len(stored) == len({(r.method, r.message_key) for r in stored})
    run = run_dag("shipment_notices", at=at)
    confirmed, issued, told = (task_result(run, t)[t] for t in ("confirm", "issue", "notify"))
    assert confirmed["final"] > 0 and issued["issued"] > 0, (confirmed, issued)
    # Goods issue in SAP for every delivery the hub issued, once.
    from connectors.sap_s4 import SapClient, SapConfig

    sap_info = world["info"]["systems"]["sap_s4"]
    sap = SapClient(SapConfig(base_url=sap_info["base_url"], user=sap_info["user"], password=sap_info["password"]))
    issued_rows = [d for d in rows(engine, deliveries) if d.status == "issued"]
    for d in issued_rows[:5]:
        assert sap.delivery(d.delivery).is_issued
    # Shipped quantities never exceed the delivery, and the orders moved on.
    assert all(ln.shipped_qty <= ln.planned_qty for ln in rows(engine, delivery_lines))
    states = Counter(o.status for o in rows(engine, orders))
    assert states["shipped"] + states["partly_shipped"] > 0, states
    # Customers got e-mails, CRMs the status.
    mails = requests.get(f"{control}/mail", timeout=10).json()["messages"]
    assert told["mail_sent"] > 0 and told["crm_sent"] > 0, told
    assert any("X-Hub-Delivery" in str(m) or "delivery" in str(m).lower() for m in mails)
    # The replayed pushes were stored once and added nothing.
    push(world)
    rerun = run_dag("shipment_notices", at=at)
    assert task_result(rerun, "issue")["issue"]["issued"] == 0
    assert task_result(rerun, "notify")["notify"]["mail_sent"] == 0


def test_parcels_are_tracked_until_signed_for(world):
    engine = world["engine"]
    at = advance(world, 4 * DAY)
    push(world)
    run = run_dag("shipment_notices", at=at)
    tracked = task_result(run, "track")["track"]
    assert tracked["signed_for"] > 0, tracked
    signed = [p for p in rows(engine, parcels) if p.delivered_at is not None]
    assert signed
    states = Counter(o.status for o in rows(engine, orders))
    assert states["delivered"] > 0, states
    held = [q for q in rows(engine, quarantine) if q.stage.startswith("shipment") and q.status == "open"]
    # The only refusals: ship notices for an address X12's character set cannot carry, each named.
    assert all(q.stage == "shipment_notify" and q.field.startswith("shipment.ship_to") for q in held), [
        (q.stage, q.field, q.detail) for q in held[:3]
    ]


def test_edi_customers_get_one_valid_ship_notice_per_delivery(world):
    files = sorted(world["asn"].glob("ASN_*.x12"))
    assert files, "an X12 856 for the EDI customers' deliveries"
    assert all(f.name.split("_")[1] in EDI_CUSTOMERS for f in files)
    for f in files:
        segments = [s.strip() for s in f.read_text(encoding="ascii").split("~") if s.strip()]
        st = next(i for i, s in enumerate(segments) if s.startswith("ST*856"))
        se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
        assert int(segments[se].split("*")[1]) == se - st + 1  # SE01 counts ST through SE
        hl = [s for s in segments if s.startswith("HL*")]
        ctt = next(s for s in segments if s.startswith("CTT*")).split("*")
        assert int(ctt[1]) == len(hl)
    entries = [e for e in rows(world["engine"], ledger) if e.target == "file.asn"]
    assert len(entries) == len(files) == len({e.idem_key for e in entries})
