"""An alert message as each channel shows it: the stored text (the e-mail body), the e-mail itself,
WeCom and DingTalk markdown (cut to the robot's size limit, dropping example lines first), the JSON
of the webhook. The robots' @-mentions go with critical news only, never with a resolved one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from flows.alerting.types import Alert
from flows.alerting.values import aware

PREFIX = "[spare-parts hub]"
EVENT_LABEL = {
    "raised": "",
    "reminder": "reminder: ",
    "escalated": "escalated: ",
    "resolved": "resolved: ",
    "event": "",
}


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def _fact_lines(facts: Mapping[str, Any]) -> list[str]:
    return [f"{k}: {_fmt(v)}" for k, v in facts.items() if k != "details" and v is not None]


def text_body(alert: Alert, event: str, facts: Mapping[str, Any]) -> str:
    lines = [alert.title, "", *_fact_lines(facts)]
    if alert.details:
        lines += ["", *alert.details]
    lines += ["", f"What to do: {alert.action}", "", f"Severity {alert.severity} · alert {alert.type} / {alert.key}"]
    return "\n".join(lines)


def subject_of(row: Any) -> str:
    return f"{PREFIX} {EVENT_LABEL.get(row.event, '')}{row.kind}: {row.alert_key}"


def _details_of(row: Any) -> list[str]:
    return list((row.facts or {}).get("details") or [])


def _calls_people(row: Any) -> bool:
    """Whether the robots @-mention someone: news that is critical, not its resolution."""
    return row.severity == "critical" and row.event != "resolved"


def _fit(build: Callable[[list[str]], str], details: list[str], limit: int) -> str:
    """``build(details)`` cut to ``limit`` UTF-8 bytes: example lines dropped first, then the text cut."""
    for n in range(len(details), -1, -1):
        text = build(details[:n] + ([f"… {len(details) - n} more"] if n < len(details) else []))
        if len(text.encode("utf-8")) <= limit:
            return text
    raw = build([]).encode("utf-8")[: limit - 3]
    return raw.decode("utf-8", "ignore") + "…"


def wecom_payload(row: Any, mentions: Sequence[str] = ()) -> dict[str, Any]:
    from connectors.wecom import MARKDOWN_MAX_BYTES, markdown_message

    color = {"critical": "warning", "warning": "warning", "info": "info"}.get(row.severity, "comment")
    facts = _fact_lines(row.facts or {})
    tail = "".join(f"<@{m}>" for m in mentions) if _calls_people(row) else ""

    def build(details: list[str]) -> str:
        parts = [
            f'**{PREFIX} <font color="{color}">{row.severity}</font> {EVENT_LABEL.get(row.event, "")}{row.kind}**',
            str(row.title),
            *(f"> {line}" for line in facts),
            *details,
            f"**What to do:** {row.action}",
            f'<font color="comment">{row.message_id}</font> {tail}'.rstrip(),
        ]
        return "\n".join(parts)

    return markdown_message(_fit(build, _details_of(row), MARKDOWN_MAX_BYTES))


def dingtalk_payload(row: Any, at_mobiles: Sequence[str] = ()) -> dict[str, Any]:
    from connectors.dingtalk import markdown_message

    mobiles = list(at_mobiles) if _calls_people(row) else []
    title = subject_of(row)

    def build(details: list[str]) -> str:
        parts = [
            f"#### {title}",
            f"**{row.severity}** {row.title}",
            "",
            *(f"- {line}" for line in _fact_lines(row.facts or {})),
            "",
            *(f"> {line}\n" for line in details),
            f"**What to do:** {row.action}",
            "",
            f"message {row.message_id}" + "".join(f" @{m}" for m in mobiles),
        ]
        return "\n".join(parts)

    return markdown_message(title, _fit(build, _details_of(row), 18_000), at_mobiles=mobiles)


def webhook_payload(row: Any) -> dict[str, Any]:
    facts = dict(row.facts or {})
    details = facts.pop("details", [])
    return {
        "source": "spare-parts-hub",
        "message_id": row.message_id,
        "type": row.kind,
        "key": row.alert_key,
        "severity": row.severity,
        "event": row.event,
        "occurrence": row.occurrence,
        "title": row.title,
        "facts": facts,
        "details": details,
        "action": row.action,
        "created_at": aware(row.created_at).isoformat(),
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "task_id": row.task_id,
    }


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
