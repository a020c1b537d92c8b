"""Step 7: the week's planning report (CSV of the proposals, XLSX and HTML with charts of the top parts:
history, forecast and reorder point) in ``<output>/planning/``."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from hub.schema import demand_forecasts, materials, planning_runs, reorder_reminders, replenishment_proposals
from transforms.planning_report import write_planning_report

log = logging.getLogger(__name__)

TOP_PARTS = 8  # charted: the largest proposals by value


def _summary(conn: Any, run: Any, proposals: list[dict[str, Any]]) -> dict[str, Any]:
    reminders = dict(
        conn.execute(
            select(reorder_reminders.c.source, func.count())
            .where(reorder_reminders.c.planning_week == run.planning_week, reorder_reminders.c.status == "written")
            .group_by(reorder_reminders.c.source)
        ).all()
    )
    plants = (run.proposal or {}).get("plants") or []
    return {
        "planning_week": run.planning_week.isoformat(),
        "bucket": run.bucket,
        "horizon": (run.forecast or {}).get("horizon"),
        "plants": plants,
        "status": run.status,
        "decided_by": run.decided_by,
        "requisitions": len({p["purchase_requisition"] for p in proposals if p["purchase_requisition"]}),
        "reminders": {k: int(v) for k, v in sorted(reminders.items())},
    }


def _top(conn: Any, planning_week: date, proposals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chosen = sorted(proposals, key=lambda p: (-p["value"], p["plant"], p["material"]))[:TOP_PARTS]
    out = []
    for p in chosen:
        fc = conn.execute(
            select(demand_forecasts).where(
                demand_forecasts.c.planning_week == planning_week,
                demand_forecasts.c.material == p["material"],
                demand_forecasts.c.plant == p["plant"],
            )
        ).first()
        if fc is None:
            continue
        out.append(
            {
                "plant": p["plant"],
                "material": p["material"],
                "material_name": p["material_name"],
                "periods": fc.history["periods"],
                "history": fc.history["values"],
                "forecast_periods": fc.forecast["periods"],
                "forecast": fc.forecast["values"],
                "reorder_point": float(p["reorder_point"]),
                "unit": p.get("unit") or "",
            }
        )
    return out


def write_report(engine: Engine, planning_week: date, folder: Path, language: str) -> dict[str, Any]:
    """Write the week's report files; say where they are."""
    with engine.connect() as conn:
        run = conn.execute(select(planning_runs).where(planning_runs.c.planning_week == planning_week)).first()
        if run is None:
            log.info("planning week %s was not planned: no report", planning_week)
            return {"files": {}}
        names = dict(conn.execute(select(materials.c.material, materials.c.description)).all())
        proposals = []
        for r in conn.execute(
            select(replenishment_proposals, demand_forecasts.c.forecast)
            .join(
                demand_forecasts,
                (demand_forecasts.c.planning_week == replenishment_proposals.c.planning_week)
                & (demand_forecasts.c.material == replenishment_proposals.c.material)
                & (demand_forecasts.c.plant == replenishment_proposals.c.plant),
            )
            .where(replenishment_proposals.c.planning_week == planning_week)
            .order_by(replenishment_proposals.c.plant, replenishment_proposals.c.priority)
        ):
            row = dict(r._mapping)
            values = row.pop("forecast")["values"]
            proposals.append(
                {
                    **row,
                    "material_name": names.get(row["material"]) or "",
                    "forecast_per_period": sum(values) / len(values) if values else 0.0,
                    "min_qty": row["reorder_point"],
                    "approved_qty": row["proposed_qty"] if row["decision"] in ("approved", "requested") else None,
                }
            )
        summary = _summary(conn, run, proposals)
        top = _top(conn, planning_week, proposals)
    paths = write_planning_report(folder, summary, proposals, top, language)
    written = {kind: str(path) for kind, path in paths.items()}
    by_status: dict[str, int] = defaultdict(int)
    for p in proposals:
        by_status[p["budget_status"]] += 1
    log.info("planning report of %s: %s", planning_week, ", ".join(written.values()))
    return {"files": written, "proposals": len(proposals), "budget": dict(by_status)}
