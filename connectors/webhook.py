"""A generic JSON webhook (the ``alert_webhook`` Connection), and what the chat robots share.

``POST {url}`` with a JSON body, ``X-Hub-Message-Id`` (the stable id of the message, the same on every
resend: the receiver deduplicates) and, when the Connection holds a secret, ``X-Hub-Signature-256:
sha256=<hex HMAC-SHA256 of the exact body bytes>`` (the scheme GitHub's webhooks made familiar), plus
``X-Hub-Timestamp`` (epoch seconds) inside the signed text as ``<timestamp>.<body>`` so a captured call
cannot be replayed later. Any 2xx is delivered; 408, 429 and 5xx are transient (retried with the
project's backoff, ``Retry-After`` honoured); any other status is a refusal (:class:`PermanentError`).

A post is not idempotent: it is retried only where the receiver cannot have acted (connection refused,
429, 503), never after a timeout once sent (the ledger's at-least-once resend comes later, with the same
message id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from connectors.base import ConnectionLike, OwnsHttp, base_url_of, transport_extras
from connectors.http import (
    DEFAULT_TIMEOUT,
    HttpClient,
    PermanentError,
    RetryableError,
    RetryPolicy,
    Timeout,
    dumps_json,
    parse_retry_after,
)

SYSTEM = "alert_webhook"
MESSAGE_ID_HEADER = "X-Hub-Message-Id"
SIGNATURE_HEADER = "X-Hub-Signature-256"
TIMESTAMP_HEADER = "X-Hub-Timestamp"


def body_bytes(payload: Any) -> bytes:
    """The exact bytes posted: compact JSON, UTF-8, Decimals exact (never via float)."""
    return dumps_json(payload).encode("utf-8")


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 over ``<timestamp>.`` + the body bytes, keyed by the secret."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def json_answer(response: requests.Response, system: str) -> dict[str, Any]:
    """The JSON object of a chat robot's answer (HTTP 200 with ``errcode``/``errmsg``)."""
    if response.status_code >= 300:
        raise PermanentError(system, f"HTTP {response.status_code}: {response.text[:300]}", status=response.status_code)
    try:
        body = json.loads(response.content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise PermanentError(system, "the answer is not JSON", code="MALFORMED_RESPONSE") from None
    if not isinstance(body, dict):
        raise PermanentError(system, "the answer is not a JSON object", code="MALFORMED_RESPONSE")
    return body


def robot_errcode(
    response: requests.Response, system: str, transient_codes: dict[int, float]
) -> tuple[dict[str, Any], int, str]:
    """A chat robot's ``{errcode, errmsg}`` answer as (body, errcode, message); errcode 0 is success.
    A code in ``transient_codes`` (→ seconds to wait) is retried; an answer without a numeric errcode
    is a refusal. Any other code is the caller's to name (key, signature, message)."""
    body = json_answer(response, system)
    code = body.get("errcode")
    message = str(body.get("errmsg") or "")[:300]
    if code == 0:
        return body, 0, message
    if not isinstance(code, int) or isinstance(code, bool):
        raise PermanentError(system, f"answer without a numeric errcode: {message}", code="MALFORMED_RESPONSE")
    if code in transient_codes:
        raise RetryableError(f"errcode {code}: {message}", code=str(code), retry_after=transient_codes[code])
    return body, code, message


def post_json(
    http: HttpClient,
    url: str,
    shown_url: str,
    body: bytes,
    interpret: Callable[[requests.Response], Any],
    headers: Mapping[str, str] | None = None,
) -> Any:
    """One POST of ``body`` (JSON bytes), retried per the client's policy only where it cannot have
    been acted on. ``shown_url`` is what logs and errors name (without the credential)."""
    from connectors.retry import call_with_retries

    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}

    def attempt() -> Any:
        return http._attempt("POST", url, shown_url, None, body, all_headers, interpret, False)  # noqa: SLF001

    return call_with_retries(http.retry, attempt, system=http.system, what=f"POST {shown_url}", sleep=http._sleep)  # noqa: SLF001


class WebhookClient(OwnsHttp):
    """Posts alert messages as JSON to one receiver."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        timeout: Timeout | None = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not url:
            raise ValueError("WebhookClient needs a url")
        self.url = url
        self._secret = secret or None
        self._clock = clock
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = HttpClient(SYSTEM, timeout=timeout, verify_tls=verify_tls, retry=retry, session=session, **extra)

    def __repr__(self) -> str:
        return f"WebhookClient(url={self.url!r}, signed={self._secret is not None})"

    @classmethod
    def from_connection(cls, conn: ConnectionLike, **kwargs: Any) -> WebhookClient:
        """host = the receiver's URL, password = the signing secret (optional); transport extras as the others."""
        extra = dict(conn.extra_dejson or {})
        return cls(
            base_url_of(conn),
            secret=conn.password or None,
            **transport_extras(extra, DEFAULT_TIMEOUT),
            **kwargs,
        )

    def post(self, payload: Mapping[str, Any], *, message_id: str) -> str:
        """Post ``payload``; returns the receiver's status line (e.g. ``HTTP 202``)."""
        body = body_bytes(dict(payload))
        headers = {MESSAGE_ID_HEADER: message_id}
        if self._secret:
            stamp = str(int(self._clock()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(self._secret, stamp, body)

        def interpret(response: requests.Response) -> str:
            status = response.status_code
            if status in (408, 425):
                raise RetryableError(
                    f"HTTP {status}",
                    status=status,
                    code=f"HTTP_{status}",
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            if status >= 300:
                raise PermanentError(
                    SYSTEM, f"HTTP {status}: {response.text[:300]}", status=status, code=f"HTTP_{status}"
                )
            return f"HTTP {status}"

        return post_json(self.http, self.url, self.url, body, interpret, headers)
