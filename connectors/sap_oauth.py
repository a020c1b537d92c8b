"""OAuth 2.0 client credentials for SAP (reference/sap_report.md §2, §6): a bearer token from the
ABAP token endpoint (``/sap/bc/sec/oauth2/token``) or a BTP/XSUAA one, for :class:`~connectors.sap_odata.ODataClient`.

pyodata's BTP helper only knows the password grant, hence this small fetcher. It is a
:class:`~connectors.base.TokenClient`, so with a ``token_store`` every task of the same client id
shares one token, as the Zoho and Fxiaoke clients do.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from connectors.base import TokenClient
from connectors.http import DEFAULT_TIMEOUT, RetryPolicy, loads_json
from connectors.sap_errors import SYSTEM, SapAuthError

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class ClientCredentials:
    """Where and as whom to ask for tokens. ``refresh_margin``: a token this close to its expiry is
    renewed first, so a call never leaves with a token that dies on the way."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    verify_tls: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    refresh_margin: float = 60.0


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires_at: float  # on the client's monotonic clock


class ClientCredentialsAuth(TokenClient):
    """Bearer tokens by the client-credentials grant. ``token_refreshes`` counts token requests."""

    system = SYSTEM

    def authorized(self, send: Callable[[str], T]) -> T:
        """``send(access_token)``; ``send`` raises :class:`~connectors.http.TokenRejected` on a 401,
        which costs one new token and one more call; refused again, it is an ``AuthError``."""
        return self._with_token(lambda token: send(token.value), rejected_code="TOKEN_REJECTED")

    def _valid_token(self) -> _Token:
        token = self._token or self._shared_token()
        if token is None or self._clock() >= token.expires_at - self.config.refresh_margin:
            token = self._fetch()
            self._share({"access_token": token.value}, token.expires_at)
        self._token = token
        return token

    def _credential_parts(self) -> tuple[str, ...]:
        cfg = self.config
        return (cfg.token_url, cfg.client_id, cfg.client_secret, cfg.scope or "")

    def _token_from(self, fields: dict[str, Any], deadline: float) -> _Token:
        return _Token(value=fields["access_token"], expires_at=deadline)

    def _fetch(self) -> _Token:
        cfg = self.config
        form = {"grant_type": "client_credentials", **({"scope": cfg.scope} if cfg.scope else {})}
        # The client authenticates with HTTP basic (RFC 6749 §2.3.1), which SAP's endpoint expects.
        basic = base64.b64encode(f"{cfg.client_id}:{cfg.client_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        body = self._http.send("POST", cfg.token_url, data=form, headers=headers, interpret=_token_body)
        self.token_refreshes += 1
        return _Token(value=str(body["access_token"]), expires_at=self._clock() + float(body.get("expires_in") or 3600))


def _token_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = loads_json(response)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if response.status_code == 200 and body.get("access_token"):
        return body
    # invalid_client, unauthorized_client, invalid_scope…: only a configuration change helps.
    error = str(body.get("error") or f"HTTP_{response.status_code}")
    description = str(body.get("error_description") or "")
    raise SapAuthError(f"token request refused: {error} {description}".strip(), status=response.status_code, code=error)
