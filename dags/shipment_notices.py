"""shipment_notices: SAP deliveries of 3PL plants go to the warehouse over Qimen; its confirmations
come back through the receiver, post goods issue in SAP and tell the CRM and the customer.

Wiring only; the steps live in ``flows.shipment_notices``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task

from flows.assets import QIMEN_INBOX, SHIPMENTS
from plugins.dag_defaults import default_args, engine_and_ledger, run_id

DOC = """
### Shipment notices (3PL warehouse over Qimen)

Every 15 minutes, and at once when the receiver stores a push from the warehouse (the inbox Asset):

1. **cancel**: CRM cancellations of orders SAP holds: `order.cancel` to the warehouse; once it agrees,
   SAP's deliveries are deleted and the open items rejected, the CRM is told. Goods already gone:
   the shipment goes on, the CRM hears the cancellation failed, an alert is recorded.
2. **discover**: SAP outbound deliveries of the 3PL plants (settings `logistics.warehouses`), read by
   day (SAP's change date has no time; the previous day is read again), gate `shipment_notices`
   (a posted order, no more than SAP confirmed).
3. **send**: `stockout.create` (B2BCK) through the ledger (`qimen.stockout`, key = delivery).
4. **confirm**: the warehouse's `stockout.confirm` pushes from the receiver's inbox, gate
   `shipment_confirms` (known delivery, shipped ≤ delivered, carrier code, tracking number);
   duplicates recognised by `outBizCode`. Quantities of partial confirms add up.
5. **issue**: SAP goods issue once per delivery on the final confirm, for the summed quantities
   (`sap.goods_issue`); the order becomes `shipped` or `partly_shipped`.
6. **notify**: shipment e-mail per shipment (zh/en, carrier, tracking link, what is still to come),
   the CRM's status with carrier and tracking per line, X12 856 files for EDI customers.
7. **track**: SF Express routes until signed for (签收) → `delivered`.

Ops: `hub quarantine list --stage shipment_confirms`, `hub ledger list --target qimen.stockout`,
`hub receiver` (the push endpoint), `output/asn/` (ship notices).
"""


@dag(
    dag_id="shipment_notices",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"), assets=QIMEN_INBOX),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # a confirm is applied once; two runs would race for the same inbox rows
    default_args=default_args(),
    tags=["logistics", "qimen", "sap", "shipments"],
    doc_md=DOC,
)
def shipment_notices():
    @task(pool="logistics_api")
    def cancel() -> dict:
        from flows import shipment_notices as steps

        return steps.cancel(*engine_and_ledger(), run_id())

    @task(pool="sap_api")
    def discover(cancelled: dict) -> dict:
        from flows import shipment_notices as steps
        from flows.connections import hub_engine

        return {"cancel": cancelled, "discover": steps.discover(hub_engine(), run_id(), _run_time())}

    @task(pool="logistics_api")
    def send(found: dict) -> dict:
        from flows import shipment_notices as steps

        return {**found, "send": steps.send(*engine_and_ledger(), run_id(), _run_time())}

    @task
    def confirm(sent: dict) -> dict:
        from flows import shipment_notices as steps
        from flows.connections import hub_engine

        return {**sent, "confirm": steps.confirm(hub_engine(), run_id())}

    @task(pool="sap_api")
    def issue(confirmed: dict) -> dict:
        from flows import shipment_notices as steps

        return {**confirmed, "issue": steps.issue(*engine_and_ledger(), run_id())}

    @task(pool="crm_api")
    def notify(issued: dict) -> dict:
        from flows import shipment_notices as steps

        return {**issued, "notify": steps.notify(*engine_and_ledger(), run_id(), _run_time())}

    @task(pool="logistics_api", outlets=[SHIPMENTS])
    def track(notified: dict) -> dict:
        from flows import shipment_notices as steps
        from flows.connections import hub_engine

        ctx = get_current_context()
        summary = {**notified, "track": steps.track(hub_engine(), run_id())}
        # The run's outcome in one place, on the Asset event the UI lists for the run.
        ctx["outlet_events"][SHIPMENTS].extra = {
            "run_id": ctx["run_id"],
            "sent_to_warehouse": summary["send"]["sent"],
            "confirmations": summary["confirm"]["received"],
            "goods_issued": summary["issue"]["issued"],
            "held": summary["send"]["quarantined"]
            + summary["confirm"]["quarantined"]
            + summary["issue"]["quarantined"],
            "delivered": summary["track"]["deliveries_delivered"],
        }
        return summary

    track(notify(issue(confirm(send(discover(cancel()))))))


def _run_time() -> datetime:
    """The run's time (not now()): a re-run of a run reads the same business day."""
    return get_current_context()["dag_run"].run_after


shipment_notices()
