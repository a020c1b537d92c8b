"""Checks on customers' orders: lines of 3PL plants late against their confirmed date, backorders
waiting too long, customers whose open orders exceed their credit limit."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select

from flows.alerting.types import Alert
from flows.alerting.values import DETAIL_LINES, aware, business_today, qty
from hub.lifecycle import COUNTS_AGAINST_CREDIT, IN_SAP, OrderState
from hub.schema import customers, deliveries, delivery_lines, order_allocations, orders

SHIPPED_OR_LATER = ("shipped", "delivered", "invoiced", "settled")

# Shared with the stock check: an allocation's order, and the lines SAP has not confirmed in full.
ORDER_OF_ALLOCATION = and_(
    orders.c.source == order_allocations.c.source, orders.c.crm_order_id == order_allocations.c.crm_order_id
)
STILL_SHORT = (
    orders.c.status.in_([OrderState.BACKORDERED.value, OrderState.PARTIAL.value]),
    order_allocations.c.confirmed_qty < order_allocations.c.ordered_qty,
)


def check_order_delay(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Lines of 3PL plants confirmed for a date now passed, not shipped in full. Plants the company
    ships from itself are not checked: SAP issues their goods and the hub does not see it."""
    today = business_today(now, settings)
    cutoff = today - timedelta(days=settings.alerts.order_delay_grace_days)
    plants = list(settings.logistics.warehouses)
    open_states = [s for s in IN_SAP if s not in SHIPPED_OR_LATER]
    if not plants:
        return []
    shipped = (
        select(
            deliveries.c.source,
            deliveries.c.crm_order_id,
            delivery_lines.c.sap_order_item,
            func.sum(delivery_lines.c.shipped_qty).label("shipped"),
        )
        .join(delivery_lines, delivery_lines.c.delivery == deliveries.c.delivery)
        .where(deliveries.c.status != "cancelled")
        .group_by(deliveries.c.source, deliveries.c.crm_order_id, delivery_lines.c.sap_order_item)
        .subquery()
    )
    rows = conn.execute(
        select(
            order_allocations.c.plant,
            orders.c.order_number,
            order_allocations.c.line_no,
            order_allocations.c.material,
            order_allocations.c.confirmed_qty,
            order_allocations.c.confirmed_date,
            shipped.c.shipped,
        )
        .join(orders, ORDER_OF_ALLOCATION)
        .outerjoin(
            shipped,
            and_(
                shipped.c.source == order_allocations.c.source,
                shipped.c.crm_order_id == order_allocations.c.crm_order_id,
                shipped.c.sap_order_item == order_allocations.c.sap_item,
            ),
        )
        .where(
            orders.c.status.in_(open_states),
            order_allocations.c.plant.in_(plants),
            order_allocations.c.confirmed_qty > 0,
            order_allocations.c.confirmed_date < cutoff,
        )
    ).all()
    late: dict[str, list[tuple[int, str]]] = defaultdict(list)
    orders_late: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        open_qty = r.confirmed_qty - (r.shipped or Decimal(0))
        if open_qty <= 0:
            continue
        days = (today - r.confirmed_date).days
        late[r.plant].append(
            (
                days,
                f"{r.order_number} line {r.line_no} {r.material}: {qty(open_qty)} of {qty(r.confirmed_qty)} "
                f"not shipped, confirmed for {r.confirmed_date.isoformat()} ({days} days late)",
            )
        )
        orders_late[r.plant].add(r.order_number)
    found = []
    for plant, lines in sorted(late.items()):
        lines.sort(key=lambda x: -x[0])
        worst = lines[0][0]
        found.append(
            Alert(
                "order_delay",
                plant,
                "critical" if worst >= 3 else "warning",
                f"plant {plant}: {len(orders_late[plant])} orders ({len(lines)} lines) are past their confirmed "
                f"date and not shipped; the latest is {worst} days late",
                {
                    "plant": plant,
                    "orders_late": len(orders_late[plant]),
                    "lines_late": len(lines),
                    "max_days_late": worst,
                    "business_day": today.isoformat(),
                    "grace_days": settings.alerts.order_delay_grace_days,
                },
                f"Ask the 3PL warehouse of plant {plant} about these deliveries (Qimen orders at "
                "GET /_sandbox/qimen_wms/orders in the sandbox); tell the customers of the latest ones "
                "a new date; hub ledger list --target qimen.stockout --status failed shows deliveries never sent.",
                [text for _, text in lines[:DETAIL_LINES]],
            )
        )
    return found


def check_backorder_aging(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Lines SAP has not confirmed in full (backordered, partial), older than alerts.backorder_age_days."""
    days_limit = settings.alerts.backorder_age_days
    since = now - timedelta(days=days_limit)
    rows = conn.execute(
        select(
            order_allocations.c.plant,
            orders.c.order_number,
            orders.c.order_time,
            order_allocations.c.line_no,
            order_allocations.c.material,
            order_allocations.c.ordered_qty,
            order_allocations.c.confirmed_qty,
        )
        .join(orders, ORDER_OF_ALLOCATION)
        .where(*STILL_SHORT, orders.c.order_time < since)
    ).all()
    by_plant: dict[str, list] = defaultdict(list)
    for r in rows:
        by_plant[r.plant].append(r)
    found = []
    for plant, lines in sorted(by_plant.items()):
        ages = [(now - aware(r.order_time)).days for r in lines]
        oldest = max(ages)
        short = sum((r.ordered_qty - r.confirmed_qty for r in lines), Decimal(0))
        ordered = sorted(zip(ages, lines, strict=True), key=lambda x: -x[0])
        found.append(
            Alert(
                "backorder_aging",
                plant,
                "critical" if oldest > 2 * days_limit else "warning",
                f"plant {plant}: {len({r.order_number for r in lines})} orders ({len(lines)} lines, "
                f"{qty(short)} units) have waited more than {days_limit} days for stock; the oldest {oldest} days",
                {
                    "plant": plant,
                    "orders": len({r.order_number for r in lines}),
                    "lines": len(lines),
                    "short_qty": short,
                    "oldest_days": oldest,
                    "threshold_days": days_limit,
                },
                "Check the goods receipts due for these materials (purchasing); sap_order_posting confirms the "
                "backorders as soon as SAP has stock. Offer the oldest customers a partial delivery or a substitute.",
                [
                    f"{r.order_number} line {r.line_no} {r.material}: {qty(r.ordered_qty - r.confirmed_qty)} of "
                    f"{qty(r.ordered_qty)} open, ordered {age} days ago"
                    for age, r in ordered[:DETAIL_LINES]
                ],
            )
        )
    return found


def check_credit_limit(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Customers whose open orders (states counting against credit, in the limit's currency) exceed it."""
    rows = conn.execute(
        select(
            customers.c.customer_number,
            customers.c.name,
            customers.c.currency,
            customers.c.credit_limit,
            func.sum(orders.c.gross_amount).label("exposure"),
            func.count().label("orders"),
        )
        .join(
            orders,
            and_(orders.c.customer_number == customers.c.customer_number, orders.c.currency == customers.c.currency),
        )
        .where(orders.c.status.in_(list(COUNTS_AGAINST_CREDIT)))
        .group_by(customers.c.customer_number, customers.c.name, customers.c.currency, customers.c.credit_limit)
    ).all()
    found = []
    for r in rows:
        if r.exposure is None or r.exposure <= r.credit_limit:
            continue
        pct = (r.exposure * 100 / r.credit_limit).quantize(Decimal("0.1")) if r.credit_limit > 0 else None
        found.append(
            Alert(
                "credit_limit",
                r.customer_number,
                "critical" if pct is None or pct > 110 else "warning",
                f"customer {r.customer_number} ({r.name}): open orders {r.exposure:.2f} {r.currency} exceed the "
                f"credit limit {r.credit_limit:.2f} {r.currency}" + (f" ({pct} %)" if pct is not None else ""),
                {
                    "customer": r.customer_number,
                    "currency": r.currency,
                    "open_orders": r.orders,
                    "exposure": r.exposure,
                    "credit_limit": r.credit_limit,
                    "used_pct": pct,
                },
                "Credit control: collect, or raise the limit in the ERP master data (master_data_sync imports it); "
                "the order review quarantines this customer's new orders until the exposure fits.",
            )
        )
    return found
