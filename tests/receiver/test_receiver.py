"""The receiver over real HTTP (uvicorn on loopback) and real hub databases (SQLite and PostgreSQL):
signed pushes, refusals, replays, and a database that is down."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from receiver_support import APP_KEY, CUSTOMER_ID, SECRET, signed_query
from sqlalchemy import select, text

from connectors.qimen import GMT8, format_timestamp
from hub.db import make_engine
from hub.schema import receiver_inbox
from receiver.app import create_app

CONFIRM = (
    '<?xml version="1.0" encoding="utf-8"?><request><deliveryOrder><totalOrderLines>2</totalOrderLines>'
    "<deliveryOrderCode>80000123</deliveryOrderCode><deliveryOrderId>WMSCK24052000017</deliveryOrderId>"
    "<warehouseCode>WH-SH01</warehouseCode><orderType>B2BCK</orderType><status>DELIVERED</status>"
    "<outBizCode>{obc}</outBizCode><confirmType>0</confirmType><logisticsCode>SF</logisticsCode>"
    "<logisticsName>顺丰速运</logisticsName><expressCode>SF1234567890123</expressCode>"
    "<orderConfirmTime>2024-05-21 16:40:00</orderConfirmTime></deliveryOrder>"
    "<orderLines><orderLine><orderLineNo>10</orderLineNo><itemCode>P-1001</itemCode><actualQty>5</actualQty>"
    "</orderLine></orderLines></request>"
)
NO_KEY_CONFIRM = (
    '<?xml version="1.0" encoding="utf-8"?><request><deliveryOrder><deliveryOrderCode>80000124</deliveryOrderCode>'
    "<warehouseCode>WH-SZ01</warehouseCode><orderType>B2BCK</orderType><confirmType>0</confirmType>"
    "</deliveryOrder><order_lines><order_line><item_code>P-2040</item_code><actual_qty>{qty}</actual_qty>"
    "</order_line></order_lines></request>"
)
INVENTORY_REPORT = (
    "<request><totalPage>1</totalPage><currentPage>1</currentPage><pageSize>1</pageSize>"
    "<warehouseCode>WH-SH01</warehouseCode><checkOrderCode>PD20240531001</checkOrderCode><ownerCode>PARTSHUB</ownerCode>"
    "<outBizCode>PD20240531001-P1</outBizCode><adjustType>CHECK</adjustType>"
    "<items><item><itemCode>P-1001</itemCode><quantity>-1</quantity><totalQty>41</totalQty></item></items></request>"
)
STOCKCHANGE_REPORT = (
    "<request><items><item><ownerCode>PARTSHUB</ownerCode><warehouseCode>WH-SH01</warehouseCode>"
    "<orderCode>RK0001</orderCode><outBizCode>SC-1</outBizCode><itemCode>P-1001</itemCode><quantity>3</quantity>"
    "</item></items></request>"
)
# The report's vector (§1.4), byte for byte: a stockout.create the receiver does not take.
VECTOR_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><request><deliveryOrder><deliveryOrderCode>SO20240520001</deliveryOrderCode>'
    "<orderType>B2BCK</orderType><warehouseCode>WH01</warehouseCode><createTime>2024-05-20 10:00:00</createTime>"
    "</deliveryOrder><orderLines><orderLine><ownerCode>OWNER01</ownerCode><itemCode>P-1001</itemCode>"
    "<itemName>刹车片</itemName><planQty>5</planQty></orderLine></orderLines></request>"
)
VECTOR_QUERY = (
    "method=taobao.qimen.stockout.create&timestamp=2024-05-20+10%3A15%3A30&format=xml&app_key=12345678&v=2.0"
    "&sign=389A42AEF2B960E23C87BE63F13CE035&sign_method=md5&customerId=TESTCUST01"
)
XML = "text/xml;charset=utf-8"


def rows(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(receiver_inbox).order_by(receiver_inbox.c.id)))


def app_on(engine: Any, **kwargs: Any) -> Any:
    return create_app(lambda: engine, SECRET, APP_KEY, CUSTOMER_ID, window_minutes=10, **kwargs)


def test_a_signed_confirm_is_stored_before_success_and_a_replay_is_not_stored_again(hub_db, receiver_at, caplog):
    caplog.set_level(logging.INFO)
    body = CONFIRM.format(obc="WMSCK24052000017-C1")
    with receiver_at(app_on(hub_db)) as wms:
        status, ctype, answer = wms.push(body)
        assert (status, ctype) == (200, XML)
        assert answer == {"flag": "success", "code": "0", "message": "success"}
        # The WMS did not hear the answer and pushes again, freshly signed: success, no second row.
        status, _, answer = wms.push(body, method="stockout.confirm")
        assert answer["flag"] == "success"
        assert wms.http.get(f"{wms.base_url}/health", timeout=5).json() == {"status": "ok"}
    (row,) = rows(hub_db)
    assert (row.method, row.message_key, row.document_code) == ("stockout.confirm", "WMSCK24052000017-C1", "80000123")
    assert row.body == body and row.processed_at is None and row.outcome is None
    assert row.params["customerId"] == CUSTOMER_ID and row.params["method"] == "taobao.qimen.stockout.confirm"
    assert "sign" not in row.params and row.received_at is not None
    lines = [r.getMessage() for r in caplog.records if r.name == "receiver"]
    assert any("WMSCK24052000017-C1" in line and "stored" in line for line in lines)
    assert any("WMSCK24052000017-C1" in line and "duplicate" in line for line in lines)
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_the_report_vector_verifies_at_the_receiver_and_its_method_is_refused(hub_db, receiver_at):
    """The report's stockout.create vector passes the sign check (a clock a minute later); the receiver
    takes pushes only, so it is refused by method, not by sign; an hour later it is stale."""
    minute_later = datetime(2024, 5, 20, 10, 16, 30, tzinfo=GMT8)
    with receiver_at(app_on(hub_db, clock=lambda: minute_later)) as wms:
        _, _, answer = wms.push(VECTOR_BODY, query=VECTOR_QUERY)
        assert (answer["flag"], answer["code"]) == ("failure", "invalid-method")
        assert "stockout.confirm" in answer["message"]
        _, _, answer = wms.push(VECTOR_BODY + "\n", query=VECTOR_QUERY)
        assert (answer["code"], answer["message"]) == ("sign-check-failure", "Illegal request")
    hour_later = minute_later + timedelta(hours=1)
    with receiver_at(app_on(hub_db, clock=lambda: hour_later)) as wms:
        _, _, answer = wms.push(VECTOR_BODY, query=VECTOR_QUERY)
        assert answer["code"] == "sign-check-failure"
    assert rows(hub_db) == []


@pytest.mark.parametrize(
    "change",
    [
        "wrong secret",
        "body changed",
        "empty parameter added",
        "stale",
        "utc timestamp",
        "app key",
        "customer",
        "no sign",
    ],
)
def test_refused_pushes_store_nothing(hub_db, receiver_at, change):
    body = CONFIRM.format(obc="X-1")
    now = datetime.now(UTC)
    sent, query = body, None
    if change == "wrong secret":
        query = signed_query(body, secret="not-the-secret")
    elif change == "body changed":
        query, sent = signed_query(body), body.replace("<actualQty>5<", "<actualQty>50<")
    elif change == "empty parameter added":
        # The client rule drops empty parameters from the sign; the receiver keeps them (§1.5).
        query = signed_query(body) + "&partner_id="
    elif change == "stale":
        query = signed_query(body, timestamp=format_timestamp(now - timedelta(minutes=11)))
    elif change == "utc timestamp":  # a sender on UTC looks eight hours stale (§5.4)
        query = signed_query(body, timestamp=now.strftime("%Y-%m-%d %H:%M:%S"))
    elif change == "app key":
        query = signed_query(body, extra={"app_key": "someone-else"})
    elif change == "customer":
        query = signed_query(body, extra={"customerId": "OTHER"})
    elif change == "no sign":
        query = "&".join(p for p in signed_query(body).split("&") if not p.startswith("sign="))
    with receiver_at(app_on(hub_db)) as wms:
        status, ctype, answer = wms.push(sent, query=query)
    assert (status, ctype) == (200, XML)
    assert answer == {"flag": "failure", "code": "sign-check-failure", "message": "Illegal request"}
    assert rows(hub_db) == []


def test_a_timestamp_ahead_of_the_clock_passes_as_in_the_sdk(hub_db, receiver_at):
    ahead = format_timestamp(datetime.now(UTC) + timedelta(minutes=30))
    with receiver_at(app_on(hub_db)) as wms:
        _, _, answer = wms.push(CONFIRM.format(obc="AHEAD-1"), timestamp=ahead)
    assert answer["flag"] == "success"
    assert len(rows(hub_db)) == 1


def test_every_push_method_in_both_spellings(hub_db, receiver_at):
    with receiver_at(app_on(hub_db)) as wms:
        for method, body in [
            ("taobao.qimen.deliveryorder.confirm", CONFIRM.format(obc="D-1")),
            ("inventory.report", INVENTORY_REPORT),
            ("taobao.qimen.inventory.report", INVENTORY_REPORT),  # the same page again: a duplicate
            ("taobao.qimen.stockchange.report", STOCKCHANGE_REPORT),
            ("orderprocess.report", "<request><orderProcess><orderCode>80000123</orderCode></orderProcess></request>"),
        ]:
            _, _, answer = wms.push(body, method=method)
            assert answer["flag"] == "success", (method, answer)
        _, _, answer = wms.push(INVENTORY_REPORT, method="taobao.qimen.inventory.query")
        assert (answer["flag"], answer["code"]) == ("failure", "invalid-method")
    got = [(r.method, r.message_key, r.document_code) for r in rows(hub_db)]
    assert got[:3] == [
        ("deliveryorder.confirm", "D-1", "80000123"),
        ("inventory.report", "PD20240531001-P1", "PD20240531001"),
        ("stockchange.report", "SC-1", "RK0001"),
    ]
    method, key, document = got[3]
    assert (method, document) == ("orderprocess.report", "80000123") and key.startswith("sha256:")
    assert len(got) == 4


def test_without_outbizcode_the_body_hash_is_the_key(hub_db, receiver_at):
    first, other = NO_KEY_CONFIRM.format(qty=4), NO_KEY_CONFIRM.format(qty=5)
    with receiver_at(app_on(hub_db)) as wms:
        for body in (first, first, other):
            assert wms.push(body)[2]["flag"] == "success"
    held = rows(hub_db)
    assert [r.message_key for r in held] == [
        "sha256:" + hashlib.sha256(first.encode()).hexdigest(),
        "sha256:" + hashlib.sha256(other.encode()).hexdigest(),
    ]
    assert {r.document_code for r in held} == {"80000124"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("<request><deliveryOrder>", "malformed-xml"),
        ("not xml at all", "malformed-xml"),
        ("", "malformed-xml"),
        ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><request>&a;</request>', "dtd-refused"),
        ("<response><flag>success</flag></response>", "wrong-root"),
        ("<request>" + "<a>" * 100 + "</a>" * 100 + "</request>", "too-deep"),
    ],
)
def test_a_body_that_is_not_a_qimen_request_is_refused_naming_the_problem(hub_db, receiver_at, body, code):
    with receiver_at(app_on(hub_db)) as wms:
        status, ctype, answer = wms.push(body)
    assert (status, ctype, answer["flag"], answer["code"]) == (200, XML, "failure", code)
    assert rows(hub_db) == []


def test_the_sign_is_checked_before_the_body_is_parsed(hub_db, receiver_at):
    with receiver_at(app_on(hub_db)) as wms:
        _, _, answer = wms.push("<request><broken>", secret="wrong")
    assert answer["code"] == "sign-check-failure"


def test_a_gbk_body_is_read_with_its_charset_and_signed_as_utf8_text(hub_db, receiver_at):
    """SpiUtils decodes the body with the Content-Type charset and signs the text (§1.5)."""
    body = CONFIRM.format(obc="GBK-1").replace('encoding="utf-8"', 'encoding="gbk"')
    with receiver_at(app_on(hub_db)) as wms:
        query = signed_query(body.encode("utf-8"))
        _, _, answer = wms.push(body.encode("gbk"), query=query, content_type="text/xml;charset=GBK")
        assert answer["flag"] == "success", answer
        _, _, answer = wms.push(b"\xff\xfe<request/>", content_type="text/xml;charset=utf-8")
        assert answer["code"] == "invalid-charset"
    (row,) = rows(hub_db)
    assert row.body == body and "顺丰速运" in row.body


def test_a_database_that_is_down_answers_failure_and_the_retry_is_stored_once(hub_db, receiver_at, caplog):
    caplog.set_level(logging.INFO)
    body = CONFIRM.format(obc="DOWN-1")
    with hub_db.begin() as conn:
        conn.execute(text("DROP TABLE receiver_inbox"))
    with receiver_at(app_on(hub_db)) as wms:
        status, _, answer = wms.push(body)
        assert (status, answer["flag"], answer["code"]) == (200, "failure", "store-failed")
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "receiver"]
        assert errors and "DOWN-1" in errors[0].getMessage()
        receiver_inbox.create(hub_db)  # the database is back
        for _ in range(2):  # the WMS pushes again (and once more: a duplicate)
            assert wms.push(body)[2]["flag"] == "success"
    assert [r.message_key for r in rows(hub_db)] == ["DOWN-1"]


def test_a_database_that_cannot_be_reached_answers_failure(receiver_at):
    calls = []

    def unreachable():
        calls.append(1)
        return make_engine("postgresql+psycopg://hub:nothing@127.0.0.1:1/hub", connect_args={"connect_timeout": 2})

    with receiver_at(create_app(unreachable, SECRET, window_minutes=10)) as wms:
        for _ in range(2):
            status, ctype, answer = wms.push(CONFIRM.format(obc="NOWHERE-1"))
            assert (status, ctype, answer["flag"], answer["code"]) == (200, XML, "failure", "store-failed")
    assert calls == [1], "the engine is made once and kept"


def test_a_failing_engine_factory_is_asked_again_on_the_next_push(sqlite_url, receiver_at):
    from hub.db import upgrade

    attempts: list[int] = []

    def factory():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database URL not resolvable yet")
        upgrade(sqlite_url)
        return make_engine(sqlite_url)

    with receiver_at(create_app(factory, SECRET, window_minutes=10)) as wms:
        assert wms.push(CONFIRM.format(obc="LATER-1"))[2]["code"] == "store-failed"
        assert wms.push(CONFIRM.format(obc="LATER-1"))[2]["flag"] == "success"
    assert len(attempts) == 2


def test_only_post_and_get_health(hub_db, receiver_at):
    with receiver_at(app_on(hub_db)) as wms:
        assert requests.get(wms.url, timeout=5).status_code == 405
        assert requests.get(f"{wms.base_url}/health", timeout=5).status_code == 200
