"""The SAP posting's business rules, pure: which sales area an order is booked in, why SAP will not
take a customer's orders, the agreed unit price SAP is sent, and what the hub keeps of a SAP order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# ConditionRateValue is Decimal(24,9): at 9 places SAP's quantity × price is the CRM's net amount to
# well under a cent for any quantity an order line can hold.
PRICE_STEP = Decimal("1e-9")


@dataclass(frozen=True)
class SalesArea:
    """The customer's SAP sales area the order is booked in, and its delivery priority."""

    sales_org: str
    channel: str
    division: str
    priority: str
    blocked: bool


def pick_sales_area(areas: Sequence[Mapping[str, Any]], currency: str) -> SalesArea | None:
    """The sales area trading in the order's currency, else the customer's first one."""
    if not areas:
        return None
    area = next((a for a in areas if a.get("Currency") == currency), areas[0])
    return SalesArea(
        sales_org=area["SalesOrganization"],
        channel=area["DistributionChannel"],
        division=area["Division"],
        priority=area.get("DeliveryPriority") or "",
        blocked=bool(area.get("OrderIsBlockedForCustomer")),
    )


def area_problem(order: Any, area: SalesArea | None) -> tuple[str, str] | None:
    """Why SAP will not take orders of this customer, and the field to fix; None when it will."""
    if area is None:
        return (
            f"order {order.order_number}: customer {order.customer_number} has no sales area in SAP",
            "customer_number",
        )
    if area.blocked:
        return (
            f"order {order.order_number}: customer {order.customer_number} is blocked for orders in SAP",
            "customer_number",
        )
    return None


def order_summary(doc: Any) -> dict[str, Any]:
    """What the hub keeps of a SAP sales order (ledger response, sap_orders, allocations)."""
    return {
        "sap_order": doc.number,
        "net_amount": str(doc.net_amount) if doc.net_amount is not None else None,
        "currency": doc.currency,
        "items": [
            {
                "item": it.item,
                "material": it.material,
                "confirmed_qty": str(it.confirmed_quantity),
                "confirmed_date": it.confirmed_date.isoformat() if it.confirmed_date else None,
            }
            for it in doc.items
        ],
    }
