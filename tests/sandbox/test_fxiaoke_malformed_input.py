"""Malformed input to the Fxiaoke emulator (issue 9): every answer is the gateway's HTTP 200 with
``{"errorCode", "errorMessage"}``, never a 500 or a stack trace, and an update that fails leaves the
order and its detail lines untouched and still updatable. Also: lookups written through
``data/update`` read back with their ``__r`` display companions.

Property-based (hypothesis) over real HTTP against one sandbox process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fuzzing
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.fxiaoke_schema import OBJECTS

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 12, 60
FUZZ = fuzzing.FUZZ
PATHS = ["/cgi/corpAccessToken/get/V2", "/oauth2.0/token", "/cgi/crm/v2/data/query", "/cgi/crm/v2/data/get"]
PATHS += ["/cgi/crm/v2/data/update"]


def assert_fx_answer(r: requests.Response) -> dict[str, Any]:
    """HTTP 200 and the errorCode envelope, as the real gateway answers business errors."""
    assert r.status_code == 200, (r.status_code, r.text[:300])
    body = r.json()
    assert isinstance(body, dict)
    assert isinstance(body["errorCode"], int) and not isinstance(body["errorCode"], bool)
    assert isinstance(body["errorMessage"], str)
    assert "Traceback" not in r.text
    return body


FXIAOKE_TEXT = [
    "99999999999999999999999",
    "-99999999999999999999999",
    "",
    " ",
]
scalars = fuzzing.scalars(FXIAOKE_TEXT)
json_values = fuzzing.json_values(FXIAOKE_TEXT)


dumps = fuzzing.dumps


class Fx:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info["systems"]["fxiaoke"]
        self.base = self.info["base_url"]
        self.control = info["control_url"]
        r = requests.post(
            self.base + "/cgi/corpAccessToken/get/V2",
            json={k: self.info[v] for k, v in (("appId", "app_id"), ("appSecret", "app_secret"))}
            | {"permanentCode": self.info["permanent_code"]},
            timeout=10,
        )
        token = r.json()
        self.auth = {
            "corpAccessToken": token["corpAccessToken"],
            "corpId": token["corpId"],
            "currentOpenUserId": self.info["current_open_user_id"],
        }

    def post(self, path: str, body: bytes) -> requests.Response:
        return requests.post(self.base + path, data=body, headers={"Content-Type": "application/json"}, timeout=30)

    def call(self, path: str, data: Any, **top: Any) -> dict[str, Any]:
        return assert_fx_answer(self.post(path, dumps({**self.auth, **top, "data": data})))

    def update(self, object_data: dict[str, Any], details: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object_data": object_data}
        if details is not None:
            data["details"] = details
        return self.call("/cgi/crm/v2/data/update", data)

    def record(self, obj: str, record_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.control}/records/fxiaoke/{obj}/{record_id}", timeout=10)
        r.raise_for_status()
        return r.json()["record"]

    def first(self, obj: str, **search: Any) -> dict[str, Any]:
        body = self.call(
            "/cgi/crm/v2/data/query",
            {"dataObjectApiName": obj, "search_query_info": {"limit": 100, "offset": 0, **search}},
        )
        assert body["errorCode"] == 0, body
        return body["data"]["dataList"][0]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    yield from fuzzing.module_sandbox(SEED, ORDERS)


@pytest.fixture(scope="module")
def fx(sandbox: dict[str, Any]) -> Fx:
    return Fx(sandbox)


@pytest.fixture(scope="module")
def order(fx: Fx) -> dict[str, Any]:
    """An order with at least one detail line, unlocked."""
    for row in fx.call(
        "/cgi/crm/v2/data/query",
        {"dataObjectApiName": "SalesOrderObj", "search_query_info": {"limit": 100, "offset": 0}},
    )["data"]["dataList"]:
        record = fx.record("SalesOrderObj", row["_id"])
        if record["details"]["SalesOrderProductObj"] and record.get("lock_status") != "1":
            return record
    raise AssertionError("no order with lines")


# -- every endpoint, any body ---------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"data":' * 50_000 + b"1" + b"}" * 50_000,
        b"\xff\xfe not utf-8",
        b'{"appId": "\\ud800", "data": {"dataObjectApiName": "\\ud800"}}',
        b"",
        b"null",
        b"[]",
        b"12",
    ],
)
def test_unparsable_bodies_get_the_error_envelope(fx: Fx, path: str, raw: bytes) -> None:
    body = assert_fx_answer(fx.post(path, raw))
    assert body["errorCode"] != 0


@FUZZ
@given(path=st.sampled_from(PATHS), body=json_values, authenticated=st.booleans())
def test_any_json_body_gets_the_error_envelope(fx: Fx, path: str, body: Any, authenticated: bool) -> None:
    if authenticated and isinstance(body, dict):
        body = {**body, **fx.auth}
    assert_fx_answer(fx.post(path, dumps(body)))


FILTER = st.fixed_dictionaries(
    {
        "field_name": st.sampled_from(list(OBJECTS["SalesOrderObj"])) | json_values,
        "operator": st.sampled_from(["EQ", "GT", "BETWEEN", "IN", "LIKE", "IS", "HASANYOF", "XX"]) | json_values,
        "field_values": st.lists(scalars, max_size=3) | json_values,
    }
)


@FUZZ
@given(
    obj=st.sampled_from(list(OBJECTS)) | json_values,
    search=st.fixed_dictionaries(
        {},
        optional={
            "limit": st.sampled_from([1, 100, 101, 0, -1, "10", "1e3", 1.5, 10**30]) | json_values,
            "offset": st.sampled_from([0, 100, 10_100, -100, "0", 10**30]) | json_values,
            "filters": st.lists(FILTER, max_size=3) | json_values,
            "orders": st.lists(
                st.fixed_dictionaries({"fieldName": st.sampled_from(["_id", "name", "owner"]) | json_values}),
                max_size=2,
            )
            | json_values,
            "fieldProjection": st.lists(st.sampled_from(["_id", "name", "x"]) | scalars, max_size=3) | json_values,
        },
    ),
    extra=st.dictionaries(st.sampled_from(["find_explicit_total_num", "includeNull"]), json_values, max_size=2),
)
def test_query_with_hostile_search_info(fx: Fx, obj: Any, search: dict[str, Any], extra: dict[str, Any]) -> None:
    search = {"limit": 10, "offset": 0, **search} if isinstance(search, dict) else search
    data = {"dataObjectApiName": obj, "search_query_info": search, **extra}
    body = fx.call("/cgi/crm/v2/data/query", data, includeNull=extra.get("includeNull"))
    if body["errorCode"] == 0:
        assert isinstance(body["data"]["dataList"], list)


# -- updates: all or nothing ----------------------------------------------------------------------

ORDER_FIELDS = [*OBJECTS["SalesOrderObj"], "bogus__c"]
LINE_FIELDS = [*OBJECTS["SalesOrderProductObj"], "bogus__c"]
HOSTILE_NUMBERS = st.sampled_from(["1e30", "1e999999", "-5", "0.000000001", "99999999999999999999", "1,5", "１２"])


@FUZZ
@given(data=st.data())
def test_failed_update_leaves_order_and_lines_untouched(fx: Fx, order: dict[str, Any], data: st.DataObject) -> None:
    order_id = order["_id"]
    lines = order["details"]["SalesOrderProductObj"]
    before = fx.record("SalesOrderObj", order_id)
    object_data = {"dataObjectApiName": "SalesOrderObj", "_id": order_id}
    object_data |= data.draw(st.dictionaries(st.sampled_from(ORDER_FIELDS), json_values | HOSTILE_NUMBERS, max_size=3))
    rows = []
    for line in lines:
        changes = data.draw(st.dictionaries(st.sampled_from(LINE_FIELDS), json_values | HOSTILE_NUMBERS, max_size=3))
        rows.append({**changes, "_id": line["_id"]})
    details = data.draw(st.sampled_from(["rows", "none", "garbage"]))
    sent_details: Any = (
        {"SalesOrderProductObj": rows} if details == "rows" else None if details == "none" else data.draw(json_values)
    )
    body = fx.update(object_data, sent_details)
    after = fx.record("SalesOrderObj", order_id)
    if body["errorCode"] != 0:
        assert after == before, "a failed update changed the record"
    # Whatever happened, the record is still updatable with good values.
    ok = fx.update(
        {"dataObjectApiName": "SalesOrderObj", "_id": order_id, "hub_message__c": "still updatable"},
        {"SalesOrderProductObj": [{"_id": lines[0]["_id"], "confirmed_quantity__c": "1"}]},
    )
    assert ok["errorCode"] == 0, ok
    again = fx.record("SalesOrderObj", order_id)
    assert again["hub_message__c"] == "still updatable"
    assert again["details"]["SalesOrderProductObj"][0]["confirmed_quantity__c"] == "1"


@pytest.mark.parametrize(
    "line_changes",
    [
        {"quantity": "1e30"},
        {"quantity": "1e999999"},
        {"product_price": "99999999999999999999"},
        {"discount": "-1e400"},
        {"quantity": "5", "tax_rate__c": "1e28"},
    ],
)
def test_numbers_out_of_range_are_refused_and_change_nothing(
    fx: Fx, order: dict[str, Any], line_changes: dict[str, Any]
) -> None:
    line = order["details"]["SalesOrderProductObj"][0]
    before = fx.record("SalesOrderObj", order["_id"])
    body = fx.update(
        {"dataObjectApiName": "SalesOrderObj", "_id": order["_id"], "hub_message__c": "x"},
        {"SalesOrderProductObj": [{"_id": line["_id"], **line_changes}]},
    )
    assert body["errorCode"] != 0, body
    assert fx.record("SalesOrderObj", order["_id"]) == before


# -- lookups and their __r companions --------------------------------------------------------------


def test_writing_a_lookup_updates_its_r_companion(fx: Fx, order: dict[str, Any]) -> None:
    account = fx.first(
        "AccountObj", filters=[{"field_name": "_id", "field_values": [order["account_id"]], "operator": "N"}]
    )
    product = fx.first("ProductObj", orders=[{"fieldName": "name", "isAsc": False}])
    line = order["details"]["SalesOrderProductObj"][0]
    body = fx.update(
        {"dataObjectApiName": "SalesOrderObj", "_id": order["_id"], "account_id": account["_id"]},
        {"SalesOrderProductObj": [{"_id": line["_id"], "product_id": product["_id"]}]},
    )
    assert body["errorCode"] == 0, body
    stored = fx.record("SalesOrderObj", order["_id"])
    assert stored["account_id"] == account["_id"] and stored["account_id__r"] == account["name"]
    new_line = next(r for r in stored["details"]["SalesOrderProductObj"] if r["_id"] == line["_id"])
    assert new_line["product_id"] == product["_id"] and new_line["product_id__r"] == product["name"]
    # Read back through the API too, as clients do.
    got = fx.call("/cgi/crm/v2/data/get", {"dataObjectApiName": "SalesOrderObj", "objectDataId": order["_id"]})
    assert got["data"]["account_id__r"] == account["name"]


@pytest.mark.parametrize(
    "changes",
    [
        {"account_id": "000000000000000000000000"},  # no such account
        {"account_id": ["not", "an", "id"]},
        {"account_id__r": "A display name is not writable"},
    ],
)
def test_bad_lookups_are_refused(fx: Fx, order: dict[str, Any], changes: dict[str, Any]) -> None:
    before = fx.record("SalesOrderObj", order["_id"])
    body = fx.update({"dataObjectApiName": "SalesOrderObj", "_id": order["_id"], **changes})
    assert body["errorCode"] != 0
    assert fx.record("SalesOrderObj", order["_id"]) == before


def test_a_line_cannot_move_to_another_order(fx: Fx, order: dict[str, Any]) -> None:
    line = order["details"]["SalesOrderProductObj"][0]
    before = fx.record("SalesOrderObj", order["_id"])
    other = fx.first("SalesOrderObj", filters=[{"field_name": "_id", "field_values": [order["_id"]], "operator": "N"}])
    body = fx.update(
        {"dataObjectApiName": "SalesOrderObj", "_id": order["_id"]},
        {"SalesOrderProductObj": [{"_id": line["_id"], "order_id": other["_id"]}]},
    )
    assert body["errorCode"] != 0
    assert fx.record("SalesOrderObj", order["_id"]) == before
