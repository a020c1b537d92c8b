"""crm_order_sync: pull changed sales orders from each enabled CRM into the hub.

Wiring only; the steps live in ``flows.crm_order_sync`` and import nothing heavy until a task runs.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from flows.assets import ACCEPTED_ORDERS
from plugins.dag_defaults import default_args

DOC = """
### CRM order sync

Every 15 minutes, for each CRM enabled in the settings (`crm.enabled`: Zoho CRM, Fxiaoke; one adapter
each in `connectors/crm/`), pulls the sales orders changed since the CRM's **high-water mark**
(`sync_cursors`, stream `sales_orders`: the end of the last committed pull), reaching back
`crm.overlap_seconds`, up to the run's data interval end, then advances the mark. A scheduler that was
down for hours or a failed run leaves no gap: the next run starts where the last committed pull ended,
and takes over the orders a failed run pulled but did not finish. The first pull of a CRM starts at
`crm.initial_pull_from`. A run triggered without a logical date (REST API, `airflow dags trigger`
without `-l`) pulls up to its `run_after`.

1. **pull** → the `crm_inbox` landing table, with the CRM's account and product mappings refreshed;
2. **raw gate** (`raw_crm_orders` suite): required fields, quantities > 0, numeric prices, known
   currencies, unique line numbers; an order with any bad line is quarantined whole;
3. **accept**: map to the canonical order (customer number, material), the `accepted_orders` gate
   (control totals), upsert into `orders` / `order_lines`; publishes the accepted-orders Asset;
4. **quarantine_share**: a CRM whose orders this run quarantined above `gates.max_quarantine_pct`
   (once it delivered `gates.min_rows_for_rate` orders) fails the run with what to do ("zoho_crm: 600
   of 600 orders quarantined (100 %, limit 50 %): most common reason …; see hub quarantine list
   --source zoho_crm") and an alert; above `alerts.quarantine_rate_pct` it records an alert only.
   The accepted orders have gone on to `sap_order_posting` either way.

Counts balance for every CRM: pulled = accepted + quarantined. Re-running an interval changes nothing.

**Params**: `window_start` / `window_end` re-run exactly that window (no overlap; `window_end`
defaults to the interval end); such a run never moves the high-water mark, back or forward;
`requeue_quarantined` replays this flow's open quarantine records (also: `hub quarantine requeue`).
"""


@dag(
    dag_id="crm_order_sync",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # runs hand over through the inbox; one at a time keeps them apart
    default_args=default_args(),
    tags=["crm", "orders", "ingest"],
    doc_md=DOC,
    params={
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="Re-run exactly the window from this instant (leaves the high-water mark alone)",
        ),
        "window_end": Param(
            None, type=["null", "string"], format="date-time", description="... up to this instant (exclusive)"
        ),
        "requeue_quarantined": Param(False, type="boolean", description="Replay this flow's open quarantine records"),
    },
)
def crm_order_sync():
    @task
    def enabled_crms() -> list[str]:
        from flows.crms import enabled_names

        return enabled_names()  # crm.enabled, each checked against the registry of CRM adapters

    @task(pool="crm_api", map_index_template="{{ crm }}")
    def pull(source: str) -> dict:
        from flows.connections import hub_engine
        from flows.crm_order_sync import pull as pull_step
        from flows.crm_order_sync import span_of_run
        from hub.settings import get_settings

        ctx = get_current_context()
        ctx["crm"] = source
        settings = get_settings().crm
        return pull_step(
            hub_engine(),
            source,
            span_of_run(
                ctx["params"], ctx.get("data_interval_start"), ctx.get("data_interval_end"), ctx["dag_run"].run_after
            ),
            ctx["run_id"],
            overlap_seconds=settings.overlap_seconds,
            initial_from=settings.initial_pull_from,
            requeue=bool(ctx["params"].get("requeue_quarantined")),
        )

    @task(map_index_template="{{ crm }}")
    def raw_gate(pulled: dict) -> dict:
        from flows.connections import hub_engine
        from flows.crm_order_sync import raw_gate as gate_step

        get_current_context()["crm"] = pulled["source"]
        return {**pulled, **gate_step(hub_engine(), pulled["source"], get_current_context()["run_id"])}

    @task(map_index_template="{{ crm }}")
    def accept(gated: dict) -> dict:
        from flows.connections import hub_engine
        from flows.crm_order_sync import accept as accept_step

        get_current_context()["crm"] = gated["source"]
        result = accept_step(hub_engine(), gated["source"], get_current_context()["run_id"])
        return {
            "source": gated["source"],
            "pulled": gated["pulled"],
            "raw_quarantined": gated["quarantined"],
            "accepted": result["accepted"],
            "quarantined": gated["quarantined"] + result["quarantined"],
        }

    @task(outlets=[ACCEPTED_ORDERS])
    def publish(results: list[dict]) -> dict:
        ctx = get_current_context()
        # A lazy XCom sequence: index it (iterating probes one entry past the end and logs a 404).
        results = [results[i] for i in range(len(results))]
        totals = {k: sum(r[k] for r in results) for k in ("pulled", "accepted", "quarantined")}
        for r in results:
            if r["pulled"] != r["accepted"] + r["quarantined"]:
                raise RuntimeError(f"{r['source']}: counts do not balance: {r}")
        ctx["outlet_events"][ACCEPTED_ORDERS].extra = {"run_id": ctx["run_id"], **totals}
        return {"per_crm": results, **totals}

    @task
    def quarantine_share(summary: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from flows.connections import hub_engine
        from flows.crm_order_sync import QuarantineShareExceeded, check_quarantine_share

        ctx = get_current_context()
        try:
            return check_quarantine_share(
                hub_engine(), summary["per_crm"], ctx["run_id"], dag_id=ctx["dag"].dag_id, task_id=ctx["ti"].task_id
            )
        except QuarantineShareExceeded as exc:  # a verdict on the data, not an outage: no retry changes it
            raise AirflowFailException(str(exc)) from None

    pulled = pull.expand(source=enabled_crms())
    gated = raw_gate.expand(pulled=pulled)
    quarantine_share(publish(accept.expand(gated=gated)))


crm_order_sync()
