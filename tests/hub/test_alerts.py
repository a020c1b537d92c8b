"""Failure alerts: recorded in the hub database, e-mailed once per failed try through the sandbox SMTP server."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import func, select

from hub.schema import alerts, ledger
from plugins.hub_alerts import HubAlertNotifier

pytestmark = pytest.mark.sandbox
OPS = "ops@parts-hub.example"


@pytest.fixture
def alerting(sandbox, hub_db, tmp_path, monkeypatch):
    from devtools.local_airflow import connections_for
    from hub.settings import get_settings

    smtp = connections_for(sandbox, tmp_path / "unused.sqlite")["smtp_default"]
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
    monkeypatch.setenv("HUB_DATABASE_URL", hub_db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("HUB__ALERTS__EMAIL_TO", f"{OPS},duty@parts-hub.example")
    get_settings.cache_clear()
    requests.delete(f"{sandbox['control_url']}/mail", timeout=10).raise_for_status()
    yield hub_db
    get_settings.cache_clear()


def failure(try_number: int = 1) -> dict:
    ti = SimpleNamespace(
        dag_id="sap_order_posting", task_id="post", try_number=try_number, log_url="http://airflow/log?try=1"
    )
    return {"ti": ti, "dag_run": SimpleNamespace(run_id="manual__1"), "exception": ValueError("SAP said no")}


def inbox(sandbox) -> list[dict]:
    return requests.get(f"{sandbox['control_url']}/mail", params={"to": OPS}, timeout=10).json()["messages"]


def test_a_failed_try_is_recorded_and_mailed_once(sandbox, alerting):
    notifier = HubAlertNotifier()
    notifier.notify(failure())
    notifier.notify(failure())  # the same failure reported twice: one e-mail
    mails = inbox(sandbox)
    assert len(mails) == 1
    assert mails[0]["subject"] == "[spare-parts hub] task_failed: sap_order_posting.post"
    assert "ValueError: SAP said no" in mails[0]["text"] and "manual__1" in mails[0]["text"]
    notifier.notify(failure(try_number=2))  # the retry failed too: news
    assert len(inbox(sandbox)) == 2
    with alerting.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 3
        assert conn.execute(select(func.count()).where(ledger.c.target == "mail.alert")).scalar_one() == 2


def test_without_mailboxes_only_the_history_is_written(sandbox, alerting, monkeypatch):
    from hub.settings import get_settings

    monkeypatch.setenv("HUB__ALERTS__EMAIL_TO", "")
    get_settings.cache_clear()
    HubAlertNotifier().notify(failure())
    assert inbox(sandbox) == []
    with alerting.connect() as conn:
        row = conn.execute(select(alerts)).one()
    assert row.kind == "task_failed" and "SAP said no" in row.message


def test_a_mail_outage_does_not_hide_the_failure(sandbox, alerting, monkeypatch):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens here once closed
    dead = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"from_email": "hub@x.example", "disable_ssl": True, "disable_tls": True, "retry_limit": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(dead))
    HubAlertNotifier().notify(failure())  # must not raise
    with alerting.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 1
        assert conn.execute(select(ledger.c.status).where(ledger.c.target == "mail.alert")).scalar_one() == "failed"
