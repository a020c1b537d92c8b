"""Steps 3 and 4: the forecasts stored, then turned into proposals within each plant's budget.

A week's proposals are frozen once made: a re-run of the week (or of the step) keeps them and the
decision on them, so nothing is requested twice or differently from what a person approved.

The inventory position is SAP's latest book stock the hub holds (inventory_reconciliation takes it
daily) + the hub's requisitions not yet due − reserved − backordered (include/sql/stock_position.sql).
Without any book snapshot there is nothing to plan against and the step fails saying so.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, select, update

from flows.named_queries import rows as named_rows
from flows.replenishment_planning.history import month_start, split_id
from hub.bulk import upsert
from hub.db import utcnow
from hub.lifecycle import REFRESHABLE, SHIPPABLE, OrderState
from hub.schema import (
    book_stock,
    demand_forecasts,
    material_plants,
    materials,
    planning_runs,
    replenishment_proposals,
)
from transforms import replenishment

log = logging.getLogger(__name__)

QTY = Decimal("0.001")
SHORT_STATES = (OrderState.BACKORDERED.value, *REFRESHABLE)
FROZEN = ("proposed", "approved", "rejected", "requested", "nothing_to_order")


class PlanningError(RuntimeError):
    """The week cannot be planned as the hub stands (said how to fix it)."""


def _q(value: float | Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(QTY)


def run_row(conn: Any, planning_week: date) -> Any:
    return conn.execute(select(planning_runs).where(planning_runs.c.planning_week == planning_week)).first()


def store_forecasts(engine: Engine, run_id: str, planning_week: date, result_path: str | None) -> dict:
    """Keep the forecasting result of the week (unless its proposals are already frozen)."""
    with engine.connect() as conn:
        run = run_row(conn, planning_week)
    if run is not None and run.status in FROZEN:
        log.info("planning week %s is %s: its forecasts stand", planning_week, run.status)
        return {"stored": 0, "status": run.status}
    if not result_path:
        raise PlanningError(f"no forecast result for planning week {planning_week}")
    result = json.loads(Path(result_path).read_text(encoding="utf-8"))
    job = json.loads(Path(result_path).with_name("forecast_job.json").read_text(encoding="utf-8"))
    history_to = date.fromisoformat(job["history_to"])
    periods = job["periods"]
    ahead = [d.isoformat() for d in _ahead(job["bucket"], history_to, job["horizon"])]
    with engine.connect() as conn:
        lead = {(r.material, r.plant): r.lead_time_days for r in conn.execute(select(material_plants))}
    history = {s["id"]: s["values"] for s in job["series"]}
    rows, classes = [], defaultdict(int)
    for s in result["series"]:
        material, plant = split_id(s["id"])
        lead_days = lead.get((material, plant), Decimal(0))
        classes[s["demand_class"]] += 1
        rows.append(
            {
                "planning_week": planning_week,
                "material": material,
                "plant": plant,
                "demand_class": s["demand_class"],
                "adi": _q(s.get("adi")),
                "cv2": _q(s.get("cv2")),
                "model": s["model"],
                "rmsse": _q(s.get("rmsse")),
                "bias": _q(s.get("bias")),
                "history": {"periods": periods, "values": history.get(s["id"], [])},
                "forecast": {"periods": ahead, "values": s["forecast"]},
                "demand_per_day": replenishment.per_day(s["forecast"], job["bucket"], lead_days).quantize(QTY),
                "error_sd_per_day": replenishment.error_sd_per_day(s.get("error_sd") or 0.0, job["bucket"]).quantize(
                    QTY
                ),
                "run_id": run_id,
            }
        )
    summary = {
        "models": result.get("models"),
        "seconds": result.get("seconds"),
        "horizon": job["horizon"],
        "series": len(rows),
        "classes": dict(sorted(classes.items())),
        "chosen": dict(sorted(_count(r["model"] for r in rows).items())),
    }
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(demand_forecasts).where(demand_forecasts.c.planning_week == planning_week))
        upsert(conn, demand_forecasts, rows, key=("planning_week", "material", "plant"))
        upsert(
            conn,
            planning_runs,
            [
                {
                    "planning_week": planning_week,
                    "status": "forecast",
                    "bucket": job["bucket"],
                    "history_to": history_to,
                    "forecast": summary,
                    "run_id": run_id,
                    "updated_at": now,
                }
            ],
            key=("planning_week",),
        )
    gate = _gate(engine, "demand_forecasts", run_id)
    log.info("gate demand_forecasts: %d rows, all rules held", gate.evaluated)
    log.info(
        "forecasts of %s: %d series in %.1f s; classes %s; models chosen %s",
        planning_week,
        len(rows),
        summary["seconds"] or 0,
        summary["classes"],
        summary["chosen"],
    )
    return {"stored": len(rows), **summary}


def _gate(engine: Engine, name: str, run_id: str) -> Any:
    """The table's data-quality gate (quality/suites.py), recorded in gate_results; a breach fails the
    task (GateBreach) with the rule and the rows that broke it."""
    from quality.sql_gate import run_table_gate

    with engine.begin() as conn:
        return run_table_gate(name, engine.url.render_as_string(hide_password=False), name, conn=conn, run_id=run_id)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return out


def _ahead(bucket: str, history_to: date, horizon: int) -> list[date]:
    """The starts of the ``horizon`` buckets forecast, from ``history_to`` on."""
    if bucket == "week":
        return [history_to + timedelta(weeks=n) for n in range(horizon)]
    return [month_start(history_to, -n) for n in range(horizon)]


def propose(engine: Engine, run_id: str, planning_week: date, settings: Any) -> dict[str, Any]:
    """Policies and proposals of every material x plant with a forecast; the budget per plant."""
    with engine.connect() as conn:
        run = run_row(conn, planning_week)
        if run is None:
            raise PlanningError(f"planning week {planning_week} has no forecasts: run its forecast step first")
        if run.status in FROZEN:
            log.info("proposals of %s are %s: kept as they are", planning_week, run.status)
            return _request_of(run)
        stock_day = conn.execute(
            # the newest snapshot taken before the week ends (a re-run of an old week keeps to its time)
            select(func.max(book_stock.c.business_day)).where(
                book_stock.c.business_day < planning_week + timedelta(days=7)
            )
        ).scalar()
        if stock_day is None:
            latest = conn.execute(select(func.max(book_stock.c.business_day))).scalar()
            raise PlanningError(
                f"no SAP book stock snapshot taken before the week of {planning_week} ended "
                f"({'the oldest the hub holds is later' if latest else 'the hub holds none'}): "
                "plan a week the inventory snapshots cover, or run inventory_reconciliation (its snapshot "
                "step reads SAP's stock) and plan again"
            )
        forecasts = {
            (r.material, r.plant): r
            for r in conn.execute(select(demand_forecasts).where(demand_forecasts.c.planning_week == planning_week))
        }
        plant_data = conn.execute(select(material_plants)).all()
        units = dict(conn.execute(select(materials.c.material, materials.c.base_unit)).all())
        positions = {
            (r["plant"], r["material"]): r
            for r in named_rows(
                conn,
                "stock_position",
                business_day=stock_day,
                reserving_states=list(SHIPPABLE),
                short_states=list(SHORT_STATES),
            )
        }
        on_order = _on_order(conn, planning_week)
    rows = _plan_rows(run_id, planning_week, settings, forecasts, plant_data, units, positions, on_order)
    proposal = _summary(planning_week, stock_day, rows, settings)
    status = "proposed" if any(r["proposed_qty"] > 0 for r in rows) else "nothing_to_order"
    with engine.begin() as conn:
        conn.execute(delete(replenishment_proposals).where(replenishment_proposals.c.planning_week == planning_week))
        upsert(conn, replenishment_proposals, rows, key=("planning_week", "plant", "material"))
        conn.execute(
            update(planning_runs)
            .where(planning_runs.c.planning_week == planning_week)
            .values(status=status, proposal=proposal, run_id=run_id, updated_at=utcnow())
        )
    gate = _gate(engine, "replenishment_proposals", run_id)
    log.info("gate replenishment_proposals: %d rows, all rules held", gate.evaluated)
    for plant in proposal["plants"]:
        log.info(
            "plant %s: %d proposals worth %s %s, budget %s: %d cut (%s %s)",
            plant["plant"],
            plant["proposals"],
            plant["proposed_value"],
            plant["currency"],
            plant["budget"] if plant["budget"] is not None else "none",
            plant["cut"],
            plant["cut_value"],
            plant["currency"],
        )
    return {**proposal, "status": status, "needs_decision": status == "proposed"}


def _on_order(conn: Any, planning_week: date) -> dict[tuple[str, str], Decimal]:
    """The hub's requisitions of earlier weeks whose goods are not yet due (they are on their way)."""
    rows = named_rows(conn, "open_requisitions", planned_before=planning_week, due_after=planning_week)
    return {(r["plant"], r["material"]): r["quantity"] for r in rows}


def _plan_rows(
    run_id: str,
    planning_week: date,
    settings: Any,
    forecasts: dict,
    plant_data: list,
    units: dict,
    positions: dict,
    on_order: dict,
) -> list[dict[str, Any]]:
    levels = settings.service_levels
    inv = settings.inventory
    zero = {"on_hand": Decimal(0), "reserved": Decimal(0), "backordered": Decimal(0)}
    per_plant: dict[str, list[tuple[replenishment.Candidate, dict[str, Any]]]] = defaultdict(list)
    for mp in plant_data:
        fc = forecasts.get((mp.material, mp.plant))
        if fc is None:
            continue
        level = Decimal(str(levels.get(mp.abc_class, levels.get("default", Decimal("0.95")))))
        pos = positions.get((mp.plant, mp.material)) or zero
        ordered = on_order.get((mp.plant, mp.material), Decimal(0))
        plan = replenishment.plan(
            demand_per_day=fc.demand_per_day,
            error_sd_per_day=fc.error_sd_per_day,
            lead_time_days=mp.lead_time_days,
            lead_time_sd_days=mp.lead_time_sd_days,
            service_level=level,
            moq=mp.purchase_moq,
            multiple=mp.order_multiple,
            max_stock=mp.max_stock,
            order_cost=inv.order_cost,
            holding_cost=mp.unit_cost * inv.holding_rate,
            on_hand=pos["on_hand"],
            on_order=ordered,
            reserved=pos["reserved"],
            backordered=pos["backordered"],
        )
        if plan.order_qty <= 0:
            continue
        candidate = replenishment.Candidate(
            mp.material,
            plan.order_qty,
            mp.unit_cost,
            mp.purchase_moq,
            mp.order_multiple,
            mp.abc_class,
            plan.days_of_cover,
        )
        row = {
            "planning_week": planning_week,
            "plant": mp.plant,
            "material": mp.material,
            "abc_class": mp.abc_class,
            "demand_class": fc.demand_class,
            "model": fc.model,
            "demand_per_day": fc.demand_per_day,
            "error_sd_per_day": fc.error_sd_per_day,
            "lead_time_days": mp.lead_time_days,
            "service_level": level,
            "safety_stock": plan.policy.safety_stock.quantize(QTY),
            "reorder_point": plan.policy.reorder_point.quantize(QTY),
            "max_qty": plan.policy.max.quantize(QTY),
            "on_hand": pos["on_hand"],
            "on_order": ordered,
            "reserved": pos["reserved"],
            "backordered": pos["backordered"],
            "position": plan.position,
            "order_qty": plan.order_qty,
            "unit": units.get(mp.material),
            "unit_cost": mp.unit_cost,
            "currency": mp.currency,
            "days_of_cover": plan.days_of_cover,
            "delivery_date": planning_week + timedelta(days=int(mp.lead_time_days.to_integral_value())),
            "decision": "proposed",
            "run_id": run_id,
        }
        per_plant[mp.plant].append((candidate, row))
    budgets = settings.planning.budget
    now = utcnow()
    rows = []
    for plant, items in sorted(per_plant.items()):
        by_material = {c.material: row for c, row in items}
        for a in replenishment.allot([c for c, _ in items], budgets.get(plant)):
            row = by_material[a.candidate.material]
            row.update(
                proposed_qty=a.proposed_qty,
                value=a.value,
                priority=a.priority,
                budget_status=a.status,
                updated_at=now,
            )
            rows.append(row)
    return rows


def _summary(planning_week: date, stock_day: date, rows: list[dict[str, Any]], settings: Any) -> dict[str, Any]:
    plants: dict[str, dict[str, Any]] = {}
    for r in rows:
        p = plants.setdefault(
            r["plant"],
            {
                "plant": r["plant"],
                "currency": r["currency"],
                "budget": settings.planning.budget.get(r["plant"]),
                "proposed_value": Decimal(0),
                "within_value": Decimal(0),
                "cut_value": Decimal(0),
                "proposals": 0,
                "cut": 0,
            },
        )
        full = (r["order_qty"] * r["unit_cost"]).quantize(Decimal("0.01"))
        p["proposals"] += 1
        p["proposed_value"] += full
        p["within_value"] += r["value"]
        p["cut_value"] += full - r["value"]
        p["cut"] += r["budget_status"] in ("cut", "partly_cut")
    listed = [
        {
            **p,
            "budget": None if p["budget"] is None else str(p["budget"]),
            **{k: str(p[k]) for k in ("proposed_value", "within_value", "cut_value")},
        }
        for _, p in sorted(plants.items())
    ]
    lines = [f"SAP stock of {stock_day}; each plant's budget bought by priority (fewest days of cover first).", ""]
    lines += ["| plant | proposals | needed | budget | bought | cut |", "|---|---:|---:|---:|---:|---:|"]
    for p in listed:

        def money(value: Any, currency: str = p["currency"]) -> str:
            return f"{Decimal(value):,.2f} {currency}"

        lines.append(
            f"| {p['plant']} | {p['proposals']} | {money(p['proposed_value'])} | "
            f"{money(p['budget']) if p['budget'] is not None else 'no limit'} | {money(p['within_value'])} | "
            f"{p['cut']} proposals, {money(p['cut_value'])} not bought |"
        )
    lines += ["", "Approve: SAP purchase requisitions are created for what is bought. Reject: nothing is requested."]
    return {
        "planning_week": planning_week.isoformat(),
        "stock_day": stock_day.isoformat(),
        "plants": listed,
        "request": "\n".join(lines),
    }


def _request_of(run: Any) -> dict[str, Any]:
    proposal = run.proposal or {}
    return {
        **proposal,
        "planning_week": run.planning_week.isoformat(),
        "status": run.status,
        "needs_decision": run.status == "proposed",
    }


def decide(engine: Engine, planning_week: date, approved: bool, by: str, note: str | None = None) -> dict[str, Any]:
    """Approve or reject the week's proposals (once: a decided week keeps its decision)."""
    with engine.begin() as conn:
        run = run_row(conn, planning_week)
        if run is None or run.status not in ("proposed", "approved", "rejected", "requested"):
            status = run.status if run is not None else "not planned"
            raise PlanningError(f"planning week {planning_week} is {status}: nothing to decide")
        status = "approved" if approved else "rejected"
        if run.status != "proposed":
            same = (run.status in ("approved", "requested")) == approved
            if not same:
                raise PlanningError(
                    f"planning week {planning_week} is {run.status} (by {run.decided_by}), not waiting for a decision"
                )
            log.info("planning week %s was already %s by %s", planning_week, run.status, run.decided_by)
            return {"planning_week": planning_week.isoformat(), "status": run.status, "decided_by": run.decided_by}
        conn.execute(
            update(planning_runs)
            .where(planning_runs.c.planning_week == planning_week)
            .values(status=status, decided_by=by, decided_at=utcnow(), decision_note=note, updated_at=utcnow())
        )
        conn.execute(
            update(replenishment_proposals)
            .where(
                replenishment_proposals.c.planning_week == planning_week,
                replenishment_proposals.c.decision == "proposed",
            )
            .values(decision=status)
        )
    log.info("planning week %s %s by %s", planning_week, status, by)
    return {"planning_week": planning_week.isoformat(), "status": status, "decided_by": by}
