"""Zoho Accounts: the refresh-token grant and the access tokens the CRM API accepts.

Follows crm_report.md §1.1: query or form parameters, ``expires_in: 3600``, ``api_domain``, no new
refresh token, at most 10 access tokens per refresh token in 10 minutes. Error bodies come with HTTP
200 (``invalid_client``, ``invalid_code``), except the throttle, which is HTTP 400 "Access Denied".
"""

from __future__ import annotations

import hashlib
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.zoho_schema import ZohoError

TOKEN_LIFETIME = 3600
RATE_WINDOW = timedelta(minutes=10)
DEFAULT_RATE_LIMIT = 10
MAX_LIVE_TOKENS = 30
SCOPE = "ZohoCRM.modules.ALL ZohoCRM.settings.READ"
THROTTLED = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
}


def _hex(seed: int, label: str, length: int) -> str:
    return hashlib.sha256(f"{seed}:zoho:{label}".encode()).hexdigest()[:length]


class ZohoAuth:
    def __init__(self, seed: int, clock: SandboxClock) -> None:
        self._seed = seed
        self._clock = clock
        self.client_id = "1000." + _hex(seed, "client_id", 30).upper()
        self.client_secret = _hex(seed, "client_secret", 42)
        self.refresh_token = f"1000.{_hex(seed, 'refresh_a', 32)}.{_hex(seed, 'refresh_b', 32)}"
        self._issued_at: deque[datetime] = deque()
        self._live: dict[str, datetime] = {}  # access token → expiry, oldest first
        self._count = 0

    def grant(self, params: dict[str, str], api_domain: str, rate_limit: int | None) -> tuple[int, dict[str, Any]]:
        """Status and body for ``POST /oauth/v2/token``."""
        if params.get("grant_type") != "refresh_token":
            return 200, {"error": "unsupported_grant_type"}
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return 200, {"error": "invalid_client"}
        if params.get("refresh_token") != self.refresh_token:
            return 200, {"error": "invalid_code"}
        now = self._clock.now()
        while self._issued_at and now - self._issued_at[0] >= RATE_WINDOW:
            self._issued_at.popleft()
        limit = DEFAULT_RATE_LIMIT if rate_limit is None else rate_limit
        if len(self._issued_at) >= limit:
            return 400, dict(THROTTLED)
        self._issued_at.append(now)
        self._count += 1
        token = (
            f"1000.{_hex(self._seed, f'access_a:{self._count}', 32)}.{_hex(self._seed, f'access_b:{self._count}', 32)}"
        )
        self._live[token] = now + timedelta(seconds=TOKEN_LIFETIME)
        # Past the live-token cap the oldest token stops working, as if revoked.
        while len(self._live) > MAX_LIVE_TOKENS:
            self._live.pop(next(iter(self._live)))
        return 200, {
            "access_token": token,
            "scope": SCOPE,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }

    def check(self, authorization: str | None) -> None:
        """Raise the API's 401 unless the header carries a live access token."""
        if not authorization:
            raise ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        scheme, _, token = authorization.strip().partition(" ")
        # The SDK sends "Zoho-oauthtoken"; some clients send "Bearer" with the token_type they were given.
        if scheme.lower() not in ("zoho-oauthtoken", "bearer") or not token.strip():
            raise ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        expiry = self._live.get(token.strip())
        if expiry is None or self._clock.now() >= expiry:
            raise ZohoError(401, "INVALID_TOKEN", "invalid oauth token")

    def expire_all(self) -> int:
        count = len(self._live)
        self._live.clear()
        return count
