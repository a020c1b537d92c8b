"""SF Express route query: the report's msgDigest vector, Java URLEncoder rules, and the client over HTTP
(a scripted server on loopback) with apiResultData's second parse and typed errors."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qsl

import pytest

from connectors.http import PermanentError, RetryPolicy
from connectors.sf_express import (
    CHINA_TIME,
    SfApiError,
    SfBusinessError,
    SfClient,
    java_url_encode,
    msg_digest,
    routes_msg_data,
)

VECTOR_MSG_DATA = (
    '{"language":"0","trackingType":"1","trackingNumber":["SF1234567890123"],"methodType":"1","checkPhoneNo":"5678"}'
)


def test_the_report_vector():
    assert routes_msg_data(["SF1234567890123"], check_phone="5678") == VECTOR_MSG_DATA
    assert msg_digest(VECTOR_MSG_DATA, 1716171330000, "testcheckword") == "uUIgZzf1V5JcGQuo096wQQ=="


def test_java_url_encoder_rules():
    assert java_url_encode("a b*c~d.e-f_g") == "a+b*c%7Ed.e-f_g"
    assert java_url_encode('{"k":"签收"}') == "%7B%22k%22%3A%22%E7%AD%BE%E6%94%B6%22%7D"


def _answer(result: dict | None = None, code: str = "A1000", message: str = "") -> str:
    return json.dumps(
        {
            "apiResultCode": code,
            "apiErrorMsg": message,
            "apiResponseID": "R1",
            "apiResultData": json.dumps(result, ensure_ascii=False) if result is not None else None,
        },
        ensure_ascii=False,
    )


ROUTES = {
    "success": True,
    "errorCode": "S0000",
    "errorMsg": None,
    "msgData": {
        "routeResps": [
            {
                "mailNo": "SF1234567890123",
                "routes": [
                    {"acceptTime": "2024-05-21 16:40:00", "acceptAddress": "上海", "remark": "已收件", "opCode": "50"},
                    {"acceptTime": "2024-05-22 10:05:00", "acceptAddress": "苏州", "remark": "已签收", "opCode": "80"},
                ],
            },
            {"mailNo": "SF0000000000000", "routes": []},
        ]
    },
}


def client(server):
    return SfClient(
        f"{server.url}/std/service",
        "PARTNER01",
        "testcheckword",
        clock_ms=lambda: 1716171330000,
        request_id=lambda: "req-1",
        retry=RetryPolicy(max_attempts=2, base=0, cap=0),
        sleep=lambda _s: None,
    )


def test_routes_posts_the_signed_form_and_reads_the_second_parse(scripted_server, reply):
    scripted_server.script(reply(status=503), reply(body=_answer(ROUTES)))
    with client(scripted_server) as sf:
        found = sf.routes(["SF1234567890123", "SF0000000000000"], check_phone="5678")
    assert len(scripted_server.hits) == 2, "a 503 is retried: the query is a read"
    form = dict(parse_qsl(scripted_server.hits[-1].body.decode()))
    assert form["partnerID"] == "PARTNER01" and form["serviceCode"] == "EXP_RECE_SEARCH_ROUTES"
    assert (form["requestID"], form["timestamp"]) == ("req-1", "1716171330000")
    assert json.loads(form["msgData"])["trackingNumber"] == ["SF1234567890123", "SF0000000000000"]
    assert form["msgDigest"] == msg_digest(form["msgData"], form["timestamp"], "testcheckword")
    assert "testcheckword" not in scripted_server.hits[-1].body.decode()
    first, second = found
    assert first.mail_no == "SF1234567890123" and [r.op_code for r in first.routes] == ["50", "80"]
    assert first.signed_for_at == datetime(2024, 5, 22, 10, 5, tzinfo=CHINA_TIME)
    assert first.routes[0].accept_address == "上海" and not first.routes[0].signed_for
    assert second.routes == () and second.signed_for_at is None


def test_errors_are_typed(scripted_server, reply):
    cases = [
        (_answer(code="A1006", message="数字签名无效"), SfApiError, "A1006"),
        (_answer({"success": False, "errorCode": "8152", "errorMsg": "查询失败"}), SfBusinessError, "8152"),
        (json.dumps({"apiResultCode": "A1000", "apiResultData": "{not json"}), PermanentError, "MALFORMED_RESPONSE"),
        ("<html>", PermanentError, "MALFORMED_RESPONSE"),
    ]
    for body, error, code in cases:
        scripted_server.script(reply(body=body))
        with client(scripted_server) as sf, pytest.raises(error) as caught:
            sf.routes(["SF1"])
        assert caught.value.code == code
    with client(scripted_server) as sf:
        assert sf.routes([]) == []
