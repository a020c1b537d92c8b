"""Replenishment planning's outside writes (issue 14) under concurrency and crashes, on SQLite and
PostgreSQL, against the sandbox's SAP and CRM emulators over loopback:

1. SAP purchase requisitions: two worker processes (two task tries, separate ledger owners) request the
   same approved week at once: one requisition per plant; a worker killed right after SAP created the
   requisition, before the ledger's record: the next try finds it by PurReqnExternalReference and
   creates nothing; a week not approved requests nothing; a re-run calls SAP for nothing.
2. Reorder reminders: a reminder written to the CRM by a try that died before its record, and even a
   hub database that lost the ledger, finds the reminder by its key field: nothing is written twice.

The week's proposals are written straight into the hub database and decided with ``proposals.decide``,
so no DAG and no forecast runs.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import delete, insert, select

from connectors.http import RetryPolicy
from connectors.sap_purchase_req import PurchaseRequisitionClient
from connectors.sap_s4 import SapClient, SapConfig
from flows.replenishment_planning.proposals import decide
from flows.replenishment_planning.requisitions import TARGET, reference, request_approved
from hub.ledger import Ledger, try_owner
from hub.schema import ledger, planning_runs, replenishment_proposals
from hub.settings import load_settings
from sandbox.testing import PROJECT_ROOT, running_sandbox

pytestmark = pytest.mark.sandbox

FAST = RetryPolicy(max_attempts=2, base=0, cap=0)
WEEKS = itertools.count()  # each test (and backend) its own planning week: its own SAP references
PLANTS = ("1010", "2010")


class World:
    def __init__(self, info: dict[str, Any]) -> None:
        from sandbox.seed_data import generate

        self.info = info
        s = info["systems"]["sap_s4"]
        self.sap_config = {k: s[k] for k in ("base_url", "user", "password", "client")}
        self.sap = SapClient(SapConfig(**self.sap_config, retry=FAST))
        self.prs = PurchaseRequisitionClient(self.sap)
        seed = generate(37, 20, datetime.fromisoformat(info["now"]))
        self.materials = {p: [m.number for m in seed.materials if p in m.plants][:40] for p in PLANTS}

    @staticmethod
    def week() -> date:
        return date(2026, 3, 2) + timedelta(weeks=next(WEEKS))

    def requisitions(self) -> list[dict[str, Any]]:
        url = f"{self.info['control_url']}/records/sap_s4/purchase_requisitions/all"
        return requests.get(url, timeout=10).json()["record"]["records"]


@pytest.fixture(scope="module")
def world():
    with running_sandbox(seed=37, orders=20, frozen=True) as info:
        w = World(info)
        yield w
        w.sap.close()


SETTINGS = load_settings(environ={})


def seed_week(engine, world: World, week: date, decision: str | None = "approved") -> list[dict[str, Any]]:
    """Three proposals per plant (one cut to zero), proposed, then ``decision``."""
    now = datetime.now(UTC)
    rows = []
    for plant in PLANTS:
        for i, material in enumerate(world.materials[plant][:3]):
            qty = Decimal(0) if i == 2 else Decimal(10 * (i + 1))
            rows.append(
                {
                    "planning_week": week,
                    "plant": plant,
                    "material": material,
                    "abc_class": "A",
                    "demand_class": "intermittent",
                    "model": "IMAPA",
                    "demand_per_day": Decimal(1),
                    "error_sd_per_day": Decimal(1),
                    "lead_time_days": Decimal(14),
                    "service_level": Decimal("0.95"),
                    "safety_stock": Decimal(5),
                    "reorder_point": Decimal(19),
                    "max_qty": Decimal(40),
                    "on_hand": Decimal(0),
                    "on_order": Decimal(0),
                    "reserved": Decimal(0),
                    "backordered": Decimal(0),
                    "position": Decimal(0),
                    "order_qty": Decimal(30),
                    "proposed_qty": qty,
                    "unit": "PC",
                    "unit_cost": Decimal("12.50"),
                    "value": qty * Decimal("12.50"),
                    "currency": "CNY" if plant != "2010" else "EUR",
                    "priority": i + 1,
                    "days_of_cover": Decimal(i),
                    "budget_status": "cut" if i == 2 else "within",
                    "decision": "proposed",
                    "delivery_date": week + timedelta(days=14),
                    "updated_at": now,
                }
            )
    with engine.begin() as conn:
        conn.execute(
            insert(planning_runs).values(
                planning_week=week, status="proposed", bucket="month", history_to=week.replace(day=1), updated_at=now
            )
        )
        conn.execute(insert(replenishment_proposals), rows)
    if decision is not None:
        decide(engine, week, decision == "approved", "test", None)
    return rows


def in_sap(world: World, week: date) -> dict[str, list[dict[str, Any]]]:
    """SAP's requisitions of ``week`` by plant (found by their external reference)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for pr in world.requisitions():
        refs = {i.get("PurReqnExternalReference") for i in pr["items"]}
        for plant in PLANTS:
            if reference(plant, week, 1).upper() in refs:
                found.setdefault(plant, []).append(pr)
    return found


def assert_requested_once(engine, world: World, week: date, rows: list[dict[str, Any]]) -> None:
    found = in_sap(world, week)
    assert sorted(found) == list(PLANTS) and all(len(v) == 1 for v in found.values()), found
    with engine.connect() as conn:
        stored = {
            (r.plant, r.material): r
            for r in conn.execute(
                select(replenishment_proposals).where(replenishment_proposals.c.planning_week == week)
            )
        }
    for plant in PLANTS:
        (pr,) = found[plant]
        items = {i["Material"]: i for i in pr["items"]}
        wanted = [r for r in rows if r["plant"] == plant and r["proposed_qty"] > 0]
        assert set(items) == {r["material"] for r in wanted}  # the cut one is not bought
        for r in wanted:
            assert Decimal(str(items[r["material"]]["RequestedQuantity"])) == r["proposed_qty"]
            s = stored[(plant, r["material"])]
            assert (s.decision, s.purchase_requisition) == ("requested", pr["PurchaseRequisition"])


def owner(n: int, week: date) -> str:
    return try_owner("replenishment_planning", "request", -1, n, f"scheduled__{week.isoformat()}")


WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import date

    from connectors.http import RetryPolicy
    from connectors.sap_purchase_req import PurchaseRequisitionClient
    from connectors.sap_s4 import SapClient, SapConfig
    from flows.replenishment_planning.requisitions import request_approved
    from hub.db import make_engine
    from hub.ledger import Ledger
    from hub.settings import load_settings

    with open(sys.argv[1]) as f:
        job = json.load(f)
    if job.get("die_after_create"):
        real = PurchaseRequisitionClient.create

        def create_then_die(self, *args, **kwargs):
            real(self, *args, **kwargs)  # SAP holds the requisition ...
            os._exit(9)  # ... and the worker dies before the ledger hears of it

        PurchaseRequisitionClient.create = create_then_die
    engine = make_engine(job["db_url"])
    with SapClient(SapConfig(**job["sap"], retry=RetryPolicy(max_attempts=2, base=0, cap=0))) as sap:
        client = PurchaseRequisitionClient(sap)
        while not os.path.exists(job["go"]):  # all workers start together
            time.sleep(0.005)
        ledger = Ledger(engine, owner=job["owner"])
        try:
            result = request_approved(
                engine, client, ledger, job["owner"], date.fromisoformat(job["week"]), load_settings(environ={})
            )
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    """
)


def start_worker(world: World, engine, week: date, who: str, go: Path, **extra: Any) -> subprocess.Popen:
    job = {
        "db_url": engine.url.render_as_string(hide_password=False),
        "sap": world.sap_config,
        "owner": who,
        "week": week.isoformat(),
        "go": str(go),
        **extra,
    }
    path = go.parent / f"job-{who.replace('/', '_').replace('#', '_')}.json"
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


# -- 1. requisitions --------------------------------------------------------------------------------
def test_two_workers_requesting_the_same_week_make_one_requisition_per_plant(hub_db, world, tmp_path):
    week = world.week()
    rows = seed_week(hub_db, world, week)
    go = tmp_path / "go"
    workers = [start_worker(world, hub_db, week, owner(n, week), go) for n in (1, 2)]
    time.sleep(1.5)  # both interpreters are up and waiting
    go.touch()
    results = [finish(w) for w in workers]
    errors = [r["error"] for r in results if "error" in r]
    # A worker that met the other's live claim before SAP held the requisition steps back (LedgerBusy).
    assert all(e.startswith("LedgerBusy") for e in errors), results
    assert sum(r["created_now"] for r in results if "error" not in r) == len(PLANTS)
    again = request_approved(hub_db, world.prs, Ledger(hub_db, owner=owner(3, week)), "again", week, SETTINGS)
    assert again["created_now"] == 0 and again["requisitions"] == len(PLANTS)
    assert_requested_once(hub_db, world, week, rows)
    # what was requested is on order for the weeks after, until it is due (the inventory position)
    from flows.named_queries import rows as named_rows

    with hub_db.connect() as conn:
        later = named_rows(conn, "open_requisitions", planned_before=week + timedelta(days=7), due_after=week)
        due = named_rows(
            conn, "open_requisitions", planned_before=week + timedelta(days=7), due_after=week + timedelta(days=14)
        )
    assert {(r["plant"], r["material"]): r["quantity"] for r in later} == {
        (r["plant"], r["material"]): r["proposed_qty"] for r in rows if r["proposed_qty"] > 0
    }
    assert due == []  # delivered by then


def test_a_worker_killed_after_sap_created_the_requisition_is_settled_by_the_next_try(hub_db, world, tmp_path):
    week = world.week()
    rows = seed_week(hub_db, world, week)
    go = tmp_path / "go"
    go.touch()
    finish(start_worker(world, hub_db, week, owner(1, week), go, die_after_create=True), 9)
    assert sorted(in_sap(world, week)) == ["1010"]  # the first plant reached SAP, then the worker died
    with hub_db.connect() as conn:
        entry = conn.execute(
            select(ledger).where(ledger.c.target == TARGET, ledger.c.idem_key == f"{week}:1010:1")
        ).one()
    assert (entry.status, entry.attempts) == ("in_flight", 1)
    # The next try, after the dead try's lease: SAP is asked first, the requisition found, 2010 created.
    with hub_db.begin() as conn:
        conn.execute(
            ledger.update()
            .where(ledger.c.id == entry.id)
            .values(claimed_until=datetime.now(UTC) - timedelta(minutes=1))
        )
    result = request_approved(hub_db, world.prs, Ledger(hub_db, owner=owner(2, week)), "retry", week, SETTINGS)
    assert result["created_now"] == 1 and result["requisitions"] == len(PLANTS)
    assert_requested_once(hub_db, world, week, rows)


@pytest.mark.parametrize("decision", ["rejected", None])
def test_a_week_not_approved_requests_nothing(hub_db, world, decision):
    week = world.week()
    seed_week(hub_db, world, week, decision=decision)
    result = request_approved(hub_db, world.prs, Ledger(hub_db, owner=owner(1, week)), "run", week, SETTINGS)
    assert result["requisitions"] == 0 and in_sap(world, week) == {}
    with hub_db.connect() as conn:
        assert conn.execute(select(ledger).where(ledger.c.target == TARGET)).all() == []


# -- 2. reminders -----------------------------------------------------------------------------------
@pytest.fixture
def crm_world(sandbox, tmp_path, monkeypatch):
    """Connections to the session sandbox's CRMs, and one account of each to remind about."""
    from devtools.local_airflow import connections_for
    from flows.crms import crm_clients

    for conn_id, conn in connections_for(sandbox, tmp_path / "unused.sqlite").items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    monkeypatch.setenv("HUB_TOKEN_CACHE_KEY", "f1_uDcSrBhZlTMhQOZcJ9xc5y9u8_LU3s7Q5fR0bQZc=")
    return crm_clients


def _reminders(engine, crm_clients, tag: str) -> list[Any]:
    from flows.crms import adapter
    from flows.replenishment_planning.reminders import Reminder

    out = []
    with crm_clients(engine, SETTINGS) as clients:
        for source, client in sorted(clients.items()):
            account = next(iter(client.list_accounts()))
            crm_id = adapter(source).account(account)["crm_account_id"]
            for n in range(3):
                out.append(
                    Reminder(
                        key=f"RR-{tag}{source[:2]}{n}-SP-10001-20261130",
                        source=source,
                        customer=f"{tag}{n}",
                        customer_crm_id=crm_id,
                        customer_name="Test customer",
                        material=f"SP-1000{n}",
                        material_name="Brake pad",
                        purchases=4,
                        interval_days=7,
                        interval_cv=Decimal("0.1"),
                        last_purchase=date(2026, 11, 30),
                        typical_qty=Decimal(8),
                        due_date=date(2026, 12, 7),
                        unit="PC",
                        language="zh" if source == "fxiaoke" else "en",
                    )
                )
    return out


def _held(engine, crm_clients, reminders: list[Any]) -> dict[str, dict[str, str]]:
    from flows.crms import adapter

    with crm_clients(engine, SETTINGS) as clients:
        return {s: adapter(s).find_reminders(clients[s], [r.key for r in reminders if r.source == s]) for s in clients}


def test_a_reminder_in_the_crm_is_never_written_twice_even_without_the_ledger(hub_db, crm_world, monkeypatch):
    """One reminder per CRM reaches the CRM before the hub records it (a try killed after the call);
    the run finds it by its key field and writes only the others. Then the hub loses its ledger and
    its reminder rows (restored from an old backup): the next run writes nothing to either CRM."""
    from connectors.crm import Rendering, reminder_text
    from flows.crms import adapter
    from flows.replenishment_planning import reminders as step
    from hub.schema import reorder_reminders
    from transforms.business_day import day_start

    week = date(2026, 12, 7)
    due = _reminders(hub_db, crm_world, "K" + str(next(WEEKS)))
    monkeypatch.setattr(step, "due_reminders", lambda engine, today, settings: due)
    with crm_world(hub_db, SETTINGS) as clients:
        for source in clients:  # the killed try: the CRM holds its first reminder, the hub nothing
            first = next(r for r in due if r.source == source)
            rendering = Rendering(
                summary=lambda _language, r=first: reminder_text.description(r),
                day_start=lambda d: day_start(d, "Asia/Shanghai"),
                today=week,
            )
            crm = adapter(source)
            (result,) = crm.write_reminders(clients[source], [crm.reminder_payload(first, rendering)])
            assert result.ok, result
        written = step.write_reminders(hub_db, Ledger(hub_db, owner="run-1"), clients, "run-1", week, SETTINGS)
    assert {s: (c["written"], c["found"], c["failed"]) for s, c in written["by_crm"].items()} == {
        "fxiaoke": (2, 1, 0),
        "zoho_crm": (2, 1, 0),
    }
    held = _held(hub_db, crm_world, due)
    assert {s: len(k) for s, k in held.items()} == {"fxiaoke": 3, "zoho_crm": 3}
    with hub_db.connect() as conn:
        rows = {r.reminder_key: r for r in conn.execute(select(reorder_reminders))}
    assert all(rows[r.key].status == "written" and rows[r.key].crm_record_id == held[r.source][r.key] for r in due)

    with hub_db.begin() as conn:  # the hub forgets everything it knew
        conn.execute(delete(ledger))
        conn.execute(delete(reorder_reminders))
    with crm_world(hub_db, SETTINGS) as clients:
        again = step.write_reminders(hub_db, Ledger(hub_db, owner="run-2"), clients, "run-2", week, SETTINGS)
    assert {s: (c["written"], c["found"]) for s, c in again["by_crm"].items()} == {
        "fxiaoke": (0, 3),
        "zoho_crm": (0, 3),
    }
    assert _held(hub_db, crm_world, due) == held  # the same records, none added


def test_a_rerun_of_a_written_week_asks_no_crm(hub_db, crm_world, monkeypatch):
    from flows.replenishment_planning import reminders as step

    week = date(2026, 12, 7)
    due = _reminders(hub_db, crm_world, "R" + str(next(WEEKS)))
    monkeypatch.setattr(step, "due_reminders", lambda engine, today, settings: due)
    with crm_world(hub_db, SETTINGS) as clients:
        first = step.write_reminders(hub_db, Ledger(hub_db, owner="run-1"), clients, "run-1", week, SETTINGS)
        assert sum(c["written"] for c in first["by_crm"].values()) == len(due)
        again = step.write_reminders(hub_db, Ledger(hub_db, owner="run-2"), clients, "run-2", week, SETTINGS)
    assert again["already_written"] == len(due) and again["by_crm"] == {}
