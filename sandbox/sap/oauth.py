"""The ABAP OAuth 2.0 token endpoint ``POST /sap/bc/sec/oauth2/token``, client-credentials grant only.

The client authenticates with HTTP basic (RFC 6749 §2.3.1); answers and errors are RFC 6749 §5 JSON.
Tokens live an hour on the sandbox clock and die early with the ``expire_tokens`` fault, so a client
can be made to meet a 401 in the middle of its work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import SandboxClock

TOKEN_LIFETIME = 3600
CLIENT_ID = "HUB_OAUTH_CLIENT"
# The scopes of the services the emulator serves, as SAP names an OData service's OAuth scope.
SCOPES = (
    "API_SALES_ORDER_SRV_0001",
    "API_MATERIAL_STOCK_SRV_0001",
    "API_PRODUCT_AVAILY_INFO_BASIC_0001",
    "API_OUTBOUND_DELIVERY_SRV_0002",
    "API_BILLING_DOCUMENT_SRV_0001",
    "API_BUSINESS_PARTNER_0001",
)


def _error(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


class SapOAuth:
    def __init__(self, seed: int, clock: SandboxClock) -> None:
        self._seed = seed
        self._clock = clock
        self.client_id = CLIENT_ID
        self.client_secret = hashlib.sha256(f"{seed}:sap:oauth_client_secret".encode()).hexdigest()[:32]
        self._live: dict[str, datetime] = {}  # access token → expiry
        self._count = 0

    def grant(self, authorization: str | None, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Status and body for the token request."""
        if not self._client_ok(authorization):
            return _error(401, "invalid_client", "Client authentication failed")
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", f"Grant type {form.get('grant_type')!r} is not supported")
        requested = form.get("scope", "").split()
        if any(scope not in SCOPES for scope in requested):
            return _error(400, "invalid_scope", "The requested scope is not assigned to the client")
        self._count += 1
        digest = hashlib.sha256(f"{self._seed}:sap:access:{self._count}".encode()).digest()
        token = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        self._live[token] = self._clock.now() + timedelta(seconds=TOKEN_LIFETIME)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(requested or SCOPES),
        }

    def valid(self, token: str) -> bool:
        expiry = self._live.get(token)
        return expiry is not None and self._clock.now() < expiry

    def expire_all(self) -> int:
        count = len(self._live)
        self._live.clear()
        return count

    def _client_ok(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            client_id, _, secret = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(client_id, self.client_id) and hmac.compare_digest(secret, self.client_secret)
