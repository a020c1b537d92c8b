"""Sending stored alert messages: one sender per channel (e-mail, WeCom, DingTalk, webhook), built from
the Airflow Connections, and delivery through the ledger (at least once, key = the message id, so a
resend carries the same id).

A channel that refuses for now (rate limit, outage) leaves the message waiting for the next call; one
that refuses for good (bad signature, invalid webhook) is recorded as refused with its reason; a
channel without its Connection is skipped, with why."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from flows.alerting.messages import alert_message, dingtalk_payload, subject_of, webhook_payload, wecom_payload
from flows.alerting.types import TARGETS
from flows.alerting.values import current_settings
from hub import alerts as store
from hub.db import utcnow
from hub.ledger import Delivered, Ledger, LedgerError

log = logging.getLogger(__name__)

RESEND_HOURS = 48  # a message not delivered by then is left as it is (a newer one says more)


class Sender(Protocol):
    target: str

    def render(self, row: Any) -> dict[str, Any]: ...

    def send(self, payload: dict[str, Any]) -> Delivered: ...


class MailSender:
    target = TARGETS["email"]

    def __init__(self, smtp: Any, recipients: Sequence[str]) -> None:
        self.smtp, self.recipients = smtp, list(recipients)

    def render(self, row: Any) -> dict[str, Any]:
        return {"to": self.recipients, "subject": subject_of(row), "body": row.message, "message_id": row.message_id}

    def send(self, payload: dict[str, Any]) -> Delivered:
        from connectors.mail import Mailer

        mail = alert_message(
            key=payload["message_id"],
            subject=payload["subject"],
            body=payload["body"],
            sender=self.smtp.from_address,
            recipients=payload["to"],
            when=utcnow(),
        )
        return Delivered(ref=Mailer(self.smtp).send(mail))


class _RobotSender:
    """A chat group robot: it posts the channel's markdown, @-mentioning ``mentions`` on critical news."""

    target: str

    def __init__(self, robot: Any, mentions: Sequence[str] = ()) -> None:
        self.robot, self.mentions = robot, list(mentions)

    def send(self, payload: dict[str, Any]) -> Delivered:
        return Delivered(ref="errcode 0", response=self.robot.send(payload))


class WeComSender(_RobotSender):
    """``mentions`` are WeCom user ids."""

    target = TARGETS["wecom"]

    def render(self, row: Any) -> dict[str, Any]:
        return wecom_payload(row, self.mentions)


class DingTalkSender(_RobotSender):
    """``mentions`` are mobile numbers (DingTalk's ``atMobiles``)."""

    target = TARGETS["dingtalk"]

    def render(self, row: Any) -> dict[str, Any]:
        return dingtalk_payload(row, self.mentions)


class WebhookSender:
    target = TARGETS["webhook"]

    def __init__(self, client: Any) -> None:
        self.client = client

    def render(self, row: Any) -> dict[str, Any]:
        return webhook_payload(row)

    def send(self, payload: dict[str, Any]) -> Delivered:
        return Delivered(ref=self.client.post(payload, message_id=payload["message_id"]))


# Each channel's sender from its Connection (the connector imported only when the channel is set up).
def _mail(conn: Any, settings: Any) -> Sender:
    from connectors.mail import SmtpConfig

    return MailSender(SmtpConfig.from_connection(conn), settings.alerts.email_to)


def _wecom(conn: Any, settings: Any) -> Sender:
    from connectors.wecom import WeComRobot

    return WeComSender(WeComRobot.from_connection(conn), settings.alerts.wecom_mentions)


def _dingtalk(conn: Any, settings: Any) -> Sender:
    from connectors.dingtalk import DingTalkRobot

    return DingTalkSender(DingTalkRobot.from_connection(conn), settings.alerts.dingtalk_at_mobiles)


def _webhook(conn: Any, settings: Any) -> Sender:
    from connectors.webhook import WebhookClient

    return WebhookSender(WebhookClient.from_connection(conn))


CHANNELS: tuple[tuple[str, str, Callable[[Any, Any], Sender]], ...] = (
    ("email", "smtp_default", _mail),
    ("wecom", "alert_wecom", _wecom),
    ("dingtalk", "alert_dingtalk", _dingtalk),
    ("webhook", "alert_webhook", _webhook),
)


def _connection(conn_id: str) -> Any:
    from flows.connections import get_connection

    try:
        return get_connection(conn_id, required=False)
    except Exception as exc:  # noqa: BLE001 - no Airflow configured: the channel is skipped, said why
        log.warning("alerts: Connection %s unreadable: %s", conn_id, exc)
        return None


def default_senders(settings: Any = None) -> dict[str, Sender | str]:
    """A sender per channel from the Airflow Connections, or why the channel is skipped."""
    settings = current_settings(settings)
    out: dict[str, Sender | str] = {}
    for channel, conn_id, build in CHANNELS:
        # Only e-mail needs addresses from the settings; the robots and the webhook carry theirs.
        if channel == "email" and not settings.alerts.email_to:
            out[channel] = "alerts.email_to is empty"
        elif (conn := _connection(conn_id)) is None:
            out[channel] = f"no Connection {conn_id}"
        else:
            out[channel] = build(conn, settings)
    return out


def deliver(
    engine: Engine,
    senders: Mapping[str, Sender | str],
    *,
    now: datetime | None = None,
    only: Iterable[int] | None = None,
    owner: str = "alerts",
) -> dict[str, Counter]:
    """Send every message with a channel still open, through the ledger. A channel that answers
    "not now" (rate limit, outage) is left for the next call and not tried again in this one."""
    since = (now or utcnow()) - timedelta(hours=RESEND_HOURS)
    rows = store.undelivered(engine, since)
    if only is not None:
        wanted = set(only)
        rows = [r for r in rows if r.id in wanted]
    result: dict[str, Counter] = defaultdict(Counter)
    paused: set[str] = set()
    book = Ledger(engine, owner=owner)
    for row in rows:
        for channel, state in (row.deliveries or {}).items():
            if state.get("status") in store.FINAL:
                continue
            sender = senders.get(channel, f"unknown channel {channel}")
            if isinstance(sender, str):
                status, detail = store.SKIPPED, sender
            elif channel in paused:
                result[store.WAITING][channel] += 1
                continue
            else:
                status, detail = _send(book, sender, row, channel)
                if status == store.WAITING:
                    paused.add(channel)
            store.set_delivery(engine, row.id, channel, status, detail)
            result[status][channel] += 1
    return result


def _send(book: Ledger, sender: Sender, row: Any, channel: str) -> tuple[str, str | None]:
    """One message to one channel: the delivery status it ends in, and why when it is not sent."""
    from connectors.errors import ConnectorError, PermanentError

    try:
        book.send(sender.target, row.message_id, sender.render(row), sender.send)
    except PermanentError as exc:
        log.error("alert %s refused by %s: %s", row.message_id, channel, exc)
        return store.REFUSED, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - an alert must never take down what it reports on
        if isinstance(exc, ConnectorError | LedgerError):  # transient, or another worker holds it
            log.warning("alert %s waits for %s: %s", row.message_id, channel, exc)
        else:
            log.exception("alert %s not sent to %s", row.message_id, channel)
        return store.WAITING, f"{type(exc).__name__}: {exc}"
    return store.SENT, None
