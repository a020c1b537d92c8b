"""Zoho CRM v8 as the emulator knows it: module fields, picklists, value formats and the error envelope.

Field API names follow the official SDK's field classes (crm_report.md §1.9); the ``*__c`` fields are
this org's custom fields: the hub's write-back fields and two legacy fields old imports filled.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from starlette.responses import JSONResponse

ORG_TZ = timezone(timedelta(hours=8))  # the org's time zone; every timestamp carries its offset
HOME_CURRENCY = "CNY"
CURRENCY_SYMBOLS = {"CNY": "¥", "EUR": "€", "USD": "$"}

_SYSTEM_FIELDS = (
    "id",
    "Owner",
    "Created_Time",
    "Modified_Time",
    "Created_By",
    "Modified_By",
    "Tag",
    "Locked__s",
    "Record_Status__s",
)
_ADDRESS_FIELDS = tuple(
    f"{kind}_{part}" for kind in ("Billing", "Shipping") for part in ("Street", "City", "State", "Code", "Country")
)

SALES_ORDER_FIELDS = frozenset(
    {
        *_SYSTEM_FIELDS,
        *_ADDRESS_FIELDS,
        "Subject",
        "SO_Number",
        "Account_Name",
        "Contact_Name",
        "Deal_Name",
        "Quote_Name",
        "Status",
        "Due_Date",
        "Purchase_Order",
        "Customer_No",
        "Carrier",
        "Sub_Total",
        "Discount",
        "Tax",
        "Adjustment",
        "Excise_Duty",
        "Sales_Commission",
        "Pending",
        "Grand_Total",
        "Currency",
        "Exchange_Rate",
        "Terms_and_Conditions",
        "Description",
        "Ordered_Items",
        # custom fields: what the hub writes back, and what legacy imports left behind
        "SAP_Order_No__c",
        "Confirmed_Delivery_Date__c",
        "Tracking_Number__c",
        "Hub_Message__c",
        "Legacy_Channel__c",
        "Promo_Code__c",
    }
)
ORDERED_ITEM_FIELDS = frozenset(
    {
        "id",
        "Product_Name",
        "Quantity",
        "List_Price",
        "Total",
        "Discount",
        "Total_After_Discount",
        "Tax",
        "Net_Total",
        "Line_Tax",
        "Price_Book_Name",
        "Description",
        "Sequence_Number",
        "Parent_Id",
        "Created_Time",
        "Modified_Time",
        "Confirmed_Quantity__c",
        "Confirmed_Date__c",
        "Shipped_Quantity__c",
        "Line_Tracking__c",
        "Old_Part_Ref__c",
        "_delete",
    }
)
ACCOUNT_FIELDS = frozenset(
    {
        *_SYSTEM_FIELDS,
        *_ADDRESS_FIELDS,
        "Account_Name",
        "Account_Number",
        "Account_Type",
        "Account_Site",
        "Industry",
        "Phone",
        "Fax",
        "Website",
        "Annual_Revenue",
        "Employees",
        "Ownership",
        "Rating",
        "SIC_Code",
        "Ticker_Symbol",
        "Parent_Account",
        "Description",
        "Currency",
        "Exchange_Rate",
    }
)
PRODUCT_FIELDS = frozenset(
    {
        *_SYSTEM_FIELDS,
        "Product_Name",
        "Product_Code",
        "Product_Active",
        "Product_Category",
        "Unit_Price",
        "Qty_in_Stock",
        "Qty_Ordered",
        "Qty_in_Demand",
        "Reorder_Level",
        "Usage_Unit",
        "Taxable",
        "Tax",
        "Vendor_Name",
        "Manufacturer",
        "Commission_Rate",
        "Handler",
        "Description",
        "Sales_Start_Date",
        "Sales_End_Date",
        "Support_Start_Date",
        "Support_Expiry_Date",
        "Currency",
        "Exchange_Rate",
    }
)
PRICE_BOOK_FIELDS = frozenset(
    {
        *_SYSTEM_FIELDS,
        "Price_Book_Name",
        "Active",
        "Pricing_Model",
        "Pricing_Details",
        "Description",
        "Currency",
        "Exchange_Rate",
    }
)

# Tasks (docs/crm_reminders.md §1): the SDK's field class ``Tasks`` plus ``$se_module`` (the module
# ``What_Id`` points into) and this org's custom key field for the hub's reorder reminders.
TASK_FIELDS = frozenset(
    {
        *_SYSTEM_FIELDS,
        "Subject",
        "Due_Date",
        "Status",
        "Priority",
        "Description",
        "What_Id",
        "Who_Id",
        "Closed_Time",
        "Send_Notification_Email",
        "Remind_At",
        "Recurring_Activity",
        "$se_module",
        "Hub_Reminder_Key",
    }
)

MODULE_FIELDS: dict[str, frozenset[str]] = {
    "Sales_Orders": SALES_ORDER_FIELDS,
    "Accounts": ACCOUNT_FIELDS,
    "Products": PRODUCT_FIELDS,
    "Price_Books": PRICE_BOOK_FIELDS,
    "Tasks": TASK_FIELDS,
}
# Modules the emulator lets a client create records in (POST /{module}) and search (GET /{module}/search).
CREATABLE = frozenset({"Tasks"})
# Fields whose values the org keeps unique ("Do not allow duplicate values"): a second record with the
# same value is refused with DUPLICATE_DATA.
UNIQUE_FIELDS: dict[str, frozenset[str]] = {"Tasks": frozenset({"Hub_Reminder_Key"})}
# Subforms come only with a record fetched by id (crm_report.md §4: the list route does not carry them).
SUBFORMS = {"Sales_Orders": "Ordered_Items"}

# Computed or system-managed: accepted in an update and ignored.
READ_ONLY = frozenset(
    {
        "id",
        "SO_Number",
        "Created_Time",
        "Modified_Time",
        "Created_By",
        "Modified_By",
        "Sub_Total",
        "Grand_Total",
        "Record_Status__s",
        "Total",
        "Total_After_Discount",
        "Net_Total",
        "Parent_Id",
        "Closed_Time",
    }
)

PICKLISTS: dict[str, frozenset[str]] = {
    # The standard values plus the ones this org added for the hub's confirmations.
    "Status": frozenset(
        {
            "Created",
            "Approved",
            "Confirmed",
            "Partially Confirmed",
            "Backordered",
            "Partially Shipped",
            "Shipped",
            "Delivered",
            "Invoiced",
            "Cancelled",
            "Cancellation Failed",
        }
    ),
    "Currency": frozenset(CURRENCY_SYMBOLS),
    "Record_Status__s": frozenset({"Available", "Draft", "Trash"}),
    "Account_Type": frozenset(
        {"Analyst", "Competitor", "Customer", "Distributor", "Integrator", "Investor", "Other", "Partner", "Prospect"}
    ),
    "Industry": frozenset({"Automotive Aftermarket", "Manufacturing", "Wholesale", "Other"}),
    "Ownership": frozenset({"Other", "Private", "Public", "Subsidiary"}),
    "Rating": frozenset({"Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down"}),
    "Usage_Unit": frozenset({"Box", "Carton", "Dozen", "Each", "Hours", "Impressions", "Lb", "M", "Pack", "Pcs"}),
    "Pricing_Model": frozenset({"Flat", "Differential"}),
}
# Picklists whose values differ by module (Tasks.Status is not Sales_Orders.Status): they win over PICKLISTS.
MODULE_PICKLISTS: dict[str, dict[str, frozenset[str]]] = {
    "Tasks": {
        "Status": frozenset({"Not Started", "Deferred", "In Progress", "Completed", "Waiting for input"}),
        "Priority": frozenset({"Highest", "High", "Normal", "Low", "Lowest"}),
    }
}
DATE_FIELDS = frozenset({"Due_Date", "Confirmed_Delivery_Date__c", "Confirmed_Date__c"})
NUMBER_FIELDS = frozenset(
    {
        "Adjustment",
        "Discount",
        "Exchange_Rate",
        "Quantity",
        "List_Price",
        "Confirmed_Quantity__c",
        "Shipped_Quantity__c",
    }
)
TEXT_LIMITS = {
    "Subject": 255,
    "SAP_Order_No__c": 40,
    "Tracking_Number__c": 80,
    "Line_Tracking__c": 255,
    "Carrier": 120,
    "Hub_Message__c": 2000,
    "Hub_Reminder_Key": 100,
}


class ZohoError(Exception):
    """A top-level error, rendered as Zoho's ``{code, details, message, status}`` envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def record_error(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    """One failed record inside a multi-record response."""
    return {"code": code, "details": details, "message": message, "status": "error"}


def zoho_time(moment: datetime) -> str:
    return moment.astimezone(ORG_TZ).isoformat(timespec="seconds")


def parse_zoho_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def zoho_date(day: date | None) -> str | None:
    return day.isoformat() if day else None


def number(value: Decimal) -> int | float:
    """Zoho sends numbers as JSON numbers; whole values without a fraction."""
    return int(value) if value == value.to_integral_value() else float(value)


def picklist(module: str, api_name: str) -> frozenset[str] | None:
    """The allowed values of a picklist field of ``module`` (None: not a picklist)."""
    return MODULE_PICKLISTS.get(module, {}).get(api_name, PICKLISTS.get(api_name))


def check_value(api_name: str, value: Any, json_path: str, module: str | None = None) -> dict[str, Any] | None:
    """The per-record INVALID_DATA error for a value of the wrong type or outside its picklist."""

    def invalid(expected: str) -> dict[str, Any]:
        return record_error(
            "INVALID_DATA",
            "invalid data",
            {"api_name": api_name, "json_path": json_path, "expected_data_type": expected},
        )

    if value is None:
        return None
    allowed = picklist(module, api_name) if module else PICKLISTS.get(api_name)
    if allowed is not None and (not isinstance(value, str) or value not in allowed):
        return invalid("picklist")
    if api_name in DATE_FIELDS:
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            return invalid("date")
    if api_name in NUMBER_FIELDS and (isinstance(value, bool) or not isinstance(value, int | float)):
        return invalid("double")
    limit = TEXT_LIMITS.get(api_name)
    if limit is not None and (not isinstance(value, str) or len(value) > limit):
        return invalid("text")
    return None
