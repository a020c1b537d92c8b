"""SAP order posting under failure (DESIGN §3.1, §3.2, §3.5): the hub's plan/post steps against a
real sandbox SAP and a real hub database, with crashes, refusals, expired CSRF tokens and 5xx storms.

Each test gets a fresh frozen sandbox (SAP keeps the orders earlier tests created) and a fresh hub
database holding accepted orders built straight from clean seed orders.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import pytest
import requests
from sqlalchemy import select

from connectors.http import RetryPolicy
from connectors.sap_odata import any_of_chunks
from flows.sap_order_posting import POSTING_STAGE, SAP_ORDER, plan, post
from hub.db import utcnow
from hub.ledger import Ledger
from hub.schema import ledger, order_lines, orders, quarantine, sap_orders
from sandbox.seed_data import generate
from sandbox.testing import PROJECT_ROOT, running_sandbox

pytestmark = pytest.mark.sandbox

SEED, SEED_ORDERS = 11, 200
PLANT = "1010"
OWNER = "sap_order_posting.post"  # one logical worker: a task retry takes over its own claims
FAST = RetryPolicy(max_attempts=2, base=0, cap=0)
BATCH = "/API_SALES_ORDER_SRV/$batch"
SO_SERVICE = "/API_SALES_ORDER_SRV/"


# -- the world: a fresh sandbox and accepted orders in the hub ----------------------------------------
@pytest.fixture
def sap_sandbox():
    with running_sandbox(seed=SEED, orders=SEED_ORDERS, frozen=True) as info:
        yield info


@cache
def seed_book(now: str):
    return generate(SEED, SEED_ORDERS, datetime.fromisoformat(now.replace("Z", "+00:00")))


def clean_orders(info, count):
    """The first ``count`` seed orders without defects of orderable CNY customers (sales organisation
    1000, plant 1010) whose every line the plant's seeded stock covers."""
    book = seed_book(info["now"])
    customers = book.customer_by_number
    stock = {s.material: s.unrestricted for s in book.stock if s.plant == PLANT}
    picked = [
        o
        for o in book.orders
        if not o.defects
        and o.customer_number
        and not customers[o.customer_number].blocked
        and o.currency == "CNY"
        and all(stock.get(ln.material_number, 0) >= ln.quantity for ln in o.lines)
    ][:count]
    assert len(picked) == count, "the seed has enough clean orders"
    return picked


def cents(value):
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def accept(engine, seed_orders):
    """Write seed orders as the hub's canonical ``accepted`` rows (what crm_sync would have written)."""
    now = utcnow()
    heads, lines = [], []
    for o in seed_orders:
        rate = o.vat_rate / 100
        rows = []
        for ln in o.lines:
            gross = ln.quantity * ln.unit_price
            discount = cents(gross * ln.discount_percent / 100)
            net = cents(gross - discount)
            rows.append(
                {
                    "source": o.crm,
                    "crm_order_id": o.crm_id,
                    "line_no": ln.line_number,
                    "crm_line_id": ln.crm_id,
                    "material": ln.material_number,
                    "quantity": ln.quantity,
                    "unit": "PC",
                    "unit_price": ln.unit_price,
                    "discount": discount,
                    "net_amount": net,
                    "tax_rate": rate,
                    "tax_amount": cents(net * rate),
                    "currency": o.currency,
                    "plant": PLANT,
                }
            )
        net_total = sum(r["net_amount"] for r in rows)
        tax_total = sum(r["tax_amount"] for r in rows)
        heads.append(
            {
                "source": o.crm,
                "crm_order_id": o.crm_id,
                "order_number": o.number,
                "customer_number": o.customer_number,
                "currency": o.currency,
                "order_time": o.order_time,
                "requested_date": o.requested_delivery_date,
                "crm_modified_at": o.modified_time,
                "net_amount": net_total,
                "tax_amount": tax_total,
                "gross_amount": net_total + tax_total,
                "line_count": len(rows),
                "status": "accepted",
                "content_hash": hashlib.sha256(f"{o.number}:{net_total}".encode()).hexdigest(),
                "updated_at": now,
            }
        )
        lines += rows
    with engine.begin() as conn:
        conn.execute(orders.insert(), heads)
        conn.execute(order_lines.insert(), lines)
    return [o.number for o in seed_orders]


def plan_and_post(engine, sap, run_id="run-1", planned=None):
    planned = planned or plan(engine, sap, run_id, default_plant=PLANT)
    counts = post(engine, sap, Ledger(engine, owner=OWNER), run_id, planned, default_plant=PLANT, retry=FAST)
    return planned, counts


# -- what SAP and the hub hold ------------------------------------------------------------------------
def sap_calls(info, since=0):
    response = requests.get(f"{info['control_url']}/calls", params={"system": "sap_s4", "since": since}, timeout=10)
    response.raise_for_status()
    return response.json()["calls"]


def batch_posts(calls):
    return [c for c in calls if c["method"] == "POST" and c["path"].endswith(BATCH)]


def control(info, path, body):
    response = requests.post(f"{info['control_url']}/{path}", json=body, timeout=10)
    assert response.ok, response.text


def orders_in_sap(sap, numbers):
    """Every SAP sales order per PurchaseOrderByCustomer (find_sales_orders would hide a duplicate)."""
    held = Counter()
    for flt in any_of_chunks("PurchaseOrderByCustomer", numbers):
        for row in sap.odata.iter_entities("API_SALES_ORDER_SRV", "A_SalesOrder", filter=flt, orderby="SalesOrder"):
            held[row["PurchaseOrderByCustomer"]] += 1
    return held


def planned_numbers(engine, planned):
    keys = {tuple(k) for k in planned["sequence"]}
    with engine.connect() as conn:
        rows = conn.execute(select(orders.c.source, orders.c.crm_order_id, orders.c.order_number)).all()
    return sorted(r.order_number for r in rows if (r.source, r.crm_order_id) in keys)


def hub_states(engine):
    with engine.connect() as conn:
        return dict(conn.execute(select(orders.c.order_number, orders.c.status)).all())


def ledger_rows(engine):
    with engine.connect() as conn:
        return {r.idem_key: r for r in conn.execute(select(ledger).where(ledger.c.target == SAP_ORDER))}


def sap_links(engine):
    with engine.connect() as conn:
        return dict(conn.execute(select(sap_orders.c.order_number, sap_orders.c.sap_order)).all())


def assert_posted_once(engine, sap, numbers):
    """Each order is in SAP exactly once, posted in the hub, linked and recorded under SAP's number."""
    in_sap = orders_in_sap(sap, numbers)
    assert in_sap == dict.fromkeys(numbers, 1), "exactly one SAP order per purchase order"
    found = {po: doc.number for po, doc in sap.find_sales_orders(numbers).items()}
    links, entries, states = sap_links(engine), ledger_rows(engine), hub_states(engine)
    for number in numbers:
        assert states[number] == "posted", number
        assert links[number] == found[number], number
        assert (entries[number].status, entries[number].response_ref) == ("sent", found[number]), number


# -- 1. killed between SAP's answer and the ledger's record ----------------------------------------
KILLED_POST = textwrap.dedent(
    """
    import json, os, sys
    from connectors.http import RetryPolicy
    from connectors.sap_s4 import SapClient, SapConfig
    from hub.db import make_engine
    from hub.ledger import Ledger
    from flows.sap_order_posting import post

    job = json.load(sys.stdin)
    create = SapClient.create_sales_orders

    def create_then_die(self, payloads):
        create(self, payloads)  # SAP has committed the orders ...
        os._exit(9)  # ... and the worker dies before the ledger hears of it

    SapClient.create_sales_orders = create_then_die
    engine = make_engine(job["db_url"])
    sap = SapClient(SapConfig(**job["sap"], retry=RetryPolicy(max_attempts=2, base=0)))
    fast = RetryPolicy(max_attempts=2, base=0, cap=0)
    post(engine, sap, Ledger(engine, owner=job["owner"]), "run-1", job["planned"], default_plant="1010", retry=fast)
    sys.exit(3)  # not reached: the first $batch kills the process
    """
)


def test_killed_after_sap_created_orders_does_not_duplicate_them(hub_db, sap_sandbox, sap_client):
    """A worker dies right after SAP committed its first $batch: the retry links those orders
    (looked up by PurchaseOrderByCustomer) instead of creating them again, and posts the rest."""
    accept(hub_db, clean_orders(sap_sandbox, 7))
    sap = sap_client(sap_sandbox, batch_size=4)
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    numbers = planned_numbers(hub_db, planned)
    assert len(numbers) == 7
    s = sap_sandbox["systems"]["sap_s4"]
    job = {
        "db_url": hub_db.url.render_as_string(hide_password=False),
        "sap": {k: s[k] for k in ("base_url", "user", "password", "client")} | {"batch_size": 4},
        "owner": OWNER,
        "planned": planned,
    }
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_POST],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert proc.returncode == 9, proc.stderr[-3000:]
    first_chunk = sorted(orders_in_sap(sap, numbers))
    assert len(first_chunk) == 4, "the dead worker's one $batch reached SAP"
    entries = ledger_rows(hub_db)
    assert {entries[n].status for n in first_chunk} == {"in_flight"}
    assert not sap_links(hub_db) and set(hub_states(hub_db).values()) == {"accepted"}

    # The task's retry (same worker identity) posts the same plan again.
    _, counts = plan_and_post(hub_db, sap, planned=planned)

    assert counts == {"posted": 3, "already_in_sap": 4, "held": 0, "failed": 0}
    assert_posted_once(hub_db, sap, numbers)
    assert len(batch_posts(sap_calls(sap_sandbox))) == 2, "one $batch per chunk of 4, over both runs"
    entries = ledger_rows(hub_db)
    assert all(entries[n].attempts == 2 for n in first_chunk), "the retry looked them up"


# -- 2. one refused changeset quarantines only its order ------------------------------------------
def test_a_refused_changeset_holds_only_its_order(hub_db, sap_sandbox, sap_client):
    """SAP refuses one customer's changesets in a $batch: those orders are held and quarantined with
    SAP's field, every other order of the same $batch is posted."""
    picked = clean_orders(sap_sandbox, 8)
    accept(hub_db, picked)
    sap = sap_client(sap_sandbox)
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    numbers = planned_numbers(hub_db, planned)
    assert len(numbers) == 8 and planned["held"] == 0
    customer = picked[3].customer_number
    refused = sorted(o.number for o in picked if o.customer_number == customer)
    assert len(refused) < len(picked)
    # Blocked in SAP after planning: only the create can find out.
    control(
        sap_sandbox,
        "records/sap_s4",
        {"module": "A_Customer", "id": customer, "fields": {"OrderIsBlockedForCustomer": "01"}},
    )

    _, counts = plan_and_post(hub_db, sap, planned=planned)

    accepted = sorted(set(numbers) - set(refused))
    assert counts == {"posted": len(accepted), "already_in_sap": 0, "held": len(refused), "failed": 0}
    assert len(batch_posts(sap_calls(sap_sandbox))) == 1, "one $batch for all 8 changesets"
    assert_posted_once(hub_db, sap, accepted)
    assert not orders_in_sap(sap, refused)
    states, entries = hub_states(hub_db), ledger_rows(hub_db)
    with hub_db.connect() as conn:
        quarantined = conn.execute(select(quarantine).where(quarantine.c.stage == POSTING_STAGE)).all()
    by_number = {q.payload["order_number"]: q for q in quarantined}
    assert sorted(by_number) == refused
    for number in refused:
        assert states[number] == "held"
        q = by_number[number]
        assert (q.status, q.error_class, q.field) == ("open", "SapBusinessError", "SoldToParty")
        assert number in q.detail and "V1/462" in q.detail, q.detail
        assert entries[number].status == "failed" and "SapBusinessError" in entries[number].last_error


# -- 3. an expired CSRF token between two $batch requests ---------------------------------------------
def test_an_expired_csrf_token_mid_run_is_fetched_again_once(hub_db, sap_sandbox, sap_client):
    """SAP ends every session between the first and second $batch: one 403, one token fetch, the
    same $batch once more, and nothing posted twice."""
    accept(hub_db, clean_orders(sap_sandbox, 13))
    sap = sap_client(sap_sandbox, batch_size=5)
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    numbers = planned_numbers(hub_db, planned)
    assert len(numbers) == 13
    create, batches = sap.create_sales_orders, []

    def expire_before_the_second(payloads):
        batches.append(len(payloads))
        if len(batches) == 2:
            control(sap_sandbox, "faults", {"system": "sap_s4", "expire_tokens": True})
        return create(payloads)

    sap.create_sales_orders = expire_before_the_second
    since = sap_calls(sap_sandbox)[-1]["seq"]

    _, counts = plan_and_post(hub_db, sap, planned=planned)

    assert batches == [5, 5, 3]
    assert counts == {"posted": 13, "already_in_sap": 0, "held": 0, "failed": 0}
    assert_posted_once(hub_db, sap, numbers)
    calls = sap_calls(sap_sandbox, since)
    refused = [i for i, c in enumerate(calls) if c["status"] == 403]
    assert len(refused) == 1 and calls[refused[0]]["path"].endswith(BATCH), "exactly one 403, on a $batch"
    i = refused[0]
    refetch, resend = calls[i + 1], calls[i + 2]
    assert refetch["method"] in ("HEAD", "GET") and refetch["path"].endswith(SO_SERVICE) and refetch["status"] == 200
    assert resend["method"] == "POST" and resend["path"].endswith(BATCH) and resend["status"] == 202
    token_fetches = [c for c in calls if c["path"].endswith(SO_SERVICE)]
    assert len(token_fetches) == 2 == sap.odata.csrf_fetches, "the first token, and one after the expiry"
    assert [c["status"] for c in batch_posts(calls)] == [202, 403, 202, 202]


# -- 4. a 5xx storm: retried, then failed in the ledger, never lost ----------------------------------
def test_a_5xx_storm_leaves_orders_failed_in_the_ledger_then_a_later_run_posts_them(
    hub_db, sap_sandbox, sap_client, monkeypatch, capsys
):
    """Every SAP call answers 5xx: retried, then failed in the ledger (listed by ``hub ledger list``),
    the orders still accepted; once SAP is back, the next run posts each exactly once."""
    from cli.main import main as hub_cli

    accept(hub_db, clean_orders(sap_sandbox, 6))
    sap = sap_client(sap_sandbox, batch_size=4)
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    numbers = planned_numbers(hub_db, planned)
    assert len(numbers) == 6
    control(sap_sandbox, "faults", {"system": "sap_s4", "rate_5xx": 1.0, "scope": "api"})
    since = sap_calls(sap_sandbox)[-1]["seq"]

    _, counts = plan_and_post(hub_db, sap, planned=planned)

    assert counts == {"posted": 0, "already_in_sap": 0, "held": 0, "failed": 6}
    calls = sap_calls(sap_sandbox, since)
    assert calls and all(c["status"] >= 500 for c in calls)
    # Two chunks × two posting attempts × two client attempts of the lookup; no create went out,
    # since SAP could not say whether it held the orders.
    lookups = [c for c in calls if c["method"] == "GET" and c["path"].endswith("/A_SalesOrder")]
    assert len(lookups) == 8 and not batch_posts(calls)
    entries = ledger_rows(hub_db)
    assert sorted(entries) == numbers
    for number in numbers:
        assert entries[number].status == "failed" and "HTTP 500" in entries[number].last_error, entries[number]
        assert entries[number].attempts == 2, "one claim per posting attempt"
    assert set(hub_states(hub_db).values()) == {"accepted"}, "nothing lost, nothing half-posted"
    assert not sap_links(hub_db)

    monkeypatch.setenv("HUB_DATABASE_URL", hub_db.url.render_as_string(hide_password=False))
    capsys.readouterr()
    assert hub_cli(["ledger", "list", "--status", "failed", "--target", SAP_ORDER, "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(e["idem_key"] for e in listed) == numbers
    assert all(e["status"] == "failed" and e["last_error"] for e in listed)

    requests.delete(f"{sap_sandbox['control_url']}/faults", timeout=10).raise_for_status()
    _, counts = plan_and_post(hub_db, sap, "run-2", planned=planned)

    assert counts == {"posted": 6, "already_in_sap": 0, "held": 0, "failed": 0}
    assert_posted_once(hub_db, sap, numbers)
    assert not any(e.status == "failed" for e in ledger_rows(hub_db).values())


# -- 5. the same plan again: the ledger answers, SAP hears nothing --------------------------------
def test_posting_the_same_plan_again_sends_nothing(hub_db, sap_sandbox, sap_client, monkeypatch):
    """A replay of a finished post answers from the ledger: not one call reaches SAP."""
    accept(hub_db, clean_orders(sap_sandbox, 5))
    sap = sap_client(sap_sandbox)
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    numbers = planned_numbers(hub_db, planned)
    # A crash after the ledger recorded SAP's answers but before the orders were marked posted:
    with monkeypatch.context() as m:
        m.setattr(
            "flows.sap_order_posting.posting._record_posting", lambda *a: (_ for _ in ()).throw(SystemExit("killed"))
        )
        with pytest.raises(SystemExit):
            plan_and_post(hub_db, sap, planned=planned)
    assert {e.status for e in ledger_rows(hub_db).values()} == {"sent"}
    assert set(hub_states(hub_db).values()) == {"accepted"} and not sap_links(hub_db)
    since = sap_calls(sap_sandbox)[-1]["seq"]

    _, again = plan_and_post(hub_db, sap, "run-2", planned=planned)

    assert again == {"posted": 0, "already_in_sap": 5, "held": 0, "failed": 0}
    assert sap_calls(sap_sandbox, since) == [], "no lookup, no create: the ledger has them"
    assert_posted_once(hub_db, sap, numbers)
    since = sap_calls(sap_sandbox)[-1]["seq"]
    _, unchanged = plan_and_post(hub_db, sap, "run-3", planned=planned)
    assert unchanged == {"posted": 0, "already_in_sap": 0, "held": 0, "failed": 0}  # posted orders are skipped
    assert sap_calls(sap_sandbox, since) == []


# -- 6. a posting the gate sends to review comes back once requeued ----------------------------------
def test_a_posting_held_for_review_is_gated_again_when_requeued(hub_db, sap_sandbox, sap_client):
    """SAP's net amount far off the agreed prices: review, nobody told; fixed and requeued: posted again."""
    from flows.sap_order_posting import POSTINGS_GATE, gate
    from hub.quarantine import list_records, requeue

    accept(hub_db, clean_orders(sap_sandbox, 3))
    sap = sap_client(sap_sandbox)
    plan_and_post(hub_db, sap)
    victim, true_net = next(iter(sap_links_with_net(hub_db).items()))
    with hub_db.begin() as conn:  # as if a SAP condition record had overridden the agreed price
        conn.execute(sap_orders.update().where(sap_orders.c.sap_order == victim).values(sap_net_amount=true_net * 2))
    assert gate(hub_db, "run-1") == {"evaluated": 3, "passed": 2, "review": 1}
    assert sorted(hub_states(hub_db).values()) == ["posted", "posted", "review"]
    (row,) = list_records(hub_db, stage=POSTINGS_GATE)
    assert row.field == "sap_net_amount"

    with hub_db.begin() as conn:  # corrected in SAP, then requeued by operations
        conn.execute(sap_orders.update().where(sap_orders.c.sap_order == victim).values(sap_net_amount=true_net))
    assert requeue(hub_db, stage=POSTINGS_GATE) == 1
    plan(hub_db, sap, "run-2", default_plant=PLANT)  # releases it
    assert gate(hub_db, "run-2") == {"evaluated": 1, "passed": 1, "review": 0}
    assert sorted(hub_states(hub_db).values()) == ["posted", "posted", "posted"]


def sap_links_with_net(engine):
    with engine.connect() as conn:
        return dict(conn.execute(select(sap_orders.c.sap_order, sap_orders.c.sap_net_amount)).all())
