"""Message-IDs that stay the same across resends of one logical e-mail (pure: used by every mail builder)."""

from __future__ import annotations

import hashlib
from email.utils import parseaddr


def stable_message_id(key: str, domain: str) -> str:
    """A Message-ID that is the same for every send of the same logical message (``make_msgid`` is random).

    A resend after a crash then carries the Message-ID of the first attempt, so the receiving system can
    recognise the duplicate.
    """
    if not key or not domain:
        raise ValueError("a Message-ID needs an idempotency key and a domain")
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def domain_of(address: str) -> str:
    """The domain of an address, with or without a display name: ``Hub <orders@x.example>`` → ``x.example``."""
    return parseaddr(address)[1].rpartition("@")[2]
