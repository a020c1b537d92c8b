"""ops_alerts end to end with ``dag.test()``: a failed SAP posting in the ledger is an open alert, told
once by e-mail and on the WeCom robot of the sandbox; the next run within the window tells nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from dagruns import deploy, run_dag, task_result
from sqlalchemy import select

from hub.schema import alerts, ledger

SEED, ORDERS = 3, 20
pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_failed_posting_is_told_once_by_mail_and_robot(
    crm_sandbox, seed, hub_db, tmp_path, monkeypatch, airflow_home
):
    from hub.settings import get_settings

    deploy(crm_sandbox, seed, hub_db, tmp_path, monkeypatch)
    monkeypatch.setenv("HUB__ALERTS__EMAIL_TO", "ops@parts-hub.example")
    get_settings.cache_clear()
    control = crm_sandbox["control_url"]
    for path in ("mail", "wecom/messages"):
        requests.delete(f"{control}/{path}", timeout=10)
    with hub_db.begin() as conn:
        conn.execute(
            ledger.insert().values(
                target="sap.sales_order",
                idem_key="SO-900001",
                payload_hash="x",
                payload={},
                status="failed",
                attempts=3,
                last_error="TransientError: sap_s4: HTTP 503",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    first = task_result(run_dag("ops_alerts", at=NOW), "check")
    assert first["open"]["ledger_failed"] == 1, first
    with hub_db.connect() as conn:
        raised = conn.execute(select(alerts).where(alerts.c.kind == "ledger_failed")).all()
    assert len(raised) == 1
    mails = [m for m in requests.get(f"{control}/mail", timeout=10).json()["messages"] if "ledger" in str(m).lower()]
    robot = requests.get(f"{control}/wecom/messages", timeout=10).json()["messages"]
    assert len(mails) == 1 and len(robot) == 1, (len(mails), len(robot))
    # Within the window the same open alert is not told again.
    again = task_result(run_dag("ops_alerts", at=NOW), "check")
    assert again["open"]["ledger_failed"] == 1 and not again["messages"], again
    assert len(requests.get(f"{control}/wecom/messages", timeout=10).json()["messages"]) == 1
    get_settings.cache_clear()
