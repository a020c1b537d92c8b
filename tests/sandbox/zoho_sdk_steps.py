"""Zoho's official Python SDK (``zohocrmsdk8-0``), unmodified, against the emulator.

Run as a script by ``test_zoho_official_sdk.py`` (the SDK keeps process-wide state: its
initializer, field cache and logger), with the sandbox's ready line as JSON in ``argv[1]`` and a
scratch directory for the SDK's token store, field cache and log in ``argv[2]``. Prints one JSON
object with what each step saw; any SDK failure raises, so the exit status is non-zero.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.exception import SDKException
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.parameter_map import ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.record import (
    ActionWrapper,
    APIException,
    BodyWrapper,
    GetRecordsParam,
    Record,
    RecordOperations,
    ResponseWrapper,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.util.choice import Choice

MODULE = "Sales_Orders"


def _value(v: Any) -> Any:
    if isinstance(v, Choice):
        return v.get_value()
    if isinstance(v, Record):
        return {k: _value(x) for k, x in v.get_key_values().items()}
    if isinstance(v, list):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    return v if isinstance(v, str | int | float | bool | type(None)) else str(v)


def initialise(zoho: dict[str, Any], scratch: Path) -> None:
    # A custom data centre: the emulator's API domain and its accounts server's token URL.
    environment = DataCenter.Environment(
        zoho["api_domain"], zoho["accounts_url"] + "/oauth/v2/token", zoho["api_domain"]
    )
    token = OAuthToken(
        client_id=zoho["client_id"], client_secret=zoho["client_secret"], refresh_token=zoho["refresh_token"]
    )
    Initializer.initialize(
        environment=environment,
        token=token,
        store=FileStore(str(scratch / "sdk_tokens.txt")),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=True),
        resource_path=str(scratch),
        logger=Logger.get_instance(level=Logger.Levels.INFO, file_path=str(scratch / "sdk.log")),
    )


def page_all(operations: RecordOperations) -> tuple[list[str], int]:
    """Every Sales_Orders id, by ``page`` and then ``page_token`` as the API hands it out."""
    ids: list[str] = []
    pages = 0
    token: str | None = None
    page = 1
    while True:
        params = ParameterMap()
        params.add(GetRecordsParam.fields, "id,Subject,SO_Number,Status,Account_Name,Grand_Total,Modified_Time")
        params.add(GetRecordsParam.per_page, 200)
        if token:
            params.add(GetRecordsParam.page_token, token)
        else:
            params.add(GetRecordsParam.page, page)
        response = operations.get_records(params)
        if response.get_status_code() == 204:
            break
        body = response.get_object()
        if not isinstance(body, ResponseWrapper):
            raise AssertionError(f"get_records: {response.get_status_code()} {_value(body.__dict__)}")
        pages += 1
        ids += [str(r.get_id()) for r in body.get_data()]
        info = body.get_info()
        if not info.get_more_records():
            break
        token = info.get_next_page_token()
        if token is None:
            page += 1
    return ids, pages


def main() -> None:
    info = json.loads(sys.argv[1])
    scratch = Path(sys.argv[2])
    initialise(info["systems"]["zoho_crm"], scratch)
    operations = RecordOperations(MODULE)
    out: dict[str, Any] = {}

    ids, pages = page_all(operations)
    out["ids"], out["pages"] = ids, pages

    response = operations.get_record(int(ids[0]))
    body = response.get_object()
    if not isinstance(body, ResponseWrapper):
        raise AssertionError(f"get_record: {response.get_status_code()}")
    record = body.get_data()[0]
    out["one"] = {
        "id": str(record.get_id()),
        "Account_Name": _value(record.get_key_value("Account_Name")),
        "Status": _value(record.get_key_value("Status")),
        "Ordered_Items": _value(record.get_key_value("Ordered_Items")),
    }

    # Mixed results: two records updated, one id that does not exist.
    first, second = Record(), Record()
    first.set_id(int(ids[1]))
    first.add_key_value("Status", Choice("Confirmed"))
    first.add_key_value("SAP_Order_No__c", "4500000001")
    second.set_id(int(ids[2]))
    second.add_key_value("Hub_Message__c", "confirmed by the official SDK")
    missing = Record()
    missing.set_id(1234567890123456789)
    missing.add_key_value("Hub_Message__c", "nobody home")
    request = BodyWrapper()
    request.set_data([first, second, missing])
    response = operations.update_records(request)
    wrapper = response.get_object()
    if not isinstance(wrapper, ActionWrapper):
        raise AssertionError(f"update_records: {response.get_status_code()} {_value(getattr(wrapper, '__dict__', {}))}")
    results = []
    for item in wrapper.get_data():
        if isinstance(item, SuccessResponse):
            results.append({"status": "success", "code": item.get_code().get_value(), **_value(item.get_details())})
        elif isinstance(item, APIException):
            results.append({"status": "error", "code": item.get_code().get_value(), **_value(item.get_details())})
        else:
            results.append({"status": "unknown", "type": type(item).__name__})
    out["update"] = {"http": response.get_status_code(), "ids": [ids[1], ids[2]], "results": results}
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except SDKException as exc:
        raise SystemExit(f"SDKException: {exc}") from exc
