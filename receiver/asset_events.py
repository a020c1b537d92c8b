"""Tell Airflow that the inbox has news, so ``shipment_notices`` starts at once instead of on its schedule.

Airflow 3's public REST API (the api-server), as Airflow 3.3 defines it:

* ``POST {airflow}/auth/token`` with ``{"username", "password"}`` → ``{"access_token"}`` (HTTP 201), a
  JWT for ``Authorization: Bearer`` (the Simple auth manager's token endpoint; other auth managers
  offer the same path);
* ``GET {airflow}/api/v2/assets?uri_pattern=…`` → ``{"assets": [{"id", "uri", …}], "total_entries"}``;
  the pattern is a substring match, so the asset is the entry whose ``uri`` is exactly ours;
* ``POST {airflow}/api/v2/assets/events`` with ``{"asset_id", "extra"}`` → the created event.

Best effort by design: the message is already in the inbox, and the flow's schedule picks it up anyway,
so every failure here is a WARNING, never an error of the push. The token and the asset id are kept
between calls; a 401 fetches a new token once, a 404 looks the asset up again once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

import requests

from connectors.http import ConnectorError, HttpClient, RetryPolicy, loads_json

log = logging.getLogger(__name__)

INBOX_ASSET_URI = "hub://receiver/qimen_inbox"
ENV_URL = "HUB_RECEIVER_AIRFLOW_URL"
ENV_USERNAME = "HUB_RECEIVER_AIRFLOW_USERNAME"
ENV_PASSWORD = "HUB_RECEIVER_AIRFLOW_PASSWORD"  # noqa: S105 - the variable's name, not a password


class _Retry(Exception):
    """A cached token or asset id went stale: fetch it again and repeat once."""


class AirflowAssetNotifier:
    """Emits an Asset event for ``asset_uri`` through Airflow's REST API; :meth:`notify` never raises."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        asset_uri: str = INBOX_ASSET_URI,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self._password = password
        self.asset_uri = asset_uri
        # Short and few tries: the push is answered already, and a missed event costs one schedule tick.
        self.http = HttpClient(
            "airflow_api",
            timeout=timeout,
            retry=RetryPolicy(max_attempts=2, base=0.2, cap=1.0, max_retry_after=2.0),
            session=session,
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._asset_id: int | None = None

    def __repr__(self) -> str:
        return f"AirflowAssetNotifier(url={self.url!r}, username={self.username!r}, asset_uri={self.asset_uri!r})"

    def notify(self, extra: Mapping[str, Any] | None = None) -> bool:
        """Emit one event (``extra`` travels with it); True when Airflow recorded it."""
        with self._lock:  # one event at a time: the token and asset id are shared
            try:
                for attempt in (1, 2):
                    try:
                        self._emit(dict(extra or {}))
                        return True
                    except _Retry:
                        if attempt == 2:
                            raise
            except (ConnectorError, _Retry, ValueError, KeyError, TypeError) as exc:
                log.warning("receiver: no Airflow asset event for %s: %s", self.asset_uri, exc)
            return False

    # -- the three calls ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self.http.send(
                "POST",
                f"{self.url}/auth/token",
                json_body={"username": self.username, "password": self._password},
                interpret=self._token_of,
            )
        return {"Authorization": f"Bearer {self._token}"}

    def _token_of(self, response: requests.Response) -> str:
        if response.status_code not in (200, 201):
            raise ConnectorError("airflow_api", f"POST /auth/token: HTTP {response.status_code}")
        token = loads_json(response)["access_token"]
        if not isinstance(token, str) or not token:
            raise ValueError("the token endpoint returned no access_token")
        return token

    def _checked(self, what: str, response: requests.Response) -> Any:
        if response.status_code == 401:
            self._token = None
            raise _Retry(f"{what}: token refused")
        if response.status_code >= 300:
            raise ConnectorError("airflow_api", f"{what}: HTTP {response.status_code}: {response.text[:200]}")
        return loads_json(response)

    def _asset(self) -> int:
        if self._asset_id is None:
            body = self.http.send(
                "GET",
                f"{self.url}/api/v2/assets",
                params={"uri_pattern": self.asset_uri},
                headers=self._headers(),
                interpret=lambda r: self._checked("GET /api/v2/assets", r),
            )
            found = [a for a in body.get("assets", []) if isinstance(a, dict) and a.get("uri") == self.asset_uri]
            if not found:
                raise ValueError(f"Airflow knows no asset {self.asset_uri} (is the DAG that uses it parsed?)")
            self._asset_id = int(found[0]["id"])
        return self._asset_id

    def _emit(self, extra: dict[str, Any]) -> None:
        asset_id = self._asset()

        def interpret(response: requests.Response) -> Any:
            if response.status_code == 404:  # the asset was re-created under a new id
                self._asset_id = None
                raise _Retry(f"asset {asset_id} not found")
            return self._checked("POST /api/v2/assets/events", response)

        self.http.send(
            "POST",
            f"{self.url}/api/v2/assets/events",
            json_body={"asset_id": asset_id, "extra": extra},
            headers=self._headers(),
            interpret=interpret,
            idempotent=False,  # a second event would only start a second, empty run; still, not repeated
        )
        log.info("receiver: Airflow asset event for %s (asset %s)", self.asset_uri, asset_id)


def notifier_from_env(environ: Mapping[str, str] | None = None) -> AirflowAssetNotifier | None:
    """The notifier ``$HUB_RECEIVER_AIRFLOW_URL``, ``_USERNAME`` and ``_PASSWORD`` configure, or ``None``
    when no URL is set (the flow then starts on its schedule only)."""
    env = os.environ if environ is None else environ
    url = (env.get(ENV_URL) or "").strip()
    if not url:
        return None
    username, password = env.get(ENV_USERNAME) or "", env.get(ENV_PASSWORD) or ""
    if not username or not password:
        raise ValueError(f"{ENV_URL} is set: {ENV_USERNAME} and {ENV_PASSWORD} are needed too")
    return AirflowAssetNotifier(url, username, password)
