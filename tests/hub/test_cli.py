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


LONG_DETAIL = (
    "order SO-7 line 4 (SP-17702): quantity 80 is below the minimum order quantity 100.000 of material "
    "SP-17702; raise the quantity to a multiple of the pack size 50, or ask the customer to confirm"
)


def _held(hub_db, n: int = 3) -> None:  # noqa: ANN001
    records = [
        quarantine.QuarantineRecord(
            "order_review",
            "zoho_crm",
            f"zoho_crm:SO-{i}",
            "BusinessRule(quantity)",
            LONG_DETAIL,
            {"Subject": f"SO-{i}", "Product_Details": [{"Product_Code": "SP-17702", "quantity": 80}]},
            field="quantity",
            expectations=["order_review.moq"],
        )
        for i in range(n)
    ]
    records.append(
        quarantine.QuarantineRecord("raw_crm_orders", "fxiaoke", "fxiaoke:FX-1", "DataQuality", "bad currency", {})
    )
    with hub_db.begin() as conn:
        quarantine.add(conn, records, run_id="manual__1")


def test_quarantine_show_prints_the_payload_the_field_and_the_whole_detail(hub_db):
    _held(hub_db, 1)
    url = _url(hub_db)
    record_id = json.loads(hub("quarantine", "list", "--json", "--stage", "order_review", url=url).stdout)["id"]

    out = hub("quarantine", "show", str(record_id), url=url, env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"quarantined record {record_id} (open)" in text and "field to fix  quantity" in text
    assert " ".join(text.split()).count(LONG_DETAIL) == 1  # wrapped at 80 columns, never cut
    assert max(len(line) for line in text.split("payload:")[0].splitlines()) <= 80
    assert "Product_Details[0].quantity = 80" in text  # where the field to fix is
    assert '"Product_Code": "SP-17702"' in text  # the payload, in full
    assert f"hub quarantine requeue --id {record_id}" in text

    as_json = json.loads(hub("quarantine", "show", str(record_id), "--json", url=url).stdout)
    assert as_json["payload"]["Subject"] == "SO-0" and as_json["detail"] == LONG_DETAIL

    missing = hub("quarantine", "show", "999999", url=url)
    assert missing.returncode == 1 and "no quarantined record with id 999999" in missing.stderr
    assert hub("quarantine", "show", url=url).returncode == 2


def test_quarantine_list_says_how_many_it_shows_and_wraps_details(hub_db):
    _held(hub_db, 3)
    url = _url(hub_db)
    out = hub("quarantine", "list", "--limit", "2", url=url, env={"COLUMNS": "140"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "showing 2 of 4 open records" in lines[-1] and "--limit 4" in lines[-1]
    table = "\n".join(lines[:-1])
    assert all(len(line) <= 140 for line in lines[:-1])
    assert " ".join(table.split()).count(LONG_DETAIL) == 1  # the newest order_review row: whole, wrapped

    one_stage = hub("quarantine", "list", "--stage", "raw_crm_orders", url=url)
    assert "showing 1 of 1 open records" in one_stage.stdout
    by_class = hub("quarantine", "list", "--error-class", "BusinessRule(quantity)", "--json", url=url)
    assert len(by_class.stdout.splitlines()) == 3 and "showing 3 of 3" in by_class.stderr  # JSON stays clean
    everything = hub("quarantine", "list", "--status", "all", url=url)
    assert "showing 4 of 4 records" in everything.stdout


def test_quarantine_filters_name_what_exists(hub_db):
    _held(hub_db, 1)
    url = _url(hub_db)
    stage = hub("quarantine", "list", "--stage", "order_reveiw", url=url)
    assert stage.returncode == 2
    assert stage.stderr.strip() == (
        "unknown stage 'order_reveiw': the quarantine holds records of order_review, raw_crm_orders"
    )
    status = hub("quarantine", "list", "--status", "opened", url=url)
    assert status.returncode == 2 and "choose one of open, requeued, resolved, all" in status.stderr
    source = hub("quarantine", "requeue", "--source", "salesforce", url=url)
    assert source.returncode == 2 and "unknown source 'salesforce'" in source.stderr
    assert "fxiaoke, zoho_crm" in source.stderr
    by_class = hub("quarantine", "requeue", "--error-class", "DataQuality", url=url)
    assert by_class.returncode == 2 and "not by --error-class" in by_class.stderr
    with hub_db.connect() as conn:  # nothing was requeued by the refused commands
        assert set(conn.execute(select(quarantine_table.c.status)).scalars()) == {"open"}


def test_db_upgrade_is_one_line_even_with_airflow_logging(airflow_home, tmp_path):
    """Without $HUB_DATABASE_URL the command asks Airflow for the hub_db Connection, which sets up
    Airflow's logging: Alembic's INFO lines must not reach the operator."""
    env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"}
    env["HUB__HUB__OUTPUT_DIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "cli", "db", "upgrade"], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    # (Airflow's unit-test mode, set by tests/conftest.py, announces its configuration on stdout.)
    assert out.stdout.splitlines()[-1] == f"hub database at revision {_head()}"
    assert "alembic" not in out.stdout + out.stderr and "Running upgrade" not in out.stdout + out.stderr
