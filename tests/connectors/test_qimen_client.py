"""Qimen: the report's sign vector and its negatives, the receiver-side check, the XML both ways, and the
client over HTTP (a scripted server on loopback)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.http import PermanentError, RetryPolicy, TransientError
from connectors.qimen import (
    GMT8,
    QimenAuthError,
    QimenBusinessError,
    QimenClient,
    SignCheckFailure,
    WmsStock,
    sign,
    verify,
)
from connectors.qimen_xml import QimenXmlError, parse_request, parse_response, serialize

SECRET = "testsecret123"
PARAMS = {
    "method": "taobao.qimen.stockout.create",
    "timestamp": "2024-05-20 10:15:30",
    "format": "xml",
    "app_key": "12345678",
    "v": "2.0",
    "sign_method": "md5",
    "customerId": "TESTCUST01",
}
DOCUMENT = {
    "deliveryOrder": {
        "deliveryOrderCode": "SO20240520001",
        "orderType": "B2BCK",
        "warehouseCode": "WH01",
        "createTime": "2024-05-20 10:00:00",
    },
    "orderLines": [{"ownerCode": "OWNER01", "itemCode": "P-1001", "itemName": "刹车片", "planQty": 5}],
}
BODY = (
    '<?xml version="1.0" encoding="utf-8"?><request><deliveryOrder><deliveryOrderCode>SO20240520001</deliveryOrderCode>'
    "<orderType>B2BCK</orderType><warehouseCode>WH01</warehouseCode><createTime>2024-05-20 10:00:00</createTime>"
    "</deliveryOrder><orderLines><orderLine><ownerCode>OWNER01</ownerCode><itemCode>P-1001</itemCode>"
    "<itemName>刹车片</itemName><planQty>5</planQty></orderLine></orderLines></request>"
)
QUERY = (
    "method=taobao.qimen.stockout.create&timestamp=2024-05-20+10%3A15%3A30&format=xml&app_key=12345678&v=2.0"
    "&sign=389A42AEF2B960E23C87BE63F13CE035&sign_method=md5&customerId=TESTCUST01"
)
SENT_AT = datetime(2024, 5, 20, 10, 15, 30, tzinfo=GMT8)


# ---------------------------------------------------------------------------------------------------
# Sign (reference/logistics_report.md §1.3-§1.5)
# ---------------------------------------------------------------------------------------------------


def test_the_report_vector():
    assert len(BODY.encode("utf-8")) == 402
    assert sign(PARAMS, BODY, SECRET) == "389A42AEF2B960E23C87BE63F13CE035"
    assert sign(PARAMS, BODY.encode("utf-8"), SECRET) == "389A42AEF2B960E23C87BE63F13CE035"


@pytest.mark.parametrize(
    ("params", "body", "expected"),
    [
        (PARAMS, BODY + "\n", "F99F24EEF991FCA88A17EA6ACE7A08C8"),
        ({**PARAMS, "timestamp": "2024-05-20 02:15:30"}, BODY, "5698DDB3B3727AAC89AF68BE2757B231"),
        ({**PARAMS, "partner_id": "top-sdk-java-20160611"}, BODY, "4D917896FDC61DC7DD3CD1DD63E9BA6A"),
    ],
    ids=["trailing newline", "utc timestamp", "partner_id"],
)
def test_the_report_negative_vectors(params, body, expected):
    assert sign(params, body, SECRET) == expected


def test_client_drops_empty_params_and_ignores_a_sign_param():
    assert sign({**PARAMS, "session": "", "sign": "whatever"}, BODY, SECRET) == "389A42AEF2B960E23C87BE63F13CE035"


def test_verify_keeps_empty_params_and_has_a_one_sided_window():
    query = {**PARAMS, "sign": "389A42AEF2B960E23C87BE63F13CE035"}
    body = BODY.encode("utf-8")
    verify(query, body, SECRET, now=SENT_AT + timedelta(minutes=10), window_minutes=10)  # at the edge: passes
    verify(query, body, SECRET, now=SENT_AT - timedelta(days=1), window_minutes=10)  # ahead of us: passes
    failures = [
        (query, SENT_AT + timedelta(minutes=10, seconds=1), "older than"),
        ({**query, "session": ""}, SENT_AT, "does not match"),  # the receiver signs empty params too
        ({**query, "sign": query["sign"].lower()}, SENT_AT, "does not match"),  # an exact string
        ({k: v for k, v in query.items() if k != "sign"}, SENT_AT, "no sign"),
    ]
    for bad, now, reason in failures:
        with pytest.raises(SignCheckFailure, match=reason):
            verify(bad, body, SECRET, now=now, window_minutes=10)
    with pytest.raises(SignCheckFailure, match="does not match"):
        verify(query, body + b"\n", SECRET, now=SENT_AT, window_minutes=10)
    garbled = {**PARAMS, "timestamp": "20/05/2024"}
    garbled["sign"] = sign(garbled, body, SECRET)
    with pytest.raises(SignCheckFailure, match="not yyyy"):
        verify(garbled, body, SECRET, now=SENT_AT, window_minutes=10)


# ---------------------------------------------------------------------------------------------------
# XML
# ---------------------------------------------------------------------------------------------------


def test_serialize_is_the_report_body_byte_for_byte():
    assert serialize(DOCUMENT) == BODY


def test_serialize_escapes_and_refuses_what_it_cannot_carry():
    text = serialize({"remark": "a<b & c>d\r\n", "qty": Decimal("1.500"), "absent": None, "empty": ""})
    assert text.endswith("<remark>a&lt;b &amp; c&gt;d&#13;\n</remark><qty>1.500</qty><empty></empty></request>")
    assert parse_request(text) == {"remark": "a<b & c>d\r\n", "qty": "1.500", "empty": ""}
    for bad in ({"x": 1.5}, {"x": True}, {"x": "nul\x00"}, {"bad name": "1"}, {"unknownList": [1]}):
        with pytest.raises((TypeError, ValueError)):
            serialize(bad)


CONFIRM_PRETTY = """<?xml version="1.0" encoding="utf-8"?>
<request>
 <deliveryOrder>
  <deliveryOrderCode>SO20240520001</deliveryOrderCode><outBizCode>WMSCK24052000017-C1</outBizCode>
  <confirmType>0</confirmType><logisticsCode>SF</logisticsCode><expressCode>SF1234567890123</expressCode>
 </deliveryOrder>
 <packages>
  <package><expressCode>SF1234567890123</expressCode><weight>12.5</weight>
   <items><item><itemCode>P-1001</itemCode><quantity>5</quantity></item></items>
   <packageMaterialList><packageMaterial><type>BOX</type><quantity>1</quantity></packageMaterial></packageMaterialList>
  </package>
 </packages>
 <orderLines>
  <orderLine><orderLineNo>1</orderLineNo><itemCode>P-1001</itemCode><actualQty>5</actualQty>
   <batchs><batch><batchCode>B1</batchCode><actualQty>5</actualQty></batch></batchs></orderLine>
  <orderLine><orderLineNo>2</orderLineNo><itemCode>P-2040</itemCode><actualQty>18</actualQty></orderLine>
 </orderLines>
 <extendProps><customer_po>PO-1</customer_po></extendProps>
</request>"""

CANONICAL = {
    "deliveryOrder": {
        "deliveryOrderCode": "SO20240520001",
        "outBizCode": "WMSCK24052000017-C1",
        "confirmType": "0",
        "logisticsCode": "SF",
        "expressCode": "SF1234567890123",
    },
    "packages": [
        {
            "expressCode": "SF1234567890123",
            "weight": "12.5",
            "items": [{"itemCode": "P-1001", "quantity": "5"}],
            "packageMaterialList": [{"type": "BOX", "quantity": "1"}],
        }
    ],
    "orderLines": [
        {"orderLineNo": "1", "itemCode": "P-1001", "actualQty": "5", "batchs": [{"batchCode": "B1", "actualQty": "5"}]},
        {"orderLineNo": "2", "itemCode": "P-2040", "actualQty": "18"},
    ],
    "extendProps": {"customer_po": "PO-1"},
}


def test_parse_request_gives_canonical_keys_and_lists():
    assert parse_request(CONFIRM_PRETTY) == CANONICAL
    assert parse_request(CONFIRM_PRETTY.encode("utf-8")) == CANONICAL


def test_parse_request_reads_the_snake_case_generation_and_bare_items():
    snake = (
        "<request><delivery_order><delivery_order_code>SO20240520001</delivery_order_code>"
        "<out_biz_code>WMSCK24052000017-C1</out_biz_code><confirm_type>0</confirm_type>"
        "<logistics_code>SF</logistics_code><express_code>SF1234567890123</express_code></delivery_order>"
        "<package><express_code>SF1234567890123</express_code><weight>12.5</weight>"
        "<items><item><item_code>P-1001</item_code><quantity>5</quantity></item></items>"
        "<package_material><type>BOX</type><quantity>1</quantity></package_material></package>"
        "<order_line><order_line_no>1</order_line_no><item_code>P-1001</item_code><actual_qty>5</actual_qty>"
        "<batch><batch_code>B1</batch_code><actual_qty>5</actual_qty></batch></order_line>"
        "<order_lines><order_line><order_line_no>2</order_line_no><item_code>P-2040</item_code>"
        "<actual_qty>18</actual_qty></order_line></order_lines>"
        "<extend_props><customer_po>PO-1</customer_po></extend_props></request>"
    )
    assert parse_request(snake) == CANONICAL


def test_single_and_empty_lists_stay_lists_and_a_repeated_single_is_kept():
    parsed = parse_request("<request><items><item><itemCode>A</itemCode></item></items><orderLines/></request>")
    assert parsed == {"items": [{"itemCode": "A"}], "orderLines": []}
    twice = parse_request("<request><remark>a</remark><remark>b</remark><remark>c</remark></request>")
    assert twice == {"remark": ["a", "b", "c"]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('<!DOCTYPE r [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;">]><request>&b;</request>', "dtd-refused"),
        ('<!DOCTYPE r SYSTEM "http://127.0.0.1:1/x.dtd"><request/>', "dtd-refused"),
        ('<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><request>&e;</request>', "dtd-refused"),
        ("<request><a></b></request>", "malformed-xml"),
        ("<response/>", "wrong-root"),
        ("<request>" + "<a>" * 40 + "</a>" * 40 + "</request>", "too-deep"),
    ],
)
def test_the_parser_refuses_hostile_or_broken_documents(body, code):
    with pytest.raises(QimenXmlError) as caught:
        parse_request(body)
    assert caught.value.code == code


_names = st.sampled_from(["deliveryOrderCode", "itemCode", "remark", "planQty", "ownerCode"])
_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


@settings(max_examples=100, deadline=None)
@given(
    header=st.dictionaries(_names, _values, max_size=4),
    lines=st.lists(st.dictionaries(_names, _values, min_size=1, max_size=4), max_size=4),
)
def test_serialize_then_parse_is_the_identity(header, lines):
    document = {"deliveryOrder": header, "orderLines": lines}
    parsed = parse_request(serialize(document))
    assert parsed["orderLines"] == lines
    assert parsed["deliveryOrder"] == (header or "")  # an empty object is an empty element


# ---------------------------------------------------------------------------------------------------
# The client over HTTP
# ---------------------------------------------------------------------------------------------------

SUCCESS = (
    "<response><flag>success</flag><code>0</code><message>success</message>"
    "<createTime>2024-05-20 10:15:31</createTime><deliveryOrderId>WMSCK24052000017</deliveryOrderId></response>"
)


def client(server, **kwargs):
    return QimenClient(
        f"{server.url}/router/qimen/service",
        "12345678",
        SECRET,
        "TESTCUST01",
        clock=lambda: SENT_AT,
        retry=RetryPolicy(max_attempts=3, base=0, cap=0),
        sleep=lambda _s: None,
        **kwargs,
    )


def test_stockout_create_posts_the_report_vector_exactly(scripted_server, reply):
    scripted_server.script(reply(body=SUCCESS))
    with client(scripted_server) as qimen:
        response = qimen.stockout_create(DOCUMENT)
    assert response.success and response.get("deliveryOrderId") == "WMSCK24052000017"
    (hit,) = scripted_server.hits
    url = urlsplit(hit.path)
    assert (hit.method, url.path, url.query) == ("POST", "/router/qimen/service", QUERY)
    assert hit.body == BODY.encode("utf-8")
    assert hit.headers["Content-Type"] == "text/xml;charset=utf-8"
    # What the WMS checks, with the receiver-side rule:
    verify(dict(parse_qsl(url.query)), hit.body, SECRET, now=SENT_AT, window_minutes=5)
    assert SECRET not in repr(qimen)


def test_a_failure_flag_is_a_business_error_and_not_retried(scripted_server, reply):
    scripted_server.script(
        reply(body="<response><flag>failure</flag><code>S003</code><message>单据已存在</message></response>")
    )
    with client(scripted_server) as qimen, pytest.raises(QimenBusinessError) as caught:
        qimen.order_cancel(warehouse_code="WH-SH01", order_code="80000123", owner_code="PARTSHUB")
    assert (caught.value.code, caught.value.qimen_message) == ("S003", "单据已存在")
    assert len(scripted_server.hits) == 1
    assert parse_request(scripted_server.hits[0].body) == {
        "warehouseCode": "WH-SH01",
        "ownerCode": "PARTSHUB",
        "orderCode": "80000123",
    }
    assert "method=taobao.qimen.order.cancel&" in scripted_server.hits[0].path


def test_a_refused_sign_is_an_auth_error(scripted_server, reply):
    refused = "<flag>failure</flag><code>sign-check-failure</code><message>Illegal request</message>"
    scripted_server.script(reply(body=f"<response>{refused}</response>"))
    with client(scripted_server) as qimen, pytest.raises(QimenAuthError):
        qimen.stockout_query(delivery_order_code="80000123")


def test_transport_failures_are_retried_on_reads_and_not_repeated_on_a_create(scripted_server, reply):
    scripted_server.script(reply(status=502), reply(status=503), reply(body=SUCCESS))
    with client(scripted_server) as qimen:
        assert qimen.orderprocess_query(order_code="80000123").success
    assert len(scripted_server.hits) == 3
    scripted_server.script(reply(status=500), reply(body=SUCCESS))
    with client(scripted_server) as qimen, pytest.raises(TransientError):
        qimen.stockout_create(DOCUMENT)  # the WMS may have acted on it: left to the ledger, not repeated
    assert len(scripted_server.hits) == 1
    scripted_server.script(reply(status=503), reply(body=SUCCESS))  # 503: it did not act
    with client(scripted_server) as qimen:
        assert qimen.stockout_create(DOCUMENT).success
    assert len(scripted_server.hits) == 2


def test_inventory_query_typed_rows_batches_and_unreadable_answers(scripted_server, reply):
    def answer(*rows: str) -> Any:
        items = "".join(f"<item>{r}</item>" for r in rows)
        return reply(
            body=f"<response><flag>success</flag><code>0</code><message>ok</message><items>{items}</items></response>"
        )

    scripted_server.script(
        answer(
            "<warehouseCode>WH-SH01</warehouseCode><itemCode>P-1</itemCode><inventoryType>ZP</inventoryType>"
            "<quantity>4</quantity><lockQuantity>1</lockQuantity>",
            "<itemCode>P-1</itemCode><inventoryType>CC</inventoryType><quantity>2.000</quantity>"
            "<batchCode>L1</batchCode>",
        ),
        answer("<warehouseCode>WH-SH01</warehouseCode><itemCode>P-3</itemCode><quantity>0</quantity>"),
    )
    with client(scripted_server) as qimen:
        rows = qimen.inventory_query("WH-SH01", ["P-1", "P-2", "P-1", "P-3"], batch_size=2)
    assert rows == [
        WmsStock("WH-SH01", "P-1", "ZP", Decimal(4), Decimal(1), ""),
        WmsStock("WH-SH01", "P-1", "CC", Decimal(2), Decimal(0), "L1"),  # warehouse as asked when left out
        WmsStock("WH-SH01", "P-3", "ZP", Decimal(0), Decimal(0), ""),  # ZP when the WMS leaves the type out
    ]
    assert rows[0].on_hand == 5
    assert [parse_request(h.body) for h in scripted_server.hits] == [
        {"criteriaList": [{"itemCode": c, "warehouseCode": "WH-SH01"} for c in ("P-1", "P-2")]},
        {"criteriaList": [{"itemCode": "P-3", "warehouseCode": "WH-SH01"}]},
    ]
    for bad, match in (
        ("<itemCode>P-1</itemCode><quantity>four</quantity>", "quantity is not a number"),
        ("<itemCode>P-1</itemCode><quantity>NaN</quantity>", "quantity is not a number"),
        ("<quantity>1</quantity>", "no itemCode"),
    ):
        scripted_server.script(answer(bad))
        with client(scripted_server) as qimen, pytest.raises(PermanentError, match=match):
            qimen.inventory_query("WH-SH01", ["P-1"])
    scripted_server.script(answer("<itemCode>P-1</itemCode><quantity>1</quantity>"))
    with client(scripted_server) as qimen, pytest.raises(PermanentError, match="no warehouseCode"):
        qimen.inventory_query(None, ["P-1"])
    scripted_server.script(reply(body="<html>gateway</html>"))
    with client(scripted_server) as qimen, pytest.raises(PermanentError, match="not a Qimen"):
        qimen.inventory_query(None, ["P-1"])
    with client(scripted_server) as qimen, pytest.raises(ValueError):
        qimen.inventory_query(None, [])


def test_parse_response_of_the_report_samples():
    assert parse_response(SUCCESS)["deliveryOrderId"] == "WMSCK24052000017"


def test_from_connection():
    class Conn:
        host = "http://127.0.0.1:8900/qimen/router/qimen/service"
        login = "12345678"
        password = SECRET
        extra_dejson = {"customer_id": "TESTCUST01", "owner_code": "PARTSHUB", "max_attempts": 2}

    qimen = QimenClient.from_connection(Conn())
    assert (qimen.url, qimen.app_key, qimen.customer_id) == (Conn.host, "12345678", "TESTCUST01")
    assert qimen.http.retry.max_attempts == 2
