"""Insert Records (``POST /crm/v8/{module}``) for the modules the hub creates records in (Tasks).

As Zoho answers (docs/crm_reminders.md §1): at most 100 records per call (more: 400
``LIMIT_EXCEEDED``); one result per record in input order, ``SUCCESS`` / "record added" with the new
id, or the record's error (``MANDATORY_NOT_FOUND``, ``INVALID_DATA``, ``DUPLICATE_DATA`` with the
``duplicate_record``); HTTP 201 when all were added, 207 when mixed, 400 when none. Records are
checked and added one after the other, so a unique value repeated inside one call is refused the
second time, as it would be by Zoho.

``What_Id`` is a lookup into the module ``$se_module`` names (Accounts, Products, Sales_Orders or
Price_Books here); a ``What_Id`` without ``$se_module`` is refused, as is an id that module lacks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.zoho_records import ZohoStore
from sandbox.zoho_schema import (
    MODULE_FIELDS,
    READ_ONLY,
    UNIQUE_FIELDS,
    ZohoError,
    record_error,
    zoho_time,
)
from sandbox.zoho_writes import DISPLAY_FIELDS, IGNORED_ON_WRITE, MAX_RECORDS, RecordUpdater

# The modules a Task's What_Id may point into that this org emulates.
SE_MODULES = ("Accounts", "Products", "Sales_Orders", "Price_Books")
MANDATORY_ON_CREATE = {"Tasks": ("Subject",)}


def _mandatory(name: str, path: str) -> dict[str, Any]:
    return record_error("MANDATORY_NOT_FOUND", "required field not found", {"api_name": name, "json_path": path})


class RecordInserter:
    def __init__(self, store: ZohoStore, updater: RecordUpdater) -> None:
        self.store = store
        self.updater = updater

    def insert(self, module: str, items: Any, now: datetime) -> tuple[int, list[dict[str, Any]]]:
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
        status = 201 if ok == len(results) else 400 if ok == 0 else 207
        return status, results

    def _one(self, module: str, i: int, item: Any, now: datetime) -> dict[str, Any]:
        base = f"$.data[{i}]"
        if not isinstance(item, dict):
            return record_error("INVALID_DATA", "invalid data", {"json_path": base})
        error, clean = self._validate(module, item, base)
        if error:
            return error
        duplicate = self._duplicate(module, clean, base)
        if duplicate:
            return duplicate
        record = self._add(module, clean, now)
        admin = {"name": self.store.admin["name"], "id": self.store.admin["id"]}
        return {
            "code": "SUCCESS",
            "details": {
                "Modified_Time": record["Modified_Time"],
                "Modified_By": admin,
                "Created_Time": record["Created_Time"],
                "id": record["id"],
                "Created_By": admin,
                "$approval_state": "approved",
            },
            "message": "record added",
            "status": "success",
        }

    def _validate(self, module: str, item: dict[str, Any], base: str) -> tuple[dict[str, Any] | None, Any]:
        known = MODULE_FIELDS[module]
        clean: dict[str, Any] = {}
        for name, value in item.items():
            path = f"{base}.{name}"
            if name in ("$se_module", "What_Id", "id"):
                continue
            if name not in known:
                if name.startswith("$"):
                    continue  # other $-keys (e.g. $approval) are request options, not fields
                return record_error(
                    "INVALID_DATA",
                    "the field api name given seems to be invalid",
                    {"api_name": name, "json_path": path},
                ), None
            if name in READ_ONLY or name in IGNORED_ON_WRITE:
                continue
            error, stored = self.updater._check(module, name, value, path)
            if error:
                return error, None
            clean[name] = stored
        for name in MANDATORY_ON_CREATE.get(module, ()):
            value = clean.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                return _mandatory(name, f"{base}.{name}"), None
        if "What_Id" in item and item["What_Id"] is not None:
            error, what = self._what_id(item, base)
            if error:
                return error, None
            clean["What_Id"], clean["$se_module"] = what
        return None, clean

    def _what_id(self, item: dict[str, Any], base: str) -> tuple[dict[str, Any] | None, Any]:
        se_module = item.get("$se_module")
        if se_module is None:
            return _mandatory("$se_module", f"{base}.$se_module"), None
        if not isinstance(se_module, str) or se_module not in SE_MODULES:
            return record_error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "$se_module", "json_path": f"{base}.$se_module", "supported_values": list(SE_MODULES)},
            ), None
        value = item["What_Id"]
        target_id = value.get("id") if isinstance(value, dict) else value
        path = f"{base}.What_Id"
        if isinstance(target_id, bool) or not isinstance(target_id, str | int):
            return record_error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "What_Id", "json_path": path, "expected_data_type": "jsonobject"},
            ), None
        found = self.store.get(se_module, str(target_id))
        if found is None:
            return record_error(
                "INVALID_DATA", "the related id given seems to be invalid", {"api_name": "What_Id", "json_path": path}
            ), None
        return None, ({"id": found["id"], "name": found.get(DISPLAY_FIELDS[se_module])}, se_module)

    def _duplicate(self, module: str, clean: dict[str, Any], base: str) -> dict[str, Any] | None:
        for name in UNIQUE_FIELDS.get(module, ()):
            value = clean.get(name)
            if value is None:
                continue
            # Unique text fields compare without case (the field's "casesensitive": "false").
            held = next(
                (
                    r
                    for r in self.store.modules[module].values()
                    if isinstance(r.get(name), str) and r[name].casefold() == str(value).casefold()
                ),
                None,
            )
            if held is not None:
                owner = held["Owner"]
                return record_error(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    {
                        "api_name": name,
                        "duplicate_record": {
                            "Owner": {"name": owner["name"], "id": owner["id"]},
                            "id": held["id"],
                            "module": {"api_name": module, "id": None},
                        },
                        "json_path": f"{base}.{name}",
                        "id": held["id"],
                        "more_records": False,
                    },
                )
        return None

    def _add(self, module: str, clean: dict[str, Any], now: datetime) -> dict[str, Any]:
        stamp = zoho_time(now)
        admin = {k: self.store.admin[k] for k in ("name", "id", "email")}
        record_id = self.store.new_id(module)
        record: dict[str, Any] = {name: None for name in MODULE_FIELDS[module]}
        record.update(
            {
                "id": record_id,
                "Owner": admin,
                "Created_Time": stamp,
                "Modified_Time": stamp,
                "Created_By": admin,
                "Modified_By": admin,
                "Tag": [],
                "Locked__s": False,
                "Record_Status__s": "Available",
                "Send_Notification_Email": False,
            }
        )
        record.update(clean)
        if module == "Tasks":
            # A task created without a status starts "Not Started", as in the web UI [assumption].
            record["Status"] = record.get("Status") or "Not Started"
            record["Closed_Time"] = stamp if record["Status"] == "Completed" else None
        self.store.modules[module][record_id] = record
        return record
