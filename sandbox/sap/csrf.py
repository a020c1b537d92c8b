"""CSRF tokens bound to sessions, as SAP Gateway hands them out (sap_report.md §3.1).

A GET or HEAD with ``X-CSRF-Token: Fetch`` returns the session's token (a new session and cookie when
the request carries none that is valid). Every modifying request must carry the token *and* the
session cookie it belongs to; otherwise 403, ``x-csrf-token: Required`` and the 28-byte text/plain
body ``CSRF token validation failed``. The token is stable within a session; token A with the cookie
of session B fails. ``expire_all`` forgets every session, as a logoff or timeout would.
"""

from __future__ import annotations

import base64
import hashlib
from http.cookies import SimpleCookie

from starlette.responses import Response

COOKIE = "SAP_SESSIONID_S4H_100"
FAILED_BODY = b"CSRF token validation failed"


class CsrfSessions:
    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._count = 0
        self._tokens: dict[str, str] = {}  # session id → token

    def _draw(self, label: str) -> bytes:
        self._count += 1
        return hashlib.sha256(f"{self._seed}:sap:{label}:{self._count}".encode()).digest()

    def session_of(self, cookie_header: str | None) -> str | None:
        if not cookie_header:
            return None
        cookies = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except Exception:  # noqa: BLE001 - a malformed cookie header is just "no session"
            return None
        morsel = cookies.get(COOKIE)
        return morsel.value if morsel is not None and morsel.value in self._tokens else None

    def fetch(self, cookie_header: str | None) -> tuple[str, str | None]:
        """The token for the request's session; and a Set-Cookie value when a session was opened."""
        session = self.session_of(cookie_header)
        if session is not None:
            return self._tokens[session], None
        session = base64.urlsafe_b64encode(self._draw("session")).decode().rstrip("=")
        token = base64.b64encode(self._draw("token")[:16]).decode()  # 24 characters, like SAP's
        self._tokens[session] = token
        return token, f"{COOKIE}={session}; path=/; HttpOnly"

    def valid(self, token: str | None, cookie_header: str | None) -> bool:
        session = self.session_of(cookie_header)
        return session is not None and token is not None and self._tokens[session] == token

    def expire_all(self) -> int:
        count = len(self._tokens)
        self._tokens.clear()
        return count


def csrf_failed() -> Response:
    return Response(FAILED_BODY, status_code=403, media_type="text/plain", headers={"x-csrf-token": "Required"})
