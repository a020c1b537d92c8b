"""The ``hub`` command as operations use it, in a subprocess against a real hub database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from hub import quarantine
from hub.ledger import Ledger
from hub.schema import ledger as ledger_table
from hub.schema import quarantine as quarantine_table


def hub(*args: str, url: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HUB_DATABASE_URL": url, **(env or {})},
    )


def _url(engine) -> str:  # noqa: ANN001
    return engine.url.render_as_string(hide_password=False)


def test_db_upgrade_and_current(db_url):
    assert hub("db", "upgrade", url=db_url).returncode == 0
    out = hub("db", "current", url=db_url)
    assert out.returncode == 0 and f"revision {_head()}" in out.stdout


def _head() -> str:
    from alembic.script import ScriptDirectory

    from hub.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_quarantine_list_and_requeue(hub_db):
    with hub_db.begin() as conn:
        quarantine.add(
            conn,
            [
                quarantine.QuarantineRecord(
                    "raw_crm_orders",
                    "zoho_crm",
                    f"zoho_crm:{i}",
                    "DataQuality",
                    f"order SO-{i}: quantity must be > 0",
                    {"id": str(i)},
                    field="quantity",
                )
                for i in range(3)
            ],
            run_id="r1",
        )
    listed = hub("quarantine", "list", "--json", url=_url(hub_db))
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["field"] for r in rows} == {"quantity"} and len(rows) == 3

    assert hub("quarantine", "requeue", url=_url(hub_db)).returncode == 2  # nothing selected: refuse
    first_id = str(rows[-1]["id"])
    out = hub("quarantine", "requeue", "--id", first_id, url=_url(hub_db))
    assert out.returncode == 0 and out.stdout.startswith("1 ")
    with hub_db.connect() as conn:
        states = dict(conn.execute(select(quarantine_table.c.id, quarantine_table.c.status)).all())
    assert states[int(first_id)] == "requeued"
    assert sorted(states.values()) == ["open", "open", "requeued"]
    table = hub("quarantine", "list", url=_url(hub_db)).stdout
    assert "record_key" in table.splitlines()[0] and "zoho_crm:1" in table


def test_ledger_list_and_retry(hub_db):
    def refused(_payload):
        raise ConnectionError("503 from SAP")

    with pytest.raises(ConnectionError):
        Ledger(hub_db, owner="t").send("sap.sales_order", "SO-1", {"order": "SO-1"}, refused, lambda _p: None)
    failed = hub("ledger", "list", "--status", "failed", "--json", url=_url(hub_db))
    entry = json.loads(failed.stdout.splitlines()[0])
    assert entry["idem_key"] == "SO-1" and "503 from SAP" in entry["last_error"]
    assert hub("ledger", "retry", "--target", "sap.sales_order", url=_url(hub_db)).stdout.startswith("1 ")
    with hub_db.connect() as conn:
        assert conn.execute(select(ledger_table.c.status)).scalar_one() == "pending"


def test_settings_check_names_a_bad_key(tmp_path):
    out = hub("settings", "check", url="sqlite://", env={"HUB__CRM__ENABLED": "salesforce"})
    assert out.returncode == 2 and "crm.enabled" in out.stderr and "HUB__CRM__ENABLED" in out.stderr
    good = hub("settings", "check", url="sqlite://")
    assert good.returncode == 0 and json.loads(good.stdout)["plants"]["default"] == "1010"


def test_sandbox_up_prints_one_ready_line_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "sandbox", "up", "--port", "0", "--orders", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert info["ready"] is True and info["base_url"].startswith("http://127.0.0.1:")
        assert set(info["systems"]) >= {"zoho_crm", "fxiaoke"}
        datetime.fromisoformat(info["now"]).astimezone(UTC)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
