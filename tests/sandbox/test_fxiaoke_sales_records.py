"""Fxiaoke 销售记录 (ActiveRecordObj) in the emulator (issue 14, docs/crm_reminders.md §2): created with
``/cgi/crm/v2/data/create`` on an account, queried by the hub's key field, refused with the errorCode
envelope (HTTP 200) for bad input; property-based input never gets a 500 or a half-made record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fuzzing
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

OBJ = "ActiveRecordObj"


class Fx:
    def __init__(self, info: dict[str, Any]) -> None:
        fx = info["systems"]["fxiaoke"]
        self.base = fx["base_url"]
        body = {"appId": fx["app_id"], "appSecret": fx["app_secret"], "permanentCode": fx["permanent_code"]}
        token = requests.post(self.base + "/cgi/corpAccessToken/get/V2", json=body, timeout=10).json()
        self.auth = {
            "corpAccessToken": token["corpAccessToken"],
            "corpId": token["corpId"],
            "currentOpenUserId": fx["current_open_user_id"],
        }
        self.accounts = [r["_id"] for r in self.rows("AccountObj", fieldProjection=["_id"])]
        self.count = 0

    def call(self, path: str, body: Any) -> requests.Response:
        payload = {**self.auth, **body} if isinstance(body, dict) else body
        return requests.post(self.base + path, json=payload, timeout=30)

    def create(self, values: dict[str, Any], **top: Any) -> dict[str, Any]:
        r = self.call("/cgi/crm/v2/data/create", {**top, "data": {"object_data": {"dataObjectApiName": OBJ, **values}}})
        assert r.status_code == 200
        return r.json()

    def rows(self, obj: str, **search: Any) -> list[dict[str, Any]]:
        search = {"limit": 100, "offset": 0, **search}
        r = self.call("/cgi/crm/v2/data/query", {"data": {"dataObjectApiName": obj, "search_query_info": search}})
        assert r.json()["errorCode"] == 0, r.text
        return r.json()["data"]["dataList"]

    def by_key(self, *keys: str) -> list[dict[str, Any]]:
        flt = {"field_name": "field_hub_key__c", "field_values": list(keys), "operator": "IN"}
        return self.rows(OBJ, filters=[flt])

    def record(self, **values: Any) -> dict[str, Any]:
        self.count += 1
        return {
            "active_record_content": "客户 A 的刹车片约每 30 天采购一次，请致电。",
            "account_id": self.accounts[0],
            "field_hub_key__c": f"test:key:{self.count}",
            **values,
        }


@pytest.fixture(scope="module")
def fx() -> Iterator[Fx]:
    with running_sandbox(seed=14, orders=30, faults={"system": "fxiaoke", "token_rate_limit": 100000}) as info:
        yield Fx(info)


def test_a_sales_record_on_an_account_is_created_and_found_by_its_key(fx: Fx) -> None:
    values = fx.record(field_hub_due_date__c=1748822400000, active_record_type="reorder")
    body = fx.create(values, triggerWorkFlow=False, triggerApprovalFlow=False)
    assert (body["errorCode"], body["errorMessage"]) == (0, "OK")
    assert body["traceId"] and body["dataId"]
    (row,) = fx.by_key(values["field_hub_key__c"])
    assert row["_id"] == body["dataId"]
    assert row["account_id"] == fx.accounts[0] and row["account_id__r"]
    assert row["related_object_data"] == [
        {"describe_api_name": "AccountObj", "id": fx.accounts[0], "name": row["account_id__r"]}
    ]
    assert (row["field_hub_due_date__c"], row["life_status"], row["owner"]) == (1748822400000, "normal", ["1000"])


def test_the_key_field_is_not_unique_find_before_create_is_the_clients_job(fx: Fx) -> None:
    values = fx.record()
    assert fx.create(values)["errorCode"] == 0
    assert fx.create(values)["errorCode"] == 0
    assert len(fx.by_key(values["field_hub_key__c"])) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"active_record_content": None},
        {"account_id": None},
        {"account_id": "000000000000000000000000"},
        {"field_hub_key__c": "k" * 101},
        {"field_hub_due_date__c": "2025-06-02"},
        {"nope__c": "x"},
        {"account_id__r": "x"},
        {"related_object_data": []},
        {"_id": "x"},
        {"owner": "1000"},
    ],
)
def test_bad_records_are_refused_with_an_error_code_and_nothing_is_stored(fx: Fx, change: dict[str, Any]) -> None:
    values = {k: v for k, v in {**fx.record(), **change}.items() if v is not None}
    body = fx.create(values)
    assert body["errorCode"] not in (0, None) and body["errorMessage"]
    assert fx.by_key(values.get("field_hub_key__c") or "-") == []


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"object_data": {"dataObjectApiName": "SalesOrderObj", "name": "x"}}},
        {"data": {"object_data": {"dataObjectApiName": "NopeObj"}}},
        {"data": {"dataObjectApiName": OBJ}},
        {"data": {"object_data": {"dataObjectApiName": OBJ, "active_record_content": "x"}, "details": {"X": []}}},
    ],
)
def test_calls_the_sandbox_does_not_serve_are_refused_in_the_envelope(fx: Fx, body: dict[str, Any]) -> None:
    r = fx.call("/cgi/crm/v2/data/create", body)
    assert r.status_code == 200 and r.json()["errorCode"] != 0


def test_a_stale_token_is_20016(fx: Fx) -> None:
    r = requests.post(
        fx.base + "/cgi/crm/v2/data/create",
        json={**fx.auth, "corpAccessToken": "stale", "data": {"object_data": {"dataObjectApiName": OBJ}}},
        timeout=10,
    )
    assert r.json()["errorCode"] == 20016


# -- property-based: any input, never a 500 ----------------------------------------------------------

VALUES = fuzzing.json_values()
FIELDS = st.sampled_from(
    [
        "active_record_content",
        "active_record_type",
        "account_id",
        "field_hub_key__c",
        "field_hub_due_date__c",
        "owner",
        "related_object_data",
        "dataObjectApiName",
    ]
)


@fuzzing.FUZZ
@given(values=st.dictionaries(FIELDS | st.text(max_size=10), VALUES, max_size=6), shape=st.integers(0, 3))
def test_any_create_body_gets_the_envelope(fx: Fx, values: dict[str, Any], shape: int) -> None:
    before = len(fx.rows(OBJ, fieldProjection=["_id"]))
    object_data = {"dataObjectApiName": OBJ, **values}
    body = [
        {"data": {"object_data": object_data}},
        {"data": {"object_data": {**object_data, "account_id": fx.accounts[1], "active_record_content": "x"}}},
        {"data": values},
        values,
    ][shape]
    r = fx.call("/cgi/crm/v2/data/create", body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert isinstance(answer.get("errorCode"), int)
    after = len(fx.rows(OBJ, fieldProjection=["_id"]))
    assert after == before + (1 if answer["errorCode"] == 0 else 0)
    if answer["errorCode"] == 0:
        assert fx.rows(OBJ, filters=[{"field_name": "_id", "field_values": [answer["dataId"]], "operator": "EQ"}])


@fuzzing.FUZZ
@given(
    field=st.sampled_from(["field_hub_key__c", "related_object_data", "account_id", "field_hub_due_date__c"]),
    operator=st.sampled_from(["EQ", "IN", "LIKE", "GT", "IS", "N"]),
    values=st.lists(fuzzing.scalars(), max_size=3),
    order=st.sampled_from(["related_object_data", "field_hub_key__c", "create_time"]),
)
def test_any_query_on_sales_records_gets_the_envelope(
    fx: Fx, field: str, operator: str, values: list[Any], order: str
) -> None:
    fx.create(fx.record())
    search = {
        "limit": 100,
        "offset": 0,
        "filters": [{"field_name": field, "field_values": values, "operator": operator}],
        "orders": [{"fieldName": order, "isAsc": True}],
    }
    r = fx.call("/cgi/crm/v2/data/query", {"data": {"dataObjectApiName": OBJ, "search_query_info": search}})
    assert r.status_code == 200 and isinstance(r.json()["errorCode"], int), r.text
