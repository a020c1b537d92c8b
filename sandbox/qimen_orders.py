"""Reading the ERP's Qimen requests (canonical dicts from :mod:`sandbox.qimen_xml`) into checked inputs.

Required fields follow logistics_report.md §3.1 (stockout.create), §3.7 (inventory.query), §3.8
(order.cancel) and §3.9 (the queries). A missing field is ``missing-field`` and a wrong one
``invalid-field``; both name the field by its path, e.g. ``orderLines[2].planQty``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sandbox.qimen_plan import PICKUP_MODE
from sandbox.qimen_xml import QimenError, parse_gmt8

ORDER_TYPES = ("PTCK", "DBCK", "B2BCK", "QTCK", "CGTH", "XNCK", "JITCK")
CONTACT_REQUIRED = ("name", "mobile", "province", "city", "detailAddress")
INVENTORY_TYPES = ("ZP", "CC", "JS", "XS", "ZT")
MAX_LINES = 1000
MAX_QTY = 10**9
_DIGITS = re.compile(r"[0-9]{1,10}")


def missing(path: str) -> QimenError:
    return QimenError("missing-field", f"{path} is required (缺少必填字段 {path})")


def invalid(path: str, why: str) -> QimenError:
    return QimenError("invalid-field", f"{path}: {why}")


def section(doc: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
    value = doc.get(key)
    if value in (None, ""):
        if required:
            raise missing(key)
        return {}
    if not isinstance(value, dict):
        raise invalid(key, "must be an element with fields")
    return value


def text(fields: dict[str, Any], key: str, path: str, *, required: bool = False, max_len: int = 200) -> str:
    value = fields.get(key, "")
    if not isinstance(value, str):
        raise invalid(path, "must be text, not nested elements")
    if required and not value:
        raise missing(path)
    if len(value) > max_len:
        raise invalid(path, f"longer than {max_len} characters")
    return value


def count(fields: dict[str, Any], key: str, path: str, *, required: bool = False, low: int = 1) -> int | None:
    raw = text(fields, key, path, required=required, max_len=20)
    if not raw:
        return None
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= MAX_QTY:
        raise invalid(path, f"must be an integer from {low} to {MAX_QTY}, got {raw[:20]!r}")
    return int(raw)


def rows(doc: dict[str, Any], key: str, *, required: bool, limit: int = MAX_LINES) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise invalid(key, "must be a list of elements")
    if required and not value:
        raise missing(f"{key}[1]")
    if len(value) > limit:
        raise invalid(key, f"more than {limit} entries")
    for n, row in enumerate(value, 1):
        if not isinstance(row, dict):
            raise invalid(f"{key}[{n}]", "must be an element with fields")
    return value


@dataclass(frozen=True)
class NewLine:
    key: str  # what a repeated or continued create is deduplicated on
    order_line_no: str
    owner_code: str
    item_code: str
    item_name: str
    inventory_type: str
    plan_qty: int
    content: str  # the line as sent, canonical JSON, to tell a repeat from a conflict


@dataclass(frozen=True)
class NewOrder:
    code: str
    order_type: str
    warehouse: str
    header: str  # deliveryOrder as sent, canonical JSON
    total_lines: int | None
    lines: tuple[NewLine, ...]
    requested_carrier: str | None
    pickup: bool
    receiver_city: str
    receiver_mobile: str


def _contact(order: dict[str, Any], key: str) -> dict[str, Any]:
    contact = section(order, key, required=False)
    for name in CONTACT_REQUIRED:
        text(contact, name, f"deliveryOrder.{key}.{name}", required=bool(contact))
    return contact


def read_stockout_create(doc: dict[str, Any]) -> NewOrder:
    order = section(doc, "deliveryOrder")
    code = text(order, "deliveryOrderCode", "deliveryOrder.deliveryOrderCode", required=True, max_len=50)
    order_type = text(order, "orderType", "deliveryOrder.orderType", required=True, max_len=50)
    warehouse = text(order, "warehouseCode", "deliveryOrder.warehouseCode", required=True, max_len=50)
    created = text(order, "createTime", "deliveryOrder.createTime", required=True, max_len=19)
    if order_type not in ORDER_TYPES:
        raise invalid("deliveryOrder.orderType", f"{order_type!r} is not one of {', '.join(ORDER_TYPES)}")
    try:
        parse_gmt8(created)
    except ValueError:
        raise invalid("deliveryOrder.createTime", "must be yyyy-MM-dd HH:mm:ss") from None
    schedule = text(order, "scheduleDate", "deliveryOrder.scheduleDate", max_len=10)
    if schedule:
        try:
            date.fromisoformat(schedule)
        except ValueError:
            raise invalid("deliveryOrder.scheduleDate", "must be yyyy-MM-dd") from None
    total = count(order, "totalOrderLines", "deliveryOrder.totalOrderLines")
    receiver = _contact(order, "receiverInfo")
    _contact(order, "senderInfo")
    for key in ("logisticsCode", "transportMode", "remark"):
        text(order, key, f"deliveryOrder.{key}", max_len=500)
    lines = _lines(rows(doc, "orderLines", required=True), continuation=total is not None)
    if total is not None and len(lines) > total:
        raise invalid("deliveryOrder.totalOrderLines", f"{total} lines announced, {len(lines)} sent")
    return NewOrder(
        code=code,
        order_type=order_type,
        warehouse=warehouse,
        header=json.dumps(order, sort_keys=True, ensure_ascii=False),
        total_lines=total,
        lines=lines,
        requested_carrier=order.get("logisticsCode") or None,
        pickup=order.get("transportMode") == PICKUP_MODE or bool(order.get("pickerInfo")),
        receiver_city=str(receiver.get("city", "")),
        receiver_mobile=str(receiver.get("mobile", "")),
    )


def _lines(raw: list[dict[str, Any]], *, continuation: bool) -> tuple[NewLine, ...]:
    lines: list[NewLine] = []
    seen: set[str] = set()
    for n, line in enumerate(raw, 1):
        path = f"orderLines[{n}]"
        owner = text(line, "ownerCode", f"{path}.ownerCode", required=True, max_len=50)
        item = text(line, "itemCode", f"{path}.itemCode", required=True, max_len=50)
        qty = count(line, "planQty", f"{path}.planQty", required=True)
        inventory_type = text(line, "inventoryType", f"{path}.inventoryType", max_len=50) or "ZP"
        if inventory_type not in INVENTORY_TYPES:
            raise invalid(f"{path}.inventoryType", f"{inventory_type!r} is not one of {', '.join(INVENTORY_TYPES)}")
        line_no = text(line, "orderLineNo", f"{path}.orderLineNo", max_len=50)
        biz = text(line, "outBizCode", f"{path}.outBizCode", max_len=50)
        content = json.dumps(line, sort_keys=True, ensure_ascii=False)
        # Lines are told apart by orderLineNo, else by their outBizCode; a continued document without
        # either is deduplicated by content, a single one by position.
        key = f"no:{line_no}" if line_no else f"biz:{biz}" if biz else f"content:{content}" if continuation else f"#{n}"
        if key in seen:
            raise invalid(path, f"the same line ({key.split(':', 1)[-1][:60]}) appears twice")
        seen.add(key)
        name = text(line, "itemName", f"{path}.itemName", max_len=200)
        assert qty is not None
        lines.append(NewLine(key, line_no, owner, item, name, inventory_type, qty, content))
    return tuple(lines)


def read_cancel(doc: dict[str, Any]) -> tuple[str, str]:
    """(warehouseCode, orderCode) of an order.cancel."""
    warehouse = text(doc, "warehouseCode", "warehouseCode", required=True, max_len=50)
    code = text(doc, "orderCode", "orderCode", required=True, max_len=50)
    text(doc, "cancelReason", "cancelReason", max_len=500)
    return warehouse, code


def read_order_ref(doc: dict[str, Any], code_key: str) -> tuple[str, str, str]:
    """(order code, WMS id, warehouseCode) of a query; one of code and id is required."""
    code = text(doc, code_key, code_key, max_len=50)
    wms_id = text(doc, "deliveryOrderId", "deliveryOrderId", max_len=50) or text(doc, "orderId", "orderId", max_len=50)
    if not code and not wms_id:
        raise missing(code_key)
    return code, wms_id, text(doc, "warehouseCode", "warehouseCode", max_len=50)


def read_inventory_query(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(itemCode, warehouseCode or "", inventoryType or "") per criteria."""
    out = []
    for n, criteria in enumerate(rows(doc, "criteriaList", required=True, limit=100), 1):
        path = f"criteriaList[{n}]"
        item = text(criteria, "itemCode", f"{path}.itemCode", required=True, max_len=50)
        warehouse = text(criteria, "warehouseCode", f"{path}.warehouseCode", max_len=50)
        inventory_type = text(criteria, "inventoryType", f"{path}.inventoryType", max_len=50)
        text(criteria, "ownerCode", f"{path}.ownerCode", max_len=50)
        out.append((item, warehouse, inventory_type))
    return out
