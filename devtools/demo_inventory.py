"""The demo's inventory day: the warehouse counts and pushes, plant 2010's count sheets arrive, the
reconciliation proposes, ``hub inventory approve`` decides (``dag.test()`` cannot wait for a person in
the Airflow UI), the next run posts to SAP, and a third run shows nothing is posted twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from hub.settings import get_settings

WAREHOUSES = ("WH-SH01", "WH-SZ01")


def run_inventory(
    dag: Any, clock: datetime, sandbox: dict[str, Any], run_one: Callable, say: Callable[[str], None]
) -> list[tuple[str, str, float]]:
    from flows.connections import hub_engine
    from flows.inventory_reconciliation import business_day_of, decide

    control = sandbox["control_url"]
    settings = get_settings()
    day = business_day_of(clock, settings.hub.timezone)
    for warehouse in WAREHOUSES:
        requests.post(f"{control}/qimen_wms/counts", json={"warehouse": warehouse}, timeout=60).raise_for_status()
    pushed = requests.post(f"{control}/qimen_wms/push", timeout=120).json()["pushes"]
    sheets = requests.post(
        f"{control}/qimen_wms/count_sheets",
        json={"folder": str(settings.count_dir), "day": day.isoformat()},
        timeout=60,
    ).json()["files"]
    say(
        f"  … the warehouse counted {len(WAREHOUSES)} warehouses and pushed {len(pushed)} messages; "
        f"plant 2010 dropped {len(sheets)} count sheets in {settings.count_dir}"
    )
    conf = {"day": day.isoformat()}
    results = [run_one(dag, clock, conf)]
    decided = decide(hub_engine(), day, True, "cli:demo", "make demo")
    say(f"  … hub inventory approve {day}: {decided['status']} (what operations do in Required Actions)")
    results.append(run_one(dag, clock, conf))
    say("  … the same day once more: nothing is posted twice")
    results.append(run_one(dag, clock, conf))
    return results


def inventory_summary(conn: Any, say: Callable[[str], None]) -> None:
    from sqlalchemy import func, select

    from flows.inventory_reconciliation.reporting import summary_of
    from hub.schema import ledger, reconciliations

    days = conn.execute(select(reconciliations.c.business_day).order_by(reconciliations.c.business_day)).all()
    if not days:
        return
    day = days[-1][0]
    summary, _ = summary_of(conn.engine, day)
    documents = conn.execute(
        select(func.count()).where(ledger.c.target == "sap.physical_inventory", ledger.c.status == "sent")
    ).scalar_one()
    values = ", ".join(f"{v} {c}" for c, v in sorted(summary["adjust_value_net"].items())) or "0"
    say(f"Inventory reconciliation of {day} (SAP book against the warehouses' counts):")
    say(
        f"  lines {summary['lines']:>6}: {summary['matched']} matched, {summary['explained']} explained by open "
        f"documents, {summary['recount']} to recount, {summary['adjust']} to adjust"
    )
    gain, loss = summary["adjust_qty_gain"].normalize(), summary["adjust_qty_loss"].normalize()
    say(
        f"  adjustments        +{gain:f} / -{loss:f} units, net value {values}; "
        f"record accuracy {summary['record_accuracy'] * 100:.2f} %"
    )
    say(
        f"  approved / posted  {summary['approved']} / {summary['posted']} lines, "
        f"{documents} SAP physical-inventory documents"
    )
    say(f"  stock policies     {summary['low_stock']} low, {summary['over_stock']} over stock (alerted by ops_alerts)")
    folder = get_settings().output_dir / "inventory"
    say(f"  report             {folder} (inventory_reconciliation_{day}.csv/.xlsx/.html)")
