"""What every connector shares besides HTTP: resource declarations, write results, value converters,
and reading an Airflow Connection-like object without importing Airflow.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol, Self, TypeVar

import requests

from connectors.http import AuthError, HttpClient, RetryPolicy, TokenRejected, normalise_timeout

T = TypeVar("T")


class TokenStore(Protocol):
    """Where clients of the same account share access tokens across tasks and processes.

    Zoho allows 10 new tokens per 10 minutes per refresh token: without sharing, every task of
    every run would take one, and a backfill would lock the account out for the rest of the window.
    """

    def load(self, key: str) -> tuple[dict[str, Any], float] | None:
        """The stored token fields and their expiry (epoch seconds), or None."""

    def save(self, key: str, value: dict[str, Any], expires_at: float) -> None: ...


class TokenClient:
    """The life cycle every connector client shares: one HTTP client and one cached access token.

    Not thread-safe: use one client per task (the token cache is per client). ``token_refreshes``
    is observable so tests and metrics can see how much of a vendor's token budget a run used.
    """

    system: ClassVar[str]

    def __init__(
        self,
        config: Any,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_store: TokenStore | None = None,
    ) -> None:
        self.config = config
        self.token_store = token_store
        self._store_rejected = False  # set once the shared token was refused: refresh, do not reload
        self._http = HttpClient(
            self.system, timeout=config.timeout, verify_tls=config.verify_tls, retry=config.retry, session=session
        )
        self._clock = clock
        self._token: Any = None
        self.token_refreshes = 0

    # -- sharing tokens through the store --------------------------------------------------------
    def _credential_parts(self) -> tuple[str, ...]:
        """What identifies the account whose tokens may be shared."""
        raise NotImplementedError

    def _token_from(self, fields: dict[str, Any], deadline: float) -> Any:
        """A token object from stored ``fields``, good until ``deadline`` on this client's clock."""
        raise NotImplementedError

    def _store_key(self) -> str:
        # A digest, so no credential is ever a key in anyone's table.
        digest = hashlib.sha256("|".join(self._credential_parts()).encode()).hexdigest()
        return f"{self.system}:{digest}"

    def _shared_token(self) -> Any:
        """A token another client of the same account stored and that is still good, else None."""
        if self.token_store is None or self._store_rejected:
            return None
        stored = self.token_store.load(self._store_key())
        if stored is None:
            return None
        fields, good_until = stored
        left = good_until - time.time()
        return self._token_from(fields, self._clock() + left) if left > 0 else None

    def _share(self, fields: dict[str, Any], deadline: float) -> None:
        """Store a fresh token, good until ``deadline`` on this client's clock."""
        if self.token_store is not None:
            self.token_store.save(self._store_key(), fields, time.time() + (deadline - self._clock()))

    def _reject_token(self) -> None:
        """The server refused the current token: drop it, and never take the shared copy again."""
        self._token = None
        self._store_rejected = True

    def _with_token(self, send: Callable[[Any], T], *, rejected_code: str) -> T:
        """``send(token)``; when the server rejects the token (expired or revoked early), one fresh
        token and the same call once more; a fresh token rejected too is an ``AuthError``."""
        try:
            return send(self._valid_token())
        except TokenRejected:
            self._reject_token()
        try:
            return send(self._valid_token())
        except TokenRejected:
            raise AuthError(self.system, "a freshly issued access token was rejected", code=rejected_code) from None

    def _valid_token(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Resource:
    """A vendor object as the hub reads it, declared once: its name, key, cursor and paging.

    ``cursor`` is the field whose value orders and bounds an interval pull; ``page_size`` is the
    largest page the vendor allows; ``parent_key`` links a detail object (order lines) to its master;
    ``paginator`` is how its lists page (``connectors.paging``: one per vendor, shared by its resources).
    """

    name: str
    primary_key: str
    cursor: str | None = None
    page_size: int = 100
    parent_key: str | None = None
    paginator: Any = None


@dataclass(frozen=True)
class WriteResult:
    """The outcome of writing one record. One failed record never fails the others.

    ``retryable`` marks a record that was not (or may not have been) written because the system was
    unavailable: send it again later. Otherwise a failure is a business refusal for a human.
    """

    record_id: str
    ok: bool
    code: str | None = None
    message: str | None = None
    field: str | None = None
    retryable: bool = False


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items."""
    if size < 1:
        raise ValueError("size must be positive")
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------------------------------------------
# Value converters (the mapping code uses these on the raw vendor records)
# ---------------------------------------------------------------------------------------------------


def to_decimal(value: str | int | Decimal | None) -> Decimal | None:
    """A money or quantity value as an exact ``Decimal``; ``None`` for absent or empty values.

    Floats are refused: by the time a value is a float it may already be wrong (DESIGN §3.3); the
    connectors parse JSON with ``parse_float=Decimal`` so vendor numbers never become floats.
    """
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"refusing {type(value).__name__} {value!r} as money: pass str or Decimal")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        if not text:
            return None
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise TypeError(f"cannot read {type(value).__name__} as a number")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def ms_to_datetime(value: int | str | Decimal) -> datetime:
    """Epoch milliseconds (Fxiaoke dates and datetimes) as an aware UTC datetime, exactly."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("epoch milliseconds must be an int or a digit string")
    ms = int(value)
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)


def datetime_to_ms(value: datetime) -> int:
    """An aware datetime as epoch milliseconds (sub-millisecond part dropped, toward the past)."""
    aware = require_aware(value)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_iso_datetime(value: str) -> datetime:
    """An ISO-8601 timestamp with offset (Zoho ``Modified_Time``) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return require_aware(parsed).astimezone(UTC)


def require_aware(value: datetime) -> datetime:
    """``value`` itself, or ValueError: a naive datetime has no place at a system boundary."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware datetime")
    return value


# ---------------------------------------------------------------------------------------------------
# Airflow Connection-like objects
# ---------------------------------------------------------------------------------------------------


class ConnectionLike(Protocol):
    """The part of ``airflow.sdk.Connection`` the connectors read."""

    host: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def base_url_of(conn: ConnectionLike, *, default_scheme: str = "https") -> str:
    """The connection's host as a base URL: a scheme is added when the host has none."""
    host = (conn.host or "").strip()
    if not host:
        raise ValueError("the connection has no host")
    if "://" not in host:
        schema = getattr(conn, "schema", None)
        host = f"{schema if schema in ('http', 'https') else default_scheme}://{host}"
    port = getattr(conn, "port", None)
    scheme, _, rest = host.partition("://")
    authority, slash, path = rest.partition("/")
    if port and ":" not in authority:
        authority = f"{authority}:{port}"
    return f"{scheme}://{authority}{slash}{path}".rstrip("/")


def extra_bool(extra: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean extra that may arrive as a string from a connection URI (``verify_tls=false``)."""
    value = extra.get(key, default)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"extra {key!r} must be a boolean, got {value!r}")
    return bool(value)


def extra_timeout(extra: Mapping[str, Any], default: tuple[float, float]) -> tuple[float, float]:
    """``timeout`` extra: seconds, ``[connect, read]``, or ``"connect,read"``."""
    value = extra.get("timeout")
    if value is None:
        return default
    if isinstance(value, str):
        parts = [float(p) for p in value.split(",")]
        value = parts[0] if len(parts) == 1 else parts
    timeout = normalise_timeout(value)
    if not all(math.isfinite(t) and t > 0 for t in timeout):
        raise ValueError(f"timeout must be positive, got {value!r}")
    return timeout


def transport_extras(extra: Mapping[str, Any], default_timeout: tuple[float, float]) -> dict[str, Any]:
    """What every Connection may tune in its extras: ``timeout``, ``verify_tls`` and the retries
    (``max_attempts``, ``backoff_base``, ``backoff_cap``), as a client's keyword arguments."""
    return {
        "timeout": extra_timeout(extra, default_timeout),
        "verify_tls": extra_bool(extra, "verify_tls", True),
        "retry": extra_retry(extra),
    }


class OwnsHttp:
    """A client whose transport is ``self.http``: closing it closes that, and ``with`` closes it."""

    http: Any

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def extra_retry(extra: Mapping[str, Any]) -> RetryPolicy:
    """Retry policy from extras ``max_attempts``, ``backoff_base``, ``backoff_cap``, ``max_retry_after``."""
    default = RetryPolicy()
    return RetryPolicy(
        max_attempts=int(extra.get("max_attempts", default.max_attempts)),
        base=float(extra.get("backoff_base", default.base)),
        cap=float(extra.get("backoff_cap", default.cap)),
        max_retry_after=float(extra.get("max_retry_after", default.max_retry_after)),
    )
