"""Suppression and history: what a check found, compared with the stored ``alert_states``, becomes
the messages worth sending (raised, reminder, escalated, resolved), each stored once in the ``alerts``
history under a stable message id.

The same type + key is raised once per ``alerts.window_minutes``; while it stays open a reminder
follows every ``alerts.reminder_hours``; a rise in severity is escalated at once; when the check no
longer finds it, resolved (only if people were told it was open)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from flows.alerting.messages import text_body
from flows.alerting.types import RANK, Alert
from flows.alerting.values import aware
from hub import alerts as store

log = logging.getLogger(__name__)


def message_id(alert_type: str, key: str, *parts: object) -> str:
    """The stable id of one message: the same for every resend, different for every state change."""
    digest = hashlib.sha256("|".join([alert_type, key, *map(str, parts)]).encode()).hexdigest()
    return f"{alert_type[:24]}-{digest[:32]}"


@dataclass
class Message:
    """One message to store and send: an alert and what became of it (``event``)."""

    alert: Alert
    event: str
    occurrence: int | None
    number: int = 0  # which reminder / escalation
    opened_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message_id(self) -> str:
        if self.event == "event":
            return message_id(self.alert.type, self.alert.key, self.alert.instance, "event")
        return message_id(self.alert.type, self.alert.key, self.occurrence, self.event, self.number)


def apply(conn: Connection, alert_type: str, found: list[Alert], now: datetime, settings: Any) -> list[Message]:
    """Compare what a check found with the stored states of its type; return the messages to send."""
    window = timedelta(minutes=settings.alerts.window_minutes)
    reminder = timedelta(hours=settings.alerts.reminder_hours)
    known = store.states(conn, alert_type)
    out: list[Message] = []
    seen: set[str] = set()
    for alert in found:
        if alert.key in seen:
            continue
        seen.add(alert.key)
        state = known.get(alert.key)
        if state is None or state.status == "resolved":
            occurrence = (state.occurrence if state else 0) + 1
            last_raised = aware(state.last_raised_at) if state else None
            suppressed = last_raised is not None and now - last_raised < window
            values: dict[str, Any] = {
                "status": "open",
                "severity": alert.severity,
                "occurrence": occurrence,
                "announced": not suppressed,
                "reminders": 0,
                "escalations": 0,
                "opened_at": now,
                "last_seen_at": now,
                "resolved_at": None,
                "summary": alert.title,
                "facts": alert.facts,
            }
            if not suppressed:
                values.update(last_raised_at=now, last_notified_at=now)
                out.append(Message(alert, "raised", occurrence, opened_at=now))
            else:
                log.info("alert %s %s reopened within the window: not raised again", alert_type, alert.key)
            store.save_state(conn, alert_type, alert.key, values, new=state is None)
            continue
        values = {"last_seen_at": now, "summary": alert.title, "facts": alert.facts}
        last_told = aware(state.last_notified_at)
        if RANK[alert.severity] > RANK[state.severity]:
            values.update(
                severity=alert.severity, escalations=state.escalations + 1, announced=True, last_notified_at=now
            )
            out.append(Message(alert, "escalated", state.occurrence, state.escalations + 1, aware(state.opened_at)))
        elif last_told is None or now - last_told >= reminder:
            values.update(reminders=state.reminders + 1, announced=True, last_notified_at=now)
            if RANK[alert.severity] < RANK[state.severity]:
                values["severity"] = alert.severity
            out.append(Message(alert, "reminder", state.occurrence, state.reminders + 1, aware(state.opened_at)))
        elif RANK[alert.severity] < RANK[state.severity]:
            values["severity"] = alert.severity
        store.save_state(conn, alert_type, alert.key, values, new=False)
    for key, state in known.items():
        if state.status != "open" or key in seen:
            continue
        store.save_state(conn, alert_type, key, {"status": "resolved", "resolved_at": now}, new=False)
        if state.announced:
            opened = aware(state.opened_at)
            cleared = Alert(
                alert_type,
                key,
                state.severity,
                f"resolved: {state.summary}",
                dict(state.facts or {}),
                "Nothing to do: the check no longer finds it.",
            )
            out.append(
                Message(cleared, "resolved", state.occurrence, opened_at=opened, extra={"open_for": str(now - opened)})
            )
    return out


def record(engine: Engine, msg: Message, settings: Any, *, now: datetime, context: Mapping[str, Any]) -> int | None:
    """Store the message in the history, pending on the channels its type and severity go to; its id,
    or None when a message with that id is already there (told before)."""
    channels = settings.alerts.channels_for(msg.alert.type, msg.alert.severity)
    a = msg.alert
    facts = {**dict(a.facts), **msg.extra}
    if msg.opened_at is not None:
        facts.setdefault("opened_at", msg.opened_at)
    return store.add_message(
        engine,
        {
            "kind": a.type,
            "alert_key": a.key,
            "severity": a.severity,
            "event": msg.event,
            "occurrence": msg.occurrence,
            "message_id": msg.message_id,
            "title": a.title,
            "message": text_body(a, msg.event, facts),
            "action": a.action,
            "facts": {**facts, "details": list(a.details)},
            "deliveries": {c: {"status": store.PENDING} for c in channels},
            "created_at": now,
            "dag_id": context.get("dag_id"),
            "run_id": context.get("run_id"),
            "task_id": context.get("task_id"),
        },
    )
