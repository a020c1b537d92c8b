"""sap_order_posting: accepted orders become SAP sales orders, and the customer is told what SAP confirmed.

Wiring only; the steps live in ``flows.sap_order_posting``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from flows.assets import ACCEPTED_ORDERS, POSTED_ORDERS
from plugins.dag_defaults import default_args

DOC = """
### SAP order posting

Runs whenever `crm_order_sync` publishes the accepted-orders Asset (every 15 minutes):

1. **plan** — for the open orders (new, and backordered ones waiting for stock): the customers'
   sales areas and delivery priorities from SAP (API_BUSINESS_PARTNER), unrestricted stock
   (API_MATERIAL_STOCK_SRV) and availability (API_PRODUCT_AVAILY_INFO_BASIC) per material and
   plant → `stock_snapshots`; allocation by priority, then order time, partial where stock is
   short → `order_allocations`. Orders with nothing available are **backordered** and planned
   again next run; customers SAP blocks or does not know are **held** (quarantine `sap_posting`).
   First, postings whose answer was lost (a killed try) are looked up in SAP and linked, so an
   order SAP holds is never planned again; a material whose stock SAP cannot report (an outage
   through every retry) holds only its orders for the next run.
2. **post** — SAP sales orders (deep insert with `to_Item`, the agreed net price as condition
   PPR0) in allocation order, ≤ 20 per `$batch`, one order per changeset, through the ledger
   (`sap.sales_order`, key = CRM order number). Each order is first looked up by
   `PurchaseOrderByCustomer`, so nothing is created twice. SAP's refusals are **held** with SAP's
   message and field; a 5xx storm is retried, then left `failed` in the ledger for the next run.
3. **refresh** — SAP's confirmed quantities and dates (schedule lines) of orders in SAP with open
   quantities: what SAP's backorder run confirmed since is picked up here.
4. **gate** — `sap_postings` suite: SAP number, currency, confirmed ≤ ordered, SAP net within
   2 % of the agreed amount; a failing order goes to **review** and nobody is told anything.
5. **confirm** — to the CRM the order came from (status, SAP number, confirmed quantities and
   dates) and by e-mail to the customer (zh or en), each through the ledger, only when the
   confirmation changed.

Ops: `hub ledger list --target sap.sales_order --status failed`, `hub quarantine list --stage sap_posting`,
then `hub quarantine requeue --stage sap_posting` once SAP or the CRM is fixed.
"""


@dag(
    dag_id="sap_order_posting",
    schedule=[ACCEPTED_ORDERS],
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # allocation must see the previous run's postings
    default_args=default_args(),
    tags=["sap", "orders", "allocation", "confirmations"],
    doc_md=DOC,
)
def sap_order_posting():
    @task(pool="sap_api")
    def plan() -> dict:
        from flows.connections import hub_engine, sap_client
        from flows.sap_order_posting import plan as plan_step
        from hub.settings import get_settings

        with sap_client() as sap:
            return plan_step(hub_engine(), sap, _run_id(), default_plant=get_settings().plants.default)

    @task(pool="sap_api")
    def post(planned: dict) -> dict:
        from flows.connections import hub_engine, sap_client
        from flows.sap_order_posting import post as post_step
        from hub.ledger import Ledger
        from hub.settings import get_settings

        engine = hub_engine()
        with sap_client() as sap:
            posted = post_step(
                engine,
                sap,
                Ledger(engine, owner=_owner()),
                _run_id(),
                planned,
                default_plant=get_settings().plants.default,
            )
        return {**{k: v for k, v in planned.items() if k not in ("sequence", "sales_areas")}, **posted}

    @task(pool="sap_api")
    def refresh(posted: dict) -> dict:
        from flows.connections import hub_engine, sap_client
        from flows.sap_order_posting import refresh as refresh_step

        with sap_client() as sap:
            return {**posted, "refresh": refresh_step(hub_engine(), sap, _run_id())}

    @task
    def gate(refreshed: dict) -> dict:
        from flows.connections import hub_engine
        from flows.sap_order_posting import gate as gate_step

        return {**refreshed, "gate": gate_step(hub_engine(), _run_id())}

    @task(pool="crm_api", outlets=[POSTED_ORDERS])
    def confirm(gated: dict) -> dict:
        from flows.connections import hub_engine
        from flows.sap_order_posting import run_confirmations as confirm_step
        from hub.ledger import Ledger

        ctx = get_current_context()
        engine = hub_engine()
        confirmed = confirm_step(engine, Ledger(engine, owner=_owner()), ctx["run_id"], ctx["dag_run"].run_after)
        ctx["outlet_events"][POSTED_ORDERS].extra = {
            "run_id": ctx["run_id"],
            "posted": gated["posted"],
            "confirmed": confirmed["confirmed"] + confirmed["partially_confirmed"],
        }
        return {**gated, "confirm": confirmed}

    confirm(gate(refresh(post(plan()))))


def _run_id() -> str:
    return get_current_context()["run_id"]


def _owner() -> str:
    """The ledger claim owner: this try of this task, so a zombie try and its retry never share a claim."""
    from hub.ledger import task_try_owner

    return task_try_owner(get_current_context()["ti"])


sap_order_posting()
