"""Alerts for operations: every failed task is recorded in the alert history (``hub.alerts``) and,
when ``alerts.email_to`` names mailboxes, e-mailed through the ``smtp_default`` Connection.

The e-mail goes through the ledger (target ``mail.alert``, key = DAG, run, task and try), so a
notifier that runs twice for the same failure sends one e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import Engine

from hub.alerts import record
from hub.db import utcnow
from hub.ledger import Delivered, Ledger

log = logging.getLogger(__name__)

ALERT_MAIL = "mail.alert"


def alert_message(
    *, key: str, subject: str, body: str, sender: str, recipients: Sequence[str], when: datetime
) -> EmailMessage:
    from transforms.message_ids import domain_of, stable_message_id

    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = stable_message_id(key, domain_of(sender))
    message["X-Hub-Alert"] = key
    message.set_content(body)
    return message


def notify(
    engine: Engine,
    *,
    kind: str,
    dag_id: str | None,
    run_id: str | None,
    task_id: str | None,
    try_number: int | None,
    message: str,
    log_url: str | None = None,
) -> bool:
    """Record the alert, then e-mail it if mailboxes are configured; True when an e-mail went out.

    Never raises for the e-mail: a notifier that fails would hide the failure it reports.
    """
    from hub.settings import get_settings

    record(engine, kind, dag_id, run_id, task_id, message)
    recipients = get_settings().alerts.email_to
    if not recipients:
        return False
    key = f"{kind}:{dag_id}:{run_id}:{task_id}:{try_number}"
    body = "\n".join(
        line
        for line in (
            message,
            "",
            f"DAG: {dag_id}",
            f"Run: {run_id}",
            f"Task: {task_id} (try {try_number})",
            f"Log: {log_url}" if log_url else None,
            "",
            "Quarantine and ledger: hub quarantine list · hub ledger list --status failed",
        )
        if line is not None
    )
    try:
        from connectors.mail import Mailer, SmtpConfig
        from flows.connections import get_connection

        smtp = SmtpConfig.from_connection(get_connection("smtp_default"))
        mail = alert_message(
            key=key,
            subject=f"[spare-parts hub] {kind}: {dag_id}.{task_id}",
            body=body,
            sender=smtp.from_address,
            recipients=recipients,
            when=utcnow(),
        )
        Ledger(engine, owner="alerts").send(
            ALERT_MAIL,
            key,
            {"to": list(recipients), "subject": mail["Subject"]},
            lambda _p: Delivered(ref=Mailer(smtp).send(mail)),
        )
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.error("alert e-mail %s not sent: %s", key, exc)
        return False
    return True
