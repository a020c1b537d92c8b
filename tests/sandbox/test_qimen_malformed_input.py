"""Malformed input to the Qimen WMS emulator (issue 10): whatever the query string and body, the
answer is HTTP 200 ``text/xml`` with ``<response><flag/><code/><message/></response>``, never a 500,
a stack trace or the emulator's catch-all code. Bodies are signed correctly, so the fuzz reaches the
XML parser and the methods' own checks, not only the sign check.

Property-based (hypothesis) over real HTTP against one sandbox process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import fuzzing
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from qimen_client import OWNER, Sandbox, assert_envelope, create_body, sign

from sandbox.clock import DEFAULT_START
from sandbox.seed_data import generate

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 29, 40
ITEMS = sorted({s.material for s in generate(SEED, ORDERS, DEFAULT_START).stock})[:3]
METHODS = ["stockout.create", "order.cancel", "stockout.query", "orderprocess.query", "inventory.query"]
TAGS = [
    "deliveryOrder",
    "deliveryOrderCode",
    "orderType",
    "warehouseCode",
    "createTime",
    "totalOrderLines",
    "orderLines",
    "orderLine",
    "order_lines",
    "order_line",
    "orderLineNo",
    "ownerCode",
    "itemCode",
    "planQty",
    "receiverInfo",
    "criteriaList",
    "criteria",
    "orderCode",
    "extendProps",
    "items",
    "x",
]
QIMEN_TEXT = [
    "B2BCK",
    "WH-SH01",
    OWNER,
    *ITEMS,
    "2026-11-30 08:00:00",
    "-1",
    "0",
    "1.0",
    "١٢",
    "<![CDATA[x]]>",
    "&amp;",
    "]]>",
]
FUZZ = fuzzing.FUZZ
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def texts() -> st.SearchStrategy[str]:
    return st.text(max_size=30) | st.sampled_from([*fuzzing.NASTY_TEXT, *QIMEN_TEXT])


def clean(text: str) -> str:
    return escape(_NOT_XML.sub("", text))


elements = st.recursive(
    st.tuples(st.sampled_from(TAGS), texts().map(clean)),
    lambda children: st.tuples(st.sampled_from(TAGS), st.lists(children, max_size=4)),
    max_leaves=20,
)


def render(node: Any) -> str:
    tag, content = node
    inner = content if isinstance(content, str) else "".join(render(child) for child in content)
    return f"<{tag}>{inner}</{tag}>"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    for info in fuzzing.module_sandbox(SEED, ORDERS):
        yield Sandbox(info)


@FUZZ
@given(method=st.sampled_from(METHODS), body=st.binary(max_size=400))
def test_any_bytes_signed(sandbox: Sandbox, method: str, body: bytes) -> None:
    answer = sandbox.call(method, body)
    assert answer["flag"] == "failure"


@FUZZ
@given(method=st.sampled_from(METHODS), children=st.lists(elements, max_size=5), declaration=st.booleans())
def test_any_xml_tree_signed(sandbox: Sandbox, method: str, children: list[Any], declaration: bool) -> None:
    body = ('<?xml version="1.0" encoding="utf-8"?>' if declaration else "") + render(("request", children))
    answer = sandbox.call(method, body)
    if answer["flag"] == "success" and method == "stockout.create":
        assert sandbox.call(method, body)["deliveryOrderId"] == answer["deliveryOrderId"]  # a repeat


@FUZZ
@given(
    code=texts(),
    qty=texts() | st.integers(-5, 10**12).map(str),
    warehouse=st.sampled_from(["WH-SH01", "WH-SZ01", "OTHER", ""]),
    total=st.none() | st.integers(0, 4),
    raw_code=st.booleans(),
)
def test_stockout_create_fields(
    sandbox: Sandbox, code: str, qty: str, warehouse: str, total: int | None, raw_code: bool
) -> None:
    # raw_code puts the text unescaped into the document: often not well-formed at all.
    body = create_body(code if raw_code else clean(code), [("1", ITEMS[0], 1)], warehouse=warehouse, total=total)
    body = body.replace("<planQty>1</planQty>", f"<planQty>{clean(qty)}</planQty>")
    answer = sandbox.call("stockout.create", body.encode("utf-8", "surrogatepass"))
    if answer["flag"] == "success":
        assert re.fullmatch(r"WMSCK\d{11}", answer["deliveryOrderId"])


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["method", "timestamp", "format", "app_key", "v", "sign", "sign_method", "customerId", "x"]),
        texts(),
        max_size=9,
    ),
    body=st.binary(max_size=100),
)
def test_any_query_string(sandbox: Sandbox, params: dict[str, str], body: bytes) -> None:
    query = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in params.items()})
    answer = assert_envelope(sandbox.post_raw(query, body))
    assert answer["flag"] == "failure"


@FUZZ
@given(overrides=st.dictionaries(st.sampled_from(["timestamp", "format", "v", "method", "customerId"]), texts()))
def test_signed_system_params(sandbox: Sandbox, overrides: dict[str, str]) -> None:
    """Well signed, odd values: every system parameter check answers in the envelope."""
    body = b"<request><criteriaList><criteria><itemCode>X</itemCode></criteria></criteriaList></request>"
    params = {**sandbox.params("inventory.query"), **overrides}
    params = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in params.items()}
    params["sign"] = sign(params.items(), body, sandbox.qimen["secret"])
    assert_envelope(sandbox.post_raw(urlencode(params), body))


def test_other_http_methods_and_paths(sandbox: Sandbox) -> None:
    r = requests.get(sandbox.qimen["url"], timeout=10)
    assert r.status_code == 200 and b"invalid-http-method" in r.content
    r = requests.post(sandbox.qimen["url"].replace("/service", "/nothing"), timeout=10)
    assert r.status_code == 404 and b"<flag>failure</flag>" in r.content
