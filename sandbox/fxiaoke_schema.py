"""Fxiaoke objects as the emulator knows them: field types, value encoding and the errorCode envelope.

Value encoding follows crm_report.md §2.7: numbers and money as strings, dates as epoch milliseconds,
employee fields as lists, references as ``_id`` strings. Fields ending in ``__c`` are this tenant's
custom fields (the hub's write-back fields, line numbers, tax, and two legacy fields).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

RELATED = "related_object"  # a list of {describe_api_name, id, name}, filled by the platform
TEXT, NUMBER, CURRENCY, DATETIME, DATE, EMPLOYEE, DEPARTMENT, REFERENCE, SELECT, BOOL = (
    "text",
    "number",
    "currency",
    "date_time",
    "date",
    "employee",
    "department",
    "object_reference",
    "select_one",
    "true_or_false",
)
LIST_TYPES = frozenset({EMPLOYEE, DEPARTMENT})
NUMERIC_TYPES = frozenset({NUMBER, CURRENCY})
TIME_TYPES = frozenset({DATETIME, DATE})

_SYSTEM: dict[str, str] = {
    "_id": TEXT,
    "name": TEXT,
    "owner": EMPLOYEE,
    "created_by": EMPLOYEE,
    "last_modified_by": EMPLOYEE,
    "create_time": DATETIME,
    "last_modified_time": DATETIME,
    "life_status": SELECT,
    "lock_status": SELECT,
    "is_deleted": BOOL,
    "record_type": SELECT,
    "version": NUMBER,
    "data_own_department": DEPARTMENT,
    "mc_currency": SELECT,
    "mc_exchange_rate": NUMBER,
}

OBJECTS: dict[str, dict[str, str]] = {
    "AccountObj": {
        **_SYSTEM,
        "account_no": TEXT,
        "tel": TEXT,
        "email": TEXT,
        "country": TEXT,
        "province": TEXT,
        "city": TEXT,
        "address": TEXT,
        "account_status": SELECT,
        "remark": TEXT,
    },
    "ProductObj": {
        **_SYSTEM,
        "product_code": TEXT,
        "product_spec": TEXT,
        "unit": TEXT,
        "price": CURRENCY,
        "category": SELECT,
        "product_status": SELECT,
        "is_saleable": BOOL,
        "remark": TEXT,
    },
    "SalesOrderObj": {
        **_SYSTEM,
        "account_id": REFERENCE,
        "account_id__r": TEXT,
        "order_time": DATETIME,
        "order_amount": CURRENCY,
        "product_amount": CURRENCY,
        "discount": NUMBER,
        "delivery_date": DATE,
        "ship_to_add": TEXT,
        "ship_to_tel": TEXT,
        "remark": TEXT,
        "customer_po__c": TEXT,
        "carrier__c": TEXT,
        "tax_rate__c": NUMBER,
        "tax_amount__c": CURRENCY,
        "hub_status__c": SELECT,
        "sap_order_no__c": TEXT,
        "confirmed_delivery_date__c": DATE,
        "tracking_no__c": TEXT,
        "hub_message__c": TEXT,
        "legacy_channel__c": TEXT,
        "promo_code__c": TEXT,
    },
    # 销售记录 (sales record / 跟进记录), docs/crm_reminders.md §2: the follow-up record on an account;
    # field_hub_key__c and field_hub_due_date__c are this tenant's custom fields for the hub's reminders.
    "ActiveRecordObj": {
        **_SYSTEM,
        "active_record_content": TEXT,
        "active_record_type": SELECT,
        "interactive_types": SELECT,
        "account_id": REFERENCE,
        "account_id__r": TEXT,
        "related_object_data": RELATED,
        "field_hub_key__c": TEXT,
        "field_hub_due_date__c": DATE,
    },
    "SalesOrderProductObj": {
        **_SYSTEM,
        "order_id": REFERENCE,
        "order_id__r": TEXT,
        "product_id": REFERENCE,
        "product_id__r": TEXT,
        "quantity": NUMBER,
        "product_price": CURRENCY,
        "discount": NUMBER,
        "sales_price": CURRENCY,
        "subtotal": CURRENCY,
        "unit": TEXT,
        "remark": TEXT,
        "line_no__c": NUMBER,
        "tax_rate__c": NUMBER,
        "tax_amount__c": CURRENCY,
        "confirmed_quantity__c": NUMBER,
        "shipped_quantity__c": NUMBER,
        "tracking_no__c": TEXT,
        "old_part_ref__c": TEXT,
    },
}

SELECT_OPTIONS: dict[str, frozenset[str]] = {
    "hub_status__c": frozenset(
        {
            "created",
            "confirmed",
            "partially_confirmed",
            "backordered",
            "partially_shipped",
            "shipped",
            "delivered",
            "invoiced",
            "cancelled",
            "cancel_failed",
        }
    ),
    "life_status": frozenset({"normal", "ineffective", "under_review", "in_change", "invalid"}),
    "mc_currency": frozenset({"CNY", "EUR", "USD"}),
}
# Managed by the platform: an update may not set them.
SYSTEM_MANAGED = frozenset(
    {"_id", "create_time", "created_by", "last_modified_time", "last_modified_by", "version", "is_deleted"}
)

OK_BODY = {"errorDescription": "success", "errorMessage": "OK", "errorCode": 0}
OFFSET_TOO_LARGE = {
    "errorDescription": "offset 不能超过10000",
    "errorMessage": "offset out of range 10000",
    "errorCode": 10013,
}
NEED_TOKEN = "corpAccessToken为必填项，不能为空"
BAD_TOKEN = "the cropId,cropAccessToken or authorization is error"
PARAM_ERROR = 32000


class FxiaokeError(Exception):
    """A failed call: HTTP 200 with a non-zero ``errorCode``."""

    def __init__(self, code: int, message: str, description: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.description = description

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errorMessage": self.message, "errorCode": self.code}
        if self.description:
            body["errorDescription"] = self.description
        return body


def param_error(message: str) -> FxiaokeError:
    return FxiaokeError(PARAM_ERROR, message, "参数错误")


def to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def fx_number(value: Decimal, places: int = 2) -> str:
    """A number as Fxiaoke sends it: a string, money with two decimals, counts without."""
    if places == 0:
        return str(int(value)) if value == value.to_integral_value() else str(value.normalize())
    return str(value.quantize(Decimal(1).scaleb(-places)))


# Value limits the emulator enforces on writes. Fxiaoke's field settings carry a length and decimal
# places per field; the tenant's real settings are not documented (crm_report.md §2.6), so these are
# the emulator's choices [verify]: numbers up to 14 integer digits and 6 decimals, texts up to 2,000
# characters, dates and times between 1900 and 9999.
MAX_INTEGER_DIGITS = 14
MAX_DECIMALS = 6
MAX_TEXT = 2000
MIN_MS = -2_208_988_800_000  # 1900-01-01T00:00:00Z
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# Lookup fields and the object they point to; each has a read-only ``<field>__r`` display companion
# (the target's ``name``), which the platform fills.
LOOKUPS: dict[tuple[str, str], str] = {
    ("SalesOrderObj", "account_id"): "AccountObj",
    ("SalesOrderProductObj", "product_id"): "ProductObj",
    ("SalesOrderProductObj", "order_id"): "SalesOrderObj",
    ("ActiveRecordObj", "account_id"): "AccountObj",
}
# Objects a client may create records of (POST /cgi/crm/v2/data/create), and the fields a create needs.
CREATABLE = frozenset({"ActiveRecordObj"})
REQUIRED_ON_CREATE = {"ActiveRecordObj": ("active_record_content", "account_id")}
# Text fields shorter than MAX_TEXT: the hub's key field is text(100).
TEXT_LIMITS = {"field_hub_key__c": 100}


def known(name: Any, names: Any) -> bool:
    """``name in names`` for any JSON value (a list or an object is simply not a known name)."""
    return isinstance(name, str) and name in names


def _valid_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate
        return False
    return True


def _epoch_text(text: str) -> bool:
    return text.isascii() and text.lstrip("-").isdigit()


def _number_error(field_name: str, number: Decimal) -> str | None:
    _, digits, exponent = number.normalize().as_tuple()
    assert isinstance(exponent, int)
    decimals = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent) if number else 0
    if integer_digits > MAX_INTEGER_DIGITS or decimals > MAX_DECIMALS:
        return f"{field_name} 数值超出范围 (at most {MAX_INTEGER_DIGITS} digits and {MAX_DECIMALS} decimals)"
    return None


def encode(object_name: str, field_name: str, value: Any) -> tuple[Any, str | None]:
    """A client-written value in the stored encoding, or an error message."""
    kind = OBJECTS[object_name].get(field_name)
    if kind is None:
        return None, f"字段 {field_name} 不存在 (unknown field)"
    if field_name.endswith("__r"):
        return None, f"字段 {field_name} 是只读的显示字段 (display companion, read-only)"
    if kind == RELATED:
        return None, f"字段 {field_name} 由平台填写 (filled by the platform from the lookups)"
    if value is None:
        return None, None
    if isinstance(value, str) and not _valid_text(value):
        return None, f"{field_name} 含有非法字符 (invalid Unicode)"
    if kind in NUMERIC_TYPES:
        if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip().isascii():
            return None, f"{field_name} 不是数字"
        number = to_decimal(value)
        if number is None:
            return None, f"{field_name} 不是数字"
        error = _number_error(field_name, number)
        return (None, error) if error else (str(value).strip(), None)
    if kind in TIME_TYPES:
        text = str(value)
        if isinstance(value, bool) or not isinstance(value, int | str) or not _epoch_text(text):
            return None, f"{field_name} must be epoch milliseconds"
        if len(text) > 20 or not MIN_MS <= int(value) <= MAX_MS:
            return None, f"{field_name} 时间超出范围 (out of range)"
        return int(value), None
    if kind in LIST_TYPES:
        if not isinstance(value, list) or not all(isinstance(v, str) and _valid_text(v) for v in value):
            return None, f"{field_name} must be a list of ids"
        return list(value), None
    if kind == BOOL:
        return (value, None) if isinstance(value, bool) else (None, f"{field_name} must be true or false")
    if not isinstance(value, str | int | float):
        return None, f"{field_name} must be a text value"
    if kind == SELECT and field_name in SELECT_OPTIONS and not known(value, SELECT_OPTIONS[field_name]):
        return None, f"{field_name} 选项值 {value} 不存在"
    text = str(value)
    limit = TEXT_LIMITS.get(field_name, MAX_TEXT)
    if len(text) > limit:
        return None, f"{field_name} 超出长度限制 {limit}"
    return text, None
