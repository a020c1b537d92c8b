"""The SF Express route query emulator (issue 10) over real HTTP: the report's msgDigest vector, SF's
platform errors, routes of the waybills the Qimen WMS emulator handed over, scanned on the sandbox
clock up to 80 签收, and a hypothesis fuzz of the form and msgData (never a 500).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fuzzing
import pytest
from hypothesis import given
from hypothesis import strategies as st
from qimen_client import Sandbox, sf_digest, utc

from sandbox.clock import DEFAULT_START
from sandbox.qimen_plan import Traits, traits
from sandbox.seed_data import generate

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 23, 40
ITEM = next(s.material for s in generate(SEED, ORDERS, DEFAULT_START).stock if s.plant == "1010")
VECTOR_MSG = (
    '{"language":"0","trackingType":"1","trackingNumber":["SF1234567890123"],"methodType":"1","checkPhoneNo":"5678"}'
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    for info in fuzzing.module_sandbox(SEED, ORDERS):
        yield Sandbox(info)


def test_report_digest_vector(sandbox: Sandbox) -> None:
    assert sf_digest(VECTOR_MSG, "1716171330000", "testcheckword") == "uUIgZzf1V5JcGQuo096wQQ=="
    sandbox.control_post("/sf_express/credentials", {"partner_id": "TESTPARTNER", "check_word": "testcheckword"})
    before = sandbox.now()
    sandbox.clock(now="2024-05-20T02:16:00Z")  # 1716171330000 ms is 02:15:30 UTC
    try:
        form = {
            "partnerID": "TESTPARTNER",
            "requestID": "a1b2c3d4-0000-4000-8000-000000000000",
            "serviceCode": "EXP_RECE_SEARCH_ROUTES",
            "timestamp": "1716171330000",
            "msgDigest": "uUIgZzf1V5JcGQuo096wQQ==",
            "msgData": VECTOR_MSG,
        }
        body = sandbox.sf_post(form)
        assert body["apiResultCode"] == "A1000", body
        data = json.loads(body["apiResultData"])
        assert data["msgData"]["routeResps"] == [{"mailNo": "SF1234567890123", "routes": []}]  # not one of ours
        assert sandbox.sf_post({**form, "msgDigest": "vUIgZzf1V5JcGQuo096wQQ=="})["apiResultCode"] == "A1006"
        assert sandbox.sf_post({**form, "msgData": VECTOR_MSG + " "})["apiResultCode"] == "A1006"
    finally:
        sandbox.clock(now=before.isoformat())


def test_platform_errors(sandbox: Sandbox) -> None:
    msg = json.dumps({"trackingType": "1", "trackingNumber": ["SF1000000000000"]})
    assert sandbox.sf_post(sandbox.sf_form(msg))["apiResultCode"] == "A1000"
    assert sandbox.sf_post(sandbox.sf_form(msg, msgDigest=None))["apiResultCode"] == "A1001"
    assert sandbox.sf_post(sandbox.sf_form(msg, partnerID="NOBODY"))["apiResultCode"] == "A1004"
    assert sandbox.sf_post(sandbox.sf_form(msg, serviceCode="EXP_RECE_CREATE_ORDER"))["apiResultCode"] == "A1004"
    wrong = sandbox.sf_post(sandbox.sf_form(msg, msgDigest="AAAAAAAAAAAAAAAAAAAAAA=="))
    assert (wrong["apiResultCode"], wrong["apiResultData"]) == ("A1006", None)
    # A timestamp is epoch milliseconds; SF documents no freshness window, so an old one passes.
    for stamp, code in (("2024-05-20", "A1002"), (str(int(sandbox.now().timestamp() * 1000) - 86_400_000), "A1000")):
        form = sandbox.sf_form(msg, timestamp=stamp, msgDigest=sf_digest(msg, stamp, sandbox.sf["check_word"]))
        assert sandbox.sf_post(form)["apiResultCode"] == code
    for bad, code in (("not json", "1010"), ("[1]", "1010"), ('{"trackingNumber": []}', "8013")):
        answer = sandbox.sf_post(sandbox.sf_form(bad))
        assert answer["apiResultCode"] == "A1000"
        data = json.loads(answer["apiResultData"])
        assert (data["success"], data["errorCode"]) == (False, code), data


def test_routes_of_the_wms_waybills_up_to_signed(sandbox: Sandbox) -> None:
    code = next(c for c in (f"SF-{n}" for n in range(1000)) if traits(SEED, c) == Traits("complete", "SF", 1))
    assert sandbox.create(code, [("1", ITEM, 2)], city="杭州市")["flag"] == "success"
    shipped = utc(sandbox.orders()[code]["plan"]["shipments"][0]["due"])
    sandbox.clock(now=shipped.isoformat())
    (number,) = sandbox.orders()[code]["shipments"][0]["expressCodes"]
    assert sandbox.routes([number]) == {number: []}  # handed over, not yet scanned
    sandbox.advance(1)
    routes = sandbox.routes([number])[number]
    assert [r["opCode"] for r in routes] == ["50"] and routes[0]["remark"].startswith("顺丰速运 已收取快件")
    sandbox.advance(24 * 4)
    routes = sandbox.routes([number])[number]
    assert [r["opCode"] for r in routes] == ["50", "30", "31", "44", "80"]
    assert routes[-1]["acceptAddress"] == "杭州市" and "签收" in routes[-1]["remark"]
    times = [r["acceptTime"] for r in routes]
    assert times == sorted(times)
    signed = utc(times[-1].replace(" ", "T") + "+08:00")
    assert 1 <= (signed - shipped).total_seconds() / 86400 <= 3.1
    by_order = sandbox.routes([code], tracking_type="2")
    assert list(by_order) == [number] and by_order[number] == routes


def _form_text() -> st.SearchStrategy[str]:
    return st.text(max_size=40) | st.sampled_from([*fuzzing.NASTY_TEXT, "", "EXP_RECE_SEARCH_ROUTES", "A1000"])


@fuzzing.FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(["partnerID", "requestID", "serviceCode", "timestamp", "msgDigest", "msgData", "x"]),
        _form_text(),
        max_size=7,
    )
)
def test_fuzz_form_never_fails_the_server(sandbox: Sandbox, fields: dict[str, str]) -> None:
    answer = sandbox.sf_post({k: v.encode("utf-8", "surrogatepass") for k, v in fields.items()})  # type: ignore[misc]
    assert answer["apiResultCode"] != "A1000" or "msgData" in fields


@fuzzing.FUZZ
@given(
    payload=fuzzing.json_values()
    | st.fixed_dictionaries({"trackingType": fuzzing.scalars(), "trackingNumber": fuzzing.json_values()})
)
def test_fuzz_msg_data_with_a_good_digest(sandbox: Sandbox, payload: Any) -> None:
    answer = sandbox.sf_post(sandbox.sf_form(json.dumps(payload)))
    assert answer["apiResultCode"] == "A1000", answer
    data = json.loads(answer["apiResultData"])
    assert isinstance(data["success"], bool) and isinstance(data["errorCode"], str)
    if data["success"]:
        assert all(isinstance(r["routes"], list) for r in data["msgData"]["routeResps"])


@fuzzing.FUZZ
@given(raw=st.binary(max_size=300))
def test_fuzz_raw_body(sandbox: Sandbox, raw: bytes) -> None:
    sandbox.sf_post(raw)
