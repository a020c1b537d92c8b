"""CRM sales orders → raw lines (for the raw gate) → canonical orders and lines.

Pure functions: vendor-shaped records in, plain dicts out. Each CRM has one ``*_raw_lines``
function that knows its wire shape (reference/crm_report.md); everything after that is shared.
A raw line keeps the values as received (numbers may be strings, prices may be junk) so the raw
gate can name what is wrong; ``canonical_order`` runs only on orders whose lines all passed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hub.keys import record_key
from transforms.money import line_taxes, quantize, to_decimal

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


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 with offset (Zoho) or epoch milliseconds (Fxiaoke) → aware UTC datetime."""
    if value is None or value == "":
        return None
    try:
        return _parse_time(value)
    except (OverflowError, OSError, ValueError):
        return None  # out of datetime's range (epoch 1e20): the not-null rule quarantines it


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else None
    return None


def parse_date(value: Any) -> date | None:
    moment = parse_time(value) if not (isinstance(value, str) and len(value) == 10) else None
    if moment is not None:
        return moment.date()
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _text(value: Any) -> Any:
    """A text field as text, so every gate rule can judge it (quality/limits.py): a number as
    written, any other JSON value (object, list, boolean) as compact JSON; None stays missing."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _lookup_id(value: Any) -> str | None:
    """Zoho lookups are ``{"id": ..., "name": ...}``; tolerate a bare id."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value not in (None, "") else None


def _line_tax_rate(line: Mapping[str, Any]) -> Decimal | None:
    """Zoho ``Line_Tax`` is a list of ``{name, percentage, value}``; the rate is their sum."""
    taxes = line.get("Line_Tax")
    if not taxes:
        return None
    rates = [to_decimal(t.get("percentage")) for t in taxes if isinstance(t, Mapping)]
    if any(r is None for r in rates):
        return None
    return sum(rates, Decimal(0)) / 100


def zoho_raw_lines(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One raw row per ``Ordered_Items`` row of a Zoho ``Sales_Orders`` record."""
    crm_id = str(order.get("id") or "")
    header = {
        "record_key": record_key("zoho_crm", crm_id),
        "source": "zoho_crm",
        "crm_order_id": crm_id,
        "order_number": _text(order.get("SO_Number") or None),
        "crm_account_id": _lookup_id(order.get("Account_Name")),
        "currency": _text(order.get("Currency")),
        "order_time": parse_time(order.get("Created_Time")),
        "modified_at": parse_time(order.get("Modified_Time")),
        "requested_date": parse_date(order.get("Due_Date")),
        "crm_status": _text(order.get("Status")),
    }
    items = order.get("Ordered_Items") or [{}]
    return [
        {
            **header,
            "line_no": to_decimal(item.get("Sequence_Number")),
            "product_ref": _lookup_id(item.get("Product_Name")),
            "quantity": to_decimal(item.get("Quantity")),
            "unit_price": to_decimal(item.get("List_Price")),
            "discount": to_decimal(item.get("Discount")) or Decimal(0),
            # Set by the pull from the line's price book (Zoho returns only the book's id and name).
            "line_currency": _text(item.get("$price_book_currency")) or header["currency"],
            "tax_rate": _line_tax_rate(item),
            "description": _text(item.get("Description")),
            "crm_line_id": _text(item.get("id")),
            "unit": None,
        }
        for item in items
    ]


def fxiaoke_raw_lines(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One raw row per ``SalesOrderProductObj`` row attached under ``details`` to a ``SalesOrderObj``.

    Fxiaoke prices are VAT-exclusive strings: ``product_price`` is the price-book price and
    ``sales_price`` what is charged per unit, so the line discount is their difference × quantity.
    """
    crm_id = str(order.get("_id") or "")
    currency = order.get("mc_currency") or "CNY"
    header = {
        "record_key": record_key("fxiaoke", crm_id),
        "source": "fxiaoke",
        "crm_order_id": crm_id,
        "order_number": _text(order.get("name") or None),
        "crm_account_id": _text(order.get("account_id") or None),
        "currency": _text(currency),
        "order_time": parse_time(order.get("order_time") or order.get("create_time")),
        "modified_at": parse_time(order.get("last_modified_time")),
        "requested_date": parse_date(order.get("delivery_date")),
        "crm_status": _text(order.get("life_status")),
    }
    rows = []
    for item in order.get("details") or [{}]:
        quantity, list_price = to_decimal(item.get("quantity")), to_decimal(item.get("product_price"))
        charged = to_decimal(item.get("sales_price"))
        discount = (
            quantity * (list_price - charged)
            if None not in (quantity, list_price, charged) and charged <= list_price
            else Decimal(0)
        )
        rate = to_decimal(item.get("tax_rate__c", order.get("tax_rate__c")))
        rows.append(
            {
                **header,
                "line_no": to_decimal(item.get("line_no__c")),
                "product_ref": _text(item.get("product_id") or None),
                "quantity": quantity,
                "unit_price": list_price,
                "discount": discount,
                "line_currency": _text(item.get("mc_currency") or currency),
                "tax_rate": rate / 100 if rate is not None else None,
                "description": _text(item.get("remark")),
                "crm_line_id": _text(item.get("_id")),
                "unit": _text(item.get("unit")),
            }
        )
    return rows


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
