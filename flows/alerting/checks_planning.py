"""The replenishment budget check: proposals of the latest planning week that the plant's budget cut
(flows/replenishment_planning/proposals.py), until the next week is planned."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from flows.alerting.types import Alert
from hub.schema import planning_runs, replenishment_proposals

SHOWN = 5  # the most urgent cut parts named in the alert


def check_budget_cut(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """A warning per plant whose budget left proposals of the latest planned week (partly) unbought."""
    week = conn.execute(
        select(func.max(planning_runs.c.planning_week)).where(
            planning_runs.c.status.in_(("proposed", "approved", "requested"))
        )
    ).scalar()
    if week is None:
        return []
    cut = conn.execute(
        select(replenishment_proposals)
        .where(
            replenishment_proposals.c.planning_week == week,
            replenishment_proposals.c.budget_status.in_(("cut", "partly_cut")),
        )
        .order_by(replenishment_proposals.c.plant, replenishment_proposals.c.priority)
    ).all()
    by_plant: dict[str, list[Any]] = {}
    for r in cut:
        by_plant.setdefault(r.plant, []).append(r)
    alerts = []
    for plant, rows in sorted(by_plant.items()):
        currency = rows[0].currency
        short = sum(((r.order_qty - r.proposed_qty) * r.unit_cost for r in rows), Decimal(0)).quantize(Decimal("0.01"))
        budget = settings.planning.budget.get(plant)
        alerts.append(
            Alert(
                "budget_cut",
                f"{week.isoformat()}:{plant}",
                "warning",
                f"plant {plant}: the replenishment budget ({budget} {currency}) cut {len(rows)} proposals of the "
                f"week of {week}, {short} {currency} not bought",
                {
                    "planning_week": week.isoformat(),
                    "plant": plant,
                    "budget": str(budget),
                    "cut": len(rows),
                    "cut_value": str(short),
                    "currency": currency,
                },
                "Raise planning.budget for the plant, or buy the cut parts by hand; `hub planning show WEEK` lists "
                "them by priority (fewest days of cover first).",
                tuple(
                    f"{r.material}: {r.proposed_qty} of {r.order_qty} (cover {r.days_of_cover} days)"
                    for r in rows[:SHOWN]
                ),
            )
        )
    return alerts
