"""Update Records (``PUT /crm/v8/{module}``): per-record validation, subform semantics, results.

Each record is checked completely before any of it is applied (every value against its field's type
in :data:`sandbox.zoho_meta.FIELD_TYPES`; lookups resolved to their full ``{"id", "name"}`` form), then
applied to a copy that replaces the stored record whole, so a failed record leaves it untouched.

Subform rules (crm_report.md §1.6): rows without ``id`` are appended, rows with ``id``
updated, ``"_delete": null`` on a row with ``id`` deletes it, an empty array deletes every row.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime
from typing import Any

from sandbox.zoho_meta import TEXT_LENGTHS, field_type, lookup_module
from sandbox.zoho_records import ZohoStore, price_line, total_order
from sandbox.zoho_schema import (
    CURRENCY_SYMBOLS,
    MODULE_FIELDS,
    ORDERED_ITEM_FIELDS,
    PICKLISTS,
    READ_ONLY,
    SUBFORMS,
    TEXT_LIMITS,
    ZohoError,
    check_value,
    record_error,
    zoho_time,
)

MAX_RECORDS = 100
MIN_INT, MAX_INT = -(2**31), 2**31 - 1  # Zoho's integer fields hold 32 bits
MAX_NUMBER = 1e16  # double/currency: Zoho keeps at most 16 digits
TEXT_TYPES = frozenset({"text", "textarea", "phone", "website", "email"})
# System-managed: accepted in an update and ignored, as Zoho ignores read-only fields.
IGNORED_ON_WRITE = frozenset({"Tag", "Locked__s", "SO_Number"})
DISPLAY_FIELDS = {
    "Accounts": "Account_Name",
    "Products": "Product_Name",
    "Price_Books": "Price_Book_Name",
    "Sales_Orders": "Subject",
}


def _finite_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and abs(value) < MAX_NUMBER
    )


def _wrong_type(name: str, path: str, expected: str) -> dict[str, Any]:
    return record_error(
        "INVALID_DATA", "invalid data", {"api_name": name, "json_path": path, "expected_data_type": expected}
    )


def _related_invalid(name: str, path: str) -> dict[str, Any]:
    return record_error(
        "INVALID_DATA", "the related id given seems to be invalid", {"api_name": name, "json_path": path}
    )


def _line_tax(name: str, value: Any, path: str) -> tuple[dict[str, Any] | None, Any]:
    """``Line_Tax``: a list of ``{"name"?, "percentage", "id"?}``; ``value`` is computed."""
    if not isinstance(value, list):
        return _wrong_type(name, path, "jsonarray"), None
    out = []
    for k, entry in enumerate(value):
        if (
            not isinstance(entry, dict)
            or not set(entry) <= {"name", "percentage", "id", "value"}
            or not _finite_number(entry.get("percentage"))
            or not 0 <= entry["percentage"] <= 100
            or not isinstance(entry.get("name", ""), str)
            or len(entry.get("name", "")) > 120
        ):
            return _wrong_type(name, f"{path}[{k}]", "linetax"), None
        out.append({"name": entry.get("name") or "Tax", "percentage": entry["percentage"], "value": 0})
    return None, out


def _pricing_details(name: str, value: Any, path: str) -> tuple[dict[str, Any] | None, Any]:
    if not isinstance(value, list):
        return _wrong_type(name, path, "jsonarray"), None
    for k, entry in enumerate(value):
        if (
            not isinstance(entry, dict)
            or not set(entry) <= {"from_range", "to_range", "discount"}
            or not all(_finite_number(v) for v in entry.values())
        ):
            return _wrong_type(name, f"{path}[{k}]", "jsonobject"), None
    return None, [dict(e) for e in value]


def _invalid_field(name: str, path: str) -> dict[str, Any]:
    return record_error(
        "INVALID_DATA", "the field api name given seems to be invalid", {"api_name": name, "json_path": path}
    )


class RecordUpdater:
    def __init__(self, store: ZohoStore) -> None:
        self.store = store

    def update(self, module: str, items: Any, now: datetime) -> tuple[int, list[dict[str, Any]]]:
        """HTTP status and the per-record results, in input order."""
        if not isinstance(items, list) or not items:
            raise ZohoError(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data"})
        if len(items) > MAX_RECORDS:
            raise ZohoError(
                400,
                "LIMIT_EXCEEDED",
                "the number of records given exceeds the limit",
                {"limit": MAX_RECORDS, "api_name": "data"},
            )
        results = [self._one(module, i, item, now) for i, item in enumerate(items)]
        ok = sum(1 for r in results if r["status"] == "success")
        status = 200 if ok == len(results) else 400 if ok == 0 else 207
        return status, results

    def _one(self, module: str, i: int, item: Any, now: datetime) -> dict[str, Any]:
        base = f"$.data[{i}]"
        if not isinstance(item, dict):
            return record_error("INVALID_DATA", "invalid data", {"json_path": base})
        record_id = item.get("id")
        if isinstance(record_id, bool) or not isinstance(record_id, str | int) or record_id == "":
            return record_error(
                "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "id", "json_path": f"{base}.id"}
            )
        record = self.store.get(module, str(record_id))
        if record is None:
            return record_error(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {"api_name": "id", "json_path": f"{base}.id", "id": str(record_id)},
            )
        if record.get("Locked__s"):
            return record_error("RECORD_LOCKED", "the record is locked", {"id": record["id"]})
        error, clean = self._validate(module, record, item, base)
        if error:
            return error
        self._apply(module, record, clean, now)
        admin = {"name": self.store.admin["name"], "id": self.store.admin["id"]}
        return {
            "code": "SUCCESS",
            "details": {
                "Modified_Time": record["Modified_Time"],
                "Modified_By": admin,
                "Created_Time": record["Created_Time"],
                "id": record["id"],
                "Created_By": {"name": record["Created_By"]["name"], "id": record["Created_By"]["id"]},
                "$approval_state": "approved",
            },
            "message": "record updated",
            "status": "success",
        }

    def _validate(self, module: str, record: dict[str, Any], item: dict[str, Any], base: str) -> Any:
        """The per-record error, or the item with every value as it will be stored (lookups in full)."""
        known = MODULE_FIELDS[module]
        subform = SUBFORMS.get(module)
        clean: dict[str, Any] = {}
        for name, value in item.items():
            path = f"{base}.{name}"
            if name.startswith("$") or name == "id":
                continue
            if name not in known:
                return _invalid_field(name, path), None
            if name in READ_ONLY or name in IGNORED_ON_WRITE:
                continue
            if name == subform:
                error, rows = self._validate_rows(record, name, value, path)
                if error:
                    return error, None
                clean[name] = rows
                continue
            error, stored = self._check(module, name, value, path)
            if error:
                return error, None
            clean[name] = stored
        return None, clean

    def _check(self, module: str, name: str, value: Any, path: str) -> tuple[dict[str, Any] | None, Any]:
        """Type, picklist, length and lookup checks for one value; the value to store when it passes."""
        data_type = field_type(module, name)
        if value is None or data_type is None:
            return None, value
        if data_type in ("lookup", "ownerlookup", "userlookup"):
            return self._lookup(module, name, value, path)
        if data_type == "linetax":
            return _line_tax(name, value, path)
        if data_type == "multiselectpicklist":
            allowed = PICKLISTS.get(name, frozenset())
            if not isinstance(value, list) or any(not isinstance(v, str) or v not in allowed for v in value):
                return _wrong_type(name, path, "multiselectpicklist"), None
            return None, list(value)
        if data_type == "subform":  # Price_Books.Pricing_Details: ranges of discounts
            return _pricing_details(name, value, path)
        error = check_value(name, value, path, module)
        if error:
            return error, None
        if data_type in TEXT_TYPES:
            limit = TEXT_LIMITS.get(name, TEXT_LENGTHS[data_type])
            if not isinstance(value, str) or len(value) > limit:
                return _wrong_type(name, path, "text" if data_type != "textarea" else "textarea"), None
        elif data_type == "picklist" and not isinstance(value, str):
            return _wrong_type(name, path, "picklist"), None
        elif data_type == "boolean" and not isinstance(value, bool):
            return _wrong_type(name, path, "boolean"), None
        elif data_type == "integer" and (
            isinstance(value, bool) or not isinstance(value, int) or not MIN_INT <= value <= MAX_INT
        ):
            return _wrong_type(name, path, "integer"), None
        elif data_type in ("double", "currency") and not _finite_number(value):
            return _wrong_type(name, path, "double"), None
        elif data_type == "date" and not isinstance(value, str):
            return _wrong_type(name, path, "date"), None
        return None, value

    def _lookup(self, module: str, name: str, value: Any, path: str) -> tuple[dict[str, Any] | None, Any]:
        """A lookup is sent as ``{"id": …}`` (or the bare id) and stored, as Zoho returns it, in full."""
        target_id = value.get("id") if isinstance(value, dict) else value
        if isinstance(target_id, bool) or not isinstance(target_id, str | int):
            return _wrong_type(name, path, "jsonobject"), None
        target_id = str(target_id)
        if field_type(module, name) in ("ownerlookup", "userlookup"):
            user = next((u for u in self.store.users + [self.store.admin] if u["id"] == target_id), None)
            if user is None:
                return _related_invalid(name, path), None
            return None, {k: user[k] for k in ("name", "id", "email")}
        target = lookup_module(module, name)
        found = self.store.get(target, target_id) if target else None
        if found is None:
            return _related_invalid(name, path), None
        return None, {"id": found["id"], "name": found.get(DISPLAY_FIELDS.get(target or "", ""))}

    def _validate_rows(self, record: dict[str, Any], name: str, rows: Any, path: str) -> tuple[Any, Any]:
        if not isinstance(rows, list):
            return record_error("INVALID_DATA", "invalid data", {"api_name": name, "json_path": path}), None
        existing = {row["id"] for row in record.get(name) or []}
        seen: set[str] = set()
        clean_rows = []
        for j, row in enumerate(rows):
            row_path = f"{path}[{j}]"
            if not isinstance(row, dict):
                return record_error("INVALID_DATA", "invalid data", {"api_name": name, "json_path": row_path}), None
            clean: dict[str, Any] = {}
            for key, value in row.items():
                if key not in ORDERED_ITEM_FIELDS:
                    return _invalid_field(key, f"{row_path}.{key}"), None
                if key in ("id", "_delete") or key in READ_ONLY:
                    continue
                error, stored = self._check("Ordered_Items", key, value, f"{row_path}.{key}")
                if error:
                    return error, None
                clean[key] = stored
            if "id" in row:
                row_id = row["id"]
                if isinstance(row_id, bool) or not isinstance(row_id, str | int) or str(row_id) not in existing:
                    return _related_invalid("id", f"{row_path}.id"), None
                if str(row_id) in seen:
                    return record_error(
                        "DUPLICATE_DATA", "duplicate data", {"api_name": "id", "json_path": f"{row_path}.id"}
                    ), None
                seen.add(str(row_id))
                clean["id"] = str(row_id)
                if "_delete" in row:
                    clean["_delete"] = None
                clean_rows.append(clean)
                continue
            if "_delete" in row:
                return record_error(
                    "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "id", "json_path": f"{row_path}.id"}
                ), None
            if not isinstance(clean.get("Product_Name"), dict):
                return record_error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": "Product_Name", "json_path": f"{row_path}.Product_Name"},
                ), None
            clean_rows.append(clean)
        return None, clean_rows

    def _apply(self, module: str, record: dict[str, Any], item: dict[str, Any], now: datetime) -> None:
        """Apply a validated item to a copy and swap it in: a write lands whole or not at all."""
        stamp = zoho_time(now)
        subform = SUBFORMS.get(module)
        new = copy.deepcopy(record)
        for name, value in item.items():
            if name == subform:
                self._apply_rows(new, name, value, stamp)
            else:
                new[name] = copy.deepcopy(value)
                if name == "Currency" and value in CURRENCY_SYMBOLS and "$currency_symbol" in new:
                    new["$currency_symbol"] = CURRENCY_SYMBOLS[value]
        if subform and subform in new:
            total_order(new)
        new["Modified_Time"] = stamp
        new["Modified_By"] = {k: self.store.admin[k] for k in ("name", "id", "email")}
        record.clear()
        record.update(new)

    def _apply_rows(self, record: dict[str, Any], name: str, rows: list[dict[str, Any]], stamp: str) -> None:
        current: list[dict[str, Any]] = record.setdefault(name, None) or []
        record[name] = current
        if not rows:
            current.clear()
            return
        by_id = {row["id"]: row for row in current}
        for row in rows:
            if "id" in row:
                target = by_id[row["id"]]
                if "_delete" in row:
                    current.remove(target)
                    continue
                target.update({k: v for k, v in row.items() if k != "id"})
                target["Modified_Time"] = stamp
                price_line(target)
            else:
                current.append(self._new_row(record, row, stamp))

    def _new_row(self, record: dict[str, Any], row: dict[str, Any], stamp: str) -> dict[str, Any]:
        product = self.store.get("Products", row["Product_Name"]["id"])
        assert product is not None  # checked in _validate_rows
        siblings = record.get("Ordered_Items") or []
        tax_template = row.get("Line_Tax") or next((r["Line_Tax"] for r in siblings if r.get("Line_Tax")), [])
        new = {
            "id": self.store.new_id("Ordered_Items"),
            "Product_Name": {"id": product["id"], "name": product["Product_Name"]},
            "Quantity": row.get("Quantity", 1),
            "List_Price": row.get("List_Price", product["Unit_Price"]),
            "Discount": row.get("Discount", 0),
            "Line_Tax": [dict(t) for t in tax_template],
            "Price_Book_Name": row.get("Price_Book_Name"),
            "Sequence_Number": row.get(
                "Sequence_Number", max((r.get("Sequence_Number") or 0 for r in siblings), default=0) + 1
            ),
            "Description": row.get("Description"),
            "Parent_Id": {"id": record["id"], "name": record.get("Subject")},
            "Created_Time": stamp,
            "Modified_Time": stamp,
            "Confirmed_Quantity__c": row.get("Confirmed_Quantity__c"),
            "Confirmed_Date__c": row.get("Confirmed_Date__c"),
            "Shipped_Quantity__c": row.get("Shipped_Quantity__c"),
            "Line_Tracking__c": row.get("Line_Tracking__c"),
        }
        price_line(new)
        return new
