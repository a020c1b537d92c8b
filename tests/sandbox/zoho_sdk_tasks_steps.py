"""Zoho's official SDK (``zohocrmsdk8-0``), unmodified, creating and searching Tasks in the emulator.

Run as a script by ``test_zoho_official_sdk.py`` (process-wide SDK state), like ``zoho_sdk_steps.py``:
``argv[1]`` the sandbox's ready line as JSON, ``argv[2]`` a scratch directory, ``argv[3]`` an account id.
Prints one JSON object; any SDK failure raises.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from zoho_sdk_steps import _value, initialise
from zohocrmsdk.src.com.zoho.crm.api.exception import SDKException
from zohocrmsdk.src.com.zoho.crm.api.parameter_map import ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.record import (
    ActionWrapper,
    APIException,
    BodyWrapper,
    Record,
    RecordOperations,
    ResponseWrapper,
    SearchRecordsParam,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.util.choice import Choice


def _task(account_id: str, key: str) -> Record:
    task, account = Record(), Record()
    account.set_id(int(account_id))
    task.add_key_value("Subject", "Reorder reminder (official SDK)")
    task.add_key_value("Due_Date", date(2025, 6, 7))
    task.add_key_value("Status", Choice("Not Started"))
    task.add_key_value("Priority", Choice("High"))
    task.add_key_value("What_Id", account)
    task.add_key_value("$se_module", "Accounts")
    task.add_key_value("Hub_Reminder_Key", key)
    return task


def main() -> None:
    info = json.loads(sys.argv[1])
    initialise(info["systems"]["zoho_crm"], Path(sys.argv[2]))
    account_id = sys.argv[3]
    operations = RecordOperations("Tasks")
    request = BodyWrapper()
    request.set_data([_task(account_id, "sdk:key:1"), _task(account_id, "sdk:key:1")])
    response = operations.create_records(request)
    wrapper = response.get_object()
    if not isinstance(wrapper, ActionWrapper):
        raise AssertionError(f"create_records: {response.get_status_code()} {_value(getattr(wrapper, '__dict__', {}))}")
    results: list[dict[str, Any]] = []
    for item in wrapper.get_data():
        kind = "success" if isinstance(item, SuccessResponse) else "error" if isinstance(item, APIException) else "?"
        results.append({"status": kind, "code": item.get_code().get_value(), **_value(item.get_details())})
    params = ParameterMap()
    params.add(SearchRecordsParam.criteria, "(Hub_Reminder_Key:equals:sdk:key:1)")
    found = operations.search_records(params)
    body = found.get_object()
    if not isinstance(body, ResponseWrapper):
        raise AssertionError(f"search_records: {found.get_status_code()}")
    records = [
        {
            "id": str(r.get_id()),
            "Hub_Reminder_Key": _value(r.get_key_value("Hub_Reminder_Key")),
            "What_Id": _value(r.get_key_value("What_Id")),
        }
        for r in body.get_data()
    ]
    print(json.dumps({"create": {"http": response.get_status_code(), "results": results}, "search": records}))


if __name__ == "__main__":
    try:
        main()
    except SDKException as exc:
        raise SystemExit(f"SDKException: {exc}") from exc
