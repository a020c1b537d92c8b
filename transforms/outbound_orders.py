"""The hub's canonical outbound order and the Qimen ``stockout.create`` request built from it.

One SAP outbound delivery of a 3PL plant becomes one Qimen outbound order (出库单, ``orderType``
B2BCK: logistics reference §3.1). ``deliveryOrderCode`` is the SAP delivery number, so the WMS's
confirms name the delivery the hub posts goods issue for, and ``orderLineNo`` is the SAP delivery
item, echoed back per line.

The request is a plain dict whose every leaf is a ``str`` and every list a list: the same shape
``connectors/qimen_xml.parse_request`` gives back, so the connector serialises it element by element
(camelCase, in the order written here) and a parse of what was sent returns the same dict.

Nothing is truncated: a value longer than the field allows raises :class:`OutboundOrderError`
naming the delivery, the line and the field, and the flow quarantines the delivery. A truncated
address or part number at a warehouse ships the wrong thing; a refused delivery is seen and fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

# Qimen timestamps are GMT+8 wall-clock time (reference §1.2, pitfall 4). China has had no daylight
# saving since 1991, so a fixed offset is exact and needs no time-zone database.
GMT8 = timezone(timedelta(hours=8), "GMT+8")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

ORDER_TYPE = "B2BCK"
INVENTORY_TYPE = "ZP"  # 正品: the hub only ever ships good stock

# Transport modes (free text in the standard, §3.1). Pickup is the one that matters to the hub:
# a customer collecting at the warehouse gets no carrier and no tracking number.
EXPRESS = "快递"
PICKUP = "到仓自提"
LINEHAUL = "干线物流"

# The standard's carrier codes (§3.10), code → name. The list is old; a carrier not on it travels as
# OTHER with its name in logisticsName.
CARRIERS: dict[str, str] = {
    "SF": "顺丰速运",
    "EMS": "标准快递",
    "EYB": "经济快件",
    "ZJS": "宅急送",
    "YTO": "圆通速递",
    "ZTO": "中通快递",
    "HTKY": "百世汇通",
    "UC": "优速快递",
    "STO": "申通快递",
    "TTKDEX": "天天快递",
    "QFKD": "全峰快递",
    "FAST": "快捷快递",
    "POSTB": "邮政小包",
    "GTO": "国通快递",
    "YUNDA": "韵达快递",
    "JD": "京东配送",
    "DD": "当当宅配",
    "AMAZON": "亚马逊物流",
    "OTHER": "其他",
}

# Field lengths. Those marked §3.1 are the standard's; the others are not published (reference §6,
# "lengths not shown"): 50 for codes and 200 for names and addresses, the standard's own sizes for
# its code and name fields, so nothing the hub sends is longer than a WMS column is likely to be.
LIMITS: dict[str, int] = {
    "deliveryOrderCode": 50,  # §3.1
    "orderType": 50,  # §3.1
    "warehouseCode": 50,  # §3.1
    "createTime": 19,  # §3.1
    "scheduleDate": 10,  # §3.1
    "logisticsCode": 50,  # §3.1
    "logisticsName": 200,  # §3.1
    "remark": 500,  # §3.1
    "transportMode": 50,
    "company": 200,
    "name": 200,
    "mobile": 50,
    "province": 50,
    "city": 50,
    "area": 50,
    "detailAddress": 200,
    "orderLineNo": 50,
    "ownerCode": 50,
    "itemCode": 50,
    "itemName": 200,
    "unit": 50,
    "customerPo": 50,
    "salesOrder": 50,
}

# Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF, CR; surrogates; U+FFFE/F):
# the serialiser would fail or the WMS's parser would, so they are refused here, by field.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CODE = re.compile(r"^[A-Za-z0-9_-]+$")


class OutboundOrderError(ValueError):
    """A delivery that cannot become a Qimen outbound order; ``field`` names the request field."""

    def __init__(self, delivery: str, field: str, message: str, line_no: int | None = None) -> None:
        where = f"delivery {delivery}" + (f" line {line_no}" if line_no is not None else "")
        super().__init__(f"{where}: {field} {message}")
        self.delivery = delivery
        self.field = field
        self.line_no = line_no


@dataclass(frozen=True)
class Receiver:
    """Ship-to of the delivery: the customer's goods receiving address and contact."""

    company: str | None
    name: str
    mobile: str
    province: str
    city: str
    area: str | None
    detail_address: str


@dataclass(frozen=True)
class OutboundLine:
    line_no: int  # SAP delivery item (DeliveryDocumentItem), echoed back as orderLineNo
    material: str
    description: str | None
    quantity: Decimal  # integral; the WMS counts pieces
    unit: str


@dataclass(frozen=True)
class OutboundOrder:
    delivery: str  # SAP outbound delivery number = deliveryOrderCode
    sales_order: str
    purchase_order: str | None  # the CRM order number (SAP PurchaseOrderByCustomer)
    plant: str
    warehouse: str  # the Qimen warehouseCode of the plant (settings [logistics] warehouses)
    owner_code: str
    created: datetime  # aware; sent as GMT+8
    schedule_date: date | None  # 要求出库时间: the delivery's planned goods issue date
    receiver: Receiver
    logistics_code: str | None  # carrier hint, when the order names one
    lines: tuple[OutboundLine, ...]
    transport_mode: str = EXPRESS
    remark: str | None = None

    @property
    def pickup(self) -> bool:
        return self.transport_mode == PICKUP


def qimen_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in GMT+8 for an aware datetime (a naive one is refused: its zone is a guess)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a Qimen timestamp needs a timezone-aware datetime")
    t = moment.astimezone(GMT8)
    # Written out rather than strftime: %Y does not pad years before 1000 on every platform.
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def parse_qimen_time(text: str) -> datetime | None:
    """A Qimen ``YYYY-MM-DD HH:MM:SS`` (GMT+8) as an aware datetime; None when it is not one."""
    try:
        return datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=GMT8)
    except ValueError:
        return None


def java_length(text: str) -> int:
    """Length as the WMS (Java) counts it: UTF-16 code units, so an emoji counts twice."""
    return len(text.encode("utf-16-le")) // 2


def integral_quantity(value: Decimal) -> int | None:
    """``value`` as an int when it is a finite whole number (``5``, ``5.000``); None otherwise."""
    if not value.is_finite() or value != value.to_integral_value():
        return None
    return int(value)


def to_stockout_create(order: OutboundOrder) -> dict[str, Any]:
    """The ``taobao.qimen.stockout.create`` request for ``order`` (reference §3.1).

    Raises :class:`OutboundOrderError` for a value the request cannot carry as it is: too long, a
    fractional or non-positive quantity, a missing receiver field, a character XML cannot hold.
    """
    d = order.delivery
    if not order.lines:
        raise OutboundOrderError(d, "orderLines", "is empty: a delivery without items is not an outbound order")
    head: dict[str, Any] = {
        "totalOrderLines": str(len(order.lines)),
        "deliveryOrderCode": _text(d, "deliveryOrderCode", order.delivery),
        "orderType": ORDER_TYPE,
        "warehouseCode": _code(d, "warehouseCode", order.warehouse),
        "createTime": qimen_time(order.created),
    }
    if order.schedule_date is not None:
        head["scheduleDate"] = order.schedule_date.isoformat()
    if order.logistics_code:
        code = _code(d, "logisticsCode", order.logistics_code)
        head["logisticsCode"] = code
        if code in CARRIERS and code != "OTHER":
            head["logisticsName"] = CARRIERS[code]
    head["transportMode"] = _text(d, "transportMode", order.transport_mode)
    head["receiverInfo"] = _receiver(d, order.receiver)
    if order.remark:
        head["remark"] = _text(d, "remark", order.remark)
    lines = [_line(order, line) for line in order.lines]
    numbers = [line.line_no for line in order.lines]
    if len(set(numbers)) != len(numbers):
        raise OutboundOrderError(d, "orderLineNo", f"repeats: {sorted(numbers)}")
    extend = {"salesOrder": _text(d, "salesOrder", order.sales_order)}
    if order.purchase_order:
        extend = {"customerPo": _text(d, "customerPo", order.purchase_order), **extend}
    return {"deliveryOrder": head, "orderLines": lines, "extendProps": extend}


def _receiver(delivery: str, r: Receiver) -> dict[str, str]:
    # Order as in the standard's sample; name, mobile, province, city and detailAddress are required
    # once receiverInfo is present (§3.1).
    fields = [
        ("company", r.company, False),
        ("name", r.name, True),
        ("mobile", r.mobile, True),
        ("province", r.province, True),
        ("city", r.city, True),
        ("area", r.area, False),
        ("detailAddress", r.detail_address, True),
    ]
    info: dict[str, str] = {}
    for name, value, required in fields:
        if value is None or not value.strip():
            if required:
                raise OutboundOrderError(delivery, f"receiverInfo.{name}", "is required and missing")
            continue
        info[name] = _text(delivery, name, value, label=f"receiverInfo.{name}")
    return info


def _line(order: OutboundOrder, line: OutboundLine) -> dict[str, str]:
    d, n = order.delivery, line.line_no
    if isinstance(line.line_no, bool) or not isinstance(line.line_no, int) or line.line_no <= 0:
        raise OutboundOrderError(d, "orderLineNo", f"must be a positive delivery item number, not {line.line_no!r}")
    qty = integral_quantity(line.quantity)
    if qty is None:
        raise OutboundOrderError(d, "planQty", f"must be a whole number of units, not {line.quantity}", n)
    if qty <= 0:
        raise OutboundOrderError(d, "planQty", f"must be positive, not {line.quantity}", n)
    result = {
        "orderLineNo": str(n),
        "ownerCode": _code(d, "ownerCode", order.owner_code, n),
        "itemCode": _text(d, "itemCode", line.material, n),
    }
    if line.description:
        result["itemName"] = _text(d, "itemName", line.description, n)
    result["planQty"] = str(qty)
    result["unit"] = _text(d, "unit", line.unit, n)
    result["inventoryType"] = INVENTORY_TYPE
    return result


def _text(delivery: str, field: str, value: str, line_no: int | None = None, *, label: str | None = None) -> str:
    label = label or field
    if not isinstance(value, str) or not value.strip():
        raise OutboundOrderError(delivery, label, "is required and missing", line_no)
    bad = _NOT_XML.search(value)
    if bad:
        raise OutboundOrderError(delivery, label, f"holds a character XML cannot carry ({bad.group()!r})", line_no)
    limit = LIMITS[field]
    if java_length(value) > limit:
        raise OutboundOrderError(
            delivery, label, f"is {java_length(value)} characters long, more than the {limit} allowed", line_no
        )
    return value


def _code(delivery: str, field: str, value: str, line_no: int | None = None) -> str:
    value = _text(delivery, field, value, line_no)
    if not _CODE.match(value):
        raise OutboundOrderError(delivery, field, f"must be letters, digits, '-' or '_', not {value!r}", line_no)
    return value
