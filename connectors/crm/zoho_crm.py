"""Zoho CRM v8 (reference/crm_report.md §1): ``Sales_Orders`` with the ``Ordered_Items`` subform,
``Accounts`` and ``Products``; the hub's custom fields for the write-back (the sandbox declares the
same): ``SAP_Order_No__c``, ``Confirmed_Delivery_Date__c``, ``Hub_Message__c`` and per
``Ordered_Items`` row ``Confirmed_Quantity__c`` / ``Confirmed_Date__c``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors import zoho_crm as wire
from connectors.base import ConnectionLike, TokenStore
from connectors.crm import reminder_text
from connectors.crm.base import (
    ConfirmationLike,
    CrmAdapter,
    MasterFields,
    ReminderLike,
    Rendering,
    Resources,
    ShipmentLike,
    record_holds,
)
from hub.keys import record_key
from hub.values import as_text, parse_date, parse_time, to_decimal

NAME = "zoho_crm"
STATUS = {
    "confirmed": "Confirmed",
    "partially_confirmed": "Partially Confirmed",
    "backordered": "Backordered",
    "partially_shipped": "Partially Shipped",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
    "cancel_failed": "Cancellation Failed",
}


def make_client(conn: ConnectionLike, token_store: TokenStore | None) -> wire.ZohoCrmClient:
    return wire.ZohoCrmClient(wire.ZohoConfig.from_connection(conn), token_store=token_store)


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


def raw_lines(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One raw row per ``Ordered_Items`` row of a Zoho ``Sales_Orders`` record."""
    crm_id = str(order.get("id") or "")
    header = {
        "record_key": record_key(NAME, crm_id),
        "source": NAME,
        "crm_order_id": crm_id,
        "order_number": as_text(order.get("SO_Number") or None),
        "crm_account_id": _lookup_id(order.get("Account_Name")),
        "currency": as_text(order.get("Currency")),
        "order_time": parse_time(order.get("Created_Time")),
        "modified_at": parse_time(order.get("Modified_Time")),
        "requested_date": parse_date(order.get("Due_Date")),
        "crm_status": as_text(order.get("Status")),
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
            "line_currency": as_text(item.get("$price_book_currency")) or header["currency"],
            "tax_rate": _line_tax_rate(item),
            "description": as_text(item.get("Description")),
            "crm_line_id": as_text(item.get("id")),
            "unit": None,
        }
        for item in items
    ]


def price_book_currency(client: wire.ZohoCrmClient, orders: list[dict[str, Any]]) -> None:
    """Mark each line with the currency of its price book: a line priced from a book in another
    currency than the order's is a currency mismatch the raw gate must see."""
    books = {str(b["id"]): b.get("Currency") for b in client.iter_records("Price_Books", ["id", "Currency"])}
    for order in orders:
        for item in order.get("Ordered_Items") or []:
            book = item.get("Price_Book_Name")
            if isinstance(book, Mapping) and books.get(str(book.get("id"))):
                item["$price_book_currency"] = books[str(book["id"])]


def confirmation_update(c: ConfirmationLike, hub: Rendering) -> dict[str, Any]:
    # Every Ordered_Items row goes with its id: Zoho appends rows sent without one.
    return {
        "id": c.crm_order_id,
        "Status": STATUS[c.status],
        "SAP_Order_No__c": c.sap_order,
        "Confirmed_Delivery_Date__c": _iso(c.confirmed_date),
        "Hub_Message__c": hub.summary("en")[:2000],
        "Ordered_Items": [
            {
                "id": ln.crm_line_id,
                "Confirmed_Quantity__c": ln.confirmed_qty,
                "Confirmed_Date__c": _iso(ln.confirmed_date if ln.confirmed_qty > 0 else None),
            }
            for ln in c.lines
            if ln.crm_line_id
        ],
    }


def shipment_update(s: ShipmentLike, hub: Rendering) -> dict[str, Any]:
    update: dict[str, Any] = {
        "id": s.crm_order_id,
        "Status": STATUS[s.status],
        "Carrier": s.carriers[:120] or None,
        "Tracking_Number__c": s.tracking[:80] or None,
        "Hub_Message__c": hub.summary("en")[:2000],
    }
    rows = [
        {"id": ln.crm_line_id, "Shipped_Quantity__c": ln.shipped_qty, "Line_Tracking__c": ln.tracking[:255] or None}
        for ln in s.lines
        if ln.crm_line_id
    ]
    # An empty subform array deletes every row (crm_report.md §1.6): a status without lines (a
    # cancellation's) leaves Ordered_Items out.
    if rows:
        update["Ordered_Items"] = rows
    return update


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def record_holds_update(update: Mapping[str, Any], record: Mapping[str, Any] | None) -> bool:
    """Whether the sales order ``record`` (as read by id) already carries every value of ``update``."""
    rows = (record or {}).get("Ordered_Items") or []
    wanted = update.get("Ordered_Items") or []
    return record_holds(update, record, key="id", rows_field="Ordered_Items", wanted_rows=wanted, rows=rows)


def holds(client: wire.ZohoCrmClient, updates: list[dict[str, Any]]) -> list[bool]:
    return [record_holds_update(u, client.get_record(wire.SALES_ORDERS.name, str(u["id"]))) for u in updates]


def reminder_payload(r: ReminderLike, hub: Rendering) -> dict[str, Any]:
    """A Task on the account (docs/crm_reminders.md §1): ``What_Id`` + ``$se_module`` "Accounts",
    due on the expected purchase day, "High" priority once that day has passed."""
    overdue = hub.today is not None and r.due_date < hub.today
    return {
        "Subject": reminder_text.subject(r)[:255],
        "Due_Date": r.due_date.isoformat(),
        "Status": "Not Started",
        "Priority": "High" if overdue else "Normal",
        "What_Id": {"id": r.customer_crm_id},
        "$se_module": "Accounts",
        "Description": reminder_text.description(r)[:32000],
        wire.REMINDER_KEY: r.key,
    }


ADAPTER = CrmAdapter(
    name=NAME,
    conn_id="crm_zoho",
    description="Zoho CRM v8",
    make_client=make_client,
    resources=Resources(
        orders=wire.SALES_ORDERS, lines=wire.SALES_ORDER_LINES, accounts=wire.ACCOUNTS, products=wire.PRODUCTS
    ),
    account_fields=MasterFields(number="Account_Number", name="Account_Name"),
    product_fields=MasterFields(number="Product_Code", name="Product_Name"),
    raw_lines=raw_lines,
    enrich=price_book_currency,
    confirmation_update=confirmation_update,
    shipment_update=shipment_update,
    write_back=lambda client, updates: client.update_sales_orders(updates),
    holds=holds,
    reminder_payload=reminder_payload,
    find_reminders=lambda client, keys: client.find_reminders(keys),
    write_reminders=lambda client, payloads: client.create_reminders(payloads),
)
