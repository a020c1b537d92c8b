"""The settlement deadline, watched twice: Airflow's ``DeadlineAlert`` on the DAG run calls
:func:`deadline_missed` when a run has not finished ``settlement.deadline_hours`` after its day
closed; and the ``ops_alerts`` check (flows/alerting/checks_settlement.py) raises
``settlement_deadline`` while a billed day's file is not delivered past :func:`due_at`, whether or not
a run even started (a paused DAG, a scheduler down)."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

DAY_CLOSES = time(2, 0)  # the data interval of a business day ends at 02:00 the next morning (local)


def due_at(business_day: Any, timezone: str, deadline_hours: int) -> datetime:
    """When finance expects the file of ``business_day``."""
    closes = datetime.combine(business_day + timedelta(days=1), DAY_CLOSES, ZoneInfo(timezone))
    return closes + timedelta(hours=deadline_hours)


async def deadline_missed(**kwargs: Any) -> None:
    """Airflow's DeadlineAlert callback: tell operations at once, through the hub's alert channels."""
    import asyncio

    await asyncio.to_thread(_raise, kwargs)


def _raise(kwargs: dict[str, Any]) -> None:
    from flows import alerting
    from flows.alerting.types import Alert
    from flows.connections import hub_engine

    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") or {}
    run_id = (dag_run.get("run_id") if isinstance(dag_run, dict) else getattr(dag_run, "run_id", None)) or "?"
    alert = Alert(
        "settlement_deadline",
        f"run:{run_id}",
        "critical",
        f"finance_settlement run {run_id} missed its deadline: the settlement file is late",
        {"run_id": run_id, "deadline": str(kwargs.get("deadline") or context.get("deadline") or "")},
        "Look at the run in the Airflow UI; re-run it once the cause is fixed.",
        instance=run_id,
    )
    log.error("settlement deadline missed: run %s", run_id)
    alerting.raise_event(hub_engine(), alert)
