"""replenishment_planning: weekly demand forecasts, replenishment proposals within each plant's budget,
approved ones as SAP purchase requisitions, and reorder reminders to the customers' CRMs.

Wiring only; the steps live in ``flows.replenishment_planning``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task

from flows.assets import REPLENISHMENT_PLAN
from flows.replenishment_planning.forecast_env import forecast_job, forecast_python, project_root
from plugins.approvals import ANSWER_KEY, RecordedApprovalOperator
from plugins.dag_defaults import default_args, engine_and_ledger, run_id

DOC = """
### Replenishment planning (预测与规划, 采购)

Mondays at 06:00 Asia/Shanghai, for the week that starts:

1. **prepare**: demand per material × plant by month (`planning.bucket`): SAP's consumption history
   (ERP extract `consumption_history.csv`) for the months it covers, the hub's orders after; zeros kept.
2. **forecast**: in the forecasting environment (`.venv-forecast`, statsforecast): Syntetos-Boylan class,
   candidates per class (ETS/Theta; CrostonSBA, TSB, ADIDA, IMAPA; naive), one chosen per series by
   rolling-origin RMSSE with a bias check.
3. **store** → **propose**: safety stock from the forecast error over the lead time, reorder point,
   min/max with MOQ and multiple, against the inventory position (SAP book stock + the hub's open
   requisitions − reserved − backordered); each plant's budget (`planning.budget`) bought by priority,
   the rest cut (alert `budget_cut`).
4. **approve**: under **Required Actions** (Approve / Reject, the plants' values and cuts in the request);
   unanswered for `planning.approval_timeout_hours` → rejected. With `planning.approval = "cli"`:
   `hub planning approve WEEK` (or `reject`).
5. **request**: approved proposals as SAP purchase requisitions (one per plant and week) through the
   ledger (`sap.purchase_requisition`, found again by PurReqnExternalReference: never twice).
6. **remind**: customers' parts bought at a steady rhythm and due again → a Zoho Task / Fxiaoke
   follow-up record on the account, once per purchase cycle (`crm.<name>.reminder`, looked up by key).
7. **report**: `output/planning/replenishment_planning_<week>.csv|xlsx|html` (charts of the top parts).

Re-run a week: trigger with the param `week`. Its proposals are frozen once made, so a re-run never
requests twice. Ops: `hub planning show WEEK`, `hub ledger list --target sap.purchase_requisition`.
"""


def _approval_timeout() -> timedelta:
    from hub.settings import get_settings

    return timedelta(hours=get_settings().planning.approval_timeout_hours)


@dag(
    dag_id="replenishment_planning",
    schedule=CronDataIntervalTimetable("0 6 * * 1", timezone="Asia/Shanghai"),
    start_date=datetime(2026, 11, 2),
    catchup=False,
    # Planning spends the purchasing budget: it starts paused and is switched on once the ERP extract,
    # a CRM sync and an inventory snapshot are in (a run on a half-synced history would be frozen).
    is_paused_upon_creation=True,
    # A week may wait days for its approval; the next weeks plan meanwhile (their own proposals).
    max_active_runs=3,
    default_args=default_args(),
    tags=["planning", "forecast", "sap", "crm", "approval"],
    doc_md=DOC,
    params={
        "week": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Plan this week (any day of it, YYYY-MM-DD) instead of the one the run starts",
        )
    },
)
def replenishment_planning():
    @task
    def prepare() -> dict:
        from flows import replenishment_planning as steps
        from flows.connections import hub_engine

        return steps.prepare(hub_engine(), _week())

    # Runs in .venv-forecast (statsforecast needs pandas < 3; the hub runs on pandas 3).
    forecast = task.external_python(task_id="forecast", python=forecast_python(), expect_airflow=False)(forecast_job)

    @task
    def store(result_path: str | None) -> dict:
        from flows import replenishment_planning as steps
        from flows.connections import hub_engine

        return steps.store(hub_engine(), run_id(), _week(), result_path)

    @task
    def propose(_: dict) -> dict:
        from flows import replenishment_planning as steps
        from flows.connections import hub_engine

        return steps.propose(hub_engine(), run_id(), _week())

    @task.branch
    def ask(proposal: dict) -> str:
        from hub.settings import get_settings

        if proposal["needs_decision"] and get_settings().planning.approval == "airflow_ui":
            return "approve"
        return "record_decision"

    approve = RecordedApprovalOperator(  # Airflow's ApprovalOperator, its answer kept for record_decision
        task_id="approve",
        subject="Replenishment proposals of the week of {{ ti.xcom_pull(task_ids='propose')['planning_week'] }}",
        body="{{ ti.xcom_pull(task_ids='propose')['request'] }}",
        defaults="Reject",  # what an unanswered request becomes when it times out
        response_timeout=_approval_timeout(),
    )
    approved = EmptyOperator(task_id="approved")  # skipped by a Reject, so record_decision sees both

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def record_decision() -> dict:
        from flows import replenishment_planning as steps
        from flows.connections import hub_engine

        answer = get_current_context()["ti"].xcom_pull(task_ids="approve", key=ANSWER_KEY)
        return steps.record_ui_decision(hub_engine(), _week(), answer)

    @task(pool="sap_api")
    def request(decision: dict) -> dict:
        from flows import replenishment_planning as steps

        return {"decision": decision, **steps.request(*engine_and_ledger(), run_id(), _week())}

    @task(pool="crm_api")
    def remind(_: dict) -> dict:
        from flows import replenishment_planning as steps

        return steps.remind(*engine_and_ledger(), run_id(), _week())

    @task(outlets=[REPLENISHMENT_PLAN], trigger_rule=TriggerRule.NONE_FAILED)
    def report(requested: dict, reminded: dict) -> dict:
        from flows import replenishment_planning as steps
        from flows.connections import hub_engine

        ctx = get_current_context()
        written = steps.report(hub_engine(), _week())
        ctx["outlet_events"][REPLENISHMENT_PLAN].extra = {"run_id": ctx["run_id"], "week": str(_week()), **written}
        return {"request": requested, "remind": reminded, "report": written}

    prepared = prepare()
    stored = store(forecast(prepared["job"], project_root()))
    proposal = propose(stored)
    choice = ask(proposal)
    decision = record_decision()
    choice >> approve >> approved >> decision
    choice >> decision
    report(request(decision), remind(stored))


def _week():  # noqa: ANN202 - datetime.date
    """The planning week: the param ``week`` when operations re-run one, else the Monday the run starts."""
    from datetime import date

    from flows.replenishment_planning import planning_week
    from hub.settings import get_settings

    ctx = get_current_context()
    zone = get_settings().hub.timezone
    if ctx["params"].get("week"):
        return planning_week(date.fromisoformat(ctx["params"]["week"]), zone)
    # triggered without a logical date (Airflow 3's REST default): the week the run starts in
    return planning_week(ctx.get("data_interval_end") or ctx["dag_run"].run_after, zone)


replenishment_planning()
