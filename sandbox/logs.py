"""What the emulators saw: a call log (for counting calls and faults) and a write log (what clients
changed). Both are bounded so a long demo cannot grow the process without limit."""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlencode

# Credentials that may travel in a query string; the log is readable over the control API.
_SECRET_PARAMS = frozenset(
    {
        "client_id",
        "client_secret",
        "refresh_token",
        "code",
        "access_token",
        "appSecret",
        "permanentCode",
        "corpAccessToken",
    }
)


def masked_query(raw: bytes) -> str:
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return urlencode([(k, "***" if k in _SECRET_PARAMS else v) for k, v in pairs])


class CallLog:
    def __init__(self, maxlen: int = 200_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0

    def start(self, system: str, method: str, path: str, query: str, at: str) -> dict[str, Any]:
        self._seq += 1
        entry: dict[str, Any] = {
            "seq": self._seq,
            "system": system,
            "method": method,
            "path": path,
            "query": query,
            "at": at,
            "status": None,
            "fault": None,
            "error_code": None,
            "duration_ms": None,
        }
        self._entries.append(entry)
        return entry

    def query(self, system: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        return [dict(e) for e in self._entries if e["seq"] > since and (system is None or e["system"] == system)]

    def clear(self) -> None:
        self._entries.clear()


class WriteLog:
    def __init__(self, maxlen: int = 50_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def add(self, system: str, entry: dict[str, Any]) -> None:
        self._entries.append({"system": system, **entry})

    def query(self, system: str | None = None) -> list[dict[str, Any]]:
        return [dict(e) for e in self._entries if system is None or e["system"] == system]

    def clear(self) -> None:
        self._entries.clear()
