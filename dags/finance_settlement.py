"""finance_settlement: the day's SAP billing three-way matched against orders and goods issues, written
as a verifiable settlement file and delivered to finance.

Wiring only; the steps live in ``flows.finance_settlement``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import (
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.definitions.callback import AsyncCallback

from flows.assets import SETTLEMENT
from plugins.dag_defaults import default_args, engine_and_ledger, run_id

DOC = """
### Finance settlement

Daily at 02:00 Asia/Shanghai for the **business day** that just closed (the data interval 02:00 → 02:00):

1. **extract**: SAP billing documents (`API_BILLING_DOCUMENT_SRV`) changed since the last read minus
   `settlement.overlap_seconds` (cancellations and credit memos included), with their items; SAP's
   goods issues of the deliveries they bill.
2. **settle**: per company code, the order lines billed that day, **three-way matched** (ordered vs
   goods-issued vs billed, quantities and amounts within `settlement.*_tolerance` and
   `tolerances.price_pct`); money recomputed exactly (`tax.rounding_mode`, `tax.rounding_scope`,
   effective-dated VAT) and compared with SAP's billing totals to the minor unit. Matched lines → the
   settlement file (CSV + XLSX + manifest, the next version only when something changed); the rest →
   the exceptions report with the reason. **Gate on the file itself**: every control recomputed from
   what was written before anything leaves.
3. **deliver**: to finance over SFTP (`finance_drop` Connection) or the local outbox, through the
   ledger (`file.settlement`): never twice, never a partial file under the final name.

**Deadline**: a `DeadlineAlert` tells operations when a run has not finished `settlement.deadline_hours`
(6) after the day closed; `ops_alerts` also raises `settlement_deadline` while a billed day has no
delivered file. Finance checks any file with `hub settlement verify FILE`.
"""


def _deadline() -> DeadlineAlert:
    from hub.settings import get_settings

    # The run's logical date is the start of the business day's interval: the day closes 24 h later.
    hours = 24 + get_settings().settlement.deadline_hours
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=timedelta(hours=hours),
        callback=AsyncCallback("flows.finance_settlement.deadline.deadline_missed"),
    )


@dag(
    dag_id="finance_settlement",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="Asia/Shanghai"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # versions of one day's file are numbered in order
    default_args=default_args(),
    deadline=_deadline(),
    tags=["finance", "sap", "settlement"],
    doc_md=DOC,
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Settle this business day (YYYY-MM-DD) instead of the data interval's: a re-run writes "
            "a new version only if its inputs changed",
        )
    },
)
def finance_settlement():
    @task(pool="sap_api")
    def extract() -> dict:
        from flows import finance_settlement as steps
        from flows.connections import hub_engine

        return steps.extract(hub_engine(), run_id(), _day())

    @task
    def settle(extracted: dict) -> dict:
        from flows import finance_settlement as steps
        from flows.connections import hub_engine

        return {"extract": extracted, **steps.settle(hub_engine(), run_id(), _day())}

    @task(outlets=[SETTLEMENT])
    def deliver(settled: dict) -> dict:
        from flows import finance_settlement as steps

        ctx = get_current_context()
        delivered = steps.deliver(*engine_and_ledger(), settled)
        ctx["outlet_events"][SETTLEMENT].extra = {
            "run_id": ctx["run_id"],
            "business_day": settled["business_day"],
            "files": {c["company_code"]: c["files"] for c in settled["companies"]},
        }
        return {**settled, "deliver": delivered}

    deliver(settle(extract()))


def _day():  # noqa: ANN202 - flows.finance_settlement.Day, imported lazily
    from zoneinfo import ZoneInfo

    from flows import finance_settlement as steps
    from hub.settings import get_settings

    ctx = get_current_context()
    zone = get_settings().hub.timezone
    if ctx["params"].get("day"):
        from datetime import date

        return steps.named_day(date.fromisoformat(ctx["params"]["day"]), zone)
    if ctx.get("data_interval_start") is None:  # triggered without a logical date: the day that closed last
        from datetime import timedelta

        from flows.finance_settlement import DAY_CLOSES

        local = ctx["dag_run"].run_after.astimezone(ZoneInfo(zone))
        closed = local.date() - timedelta(days=1 if local.time() >= DAY_CLOSES else 2)
        return steps.named_day(closed, zone)
    return steps.day_of(ctx["data_interval_start"], ctx["data_interval_end"], zone)


finance_settlement()
