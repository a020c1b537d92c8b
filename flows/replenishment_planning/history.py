"""Step 1: the demand history of every material x plant, bucketed, as a forecasting job.

Months the ERP's consumption history covers (``consumption_history``, SAP's own record of what was
sold, the hub's orders included) come from it; later months, and weeks, from the hub's orders.
Buckets end before the planning week's month (or week): a month still running would read as a drop
in demand. Buckets without demand are zeros, and series that sold nothing at all in the window are
not forecast (their forecast is zero).

The job is a JSON file in ``<output>/planning/<week>/`` for ``transforms.demand_forecast.run_job``,
which runs in the forecasting environment (``.venv-forecast``, statsforecast with pandas 2).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from flows.named_queries import rows as named_rows
from hub.lifecycle import OrderState
from hub.schema import consumption_history, material_plants

log = logging.getLogger(__name__)

EXCLUDED = (OrderState.CANCELLED.value,)  # withdrawn before SAP: never demand
SEASON = {"month": 12, "week": 52}


def month_start(day: date, back: int = 0) -> date:
    """The first day of ``day``'s month, ``back`` months earlier."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def bucket_starts(bucket: str, history_to: date, periods: int) -> list[date]:
    """The ``periods`` bucket starts before ``history_to`` (itself a bucket start), oldest first."""
    if bucket == "week":
        return [history_to - timedelta(weeks=n) for n in range(periods, 0, -1)]
    return [month_start(history_to, n) for n in range(periods, 0, -1)]


def history_end(bucket: str, planning_week: date, today: date) -> date:
    """Demand before this day is history: neither the planning week's month (or the week itself) nor
    the month (week) still running today, whichever starts first: a bucket not over reads as a drop."""
    if bucket == "week":
        return min(planning_week, today - timedelta(days=today.weekday()))
    return min(month_start(planning_week), month_start(today))


def _bucket_of(bucket: str, day: date) -> date:
    return day - timedelta(days=day.weekday()) if bucket == "week" else month_start(day)


def series(engine: Engine, bucket: str, history_to: date, periods: int, timezone: str) -> dict[str, Any]:
    """Per material x plant the demand per bucket (zeros kept), and the buckets' starts."""
    zone = ZoneInfo(timezone)
    starts = bucket_starts(bucket, history_to, periods)
    index = {d: i for i, d in enumerate(starts)}
    values: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(starts))
    with engine.connect() as conn:
        known = {
            (r.material, r.plant) for r in conn.execute(select(material_plants.c.material, material_plants.c.plant))
        }
        erp_last = None
        if bucket == "month":
            erp_last = conn.execute(select(func.max(consumption_history.c.month))).scalar()
            for r in conn.execute(select(consumption_history).where(consumption_history.c.month >= starts[0])):
                if r.month in index and (r.material, r.plant) in known:
                    values[(r.material, r.plant)][index[r.month]] += r.quantity
        # the hub's orders from the first month SAP's history does not cover (planning.history_periods >= 8)
        hub_from = month_start(erp_last, -1) if erp_last else starts[0]
        lines = named_rows(
            conn,
            "demand_history",
            history_from=datetime.combine(hub_from, time(), zone).astimezone(UTC),
            history_to=datetime.combine(history_to, time(), zone).astimezone(UTC),
            excluded_states=list(EXCLUDED),
        )
    for r in lines:
        at = r["order_time"] if r["order_time"].tzinfo else r["order_time"].replace(tzinfo=UTC)
        start = _bucket_of(bucket, at.astimezone(zone).date())
        if start in index and (r["material"], r["plant"]) in known:
            values[(r["material"], r["plant"])][index[start]] += r["quantity"]
    return {"starts": starts, "values": dict(values), "erp_last": erp_last, "hub_from": hub_from}


def series_id(material: str, plant: str) -> str:
    return f"{plant}|{material}"


def split_id(sid: str) -> tuple[str, str]:
    """``(material, plant)`` of a series id."""
    plant, material = sid.split("|", 1)
    return material, plant


def write_job(engine: Engine, folder: Path, planning_week: date, today: date, settings: Any) -> dict[str, Any]:
    """Write the forecasting job of ``planning_week`` (planned on ``today``) and say what it holds."""
    p = settings.planning
    history_to = history_end(p.bucket, planning_week, today)
    data = series(engine, p.bucket, history_to, p.history_periods, settings.hub.timezone)
    starts: list[date] = data["starts"]
    selling = {k: v for k, v in data["values"].items() if any(q > 0 for q in v)}
    job = {
        "bucket": p.bucket,
        "horizon": p.horizon,
        "season_length": SEASON[p.bucket],
        "min_train": min(12, max(4, p.history_periods - p.origins)),
        "origins": p.origins,
        "history_to": history_to.isoformat(),
        "periods": [d.isoformat() for d in starts],
        "series": [
            {"id": series_id(m, pl), "start": starts[0].isoformat(), "values": [float(q) for q in v]}
            for (m, pl), v in sorted(selling.items())
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "forecast_job.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    log.info(
        "demand history of %s: %d %s buckets %s..%s (ERP consumption up to %s, hub orders from %s), "
        "%d series with demand to forecast",
        planning_week,
        len(starts),
        p.bucket,
        starts[0] if starts else "-",
        history_to,
        data["erp_last"] or "none",
        data["hub_from"],
        len(selling),
    )
    return {"job": str(path), "series": len(selling), "history_to": history_to.isoformat(), "bucket": p.bucket}
