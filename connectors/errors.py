"""The typed errors every connector raises, and the signal that asks the retry loop for another attempt.

The classification (DESIGN §3.5): :class:`TransientError` is "try the whole thing again later" (the
retries ran out, or the outcome of a write is unknown); :class:`PermanentError` and its subclasses are
refusals that no repetition can change (:class:`BusinessError` for the record's content,
:class:`AuthError` for the configuration). :class:`RetryableError` never leaves a connector: it is what
an attempt raises for :mod:`connectors.retry` to try again. Anything else (``TypeError``,
``AttributeError``, ``KeyError`` …) is a bug and is never caught, retried or turned into a refusal.
"""

from __future__ import annotations

from connectors.redaction import redact


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
    """Retrying the same request cannot help: a 4xx, a rejected credential, a malformed answer, a value
    the protocol cannot carry. Never retried; the caller quarantines the record with the reason."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        record_key: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(system, message, code=code, status=status)
        self.record_key = record_key
        self.field = field  # the offending field of the record, when known ("subject", "email")


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
