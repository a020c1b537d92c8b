"""Credentials out of everything a connector logs, raises or stores (DESIGN §3.6)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# Names under which a credential travels in a URL, a form, a JSON body or a header. Matched whole and
# case-insensitively, so ``next_page_token`` (not a credential) stays readable.
SENSITIVE_KEYS: frozenset[str] = frozenset(
    name.lower()
    for name in (
        "authorization",
        "access_token",
        "accessToken",
        "corpAccessToken",
        "appSecret",
        "app_secret",
        "client_secret",
        "clientSecret",
        "refresh_token",
        "refreshToken",
        "permanentCode",
        "permanent_code",
        "password",
    )
)

_KEY_ALTERNATION = "|".join(sorted((re.escape(k) for k in SENSITIVE_KEYS), key=len, reverse=True))
# key=value (query/form), "key": "value" (JSON), 'key': 'value' (repr), Key: value (header dump).
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>(?<![A-Za-z0-9_])["']?(?:{_KEY_ALTERNATION})["']?\s*[:=]\s*["']?)
    (?P<value>(?:(?:Zoho-oauthtoken|Bearer|Basic)\s+)?[^"'&\s,;}}\]\r\n]+)
    """
)
# A token written after its scheme with no key in front (e.g. a header line echoed in an error).
_SCHEME_TOKEN = re.compile(r"(?i)\b(Zoho-oauthtoken|Bearer)\s+[A-Za-z0-9._~+/=-]+")
# The key of a WeCom group robot is the whole credential, in its webhook URL (webhook/send?key=...).
_WEBHOOK_KEY = re.compile(r"(?i)(webhook/send\?(?:[^#\s\"']*&)?key=)[^&#\s\"']+")


def redact(value: Any) -> Any:
    """A copy of ``value`` with credentials masked; safe to log, raise or store.

    Handles mappings (headers, JSON bodies) recursively, sequences, bytes and free text (URLs,
    form bodies, JSON or repr dumps, header lines). Other types are returned unchanged.
    """
    if isinstance(value, str):
        text = _KEY_VALUE.sub(lambda m: m.group("key") + MASK, value)
        text = _WEBHOOK_KEY.sub(lambda m: m.group(1) + MASK, text)
        return _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} {MASK}", text)
    if isinstance(value, bytes | bytearray):
        return redact(bytes(value).decode("utf-8", errors="replace"))
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and k.lower() in SENSITIVE_KEYS else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in the rendered message of every record.

    Connectors already redact what they log; install this on handlers as a second line of defence
    for messages built elsewhere (library debug logs, exception text).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
