"""CRM sales orders: raw lines (for the raw gate) → canonical orders and lines.

Pure functions. Each CRM's adapter (``connectors/crm/<name>.py``, its ``raw_lines``) knows its wire
shape and turns a sales order into raw lines with the columns :data:`RAW_COLUMNS`; everything from
there is shared. A raw line keeps the values as received (numbers may be strings, prices may be
junk) so the raw gate can name what is wrong; ``canonical_order`` runs only on orders whose lines
all passed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hub.values import parse_date, parse_time
from transforms.money import line_taxes, quantize

__all__ = [
    "CANCELLED_STATUSES",
    "RAW_COLUMNS",
    "RAW_REQUIRED",
    "MappingError",
    "Masters",
    "canonical_order",
    "content_hash",
    "parse_date",  # the hub's readers of received instants and dates (hub/values.py)
    "parse_time",
]

# The columns of a raw line: those the raw gate requires on every line, then the optional ones.
RAW_REQUIRED = (
    "record_key",
    "source",
    "crm_order_id",
    "order_number",
    "crm_account_id",
    "currency",
    "order_time",
    "modified_at",
    "line_no",
    "product_ref",
    "quantity",
    "unit_price",
    "line_currency",
)
RAW_COLUMNS = (
    *RAW_REQUIRED,
    "discount",
    "tax_rate",
    "description",
    "requested_date",
    "crm_status",
    "crm_line_id",
    "unit",
)


@dataclass(frozen=True)
class Masters:
    """What mapping needs to know: CRM account → customer number, CRM product → material."""

    customers: Mapping[str, str]  # crm_account_id → ERP customer number
    customer_names: Mapping[str, str]
    materials: Mapping[str, str]  # crm product id → material number


class MappingError(ValueError):
    """A record that cannot be mapped; names the field so the quarantine says what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def canonical_order(
    lines: Sequence[Mapping[str, Any]],
    masters: Masters,
    default_tax_rate: Callable[[str], Decimal],
    rounding: str,
    plant: str | None = None,
    tax_rounding_scope: str = "per_line",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Map the raw lines of one order to a canonical order row and its line rows.

    Net amounts are quantised per line to the currency's minor unit; line taxes are rounded per
    line or once per document as ``tax_rounding_scope`` says (transforms.money.line_taxes), and the
    scope is recorded on the order. Order totals are the sums of the line amounts, so header and
    lines always agree. Raises MappingError naming the field.
    """
    head = lines[0]
    currency = head["currency"]
    order_label = head["order_number"] or head["crm_order_id"]
    customer = masters.customers.get(head["crm_account_id"] or "")
    if customer is None:
        raise MappingError(
            "crm_account_id",
            f"order {order_label}: customer {head['crm_account_id']!r} has no ERP customer number in the CRM",
        )
    out_lines = []
    for raw in lines:
        material = masters.materials.get(raw["product_ref"] or "")
        if material is None:
            raise MappingError(
                "product_ref",
                f"order {order_label} line {raw['line_no']}: product {raw['product_ref']!r} has no material code",
            )
        rate = raw["tax_rate"] if raw["tax_rate"] is not None else default_tax_rate(raw["source"])
        net = quantize(raw["quantity"] * raw["unit_price"] - raw["discount"], currency, rounding)
        out_lines.append(
            {
                "source": raw["source"],
                "crm_order_id": raw["crm_order_id"],
                "line_no": int(raw["line_no"]),
                "crm_line_id": raw.get("crm_line_id"),
                "crm_product_id": raw["product_ref"],
                "material": material,
                "description": raw["description"],
                "quantity": raw["quantity"],
                "unit": raw.get("unit"),
                "unit_price": raw["unit_price"],
                "discount": raw["discount"],
                "net_amount": net,
                "tax_rate": rate,
                "tax_amount": None,  # below, once every line's net amount is known
                "currency": currency,
                "plant": plant,
            }
        )
    taxes = line_taxes([(ln["net_amount"], ln["tax_rate"]) for ln in out_lines], currency, tax_rounding_scope, rounding)
    for ln, tax in zip(out_lines, taxes, strict=True):
        ln["tax_amount"] = tax
    net_total = sum((ln["net_amount"] for ln in out_lines), Decimal(0))
    tax_total = sum((ln["tax_amount"] for ln in out_lines), Decimal(0))
    order = {
        "source": head["source"],
        "crm_order_id": head["crm_order_id"],
        "order_number": order_label,
        "crm_account_id": head["crm_account_id"],
        "customer_number": customer,
        "customer_name": masters.customer_names.get(head["crm_account_id"]),
        "currency": currency,
        "order_time": head["order_time"],
        "requested_date": head["requested_date"],
        "crm_status": head["crm_status"],
        "crm_modified_at": head["modified_at"],
        "net_amount": net_total,
        "tax_amount": tax_total,
        "gross_amount": net_total + tax_total,
        "tax_rounding_scope": tax_rounding_scope,
        "line_count": len(out_lines),
    }
    order["content_hash"] = content_hash(order, out_lines)
    return order, out_lines


# Of the CRM status only a cancellation is content: the other moves (Created → Approved, and the
# statuses the hub writes back itself: Confirmed, Backordered, Shipped…) must not look like a
# customer's change to an order SAP already has.
CANCELLED_STATUSES = frozenset({"Cancelled", "invalid", "ineffective"})
# Bookkeeping, not content: every CRM write (ours included) moves the modified time.
# The rounding scope is how the amounts were computed: when it changes them, they change the hash.
_NOT_CONTENT = ("crm_modified_at", "content_hash", "tax_rounding_scope")


def content_hash(order: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the business content, so an unchanged re-pull is recognised as unchanged."""
    content = {k: v for k, v in order.items() if k not in _NOT_CONTENT}
    content["crm_status"] = content.get("crm_status") in CANCELLED_STATUSES
    body = json.dumps({"order": content, "lines": list(lines)}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
