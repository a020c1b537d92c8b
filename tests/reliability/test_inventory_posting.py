"""Approved stock-count adjustments posted to SAP (issue 11, step 5) under concurrency and crashes, and
the reconciliation itself alike on SQLite and PostgreSQL.

Against the sandbox's SAP emulator over loopback (one frozen sandbox for the module; each test takes
its own business day, hence its own PhysInventoryReferenceNumber, and its own materials) and a real
hub database of each kind. The day's results are written straight into the hub database and put up
and approved by ``reconciling.propose`` / ``decide``, so no DAG runs:

1. two worker processes (two task tries, separate ledger owners) post the same approved day at once:
   one physical-inventory document per plant, its differences posted once, SAP's book stock moved by
   exactly the approved difference (read back with ``SapClient.stock``);
2. a worker killed right after SAP created the document, after the counts were entered, or after
   PostDifferences, each before the ledger's record: the next try finds the document by its
   reference, completes what is missing and posts once;
3. nothing is posted for a day proposed, rejected, or not reconciled; a re-run of a posted day calls
   SAP for nothing and leaves the ledger as it was;
4. ``reconciling.reconcile`` of the same inputs gives the same ``count_results`` on SQLite and
   PostgreSQL, field by field, hostile data included.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import insert, select

from connectors.http import RetryPolicy
from connectors.sap_physinv import PhysicalInventoryClient, PiItemIn
from connectors.sap_s4 import SapClient, SapConfig
from flows.inventory_reconciliation.posting import TARGET, post_approved, reference
from flows.inventory_reconciliation.reconciling import decide, propose
from hub.ledger import Ledger, payload_hash, try_owner
from hub.schema import count_results, ledger, reconciliations
from sandbox.testing import PROJECT_ROOT, running_sandbox

pytestmark = pytest.mark.sandbox

SLOC = "0001"
PLANTS = ("1010", "2010")
FAST = RetryPolicy(max_attempts=2, base=0, cap=0)
DAYS = itertools.count()  # each test (and backend) its own business day: its own SAP references


# -- the world: one SAP emulator, materials and days handed out once ---------------------------------
class World:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.control = info["control_url"]
        s = info["systems"]["sap_s4"]
        self.sap_config = {k: s[k] for k in ("base_url", "user", "password", "client")}
        self.sap = SapClient(SapConfig(**self.sap_config, retry=FAST))
        self.pi = PhysicalInventoryClient(self.sap)
        self.free: dict[tuple[str, str], list[str]] = defaultdict(list)
        for plant in PLANTS:
            for row in self.sap.stock(plant):
                if not row.batch and not row.special_stock_type and row.quantity >= 20:
                    self.free[(plant, row.stock_type)].append(row.material)

    def take(self, plant: str, stock_type: str = "01") -> str:
        """A material with at least 20 units of ``stock_type`` in ``plant`` no other test uses."""
        return self.free[(plant, stock_type)].pop(0)

    @staticmethod
    def day() -> date:
        return date(2026, 3, 1) + timedelta(days=next(DAYS))

    def book(self, plant: str, material: str, stock_type: str = "01") -> Decimal:
        rows = self.sap.stock(plant, [material])
        return sum((r.quantity for r in rows if r.stock_type == stock_type and not r.batch), Decimal(0))

    def last_seq(self) -> int:
        calls = self.calls()
        return calls[-1]["seq"] if calls else 0

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        r = requests.get(f"{self.control}/calls", params={"system": "sap_s4", "since": since}, timeout=10)
        r.raise_for_status()
        return r.json()["calls"]


@pytest.fixture(scope="module")
def world():
    with running_sandbox(seed=37, orders=20, frozen=True) as info:
        w = World(info)
        yield w
        w.sap.close()


# -- a day's results, written as reconcile would have, then proposed (and decided) -------------------
def seed_day(engine, day: date, lines: list[dict[str, Any]], decision: str | None = "approved") -> None:
    """``lines``: plant, material, stock_type, book, difference, status (adjust | recount | matched).
    The day is reconciled, then proposed; ``decision`` approved or rejected (None: left proposed)."""
    counted_at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
    rows = []
    for ln in lines:
        diff, status = ln["difference"], ln.get("status", "adjust")
        gain, loss = {"01": ("701", "702"), "02": ("703", "704"), "07": ("707", "708")}[ln.get("stock_type", "01")]
        rows.append(
            {
                "business_day": day,
                "plant": ln["plant"],
                "storage_location": SLOC,
                "material": ln["material"],
                "batch": "",
                "stock_type": ln.get("stock_type", "01"),
                "basis": "count",
                "abc_class": "B",
                "book_qty": ln["book"],
                "physical_qty": ln["book"] + diff,
                "timing_qty": Decimal(0),
                "difference_qty": diff,
                "unit": "PC",
                "unit_cost": Decimal("12.5000"),
                "currency": "CNY",
                "difference_value": diff * Decimal("12.50"),
                "status": status,
                "explanation": "seeded",
                "movement_type": (gain if diff > 0 else loss) if status == "adjust" else None,
                "reason_code": ("0002" if diff > 0 else "0001") if status == "adjust" else None,
                "source": "inventory_report",
                "count_document": f"CHK-{day:%m%d}",
                "counted_at": counted_at,
                "decision": None,
                "run_id": "reconcile",
            }
        )
    with engine.begin() as conn:
        conn.execute(
            insert(reconciliations).values(
                business_day=day,
                status="reconciled",
                book_taken_at=counted_at + timedelta(hours=14),
                counts_from=counted_at - timedelta(hours=10),
                counts_to=counted_at + timedelta(hours=13),
                run_id="reconcile",
                updated_at=counted_at,
            )
        )
        conn.execute(insert(count_results), rows)
    assert propose(engine, "propose", day)["status"] == "proposed"
    if decision is not None:
        assert decide(engine, day, decision == "approved", "h7-test")["status"] == decision


def day_lines(world: World, plants=PLANTS, blocked: bool = True) -> list[dict[str, Any]]:
    """Per plant: a loss and a gain to post, a recount and a matched line that are not posted; a
    loss of blocked stock in the first plant."""
    lines = []
    for plant in plants:
        for diff, status in (
            (Decimal(-3), "adjust"),
            (Decimal(2), "adjust"),
            (Decimal(-7), "recount"),
            (Decimal(0), "matched"),
        ):
            material = world.take(plant)
            lines.append(
                {
                    "plant": plant,
                    "material": material,
                    "book": world.book(plant, material),
                    "difference": diff,
                    "status": status,
                }
            )
    if blocked and world.free[(plants[0], "07")]:
        material = world.take(plants[0], "07")
        lines.append(
            {
                "plant": plants[0],
                "material": material,
                "stock_type": "07",
                "book": world.book(plants[0], material, "07"),
                "difference": Decimal(-1),
            }
        )
    return lines


def ledger_rows(engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.idem_key: r for r in conn.execute(select(ledger).where(ledger.c.target == TARGET))}


def results_of(engine, day: date) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(count_results).where(count_results.c.business_day == day)).all()


def day_status(engine, day: date) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(select(reconciliations.c.status).where(reconciliations.c.business_day == day))


def post_difference_calls(world: World, since: int) -> list[dict[str, Any]]:
    return [c for c in world.calls(since) if c["method"] == "POST" and "PostDifferences" in c["path"]]


def creates(world: World, since: int) -> list[dict[str, Any]]:
    return [c for c in world.calls(since) if c["method"] == "POST" and c["path"].endswith("/A_PhysInventoryDocHeader")]


def assert_posted_once(world: World, engine, day: date, lines: list[dict[str, Any]]) -> None:
    """One posted document per plant holding exactly the day's adjust lines; SAP's book moved by the
    approved difference of each, the others untouched; ledger and results record the document."""
    entries = ledger_rows(engine)
    results = {(r.plant, r.material, r.stock_type): r for r in results_of(engine, day)}
    for plant in sorted({ln["plant"] for ln in lines}):
        adjust = [ln for ln in lines if ln["plant"] == plant and ln.get("status", "adjust") == "adjust"]
        found = world.pi.find_by_reference(reference(plant, SLOC, day))
        assert len(found) == 1, f"plant {plant}: {len(found)} documents for one day"
        (doc,) = found
        assert doc.posted and doc.posting_status == "X", doc
        assert sorted((i.material, i.stock_type) for i in doc.items) == sorted(
            (ln["material"], ln.get("stock_type", "01")) for ln in adjust
        )
        assert len({i.material_document for i in doc.items}) == 1, "one PostDifferences, one material document"
        for item in doc.items:
            ln = next(
                x for x in adjust if (x["material"], x.get("stock_type", "01")) == (item.material, item.stock_type)
            )
            assert item.difference_quantity == ln["difference"], (item, ln)
        entry = entries[f"{day.isoformat()}:{plant}:{SLOC}"]
        assert (entry.status, entry.response_ref) == ("sent", doc.document)
        for ln in lines:
            if ln["plant"] != plant:
                continue
            stock_type = ln.get("stock_type", "01")
            r = results[(plant, ln["material"], stock_type)]
            moved = ln["difference"] if ln.get("status", "adjust") == "adjust" else Decimal(0)
            assert world.book(plant, ln["material"], stock_type) == ln["book"] + moved, ln
            if ln.get("status", "adjust") == "adjust":
                assert (r.decision, r.sap_document) == ("posted", doc.document), r
                assert r.sap_material_document == doc.items[0].material_document
            else:
                assert (r.decision, r.sap_document) == (None, None), r
    assert day_status(engine, day) == "posted"


# -- worker processes: one task try each -------------------------------------------------------------
WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import date

    from connectors.http import RetryPolicy
    from connectors.sap_physinv import PhysicalInventoryClient, PiItemIn
    from connectors.sap_s4 import SapClient, SapConfig
    from flows.inventory_reconciliation.posting import post_approved
    from hub.db import make_engine
    from hub.ledger import Ledger

    with open(sys.argv[1]) as f:
        job = json.load(f)
    die = job.get("die_after")
    if die:
        real = getattr(PhysicalInventoryClient, die)

        def call_then_die(self, *args, **kwargs):
            real(self, *args, **kwargs)  # SAP has done it ...
            os._exit(9)  # ... and the worker dies before the ledger hears of it

        setattr(PhysicalInventoryClient, die, call_then_die)
    engine = make_engine(job["db_url"])
    with SapClient(SapConfig(**job["sap"], retry=RetryPolicy(max_attempts=2, base=0, cap=0))) as sap:
        pi = PhysicalInventoryClient(sap)
        while not os.path.exists(job["go"]):  # all workers start together
            time.sleep(0.005)
        ledger = Ledger(engine, owner=job["owner"])
        try:
            result = post_approved(engine, pi, ledger, job["run_id"], date.fromisoformat(job["day"]))
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    """
)


def start_worker(world: World, engine, day: date, owner: str, go: Path, **extra: Any) -> subprocess.Popen:
    job = {
        "db_url": engine.url.render_as_string(hide_password=False),
        "sap": world.sap_config,
        "owner": owner,
        "run_id": owner,
        "day": day.isoformat(),
        "go": str(go),
        **extra,
    }
    path = go.parent / f"job-{owner.replace('/', '_').replace('#', '_')}.json"
    path.write_text(json.dumps(job))
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )


def finish(proc: subprocess.Popen, code: int = 0) -> dict[str, Any] | None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]) if code == 0 else None


def owner(n: int, day: date) -> str:
    return try_owner("inventory_reconciliation", "post", -1, n, f"scheduled__{day.isoformat()}")


# -- 1. two workers at once -------------------------------------------------------------------------
def test_two_workers_posting_the_same_day_make_one_document_per_plant_posted_once(hub_db, world, tmp_path):
    day = world.day()
    lines = day_lines(world)
    seed_day(hub_db, day, lines)
    go = tmp_path / "go"
    since = world.last_seq()
    workers = [start_worker(world, hub_db, day, owner(n, day), go) for n in (1, 2)]
    time.sleep(1.5)  # both interpreters are up and waiting
    go.touch()
    results = [finish(w) for w in workers]

    assert_posted_once(world, hub_db, day, lines)
    assert len(creates(world, since)) == 2, "one create per plant over both workers"
    posted = [c for c in post_difference_calls(world, since) if c["status"] < 300]
    assert len(posted) == 2, "one PostDifferences per document"
    # A worker that found the other's claim live before SAP held the document steps back (LedgerBusy,
    # the ledger's answer until the lease runs out); any other error is a bug.
    errors = [r["error"] for r in results if "error" in r]
    assert all(e.startswith("LedgerBusy") for e in errors), results
    assert sum(r["posted_now"] for r in results if "error" not in r) == 2, "each document sent by one try"
    # The try that stepped back, run again, finds it all in the ledger.
    since = world.last_seq()
    again = post_approved(hub_db, world.pi, Ledger(hub_db, owner=owner(3, day)), "again", day)
    assert again["posted_now"] == 0 and world.calls(since) == []


def test_a_try_that_loses_the_race_to_post_reports_the_posted_document(hub_db, world):
    """Try 2 finds try 1's claim live and completes the document through the lookup; try 1 posts the
    differences between try 2's read of the document and try 2's PostDifferences, so SAP refuses
    try 2's (MI/013, already posted). Try 2 must report SAP's document, not fail the day."""
    day = world.day()
    lines = day_lines(world, plants=("1010",), blocked=False)
    seed_day(hub_db, day, lines)
    key, adjust = f"{day.isoformat()}:1010:{SLOC}", [ln for ln in lines if ln["status"] == "adjust"]
    first = Ledger(hub_db, owner=owner(1, day))
    # Try 1: claimed, created and counted (what its call does) ...
    from flows.inventory_reconciliation import posting

    rows = [r for r in results_of(hub_db, day) if r.status == "adjust"]
    payload = posting._payload(day, "1010", SLOC, sorted(rows, key=lambda r: r.material))
    first._claim(TARGET, key, payload, payload_hash(payload))
    doc = world.pi.create_document(
        "1010", SLOC, payload["reference"], "race", [PiItemIn(ln["material"]) for ln in adjust], day
    )
    doc = world.pi.enter_counts(
        doc,
        {
            i.item: (
                i.book_quantity + next(ln["difference"] for ln in adjust if ln["material"] == i.material),
                "PC",
                None,
            )
            for i in doc.items
        },
    )
    # ... and it posts the differences just before try 2's PostDifferences reaches SAP.
    with SapClient(SapConfig(**world.sap_config, retry=FAST)) as sap:
        pi = PhysicalInventoryClient(sap)
        write = sap.odata._write

        def try_one_posts_first(method, service, url, *args, **kwargs):
            if "PostDifferences" in url:
                world.pi.post_differences(doc.fiscal_year, doc.document, day)
            return write(method, service, url, *args, **kwargs)

        sap.odata._write = try_one_posts_first
        result = post_approved(hub_db, pi, Ledger(hub_db, owner=owner(2, day)), "try-2", day)

    assert result["status"] == "posted" and result["documents"] == 1
    assert_posted_once(world, hub_db, day, lines)
    assert ledger_rows(hub_db)[key].response_ref == doc.document


# -- 2. killed between SAP and the ledger -----------------------------------------------------------
@pytest.mark.parametrize("die_after", ["create_document", "enter_counts", "post_differences"])
def test_a_worker_killed_before_the_ledger_record_is_completed_by_the_next_try(hub_db, world, tmp_path, die_after):
    day = world.day()
    lines = day_lines(world, plants=("1010",), blocked=False)
    seed_day(hub_db, day, lines)
    go = tmp_path / "go"
    go.touch()
    since = world.last_seq()
    finish(start_worker(world, hub_db, day, owner(1, day), go, die_after=die_after), 9)

    (doc,) = world.pi.find_by_reference(reference("1010", SLOC, day))
    assert doc.count_status == ("" if die_after == "create_document" else "X")
    assert doc.posted is (die_after == "post_differences")
    key = f"{day.isoformat()}:1010:{SLOC}"
    entry = ledger_rows(hub_db)[key]
    assert (entry.status, entry.attempts, entry.claimed_by) == ("in_flight", 1, owner(1, day))
    assert day_status(hub_db, day) == "approved"
    between = world.last_seq()

    # The next try: the dead try's lease still runs (its lookup must settle it), except for the
    # kill after counting, where the lease has run out (a plain retry, which asks SAP first).
    if die_after == "enter_counts":
        with hub_db.begin() as conn:
            conn.execute(
                ledger.update()
                .where(ledger.c.idem_key == key)
                .values(claimed_until=datetime.now(UTC) - timedelta(minutes=1))
            )
    result = post_approved(hub_db, world.pi, Ledger(hub_db, owner=owner(2, day)), "retry", day)

    assert result["status"] == "posted" and result["documents"] == 1
    # completed by the ledger's lookup (the entry had an attempt), not by a new send
    assert result["posted_now"] == 0
    assert_posted_once(world, hub_db, day, lines)
    assert not creates(world, between), "the retry created nothing"
    assert len(creates(world, since)) == 1
    assert len([c for c in post_difference_calls(world, since) if c["status"] < 300]) == 1
    assert len(post_difference_calls(world, between)) == (0 if die_after == "post_differences" else 1)
    entry = ledger_rows(hub_db)[key]
    assert entry.attempts == (2 if die_after == "enter_counts" else 1)


# -- 3. nothing unapproved; nothing twice -----------------------------------------------------------
def test_nothing_is_posted_for_a_day_not_approved(hub_db, world):
    """Proposed (waiting for a person), rejected, reconciled but not yet put up, or never reconciled:
    post returns the day's state, SAP hears nothing, the ledger stays empty, the book stays."""
    for state in ("proposed", "rejected", "reconciled", "absent"):
        day = world.day()
        lines = day_lines(world, plants=("1010",), blocked=False)[:2]
        if state in ("proposed", "rejected"):
            seed_day(hub_db, day, lines, decision=None if state == "proposed" else "rejected")
        elif state == "reconciled":
            seed_day(hub_db, day, lines, decision=None)
            with hub_db.begin() as conn:  # as before propose: results judged, nothing put up yet
                conn.execute(
                    reconciliations.update().where(reconciliations.c.business_day == day).values(status="reconciled")
                )
                conn.execute(count_results.update().where(count_results.c.business_day == day).values(decision=None))
        since = world.last_seq()

        result = post_approved(hub_db, world.pi, Ledger(hub_db, owner=owner(1, day)), "post", day)

        assert result == {"status": "not reconciled" if state == "absent" else state, "documents": 0, "lines": 0}
        assert world.calls(since) == [], f"{state}: SAP heard nothing"
        assert not ledger_rows(hub_db), state
        assert not world.pi.find_by_reference(reference("1010", SLOC, day)), state
        for ln in lines:
            assert world.book("1010", ln["material"]) == ln["book"], state
        if state != "absent":
            assert day_status(hub_db, day) == state
            assert {r.decision for r in results_of(hub_db, day)} <= {None, "proposed", "rejected"}
        else:
            assert day_status(hub_db, day) is None


def test_a_rerun_of_a_posted_day_calls_sap_for_nothing(hub_db, world):
    day = world.day()
    lines = day_lines(world, blocked=False)
    seed_day(hub_db, day, lines)
    first = post_approved(hub_db, world.pi, Ledger(hub_db, owner=owner(1, day)), "post", day)
    assert first == {"status": "posted", "documents": 2, "posted_now": 2, "lines": 4}
    before = {k: (e.status, e.attempts, e.response_ref, e.updated_at) for k, e in ledger_rows(hub_db).items()}
    since = world.last_seq()

    again = post_approved(hub_db, world.pi, Ledger(hub_db, owner=owner(2, day)), "rerun", day)

    assert again == {"status": "posted", "documents": 2, "posted_now": 0, "lines": 4}
    assert world.calls(since) == [], "not one call reaches SAP"
    after = {k: (e.status, e.attempts, e.response_ref, e.updated_at) for k, e in ledger_rows(hub_db).items()}
    assert after == before
    assert_posted_once(world, hub_db, day, lines)


# -- 4. the same reconciliation on SQLite and PostgreSQL --------------------------------------------
RECON_DAY = date(2026, 2, 10)
COUNTS_FROM = datetime(2026, 2, 9, 15, 30, tzinfo=UTC)  # 23:30 Asia/Shanghai, the day before
COUNTS_TO = datetime(2026, 2, 10, 15, 30, tzinfo=UTC)
BOOK_AT = COUNTS_TO + timedelta(minutes=5)
AT = COUNTS_FROM + timedelta(hours=12)  # when the warehouse counted
COST = {"1010": Decimal("12.5000"), "2010": Decimal("3000.0000")}


def _count(n: int, plant: str, material: str, physical=None, difference=None, **extra) -> dict[str, Any]:
    return {
        "source": "inventory_report",
        "document": f"CHK-{n:03d}",
        "adjust_type": "CHECK",
        "plant": plant,
        "storage_location": SLOC,
        "material": material,
        "batch": "",
        "stock_type": "01",
        "inventory_type": "ZP",
        "physical": physical,
        "difference": difference,
        "unit": "PC",
        "counted_at": AT,
        "run_id": "collect",
        "collected_at": AT,
        **extra,
    }


def hostile_inputs() -> dict[str, list[dict[str, Any]]]:
    """Book, counts, master data and open documents of one day: the ordinary cases beside hostile ones."""
    from hub.db import utcnow

    now = utcnow()
    known = {
        "1010": ["M-MATCH", "M-LOSS", "M-NOTOTAL", "M-SHIPPED", "M-RECEIVED", "M-PACKS", "M-HUGE", "M-NEG",
                 "M-NEGDIFF", "M-BATCH", "M-ADJ", "M-LATEST", "M-RECOUNT", "M-QI", "M-BLOCKED", "M-FRAC", "M-NOBOOK"],
        "2010": ["M-DOC1", "M-DOC2", "M-DOC3"],
    }  # fmt: skip
    materials_rows = [
        {
            "material": m,
            "description": f"part {m}",
            "base_unit": "PC",
            "moq": Decimal(1),
            "pack_size": Decimal(10) if m == "M-PACKS" else Decimal(1),
            "active": True,
            "updated_at": now,
        }
        for m in sorted({m for ms in known.values() for m in ms})
    ]
    plants_rows = [
        {
            "material": m,
            "plant": p,
            "abc_class": "ABC"[i % 3],
            "lead_time_days": Decimal(5),
            "lead_time_sd_days": Decimal(1),
            "purchase_moq": Decimal(1),
            "order_multiple": Decimal(1),
            "max_stock": None,
            "unit_cost": Decimal("0.0100") if m == "M-NEGDIFF" else COST[p],
            "currency": "CNY",
            "updated_at": now,
        }
        for p, ms in known.items()
        for i, m in enumerate(ms)
    ]
    book = {  # (plant, material, batch, stock type) → quantity
        ("1010", "M-MATCH", "", "01"): "10",
        ("1010", "M-LOSS", "", "01"): "50",
        ("1010", "M-NOTOTAL", "", "01"): "20",
        ("1010", "M-SHIPPED", "", "01"): "30",
        ("1010", "M-RECEIVED", "", "01"): "10",
        ("1010", "M-PACKS", "", "01"): "100",
        ("1010", "M-HUGE", "", "01"): "5",
        ("1010", "M-NEG", "", "01"): "3",
        ("1010", "M-NEGDIFF", "", "01"): "5",
        ("1010", "M-BATCH", "L1", "01"): "10",
        ("1010", "M-BATCH", "L2", "01"): "5",
        ("1010", "M-ADJ", "", "01"): "40",
        ("1010", "M-LATEST", "", "01"): "60",
        ("1010", "M-RECOUNT", "", "01"): "80",
        ("1010", "M-QI", "", "02"): "6",
        ("1010", "M-BLOCKED", "", "07"): "4",
        ("1010", "M-FRAC", "", "01"): "2.125",
        ("2010", "M-DOC1", "", "01"): "20",
        ("2010", "M-DOC2", "", "01"): "20",
        ("2010", "M-DOC3", "", "01"): "20",
        ("1010", "M-UNCOUNTED", "", "01"): "7",  # booked, never counted: no line
    }
    book_rows = [
        {"business_day": RECON_DAY, "plant": p, "storage_location": SLOC, "material": m, "batch": b,
         "stock_type": t, "quantity": Decimal(q), "unit": "PC"}
        for (p, m, b, t), q in book.items()
    ]  # fmt: skip
    counts = [
        _count(1, "1010", "M-MATCH", Decimal(10)),
        _count(2, "1010", "M-LOSS", Decimal(48)),
        _count(3, "1010", "M-NOTOTAL", difference=Decimal(3)),  # no totalQty: book + difference
        _count(4, "1010", "M-SHIPPED", Decimal(25)),
        _count(5, "1010", "M-RECEIVED", Decimal(14)),
        _count(6, "1010", "M-PACKS", Decimal(10)),  # packs of 10 counted as units
        _count(7, "1010", "M-HUGE", Decimal("999999999.999")),  # absurdly large
        _count(8, "1010", "M-NEG", Decimal(-5)),  # negative count
        _count(9, "1010", "M-NEGDIFF", difference=Decimal(-100)),  # a difference beyond the book
        _count(10, "1010", "M-BATCH", Decimal(9), batch="L1"),
        _count(10, "1010", "M-BATCH", Decimal(5), batch="L2"),
        _count(10, "1010", "M-BATCH", Decimal(2), batch="L3"),  # a lot SAP does not book
        _count(11, "1010", "M-ADJ", Decimal(36)),
        _count(11, "1010", "M-ADJ", None, Decimal(-4), adjust_type="ADJUST"),  # adjusted in the WMS
        _count(12, "1010", "M-LATEST", Decimal(1), counted_at=AT - timedelta(hours=2)),  # superseded
        _count(13, "1010", "M-LATEST", Decimal(58)),  # the latest count wins
        _count(14, "1010", "M-LATEST", Decimal(0), counted_at=COUNTS_TO + timedelta(seconds=1)),  # next day's
        _count(0, "1010", "M-LATEST", Decimal(61), source="inventory_query", document=f"query:{RECON_DAY}"),
        _count(0, "1010", "M-MATCH", Decimal(999), source="inventory_query", document=f"query:{RECON_DAY}"),
        _count(0, "1010", "M-FRAC", Decimal("2.126"), source="inventory_query", document=f"query:{RECON_DAY}"),
        _count(15, "1010", "M-RECOUNT", Decimal(60)),  # beyond tolerance, on yesterday's recount list
        _count(16, "1010", "M-QI", Decimal(5), stock_type="02"),
        _count(16, "1010", "M-BLOCKED", Decimal(6), stock_type="07"),
        _count(17, "1010", "M-UNKNOWN", Decimal(3)),  # a material SAP (and the hub) does not know
        _count(17, "1010", "M-NOBOOK", Decimal(4)),  # known, no book line
        _count(18, "2010", "M-DOC1", Decimal(15)),  # each within tolerance (5 units), 15 000 in value:
        _count(18, "2010", "M-DOC2", Decimal(15)),  # together over the per-document limit
        _count(18, "2010", "M-DOC3", Decimal(20)),
    ]
    for i, c in enumerate(counts):
        c["id"] = i + 1
    deliveries_rows = [
        {"delivery": "80000001", "source": "zoho_crm", "crm_order_id": "Z1", "sap_order": "1", "plant": "1010",
         "warehouse": "WH-SH01", "status": "shipped", "final_confirm_at": AT - timedelta(hours=1),
         "goods_issued_at": None, "created_at": now, "updated_at": now},
        {"delivery": "80000002", "source": "zoho_crm", "crm_order_id": "Z2", "sap_order": "2", "plant": "1010",
         "warehouse": "WH-SH01", "status": "issued", "final_confirm_at": AT - timedelta(hours=3),
         "goods_issued_at": AT - timedelta(hours=2), "created_at": now, "updated_at": now},  # booked already
    ]  # fmt: skip
    lines_rows = [
        {"delivery": d, "line_no": 10, "material": "M-SHIPPED", "planned_qty": q, "shipped_qty": q}
        for d, q in (("80000001", Decimal(5)), ("80000002", Decimal(9)))
    ]
    receipts_rows = [
        {"message_key": "SC-1", "line_no": 1, "plant": "1010", "order_code": "RK-1", "order_type": "CGRK",
         "material": "M-RECEIVED", "stock_type": "01", "quantity": Decimal(4), "changed_at": AT - timedelta(hours=5)},
    ]  # fmt: skip
    previous = [
        {"business_day": RECON_DAY - timedelta(days=1), "plant": "1010", "storage_location": SLOC,
         "material": "M-RECOUNT", "batch": "", "stock_type": "01", "basis": "count", "book_qty": Decimal(80),
         "physical_qty": Decimal(60), "timing_qty": Decimal(0), "difference_qty": Decimal(-20),
         "difference_value": Decimal("-250.00"), "status": "recount", "source": "inventory_report",
         "count_document": "CHK-000", "counted_at": AT - timedelta(days=1)},
    ]  # fmt: skip
    day = [
        {"business_day": RECON_DAY, "status": "snapshot", "book_taken_at": BOOK_AT, "counts_from": COUNTS_FROM,
         "counts_to": COUNTS_TO, "run_id": "snapshot", "updated_at": BOOK_AT},
    ]  # fmt: skip
    return {
        "materials": materials_rows,
        "material_plants": plants_rows,
        "book_stock": book_rows,
        "warehouse_counts": counts,
        "deliveries": deliveries_rows,
        "delivery_lines": lines_rows,
        "warehouse_receipts": receipts_rows,
        "count_results": previous,
        "reconciliations": day,
    }


def _reconciled(url: str, inputs: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from flows.inventory_reconciliation.reconciling import reconcile
    from hub import schema
    from hub.db import make_engine, upgrade
    from transforms.count_reconciliation import ReasonCodes, Tolerances

    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for name, rows in inputs.items():
                conn.execute(insert(schema.metadata.tables[name]), rows)
        summary = reconcile(
            engine,
            url,
            "reconcile-1",
            RECON_DAY,
            Tolerances(Decimal(5), Decimal(500), Decimal(20000)),
            ReasonCodes("0001", "0002", "0003"),
            3,
        )
        with engine.connect() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(count_results)
                    .where(count_results.c.business_day == RECON_DAY)
                    .order_by(
                        *(
                            count_results.c[k]
                            for k in ("plant", "storage_location", "material", "batch", "stock_type", "basis")
                        )
                    )
                )
            ]
    finally:
        engine.dispose()
    for r in rows:  # SQLite hands back naive UTC
        r["counted_at"] = (
            r["counted_at"].replace(tzinfo=UTC) if r["counted_at"].tzinfo is None else r["counted_at"].astimezone(UTC)
        )
    return summary, rows


@pytest.mark.postgres
def test_reconciliation_of_the_same_inputs_is_identical_on_sqlite_and_postgres(sqlite_url, fresh_pg_url):
    inputs = hostile_inputs()
    lite_summary, lite = _reconciled(sqlite_url, inputs)
    pg_summary, pg = _reconciled(fresh_pg_url, inputs)

    keys = [tuple(r[k] for k in ("plant", "material", "batch", "stock_type", "basis")) for r in lite]
    assert keys == [tuple(r[k] for k in ("plant", "material", "batch", "stock_type", "basis")) for r in pg]
    for a, b in zip(lite, pg, strict=True):
        for field in count_results.c.keys():
            assert (field, a[field]) == (field, b[field]), a
            if isinstance(a[field], Decimal):
                assert str(a[field]) == str(b[field]), (field, a)  # same scale, not just equal
    assert lite_summary == pg_summary

    # And the results are the flow's rules, not merely alike.
    by = {(r["material"], r["batch"], r["stock_type"], r["basis"]): r for r in lite}

    def status(material, batch="", stock_type="01", basis="count"):
        r = by[(material, batch, stock_type, basis)]
        return r["status"], r["difference_qty"], r["movement_type"]

    d = Decimal
    assert status("M-MATCH") == ("matched", d(0), None), "the count wins over the day's inventory.query"
    assert status("M-LOSS") == ("adjust", d(-2), "702")
    assert status("M-NOTOTAL") == ("adjust", d(3), "701")
    assert by[("M-NOTOTAL", "", "01", "count")]["physical_qty"] == d(23), "no totalQty: book + difference"
    assert status("M-SHIPPED") == ("explained", d(0), None), "5 shipped, not goods-issued; 9 issued already"
    assert "80000001" in by[("M-SHIPPED", "", "01", "count")]["explanation"]
    assert status("M-RECEIVED") == ("explained", d(0), None)
    assert status("M-PACKS")[0] == "recount" and "packs" in by[("M-PACKS", "", "01", "count")]["explanation"]
    assert status("M-HUGE")[0] == "recount" and by[("M-HUGE", "", "01", "count")]["difference_value"] == d(
        "12499999937.4900"
    )
    assert status("M-BATCH", "L1") == ("adjust", d(-1), "702")
    assert status("M-BATCH", "L2") == ("matched", d(0), None)
    assert status("M-BATCH", "L3") == ("adjust", d(2), "701"), "a lot SAP does not book: book 0"
    assert status("M-ADJ", basis="wms_adjust") == ("adjust", d(-4), "702")
    assert by[("M-ADJ", "", "01", "wms_adjust")]["reason_code"] == "0003"
    assert status("M-LATEST") == ("adjust", d(-2), "702"), "the latest count in the window"
    assert status("M-RECOUNT") == ("adjust", d(-20), "702"), "yesterday's recount confirmed"
    assert status("M-QI", stock_type="02") == ("adjust", d(-1), "704")
    assert status("M-BLOCKED", stock_type="07") == ("adjust", d(2), "707")
    assert status("M-FRAC") == ("adjust", d("0.001"), "701")
    assert by[("M-FRAC", "", "01", "count")]["difference_value"] == d("0.0100"), "0.0125 rounded half up"
    assert status("M-NOBOOK") == ("adjust", d(4), "701")
    # Plant 2010's adjustments (each within tolerance) together exceed the per-document limit.
    assert [status(m)[0] for m in ("M-DOC1", "M-DOC2")] == ["recount", "recount"]
    assert "per-document limit" in by[("M-DOC1", "", "01", "count")]["explanation"]
    assert lite_summary["over_document_limit"] == ["2010"]
    assert ("M-UNCOUNTED", "", "01", "count") not in by, "a book line nobody counted is no result"
    # M-NEG, M-NEGDIFF (negative physical quantities) and M-UNKNOWN (no master data, no cost) are
    # judged alike on both databases; what they are judged to be is reported by H7 (adjust lines
    # SAP would refuse), not fixed here.
    assert {status(m)[0] for m in ("M-NEG", "M-NEGDIFF", "M-UNKNOWN")} <= {"adjust", "recount"}
