"""The stock check: per plant, materials whose inventory position is at or below the reorder point
(low) or above the over-stock limit (over), from each material's stock policy of the latest
inventory run (table stock_policies, flows/inventory_reconciliation/policies.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from flows.alerting.types import Alert
from flows.alerting.values import DETAIL_LINES, qty
from hub.schema import stock_policies


def check_stock(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Low and over stock by policy. Low is critical when customers wait for one of the materials."""
    rows = conn.execute(select(stock_policies).where(stock_policies.c.assessment.in_(("low", "over")))).all()
    low: dict[str, list] = defaultdict(list)
    over: dict[str, list] = defaultdict(list)
    for r in rows:
        (low if r.assessment == "low" else over)[r.plant].append(r)
    found = []
    for plant, items in sorted(low.items()):
        items.sort(key=lambda r: (-r.backordered, r.position - r.reorder_point, r.material))
        waiting = [r for r in items if r.backordered > 0]
        found.append(
            Alert(
                "low_stock",
                plant,
                "critical" if waiting else "warning",
                f"plant {plant}: {len(items)} materials at or below their reorder point; customers wait for "
                f"{len(waiting)} of them",
                {
                    "plant": plant,
                    "materials_low": len(items),
                    "materials_with_backorders": len(waiting),
                    "units_backordered": sum((r.backordered for r in waiting), Decimal(0)),
                    "units_to_order": sum((r.suggested_qty for r in items), Decimal(0)),
                    "policy_day": max(r.business_day for r in items),
                },
                "Order the suggested quantities (first lines below: position against reorder point, what the "
                "(s,S) policy orders with MOQ and multiple); expedite what customers wait for.",
                [
                    f"{r.material}: position {qty(r.position)} (on hand {qty(r.on_hand)}, reserved "
                    f"{qty(r.reserved)}, backordered {qty(r.backordered)}) <= reorder point {qty(r.reorder_point)} "
                    f"(safety stock {qty(r.safety_stock)}); order {qty(r.suggested_qty)}"
                    for r in items[:DETAIL_LINES]
                ],
            )
        )
    for plant, items in sorted(over.items()):
        items.sort(key=lambda r: (r.over_limit - r.position, r.material))
        found.append(
            Alert(
                "over_stock",
                plant,
                "info",
                f"plant {plant}: {len(items)} materials above their over-stock limit",
                {
                    "plant": plant,
                    "materials_over": len(items),
                    "units_over": sum((r.position - r.over_limit for r in items), Decimal(0)),
                    "policy_day": max(r.business_day for r in items),
                },
                "Stop purchasing these materials and review their max stock; the excess ties up capital.",
                [
                    f"{r.material}: position {qty(r.position)} > limit {qty(r.over_limit)} (max {qty(r.max_stock)}, "
                    f"reorder point {qty(r.reorder_point)})"
                    for r in items[:DETAIL_LINES]
                ],
            )
        )
    return found
