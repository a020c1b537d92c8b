"""纷享销客 Fxiaoke OpenAPI (reference/crm_report.md §2): ``SalesOrderObj`` with its
``SalesOrderProductObj`` lines (under ``details``), ``AccountObj`` and ``ProductObj``; the hub's
custom fields for the write-back (the sandbox declares the same): ``hub_status__c``,
``sap_order_no__c``, ``confirmed_delivery_date__c``, ``hub_message__c`` and per
``SalesOrderProductObj`` row ``confirmed_quantity__c``. Tenants are Chinese: CNY, China's VAT.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connectors import fxiaoke as wire
from connectors.base import ConnectionLike, TokenStore
from connectors.crm import reminder_text
from connectors.crm.base import (
    ConfirmationLike,
    CrmAdapter,
    Defaults,
    MasterFields,
    ReminderLike,
    Rendering,
    Resources,
    ShipmentLike,
    record_holds,
)
from hub.keys import record_key
from hub.values import as_text, parse_date, parse_time, to_decimal

NAME = "fxiaoke"
DEFAULTS = Defaults(currency="CNY", tax_country="CN")


def tenant_zone() -> ZoneInfo:
    """The zone the tenant shows dates in: the adapter's own, else the hub's business zone."""
    from hub.settings import get_settings

    return ZoneInfo(DEFAULTS.timezone or get_settings().hub.timezone)


def make_client(conn: ConnectionLike, token_store: TokenStore | None) -> wire.FxiaokeClient:
    return wire.FxiaokeClient(wire.FxiaokeConfig.from_connection(conn), token_store=token_store)


def raw_lines(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One raw row per ``SalesOrderProductObj`` row attached under ``details`` to a ``SalesOrderObj``.

    Fxiaoke prices are VAT-exclusive strings: ``product_price`` is the price-book price and
    ``sales_price`` what is charged per unit, so the line discount is their difference × quantity.
    """
    crm_id = str(order.get("_id") or "")
    currency = order.get("mc_currency") or DEFAULTS.currency
    header = {
        "record_key": record_key(NAME, crm_id),
        "source": NAME,
        "crm_order_id": crm_id,
        "order_number": as_text(order.get("name") or None),
        "crm_account_id": as_text(order.get("account_id") or None),
        "currency": as_text(currency),
        "order_time": parse_time(order.get("order_time") or order.get("create_time")),
        "modified_at": parse_time(order.get("last_modified_time")),
        # DATE fields are the instant of midnight in the tenant's zone: the day is the one there.
        "requested_date": parse_date(order.get("delivery_date"), tenant_zone()),
        "crm_status": as_text(order.get("life_status")),
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
                "product_ref": as_text(item.get("product_id") or None),
                "quantity": quantity,
                "unit_price": list_price,
                "discount": discount,
                "line_currency": as_text(item.get("mc_currency") or currency),
                "tax_rate": rate / 100 if rate is not None else None,
                "description": as_text(item.get("remark")),
                "crm_line_id": as_text(item.get("_id")),
                "unit": as_text(item.get("unit")),
            }
        )
    return rows


def confirmation_update(c: ConfirmationLike, hub: Rendering) -> dict[str, Any]:
    """A DATE field on Fxiaoke's wire is epoch milliseconds (the connector encodes the datetime),
    which the tenant shows as a day in its own zone. The wire rule (a midnight instant) stays here;
    which day, and the zone of its midnight, come from the hub's one business-day definition
    (``hub.day_start``: transforms/business_day.py, ``hub.timezone``), so Fxiaoke shows the day SAP
    and the price list use."""
    return {
        "_id": c.crm_order_id,
        "hub_status__c": c.status,
        "sap_order_no__c": c.sap_order,
        "confirmed_delivery_date__c": hub.day_start(c.confirmed_date) if c.confirmed_date else None,
        "hub_message__c": hub.summary("zh"),
        "details": {
            "SalesOrderProductObj": [
                {"_id": ln.crm_line_id, "confirmed_quantity__c": ln.confirmed_qty} for ln in c.lines if ln.crm_line_id
            ]
        },
    }


def shipment_update(s: ShipmentLike, hub: Rendering) -> dict[str, Any]:
    return {
        "_id": s.crm_order_id,
        "hub_status__c": s.status,
        "carrier__c": s.carriers or None,
        "tracking_no__c": s.tracking or None,
        "hub_message__c": hub.summary("zh"),
        "details": {
            "SalesOrderProductObj": [
                {"_id": ln.crm_line_id, "shipped_quantity__c": ln.shipped_qty, "tracking_no__c": ln.tracking or None}
                for ln in s.lines
                if ln.crm_line_id
            ]
        },
    }


def record_holds_update(
    update: Mapping[str, Any], record: Mapping[str, Any] | None, lines: list[Mapping[str, Any]]
) -> bool:
    """Whether the ``SalesOrderObj`` ``record`` and its product ``lines`` already carry ``update``."""
    wanted = (update.get("details") or {}).get("SalesOrderProductObj") or []
    return record_holds(update, record, key="_id", rows_field="details", wanted_rows=wanted, rows=lines)


def holds(client: wire.FxiaokeClient, updates: list[dict[str, Any]]) -> list[bool]:
    ids = [str(u["_id"]) for u in updates]
    records, lines = client.sales_orders_by_id(ids)
    return [record_holds_update(u, records.get(i), lines.get(i, [])) for u, i in zip(updates, ids, strict=True)]


def reminder_payload(r: ReminderLike, hub: Rendering) -> dict[str, Any]:
    """A sales record (ActiveRecordObj, docs/crm_reminders.md §2) on the account: the text in
    ``active_record_content``, the key and the expected purchase day (a DATE: the midnight instant
    of the business day, as confirmation_update writes dates) in the tenant's custom fields."""
    text = f"{reminder_text.subject(r)}\n{reminder_text.description(r)}"
    return {
        "account_id": r.customer_crm_id,
        "active_record_content": text[:2000],
        wire.REMINDER_KEY: r.key,
        "field_hub_due_date__c": hub.day_start(r.due_date),
    }


ADAPTER = CrmAdapter(
    name=NAME,
    conn_id="crm_fxiaoke",
    description="Fxiaoke OpenAPI",
    make_client=make_client,
    resources=Resources(
        orders=wire.SALES_ORDERS, lines=wire.SALES_ORDER_LINES, accounts=wire.ACCOUNTS, products=wire.PRODUCTS
    ),
    account_fields=MasterFields(number="account_no", name="name"),
    product_fields=MasterFields(number="product_code", name="name"),
    raw_lines=raw_lines,
    confirmation_update=confirmation_update,
    shipment_update=shipment_update,
    write_back=lambda client, updates: client.update_objects(wire.SALES_ORDERS.name, updates),
    holds=holds,
    defaults=DEFAULTS,
    reminder_payload=reminder_payload,
    find_reminders=lambda client, keys: client.find_reminders(keys),
    write_reminders=lambda client, payloads: client.create_reminders(payloads),
)
