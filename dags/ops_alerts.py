"""ops_alerts: the alert checks every 15 minutes, so the right people hear of a delay, a shortage or a
stuck message at once. Wiring only; the checks live in ``flows.alerting``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from plugins.dag_defaults import default_args

DOC = """
### Operations alerts

Every 15 minutes the checks of `flows.alerting` run over the hub database, at the run's time:
**order delay** (confirmed date passed, not shipped), **backorder aging**, **low / over stock**,
**credit limit**, **gate failure**, **quarantine share** above `alerts.quarantine_rate_pct`,
**ledger messages failed or stuck**. Each open alert is told once per `alerts.window_minutes` on the
channels its severity routes to (`[alerts.channels]`: e-mail, WeCom, DingTalk, a JSON webhook),
reminded while it stays open, and a "resolved" message follows when it clears. History: tables
`alerts` and `alert_states`. Failed task tries are alerted by the failure notifier of every DAG.
"""


@dag(
    dag_id="ops_alerts",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # two runs at once would tell the same alert twice
    default_args=default_args(),
    tags=["operations", "alerts"],
    doc_md=DOC,
)
def ops_alerts():
    @task
    def check() -> dict:
        from flows.alerting import run_checks
        from flows.connections import hub_engine

        ctx = get_current_context()
        summary = run_checks(
            hub_engine(),
            ctx["dag_run"].run_after,
            context={"dag_id": "ops_alerts", "run_id": ctx["run_id"], "task_id": "check"},
        )
        return {"open": summary["open"], "messages": dict(summary["messages"]), "errors": summary["errors"]}

    check()


ops_alerts()
