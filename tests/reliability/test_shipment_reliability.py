"""shipment_notices the hard way (issue 10, "Done when"): the flow's steps called as the DAG's tasks
call them, with real clients on a real sandbox (Qimen WMS, SAP, CRMs) and the real receiver, on
SQLite and PostgreSQL (one seeded world per backend: ``shipment_world.py``).

- a WMS that is down: nothing lost, each order created once when it is back;
- a worker killed between the WMS's answer and the ledger's record: linked by stockout.query, never
  created twice; goods issue posted in SAP before its record: linked by reading the delivery back;
- two workers sending, then issuing, the same deliveries at once: once each in the WMS and in SAP;
- pushes: a bad sign refused and pushed again, a replay and a duplicate stored once, a late push
  applied on the run after it arrives, partial then final confirms summed into goods issue;
- CRM cancellations: stopped in the warehouse and SAP, or refused (goods gone) with an alert.

What is counted: the sandbox's call and write logs (the WMS's creates per deliveryOrderCode, SAP's
PostGoodsIssue per delivery), the ledger, the hub's tables, and the outside systems read back.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import requests
from shipment_world import DAY, World, build_world, expire_claims, finish, start_worker
from sqlalchemy import func, select

from connectors.sap_errors import SapError
from flows.shipment_notices.stages import GOODS_ISSUE, STOCKOUT
from hub.ledger import payload_hash
from hub.schema import alerts, order_cancellations, quarantine, receiver_inbox

pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
MIN = 60


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory, airflow_home):
    with build_world(request, tmp_path_factory.mktemp(f"shipments-{request.param}")) as w:
        yield w


@pytest.fixture
def wms_faults(world):
    """Faults set on the WMS by a test are gone after it."""
    yield world
    requests.delete(f"{world.control}/faults", params={"system": "qimen_wms"}, timeout=10).raise_for_status()
    requests.delete(f"{world.control}/qimen_wms/faults", timeout=10).raise_for_status()


def complete(traits, _number) -> bool:
    """Ships in one final confirm, by a carrier with tracking numbers."""
    return traits.kind == "complete" and traits.carrier in ("SF", "ZTO")


def wms_id(world: World, number: str) -> str:
    return world.wms_order(number)["deliveryOrderId"]


def statuses(world: World, numbers) -> dict[str, str]:
    return {n: d.status for n, d in world.deliveries(numbers).items()}


# -- 1. a WMS that is down --------------------------------------------------------------------------
def test_a_wms_that_is_down_loses_nothing_and_later_creates_each_order_once(world, wms_faults):
    numbers = world.take(3, complete)
    t = world.now()
    since = world.last_seq()
    world.post("faults", {"system": "qimen_wms", "rate_5xx": 1.0})
    down = world.send(now=t)
    again = world.send(now=t + timedelta(minutes=15))  # the next scheduled run, the WMS still down
    requests.delete(f"{world.control}/faults", params={"system": "qimen_wms"}, timeout=10).raise_for_status()

    assert down == again == {"sent": 0, "quarantined": 0, "failed": 3, "waiting": 0}
    assert set(statuses(world, numbers).values()) == {"new"}, "nothing lost: the next run sends them"
    entries = world.entries(STOCKOUT, numbers)
    assert sorted(entries) == numbers
    assert {(e.status, e.attempts) for e in entries.values()} == {("failed", 2)}
    assert all("500" in e.last_error for e in entries.values()), [e.last_error for e in entries.values()]
    # A create answered 5xx may have reached the WMS: never repeated within a run; the second run asked
    # first (stockout.query, retried as a read) and, with no answer, sent nothing.
    creates, queries = world.qimen_calls("stockout.create", since), world.qimen_calls("stockout.query", since)
    assert len(creates) == 3 and all(c["status"] == 500 for c in creates)
    assert len(queries) == 3 * 2 and all(c["status"] == 500 for c in queries)
    assert not set(world.wms_creates()) & set(numbers)

    since = world.last_seq()
    back = world.send(now=t + timedelta(minutes=30))

    assert back == {"sent": 3, "quarantined": 0, "failed": 0, "waiting": 0}
    creates = world.qimen_calls("stockout.create", since)
    assert len(creates) == 3 and all(c["status"] == 200 for c in creates)
    assert len(world.qimen_calls("stockout.query", since)) == 3, "each retried entry asked the WMS first"
    made = world.wms_creates()
    assert {n: made[n] for n in numbers} == dict.fromkeys(numbers, 1)
    held, entries = world.deliveries(numbers), world.entries(STOCKOUT, numbers)
    for n in numbers:
        assert held[n].status == "sent" and held[n].wms_order_id == wms_id(world, n)
        assert (entries[n].status, entries[n].response_ref) == ("sent", held[n].wms_order_id)

    # A re-run sends nothing twice: not one call reaches the WMS.
    since = world.last_seq()
    assert world.send(now=t + timedelta(minutes=45))["sent"] == 0
    assert world.calls("qimen_wms", since) == []


# -- 2. killed between the WMS's answer and the ledger's record -------------------------------------
def test_a_worker_killed_after_the_wms_took_the_order_never_creates_it_twice(world):
    """Try 1 dies right after the WMS created A; try 2 (A still claimed by the dead try) asks the WMS
    and links A, then dies right after creating B; try 3, once B's lease ran out, asks and links B
    and creates C. Each order is created once; each link is a stockout.query, not a create."""
    a, b, c = numbers = world.take(3, complete)
    go = world.tmp / "go-killed-send"
    go.touch()
    since = world.last_seq()

    finish(start_worker(world, "send", "shipment_notices.send#1@killed", go, die_after="stockout_create"), 9)
    entries = world.entries(STOCKOUT, numbers)
    assert sorted(entries) == [a] and (entries[a].status, entries[a].attempts) == ("in_flight", 1)
    assert world.wms_creates()[a] == 1
    assert set(statuses(world, numbers).values()) == {"new"}

    finish(start_worker(world, "send", "shipment_notices.send#2@killed", go, die_after="stockout_create"), 9)
    entries = world.entries(STOCKOUT, numbers)
    assert (entries[a].status, entries[a].attempts, entries[a].response_ref) == ("sent", 1, wms_id(world, a))
    assert (entries[b].status, entries[b].attempts) == ("in_flight", 1)
    assert statuses(world, numbers) == {a: "sent", b: "new", c: "new"}

    expire_claims(world, STOCKOUT, [b])
    counts = world.send("shipment_notices.send#3@killed")

    assert counts == {"sent": 2, "quarantined": 0, "failed": 0, "waiting": 0}
    made = world.wms_creates()
    assert {n: made[n] for n in numbers} == dict.fromkeys(numbers, 1)
    assert len(world.qimen_calls("stockout.create", since)) == 3, "one create per order over the three tries"
    assert len(world.qimen_calls("stockout.query", since)) == 2, "A by try 2, B by try 3"
    entries, held = world.entries(STOCKOUT, numbers), world.deliveries(numbers)
    for n in numbers:
        assert held[n].status == "sent" and held[n].wms_order_id == wms_id(world, n)
        assert (entries[n].status, entries[n].response_ref) == ("sent", held[n].wms_order_id)
    assert entries[b].attempts == 2 and entries[c].attempts == 1


# -- 3. two workers at once -----------------------------------------------------------------------
def test_two_workers_send_and_issue_the_same_deliveries_once_each(world):
    numbers = world.take(6, complete)
    go = world.tmp / "go-two-send"
    since = world.last_seq()
    workers = [start_worker(world, "send", f"shipment_notices.send#{i}@two", go) for i in (1, 2)]
    time.sleep(1.5)  # both interpreters are up and waiting
    go.touch()
    totals = [finish(w) for w in workers]

    assert sum(t["failed"] + t["quarantined"] for t in totals) == 0, totals
    assert set(statuses(world, numbers).values()) == {"sent"}
    made = world.wms_creates()
    assert {n: made[n] for n in numbers} == dict.fromkeys(numbers, 1)
    creates = world.qimen_calls("stockout.create", since)
    assert len(creates) == 6 and all(c["status"] == 200 for c in creates), "no create sent twice"

    world.ship_and_confirm(numbers)
    assert set(statuses(world, numbers).values()) == {"shipped"}
    go = world.tmp / "go-two-issue"
    since = world.last_seq()
    workers = [start_worker(world, "issue", f"shipment_notices.issue#{i}@two", go) for i in (1, 2)]
    time.sleep(1.5)
    go.touch()
    totals = [finish(w) for w in workers]

    assert sum(t["failed"] + t["quarantined"] for t in totals) == 0, totals
    posted = world.sap_actions("PostGoodsIssue", since)
    assert {n: posted[n] for n in numbers} == dict.fromkeys(numbers, 1), "SAP refuses a second one"
    assert max(posted.values()) == 1, posted
    assert set(statuses(world, numbers).values()) == {"issued"}
    assert all(world.sap.delivery(n).is_issued for n in numbers)
    with world.engine.connect() as conn:
        held = conn.scalar(select(func.count()).where(quarantine.c.stage == "sap_goods_issue"))
    assert held == 0
    entries = world.entries(GOODS_ISSUE, numbers)
    assert {n: (e.status, e.response_ref) for n, e in entries.items()} == {n: ("sent", n) for n in numbers}
    # A re-run posts nothing twice: SAP hears nothing about these deliveries.
    since = world.last_seq()
    world.issue("shipment_notices.issue#3@two")
    assert not any(n in c["query"] or n in c["path"] for c in world.calls("sap_s4", since) for n in numbers)


# -- 4. goods issue posted in SAP, the ledger never heard -------------------------------------------
def test_goods_issue_posted_before_its_record_is_linked_not_posted_again(world):
    """SAP posted goods issue of two shipped deliveries, then the try died: one entry's lease ran out,
    the other's still runs (another try may be at work). The next issue reads both back from SAP
    (goods movement status C) and links them; no PostGoodsIssue goes out for them."""
    numbers = world.take(2, complete)
    world.send()
    world.ship_and_confirm(numbers)
    assert set(statuses(world, numbers).values()) == {"shipped"}
    dead = world.ledger("shipment_notices.issue#1@dead")
    lines = world.lines(numbers)
    for n in numbers:
        picked = {str(no): str(ln.shipped_qty) for (d, no), ln in sorted(lines.items()) if d == n}
        payload = {"delivery": n, "picked": picked}  # what issue() sends for it
        # The dead try's claim, written by the ledger's own claim (in flight, attempts 1) ...
        dead._claim(GOODS_ISSUE, n, payload, payload_hash(payload))
        doc = world.sap.delivery(n)
        world.sap.pick_delivery(doc, {k: Decimal(v) for k, v in picked.items()})
        world.sap.post_goods_issue(n)  # ... and SAP's goods issue it posted before dying
    expired, live = numbers
    expire_claims(world, GOODS_ISSUE, [expired])
    assert {e.status for e in world.entries(GOODS_ISSUE, numbers).values()} == {"in_flight"}
    since = world.last_seq()

    world.issue("shipment_notices.issue#2@dead")

    assert not set(world.sap_actions("PostGoodsIssue", since)) & set(numbers)
    assert not set(world.sap_actions("SetPickingQuantityWithBaseQuantity", since)) & set(numbers)
    assert set(statuses(world, numbers).values()) == {"issued"}
    entries = world.entries(GOODS_ISSUE, numbers)
    assert all((entries[n].status, entries[n].response_ref) == ("sent", n) for n in numbers)
    assert entries[expired].attempts == 2 and entries[live].attempts == 1
    assert {world.order_of(n).status for n in numbers} <= {"shipped", "partly_shipped"}


# -- 5. pushes --------------------------------------------------------------------------------------
def inbox_rows(world: World, keys) -> list:
    with world.engine.connect() as conn:
        return conn.execute(select(receiver_inbox).where(receiver_inbox.c.message_key.in_(list(keys)))).all()


def test_a_bad_sign_is_refused_and_pushed_again_a_replay_and_a_duplicate_stored_once(world, wms_faults):
    from connectors.qimen import QimenClient

    numbers = world.take(4, complete)
    world.send()
    world.push()  # what is due now goes out first: the bad sign falls on a message due after the move
    world.post("qimen_wms/faults", {"bad_sign": 1})
    world.advance(DAY / 2)  # the warehouse ships them (0.8–8.5 h after acceptance)
    first = world.push()

    refused = [p for p in first if p["bad_sign"]]
    assert len(refused) == 1 and refused[0]["flag"] == "failure", first
    assert refused[0]["code"] == "sign-check-failure", refused
    victim = refused[0]["outBizCode"]
    assert inbox_rows(world, [victim]) == [], "a refused push is not stored"
    second = world.push()  # the WMS pushes it again
    retried = [p for p in second if p["outBizCode"] == victim and not p["duplicate"]]
    assert [(p["attempt"], p["flag"]) for p in retried] == [(2, "success")], second
    assert len(inbox_rows(world, [victim])) == 1
    pushes = world.calls("qimen_wms")
    assert [c["error_code"] for c in pushes if c.get("direction") == "push" and c["fault"] == "bad_sign"] == [
        "sign-check-failure"
    ]
    # Every message the WMS pushed twice (its own duplicates) is stored once.
    for p in (p for p in first + second if p["duplicate"]):
        assert p["flag"] == "success" and len(inbox_rows(world, [p["outBizCode"]])) == 1

    mine = [p for p in first + second if p["deliveryOrderCode"] in numbers and p["flag"] == "success"]
    keys = sorted({p["outBizCode"] for p in mine})
    assert len(keys) == len(numbers)
    world.confirm()
    assert set(statuses(world, numbers).values()) == {"shipped"}
    shipped = {k: ln.shipped_qty for k, ln in world.lines(numbers).items()}

    # A replay of a stored message (a WMS that lost the answer), correctly signed: success, stored once,
    # and the next run adds nothing.
    (row,) = inbox_rows(world, keys[:1])
    wms = world.info["systems"]["qimen_wms"]
    sender = QimenClient(world.receiver, wms["app_key"], wms["secret"], wms["customer_id"], clock=world.now)
    query = sender.signed_query("taobao.qimen.stockout.confirm", row.body)
    r = requests.post(f"{world.receiver}?{query}", data=row.body.encode(), timeout=10)
    assert r.ok and "<flag>success</flag>" in r.text, r.text
    assert len(inbox_rows(world, keys)) == len(keys)
    world.confirm()
    assert {k: ln.shipped_qty for k, ln in world.lines(numbers).items()} == shipped
    assert all(ln.shipped_qty <= ln.planned_qty for ln in world.lines(numbers).values())


def test_a_late_push_is_applied_on_the_run_after_it_arrives(world, wms_faults):
    (number,) = world.take(1, complete)
    world.post("qimen_wms/faults", {"late_minutes": 600})
    world.send()
    due = datetime.fromisoformat(world.wms_order(number)["plan"]["shipments"][0]["due"])
    world.post("clock", {"now": (due + timedelta(minutes=1)).isoformat()})

    pushed = world.push()
    assert world.wms_order(number)["status"] == "DELIVERED", "the warehouse shipped it (DELIVERED: 已发货)"
    assert number not in {p["deliveryOrderCode"] for p in pushed}, "its confirm is held back"
    world.confirm()
    assert statuses(world, [number]) == {number: "sent"}

    world.advance(600 * MIN)
    pushed = world.push()
    assert [(p["deliveryOrderCode"], p["flag"]) for p in pushed if p["deliveryOrderCode"] == number] == [
        (number, "success")
    ]
    world.confirm()
    assert statuses(world, [number]) == {number: "shipped"}
    world.issue()
    assert statuses(world, [number]) == {number: "issued"}
    assert world.sap.delivery(number).is_issued


def test_partial_then_final_confirms_add_up_and_goods_issue_posts_the_sum(world):
    (number,) = world.take(1, lambda t, _n: t.kind == "partial" and t.carrier in ("SF", "ZTO"))
    world.send()
    plan = world.wms_order(number)["plan"]
    assert plan["kind"] == "partial" and [s["confirmType"] for s in plan["shipments"]] == [1, 0]
    first_due, final_due = (datetime.fromisoformat(s["due"]) for s in plan["shipments"])

    world.post("clock", {"now": (first_due + timedelta(minutes=1)).isoformat()})
    world.push()
    world.confirm()
    first = {int(k): q for k, q in plan["shipments"][0]["quantities"].items()}
    lines = world.lines([number])
    assert {no: int(ln.shipped_qty) for (_, no), ln in lines.items()} == {no: first.get(no, 0) for _, no in lines}
    assert statuses(world, [number]) == {number: "sent"}, "a partial confirm does not close the delivery"
    since = world.last_seq()
    world.issue()
    assert not world.sap_actions("PostGoodsIssue", since)[number], "no goods issue before the final confirm"

    world.post("clock", {"now": (final_due + timedelta(minutes=1)).isoformat()})
    world.push()
    world.confirm()
    shipments = world.wms_order(number)["shipments"]
    assert [s["confirmType"] for s in shipments] == [1, 0]
    total = {no: sum(int(s["quantities"].get(str(no), 0)) for s in shipments) for _, no in lines}
    lines = world.lines([number])
    assert {no: ln.shipped_qty for (_, no), ln in lines.items()} == total
    assert statuses(world, [number]) == {number: "shipped"}

    world.issue()

    assert world.sap_actions("PostGoodsIssue", since)[number] == 1
    doc = world.sap.delivery(number)
    assert doc.is_issued
    assert {int(i.item): i.quantity for i in doc.items} == total, "SAP issued the sum of both shipments"
    assert statuses(world, [number]) == {number: "issued"}


# -- 6. cancellations -------------------------------------------------------------------------------
def cancel_in_crm(world: World, source: str, crm_id: str) -> None:
    if source == "zoho_crm":
        body = {"module": "Sales_Orders", "id": crm_id, "fields": {"Status": "Cancelled"}, "touch": True}
    else:
        body = {"module": "SalesOrderObj", "id": crm_id, "fields": {"life_status": "invalid"}, "touch": True}
    world.post(f"records/{source}", body)


def crm_record(world: World, source: str, crm_id: str) -> dict:
    module = "Sales_Orders" if source == "zoho_crm" else "SalesOrderObj"
    return world.get(f"records/{source}/{module}/{crm_id}")["record"]


def crm_status(world: World, source: str, crm_id: str) -> str:
    record = crm_record(world, source, crm_id)
    return record["Status"] if source == "zoho_crm" else record.get("hub_status__c")


def crm_lines(world: World, source: str, crm_id: str) -> int:
    record = crm_record(world, source, crm_id)
    return len(record.get("Ordered_Items") or [] if source == "zoho_crm" else record.get("details") or [])


def test_cancellations_stop_unshipped_orders_and_refuse_shipped_ones_with_an_alert(world):
    """Four orders cancelled in their CRMs: A (Zoho) and B (Fxiaoke) sent to the warehouse, not
    shipped: stopped there, deleted and rejected in SAP, cancelled, the CRM told. C (Zoho) shipped and
    goods-issued: refused without asking the warehouse. D (Fxiaoke) shipped by the warehouse while the
    hub still shows it sent: the warehouse refuses; the shipment goes on to goods issue."""
    from dagruns import sync

    (c,) = world.take(1, complete, source="zoho_crm")
    world.send()
    world.ship_and_confirm([c])
    world.issue()
    assert statuses(world, [c]) == {c: "issued"}
    (d,) = world.take(1, complete, source="fxiaoke")
    world.send()
    for _ in range(8):  # the warehouse ships D; nobody pushes (the clock is frozen)
        if world.wms_order(d)["shipments"]:
            break
        world.advance(DAY / 8)
    assert world.wms_order(d)["shipments"] and statuses(world, [d]) == {d: "sent"}
    (a,) = world.take(1, complete, source="zoho_crm")
    (b,) = world.take(1, complete, source="fxiaoke")
    world.send()
    assert statuses(world, [a, b]) == {a: "sent", b: "sent"}
    heads = {n: world.order_of(n) for n in (a, b, c, d)}
    sap_orders = {n: world.deliveries([n])[n].sap_order for n in (a, b, c, d)}
    lines_before = {n: crm_lines(world, h.source, h.crm_order_id) for n, h in heads.items()}
    for h in heads.values():
        cancel_in_crm(world, h.source, h.crm_order_id)
    sync(world.advance(MIN))  # a pull reads [from, to): the edits are a minute old
    with world.engine.connect() as conn:
        requested = {r.crm_order_id: r.status for r in conn.execute(select(order_cancellations))}
    assert {requested.get(h.crm_order_id) for h in heads.values()} == {"requested"}
    since = world.last_seq()

    counts = world.cancel()

    assert counts == {"cancelled": 2, "refused": 2, "waiting": 0}
    with world.engine.connect() as conn:
        done = {r.crm_order_id: r.status for r in conn.execute(select(order_cancellations))}
        raised = conn.execute(select(alerts).where(alerts.c.kind == "cancellation_refused")).all()
    cancels = world.qimen_calls("order.cancel", since)
    assert len(cancels) == 3, "A, B and D asked; C known shipped"
    for n in (a, b):
        h = heads[n]
        assert done[h.crm_order_id] == "cancelled"
        assert world.order_of(n).status == "cancelled" and statuses(world, [n]) == {n: "cancelled"}
        assert world.wms_order(n)["canceled"]
        with pytest.raises(SapError) as gone:
            world.sap.delivery(n)
        assert gone.value.status == 404, "SAP's delivery deleted"
        items = world.sap.sales_order(sap_orders[n]).items
        assert items and {i.rejection_reason for i in items} == {world.settings.logistics.rejection_reason}
    assert crm_status(world, "zoho_crm", heads[a].crm_order_id) == "Cancelled"
    assert crm_status(world, "fxiaoke", heads[b].crm_order_id) == "cancelled"
    for n in (c, d):
        assert done[heads[n].crm_order_id] == "refused"
        assert world.order_of(n).status != "cancelled"
    assert crm_status(world, "zoho_crm", heads[c].crm_order_id) == "Cancellation Failed"
    assert crm_status(world, "fxiaoke", heads[d].crm_order_id) == "cancel_failed"
    assert len(raised) == 2
    assert all(any(heads[n].order_number in x.message for x in raised) for n in (c, d)), [x.message for x in raised]
    # The CRM write-backs changed statuses, never the orders' lines.
    assert {n: crm_lines(world, h.source, h.crm_order_id) for n, h in heads.items()} == lines_before

    # A re-run does nothing twice: no call to the WMS, no second alert, no CRM write.
    since = world.last_seq()
    assert world.cancel() == {"cancelled": 0, "refused": 0, "waiting": 0}
    assert world.calls("qimen_wms", since) == [] and world.calls("sap_s4", since) == []
    with world.engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(alerts.c.kind == "cancellation_refused")) == 2

    # D's shipment goes on: its confirm arrives, goods issue is posted; A and B never ship.
    world.advance(DAY)
    world.push()
    world.confirm()
    world.issue()
    assert statuses(world, [a, b, d]) == {a: "cancelled", b: "cancelled", d: "issued"}
    assert world.sap.delivery(d).is_issued
    assert not world.wms_order(a)["shipments"] and not world.wms_order(b)["shipments"]


def test_the_cancellation_of_an_order_in_review_waits_until_the_review_is_settled(world):
    """The lifecycle has no review → cancelled: the request waits (nothing asked of the warehouse or
    SAP) until a human settles the review (review → posted); the next run then cancels it."""
    from hub.db import utcnow
    from hub.repositories.orders import set_status

    (number,) = world.take(1, complete)
    world.send()
    head = world.order_of(number)
    key = (head.source, head.crm_order_id)
    with world.engine.begin() as conn:
        set_status(conn, [key], "posted", "review-test", only_from=("confirmed", "partial"))
        set_status(conn, [key], "review", "review-test")
        now = utcnow()
        conn.execute(  # as crm_order_sync records a CRM cancellation of an order SAP holds
            order_cancellations.insert().values(
                source=key[0], crm_order_id=key[1], status="requested", requested_at=now, run_id="r", updated_at=now
            )
        )
    since = world.last_seq()

    assert world.cancel() == {"cancelled": 0, "refused": 0, "waiting": 1}
    assert world.calls("qimen_wms", since) == [] and world.calls("sap_s4", since) == []
    assert world.order_of(number).status == "review" and statuses(world, [number]) == {number: "sent"}

    with world.engine.begin() as conn:
        set_status(conn, [key], "posted", "review-test")
    assert world.cancel() == {"cancelled": 1, "refused": 0, "waiting": 0}
    assert world.order_of(number).status == "cancelled" and statuses(world, [number]) == {number: "cancelled"}
    assert world.wms_order(number)["canceled"]
