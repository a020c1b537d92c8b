"""inventory_reconciliation: SAP's book stock against the warehouses' counts, every day; adjustments
go to SAP only when a person approved them.

Wiring only; the steps live in ``flows.inventory_reconciliation``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task

from flows.assets import INVENTORY_RECONCILIATION
from plugins.approvals import ANSWER_KEY, RecordedApprovalOperator
from plugins.dag_defaults import default_args, engine_and_ledger, run_id

DOC = """
### Inventory reconciliation (盘点)

Daily at 23:30 Asia/Shanghai for the business day that ends the run's data interval:

1. **snapshot**: SAP's book stock (`A_MatlStkInAcctMod`) of every plant, read once per day and kept,
   so a re-run judges the same book; gate `book_stock` in the database.
2. **collect**: the warehouses' counts: `inventory.report` pushes from the receiver's inbox (every page
   of a count first; CHECK = a count, ADJUST = already adjusted in the WMS), `stockchange.report`
   receipts, CSV count sheets in `inventory.count_dir` (plants without a WMS), `inventory.query`
   (quantity + lockQuantity); gate `warehouse_counts` quarantines bad lines, a bad file or message
   whole.
3. **reconcile**: book against physical per plant, storage location, material, batch and stock type;
   deliveries shipped but not goods-issued and receipts not yet booked explain timing differences;
   item tolerances (`tolerances.count_qty` / `count_value`) and the per-plant document limit
   (`inventory.document_value`) decide `matched`, `explained`, `recount` or `adjust`; gate `count_results`.
4. **propose** → **approve**: the adjustments wait for a person under **Required Actions** (Approve /
   Reject, the lines and values in the request); unanswered for `inventory.approval_timeout_hours` →
   rejected. With `inventory.approval = "cli"`: `hub inventory approve DAY` (or `reject`).
5. **post**: approved adjustments as SAP physical-inventory documents (counts, then PostDifferences;
   701/702, 703/704, 707/708) through the ledger (`sap.physical_inventory`, once per plant and day).
6. **policies**: safety stock, reorder point, min/max, EOQ per material and plant; low / over stock
   for the alert checks.
7. **report**: `output/inventory/inventory_reconciliation_<day>.csv|xlsx|html`.

Re-run a day: trigger with the param `day`. A day's book is read once; its results are frozen once
proposed, so a re-run never posts twice.

Ops: `hub inventory show DAY`, `hub quarantine list --stage warehouse_counts`,
`hub ledger list --target sap.physical_inventory`.
"""


def _approval_timeout() -> timedelta:
    from hub.settings import get_settings

    return timedelta(hours=get_settings().inventory.approval_timeout_hours)


@dag(
    dag_id="inventory_reconciliation",
    schedule=CronDataIntervalTimetable("30 23 * * *", timezone="Asia/Shanghai"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    # A run may wait a day for its approval: the next days run meanwhile (each its own business day;
    # counts are stored once whichever run collects them first).
    max_active_runs=3,
    default_args=default_args(),
    tags=["inventory", "qimen", "sap", "approval"],
    doc_md=DOC,
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Reconcile this business day (YYYY-MM-DD) instead of the data interval's: the counts "
            "from the cut-off (23:30 Asia/Shanghai) before it to its own",
        )
    },
)
def inventory_reconciliation():
    @task(pool="sap_api")
    def snapshot() -> dict:
        from flows import inventory_reconciliation as steps
        from flows.connections import hub_engine

        return steps.snapshot(hub_engine(), run_id(), _window())

    @task(pool="logistics_api")
    def collect(_: dict) -> dict:
        from flows import inventory_reconciliation as steps
        from flows.connections import hub_engine

        return steps.collect(hub_engine(), run_id(), _window())

    @task
    def reconcile(_: dict) -> dict:
        from flows import inventory_reconciliation as steps
        from flows.connections import hub_engine

        return steps.reconcile(hub_engine(), run_id(), _window())

    @task
    def propose(_: dict) -> dict:
        from flows import inventory_reconciliation as steps
        from flows.connections import hub_engine

        return steps.propose(hub_engine(), run_id(), _window())

    @task.branch
    def ask(proposal: dict) -> str:
        from hub.settings import get_settings

        if proposal["needs_decision"] and get_settings().inventory.approval == "airflow_ui":
            return "approve"
        return "record_decision"

    approve = RecordedApprovalOperator(  # Airflow's ApprovalOperator, its answer kept for record_decision
        task_id="approve",
        subject="Inventory adjustments of {{ ti.xcom_pull(task_ids='propose')['business_day'] }}",
        body="{{ ti.xcom_pull(task_ids='propose')['request'] }}",
        defaults="Reject",  # what an unanswered request becomes when it times out
        response_timeout=_approval_timeout(),
    )
    approved = EmptyOperator(task_id="approved")  # skipped by a Reject, so record_decision sees both

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def record_decision() -> dict:
        from flows import inventory_reconciliation as steps
        from flows.connections import hub_engine

        answer = get_current_context()["ti"].xcom_pull(task_ids="approve", key=ANSWER_KEY)
        return steps.record_ui_decision(hub_engine(), _window(), answer)

    @task(pool="sap_api")
    def post(decision: dict) -> dict:
        from flows import inventory_reconciliation as steps

        return {"decision": decision, **steps.post(*engine_and_ledger(), run_id(), _window())}

    @task
    def policies(posted: dict) -> dict:
        from flows import inventory_reconciliation as steps
        from flows.connections import hub_engine

        return {"post": posted, "policies": steps.policies(hub_engine(), run_id(), _window())}

    @task(outlets=[INVENTORY_RECONCILIATION])
    def report(done: dict) -> dict:
        from flows import inventory_reconciliation as steps
        from flows.connections import hub_engine

        ctx = get_current_context()
        written = steps.report(hub_engine(), _window())
        ctx["outlet_events"][INVENTORY_RECONCILIATION].extra = {"run_id": ctx["run_id"], **written}
        return {**done, "report": written}

    proposal = propose(reconcile(collect(snapshot())))
    choice = ask(proposal)
    decision = record_decision()
    choice >> approve >> approved >> decision
    choice >> decision
    report(policies(post(decision)))


def _window():  # noqa: ANN202 - flows.inventory_reconciliation.Window, imported lazily
    """The run's business day: the param ``day`` when operations re-run one, else the data interval's."""
    from datetime import date

    from flows import inventory_reconciliation as steps
    from hub.settings import get_settings

    ctx = get_current_context()
    zone = get_settings().hub.timezone
    if ctx["params"].get("day"):
        return steps.day_window(date.fromisoformat(ctx["params"]["day"]), zone)
    if ctx.get("data_interval_end") is None:  # triggered without a logical date: today's business day
        return steps.day_window(steps.business_day_of(ctx["dag_run"].run_after, zone), zone)
    return steps.window(ctx["data_interval_start"], ctx["data_interval_end"], zone)


inventory_reconciliation()
