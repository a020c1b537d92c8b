"""The Fxiaoke OpenAPI emulator over real HTTP, against crm_report.md §2 and the §3 checklist."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from sandbox.seed_data import FXIAOKE, DefectKind, SeedData, generate
from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 5, 600


class Fx:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info["systems"]["fxiaoke"]
        self.base = self.info["base_url"]
        self.control = info["control_url"]
        self._token: dict[str, Any] | None = None

    def credentials(self, **overrides: str) -> dict[str, str]:
        body = {
            "appId": self.info["app_id"],
            "appSecret": self.info["app_secret"],
            "permanentCode": self.info["permanent_code"],
        }
        body.update(overrides)
        return body

    def legacy_token(self) -> dict[str, Any]:
        r = requests.post(self.base + "/cgi/corpAccessToken/get/V2", json=self.credentials(), timeout=10)
        assert r.status_code == 200 and r.json()["errorCode"] == 0, r.text
        return r.json()

    def auth(self) -> dict[str, Any]:
        if self._token is None:
            self._token = self.legacy_token()
        return {
            "corpAccessToken": self._token["corpAccessToken"],
            "corpId": self._token["corpId"],
            "currentOpenUserId": self.info["current_open_user_id"],
        }

    def call(self, path: str, data: dict[str, Any], **top: Any) -> dict[str, Any]:
        r = requests.post(self.base + path, json={**self.auth(), **top, "data": data}, timeout=30)
        assert r.status_code == 200
        return r.json()

    def query(self, obj: str, **search: Any) -> dict[str, Any]:
        search.setdefault("limit", 100)
        search.setdefault("offset", 0)
        return self.call("/cgi/crm/v2/data/query", {"dataObjectApiName": obj, "search_query_info": search})

    def rows(self, obj: str, **search: Any) -> list[dict[str, Any]]:
        body = self.query(obj, **search)
        assert body["errorCode"] == 0, body
        return body["data"]["dataList"]

    def advance(self, seconds: float) -> None:
        requests.post(self.control + "/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()

    def record(self, obj: str, record_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.control}/records/fxiaoke/{obj}/{record_id}", timeout=10)
        r.raise_for_status()
        return r.json()["record"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        yield info


@pytest.fixture(scope="module")
def seed() -> SeedData:
    return generate(SEED, ORDERS)


@pytest.fixture(scope="module")
def fx(sandbox: dict[str, Any]) -> Fx:
    return Fx(sandbox)


@pytest.fixture(autouse=True)
def _no_faults_left(sandbox: dict[str, Any]) -> Iterator[None]:
    yield
    requests.delete(sandbox["control_url"] + "/faults", timeout=10).raise_for_status()


# -- tokens ----------------------------------------------------------------------------------------


def test_legacy_token_same_until_6600_s_then_new(fx: Fx) -> None:
    fx.advance(7300)  # start from a clean slate: any earlier token has run out
    first = fx.legacy_token()
    assert set(first) >= {"errorCode", "errorMessage", "corpAccessToken", "corpId", "expiresIn"}
    assert first["expiresIn"] == 7200
    fx.advance(100)
    again = fx.legacy_token()
    assert again["corpAccessToken"] == first["corpAccessToken"] and again["expiresIn"] == 7100
    fx.advance(6550)  # 6,650 s after issue: inside the renewal window
    renewed = fx.legacy_token()
    assert renewed["corpAccessToken"] != first["corpAccessToken"] and renewed["expiresIn"] == 7200
    # The old token works until its own two hours are up, then gives 20016.
    old = {"corpAccessToken": first["corpAccessToken"], "corpId": first["corpId"]}
    body = {**old, "currentOpenUserId": fx.info["current_open_user_id"], "data": {"dataObjectApiName": "AccountObj"}}
    body["data"]["search_query_info"] = {"limit": 1, "offset": 0}
    assert requests.post(fx.base + "/cgi/crm/v2/data/query", json=body, timeout=10).json()["errorCode"] == 0
    fx.advance(600)
    stale = requests.post(fx.base + "/cgi/crm/v2/data/query", json=body, timeout=10)
    assert stale.status_code == 200
    assert stale.json()["errorCode"] == 20016
    assert stale.json()["errorMessage"] == "the cropId,cropAccessToken or authorization is error"
    fx._token = renewed


def test_oauth_token_and_bearer_style(fx: Fx) -> None:
    r = requests.post(
        fx.base + "/oauth2.0/token",
        params={"thirdTraceId": "a0b1c2d3-0000-4000-8000-000000000001"},
        json={**fx.credentials(), "grantType": "app_secret"},
        timeout=10,
    )
    body = r.json()
    assert r.status_code == 200 and body["errorCode"] == 0
    assert set(body) >= {"openUserId", "accessToken", "expiresIn", "appId", "ea", "errorMessage", "traceId"}
    headers = {"authorization": f"Bearer {body['accessToken']}", "x-fs-ea": body["ea"], "x-fs-userid": "1000"}
    query = {"data": {"dataObjectApiName": "AccountObj", "search_query_info": {"limit": 5, "offset": 0}}}
    ok = requests.post(
        fx.base + "/cgi/crm/v2/data/query", params={"thirdTraceId": "t-1"}, json=query, headers=headers, timeout=10
    )
    assert ok.json()["errorCode"] == 0 and len(ok.json()["data"]["dataList"]) == 5
    assert ok.json()["traceId"].endswith("t-1")
    wrong_ea = requests.post(
        fx.base + "/cgi/crm/v2/data/query", json=query, headers={**headers, "x-fs-ea": "other"}, timeout=10
    )
    assert wrong_ea.json()["errorCode"] == 20016


def test_token_errors_are_http_200(fx: Fx) -> None:
    bad = requests.post(
        fx.base + "/oauth2.0/token", json={**fx.credentials(appSecret="x"), "grantType": "app_secret"}, timeout=10
    )
    assert bad.status_code == 200
    assert bad.json()["errorCode"] == 10006
    assert bad.json()["errorMessage"] == "the parameter appSecret is missing or illegal"
    legacy = requests.post(fx.base + "/cgi/corpAccessToken/get/V2", json={"appId": fx.info["app_id"]}, timeout=10)
    assert legacy.status_code == 200 and legacy.json()["errorCode"] == 10006


def test_missing_and_bad_tokens(fx: Fx) -> None:
    query = {"data": {"dataObjectApiName": "AccountObj", "search_query_info": {"limit": 1, "offset": 0}}}
    missing = requests.post(fx.base + "/cgi/crm/v2/data/query", json=query, timeout=10)
    assert missing.status_code == 200
    assert missing.json()["errorCode"] == 20017
    assert missing.json()["errorMessage"] == "corpAccessToken为必填项，不能为空"
    forged = {**query, "corpAccessToken": "FAKE", "corpId": "FSCID_X", "currentOpenUserId": "FSUID_X"}
    assert requests.post(fx.base + "/cgi/crm/v2/data/query", json=forged, timeout=10).json()["errorCode"] == 20016


# -- query -----------------------------------------------------------------------------------------


def test_query_response_envelope_and_encoding(fx: Fx, seed: SeedData) -> None:
    body = fx.query("SalesOrderObj", limit=10, orders=[{"fieldName": "create_time", "isAsc": True}])
    assert body["errorCode"] == 0 and body["errorMessage"] == "OK" and body["errorDescription"] == "success"
    assert body["traceId"]
    assert set(body["data"]) == {"dataList", "offset", "limit", "total"}
    assert body["data"]["total"] == len(seed.orders_of(FXIAOKE))
    first = body["data"]["dataList"][0]
    earliest = min(seed.orders_of(FXIAOKE), key=lambda o: (o.order_time, o.crm_id))
    assert first["_id"] == earliest.crm_id and first["name"] == earliest.number
    assert isinstance(first["order_amount"], str) and Decimal(first["order_amount"]) > 0
    assert isinstance(first["create_time"], int) and isinstance(first["last_modified_time"], int)
    assert isinstance(first["owner"], list) and isinstance(first["created_by"], list)
    assert first["mc_currency"] == "CNY" and first["tax_rate__c"] == "13"
    no_total = fx.call(
        "/cgi/crm/v2/data/query",
        {
            "dataObjectApiName": "SalesOrderObj",
            "find_explicit_total_num": False,
            "search_query_info": {"limit": 1, "offset": 0},
        },
    )
    assert no_total["data"]["total"] == 0


def test_limit_and_offset_rules(fx: Fx) -> None:
    assert fx.query("ProductObj", limit=101)["errorCode"] != 0
    assert fx.query("ProductObj", limit=100, offset=150)["errorCode"] != 0
    at_cap = fx.query("ProductObj", limit=100, offset=10_000)
    assert at_cap["errorCode"] == 0 and at_cap["data"]["dataList"] == []
    over = fx.query("ProductObj", limit=100, offset=10_100)
    assert over == {
        "errorDescription": "offset 不能超过10000",
        "errorMessage": "offset out of range 10000",
        "errorCode": 10013,
    }


def test_filters(fx: Fx, seed: SeedData) -> None:
    orders = seed.orders_of(FXIAOKE)
    pivot = sorted(o.modified_time for o in orders)[len(orders) // 2]
    pivot_ms = str(int(pivot.timestamp() * 1000))
    for op, expected in (
        ("GT", lambda t: t > pivot),
        ("GTE", lambda t: t >= pivot),
        ("LT", lambda t: t < pivot),
        ("LTE", lambda t: t <= pivot),
        ("EQ", lambda t: t == pivot),
    ):
        flt = [{"field_name": "last_modified_time", "field_values": [pivot_ms], "operator": op}]
        body = fx.query("SalesOrderObj", limit=1, filters=flt)
        assert body["data"]["total"] == sum(1 for o in orders if expected(o.modified_time)), op
    lo, hi = sorted(o.modified_time for o in orders)[100], sorted(o.modified_time for o in orders)[199]
    between = [
        {
            "field_name": "last_modified_time",
            "field_values": [str(int(lo.timestamp() * 1000)), str(int(hi.timestamp() * 1000))],
            "operator": "BETWEEN",
        }
    ]
    assert fx.query("SalesOrderObj", limit=1, filters=between)["data"]["total"] == sum(
        1 for o in orders if lo <= o.modified_time <= hi
    )
    names = [orders[0].number, orders[5].number, "no-such-order"]
    got = fx.rows("SalesOrderObj", filters=[{"field_name": "name", "field_values": names, "operator": "IN"}])
    assert sorted(r["name"] for r in got) == sorted(names[:2])
    not_list = fx.query("SalesOrderObj", filters=[{"field_name": "name", "field_values": "x", "operator": "EQ"}])
    assert not_list["errorCode"] != 0


def test_orders_and_projection(fx: Fx) -> None:
    asc = fx.rows("SalesOrderObj", orders=[{"fieldName": "order_time", "isAsc": True}], fieldProjection=["order_time"])
    assert [r["order_time"] for r in asc] == sorted(r["order_time"] for r in asc)
    assert all(set(r) == {"_id", "order_time"} for r in asc)
    desc = fx.rows("SalesOrderObj", orders=[{"fieldName": "order_amount", "isAsc": False}])
    amounts = [Decimal(r["order_amount"]) for r in desc]
    assert amounts == sorted(amounts, reverse=True)


def test_deep_paging_by_id(fx: Fx, seed: SeedData) -> None:
    seen: list[str] = []
    last = None
    while True:
        filters = [{"field_name": "_id", "field_values": [last], "operator": "GT"}] if last else []
        page = fx.rows(
            "ProductObj",
            filters=filters,
            orders=[{"fieldName": "_id", "isAsc": True}],
            fieldProjection=["_id", "product_code"],
        )
        seen += [r["_id"] for r in page]
        if len(page) < 100:
            break
        last = page[-1]["_id"]
    assert len(seen) == len(set(seen)) == len(seed.materials) + len(seed.unknown_products)


def test_lines_linked_by_order_id_and_totals(fx: Fx, seed: SeedData) -> None:
    order = next(o for o in seed.orders_of(FXIAOKE) if not o.defects and len(o.lines) >= 2)
    head = fx.rows("SalesOrderObj", filters=[{"field_name": "_id", "field_values": [order.crm_id], "operator": "EQ"}])
    lines = fx.rows(
        "SalesOrderProductObj",
        filters=[{"field_name": "order_id", "field_values": [order.crm_id], "operator": "EQ"}],
        orders=[{"fieldName": "line_no__c", "isAsc": True}],
    )
    assert [r["line_no__c"] for r in lines] == [str(ln.line_number) for ln in order.lines]
    net = sum(Decimal(r["subtotal"]) for r in lines)
    tax = sum(Decimal(r["tax_amount__c"]) for r in lines)
    assert Decimal(head[0]["order_amount"]) == net + tax
    for row, line in zip(lines, order.lines, strict=True):
        assert Decimal(row["quantity"]) == line.quantity
        assert Decimal(row["product_price"]) == line.unit_price
        assert Decimal(row["subtotal"]) == Decimal(row["quantity"]) * Decimal(row["sales_price"])


def test_accounts_and_products_carry_erp_numbers(fx: Fx, seed: SeedData) -> None:
    accounts = fx.rows("AccountObj", fieldProjection=["account_no", "name"])
    assert {a["account_no"] for a in accounts} == {c.number for c in seed.customers_of(FXIAOKE)}
    codes = [m.number for m in seed.materials[:3]]
    products = fx.rows("ProductObj", filters=[{"field_name": "product_code", "field_values": codes, "operator": "IN"}])
    assert sorted(p["product_code"] for p in products) == sorted(codes)


def test_empty_fields_omitted_unless_include_null(fx: Fx, seed: SeedData) -> None:
    order = next(o for o in seed.orders_of(FXIAOKE) if o.defects == [DefectKind.MISSING_OPTIONAL_FIELDS.value])
    flt = [{"field_name": "_id", "field_values": [order.crm_id], "operator": "EQ"}]
    row = fx.rows("SalesOrderObj", filters=flt)[0]
    assert "delivery_date" not in row and "remark" not in row and "customer_po__c" not in row
    with_null = fx.query("SalesOrderObj", filters=flt, fieldProjection=["delivery_date", "name"])
    body = fx.call(
        "/cgi/crm/v2/data/query",
        {"dataObjectApiName": "SalesOrderObj", "search_query_info": {"limit": 1, "offset": 0, "filters": flt}},
        includeNull=True,
    )
    assert with_null["data"]["dataList"][0] == {"_id": order.crm_id, "name": order.number}
    assert body["data"]["dataList"][0]["delivery_date"] is None


def test_defects_in_fxiaoke_payloads(fx: Fx, seed: SeedData) -> None:
    materials = seed.material_by_number
    products = {p["_id"]: p["product_code"] for p in _all(fx, "ProductObj")}
    lines_by_order: dict[str, list[dict[str, Any]]] = {}
    for row in _all(fx, "SalesOrderProductObj"):
        lines_by_order.setdefault(row["order_id"], []).append(row)
    heads = {r["_id"]: r for r in _all(fx, "SalesOrderObj")}
    seen = set()
    for o in seed.orders_of(FXIAOKE):
        if not o.defects:
            continue
        kind, head, rows = DefectKind(o.defects[0]), heads[o.crm_id], lines_by_order[o.crm_id]
        if kind is DefectKind.MISSING_CUSTOMER:
            assert "account_id" not in head
        elif kind is DefectKind.UNKNOWN_PRODUCT:
            assert any(products[r["product_id"]] not in materials for r in rows)
        elif kind is DefectKind.BAD_QUANTITY:
            assert any(Decimal(r["quantity"]) <= 0 for r in rows)
        elif kind is DefectKind.NON_NUMERIC_PRICE:
            assert any(_not_number(r["product_price"]) for r in rows)
        elif kind is DefectKind.DUPLICATE_LINE_NUMBERS:
            assert len({r["line_no__c"] for r in rows}) < len(rows)
        elif kind is DefectKind.CURRENCY_MISMATCH:
            assert any(r["mc_currency"] != head["mc_currency"] for r in rows)
        elif kind is DefectKind.EMOJI_TEXT:
            assert any(ord(ch) > 0x1F000 for ch in head["remark"])
        elif kind is DefectKind.LONG_TEXT:
            assert len(head["remark"]) == 500
        elif kind is DefectKind.UNKNOWN_EXTRA_FIELDS:
            assert head["legacy_channel__c"] == "EDI-OLD" and any("old_part_ref__c" in r for r in rows)
        elif kind is DefectKind.MISSING_OPTIONAL_FIELDS:
            assert "delivery_date" not in head and "customer_po__c" not in head
        seen.add(kind)
    assert seen == set(DefectKind)


def _not_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return True
    return False


def _all(fx: Fx, obj: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    last = None
    while True:
        filters = [{"field_name": "_id", "field_values": [last], "operator": "GT"}] if last else []
        page = fx.rows(obj, filters=filters, orders=[{"fieldName": "_id", "isAsc": True}])
        rows += page
        if len(page) < 100:
            return rows
        last = page[-1]["_id"]


# -- update ----------------------------------------------------------------------------------------


def test_update_record(fx: Fx, seed: SeedData) -> None:
    order = next(o for o in seed.orders_of(FXIAOKE) if not o.defects)
    fx.advance(30)
    now = datetime.fromisoformat(requests.get(fx.control + "/clock", timeout=10).json()["now"])
    now_ms = int(now.timestamp() * 1000)
    body = fx.call(
        "/cgi/crm/v2/data/update",
        {
            "object_data": {
                "dataObjectApiName": "SalesOrderObj",
                "_id": order.crm_id,
                "hub_status__c": "confirmed",
                "sap_order_no__c": "4711",
            }
        },
        triggerWorkFlow=False,
    )
    assert body["errorCode"] == 0 and body["errorMessage"] == "OK"
    stored = fx.record("SalesOrderObj", order.crm_id)
    assert stored["hub_status__c"] == "confirmed" and stored["sap_order_no__c"] == "4711"
    assert stored["last_modified_time"] == now_ms and stored["version"] == "2"
    writes = requests.get(fx.control + "/writes", params={"system": "fxiaoke"}, timeout=10).json()["writes"]
    assert writes[-1]["id"] == order.crm_id and writes[-1]["triggerWorkFlow"] is False
    changed = fx.rows(
        "SalesOrderObj",
        filters=[{"field_name": "last_modified_time", "field_values": [str(now_ms)], "operator": "GTE"}],
    )
    assert [r["_id"] for r in changed] == [order.crm_id]


def test_update_detail_lines(fx: Fx, seed: SeedData) -> None:
    order = next(o for o in seed.orders_of(FXIAOKE) if not o.defects and len(o.lines) >= 2)
    line_id = order.lines[0].crm_id
    body = fx.call(
        "/cgi/crm/v2/data/update",
        {
            "object_data": {"dataObjectApiName": "SalesOrderObj", "_id": order.crm_id},
            "details": {"SalesOrderProductObj": [{"_id": line_id, "confirmed_quantity__c": "3"}]},
        },
    )
    assert body["errorCode"] == 0, body
    assert fx.record("SalesOrderProductObj", line_id)["confirmed_quantity__c"] == "3"
    writes = requests.get(fx.control + "/writes", params={"system": "fxiaoke"}, timeout=10).json()["writes"]
    assert writes[-1]["triggerWorkFlow"] is True  # the default when the flag is left out


@pytest.mark.parametrize(
    "object_data",
    [
        {"dataObjectApiName": "SalesOrderObj", "hub_status__c": "confirmed"},  # no _id
        {"dataObjectApiName": "SalesOrderObj", "_id": "000000000000000000000000", "remark": "x"},
        {"dataObjectApiName": "SalesOrderObj", "_id": "ID", "no_such_field": "x"},
        {"dataObjectApiName": "SalesOrderObj", "_id": "ID", "hub_status__c": "teleported"},
        {"dataObjectApiName": "SalesOrderObj", "_id": "ID", "owner": ["1001"]},
        {"dataObjectApiName": "NoSuchObj", "_id": "ID"},
    ],
)
def test_update_rejections(fx: Fx, seed: SeedData, object_data: dict[str, Any]) -> None:
    order = next(o for o in seed.orders_of(FXIAOKE) if not o.defects)
    data = {k: (order.crm_id if v == "ID" else v) for k, v in object_data.items()}
    before = fx.record("SalesOrderObj", order.crm_id)
    body = fx.call("/cgi/crm/v2/data/update", {"object_data": data})
    assert body["errorCode"] != 0 and body["traceId"]
    assert fx.record("SalesOrderObj", order.crm_id) == before


# -- faults in Fxiaoke's own words -----------------------------------------------------------------


def test_throttling_is_error_code_30004(fx: Fx, sandbox: dict[str, Any]) -> None:
    fx.auth()
    control = sandbox["control_url"] + "/faults"
    requests.post(control, json={"system": "fxiaoke", "burst_429": 1}, timeout=10).raise_for_status()
    r = requests.post(fx.base + "/cgi/crm/v2/data/query", json={**fx.auth(), "data": {}}, timeout=10)
    assert r.status_code == 200 and r.json()["errorCode"] == 30004
    requests.post(control, json={"system": "fxiaoke", "burst_429": 1, "throttle_as_http": True}, timeout=10)
    assert requests.post(fx.base + "/cgi/crm/v2/data/query", json={}, timeout=10).status_code == 429
    requests.post(control, json={"system": "fxiaoke", "quota_exhausted": True}, timeout=10)
    assert requests.post(fx.base + "/cgi/crm/v2/data/query", json={}, timeout=10).json()["errorCode"] == 30002
    requests.post(
        control, json={"system": "fxiaoke", "quota_exhausted": False, "burst_5xx": 1, "status_5xx": 503}, timeout=10
    )
    assert requests.post(fx.base + "/cgi/crm/v2/data/query", json={}, timeout=10).status_code == 503
    # The token endpoint is outside the default fault scope.
    requests.post(control, json={"system": "fxiaoke", "burst_429": 5}, timeout=10)
    assert fx.legacy_token()["errorCode"] == 0


def test_get_by_id(fx: Fx, seed: SeedData) -> None:
    order = seed.orders_of(FXIAOKE)[0]
    body = fx.call("/cgi/crm/v2/data/get", {"dataObjectApiName": "SalesOrderObj", "objectDataId": order.crm_id})
    assert body["errorCode"] == 0 and body["data"]["name"] == order.number
    missing = fx.call("/cgi/crm/v2/data/get", {"dataObjectApiName": "SalesOrderObj", "objectDataId": "nope"})
    assert missing["errorCode"] != 0
