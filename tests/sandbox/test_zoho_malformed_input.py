"""Malformed input to the Zoho CRM emulator (issue 9): every answer is Zoho's documented shape, never a
500 or a stack trace, and a failed update leaves the record untouched and still updatable.

Property-based (hypothesis) over real HTTP against one sandbox process: arbitrary query values for
Get Records (fields, page, per_page, page_token, sort_by, sort_order, ids, If-Modified-Since), get by
id, Update Records (bulk and single) with any JSON where values belong (objects where scalars belong,
numbers out of range, deep nesting, unicode, huge strings), raw bodies that are not JSON (invalid
UTF-8, NaN, nesting beyond any parser), the token endpoint's form values, the metadata endpoints,
the refused search / COQL / upsert, and methods the API does not serve.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import fuzzing
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.testing import running_sandbox
from sandbox.zoho_schema import MODULE_FIELDS, ORDERED_ITEM_FIELDS

pytestmark = pytest.mark.sandbox

FUZZ = fuzzing.FUZZ
ENVELOPE = {"code", "details", "message", "status"}

# -- the sandbox and a client holding one token ------------------------------------------------------


class Client:
    def __init__(self, info: dict[str, Any]) -> None:
        self.zoho = info["systems"]["zoho_crm"]
        self.control = info["control_url"]
        self.api = self.zoho["api_domain"] + "/crm/v8"
        self.token_url = self.zoho["accounts_url"] + "/oauth/v2/token"
        self._token: str | None = None
        self.ids = self._ids()

    def _grant(self) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "client_id": self.zoho["client_id"],
            "client_secret": self.zoho["client_secret"],
            "refresh_token": self.zoho["refresh_token"],
        }

    def headers(self) -> dict[str, str]:
        if self._token is None:
            r = requests.post(self.token_url, data=self._grant(), timeout=10)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return {"Authorization": f"Zoho-oauthtoken {self._token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return requests.request(method, self.api + path, headers=headers, timeout=30, **kwargs)

    def _ids(self) -> dict[str, list[str]]:
        out = {}
        for module in MODULE_FIELDS:
            r = self.call("GET", f"/{module}", params={"fields": "id", "per_page": 200})
            out[module] = [d["id"] for d in r.json()["data"]] if r.status_code == 200 else []  # 204: none yet
        return out

    def stored(self, module: str, record_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.control}/records/zoho_crm/{module}/{record_id}", timeout=10)
        r.raise_for_status()
        return r.json()["record"]


@pytest.fixture(scope="module")
def zoho() -> Iterator[Client]:
    # Its own sandbox with a generous token budget: the token endpoint is fuzzed too.
    with running_sandbox(seed=11, orders=60, faults={"system": "zoho_crm", "token_rate_limit": 100000}) as info:
        yield Client(info)


# -- what a well-formed answer looks like -------------------------------------------------------------


def assert_zoho_answer(r: requests.Response) -> Any:
    """No 5xx; 204/304 empty; otherwise JSON, and an error is Zoho's ``{code, details, message, status}``."""
    assert r.status_code < 500, (r.status_code, r.text[:500])
    assert "Traceback" not in r.text
    if r.status_code in (204, 304):
        assert r.content == b""
        return None
    assert r.headers.get("content-type", "").startswith("application/json"), (r.status_code, r.text[:300])
    body = r.json()
    if r.status_code >= 400 and not (isinstance(body, dict) and "data" in body):
        assert set(body) == ENVELOPE, body
        assert body["status"] == "error" and isinstance(body["code"], str) and isinstance(body["details"], dict)
    return body


def assert_record_results(body: Any, count: int) -> list[dict[str, Any]]:
    assert isinstance(body, dict) and isinstance(body.get("data"), list), body
    assert len(body["data"]) == count
    for result in body["data"]:
        assert set(result) == ENVELOPE, result
        assert result["status"] in ("success", "error")
    return body["data"]


# -- strategies ---------------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
HUGE_TEXT = st.integers(min_value=1, max_value=200_000).map(lambda n: "é" * n)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**63, -(2**63) - 1, 10**30]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, HUGE_TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=10,
)


def deep(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"id": value}
    return value


DEEP = st.sampled_from([50, 400, 800]).map(deep)  # deeper ones go as raw bodies (RAW_BODIES)
VALUES = st.one_of(JSON_VALUES, DEEP, st.sampled_from([{"id": "1"}, {"id": None}, [], {}, "", "2026-13-45", True]))
# Query strings stay under the HTTP server's request-line limit (uvicorn/h11 refuses longer lines
# before any emulator code runs); huge values go in bodies.
# What HTTP lets through in a header value (h11 refuses control characters and edge whitespace).
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60).map(
    lambda s: s.strip() or "x"
)
QUERY_VALUES = st.one_of(TEXT, HUGE_TEXT.map(lambda s: s[:1500]), NUMBERS.map(str), st.just(""))
LIST_PARAMS = ("fields", "page", "per_page", "page_token", "sort_by", "sort_order", "ids", "cvid", "converted")


def field_names(module: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(sorted(MODULE_FIELDS[module])), TEXT, st.just("$currency_symbol"))


# -- reads --------------------------------------------------------------------------------------------


@FUZZ
@given(
    module=st.sampled_from([*MODULE_FIELDS, "Contacts", "Ordered_Items", "settings"]),
    params=st.dictionaries(st.sampled_from(LIST_PARAMS), QUERY_VALUES, max_size=5),
    keep_fields=st.booleans(),
    since=st.one_of(
        st.none(), HEADER_TEXT, st.sampled_from(["2026-01-01T00:00:00", "Tue, 01 Sep 2026 00:00:00 -0000"])
    ),
)
def test_get_records_with_any_query(
    zoho: Client, module: str, params: dict[str, str], keep_fields: bool, since: str | None
) -> None:
    if keep_fields and "fields" not in params:
        params["fields"] = "id,Modified_Time"
    headers = {}
    if since is not None:
        headers["If-Modified-Since"] = since
    assert_zoho_answer(zoho.call("GET", f"/{module}", params=params, headers=headers))


@FUZZ
@given(
    module=st.sampled_from([*MODULE_FIELDS, "Nope"]),
    # No line breaks in a path: the app's Mount("/zoho") pattern (sandbox/app.py) does not match
    # them, so Starlette itself answers a plain 404 before the emulator sees the call.
    record_id=st.one_of(
        TEXT.filter(lambda s: s.strip("./") != "" and not any(c in s for c in "\n\r\x85\u2028\u2029")), st.just("REAL")
    ),
    fields=st.one_of(st.none(), QUERY_VALUES),
)
def test_get_one_with_any_id(zoho: Client, module: str, record_id: str, fields: str | None) -> None:
    if record_id == "REAL":
        record_id = (zoho.ids.get(module) or ["1"])[0]
    params = {"fields": fields} if fields is not None else None
    assert_zoho_answer(zoho.call("GET", f"/{module}/{quote(record_id, safe='')}", params=params))


@FUZZ
@given(
    path=st.sampled_from(
        ["/settings/fields", "/settings/modules", "/users", "/org", "/settings/modules/Sales_Orders", "/users/1"]
    ),
    params=st.dictionaries(st.sampled_from(["module", "type", "page", "per_page", "include"]), QUERY_VALUES),
)
def test_metadata_with_any_query(zoho: Client, path: str, params: dict[str, str]) -> None:
    assert_zoho_answer(zoho.call("GET", path, params=params))


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=st.sampled_from(["/coql", "/Sales_Orders/search", "/Sales_Orders/upsert", "/Sales_Orders", "/org"]),
    body=VALUES,
    params=st.dictionaries(st.sampled_from(["criteria", "word", "email", "select_query"]), QUERY_VALUES),
)
def test_refused_and_unserved_calls(zoho: Client, method: str, path: str, body: Any, params: dict[str, str]) -> None:
    r = zoho.call(method, path, params=params, json=body if method != "GET" else None)
    assert_zoho_answer(r)
    served = {("POST", "/coql"), ("GET", "/Sales_Orders/search"), ("POST", "/Sales_Orders/upsert")}
    if (method, path) in served:
        assert (r.status_code, r.json()["code"]) == (400, "NOT_SUPPORTED")


# -- the token endpoint -------------------------------------------------------------------------------


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["grant_type", "client_id", "client_secret", "refresh_token", "code", "scope"]), QUERY_VALUES
    ),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
    as_query=st.booleans(),
)
def test_token_endpoint_with_any_form(zoho: Client, form: dict[str, str], raw: bytes | None, as_query: bool) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if raw is not None:
        r = requests.post(zoho.token_url, data=raw, headers=headers, timeout=10)
    elif as_query:
        r = requests.post(zoho.token_url, params=form, timeout=10)
    else:
        r = requests.post(zoho.token_url, data=form, timeout=10)
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    body = r.json()
    assert ("access_token" in body) != ("error" in body), body


# -- writes: never a 500, never half-applied ------------------------------------------------------------


def _bodies(draw: st.DrawFn, zoho: Client, module: str) -> tuple[Any, list[str]]:
    ids = zoho.ids[module]
    shape = draw(st.sampled_from(["records", "records", "records", "any", "data_any"]))
    if shape == "any":
        return draw(VALUES), []
    if shape == "data_any":
        return {"data": draw(VALUES), "trigger": draw(VALUES)}, []
    chosen = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
    records = []
    for record_id in chosen:
        item: dict[str, Any] = {"id": record_id}
        for name in draw(st.lists(field_names(module), max_size=3)):
            item[name] = draw(VALUES)
        if module == "Sales_Orders" and draw(st.booleans()):
            item["Ordered_Items"] = draw(_rows(zoho, record_id))
        records.append(item)
    if draw(st.booleans()):
        records.append(draw(VALUES))
    return {"data": records}, chosen


def _rows(zoho: Client, record_id: str) -> st.SearchStrategy[Any]:
    existing = [row["id"] for row in zoho.stored("Sales_Orders", record_id).get("Ordered_Items") or []]
    row_ids = st.sampled_from(existing) if existing else st.just("1")
    product = st.sampled_from(zoho.ids["Products"]).map(lambda i: {"id": i})
    row = st.fixed_dictionaries(
        {},
        optional={
            "id": row_ids,
            "_delete": st.none(),
            "Product_Name": st.one_of(product, VALUES),
            "Quantity": st.one_of(NUMBERS, VALUES),
            "List_Price": NUMBERS,
            "Discount": NUMBERS,
            "Line_Tax": VALUES,
            "Price_Book_Name": VALUES,
            "Sequence_Number": VALUES,
            "Description": VALUES,
        },
    )
    return st.one_of(st.lists(row, max_size=3), VALUES)


@st.composite
def updates(draw: st.DrawFn, zoho: Client) -> tuple[str, Any, list[str], bool]:
    module = draw(st.sampled_from(sorted(m for m in MODULE_FIELDS if zoho.ids[m])))  # Tasks: none seeded
    body, ids = _bodies(draw, zoho, module)
    single = bool(ids) and len(ids) == 1 and draw(st.booleans())
    return module, body, ids, single


def _still_updatable(zoho: Client, module: str, record_id: str) -> None:
    r = zoho.call("PUT", f"/{module}", json={"data": [{"id": record_id, "Description": "still updatable"}]})
    assert r.status_code == 200, r.text
    assert zoho.stored(module, record_id)["Description"] == "still updatable"


@FUZZ
@given(data=st.data())
def test_update_with_any_body(zoho: Client, data: st.DataObject) -> None:
    module, body, ids, single = data.draw(updates(zoho))
    before = {i: zoho.stored(module, i) for i in ids}
    path = f"/{module}/{ids[0]}" if single else f"/{module}"
    r = zoho.call("PUT", path, json=body)
    answer = assert_zoho_answer(r)
    if r.status_code in (200, 207) or (r.status_code == 400 and isinstance(answer, dict) and "data" in answer):
        sent = body["data"][:1] if single else body["data"]
        results = assert_record_results(answer, len(sent))
        assert r.status_code == (
            200
            if all(x["status"] == "success" for x in results)
            else 400
            if all(x["status"] == "error" for x in results)
            else 207
        )
        failed = {
            x["id"]
            for x, res in zip(sent, results, strict=True)
            if res["status"] == "error" and isinstance(x, dict) and isinstance(x.get("id"), str)
        }
    else:
        failed = set(ids)
    for record_id in ids:
        if record_id in failed:
            assert zoho.stored(module, record_id) == before[record_id], f"half-applied write to {record_id}"
        after = zoho.stored(module, record_id)
        json.dumps(after, allow_nan=False)  # what the emulator keeps, it can send
        _still_updatable(zoho, module, record_id)


RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b'{"data": [{"id": "ID", "Quantity": NaN}]}',
            b'{"data": [{"id": "ID", "Discount": Infinity}]}',
            b'{"data": [{"id": "ID", "Adjustment": -Infinity}]}',
            b'{"data": [{"id": "ID", "Subject": "\\ud800"}]}',
            b'{"data": [{"id": "ID", "Subject": "\xff\xfe"}]}',
            b'{"data": [{"id": "ID", "Adjustment": 1' + b"0" * 5000 + b"}]}",
            b'{"data": [{"id": "ID", "Subject": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}",
            b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            b"",
            b"null",
        ]
    ),
)


@FUZZ
@given(raw=RAW_BODIES, single=st.booleans())
def test_update_with_raw_bodies(zoho: Client, raw: bytes, single: bool) -> None:
    record_id = zoho.ids["Sales_Orders"][0]
    before = zoho.stored("Sales_Orders", record_id)
    path = f"/Sales_Orders/{record_id}" if single else "/Sales_Orders"
    r = zoho.call(
        "PUT", path, data=raw.replace(b"ID", record_id.encode()), headers={"Content-Type": "application/json"}
    )
    assert_zoho_answer(r)
    if r.status_code >= 400:
        assert zoho.stored("Sales_Orders", record_id) == before
    _still_updatable(zoho, "Sales_Orders", record_id)


def test_ordered_item_fields_are_known() -> None:
    # The row strategy above names real subform fields.
    assert {"Quantity", "List_Price", "Line_Tax", "Product_Name"} <= ORDERED_ITEM_FIELDS
