"""The sandbox mailbox: every message the SMTP emulator accepted, parsed the way a mail client reads it.

Tests read it through ``GET /_sandbox/mail``: headers decoded (RFC 2047 subjects and names become
text), the text/plain and text/html parts decoded from their transfer encoding and charset. Bounded,
like the call log, so a long demo cannot grow the process without limit.
"""

from __future__ import annotations

import email
import email.policy
from collections import deque
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sandbox.clock import iso_z


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    # Mail travels with CRLF line ends; a reader sees lines.
    return part.get_content().replace("\r\n", "\n")


def _addresses(message: EmailMessage, header: str) -> list[str]:
    value = message.get(header)
    return [a.addr_spec for a in value.addresses] if value is not None else []


class Mailbox:
    def __init__(self, maxlen: int = 10_000) -> None:
        self._messages: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0

    def add(self, mail_from: str, rcpt_to: list[str], raw: bytes, received_at: datetime) -> dict[str, Any]:
        """Store one accepted message; returns the stored entry (its ``queue_id`` goes in the 250 reply)."""
        self._seq += 1
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)  # the default policy builds EmailMessage
        entry: dict[str, Any] = {
            "seq": self._seq,
            "queue_id": f"{self._seq:010X}",
            "received_at": iso_z(received_at),
            "mail_from": mail_from,
            "rcpt_to": list(rcpt_to),
            "from": str(message.get("From", "")),
            "to": _addresses(message, "To"),
            "cc": _addresses(message, "Cc"),
            "subject": str(message.get("Subject", "")),
            "message_id": str(message["Message-ID"]) if message.get("Message-ID") else None,
            "date": str(message["Date"]) if message.get("Date") else None,
            "headers": [[name, str(value)] for name, value in message.items()],
            "text": _body(message, "plain"),
            "html": _body(message, "html"),
            "size": len(raw),
        }
        self._messages.append(entry)
        return entry

    def query(self, to: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Messages after ``since`` (oldest first), optionally only those with ``to`` among the recipients."""
        wanted = to.lower() if to else None
        return [
            dict(m)
            for m in self._messages
            if m["seq"] > since and (wanted is None or wanted in (r.lower() for r in m["rcpt_to"]))
        ]

    def clear(self) -> None:
        self._messages.clear()
