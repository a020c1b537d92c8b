"""The HTTP layer every connector shares: timeouts, TLS, retries, typed errors, redacted logs.

One rule for all systems (DESIGN §3.5): timeouts, connection errors, 429 and 5xx are transient and
retried with capped exponential backoff and full jitter, honouring ``Retry-After``; anything else is
permanent and surfaces at once as a typed error. Each connector adds its own wire rules (error codes
in a 200 body, token expiry) through the ``interpret`` callback of :meth:`HttpClient.send`, which
runs inside every attempt and may itself ask for a retry by raising :class:`RetryableError`.

The retries themselves are :mod:`connectors.retry`'s (the one policy of HTTP, OData, SMTP and the SAP
posting); the errors are :mod:`connectors.errors`' and the redaction :mod:`connectors.redaction`'s, all
still importable from here. Only the I/O errors of ``requests`` are classified: an exception raised by
our own code in an attempt (``interpret`` included) is not caught, retried or turned into a refusal.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import requests
from urllib3.exceptions import NewConnectionError

from connectors.errors import (
    AuthError,
    BusinessError,
    ConnectorError,
    PermanentError,
    RetryableError,
    TokenRejected,
    TransientError,
)
from connectors.redaction import MASK, SENSITIVE_KEYS, RedactingFilter, redact
from connectors.retry import RetryPolicy, call_with_retries

__all__ = [  # the errors, redaction and policy live in their own modules; imported from here as before
    "DEFAULT_TIMEOUT",
    "MASK",
    "SENSITIVE_KEYS",
    "USER_AGENT",
    "AuthError",
    "BusinessError",
    "ConnectorError",
    "HttpClient",
    "PermanentError",
    "RedactingFilter",
    "RetryPolicy",
    "RetryableError",
    "Timeout",
    "TokenRejected",
    "TransientError",
    "dumps_json",
    "error_code_of",
    "expect_success",
    "loads_json",
    "normalise_timeout",
    "parse_retry_after",
    "redact",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

Timeout = float | tuple[float, float]
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
USER_AGENT = "spare-parts-order-hub/0.1 (+connectors)"

# ---------------------------------------------------------------------------------------------------
# Retry-After
# ---------------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    ``None`` when absent or unparseable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# ---------------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------------


def dumps_json(value: Any) -> str:
    """JSON text in which a ``Decimal`` is written as the exact number it holds, never via float."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} as a JSON number")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{dumps_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_json(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("refusing to send a float: use Decimal or str for numbers that matter")
    return json.dumps(value, ensure_ascii=False)


def loads_json(response: requests.Response) -> Any:
    """The body parsed with every non-integer number as ``Decimal`` (money never becomes a float)."""
    return json.loads(response.content.decode(response.encoding or "utf-8"), parse_float=Decimal)


def error_code_of(response: requests.Response) -> str | None:
    """Best-effort vendor error code of an error response (Zoho ``code``, Fxiaoke ``errorCode``)."""
    try:
        body = loads_json(response)
    except ValueError:
        return None
    if isinstance(body, Mapping):
        for key in ("code", "errorCode", "error"):
            if body.get(key) not in (None, ""):
                return str(body[key])
    return None


def expect_success(response: requests.Response, system: str = "http") -> requests.Response:
    """Default ``interpret``: any non-2xx that is not transient is a PermanentError."""
    if response.status_code >= 300:
        raise PermanentError(
            system,
            f"HTTP {response.status_code}: {response.text[:500]}",
            code=error_code_of(response) or f"HTTP_{response.status_code}",
            status=response.status_code,
        )
    return response


# ---------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------


def normalise_timeout(timeout: Timeout | list[float] | None) -> tuple[float, float]:
    """(connect, read) seconds from a number, a pair, or None (the default)."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, int | float):
        return (float(timeout), float(timeout))
    connect, read = timeout
    return (float(connect), float(read))


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the connection was refused or never opened, so the request cannot have been seen."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class HttpClient:
    """A ``requests.Session`` with a timeout on every call, TLS on by default, and the retry rule."""

    def __init__(
        self,
        system: str,
        *,
        timeout: Timeout | None = None,
        verify_tls: bool = True,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.system = system
        self.timeout = normalise_timeout(timeout)
        self.verify_tls = verify_tls
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self._sleep = sleep

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        interpret: Callable[[requests.Response], T] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> T:
        """One logical call: attempts until ``interpret`` accepts the response or the policy gives up.

        ``idempotent=False`` retries only failures where the server cannot have acted (refused
        connection, connect timeout, 429, 503), so a write is never repeated after it may have been
        applied.
        """
        check: Callable[[requests.Response], Any] = interpret or partial(expect_success, system=self.system)
        all_headers = dict(headers or {})
        body: bytes | Mapping[str, Any] | None = data
        if json_body is not None:
            body = dumps_json(json_body).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        shown_url = redact(requests.Request(method, url, params=params).prepare().url or url)

        def attempt() -> T:
            return self._attempt(method, url, shown_url, params, body, all_headers, check, idempotent)

        return call_with_retries(
            self.retry, attempt, system=self.system, what=f"{method} {shown_url}", sleep=self._sleep
        )

    def _attempt(
        self,
        method: str,
        url: str,
        shown_url: str,
        params: Mapping[str, Any] | None,
        body: bytes | Mapping[str, Any] | None,
        headers: Mapping[str, str],
        interpret: Callable[[requests.Response], T],
        idempotent: bool,
    ) -> T:
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=body,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify_tls,
                allow_redirects=False,  # a redirect means a wrong host (e.g. Fxiaoke's web site), not data
            )
        except requests.exceptions.SSLError as exc:
            # A certificate that does not verify will not verify on the next attempt either.
            raise PermanentError(self.system, f"{method} {shown_url}: TLS failure: {exc}", code="TLS") from exc
        except requests.ConnectTimeout as exc:
            raise RetryableError(f"connect timeout: {exc}", code="CONNECT_TIMEOUT") from exc
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            code = "TIMEOUT" if isinstance(exc, requests.Timeout) else "CONNECTION"
            if not idempotent and not _never_connected(exc):
                raise TransientError(
                    self.system, f"{method} {shown_url}: {type(exc).__name__} after sending: {exc}", code=code
                ) from exc
            raise RetryableError(f"{type(exc).__name__}: {exc}", code=code) from exc
        status = response.status_code
        log.debug("%s %s %s -> %s in %.3fs", self.system, method, shown_url, status, time.monotonic() - started)
        if status == 429 or status >= 500:
            if not idempotent and status not in (429, 503):
                raise TransientError(
                    self.system,
                    f"{method} {shown_url}: HTTP {status} on a non-idempotent call; not repeated",
                    status=status,
                    code=error_code_of(response) or f"HTTP_{status}",
                )
            raise RetryableError(
                f"HTTP {status}: {response.text[:300]}",
                status=status,
                code=error_code_of(response) or f"HTTP_{status}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return interpret(response)
