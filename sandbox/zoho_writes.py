"""Update Records (``PUT /crm/v8/{module}``): per-record validation, subform semantics, results.

Each record is checked completely before any of it is applied, so a failed record leaves the stored
one untouched. Subform rules (crm_report.md §1.6): rows without ``id`` are appended, rows with ``id``
updated, ``"_delete": null`` on a row with ``id`` deletes it, an empty array deletes every row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.zoho_records import ZohoStore, price_line, total_order
from sandbox.zoho_schema import (
    MODULE_FIELDS,
    ORDERED_ITEM_FIELDS,
    READ_ONLY,
    SUBFORMS,
    ZohoError,
    check_value,
    record_error,
    zoho_time,
)

MAX_RECORDS = 100


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
        if record_id in (None, ""):
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
        error = self._validate(module, record, item, base)
        if error:
            return error
        self._apply(module, record, item, now)
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

    def _validate(self, module: str, record: dict[str, Any], item: dict[str, Any], base: str) -> dict[str, Any] | None:
        known = MODULE_FIELDS[module]
        subform = SUBFORMS.get(module)
        for name, value in item.items():
            path = f"{base}.{name}"
            if name.startswith("$") or name == "id":
                continue
            if name not in known:
                return _invalid_field(name, path)
            if name == subform:
                error = self._validate_rows(record, name, value, path)
            elif isinstance(value, dict) and name in ("Account_Name", "Owner"):
                error = self._validate_lookup(name, value, path)
            else:
                error = check_value(name, value, path)
            if error:
                return error
        return None

    def _validate_lookup(self, name: str, value: dict[str, Any], path: str) -> dict[str, Any] | None:
        target = str(value.get("id") or "")
        if name == "Account_Name" and self.store.get("Accounts", target) is None:
            return record_error(
                "INVALID_DATA", "the related id given seems to be invalid", {"api_name": name, "json_path": path}
            )
        if name == "Owner" and target not in {u["id"] for u in self.store.users + [self.store.admin]}:
            return record_error(
                "INVALID_DATA", "the related id given seems to be invalid", {"api_name": name, "json_path": path}
            )
        return None

    def _validate_rows(self, record: dict[str, Any], name: str, rows: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(rows, list):
            return record_error("INVALID_DATA", "invalid data", {"api_name": name, "json_path": path})
        existing = {row["id"] for row in record.get(name) or []}
        for j, row in enumerate(rows):
            row_path = f"{path}[{j}]"
            if not isinstance(row, dict):
                return record_error("INVALID_DATA", "invalid data", {"api_name": name, "json_path": row_path})
            for key, value in row.items():
                if key not in ORDERED_ITEM_FIELDS:
                    return _invalid_field(key, f"{row_path}.{key}")
                error = check_value(key, value, f"{row_path}.{key}")
                if error:
                    return error
            if "id" in row:
                if str(row["id"]) not in existing:
                    return record_error(
                        "INVALID_DATA",
                        "the related id given seems to be invalid",
                        {"api_name": "id", "json_path": f"{row_path}.id"},
                    )
                continue
            product = row.get("Product_Name")
            if not isinstance(product, dict) or not product.get("id"):
                return record_error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": "Product_Name", "json_path": f"{row_path}.Product_Name"},
                )
            if self.store.get("Products", str(product["id"])) is None:
                return record_error(
                    "INVALID_DATA",
                    "the related id given seems to be invalid",
                    {"api_name": "Product_Name", "json_path": f"{row_path}.Product_Name"},
                )
        return None

    def _apply(self, module: str, record: dict[str, Any], item: dict[str, Any], now: datetime) -> None:
        stamp = zoho_time(now)
        subform = SUBFORMS.get(module)
        for name, value in item.items():
            if name in READ_ONLY or name.startswith("$"):
                continue
            if name == subform:
                self._apply_rows(record, name, value, stamp)
            elif name == "Account_Name" and isinstance(value, dict):
                account = self.store.get("Accounts", str(value["id"]))
                record[name] = {"id": account["id"], "name": account["Account_Name"]} if account else None
            else:
                record[name] = value
        if subform and subform in record:
            total_order(record)
        record["Modified_Time"] = stamp
        record["Modified_By"] = {k: self.store.admin[k] for k in ("name", "id", "email")}

    def _apply_rows(self, record: dict[str, Any], name: str, rows: list[dict[str, Any]], stamp: str) -> None:
        current: list[dict[str, Any]] = record.setdefault(name, [])
        if not rows:
            current.clear()
            return
        by_id = {row["id"]: row for row in current}
        for row in rows:
            if "id" in row:
                target = by_id[str(row["id"])]
                if "_delete" in row:
                    current.remove(target)
                    continue
                target.update({k: v for k, v in row.items() if k not in READ_ONLY and k != "id"})
                target["Modified_Time"] = stamp
                price_line(target)
            else:
                current.append(self._new_row(record, row, stamp))

    def _new_row(self, record: dict[str, Any], row: dict[str, Any], stamp: str) -> dict[str, Any]:
        product = self.store.get("Products", str(row["Product_Name"]["id"]))
        assert product is not None  # checked in _validate_rows
        siblings = record.get("Ordered_Items") or []
        tax_template = next((r["Line_Tax"] for r in siblings if r.get("Line_Tax")), [])
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
        }
        price_line(new)
        return new
