"""The Qimen WMS emulator (issue 10) over real HTTP: the report's sign vector, stockout.create with its
repeats and continuations, cancel, the queries, the warehouse's seeded work on the sandbox clock, and
the stockout.confirm pushes to a receiver (retry, duplicate, partial, short, pickup, push faults).

One frozen sandbox per module; tests move its clock forward with the control API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import fuzzing
import pytest
import requests
from qimen_client import OWNER, Receiver, Sandbox, assert_envelope, create_body, gmt8, sign, utc

from sandbox.clock import DEFAULT_START
from sandbox.qimen_plan import traits
from sandbox.seed_data import generate

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 21, 40
DATA = generate(SEED, ORDERS, DEFAULT_START)
STOCKED = [s.material for s in DATA.stock if s.plant == "1010"]
ITEM_A, ITEM_B, ITEM_C = STOCKED[0], STOCKED[1], STOCKED[2]

VECTOR_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><request><deliveryOrder><deliveryOrderCode>SO20240520001'
    "</deliveryOrderCode><orderType>B2BCK</orderType><warehouseCode>WH01</warehouseCode><createTime>"
    "2024-05-20 10:00:00</createTime></deliveryOrder><orderLines><orderLine><ownerCode>OWNER01</ownerCode>"
    "<itemCode>P-1001</itemCode><itemName>刹车片</itemName><planQty>5</planQty></orderLine></orderLines></request>"
).encode()
VECTOR_QUERY = (
    "method=taobao.qimen.stockout.create&timestamp=2024-05-20+10%3A15%3A30&format=xml&app_key=12345678&v=2.0"
    "&sign=389A42AEF2B960E23C87BE63F13CE035&sign_method=md5&customerId=TESTCUST01"
)


def code_with(kind: str, carrier: str | None = None, prefix: str = "T") -> str:
    """An order code whose seeded traits are ``kind`` (and ``carrier``)."""
    for n in range(10_000):
        code = f"{prefix}-{kind.upper()}-{n}"
        found = traits(SEED, code)
        if found.kind == kind and (carrier is None or found.carrier == carrier):
            return code
    raise AssertionError(f"no {kind} order code found")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    for info in fuzzing.module_sandbox(SEED, ORDERS):
        yield Sandbox(info)


def test_ready_line_entry(sandbox: Sandbox) -> None:
    q = sandbox.qimen
    assert q["url"].endswith("/qimen/router/qimen/service")
    assert q["owner_code"] == OWNER and q["warehouses"] == {"1010": "WH-SH01", "1020": "WH-SZ01"}
    assert re.fullmatch(r"\d{8}", q["app_key"]) and q["secret"] and q["customer_id"]


def test_report_sign_vector_and_its_negative_cases(sandbox: Sandbox) -> None:
    """§1.4 verbatim: the vector's query and body pass the sign check; each change fails it, and with
    the sign the report gives for that change it passes again."""
    assert (
        sign(
            [
                ("method", "taobao.qimen.stockout.create"),
                ("timestamp", "2024-05-20 10:15:30"),
                ("format", "xml"),
                ("app_key", "12345678"),
                ("v", "2.0"),
                ("sign_method", "md5"),
                ("customerId", "TESTCUST01"),
            ],
            VECTOR_BODY,
            "testsecret123",
        )
        == "389A42AEF2B960E23C87BE63F13CE035"
    )
    creds = {"app_key": "12345678", "secret": "testsecret123", "customer_id": "TESTCUST01"}
    sandbox.control_post("/qimen_wms/credentials", creds)
    before = sandbox.now()
    sandbox.clock(now="2024-05-20T02:16:00Z")  # 10:16 GMT+8, a minute after the vector's timestamp
    try:
        body = sandbox.post_raw(VECTOR_QUERY, VECTOR_BODY)
        # The sign, timestamp and customerId pass; the vector's warehouse WH01 is not this WMS's.
        answer = assert_envelope(body)
        assert (answer["flag"], answer["code"]) == ("failure", "warehouse-not-found"), answer

        newline = VECTOR_BODY + b"\n"
        assert assert_envelope(sandbox.post_raw(VECTOR_QUERY, newline))["code"] == "sign-check-failure"
        fixed = VECTOR_QUERY.replace("389A42AEF2B960E23C87BE63F13CE035", "F99F24EEF991FCA88A17EA6ACE7A08C8")
        assert assert_envelope(sandbox.post_raw(fixed, newline))["code"] == "warehouse-not-found"

        utc_query = VECTOR_QUERY.replace("10%3A15%3A30", "02%3A15%3A30")
        assert assert_envelope(sandbox.post_raw(utc_query, VECTOR_BODY))["code"] == "sign-check-failure"
        fixed = utc_query.replace("389A42AEF2B960E23C87BE63F13CE035", "5698DDB3B3727AAC89AF68BE2757B231")
        # Signed right, but a UTC time read as GMT+8 is 8 hours old.
        assert assert_envelope(sandbox.post_raw(fixed, VECTOR_BODY))["code"] == "invalid-timestamp"

        partner = VECTOR_QUERY + "&partner_id=top-sdk-java-20160611"
        answer = assert_envelope(sandbox.post_raw(partner, VECTOR_BODY))
        assert (answer["code"], answer["message"]) == ("sign-check-failure", "Illegal request")
        fixed = partner.replace("389A42AEF2B960E23C87BE63F13CE035", "4D917896FDC61DC7DD3CD1DD63E9BA6A")
        assert assert_envelope(sandbox.post_raw(fixed, VECTOR_BODY))["code"] == "warehouse-not-found"

        # An empty parameter is signed too (the receiver keeps it), so adding one breaks the sign.
        assert (
            assert_envelope(sandbox.post_raw(VECTOR_QUERY + "&session=", VECTOR_BODY))["code"] == "sign-check-failure"
        )
    finally:
        sandbox.clock(now=before.isoformat())


def test_system_parameters_are_checked(sandbox: Sandbox) -> None:
    body = create_body("T-PARAMS", [("1", ITEM_A, 1)])
    assert sandbox.call("stockout.create", body, app_key=None)["code"] == "missing-parameter"
    assert sandbox.call("stockout.create", body, app_key="99999999")["code"] == "invalid-app-key"
    assert sandbox.call("stockout.create", body, secret="wrong")["code"] == "sign-check-failure"
    stale = gmt8(sandbox.now() - timedelta(minutes=11))
    assert sandbox.call("stockout.create", body, timestamp=stale)["code"] == "invalid-timestamp"
    ahead = gmt8(sandbox.now() + timedelta(hours=1))
    assert sandbox.call("inventory.query", "<request/>", timestamp=ahead)["code"] == "missing-field"  # one-sided
    assert sandbox.call("stockout.create", body, format="json")["code"] == "invalid-format"
    assert sandbox.call("stockout.create", body, sign_method="hmac")["code"] == "invalid-sign-method"
    assert sandbox.call("stockout.create", body, customerId="OTHER")["code"] == "invalid-customer-id"
    assert sandbox.call("deliveryorder.create", body)["code"] == "invalid-method"
    assert sandbox.call("stockout.create", b"<request><deliveryOrder>")["code"] == "invalid-xml"
    assert sandbox.call("stockout.create", b"<!DOCTYPE x [<!ENTITY a 'b'>]><request/>")["code"] == "invalid-xml"
    assert "T-PARAMS" not in sandbox.orders()


def test_create_repeat_and_conflict(sandbox: Sandbox) -> None:
    lines = [("1", ITEM_A, 5), ("2", ITEM_B, 2)]
    first = sandbox.create("T-IDEM", lines)
    assert first["flag"] == "success" and first["code"] == "0"
    assert re.fullmatch(r"WMSCK\d{11}", first["deliveryOrderId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first["createTime"])
    again = sandbox.create("T-IDEM", lines)
    assert (again["flag"], again["deliveryOrderId"], again["createTime"]) == (
        "success",
        first["deliveryOrderId"],
        first["createTime"],
    )
    held = [o for o in sandbox.orders().values() if o["deliveryOrderId"] == first["deliveryOrderId"]]
    assert len(held) == 1 and len(held[0]["lines"]) == 2
    conflict = sandbox.create("T-IDEM", [("1", ITEM_A, 6), ("2", ITEM_B, 2)])
    assert conflict["flag"] == "failure" and conflict["code"] == "order-exists" and "单据已存在" in conflict["message"]
    other_header = sandbox.create("T-IDEM", lines, warehouse="WH-SZ01")
    assert other_header["code"] == "order-exists"
    assert len(sandbox.orders()["T-IDEM"]["lines"]) == 2


def test_create_checks_name_the_field(sandbox: Sandbox) -> None:
    missing = create_body("T-MISS", [("1", ITEM_A, 1)]).replace("<warehouseCode>WH-SH01</warehouseCode>", "")
    answer = sandbox.call("stockout.create", missing)
    assert answer["code"] == "missing-field" and "deliveryOrder.warehouseCode" in answer["message"]
    no_qty = create_body("T-MISS", [("1", ITEM_A, 1)]).replace("<planQty>1</planQty>", "")
    answer = sandbox.call("stockout.create", no_qty)
    assert answer["code"] == "missing-field" and "orderLines[1].planQty" in answer["message"]
    for qty in ("0", "-1", "1.5", "abc", "99999999999"):
        answer = sandbox.create("T-MISS", [("1", ITEM_A, qty)])  # type: ignore[list-item]
        assert answer["code"] == "invalid-field" and "planQty" in answer["message"], (qty, answer)
    bad_type = create_body("T-MISS", [("1", ITEM_A, 1)]).replace("B2BCK", "JYCK")
    assert sandbox.call("stockout.create", bad_type)["code"] == "invalid-field"
    assert sandbox.create("T-MISS", [("1", ITEM_A, 1)], warehouse="WH-XX")["code"] == "warehouse-not-found"
    assert sandbox.create("T-MISS", [("1", "NO-SUCH-PART", 1)])["code"] == "item-not-found"
    other_owner = create_body("T-MISS", [("1", ITEM_A, 1)]).replace(OWNER, "OWNER01")
    assert sandbox.call("stockout.create", other_owner)["code"] == "owner-not-found"
    twice = create_body("T-MISS", [("1", ITEM_A, 1), ("1", ITEM_B, 1)])
    assert sandbox.call("stockout.create", twice)["code"] == "invalid-field"
    assert "T-MISS" not in sandbox.orders()


def test_snake_case_and_single_element_lists(sandbox: Sandbox) -> None:
    camel = create_body("T-SNAKE", [("1", ITEM_A, 3)])
    snake = camel.replace("<orderLines>", "<order_lines>").replace("</orderLines>", "</order_lines>")
    snake = snake.replace("<orderLine>", "<order_line>").replace("</orderLine>", "</order_line>")
    snake = snake.replace("deliveryOrderCode>", "delivery_order_code>").replace("planQty>", "plan_qty>")
    first = sandbox.call("stockout.create", snake)
    assert first["flag"] == "success", first
    assert sandbox.call("stockout.create", camel)["deliveryOrderId"] == first["deliveryOrderId"]  # same content
    bare = camel.replace("<orderLines>", "").replace("</orderLines>", "")  # a bare orderLine under <request>
    assert sandbox.call("stockout.create", bare)["deliveryOrderId"] == first["deliveryOrderId"]
    assert sandbox.orders()["T-SNAKE"]["lines"] == [
        {"orderLineNo": "1", "itemCode": ITEM_A, "planQty": 3, "shippedQty": 0}
    ]


def test_continuation_accumulates_lines_until_the_count(sandbox: Sandbox) -> None:
    first = sandbox.create("T-CONT", [("1", ITEM_A, 2), ("2", ITEM_B, 3)], total=3)
    assert first["flag"] == "success"
    order = sandbox.orders()["T-CONT"]
    assert order["status"] == "NEW" and order["plan"] is None  # waits for the third line
    # Line 2 again (a retried part) plus the new line 3.
    second = sandbox.create("T-CONT", [("2", ITEM_B, 3), ("3", ITEM_C, 1)], total=3)
    assert second["flag"] == "success" and second["deliveryOrderId"] == first["deliveryOrderId"]
    order = sandbox.orders()["T-CONT"]
    assert [line["orderLineNo"] for line in order["lines"]] == ["1", "2", "3"]
    assert order["status"] == "ACCEPT" and order["plan"] is not None
    assert sandbox.create("T-CONT", [("4", ITEM_C, 1)], total=3)["code"] == "order-exists"
    assert sandbox.create("T-CONT", [("3", ITEM_C, 2)], total=3)["code"] == "order-exists"
    over = sandbox.create("T-OVER", [("1", ITEM_A, 1), ("2", ITEM_A, 1)], total=1)
    assert over["code"] == "invalid-field" and "totalOrderLines" in over["message"]


def test_cancel_before_and_after_shipping(sandbox: Sandbox) -> None:
    cancel = "<request><warehouseCode>WH-SH01</warehouseCode><orderCode>{}</orderCode></request>"
    assert sandbox.create("T-CANCEL", [("1", ITEM_A, 1)])["flag"] == "success"
    assert sandbox.call("order.cancel", cancel.format("T-CANCEL"))["flag"] == "success"
    assert sandbox.call("order.cancel", cancel.format("T-CANCEL"))["flag"] == "success"  # idempotent
    assert sandbox.create("T-CANCEL", [("1", ITEM_A, 1)])["code"] == "order-canceled"
    assert sandbox.call("order.cancel", cancel.format("T-NOPE"))["code"] == "order-not-found"

    assert sandbox.create("T-SHIPPED", [("1", ITEM_A, 1)])["flag"] == "success"
    due = utc(sandbox.orders()["T-SHIPPED"]["plan"]["shipments"][0]["due"])
    sandbox.clock(now=due.isoformat())
    answer = sandbox.call("order.cancel", cancel.format("T-SHIPPED"))
    assert answer["flag"] == "failure" and answer["code"] == "order-shipped", answer
    orders = sandbox.orders()
    assert orders["T-CANCEL"]["status"] == "CANCELED" and orders["T-CANCEL"]["shipments"] == []  # binding
    assert orders["T-SHIPPED"]["status"] == "DELIVERED"


def test_queries(sandbox: Sandbox) -> None:
    assert sandbox.create("T-QUERY", [("1", ITEM_A, 2)])["flag"] == "success"
    process = sandbox.call("orderprocess.query", "<request><orderCode>T-QUERY</orderCode></request>")
    steps = [p["processStatus"] for p in process["orderProcess"]["processes"]]
    assert steps == ["NEW", "ACCEPT"]
    sandbox.advance(12)
    query = sandbox.call("stockout.query", "<request><deliveryOrderCode>T-QUERY</deliveryOrderCode></request>")
    assert query["deliveryOrder"]["deliveryOrderCode"] == "T-QUERY"
    assert query["deliveryOrder"]["status"] in ("DELIVERED", "PARTDELIVERED")
    assert int(query["orderLines"][0]["actualQty"]) >= 1
    process = sandbox.call("orderprocess.query", "<request><orderCode>T-QUERY</orderCode></request>")
    steps = [p["processStatus"] for p in process["orderProcess"]["processes"]]
    assert steps[:4] == ["NEW", "ACCEPT", "PICK", "PACKAGE"] and steps[4] in ("DELIVERED", "PARTDELIVERED")
    assert sandbox.call("stockout.query", "<request><deliveryOrderCode>X</deliveryOrderCode></request>")["code"] == (
        "order-not-found"
    )
    stock = {(s.plant, s.material): s.unrestricted for s in DATA.stock if s.plant in ("1010", "1020")}
    criteria = f"<request><criteriaList><criteria><itemCode>{ITEM_C}</itemCode></criteria></criteriaList></request>"
    items = sandbox.call("inventory.query", criteria)["items"]
    by_warehouse = {i["warehouseCode"]: int(i["quantity"]) for i in items}
    assert by_warehouse["WH-SZ01"] == stock.get(("1020", ITEM_C), 0)
    assert by_warehouse["WH-SH01"] <= stock[("1010", ITEM_C)]  # less what shipped from it so far


def test_gateway_faults_answer_in_theassert_envelope(sandbox: Sandbox) -> None:
    sandbox.control_post("/faults", {"system": "qimen_wms", "burst_429": 1, "burst_5xx": 1})
    try:
        throttled = sandbox.call("inventory.query", "<request/>")
        assert (throttled["flag"], throttled["code"]) == ("failure", "7")
        r = sandbox.post_raw("x=1", b"<request/>")
        assert r.status_code == 500 and b"<flag>failure</flag>" in r.content
    finally:
        requests.delete(sandbox.control + "/faults", timeout=10)


def _confirms(receiver: Receiver, code: str) -> list[dict[str, Any]]:
    """The order's distinct confirms (a duplicate push counted once), in arrival order."""
    docs: dict[str, dict[str, Any]] = {}
    for record in receiver.of(code):
        docs.setdefault(record["doc"]["deliveryOrder"]["outBizCode"], record["doc"])
    return list(docs.values())


def _lines(doc: dict[str, Any]) -> dict[str, int]:
    return {line["orderLineNo"]: int(line["actualQty"]) for line in doc["orderLines"]}


def test_confirm_pushes(sandbox: Sandbox) -> None:
    partial, short = code_with("partial", "SF"), code_with("short")
    pickup, zto = code_with("complete", "PICKUP"), code_with("complete", "ZTO")
    retry = code_with("complete", "SF", prefix="R")
    split = next(
        c for c in (code_with("complete", "SF", prefix=f"S{n}") for n in range(200)) if traits(SEED, c).parcels > 1
    )
    lines = [("10", ITEM_A, 4), ("20", ITEM_B, 6)]
    for code in (partial, short, pickup, zto, retry, split):
        assert sandbox.create(code, lines)["flag"] == "success"
    for n in range(25):  # enough confirms that some are pushed twice
        assert sandbox.create(f"T-BULK-{n}", [("1", ITEM_C, 1)])["flag"] == "success"
    with Receiver(sandbox.qimen["secret"]) as receiver:
        receiver.fail_next[retry] = 1
        assert sandbox.control_post("/qimen_wms/receiver", {"url": receiver.url}) == {"url": receiver.url}
        assert requests.get(sandbox.control + "/qimen_wms/receiver", timeout=10).json() == {"url": receiver.url}
        sandbox.advance(10)  # everything shipped once (a partial's remainder comes days later)
        pushes = sandbox.push()
        failed = [p for p in pushes if p["deliveryOrderCode"] == retry]
        assert [(p["flag"], p["code"], p["attempt"]) for p in failed] == [("failure", "busy", 1)]
        again = [p for p in sandbox.push() if p["deliveryOrderCode"] == retry]
        assert [(p["flag"], p["attempt"]) for p in again] == [("success", 2)]
        first, second = receiver.of(retry)[:2]
        assert first["body"] == second["body"]  # the same message, the same outBizCode
        sandbox.advance(80)
        sandbox.push()

        for record in receiver.received:
            params = record["params"]
            assert record["sign_ok"], params
            assert params["method"] == "taobao.qimen.stockout.confirm" and params["format"] == "xml"
            assert (
                params["app_key"] == sandbox.qimen["app_key"] and params["customerId"] == sandbox.qimen["customer_id"]
            )
            assert params["sign_method"] == "md5" and params["v"] == "2.0"
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", params["timestamp"])
            order = record["doc"]["deliveryOrder"]
            assert order["outBizCode"] and order["deliveryOrderId"].startswith("WMSCK")
            assert record["body"].startswith(b'<?xml version="1.0" encoding="utf-8"?><request>')

        # Partial: an intermediate confirm, then the final one; per-shipment quantities add up.
        docs = _confirms(receiver, partial)
        kinds = [(d["deliveryOrder"]["confirmType"], d["deliveryOrder"]["status"]) for d in docs]
        assert kinds == [("1", "PARTDELIVERED"), ("0", "DELIVERED")], kinds
        assert docs[0]["deliveryOrder"]["outBizCode"] != docs[1]["deliveryOrder"]["outBizCode"]
        total = {n: sum(_lines(d).get(n, 0) for d in docs) for n in ("10", "20")}
        assert total == {"10": 4, "20": 6}
        for doc in docs:
            assert re.fullmatch(r"SF\d{13}", doc["deliveryOrder"]["expressCode"])
            assert doc["deliveryOrder"]["logisticsCode"] == "SF"
            packed = sum(int(i["quantity"]) for p in doc["packages"] for i in p["items"])
            assert packed == sum(_lines(doc).values())

        # Short: one final confirm shipping less than planned.
        (short_doc,) = _confirms(receiver, short)
        assert short_doc["deliveryOrder"]["confirmType"] == "0"
        shipped = _lines(short_doc)
        assert sum(shipped.values()) < 10 and all(shipped[n] <= q for n, q in (("10", 4), ("20", 6)))

        # Pickup: no tracking number, OTHER + 到仓自提.
        (pickup_doc,) = _confirms(receiver, pickup)
        assert pickup_doc["deliveryOrder"]["logisticsCode"] == "OTHER"
        assert pickup_doc["deliveryOrder"]["logisticsName"] == "到仓自提"
        assert "expressCode" not in pickup_doc["deliveryOrder"]
        (zto_doc,) = _confirms(receiver, zto)
        assert zto_doc["deliveryOrder"]["logisticsCode"] == "ZTO"
        assert re.fullmatch(r"7\d{13}", zto_doc["deliveryOrder"]["expressCode"])

        # Split over packages, each with its own waybill.
        (split_doc,) = _confirms(receiver, split)
        codes = [p["expressCode"] for p in split_doc["packages"]]
        assert len(codes) > 1 and len(set(codes)) == len(codes)

        # Some confirms come twice, with the same outBizCode and body.
        seen: dict[str, list[bytes]] = {}
        for record in receiver.received:
            if not record["failed"]:
                seen.setdefault(record["doc"]["deliveryOrder"]["outBizCode"], []).append(record["body"])
        twice = [biz for biz, bodies in seen.items() if len(bodies) == 2]
        assert twice and all(len(set(seen[b])) == 1 for b in twice)
        assert all(len(bodies) <= 2 for bodies in seen.values())

        orders = sandbox.orders()
        assert orders[partial]["status"] == "DELIVERED" and orders[partial]["plan"]["kind"] == "partial"
        assert all(s["push"]["delivered"] for o in orders.values() for s in o["shipments"])
        assert sandbox.push() == []  # nothing left

        calls = requests.get(sandbox.control + "/calls", params={"system": "qimen_wms"}, timeout=10).json()["calls"]
        assert any(c.get("direction") == "push" and c["error_code"] == "busy" for c in calls)


def test_push_faults_bad_sign_and_late(sandbox: Sandbox) -> None:
    code = code_with("complete", "SF", prefix="F")
    with Receiver(sandbox.qimen["secret"]) as receiver:
        sandbox.control_post("/qimen_wms/receiver", {"url": receiver.url})
        assert sandbox.control_post("/qimen_wms/faults", {"bad_sign": 1, "late_minutes": 120}) == {
            "bad_sign": 1,
            "late_minutes": 120.0,
        }
        try:
            assert sandbox.create(code, [("1", ITEM_A, 1)])["flag"] == "success"
            due = utc(sandbox.orders()[code]["plan"]["shipments"][0]["due"])
            sandbox.clock(now=due.isoformat())
            sandbox.advance(1)  # an hour after shipping: still held back
            assert [p for p in sandbox.push() if p["deliveryOrderCode"] == code] == []
            sandbox.advance(1.1)
            pushed = [p for p in sandbox.push() if p["deliveryOrderCode"] == code]
            assert pushed[0]["bad_sign"] and pushed[0]["code"] == "sign-check-failure"
            pushed = [p for p in sandbox.push() if p["deliveryOrderCode"] == code]
            assert pushed[0]["flag"] == "success" and not pushed[0]["bad_sign"]
            assert [r["sign_ok"] for r in receiver.of(code)][:2] == [False, True]
        finally:
            requests.delete(sandbox.control + "/qimen_wms/faults", timeout=10)
    assert requests.post(sandbox.control + "/qimen_wms/faults", json={"nope": 1}, timeout=10).status_code == 400


def test_background_pusher_runs_when_the_clock_does(sandbox: Sandbox) -> None:
    code = code_with("complete", "SF", prefix="B")
    with Receiver(sandbox.qimen["secret"]) as receiver:
        sandbox.control_post("/qimen_wms/receiver", {"url": receiver.url})
        assert sandbox.create(code, [("1", ITEM_A, 1)])["flag"] == "success"
        due = utc(sandbox.orders()[code]["plan"]["shipments"][0]["due"])
        sandbox.clock(now=due.isoformat(), frozen=False)
        try:
            deadline = time.monotonic() + 10
            while not receiver.of(code) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert receiver.of(code), "the background task pushed nothing"
        finally:
            sandbox.clock(frozen=True)
            sandbox.control_post("/qimen_wms/receiver", {"url": None})
