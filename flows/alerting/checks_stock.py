"""The stock check: per plant, the latest SAP snapshot of each material, too little or too much."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select

from flows.alerting.checks_orders import ORDER_OF_ALLOCATION, STILL_SHORT
from flows.alerting.types import Alert
from flows.alerting.values import DETAIL_LINES, aware, qty
from hub.schema import materials, order_allocations, orders, stock_snapshots


def _latest_stock(conn: Connection) -> list:
    latest = (
        select(
            stock_snapshots.c.plant, stock_snapshots.c.material, func.max(stock_snapshots.c.taken_at).label("taken_at")
        )
        .group_by(stock_snapshots.c.plant, stock_snapshots.c.material)
        .subquery()
    )
    return conn.execute(
        select(
            stock_snapshots.c.plant,
            stock_snapshots.c.material,
            stock_snapshots.c.unrestricted,
            stock_snapshots.c.available,
            stock_snapshots.c.taken_at,
            materials.c.moq,
        )
        .join(
            latest,
            and_(
                latest.c.plant == stock_snapshots.c.plant,
                latest.c.material == stock_snapshots.c.material,
                latest.c.taken_at == stock_snapshots.c.taken_at,
            ),
        )
        .outerjoin(materials, materials.c.material == stock_snapshots.c.material)
    ).all()


def _backordered(conn: Connection) -> dict[tuple[str, str], Decimal]:
    """Units customers wait for, per plant and material."""
    return {
        (r.plant, r.material): r.short
        for r in conn.execute(
            select(
                order_allocations.c.plant,
                order_allocations.c.material,
                func.sum(order_allocations.c.ordered_qty - order_allocations.c.confirmed_qty).label("short"),
            )
            .join(orders, ORDER_OF_ALLOCATION)
            .where(*STILL_SHORT)
            .group_by(order_allocations.c.plant, order_allocations.c.material)
        ).all()
    }


def check_stock(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Per plant, from the latest SAP stock snapshot of each material. No inventory policy (safety
    stock, max stock) exists yet: low is availability at or below a setting, over is more than a
    multiple of the minimum order quantity on hand."""
    stock = _latest_stock(conn)
    waiting = _backordered(conn)
    low: dict[str, list] = defaultdict(list)
    over: dict[str, list] = defaultdict(list)
    limit, multiple = settings.alerts.low_stock_available, settings.alerts.over_stock_moq_multiple
    for r in stock:
        if r.available <= limit:
            low[r.plant].append((waiting.get((r.plant, r.material)) or Decimal(0), r))
        if r.moq and r.moq > 0 and r.unrestricted > r.moq * multiple:
            over[r.plant].append(r)
    found = []
    for plant, items in sorted(low.items()):
        items.sort(key=lambda x: (-x[0], x[1].material))
        with_demand = [x for x in items if x[0] > 0]
        found.append(
            Alert(
                "low_stock",
                plant,
                "critical" if with_demand else "warning",
                f"plant {plant}: {len(items)} materials have nothing left to promise (availability <= "
                f"{qty(limit)}); customers wait for {len(with_demand)} of them",
                {
                    "plant": plant,
                    "materials_low": len(items),
                    "materials_with_backorders": len(with_demand),
                    "units_backordered": sum((x[0] for x in with_demand), Decimal(0)),
                    "threshold_available": limit,
                    "snapshot_at": max(aware(x[1].taken_at) for x in items),
                },
                "Expedite the open purchase orders of the materials customers wait for (first lines below); "
                "no safety stock or reorder point is defined yet: replenishment planning will set them.",
                [
                    f"{r.material}: unrestricted {qty(r.unrestricted)}, available {qty(r.available)}, "
                    f"backordered {qty(short)}"
                    for short, r in items[:DETAIL_LINES]
                ],
            )
        )
    for plant, items in sorted(over.items()):
        items.sort(key=lambda r: -(r.unrestricted / r.moq))
        found.append(
            Alert(
                "over_stock",
                plant,
                "info",
                f"plant {plant}: {len(items)} materials hold more than {multiple} minimum order quantities",
                {"plant": plant, "materials_over": len(items), "moq_multiple": multiple},
                "Review purchasing for these materials; no max stock is defined yet: replenishment planning "
                "will set one.",
                [
                    f"{r.material}: unrestricted {qty(r.unrestricted)} = {(r.unrestricted / r.moq):.0f} x MOQ "
                    f"{qty(r.moq)}"
                    for r in items[:DETAIL_LINES]
                ],
            )
        )
    return found
