"""Confirmations under parallel and killed workers (issue 8 points 2 and 8; DESIGN §3.2).

The world: the sandbox's CRM orders pulled and accepted (``dag.test()`` of master_data_sync and
crm_order_sync), then planned, posted and refreshed against the sandbox SAP, so every posted order
has a confirmation due. Then:
- four worker processes (four tries) confirm at once: each CRM record is written back once and each
  customer gets each e-mail once;
- a worker dies right after Zoho took its write-back; the next try reads the records back and does
  not write them again (the CRM write-back is exactly once).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync
from sqlalchemy import func, select

from hub.ledger import Ledger
from hub.schema import ledger, orders
from sandbox.testing import PROJECT_ROOT

pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
SEED, ORDERS = 5, 160
SENT_AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import datetime
    from hub.db import make_engine
    from hub.ledger import Ledger
    from flows.sap_order_posting import run_confirmations as run

    with open(sys.argv[1]) as f:
        job = json.load(f)
    if job.get("die_after_zoho_write"):
        from connectors.zoho_crm import ZohoCrmClient

        update = ZohoCrmClient.update_sales_orders

        def update_then_die(self, updates, **kwargs):
            update(self, updates, **kwargs)  # Zoho has the write-back ...
            os._exit(9)  # ... and the worker dies before the ledger hears of it

        ZohoCrmClient.update_sales_orders = update_then_die
    while not os.path.exists(job["go"]):
        time.sleep(0.01)
    engine = make_engine()
    counts = run(engine, Ledger(engine, owner=job["owner"]), "run-1", datetime.fromisoformat(job["sent_at"]))
    print(json.dumps(counts))
    """
)


@pytest.fixture
def posted(hub_db, tmp_path, monkeypatch, airflow_home) -> Iterator[dict[str, Any]]:
    """Orders accepted from the sandbox CRMs and posted to the sandbox SAP; nobody told yet."""
    from connectors.http import RetryPolicy
    from connectors.sap_s4 import SapClient, SapConfig
    from flows.sap_order_posting import gate, plan, post, refresh
    from hub.settings import get_settings
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
        deploy(info, seed, hub_db, tmp_path, monkeypatch)
        run_dag("master_data_sync")
        sync(datetime.fromisoformat(info["now"]))
        s = info["systems"]["sap_s4"]
        sap = SapClient(SapConfig(base_url=s["base_url"], user=s["user"], password=s["password"], client=s["client"]))
        fast = RetryPolicy(max_attempts=2, base=0, cap=0)
        try:
            planned = plan(hub_db, sap, "run-1", default_plant=get_settings().plants.default)
            post(hub_db, sap, Ledger(hub_db, owner="post#1"), "run-1", planned, default_plant="1010", retry=fast)
            refresh(hub_db, sap, "run-1")
            gate(hub_db, "run-1")
        finally:
            sap.close()
        requests.delete(f"{info['control_url']}/writes", timeout=10).raise_for_status()
        yield {"control": info["control_url"], "engine": hub_db, "tmp": tmp_path}
    get_settings.cache_clear()


def _start(world: dict[str, Any], owner: str, **extra: Any) -> subprocess.Popen:
    job = {"owner": owner, "go": str(world["tmp"] / "go"), "sent_at": SENT_AT.isoformat(), **extra}
    path = world["tmp"] / f"job-{owner.replace('/', '_')}.json"
    path.write_text(json.dumps(job))
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )


def _crm_writes(control: str) -> Counter[tuple[str, str]]:
    writes = requests.get(f"{control}/writes", timeout=10).json()["writes"]
    return Counter((w["system"], w["id"]) for w in writes if w["system"] in ("zoho_crm", "fxiaoke"))


def _mails(control: str) -> Counter[str]:
    messages = requests.get(f"{control}/mail", timeout=10).json()["messages"]
    return Counter(m.get("message_id") or m["subject"] for m in messages)


def _sent(engine, prefix: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(ledger.c.target.like(f"{prefix}%"), ledger.c.status == "sent")
        ).scalar_one()


def test_four_workers_confirming_at_once_write_and_mail_each_confirmation_once(posted):
    control, engine = posted["control"], posted["engine"]
    workers = [_start(posted, f"sap_order_posting.confirm#{i}@run-1") for i in range(1, 5)]
    time.sleep(2)
    (posted["tmp"] / "go").touch()
    for proc in workers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]

    writes, mails = _crm_writes(control), _mails(control)
    assert writes and max(writes.values()) == 1, [k for k, n in writes.items() if n > 1][:5]
    assert mails and max(mails.values()) == 1, [k for k, n in mails.items() if n > 1][:5]
    assert sum(writes.values()) == _sent(engine, "crm.")
    assert sum(mails.values()) == _sent(engine, "mail.order_confirmation")


def test_a_write_back_killed_before_its_record_is_not_written_again(posted):
    """Zoho took the write-back, the worker died before the ledger recorded it, and the next try
    (another claim owner; the dead one's lease still runs) reads the records back and leaves them."""
    control, engine = posted["control"], posted["engine"]
    (posted["tmp"] / "go").touch()
    dead = _start(posted, "sap_order_posting.confirm#1@run-1", die_after_zoho_write=True)
    _, err = dead.communicate(timeout=300)
    assert dead.returncode == 9, err[-3000:]
    written = _crm_writes(control)
    zoho_written = {record for (system, record), _ in written.items() if system == "zoho_crm"}
    assert zoho_written and max(written.values()) == 1
    with engine.connect() as conn:
        in_flight = conn.execute(
            select(func.count()).where(ledger.c.target == "crm.zoho_crm.confirmation", ledger.c.status == "in_flight")
        ).scalar_one()
    assert in_flight == len(zoho_written)

    proc = _start(posted, "sap_order_posting.confirm#2@run-1")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]

    after = _crm_writes(control)
    assert all(after[("zoho_crm", record)] == 1 for record in zoho_written), "read back, not written again"
    assert max(after.values()) == 1
    with engine.connect() as conn:
        open_entries = conn.execute(
            select(func.count()).where(ledger.c.target.like("crm.%"), ledger.c.status != "sent")
        ).scalar_one()
        told = conn.execute(select(func.count()).where(orders.c.status.in_(("confirmed", "partial")))).scalar_one()
    assert open_entries == 0 and told > 0
