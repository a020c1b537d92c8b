"""Business review of a canonical order before it may go to SAP.

The rules of DESIGN §2 (crm_order_sync): the customer is known and not blocked, every material is
mapped and active, each quantity reaches the minimum order quantity and is a whole number of packs,
each net unit price is within the tolerance of the price list, and the customer's open exposure
plus this order stays within the credit limit. Pure functions: master data and exposure come in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from transforms.money import minor_unit


@dataclass(frozen=True)
class CustomerTerms:
    number: str
    blocked: bool
    credit_limit: Decimal
    currency: str  # the currency the credit limit is kept in


@dataclass(frozen=True)
class MaterialTerms:
    material: str
    moq: Decimal
    pack_size: Decimal
    active: bool = True


@dataclass(frozen=True)
class Finding:
    """One broken rule: ``rule`` is its name, ``field`` the order field to fix."""

    rule: str
    field: str
    message: str


def net_unit_price(line: Mapping[str, Any]) -> Decimal:
    """What the customer pays per unit after the line discount."""
    return (line["quantity"] * line["unit_price"] - line["discount"]) / line["quantity"]


def review_order(
    order: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    *,
    customer: CustomerTerms | None,
    materials: Mapping[str, MaterialTerms],
    prices: Mapping[tuple[str, str], Decimal],
    price_tolerance_pct: Decimal,
    open_exposure: Decimal,
) -> list[Finding]:
    """Every rule the order breaks, in the order a clerk would fix them; empty when it may pass.

    ``prices`` maps (material, currency) to the list price; ``open_exposure`` is the gross value
    of the customer's orders not yet invoiced, in the customer's credit currency.
    """
    label = order["order_number"]
    found: list[Finding] = []
    if customer is None:
        return [
            Finding(
                "customer_known",
                "customer_number",
                f"order {label}: customer {order['customer_number']} is not in the customer master",
            )
        ]
    if customer.blocked:
        found.append(
            Finding(
                "customer_not_blocked",
                "customer_number",
                f"order {label}: customer {customer.number} is blocked for orders",
            )
        )

    for line in lines:
        where = f"order {label} line {line['line_no']} ({line['material']})"
        terms = materials.get(line["material"])
        if terms is None or not terms.active:
            state = "not in the material master" if terms is None else "inactive"
            found.append(Finding("material_mapped", "material", f"{where}: material is {state}"))
            continue
        qty = line["quantity"]
        if qty < terms.moq:
            found.append(
                Finding(
                    "minimum_order_quantity",
                    "quantity",
                    f"{where}: quantity {qty} is below the minimum order quantity {terms.moq}",
                )
            )
        elif terms.pack_size > 0 and qty % terms.pack_size != 0:
            found.append(
                Finding(
                    "pack_size",
                    "quantity",
                    f"{where}: quantity {qty} is not a multiple of the pack size {terms.pack_size}",
                )
            )
        list_price = prices.get((line["material"], order["currency"]))
        if list_price is None:
            found.append(Finding("price_list", "unit_price", f"{where}: no list price in {order['currency']}"))
        elif list_price > 0:
            paid = net_unit_price(line)
            deviation = abs(paid - list_price) / list_price * 100
            # A CRM rounds the discounted unit price to the minor unit; that rounding is not a deviation.
            allowed = list_price * price_tolerance_pct / 100 + minor_unit(order["currency"]) / 2
            if abs(paid - list_price) > allowed:
                found.append(
                    Finding(
                        "price_tolerance",
                        "unit_price",
                        f"{where}: net unit price {paid:.4f} {order['currency']} deviates {deviation:.1f}% from "
                        f"the list price {list_price} (tolerance {price_tolerance_pct}%)",
                    )
                )

    if order["currency"] != customer.currency:
        found.append(
            Finding(
                "credit_limit",
                "currency",
                f"order {label}: in {order['currency']} but the credit limit of {customer.number} "
                f"is kept in {customer.currency}; credit cannot be checked",
            )
        )
    elif open_exposure + order["gross_amount"] > customer.credit_limit:
        found.append(
            Finding(
                "credit_limit",
                "gross_amount",
                f"order {label}: {order['gross_amount']} {order['currency']} on top of open orders of {open_exposure} "
                f"exceeds the credit limit {customer.credit_limit} of {customer.number}",
            )
        )
    return found
