"""A confirmation as each CRM wants it written back: status, SAP number, confirmed quantities, dates.

Field names are the hub's custom fields in each CRM (reference/crm_report.md; the sandbox declares
the same): Zoho ``SAP_Order_No__c``, ``Confirmed_Delivery_Date__c``, ``Hub_Message__c`` and per
``Ordered_Items`` row ``Confirmed_Quantity__c`` / ``Confirmed_Date__c``; Fxiaoke ``hub_status__c``,
``sap_order_no__c``, ``confirmed_delivery_date__c``, ``hub_message__c`` and per
``SalesOrderProductObj`` row ``confirmed_quantity__c``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from transforms.business_day import day_start
from transforms.confirmation import Confirmation

ZOHO_STATUS = {"confirmed": "Confirmed", "partially_confirmed": "Partially Confirmed", "backordered": "Backordered"}


def summary_en(c: Confirmation) -> str:
    backordered = [ln for ln in c.lines if ln.backordered_qty > 0]
    head = f"SAP order {c.sap_order}" if c.sap_order else "Not yet in SAP"
    if not backordered:
        return f"{head}: all {len(c.lines)} lines confirmed"
    parts = ", ".join(f"line {ln.line_no} {ln.material} {_qty(ln.backordered_qty)} {ln.unit}" for ln in backordered)
    return f"{head}: backordered {parts}"


def summary_zh(c: Confirmation) -> str:
    backordered = [ln for ln in c.lines if ln.backordered_qty > 0]
    head = f"SAP订单 {c.sap_order}" if c.sap_order else "尚未进入SAP"
    if not backordered:
        return f"{head}：全部 {len(c.lines)} 行已确认"
    parts = "，".join(f"第{ln.line_no}行 {ln.material} 缺 {_qty(ln.backordered_qty)} {ln.unit}" for ln in backordered)
    return f"{head}：缺货待补 {parts}"


def zoho_update(c: Confirmation) -> dict[str, Any]:
    # Every Ordered_Items row goes with its id: Zoho appends rows sent without one.
    return {
        "id": c.crm_order_id,
        "Status": ZOHO_STATUS[c.status],
        "SAP_Order_No__c": c.sap_order,
        "Confirmed_Delivery_Date__c": _iso(c.confirmed_date),
        "Hub_Message__c": summary_en(c)[:2000],
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


def fxiaoke_update(c: Confirmation, zone: str | tzinfo) -> dict[str, Any]:
    """``zone`` is the business zone (settings ``hub.timezone``), see :func:`_fxiaoke_date`."""
    return {
        "_id": c.crm_order_id,
        "hub_status__c": c.status,
        "sap_order_no__c": c.sap_order,
        "confirmed_delivery_date__c": _fxiaoke_date(c.confirmed_date, zone),
        "hub_message__c": summary_zh(c),
        "details": {
            "SalesOrderProductObj": [
                {"_id": ln.crm_line_id, "confirmed_quantity__c": ln.confirmed_qty} for ln in c.lines if ln.crm_line_id
            ]
        },
    }


def _qty(value: Any) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _fxiaoke_date(value: date | None, zone: str | tzinfo) -> datetime | None:
    """A DATE field on Fxiaoke's wire: epoch milliseconds (the connector encodes the datetime), which
    the tenant shows as a day in its own zone. The wire rule (a midnight instant) stays here; which
    day, and the zone of its midnight, come from the one business-day definition
    (transforms/business_day.py, ``hub.timezone``), so Fxiaoke shows the day SAP and the price list use.
    """
    return day_start(value, zone) if value else None


# -- read-back: does the CRM record already hold a write-back? (ledger lookups, exactly once) --------
def zoho_holds(update: Mapping[str, Any], record: Mapping[str, Any] | None) -> bool:
    """Whether the Zoho sales order ``record`` (as read by id) already carries every value of ``update``."""
    if record is None:
        return False
    rows = {str(r.get("id")): r for r in record.get("Ordered_Items") or []}
    heads_match = all(_same(v, record.get(k)) for k, v in update.items() if k not in ("id", "Ordered_Items"))
    return heads_match and _rows_hold(update.get("Ordered_Items") or [], rows, "id")


def fxiaoke_holds(
    update: Mapping[str, Any], record: Mapping[str, Any] | None, lines: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether the Fxiaoke ``SalesOrderObj`` ``record`` and its product ``lines`` already carry ``update``."""
    if record is None:
        return False
    heads_match = all(_same(v, record.get(k)) for k, v in update.items() if k not in ("_id", "details"))
    wanted = (update.get("details") or {}).get("SalesOrderProductObj") or []
    return heads_match and _rows_hold(wanted, {str(r.get("_id")): r for r in lines}, "_id")


def _rows_hold(wanted: Sequence[Mapping[str, Any]], rows: Mapping[str, Mapping[str, Any]], key: str) -> bool:
    for want in wanted:
        row = rows.get(str(want[key]))
        if row is None or not all(_same(v, row.get(k)) for k, v in want.items() if k != key):
            return False
    return True


def _same(written: Any, stored: Any) -> bool:
    return _plain(written) == _plain(stored)


def _plain(value: Any) -> Any:
    """One form for a value as the hub writes it and as the CRM returns it: numbers as Decimal (the
    CRM may answer 5, 5.0 or "5"), instants as epoch milliseconds (Fxiaoke dates), empty as None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    if isinstance(value, str):
        try:
            return Decimal(value).normalize()
        except InvalidOperation:
            return value
    return value
