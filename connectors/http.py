"""The HTTP layer every connector shares: timeouts, TLS, retries, typed errors, redacted logs.

One rule for all systems (DESIGN §3.5): timeouts, connection errors, 429 and 5xx are transient and
retried with capped exponential backoff and full jitter, honouring ``Retry-After``; anything else is
permanent and surfaces at once as a typed error. Each connector adds its own wire rules (error codes
in a 200 body, token expiry) through the ``interpret`` callback of :meth:`HttpClient.send`, which
runs inside every attempt and may itself ask for a retry by raising :class:`RetryableError`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import requests
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_random_exponential
from urllib3.exceptions import NewConnectionError

log = logging.getLogger(__name__)

T = TypeVar("T")

Timeout = float | tuple[float, float]
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
USER_AGENT = "spare-parts-order-hub/0.1 (+connectors)"

# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Base of every error a connector raises. Messages are redacted before they are stored."""

    def __init__(self, system: str, message: str, *, code: str | None = None, status: int | None = None) -> None:
        self.system = system
        self.code = code
        self.status = status
        self.message = redact(message)
        super().__init__(f"{system}: {self.message}" + (f" [{code}]" if code else ""))


class TransientError(ConnectorError):
    """The call kept failing transiently until the attempt limit (or an over-long Retry-After).

    Safe to retry later as a whole (the Airflow task retry); never quarantine on it.
    """

    def __init__(
        self,
        system: str,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        code: str | None = None,
    ) -> None:
        super().__init__(system, message, code=code, status=status)
        self.attempts = attempts


class PermanentError(ConnectorError):
    """Retrying the same request cannot help: a 4xx, a rejected credential, a malformed answer."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        record_key: str | None = None,
    ) -> None:
        super().__init__(system, message, code=code, status=status)
        self.record_key = record_key


class BusinessError(PermanentError):
    """The system understood the request and refused it for a business reason (its error code)."""


class AuthError(PermanentError):
    """Credentials were rejected even after a fresh token: a configuration problem for a human."""


class RetryableError(Exception):
    """Raised inside an attempt to ask the retry loop for another attempt.

    Connectors raise it from ``interpret`` for vendor signals that mean "try again" without an HTTP
    status saying so (Fxiaoke's errorCode 30004 in a 200 body, Zoho's throttled token endpoint).
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = redact(reason)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class TokenRejected(Exception):
    """The access token was refused; the connector refreshes it once and repeats the call."""


# ---------------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------------

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


def redact(value: Any) -> Any:
    """A copy of ``value`` with credentials masked; safe to log, raise or store.

    Handles mappings (headers, JSON bodies) recursively, sequences, bytes and free text (URLs,
    form bodies, JSON or repr dumps, header lines). Other types are returned unchanged.
    """
    if isinstance(value, str):
        text = _KEY_VALUE.sub(lambda m: m.group("key") + MASK, value)
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


# ---------------------------------------------------------------------------------------------------
# Retry policy
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures.

    ``max_attempts`` counts every try, the first included. Waits are full-jitter exponential:
    uniform(0, min(cap, base * 2**(attempt-1))). A ``Retry-After`` sent by the server replaces the
    computed wait; one longer than ``max_retry_after`` ends the retries at once (TransientError) so a
    worker slot is not held for minutes: the task retry comes back later instead.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("backoff times must not be negative")


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


class _BackoffWait(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._jitter = wait_random_exponential(multiplier=policy.base, max=policy.cap)

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, RetryableError) and failure.retry_after is not None:
            return failure.retry_after
        return self._jitter(retry_state)


class _RetryAfterTooLong(stop_base):
    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        return (
            isinstance(failure, RetryableError)
            and failure.retry_after is not None
            and failure.retry_after > self._limit
        )


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

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts) | _RetryAfterTooLong(self.retry.max_retry_after),
            wait=_BackoffWait(self.retry),
            retry=retry_if_exception_type(RetryableError),
            before_sleep=lambda state: self._log_retry(method, shown_url, state),
            sleep=self._sleep,
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            failure = exc.last_attempt.exception()
            assert isinstance(failure, RetryableError)
            attempts = exc.last_attempt.attempt_number
            raise TransientError(
                self.system,
                f"{method} {shown_url} failed after {attempts} attempt(s): {failure.reason}",
                status=failure.status,
                attempts=attempts,
                code=failure.code,
            ) from failure

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

    def _log_retry(self, method: str, shown_url: str, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        reason = failure.reason if isinstance(failure, RetryableError) else repr(failure)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s %s %s: attempt %d/%d failed (%s); retrying in %.2fs",
            self.system,
            method,
            shown_url,
            state.attempt_number,
            self.retry.max_attempts,
            redact(reason),
            wait,
        )
