"""Parallel and killed workers, and a storm of SAP outages (issue 8 points 2, 3 and 9; DESIGN §3.2, §3.5).

Real processes against a real sandbox SAP and a real hub database (SQLite and PostgreSQL):
- four workers post the same plan at once, each with its own claim owner (one task try each);
- a worker killed right after SAP created its orders, then the task's next try plans and posts
  again: SAP's orders are linked, never re-planned as backorders, never duplicated;
- SAP cannot answer the availability of some materials: only their orders wait.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
import requests
from test_sap_posting_reliability import (
    FAST,
    PLANT,
    accept,
    assert_posted_once,
    batch_posts,
    clean_orders,
    control,
    hub_states,
    ledger_rows,
    orders_in_sap,
    planned_numbers,
    sap_calls,
    sap_links,
)

from flows.sap_order_posting import plan, post
from hub.ledger import Ledger, try_owner
from sandbox.testing import PROJECT_ROOT, running_sandbox

pytestmark = pytest.mark.sandbox

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from connectors.http import RetryPolicy
    from connectors.sap_s4 import SapClient, SapConfig
    from hub.db import make_engine
    from hub.ledger import Ledger
    from flows.sap_order_posting import post

    with open(sys.argv[1]) as f:
        job = json.load(f)
    engine = make_engine(job["db_url"])
    sap = SapClient(SapConfig(**job["sap"], retry=RetryPolicy(max_attempts=2, base=0)))
    if job.get("die_after_create"):
        create = SapClient.create_sales_orders

        def create_then_die(self, payloads):
            create(self, payloads)  # SAP has committed the orders ...
            os._exit(9)  # ... and the worker dies before the ledger hears of it

        SapClient.create_sales_orders = create_then_die
    while not os.path.exists(job["go"]):  # all workers start together
        time.sleep(0.01)
    fast = RetryPolicy(max_attempts=2, base=0, cap=0)
    ledger = Ledger(engine, owner=job["owner"])
    counts = post(engine, sap, ledger, "run-1", job["planned"], default_plant="1010", retry=fast)
    print(json.dumps(counts))
    """
)


@pytest.fixture
def sap_sandbox():
    with running_sandbox(seed=11, orders=200, frozen=True) as info:
        yield info


def _job(engine, info, planned, owner, go, **extra):
    s = info["systems"]["sap_s4"]
    return {
        "db_url": engine.url.render_as_string(hide_password=False),
        "sap": {k: s[k] for k in ("base_url", "user", "password", "client")} | {"batch_size": 4},
        "owner": owner,
        "planned": planned,
        "go": str(go),
        **extra,
    }


def _start(job):
    path = f"{job['go']}.{job['owner'].replace('/', '_')}.json"
    with open(path, "w") as f:
        json.dump(job, f)
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )


def test_four_workers_posting_the_same_plan_create_each_order_once(hub_db, sap_sandbox, sap_client, tmp_path):
    """Four processes, each one try of the post task, post the same 12 orders at the same moment:
    every order reaches SAP exactly once and is linked once; the workers that found an order claimed
    by another try left it to that try (or to its lookup), never sending it again."""
    accept(hub_db, clean_orders(sap_sandbox, 12))
    sap = sap_client(sap_sandbox)
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    numbers = planned_numbers(hub_db, planned)
    assert len(numbers) == 12
    go = tmp_path / "go"
    workers = [
        _start(_job(hub_db, sap_sandbox, planned, try_owner("sap_order_posting", "post", -1, i, "run-1"), go))
        for i in range(1, 5)
    ]
    time.sleep(1.5)  # every interpreter is up and waiting
    go.touch()
    totals: Counter[str] = Counter()
    for proc in workers:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]
        totals.update(json.loads(out.strip().splitlines()[-1]))

    assert_posted_once(hub_db, sap, numbers)
    assert totals["posted"] == 12, totals  # each order created by exactly one worker
    assert totals["held"] == 0, totals
    assert batch_posts(sap_calls(sap_sandbox)), "the orders went out as $batch requests"


def test_a_retry_after_a_kill_links_what_sap_holds_and_never_backorders_it(hub_db, sap_sandbox, sap_client, tmp_path):
    """A worker dies right after SAP committed its first $batch; the task's next try (another claim
    owner, the dead try's lease still running) plans again first: the orders SAP holds are looked up
    and linked as posted, not re-planned against the stock they themselves now take, not backordered,
    not posted twice; the rest are planned and posted."""
    picked = clean_orders(sap_sandbox, 7)
    accept(hub_db, picked)
    sap = sap_client(sap_sandbox)
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    numbers = planned_numbers(hub_db, planned)
    go = tmp_path / "go"
    go.touch()
    owner = try_owner("sap_order_posting", "post", -1, 1, "run-1")
    dead = _start(_job(hub_db, sap_sandbox, planned, owner, go, die_after_create=True))
    _, err = dead.communicate(timeout=120)
    assert dead.returncode == 9, err[-3000:]
    first_chunk = sorted(orders_in_sap(sap, numbers))
    assert len(first_chunk) == 4
    # SAP's stock of those materials is now promised to the dead try's orders: a naive re-plan of the
    # same orders would find nothing available for them and backorder orders SAP already has.
    for number in first_chunk:
        assert ledger_rows(hub_db)[number].status == "in_flight"

    retry = Ledger(hub_db, owner=try_owner("sap_order_posting", "post", -1, 2, "run-1"))
    replanned = plan(hub_db, sap, "run-1", default_plant=PLANT)

    assert replanned["settled_from_sap"] == 4 and replanned["in_doubt"] == 0
    states = hub_states(hub_db)
    assert {states[n] for n in first_chunk} == {"posted"}, "linked before planning"
    assert not {tuple(k) for k in replanned["sequence"]} & {
        (o.crm, o.crm_id) for o in picked if o.number in first_chunk
    }
    counts = post(hub_db, sap, retry, "run-1", replanned, default_plant=PLANT, retry=FAST)
    assert counts["held"] == 0 and counts["failed"] == 0
    assert_posted_once(hub_db, sap, numbers)
    assert "backordered" not in hub_states(hub_db).values()
    assert set(sap_links(hub_db)) == set(numbers)


def test_an_availability_outage_holds_only_the_orders_of_that_material(hub_db, sap_sandbox, sap_client):
    """SAP answers 5xx (through every retry) to the availability check of one material: plan does not
    fail; only the orders needing that material keep their state for the next run; every other order
    is planned and posted. Once SAP answers, the next run plans and posts the rest."""
    picked = clean_orders(sap_sandbox, 10)
    accept(hub_db, picked)
    sap = sap_client(sap_sandbox)
    victim = sorted({ln.material_number for o in picked for ln in o.lines})[0]
    waiting = sorted(o.number for o in picked if any(ln.material_number == victim for ln in o.lines))
    assert 0 < len(waiting) < len(picked)
    check = sap.availability

    def storm_on_victim(material, plant, *args, **kwargs):
        if material == victim:  # the sandbox fails this call and its retry with 503
            control(sap_sandbox, "faults", {"system": "sap_s4", "burst_5xx": 2, "status_5xx": 503})
        return check(material, plant, *args, **kwargs)

    sap.availability = storm_on_victim
    planned = plan(hub_db, sap, "run-1", default_plant=PLANT)
    requests.delete(f"{sap_sandbox['control_url']}/faults", timeout=10).raise_for_status()

    assert planned["deferred"] == len(waiting) and planned["held"] == 0
    counts = post(hub_db, sap, Ledger(hub_db, owner="post#1"), "run-1", planned, default_plant=PLANT, retry=FAST)
    others = sorted(set(o.number for o in picked) - set(waiting))
    assert counts["posted"] == len(others)
    assert_posted_once(hub_db, sap, others)
    assert {hub_states(hub_db)[n] for n in waiting} == {"accepted"}
    assert not orders_in_sap(sap, waiting)

    sap.availability = check
    replanned = plan(hub_db, sap, "run-2", default_plant=PLANT)
    assert replanned["deferred"] == 0
    post(hub_db, sap, Ledger(hub_db, owner="post#2"), "run-2", replanned, default_plant=PLANT, retry=FAST)
    assert_posted_once(hub_db, sap, sorted(o.number for o in picked))
