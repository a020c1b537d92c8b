"""The Zoho CRM v8 emulator over real HTTP, against crm_report.md §1 and the §3 checklist."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from sandbox.seed_data import ZOHO, DefectKind, SeedData, generate
from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 11, 5000  # 2,750 Zoho orders: past the 2,000 records `page` can reach


class Zoho:
    """Plain HTTP against the emulator, holding one access token like a well-behaved client."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info["systems"]["zoho_crm"]
        self.control = info["control_url"]
        self.api = self.info["api_domain"] + "/crm/v8"
        self._token: str | None = None

    def token_params(self, **overrides: str) -> dict[str, str]:
        params = {
            "grant_type": "refresh_token",
            "client_id": self.info["client_id"],
            "client_secret": self.info["client_secret"],
            "refresh_token": self.info["refresh_token"],
        }
        params.update(overrides)
        return params

    def new_token(self) -> str:
        r = requests.post(self.info["accounts_url"] + "/oauth/v2/token", params=self.token_params(), timeout=10)
        assert r.status_code == 200, r.text
        self._token = r.json()["access_token"]
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self._token or self.new_token()}"}

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> requests.Response:
        return requests.get(self.api + path, params=params, headers={**self.headers(), **headers}, timeout=30)

    def put(self, path: str, body: Any) -> requests.Response:
        return requests.put(self.api + path, json=body, headers=self.headers(), timeout=30)

    def advance(self, seconds: float) -> None:
        requests.post(self.control + "/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()

    def now(self) -> datetime:
        return datetime.fromisoformat(requests.get(self.control + "/clock", timeout=10).json()["now"])

    def record(self, module: str, record_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.control}/records/zoho_crm/{module}/{record_id}", timeout=10)
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
def zoho(sandbox: dict[str, Any]) -> Zoho:
    # One client for the module: it keeps its token, as a real one must with 10 tokens per 10 minutes.
    return Zoho(sandbox)


@pytest.fixture(autouse=True)
def _no_faults_left(sandbox: dict[str, Any]) -> Iterator[None]:
    yield
    requests.delete(sandbox["control_url"] + "/faults", timeout=10).raise_for_status()


SO_FIELDS = "Subject,SO_Number,Account_Name,Status,Currency,Grand_Total,Modified_Time,Created_Time,Ordered_Items"


# -- OAuth -----------------------------------------------------------------------------------------


def test_token_by_query_and_by_form(zoho: Zoho) -> None:
    zoho.advance(601)  # a fresh 10-minute window whatever ran before
    url = zoho.info["accounts_url"] + "/oauth/v2/token"
    by_query = requests.post(url, params=zoho.token_params(), timeout=10)
    by_form = requests.post(url, data=zoho.token_params(), timeout=10)
    for r in (by_query, by_form):
        assert r.status_code == 200
        body = r.json()
        assert body["expires_in"] == 3600
        assert body["token_type"] == "Bearer"
        assert body["api_domain"] == zoho.info["api_domain"]
        assert "refresh_token" not in body
    assert by_query.json()["access_token"] != by_form.json()["access_token"]


def test_token_errors(zoho: Zoho) -> None:
    url = zoho.info["accounts_url"] + "/oauth/v2/token"
    bad_client = requests.post(url, params=zoho.token_params(client_secret="nope"), timeout=10)
    bad_refresh = requests.post(url, params=zoho.token_params(refresh_token="1000.x.y"), timeout=10)
    assert bad_client.json() == {"error": "invalid_client"}
    assert bad_refresh.json() == {"error": "invalid_code"}


def test_token_throttle_ten_per_ten_minutes(zoho: Zoho) -> None:
    zoho.advance(601)
    url = zoho.info["accounts_url"] + "/oauth/v2/token"
    statuses = [requests.post(url, params=zoho.token_params(), timeout=10).status_code for _ in range(10)]
    assert statuses == [200] * 10
    denied = requests.post(url, params=zoho.token_params(), timeout=10)
    assert denied.status_code == 400
    assert denied.json() == {
        "error": "Access Denied",
        "error_description": "You have made too many requests continuously. Please try again after some time.",
    }
    zoho.advance(601)
    assert requests.post(url, params=zoho.token_params(), timeout=10).status_code == 200


def test_api_auth(zoho: Zoho) -> None:
    zoho.advance(601)
    params = {"fields": "Account_Name", "per_page": 1}
    missing = requests.get(zoho.api + "/Accounts", params=params, timeout=10)
    assert missing.status_code == 401 and missing.json()["code"] == "AUTHENTICATION_FAILURE"
    bogus = requests.get(
        zoho.api + "/Accounts", params=params, headers={"Authorization": "Zoho-oauthtoken 1000.abc.def"}, timeout=10
    )
    assert bogus.status_code == 401
    assert bogus.json() == {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
    token = zoho.new_token()
    bearer = requests.get(
        zoho.api + "/Accounts", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert bearer.status_code == 200
    zoho.advance(3600)  # the token's hour is up
    expired = zoho.get("/Accounts", params)
    assert expired.status_code == 401 and expired.json()["code"] == "INVALID_TOKEN"
    zoho.new_token()
    assert zoho.get("/Accounts", params).status_code == 200


# -- Get Records -----------------------------------------------------------------------------------


def test_fields_required(zoho: Zoho) -> None:
    r = zoho.get("/Sales_Orders")
    assert r.status_code == 400
    assert r.json() == {
        "code": "REQUIRED_PARAM_MISSING",
        "details": {"param_name": "fields"},
        "message": "required param is missing",
        "status": "error",
    }


def test_fields_limit_and_names(zoho: Zoho, sandbox: dict[str, Any]) -> None:
    from sandbox.zoho_schema import SALES_ORDER_FIELDS

    # The limit counts the names as given; the module has 49, so two repeat.
    names = sorted(SALES_ORDER_FIELDS) * 2
    ok = zoho.get("/Sales_Orders", {"fields": ",".join(names[:50]), "per_page": 1})
    assert ok.status_code == 200
    too_many = zoho.get("/Sales_Orders", {"fields": ",".join(names[:51]), "per_page": 1})
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "LIMIT_EXCEEDED"
    assert too_many.json()["details"] == {"limit": 50, "param_name": "fields"}
    unknown = zoho.get("/Sales_Orders", {"fields": "Subject,No_Such_Field"})
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "INVALID_DATA"
    assert unknown.json()["details"]["api_name"] == "No_Such_Field"
    bad_module = zoho.get("/Invoices_Typo", {"fields": "id"})
    assert bad_module.status_code == 400 and bad_module.json()["code"] == "INVALID_MODULE"


def test_list_record_shape(zoho: Zoho) -> None:
    r = zoho.get("/Sales_Orders", {"fields": SO_FIELDS, "per_page": 5})
    assert r.status_code == 200
    body = r.json()
    assert set(body["info"]) == {
        "per_page",
        "count",
        "page",
        "sort_by",
        "sort_order",
        "more_records",
        "next_page_token",
        "previous_page_token",
        "page_token_expiry",
    }
    assert body["info"]["count"] == 5 and body["info"]["more_records"] is True
    assert (body["info"]["sort_by"], body["info"]["sort_order"]) == ("id", "desc")
    ids = [int(rec["id"]) for rec in body["data"]]
    assert ids == sorted(ids, reverse=True)
    for rec in body["data"]:
        assert "Ordered_Items" not in rec  # subforms only by id
        assert set(rec) == set(SO_FIELDS.split(",")) - {"Ordered_Items"} | {"id"}
        assert isinstance(rec["Grand_Total"], int | float)
        assert rec["Modified_Time"].endswith("+08:00")
        datetime.fromisoformat(rec["Modified_Time"])


def test_per_page_bounds(zoho: Zoho) -> None:
    assert zoho.get("/Accounts", {"fields": "Account_Name", "per_page": 201}).status_code == 400
    assert zoho.get("/Accounts", {"fields": "Account_Name", "per_page": 0}).status_code == 400
    assert len(zoho.get("/Accounts", {"fields": "Account_Name", "per_page": 200}).json()["data"]) <= 200


def test_page_reaches_2000_records_then_page_token(zoho: Zoho, seed: SeedData) -> None:
    expected = len(seed.orders_of(ZOHO))
    assert expected > 2000
    tenth = zoho.get("/Sales_Orders", {"fields": "SO_Number", "per_page": 200, "page": 10})
    assert tenth.status_code == 200 and tenth.json()["info"]["count"] == 200
    eleventh = zoho.get("/Sales_Orders", {"fields": "SO_Number", "per_page": 200, "page": 11})
    assert eleventh.status_code == 400
    assert eleventh.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert eleventh.json()["details"] == {"limit": 2000}
    also_over = zoho.get("/Sales_Orders", {"fields": "SO_Number", "per_page": 150, "page": 14})
    assert also_over.status_code == 400

    seen: list[str] = []
    params: dict[str, Any] = {"fields": "SO_Number", "per_page": 200, "sort_order": "asc"}
    while True:
        r = zoho.get("/Sales_Orders", params)
        assert r.status_code == 200
        seen += [rec["id"] for rec in r.json()["data"]]
        info = r.json()["info"]
        if not info["more_records"]:
            assert info["next_page_token"] is None
            break
        assert len(info["next_page_token"]) <= 96 and info["page_token_expiry"]
        params = {"fields": "SO_Number", "per_page": 200, "page_token": info["next_page_token"]}
    assert len(seen) == len(set(seen)) == expected
    assert seen == sorted(seen, key=int)
    assert set(seen) == {o.crm_id for o in seed.orders_of(ZOHO)}


def test_page_and_page_token_together_and_bad_token(zoho: Zoho) -> None:
    first = zoho.get("/Sales_Orders", {"fields": "SO_Number", "per_page": 10})
    token = first.json()["info"]["next_page_token"]
    both = zoho.get("/Sales_Orders", {"fields": "SO_Number", "page": 2, "page_token": token})
    assert both.status_code == 400
    bad = zoho.get("/Sales_Orders", {"fields": "SO_Number", "page_token": "f" * 64})
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_DATA"


def test_sorting(zoho: Zoho) -> None:
    for sort_by in ("Modified_Time", "Created_Time"):
        r = zoho.get("/Sales_Orders", {"fields": sort_by, "per_page": 200, "sort_by": sort_by, "sort_order": "asc"})
        times = [datetime.fromisoformat(rec[sort_by]) for rec in r.json()["data"]]
        assert times == sorted(times) and r.json()["info"]["sort_by"] == sort_by
    assert zoho.get("/Sales_Orders", {"fields": "Subject", "sort_by": "Subject"}).status_code == 400
    assert zoho.get("/Sales_Orders", {"fields": "Subject", "sort_order": "up"}).status_code == 400


def test_if_modified_since_is_inclusive_and_304(zoho: Zoho, seed: SeedData) -> None:
    latest = max(seed.orders_of(ZOHO), key=lambda o: o.modified_time)
    since = latest.modified_time.astimezone().isoformat()
    r = zoho.get("/Sales_Orders", {"fields": "SO_Number,Modified_Time"}, **{"If-Modified-Since": since})
    assert r.status_code == 200
    assert latest.number in [rec["SO_Number"] for rec in r.json()["data"]]
    assert all(datetime.fromisoformat(rec["Modified_Time"]) >= latest.modified_time for rec in r.json()["data"])
    week_ago = (seed.now - timedelta(days=7)).isoformat()
    r = zoho.get("/Sales_Orders", {"fields": "Modified_Time", "per_page": 200}, **{"If-Modified-Since": week_ago})
    expected = sum(1 for o in seed.orders_of(ZOHO) if o.modified_time >= seed.now - timedelta(days=7))
    assert r.status_code == 200
    assert r.json()["info"]["count"] == min(expected, 200)
    future = (seed.now + timedelta(days=1)).isoformat()
    none = zoho.get("/Sales_Orders", {"fields": "Modified_Time"}, **{"If-Modified-Since": future})
    assert none.status_code == 304 and none.content == b""


def test_204_when_nothing(zoho: Zoho) -> None:
    r = zoho.get("/Sales_Orders", {"fields": "Subject", "ids": "5843104000399999999"})
    assert r.status_code == 204 and r.content == b""
    assert zoho.get("/Sales_Orders/5843104000399999999").status_code == 204


def test_accounts_and_products_carry_erp_numbers(zoho: Zoho, seed: SeedData) -> None:
    accounts = zoho.get("/Accounts", {"fields": "Account_Name,Account_Number", "per_page": 200}).json()["data"]
    assert {a["Account_Number"] for a in accounts} == {c.number for c in seed.customers_of(ZOHO)}
    products: list[dict[str, Any]] = []
    params: dict[str, Any] = {"fields": "Product_Code,Product_Name,Unit_Price", "per_page": 200}
    while True:
        body = zoho.get("/Products", params).json()
        products += body["data"]
        if not body["info"]["more_records"]:
            break
        params = {"fields": "Product_Code", "per_page": 200, "page_token": body["info"]["next_page_token"]}
    codes = {p["Product_Code"] for p in products}
    assert codes >= {m.number for m in seed.materials}
    assert codes - {m.number for m in seed.materials} == {u.code for u in seed.unknown_products}


def test_record_by_id_has_ordered_items(zoho: Zoho, seed: SeedData) -> None:
    order = next(o for o in seed.orders_of(ZOHO) if not o.defects and len(o.lines) >= 3)
    r = zoho.get(f"/Sales_Orders/{order.crm_id}")
    assert r.status_code == 200
    record = r.json()["data"][0]
    assert record["SO_Number"] == order.number and record["Currency"] == order.currency
    assert record["Account_Name"]["id"] and record["Account_Name"]["name"]
    rows = record["Ordered_Items"]
    assert len(rows) == len(order.lines)
    for row, line in zip(rows, order.lines, strict=True):
        assert {
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
            "Sequence_Number",
            "Description",
        } <= set(row)
        assert set(row["Product_Name"]) == {"id", "name"}
        assert row["Quantity"] == int(line.quantity) and row["Sequence_Number"] == line.line_number
        assert row["Total"] == pytest.approx(float(line.quantity * line.unit_price))
        assert row["Net_Total"] == pytest.approx(row["Total_After_Discount"] + row["Tax"])
    assert record["Grand_Total"] == pytest.approx(sum(row["Net_Total"] for row in rows))


def test_defects_in_zoho_payloads(zoho: Zoho, seed: SeedData) -> None:
    materials = seed.material_by_number
    seen = set()
    for o in seed.orders_of(ZOHO):
        if not o.defects:
            continue
        kind = DefectKind(o.defects[0])
        rec = zoho.get(f"/Sales_Orders/{o.crm_id}").json()["data"][0]
        rows = rec["Ordered_Items"]
        if kind is DefectKind.MISSING_CUSTOMER:
            assert rec["Account_Name"] is None
        elif kind is DefectKind.UNKNOWN_PRODUCT:
            codes = [zoho.record("Products", r["Product_Name"]["id"])["Product_Code"] for r in rows]
            assert any(code not in materials for code in codes)
        elif kind is DefectKind.BAD_QUANTITY:
            assert any(r["Quantity"] <= 0 for r in rows)
        elif kind is DefectKind.NON_NUMERIC_PRICE:
            assert any(isinstance(r["List_Price"], str) for r in rows)
        elif kind is DefectKind.DUPLICATE_LINE_NUMBERS:
            numbers = [r["Sequence_Number"] for r in rows]
            assert len(set(numbers)) < len(numbers)
        elif kind is DefectKind.CURRENCY_MISMATCH:
            assert any(not r["Price_Book_Name"]["name"].endswith(f"{rec['Currency']} 2026") for r in rows)
        elif kind is DefectKind.EMOJI_TEXT:
            assert any(ord(ch) > 0x1F000 for ch in rec["Description"])
        elif kind is DefectKind.LONG_TEXT:
            assert len(rec["Description"]) == 500
        elif kind is DefectKind.UNKNOWN_EXTRA_FIELDS:
            assert rec["Legacy_Channel__c"] == "EDI-OLD" and any("Old_Part_Ref__c" in r for r in rows)
        elif kind is DefectKind.MISSING_OPTIONAL_FIELDS:
            assert rec["Purchase_Order"] is None and rec["Due_Date"] is None and rec["Shipping_Street"] is None
        seen.add(kind)
    assert seen == set(DefectKind)


# -- Update Records --------------------------------------------------------------------------------


def test_update_success_changes_modified_time(zoho: Zoho, seed: SeedData) -> None:
    order = next(o for o in seed.orders_of(ZOHO) if not o.defects)
    zoho.advance(60)
    before = zoho.record("Sales_Orders", order.crm_id)
    r = zoho.put("/Sales_Orders", {"data": [{"id": order.crm_id, "Status": "Confirmed", "SAP_Order_No__c": "4711"}]})
    assert r.status_code == 200
    result = r.json()["data"][0]
    assert (result["code"], result["status"], result["message"]) == ("SUCCESS", "success", "record updated")
    assert result["details"]["id"] == order.crm_id
    assert {"Modified_Time", "Modified_By", "Created_Time", "Created_By"} <= set(result["details"])
    after = zoho.record("Sales_Orders", order.crm_id)
    assert after["Status"] == "Confirmed" and after["SAP_Order_No__c"] == "4711"
    assert datetime.fromisoformat(after["Modified_Time"]) > datetime.fromisoformat(before["Modified_Time"])
    assert datetime.fromisoformat(after["Modified_Time"]) == zoho.now()
    writes = requests.get(zoho.control + "/writes", params={"system": "zoho_crm"}, timeout=10).json()["writes"]
    assert any(w["id"] == order.crm_id and w["result"] == "SUCCESS" for w in writes)


def test_update_mixed_results_in_input_order(zoho: Zoho, seed: SeedData, sandbox: dict[str, Any]) -> None:
    a, b, locked = [o for o in seed.orders_of(ZOHO) if not o.defects][1:4]
    requests.post(
        sandbox["control_url"] + "/records/zoho_crm",
        json={"module": "Sales_Orders", "id": locked.crm_id, "fields": {"Locked__s": True}, "touch": False},
        timeout=10,
    ).raise_for_status()
    before_b = zoho.record("Sales_Orders", b.crm_id)
    r = zoho.put(
        "/Sales_Orders",
        {
            "data": [
                {"id": a.crm_id, "Hub_Message__c": "ok"},
                {"id": b.crm_id, "Status": "Shipped", "Not_A_Field": 1},
                {"Status": "Confirmed"},
                {"id": a.crm_id, "Status": "Teleported"},
                {"id": locked.crm_id, "Status": "Confirmed"},
            ],
            "trigger": ["workflow"],
        },
    )
    assert r.status_code == 207
    codes = [d["code"] for d in r.json()["data"]]
    assert codes == ["SUCCESS", "INVALID_DATA", "MANDATORY_NOT_FOUND", "INVALID_DATA", "RECORD_LOCKED"]
    invalid_field = r.json()["data"][1]
    assert invalid_field["details"] == {"api_name": "Not_A_Field", "json_path": "$.data[1].Not_A_Field"}
    assert invalid_field["status"] == "error"
    assert r.json()["data"][2]["details"] == {"api_name": "id", "json_path": "$.data[2].id"}
    assert r.json()["data"][3]["details"]["api_name"] == "Status"
    assert zoho.record("Sales_Orders", b.crm_id) == before_b  # a failed record is left untouched


def test_update_all_failed_is_400_and_limit_is_100(zoho: Zoho) -> None:
    failed = zoho.put("/Sales_Orders", {"data": [{"Status": "Created"}, {"id": "5843104000399999999"}]})
    assert failed.status_code == 400
    assert [d["status"] for d in failed.json()["data"]] == ["error", "error"]
    too_many = zoho.put("/Sales_Orders", {"data": [{"id": str(i)} for i in range(101)]})
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "LIMIT_EXCEEDED" and too_many.json()["status"] == "error"


def test_update_subform_rows(zoho: Zoho, seed: SeedData) -> None:
    order = next(o for o in seed.orders_of(ZOHO) if not o.defects and len(o.lines) >= 2)
    rows = zoho.record("Sales_Orders", order.crm_id)["Ordered_Items"]
    product_id = rows[0]["Product_Name"]["id"]
    r = zoho.put(
        f"/Sales_Orders/{order.crm_id}",
        {
            "data": [
                {
                    "Ordered_Items": [
                        {"id": rows[0]["id"], "Confirmed_Quantity__c": 5},
                        {"id": rows[1]["id"], "_delete": None},
                        {"Product_Name": {"id": product_id}, "Quantity": 2, "List_Price": 10},
                    ]
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    after = zoho.record("Sales_Orders", order.crm_id)["Ordered_Items"]
    assert len(after) == len(rows)  # one deleted, one appended
    assert after[0]["Confirmed_Quantity__c"] == 5
    assert rows[1]["id"] not in {row["id"] for row in after}
    assert after[-1]["Total"] == 20 and after[-1]["id"] not in {row["id"] for row in rows}


def test_throttling_and_server_error_envelopes(zoho: Zoho, sandbox: dict[str, Any]) -> None:
    zoho.headers()  # token first: faults hit the API, not the accounts server
    control = sandbox["control_url"] + "/faults"
    requests.post(control, json={"system": "zoho_crm", "burst_429": 1, "burst_5xx": 1}, timeout=10).raise_for_status()
    throttled = zoho.get("/Accounts", {"fields": "Account_Name"})
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
    assert throttled.json()["code"] == "TOO_MANY_REQUESTS" and throttled.json()["status"] == "error"
    broken = zoho.get("/Accounts", {"fields": "Account_Name"})
    assert broken.status_code == 500 and broken.json()["code"] == "INTERNAL_ERROR"
    assert zoho.get("/Accounts", {"fields": "Account_Name"}).status_code == 200
