"""Alerts end to end (issue 13): failed tries recorded and told once each (the notifier, every try,
not only the last), suppression (once per window, a reminder while open, escalation, resolved when
it clears, a reopening inside the window kept quiet), every channel against its sandbox emulator, and
robots that refuse: for now (rate limit: the message waits and goes out on a later run) and for good
(bad signature: refused, recorded, never looped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import func, insert, select, update

from flows import alerting
from hub.alerts import messages
from hub.db import utcnow
from hub.schema import alert_states, alerts, ledger
from hub.settings import load_settings
from plugins.hub_alerts import HubAlertNotifier

OPS = "ops@parts-hub.example"
T0 = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)


# -- failed tries (the notifier) ---------------------------------------------------------------------
@pytest.fixture
def alerting_env(sandbox, hub_db, tmp_path, monkeypatch):
    from devtools.local_airflow import connections_for
    from hub.settings import get_settings

    conns = connections_for(sandbox, tmp_path / "unused.sqlite")
    for conn_id in ("smtp_default", "alert_wecom", "alert_dingtalk", "alert_webhook"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conns[conn_id]))
    monkeypatch.setenv("HUB_DATABASE_URL", hub_db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("HUB__ALERTS__EMAIL_TO", f"{OPS},duty@parts-hub.example")
    get_settings.cache_clear()
    clear(sandbox)
    yield hub_db
    clear(sandbox)
    get_settings.cache_clear()


def clear(sandbox) -> None:
    for path in ("/mail", "/wecom/messages", "/dingtalk/messages", "/alert_webhook/messages", "/faults"):
        requests.delete(f"{sandbox['control_url']}{path}", timeout=10).raise_for_status()


def failure(try_number: int = 1) -> dict:
    ti = SimpleNamespace(
        dag_id="sap_order_posting",
        task_id="post",
        try_number=try_number,
        max_tries=2,
        map_index=-1,
        log_url="http://airflow/log?try=1",
    )
    return {
        "ti": ti,
        "task": SimpleNamespace(retry_delay=timedelta(minutes=5)),
        "dag_run": SimpleNamespace(run_id="manual__1"),
        "exception": ValueError("SAP said no"),
    }


def inbox(sandbox) -> list[dict]:
    return requests.get(f"{sandbox['control_url']}/mail", params={"to": OPS}, timeout=10).json()["messages"]


def chat(sandbox, system: str) -> list[dict]:
    return requests.get(f"{sandbox['control_url']}/{system}/messages", timeout=10).json()["messages"]


@pytest.mark.sandbox
def test_every_failed_try_is_told_once(sandbox, alerting_env):
    HubAlertNotifier("task_retry").notify(failure(1))
    HubAlertNotifier("task_retry").notify(failure(1))  # the same try reported twice: told once
    mails = inbox(sandbox)
    assert [m["subject"] for m in mails] == ["[spare-parts hub] task_retry: sap_order_posting.post"]
    assert "ValueError: SAP said no" in mails[0]["text"] and "manual__1" in mails[0]["text"]
    assert "retries it in about 5 min" in mails[0]["text"]  # when to look again
    assert chat(sandbox, "wecom") == []  # task_retry is routed to e-mail only (config/hub.toml)
    HubAlertNotifier().notify(failure(3))  # the last try: critical, e-mail and both robots
    assert [m["subject"] for m in inbox(sandbox)][-1] == "[spare-parts hub] task_failed: sap_order_posting.post"
    assert len(chat(sandbox, "wecom")) == 1 and len(chat(sandbox, "dingtalk")) == 1
    assert "no tries left" in chat(sandbox, "dingtalk")[0]["text"]
    with alerting_env.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 2
        assert conn.execute(select(func.count()).where(ledger.c.target == "mail.alert")).scalar_one() == 2


@pytest.mark.sandbox
def test_without_mailboxes_the_history_and_the_robots_remain(sandbox, alerting_env, monkeypatch):
    from hub.settings import get_settings

    monkeypatch.setenv("HUB__ALERTS__EMAIL_TO", "")
    get_settings.cache_clear()
    HubAlertNotifier().notify(failure())
    assert inbox(sandbox) == []
    row = messages(alerting_env)[0]
    assert row.kind == "task_failed" and "SAP said no" in row.message
    assert row.deliveries["email"] == {"status": "skipped", "detail": "alerts.email_to is empty"}
    assert row.deliveries["wecom"]["status"] == "sent"


@pytest.mark.sandbox
def test_a_mail_outage_does_not_hide_the_failure(sandbox, alerting_env, monkeypatch):
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
    row = messages(alerting_env)[0]
    assert row.deliveries["email"]["status"] == "waiting" and row.deliveries["dingtalk"]["status"] == "sent"
    with alerting_env.connect() as conn:
        assert conn.execute(select(ledger.c.status).where(ledger.c.target == "mail.alert")).scalar_one() == "failed"


# -- suppression -----------------------------------------------------------------------------------------
class Recorder:
    """A channel that records what it was given."""

    def __init__(self, channel: str = "email") -> None:
        self.target = alerting.TARGETS[channel]
        self.sent: list[dict] = []

    def render(self, row):
        return {"id": row.message_id, "event": row.event, "key": row.alert_key, "title": row.title}

    def send(self, payload):
        self.sent.append(payload)
        return alerting.Delivered(ref="ok")


def fail_entries(engine, n: int, target: str = "sap.sales_order") -> None:
    with engine.begin() as conn:
        for i in range(n):
            conn.execute(
                insert(ledger).values(
                    target=target,
                    idem_key=f"{target}-{utcnow().timestamp()}-{i}",
                    payload_hash="h",
                    payload={},
                    status="failed",
                    attempts=1,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )


def settle_all(engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(ledger).where(ledger.c.target == "sap.sales_order").values(status="sent"))


def test_suppression_reminder_escalation_resolution(hub_db):
    settings = load_settings(environ={"HUB__ALERTS__WINDOW_MINUTES": "60", "HUB__ALERTS__REMINDER_HOURS": "24"})
    mail = Recorder()

    def run(at: datetime) -> list[str]:
        before = len(mail.sent)
        alerting.run_checks(
            hub_db,
            at,
            senders={"email": mail, "wecom": "off", "dingtalk": "off"},
            settings=settings,
            types=["ledger_failed"],
        )
        return [m["event"] for m in mail.sent[before:]]

    fail_entries(hub_db, 1)
    assert run(T0) == ["raised"]
    assert run(T0 + timedelta(minutes=10)) == []  # the same alert in the window: nothing
    assert run(T0 + timedelta(hours=5)) == []  # still open, no reminder yet
    assert run(T0 + timedelta(hours=24, minutes=1)) == ["reminder"]
    assert run(T0 + timedelta(hours=25)) == []
    fail_entries(hub_db, 9)  # 10 failed = 10 x the threshold: critical
    assert run(T0 + timedelta(hours=26)) == ["escalated"]
    settle_all(hub_db)
    assert run(T0 + timedelta(hours=27)) == ["resolved"]
    assert run(T0 + timedelta(hours=28)) == []
    ids = [m["id"] for m in mail.sent]
    assert len(set(ids)) == len(ids) == 4  # one stable id per state change
    with hub_db.connect() as conn:
        state = conn.execute(select(alert_states)).one()
    assert (state.status, state.occurrence, state.reminders, state.escalations) == ("resolved", 1, 1, 1)


def test_a_reopening_inside_the_window_is_not_raised_again(hub_db):
    settings = load_settings(environ={"HUB__ALERTS__WINDOW_MINUTES": "60"})
    mail = Recorder()

    def run(at: datetime) -> list[str]:
        before = len(mail.sent)
        alerting.run_checks(hub_db, at, senders={"email": mail}, settings=settings, types=["ledger_failed"])
        return [m["event"] for m in mail.sent[before:]]

    fail_entries(hub_db, 1)
    assert run(T0) == ["raised"]
    settle_all(hub_db)
    assert run(T0 + timedelta(minutes=5)) == ["resolved"]
    fail_entries(hub_db, 1)
    assert run(T0 + timedelta(minutes=20)) == []  # flapping: quiet inside the window
    settle_all(hub_db)
    assert run(T0 + timedelta(minutes=30)) == []  # never told open: no resolved either
    fail_entries(hub_db, 1)
    assert run(T0 + timedelta(minutes=90)) == ["raised"]  # outside the window: news again


def test_a_failing_check_resolves_nothing(hub_db, monkeypatch):
    settings = load_settings(environ={})
    mail = Recorder()
    fail_entries(hub_db, 1)
    alerting.run_checks(hub_db, T0, senders={"email": mail}, settings=settings, types=["ledger_failed"])

    def broken(conn, now, settings):
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(alerting.CHECKS, "ledger_failed", broken)
    summary = alerting.run_checks(
        hub_db, T0 + timedelta(hours=1), senders={"email": mail}, settings=settings, types=["ledger_failed"]
    )
    assert "ledger_failed" in summary["errors"] and [m["event"] for m in mail.sent] == ["raised"]


# -- channels and refusing robots ----------------------------------------------------------------------
@pytest.fixture
def robots(sandbox, hub_db, tmp_path, monkeypatch):
    from devtools.local_airflow import connections_for

    conns = connections_for(sandbox, tmp_path / "unused.sqlite")
    for conn_id in ("smtp_default", "alert_wecom", "alert_dingtalk", "alert_webhook"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conns[conn_id]))
    clear(sandbox)
    yield sandbox
    clear(sandbox)


ALL_CHANNELS = {
    "HUB__ALERTS__EMAIL_TO": OPS,
    "HUB__ALERTS__CHANNELS__WARNING": "email,wecom,dingtalk,webhook",
    "HUB__ALERTS__CHANNELS__CRITICAL": "email,wecom,dingtalk,webhook",
    "HUB__ALERTS__DINGTALK_AT_MOBILES": "13800001111",
    "HUB__ALERTS__WECOM_MENTIONS": "duty-lead",
}


@pytest.mark.sandbox
def test_every_channel_against_its_emulator(robots, hub_db):
    settings = load_settings(environ=ALL_CHANNELS)
    fail_entries(hub_db, 10)  # critical
    summary = alerting.run_checks(hub_db, T0, settings=settings, types=["ledger_failed"])
    assert summary["deliveries"] == {"sent": {"email": 1, "wecom": 1, "dingtalk": 1, "webhook": 1}}
    row = messages(hub_db)[0]
    mail = inbox(robots)[0]
    assert mail["subject"] == "[spare-parts hub] ledger_failed: sap.sales_order" and "What to do" in mail["text"]
    wecom = chat(robots, "wecom")[0]
    assert wecom["msgtype"] == "markdown" and row.message_id in wecom["content"] and "<@duty-lead>" in wecom["content"]
    ding = chat(robots, "dingtalk")[0]
    assert (
        ding["msgtype"] == "markdown" and ding["at"]["atMobiles"] == ["13800001111"] and "@13800001111" in ding["text"]
    )
    hook = chat(robots, "alert_webhook")[0]
    assert hook["message_id"] == row.message_id
    assert hook["body"]["type"] == "ledger_failed" and hook["body"]["facts"]["failed"] == 10
    # Resolved goes where the alert went, without the @-mentions.
    settle_all(hub_db)
    alerting.run_checks(hub_db, T0 + timedelta(hours=1), settings=settings, types=["ledger_failed"])
    assert chat(robots, "dingtalk")[-1]["at"]["atMobiles"] == [] and "resolved" in chat(robots, "dingtalk")[-1]["title"]


@pytest.mark.sandbox
def test_a_rate_limited_robot_gets_the_message_on_a_later_run(robots, hub_db):
    settings = load_settings(environ=ALL_CHANNELS)
    requests.post(f"{robots['control_url']}/faults", json={"system": "dingtalk", "burst_429": 1}, timeout=10)
    fail_entries(hub_db, 1)
    first = alerting.run_checks(hub_db, T0, settings=settings, types=["ledger_failed"])
    assert first["deliveries"]["waiting"] == {"dingtalk": 1} and chat(robots, "dingtalk") == []
    row = messages(hub_db)[0]
    assert row.deliveries["dingtalk"]["status"] == "waiting" and "130101" in row.deliveries["dingtalk"]["detail"]
    second = alerting.run_checks(hub_db, T0 + timedelta(minutes=15), settings=settings, types=["ledger_failed"])
    assert second["messages"] == {} and second["deliveries"] == {"sent": {"dingtalk": 1}}
    assert len(chat(robots, "dingtalk")) == 1 and len(chat(robots, "wecom")) == 1  # each once
    with hub_db.connect() as conn:
        entry = conn.execute(select(ledger).where(ledger.c.target == "chat.dingtalk.alert")).one()
    assert (entry.status, entry.attempts, entry.idem_key) == ("sent", 2, row.message_id)


@pytest.mark.sandbox
def test_a_robot_refusing_the_signature_is_recorded_not_retried(robots, hub_db):
    from connectors.dingtalk import DingTalkRobot

    settings = load_settings(environ=ALL_CHANNELS)
    senders = alerting.default_senders(settings)
    info = robots["systems"]["dingtalk"]
    senders["dingtalk"] = alerting.DingTalkSender(
        DingTalkRobot(info["access_token"], secret="SECwrong", url=info["url"])
    )
    fail_entries(hub_db, 1)
    first = alerting.run_checks(hub_db, T0, senders=senders, settings=settings, types=["ledger_failed"])
    assert first["deliveries"]["refused"] == {"dingtalk": 1} and first["deliveries"]["sent"]["wecom"] == 1
    row = messages(hub_db)[0]
    assert row.deliveries["dingtalk"]["status"] == "refused" and "310000" in row.deliveries["dingtalk"]["detail"]
    again = alerting.run_checks(
        hub_db, T0 + timedelta(minutes=15), senders=senders, settings=settings, types=["ledger_failed"]
    )
    assert again["deliveries"] == {}  # refused is final: not looped
    with hub_db.connect() as conn:
        assert conn.execute(select(ledger.c.attempts).where(ledger.c.target == "chat.dingtalk.alert")).scalar_one() == 1
