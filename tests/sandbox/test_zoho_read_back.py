"""Zoho writes read back the way Zoho returns them (issue 9): lookups written as an id come back in full
(``{"id", "name"}``, users with ``email``); search, COQL, upsert, insert and delete are refused with
Zoho's error shape rather than answered wrongly; the field metadata matches what the emulator enforces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def zoho() -> Iterator[dict[str, Any]]:
    with running_sandbox(seed=5, orders=40) as info:
        z = info["systems"]["zoho_crm"]
        token = requests.post(
            z["accounts_url"] + "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": z["client_id"],
                "client_secret": z["client_secret"],
                "refresh_token": z["refresh_token"],
            },
            timeout=10,
        ).json()["access_token"]
        yield {"api": z["api_domain"] + "/crm/v8", "headers": {"Authorization": f"Zoho-oauthtoken {token}"}}


def call(zoho: dict[str, Any], method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, zoho["api"] + path, headers=zoho["headers"], timeout=30, **kwargs)


def ids(zoho: dict[str, Any], module: str) -> list[str]:
    return [r["id"] for r in call(zoho, "GET", f"/{module}", params={"fields": "id"}).json()["data"]]


def test_lookups_written_as_ids_read_back_in_full(zoho: dict[str, Any]) -> None:
    order_id = ids(zoho, "Sales_Orders")[0]
    account_id, other_account = ids(zoho, "Accounts")[:2]
    product_id = ids(zoho, "Products")[0]
    price_book = ids(zoho, "Price_Books")[0]
    user = call(zoho, "GET", "/users", params={"type": "AllUsers"}).json()["users"][1]
    rows = call(zoho, "GET", f"/Sales_Orders/{order_id}").json()["data"][0]["Ordered_Items"]

    r = call(
        zoho,
        "PUT",
        f"/Sales_Orders/{order_id}",
        json={
            "data": [
                {
                    "Account_Name": {"id": account_id},
                    "Owner": user["id"],
                    "Ordered_Items": [
                        {"id": rows[0]["id"], "Product_Name": {"id": product_id}, "Price_Book_Name": price_book},
                        {"Product_Name": product_id, "Quantity": 3, "Line_Tax": [{"name": "VAT", "percentage": 19}]},
                    ],
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    got = call(zoho, "GET", f"/Sales_Orders/{order_id}").json()["data"][0]
    account = call(zoho, "GET", f"/Accounts/{account_id}").json()["data"][0]
    product = call(zoho, "GET", f"/Products/{product_id}").json()["data"][0]
    book = call(zoho, "GET", f"/Price_Books/{price_book}").json()["data"][0]
    assert got["Account_Name"] == {"id": account_id, "name": account["Account_Name"]}
    assert got["Owner"] == {"name": user["full_name"], "id": user["id"], "email": user["email"]}
    first, new = got["Ordered_Items"][0], got["Ordered_Items"][-1]
    assert first["Product_Name"] == {"id": product_id, "name": product["Product_Name"]}
    assert first["Price_Book_Name"] == {"id": price_book, "name": book["Price_Book_Name"]}
    assert new["Product_Name"] == {"id": product_id, "name": product["Product_Name"]}
    assert new["Line_Tax"][0]["percentage"] == 19 and new["Tax"] == round(new["Total_After_Discount"] * 0.19, 2)

    # The list route shows the same full form.
    listed = call(zoho, "GET", "/Sales_Orders", params={"fields": "Account_Name", "ids": order_id}).json()["data"]
    assert listed[0]["Account_Name"]["name"] == account["Account_Name"]

    # A lookup to a module the emulator does not hold, or to a missing record, is refused, not stored.
    for item in ({"Contact_Name": {"id": "1"}}, {"Account_Name": {"id": "999"}}, {"Account_Name": [other_account]}):
        bad = call(zoho, "PUT", "/Sales_Orders", json={"data": [{"id": order_id, **item}]})
        assert bad.status_code == 400 and bad.json()["data"][0]["code"] == "INVALID_DATA", bad.text
    assert call(zoho, "GET", f"/Sales_Orders/{order_id}").json()["data"][0]["Account_Name"]["id"] == account_id


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/Sales_Orders/search", {"params": {"criteria": "(Status:equals:Created)"}}),
        ("POST", "/coql", {"json": {"select_query": "select id from Sales_Orders where Status = 'Created'"}}),
        ("POST", "/Sales_Orders/upsert", {"json": {"data": [{"Subject": "x"}], "duplicate_check_fields": ["id"]}}),
        ("POST", "/Sales_Orders", {"json": {"data": [{"Subject": "x"}]}}),
        ("DELETE", "/Sales_Orders", {"params": {"ids": "1"}}),
    ],
)
def test_unemulated_apis_are_refused_clearly(
    zoho: dict[str, Any], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    r = call(zoho, method, path, **kwargs)
    assert r.status_code == 400
    body = r.json()
    assert (body["code"], body["status"]) == ("NOT_SUPPORTED", "error")
    assert "not supported in this emulator" in body["message"]


def test_field_metadata_matches_what_updates_enforce(zoho: dict[str, Any]) -> None:
    fields = {
        f["api_name"]: f
        for f in call(zoho, "GET", "/settings/fields", params={"module": "Sales_Orders"}).json()["fields"]
    }
    status = fields["Status"]
    assert status["data_type"] == "picklist" and status["json_type"] == "string"
    allowed = {v["actual_value"] for v in status["pick_list_values"]}
    assert "Confirmed" in allowed and "Teleported" not in allowed
    assert fields["Account_Name"]["lookup"]["module"]["api_name"] == "Accounts"
    assert fields["Ordered_Items"]["data_type"] == "subform"
    assert fields["Ordered_Items"]["associated_module"]["module"] == "Ordered_Items"
    assert fields["Grand_Total"]["read_only"] is True
    assert fields["Subject"]["length"] == 255
    rows = call(zoho, "GET", "/settings/fields", params={"module": "Ordered_Items"}).json()["fields"]
    assert {"Product_Name", "Quantity", "Line_Tax"} <= {f["api_name"] for f in rows}
    for params, code in (({}, "REQUIRED_PARAM_MISSING"), ({"module": "Contacts"}, "INVALID_MODULE")):
        r = call(zoho, "GET", "/settings/fields", params=params)
        assert r.status_code == 400 and r.json()["code"] == code
    me = call(zoho, "GET", "/users", params={"type": "CurrentUser"}).json()
    assert len(me["users"]) == 1 and me["users"][0]["profile"]["name"] == "Administrator"
    assert call(zoho, "GET", "/org").json()["org"][0]["zgid"]
    modules = {m["api_name"] for m in call(zoho, "GET", "/settings/modules").json()["modules"]}
    assert modules == {"Sales_Orders", "Accounts", "Products", "Price_Books", "Tasks"}
