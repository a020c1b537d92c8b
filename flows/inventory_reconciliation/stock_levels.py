"""Step 7: each material's stock policy at each plant and where its inventory position stands.

Demand per day over ``inventory.history_days`` (days without orders count as 0) and the plant data
of the ERP (lead time and its variability, ABC class, purchase lot, rounding value, maximum stock,
standard price) give the policy (transforms/stock_policy.py); the position is on hand + on order −
reserved − backordered (include/sql/stock_position.sql). Positions at or below the reorder point are
``low``, above the maximum ``over``; the alert checks (flows/alerting/checks_stock.py) raise them
with these numbers.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, select

from flows.named_queries import rows as named_rows
from hub.bulk import upsert
from hub.db import utcnow
from hub.lifecycle import REFRESHABLE, SHIPPABLE, OrderState
from hub.schema import material_plants, stock_policies
from transforms import stock_policy

log = logging.getLogger(__name__)

QTY = Decimal("0.001")
EXCLUDED = (OrderState.CANCELLED.value,)  # withdrawn before SAP: never demand
SHORT_STATES = (OrderState.BACKORDERED.value, *REFRESHABLE)


def _daily_stats(lines: list[dict], zone: ZoneInfo, first: date, days: int) -> dict[tuple[str, str], tuple]:
    per_day: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in lines:
        at = r["order_time"] if r["order_time"].tzinfo else r["order_time"].replace(tzinfo=UTC)
        per_day[(r["plant"], r["material"])][at.astimezone(zone).date()] += r["quantity"]
    stats = {}
    for key, by_day in per_day.items():
        values = [float(by_day.get(first + timedelta(days=i), 0)) for i in range(days)]
        mean = sum(values) / days
        var = sum((v - mean) ** 2 for v in values) / (days - 1) if days > 1 else 0.0
        stats[key] = (mean, math.sqrt(var))
    return stats


def update_policies(engine: Engine, run_id: str, business_day: date, settings: Any) -> dict[str, Any]:
    """Compute and store the policy and position of every material × plant of the ERP's plant data."""
    zone = ZoneInfo(settings.hub.timezone)
    days = settings.inventory.history_days
    first = business_day - timedelta(days=days - 1)
    history_from = datetime.combine(first, time(), zone).astimezone(UTC)
    history_to = datetime.combine(business_day + timedelta(days=1), time(), zone).astimezone(UTC)
    with engine.connect() as conn:
        plant_data = conn.execute(select(material_plants)).all()
        lines = named_rows(
            conn, "demand_history", history_from=history_from, history_to=history_to, excluded_states=list(EXCLUDED)
        )
        # the hub's purchase requisitions not yet due (replenishment_planning)
        on_order = {
            (r["plant"], r["material"]): r["quantity"]
            for r in named_rows(
                conn, "open_requisitions", planned_before=business_day + timedelta(days=1), due_after=business_day
            )
        }
        positions = {
            (r["plant"], r["material"]): r
            for r in named_rows(
                conn,
                "stock_position",
                business_day=business_day,
                reserving_states=list(SHIPPABLE),
                short_states=list(SHORT_STATES),
            )
        }
    if not plant_data:
        log.warning("no plant data of materials (material_plants.csv of the ERP extract): no stock policies")
        return {"policies": 0, "low": 0, "over": 0}
    stats = _daily_stats(lines, zone, first, days)
    levels = settings.service_levels
    now = utcnow()
    rows, low, over = [], 0, 0
    for mp in plant_data:
        mean, sd = stats.get((mp.plant, mp.material), (0.0, 0.0))
        level = Decimal(str(levels.get(mp.abc_class, levels.get("default", Decimal("0.95")))))
        policy = stock_policy.policy_for(
            demand_mean_per_day=Decimal(str(round(mean, 6))),
            demand_sd_per_day=Decimal(str(round(sd, 6))),
            lead_time_days=mp.lead_time_days,
            lead_time_sd_days=mp.lead_time_sd_days,
            service_level=level,
            moq=mp.purchase_moq,
            multiple=mp.order_multiple,
            max_stock=mp.max_stock,
            annual_demand=Decimal(str(round(mean * 365, 6))),
            order_cost=settings.inventory.order_cost,
            holding_cost=(mp.unit_cost * settings.inventory.holding_rate),
        )
        pos = positions.get((mp.plant, mp.material)) or {
            "on_hand": Decimal(0),
            "reserved": Decimal(0),
            "backordered": Decimal(0),
        }
        ordered = on_order.get((mp.plant, mp.material), Decimal(0))
        position = stock_policy.inventory_position(pos["on_hand"], ordered, pos["reserved"], pos["backordered"])
        assessment = stock_policy.assess(policy, position)
        low += assessment == "low"
        over += assessment == "over"
        rows.append(
            {
                "material": mp.material,
                "plant": mp.plant,
                "business_day": business_day,
                "demand_per_day": Decimal(str(round(mean, 3))),
                "demand_sd_per_day": Decimal(str(round(sd, 3))),
                "service_level": level,
                "safety_stock": policy.safety_stock.quantize(QTY),
                "reorder_point": policy.reorder_point.quantize(QTY),
                "max_stock": policy.max.quantize(QTY),
                "over_limit": policy.over_limit.quantize(QTY),
                "eoq": policy.eoq.quantize(QTY),
                "on_hand": pos["on_hand"],
                "on_order": ordered,
                "reserved": pos["reserved"],
                "backordered": pos["backordered"],
                "position": position,
                "suggested_qty": stock_policy.order_quantity(policy, position).quantize(QTY),
                "assessment": assessment,
                "run_id": run_id,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(delete(stock_policies))
        upsert(conn, stock_policies, rows, key=("material", "plant"))
    log.info("stock policies of %s: %d materials x plants, %d low, %d over", business_day, len(rows), low, over)
    return {"policies": len(rows), "low": low, "over": over}
