"""ops_report: the daily operations report (KPIs as HTML with charts, plus CSV).

Wiring only; the step lives in ``flows.ops_report``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from flows.assets import OPS_REPORT
from plugins.dag_defaults import default_args

DOC = """
### Daily operations report

Every morning (01:30 Asia/Shanghai) for the **previous business day** (settings `hub.timezone`) of
the run's logical date (or its `run_after` when triggered without one), never of the clock, so a
re-run gives the same report. To report
another day, trigger with the param `day` (YYYY-MM-DD).

Reads the hub database with the named queries `include/sql/kpi_*.sql` and writes
`output/reports/ops_report_<day>.html` (charts drawn as SVG, opens offline) and `.csv` (UTF-8,
formula-safe), each under a temporary name, then renamed. Language: settings `hub.language` (zh/en).

- **Orders in and confirmed** per CRM; confirmation fill (units SAP confirmed ÷ ordered)
- **OTIF** (on time in full, against SAP's confirmed date, delivered date from carrier tracking) and
  **line / order / unit fill rates**, per CRM and plant, with a 29-day OTIF trend
- **Order cycle time**: CRM created → confirmed → shipped → delivered (median, mean, 90th percentile)
- **Backorder aging** buckets (0–7 / 8–14 / 15–30 / 31–60 / >60 days) by lines, units and value
- **Stock health** from SAP's latest stock snapshot against open backorders
- **Gate pass rates**, **quarantine by reason**, **ledger backlog**
- every KPI for the day against the previous 7 and 28 days; the definitions are in the report

Where it is: the task log's INFO line names both files; the `hub://reports/ops` Asset event's
extra carries the paths and the day's headline numbers (Assets view → the event).
"""


@dag(
    dag_id="ops_report",
    schedule=CronTriggerTimetable("30 1 * * *", timezone="Asia/Shanghai"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["reports", "kpi", "operations"],
    doc_md=DOC,
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Business day to report (YYYY-MM-DD); empty: the day before the run's own",
        )
    },
)
def ops_report():
    @task(outlets=[OPS_REPORT])
    def report() -> dict:
        from datetime import date

        from flows.connections import hub_engine
        from flows.ops_report import run as run_step

        ctx = get_current_context()
        day = ctx["params"].get("day")
        run = ctx["dag_run"]
        written = run_step(
            hub_engine(),
            # The run's logical date; a trigger without one (REST API, CLI without -l) has run_after.
            run_after=run.logical_date or run.run_after,
            run_id=ctx["run_id"],
            day=date.fromisoformat(day) if day else None,
        )
        ctx["outlet_events"][OPS_REPORT].extra = {"run_id": ctx["run_id"], **written}
        return written

    report()


ops_report()
