"""Zoho CRM v8 metadata: each field's type, and the metadata APIs the official SDK calls first.

The SDK (PyPI ``zohocrmsdk8-0``) reads, before its first record call, the current user
(``GET /users?type=CurrentUser``), the org (``GET /org``), the modules (``GET /settings/modules``)
and each module's field metadata (``GET /settings/fields?module=``), then the field metadata of every
module a lookup or subform points to. The shapes follow Zoho's published v8 examples (zoho/crm-oas:
``fields/…/getFields``, ``modules/…/getModules``, ``users/…/getUsers``, ``org/…/getOrganization``).

:data:`FIELD_TYPES` is the one place that says what each field holds; the update validation
(:meth:`sandbox.zoho_writes.RecordUpdater._check`) and the field metadata both read it. Lookups to modules
this org does not emulate (Contacts, Deals, Quotes, Vendors) are declared as Zoho declares them, but
``/settings/fields`` answers ``INVALID_MODULE`` for those modules and a write into them is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.zoho_schema import (
    ACCOUNT_FIELDS,
    CREATABLE,
    MODULE_FIELDS,
    ORDERED_ITEM_FIELDS,
    PRICE_BOOK_FIELDS,
    PRODUCT_FIELDS,
    READ_ONLY,
    SALES_ORDER_FIELDS,
    TASK_FIELDS,
    TEXT_LIMITS,
    UNIQUE_FIELDS,
    picklist,
    zoho_time,
)

# data_type → json_type, as Zoho pairs them in field metadata
JSON_TYPES = {
    "text": "string",
    "textarea": "string",
    "phone": "string",
    "website": "string",
    "email": "string",
    "autonumber": "string",
    "picklist": "string",
    "date": "string",
    "datetime": "string",
    "integer": "integer",
    "bigint": "integer",
    "double": "double",
    "currency": "double",
    "boolean": "boolean",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "userlookup": "jsonobject",
    "subform": "jsonarray",
    "linetax": "jsonarray",
    "multiselectpicklist": "jsonarray",
    "multiselectlookup": "jsonarray",
    "event_reminder": "jsonobject",
    "RRULE": "jsonobject",
}

_SYSTEM = {
    "Owner": ("ownerlookup", None),
    "Created_Time": ("datetime", None),
    "Modified_Time": ("datetime", None),
    "Created_By": ("userlookup", None),
    "Modified_By": ("userlookup", None),
    "Tag": ("multiselectlookup", None),
    "Locked__s": ("boolean", None),
    "Record_Status__s": ("picklist", None),
}
_ADDRESS = {
    f"{kind}_{part}": ("textarea" if part == "Street" else "text", None)
    for kind in ("Billing", "Shipping")
    for part in ("Street", "City", "State", "Code", "Country")
}

# api name → (data_type, lookup module or subform module)
FIELD_TYPES: dict[str, dict[str, tuple[str, str | None]]] = {
    "Sales_Orders": {
        **_SYSTEM,
        **_ADDRESS,
        "Subject": ("text", None),
        "SO_Number": ("autonumber", None),
        "Account_Name": ("lookup", "Accounts"),
        "Contact_Name": ("lookup", "Contacts"),
        "Deal_Name": ("lookup", "Deals"),
        "Quote_Name": ("lookup", "Quotes"),
        "Status": ("picklist", None),
        "Due_Date": ("date", None),
        "Purchase_Order": ("text", None),
        "Customer_No": ("text", None),
        "Carrier": ("text", None),
        "Sub_Total": ("currency", None),
        "Discount": ("currency", None),
        "Tax": ("currency", None),
        "Adjustment": ("currency", None),
        "Excise_Duty": ("currency", None),
        "Sales_Commission": ("currency", None),
        "Pending": ("text", None),
        "Grand_Total": ("currency", None),
        "Currency": ("picklist", None),
        "Exchange_Rate": ("double", None),
        "Terms_and_Conditions": ("textarea", None),
        "Description": ("textarea", None),
        "Ordered_Items": ("subform", "Ordered_Items"),
        "SAP_Order_No__c": ("text", None),
        "Confirmed_Delivery_Date__c": ("date", None),
        "Tracking_Number__c": ("text", None),
        "Hub_Message__c": ("textarea", None),
        "Legacy_Channel__c": ("text", None),
        "Promo_Code__c": ("text", None),
    },
    "Ordered_Items": {
        "Product_Name": ("lookup", "Products"),
        "Quantity": ("double", None),
        "List_Price": ("currency", None),
        "Total": ("currency", None),
        "Discount": ("currency", None),
        "Total_After_Discount": ("currency", None),
        "Tax": ("currency", None),
        "Net_Total": ("currency", None),
        "Line_Tax": ("linetax", None),
        "Price_Book_Name": ("lookup", "Price_Books"),
        "Description": ("textarea", None),
        "Sequence_Number": ("integer", None),
        "Parent_Id": ("lookup", "Sales_Orders"),
        "Created_Time": ("datetime", None),
        "Modified_Time": ("datetime", None),
        "Confirmed_Quantity__c": ("double", None),
        "Confirmed_Date__c": ("date", None),
        "Shipped_Quantity__c": ("double", None),
        "Line_Tracking__c": ("text", None),
        "Old_Part_Ref__c": ("text", None),
    },
    "Accounts": {
        **_SYSTEM,
        **_ADDRESS,
        "Account_Name": ("text", None),
        "Account_Number": ("text", None),
        "Account_Type": ("picklist", None),
        "Account_Site": ("text", None),
        "Industry": ("picklist", None),
        "Phone": ("phone", None),
        "Fax": ("phone", None),
        "Website": ("website", None),
        "Annual_Revenue": ("currency", None),
        "Employees": ("integer", None),
        "Ownership": ("picklist", None),
        "Rating": ("picklist", None),
        "SIC_Code": ("integer", None),
        "Ticker_Symbol": ("text", None),
        "Parent_Account": ("lookup", "Accounts"),
        "Description": ("textarea", None),
        "Currency": ("picklist", None),
        "Exchange_Rate": ("double", None),
    },
    "Products": {
        **_SYSTEM,
        "Product_Name": ("text", None),
        "Product_Code": ("text", None),
        "Product_Active": ("boolean", None),
        "Product_Category": ("text", None),
        "Unit_Price": ("currency", None),
        "Qty_in_Stock": ("double", None),
        "Qty_Ordered": ("double", None),
        "Qty_in_Demand": ("double", None),
        "Reorder_Level": ("double", None),
        "Usage_Unit": ("picklist", None),
        "Taxable": ("boolean", None),
        "Tax": ("multiselectpicklist", None),
        "Vendor_Name": ("lookup", "Vendors"),
        "Manufacturer": ("text", None),
        "Commission_Rate": ("currency", None),
        "Handler": ("userlookup", None),
        "Description": ("textarea", None),
        "Sales_Start_Date": ("date", None),
        "Sales_End_Date": ("date", None),
        "Support_Start_Date": ("date", None),
        "Support_Expiry_Date": ("date", None),
        "Currency": ("picklist", None),
        "Exchange_Rate": ("double", None),
    },
    # What_Id's lookup module is "se_module": the record's ``$se_module`` names the module it points
    # into (the official SDK special-cases exactly this, utility.py: Constants.SE_MODULE).
    "Tasks": {
        **_SYSTEM,
        "Subject": ("text", None),
        "Due_Date": ("date", None),
        "Status": ("picklist", None),
        "Priority": ("picklist", None),
        "Description": ("textarea", None),
        "What_Id": ("lookup", "se_module"),
        "Who_Id": ("lookup", "Contacts"),
        "Closed_Time": ("datetime", None),
        "Send_Notification_Email": ("boolean", None),
        "Remind_At": ("event_reminder", None),
        "Recurring_Activity": ("RRULE", None),
        "Hub_Reminder_Key": ("text", None),
    },
    "Price_Books": {
        **_SYSTEM,
        "Price_Book_Name": ("text", None),
        "Active": ("boolean", None),
        "Pricing_Model": ("picklist", None),
        "Pricing_Details": ("subform", None),
        "Description": ("textarea", None),
        "Currency": ("picklist", None),
        "Exchange_Rate": ("double", None),
    },
}
MANDATORY = {
    "Sales_Orders": {"Subject", "Account_Name"},
    "Accounts": {"Account_Name"},
    "Products": {"Product_Name"},
    "Price_Books": {"Price_Book_Name"},
    "Tasks": {"Subject"},
    "Ordered_Items": {"Product_Name", "Quantity"},
}
TEXT_LENGTHS = {"text": 255, "textarea": 32000, "phone": 30, "website": 255, "autonumber": 255}
LABELS = {
    "Sales_Orders": ("Sales Order", "Sales Orders"),
    "Accounts": ("Account", "Accounts"),
    "Products": ("Product", "Products"),
    "Price_Books": ("Price Book", "Price Books"),
    "Tasks": ("Task", "Tasks"),
}
MODULE_IDS = {"Accounts": 1, "Products": 2, "Sales_Orders": 3, "Ordered_Items": 4, "Price_Books": 5, "Tasks": 7}
NOT_EMULATED = frozenset({"Contacts", "Deals", "Quotes", "Vendors"})
ORG_ID = "60012345678"
ZGID = "60012345679"


def field_type(module: str, api_name: str) -> str | None:
    entry = FIELD_TYPES.get(module, {}).get(api_name)
    return entry[0] if entry else None


def lookup_module(module: str, api_name: str) -> str | None:
    entry = FIELD_TYPES.get(module, {}).get(api_name)
    return entry[1] if entry else None


def _id(block: int, n: int) -> str:
    return f"5843104000{block}{n:08d}"


def _label(api_name: str) -> str:
    return api_name.removesuffix("__c").removesuffix("__s").replace("_", " ")


def _check_tables() -> None:
    expected = {
        "Sales_Orders": SALES_ORDER_FIELDS,
        "Accounts": ACCOUNT_FIELDS,
        "Products": PRODUCT_FIELDS,
        "Price_Books": PRICE_BOOK_FIELDS,
        "Ordered_Items": ORDERED_ITEM_FIELDS,
        "Tasks": TASK_FIELDS,
    }
    for module, names in expected.items():
        declared = set(FIELD_TYPES[module]) | {"id", "_delete", "$se_module"}
        missing = set(names) - declared
        assert not missing, f"{module}: fields without a type: {sorted(missing)}"


_check_tables()


def field_meta(module: str) -> list[dict[str, Any]]:
    """``/settings/fields?module=`` for one emulated module (or the ``Ordered_Items`` subform)."""
    out = []
    block = 7 if module == "Ordered_Items" else 8
    for n, (api_name, (data_type, target)) in enumerate(FIELD_TYPES[module].items(), start=1):
        n += 100 * MODULE_IDS[module]
        read_only = api_name in READ_ONLY or data_type in ("autonumber",) or api_name in _SYSTEM_READ_ONLY
        field: dict[str, Any] = {
            "api_name": api_name,
            "id": _id(block, n),
            "field_label": _label(api_name),
            "display_label": _label(api_name),
            "data_type": data_type,
            "json_type": JSON_TYPES[data_type],
            "system_mandatory": api_name in MANDATORY.get(module, ()),
            "custom_field": api_name.endswith("__c"),
            "read_only": read_only,
            "field_read_only": read_only,
            "visible": True,
            "length": TEXT_LIMITS.get(api_name, TEXT_LENGTHS.get(data_type, 20)),
            "decimal_place": 2 if data_type == "currency" else 9 if data_type == "double" else None,
            "sortable": data_type not in ("subform", "linetax", "multiselectlookup"),
            "filterable": data_type not in ("subform", "linetax"),
            "searchable": data_type in ("text", "textarea", "phone", "email", "website", "autonumber", "picklist"),
            "type": "used",
            "created_source": "custom" if api_name.endswith("__c") else "default",
            "ui_type": 1,
            "display_type": -1,
            "mass_update": False,
            "webhook": True,
            "virtual_field": False,
            "history_tracking_enabled": False,
            "associated_module": None,
            "lookup": {},
            "pick_list_values": [],
            "currency": {"rounding_option": "normal", "precision": 2} if data_type == "currency" else {},
            "formula": {},
            "auto_number": {"prefix": "SO-", "suffix": "", "start_number": 1} if data_type == "autonumber" else {},
            "unique": {"casesensitive": "false"} if api_name in UNIQUE_FIELDS.get(module, ()) else {},
            "multiselectlookup": {},
            "operation_type": {
                "web_update": not read_only,
                "api_create": not read_only,
                "web_create": not read_only,
                "api_update": not read_only,
            },
            "view_type": {"view": True, "edit": not read_only, "quick_create": False, "create": not read_only},
            "profiles": [{"permission_type": "read_write", "name": "Administrator", "id": _id(9, 1)}],
        }
        if data_type in ("picklist", "multiselectpicklist"):
            values = sorted(picklist(module, api_name) or ())
            field["pick_list_values"] = [
                {
                    "display_value": v,
                    "actual_value": v,
                    "sequence_number": i,
                    "type": "used",
                    "id": _id(9, 1000 * MODULE_IDS[module] + 10 * n + i),
                }
                for i, v in enumerate(values, start=1)
            ]
        if data_type == "lookup" and target:
            field["lookup"] = {
                "display_label": LABELS.get(target, (target, target))[0] if target in LABELS else target,
                "api_name": api_name,
                "module": {"api_name": target, "id": _id(9, 100 + MODULE_IDS.get(target, 50))},
                "id": _id(9, 200 + n),
            }
        if data_type == "subform" and target:
            field["associated_module"] = {"module": target, "id": _id(9, 100 + MODULE_IDS[target])}
        out.append(field)
    return out


_SYSTEM_READ_ONLY = frozenset({"Created_Time", "Modified_Time", "Created_By", "Modified_By", "Locked__s", "Tag"})


def modules_meta(admin: dict[str, Any], modified: datetime) -> list[dict[str, Any]]:
    """``/settings/modules``: the modules this org serves through the API."""
    out = []
    for n, module in enumerate(MODULE_FIELDS, start=1):
        singular, plural = LABELS[module]
        out.append(
            {
                "api_name": module,
                "module_name": module.replace("_", ""),
                "id": _id(9, 100 + MODULE_IDS[module]),
                "singular_label": singular,
                "plural_label": plural,
                "actual_singular_label": singular,
                "actual_plural_label": plural,
                "api_supported": True,
                "generated_type": "default",
                "creatable": module in CREATABLE,
                "editable": True,
                "deletable": False,
                "viewable": True,
                "convertable": False,
                "quick_create": False,
                "global_search_supported": False,
                "lookupable": True,
                "show_as_tab": True,
                "visibility": 1,
                "sequence_number": n,
                "status": "visible",
                "access_type": "org_based",
                "modified_time": zoho_time(modified),
                "modified_by": {"name": admin["name"], "id": admin["id"]},
                "profiles": [{"name": "Administrator", "id": _id(9, 1)}],
                "parent_module": {},
                "arguments": [],
                "has_more_profiles": False,
                "isBlueprintSupported": False,
                "feeds_required": False,
                "presence_sub_menu": False,
                "sub_menu_available": False,
                "web_link": None,
                "description": None,
            }
        )
    return out


def user_meta(user: dict[str, Any], *, admin: bool, created: datetime) -> dict[str, Any]:
    first, _, last = user["name"].partition(" ")
    role = ("CEO", _id(9, 11)) if admin else ("Sales Representative", _id(9, 12))
    profile = ("Administrator", _id(9, 1)) if admin else ("Standard", _id(9, 2))
    return {
        "id": user["id"],
        "email": user["email"],
        "first_name": first,
        "last_name": last or first,
        "full_name": user["name"],
        "alias": None,
        "status": "active",
        "confirm": True,
        "role": {"name": role[0], "id": role[1]},
        "profile": {"name": profile[0], "id": profile[1]},
        "locale": "en_US",
        "time_zone": "Asia/Shanghai",
        "date_format": "yyyy-MM-dd",
        "time_format": "HH:mm",
        "decimal_separator": "Period",
        "zuid": str(int(user["id"]) % 10**9),
        "created_time": zoho_time(created),
        "Modified_Time": zoho_time(created),
        "type__s": "Regular User",
    }


def org_meta(admin: dict[str, Any], created: datetime) -> dict[str, Any]:
    return {
        "id": ORG_ID,
        "company_name": "SparePro Parts Trading",
        "alias": "sparepro",
        "domain_name": "org" + ORG_ID,
        "primary_email": admin["email"],
        "primary_zuid": str(int(admin["id"]) % 10**9),
        "zgid": ZGID,
        "country": "China",
        "country_code": "CN",
        "iso_code": "CNY",
        "currency": "Chinese Yuan Renminbi - CNY",
        "currency_symbol": "¥",
        "currency_locale": "zh_CN",
        "mc_status": True,
        "time_zone": "Asia/Shanghai",
        "type": "production",
        "created_time": zoho_time(created),
        "max_per_page": 200,
        "hipaa_compliance_enabled": False,
        "privacy_settings": False,
        "translation_enabled": False,
        "gapps_enabled": False,
        "lite_users_enabled": False,
        "license_details": {
            "paid": True,
            "paid_type": "enterprise",
            "paid_expiry": None,
            "trial_type": None,
            "trial_expiry": None,
            "users_license_purchased": 10,
            "portal_users_license_purchased": 0,
        },
    }
