"""``hub planning show WEEK | approve WEEK | reject WEEK``: a planning week's proposals, budget cuts,
requisitions and reminders, and the decision on its proposals (with ``planning.approval = "cli"``, or
instead of answering in the Airflow UI)."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import date
from typing import Any, TextIO

from sqlalchemy import Engine, func, select

from flows.replenishment_planning import decide, planning_week
from flows.replenishment_planning.proposals import PlanningError
from hub.schema import planning_runs, reorder_reminders, replenishment_proposals

COLUMNS = (
    "plant",
    "priority",
    "material",
    "demand_class",
    "model",
    "reorder_point",
    "position",
    "order_qty",
    "proposed_qty",
    "value",
    "currency",
    "budget_status",
    "purchase_requisition",
)


def week_of(text: str, timezone: str) -> date:
    """The planning week (Monday) of a date given on the command line."""
    try:
        return planning_week(date.fromisoformat(text), timezone)
    except ValueError:
        raise ValueError(f"WEEK must be a date like 2026-12-07, not {text!r}") from None


def decide_command(engine: Engine, week: date, approve: bool, note: str | None, out: TextIO) -> int:
    try:
        result = decide(engine, week, approve, f"cli:{getpass.getuser()}", note)
    except PlanningError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    then = (
        "the next run creates the SAP purchase requisitions"
        if result["status"] == "approved"
        else "no requisition will be created"
        if result["status"] == "rejected"
        else "already decided"
    )
    print(f"proposals of the week of {week} {result['status']} by {result['decided_by']}: {then}", file=out)
    return 0


def show_command(engine: Engine, week: date, as_json: bool, out: TextIO) -> int:
    with engine.connect() as conn:
        run = conn.execute(select(planning_runs).where(planning_runs.c.planning_week == week)).first()
        if run is None:
            print(f"the week of {week} was not planned", file=sys.stderr)
            return 1
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(replenishment_proposals)
                .where(replenishment_proposals.c.planning_week == week)
                .order_by(replenishment_proposals.c.plant, replenishment_proposals.c.priority)
            )
        ]
        reminders = dict(
            conn.execute(
                select(reorder_reminders.c.source, func.count())
                .where(reorder_reminders.c.planning_week == week, reorder_reminders.c.status == "written")
                .group_by(reorder_reminders.c.source)
            ).all()
        )
    if as_json:
        doc = {"run": dict(run._mapping), "proposals": rows, "reminders": reminders}
        print(json.dumps(doc, default=str, ensure_ascii=False, indent=2), file=out)
        return 0
    decided = f"; decided by {run.decided_by} at {run.decided_at:%Y-%m-%d %H:%M}" if run.decided_by else ""
    print(f"week of {week}: {run.status}{decided}", file=out)
    forecast: dict[str, Any] = run.forecast or {}
    if forecast:
        print(
            f"forecast: {forecast.get('series')} series, classes {forecast.get('classes')}, "
            f"models chosen {forecast.get('chosen')}",
            file=out,
        )
    for p in (run.proposal or {}).get("plants", []):
        print(
            f"plant {p['plant']}: {p['proposals']} proposals, {p['within_value']} of {p['proposed_value']} "
            f"{p['currency']} within budget {p['budget'] or 'none'}, {p['cut']} cut",
            file=out,
        )
    print(f"reminders written: {reminders or 'none'}", file=out)
    widths = {c: max([len(c)] + [len(str(r[c] if r[c] is not None else "-")) for r in rows]) for c in COLUMNS}
    print("  ".join(c.ljust(widths[c]) for c in COLUMNS), file=out)
    for r in rows:
        print("  ".join(str(r[c] if r[c] is not None else "-").ljust(widths[c]) for c in COLUMNS), file=out)
    return 0


def planning_command(
    engine: Engine,
    action: str,
    week_text: str,
    timezone: str,
    note: str | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    week = week_of(week_text, timezone)
    if action == "show":
        return show_command(engine, week, as_json, out)
    return decide_command(engine, week, action == "approve", note, out)
