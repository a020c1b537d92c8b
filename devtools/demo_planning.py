"""The demo's planning week: forecasts from SAP's consumption history and the hub's orders, proposals
within each plant's budget, ``hub planning approve`` (``dag.test()`` cannot wait for a person in the
Airflow UI), the next run creates the SAP purchase requisitions, and a third run shows nothing is
requested or reminded twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from hub.settings import get_settings


def run_planning(
    dag: Any, clock: datetime, sandbox: dict[str, Any], run_one: Callable, say: Callable[[str], None]
) -> list[tuple[str, str, float]]:
    from datetime import timedelta

    from flows.connections import hub_engine
    from flows.replenishment_planning import decide, planning_week

    # Purchasing plans next week ahead, at the end of this one (the DAG itself runs Mondays 06:00).
    week = planning_week(clock, get_settings().hub.timezone) + timedelta(days=7)
    conf = {"week": week.isoformat()}
    results = [run_one(dag, clock, conf)]
    decided = decide(hub_engine(), week, True, "cli:demo", "make demo")
    say(f"  … hub planning approve {week}: {decided['status']} (what purchasing does in Required Actions)")
    results.append(run_one(dag, clock, conf))
    say("  … the same week once more: no requisition or reminder is written twice")
    results.append(run_one(dag, clock, conf))
    return results


def planning_summary(conn: Any, sandbox: dict[str, Any], say: Callable[[str], None]) -> None:
    from sqlalchemy import func, select

    from hub.schema import ledger, planning_runs, reorder_reminders, replenishment_proposals

    run = conn.execute(select(planning_runs).order_by(planning_runs.c.planning_week.desc())).first()
    if run is None:
        return
    week = run.planning_week
    forecast = run.forecast or {}
    say(f"Replenishment planning of the week of {week} ({run.status}, decided by {run.decided_by or '-'}):")
    say(
        f"  forecasts          {forecast.get('series', 0)} material x plant series in "
        f"{forecast.get('seconds', 0):.1f} s; classes {forecast.get('classes')}"
    )
    say(f"  models chosen      {forecast.get('chosen')}")
    for p in (run.proposal or {}).get("plants", []):
        say(
            f"  plant {p['plant']}         {p['proposals']} proposals worth {p['proposed_value']} {p['currency']}; "
            f"budget {p['budget'] or 'none'}: {p['within_value']} bought, "
            f"{p['cut']} cut ({p['cut_value']} {p['currency']})"
        )
    requested = conn.execute(
        select(func.count(func.distinct(replenishment_proposals.c.purchase_requisition))).where(
            replenishment_proposals.c.planning_week == week, replenishment_proposals.c.decision == "requested"
        )
    ).scalar_one()
    sent = conn.execute(
        select(func.count()).where(ledger.c.target == "sap.purchase_requisition", ledger.c.status == "sent")
    ).scalar_one()
    url = f"{sandbox['control_url']}/records/sap_s4/purchase_requisitions/all"
    in_sap = requests.get(url, timeout=10).json()["record"]
    say(
        f"  SAP requisitions   {requested} created through the ledger ({sent} ledger entries); SAP holds "
        f"{in_sap.get('count', '?')}"
    )
    reminders = dict(
        conn.execute(
            select(reorder_reminders.c.source, func.count())
            .where(reorder_reminders.c.status == "written")
            .group_by(reorder_reminders.c.source)
        ).all()
    )
    say(f"  reorder reminders  {reminders or 'none'} (Zoho Tasks / Fxiaoke follow-up records on the accounts)")
    say(f"  report             {get_settings().planning_dir} (replenishment_planning_{week}.csv/.xlsx/.html)")
