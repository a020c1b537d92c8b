"""SAP's error answers as typed errors: the JSON error body (``error.code``, ``error.message.value``,
``innererror.errordetails``), the XML one, API Management's ``fault``, the ``sap-message`` header."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.http import AuthError, BusinessError, ConnectorError, PermanentError, RetryableError, TransientError

SYSTEM = "sap_s4"


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of ``innererror.errordetails`` (or of a ``sap-message`` header)."""

    code: str
    message: str
    severity: str = "error"
    target: str = ""
    propertyref: str = ""

    @property
    def field(self) -> str | None:
        """The offending property, when SAP names one (``to_Item(1)/Material``, ``SoldToParty``)."""
        for ref in (self.propertyref, self.target):
            ref = (ref or "").strip().lstrip("/")
            if ref and not ref.startswith("#"):  # "/#TRANSIENT#" and the like name no property
                return ref
        return None


class SapError(ConnectorError):
    """An error SAP answered with, parsed from its error body. Raised as the subclass matching the
    ``connectors.http`` class of its status, so ``except BusinessError`` and friends keep working."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Sequence[ErrorDetail] = (),
        field: str | None = None,
        transaction_id: str | None = None,
        record_key: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(SYSTEM, message, code=code, status=status)
        self.details: tuple[ErrorDetail, ...] = tuple(details)
        self.field = field or next((d.field for d in self.details if d.field), None)
        self.transaction_id = transaction_id
        self.record_key = record_key
        self.maybe_applied = maybe_applied

    @property
    def errordetails(self) -> tuple[ErrorDetail, ...]:
        return self.details


class SapBusinessError(SapError, BusinessError):
    """400 and friends: SAP refused the content (unknown material, blocked customer, bad field)."""


class SapAuthError(SapError, AuthError):
    """401/403: credentials, authorisation, or a CSRF token refused right after a fresh fetch."""


class SapRequestError(SapError, PermanentError):
    """Other 4xx: not found (404), method not allowed (405), stale or missing ETag (412/428)."""


class SapTransientError(SapError, TransientError):
    """A changeset that SAP could not process now (5xx inside a $batch), or a write whose outcome is
    unknown; ``maybe_applied`` says whether it must be looked up before being sent again."""


def _error_class(status: int) -> type[SapError]:
    if status in (401, 403):
        return SapAuthError
    if status == 429 or status >= 500:
        return SapTransientError
    if status in (400, 409, 422):
        return SapBusinessError
    return SapRequestError


def _detail(item: Mapping[str, Any]) -> ErrorDetail:
    message = item.get("message")
    if isinstance(message, Mapping):
        message = message.get("value")
    return ErrorDetail(
        code=str(item.get("code") or ""),
        message=str(message or ""),
        severity=str(item.get("severity") or "error"),
        target=str(item.get("target") or ""),
        propertyref=str(item.get("propertyref") or ""),
    )


_XML_CODE = re.compile(r"<(?:\w+:)?code>(.*?)</(?:\w+:)?code>", re.S)
_XML_MESSAGE = re.compile(r"<(?:\w+:)?message[^>]*>(.*?)</(?:\w+:)?message>", re.S)


def sap_error_from(
    status: int,
    body: bytes | str,
    content_type: str = "",
    *,
    record_key: str | None = None,
) -> SapError:
    """The typed error for an SAP error answer: the JSON error body (``code``, ``message.value``,
    ``innererror.errordetails``, ``transactionid``), the XML one, API Management's ``fault``, or text."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    code, message = f"HTTP_{status}", text.strip()[:500] or f"HTTP {status}"
    details: list[ErrorDetail] = []
    transaction_id = None
    parsed: Any = None
    if "json" in content_type.lower() or text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text, parse_float=Decimal)
        except ValueError:
            parsed = None
    if isinstance(parsed, Mapping) and isinstance(parsed.get("error"), Mapping):
        error = parsed["error"]
        code = str(error.get("code") or code)
        value = error.get("message")
        message = str(value.get("value") if isinstance(value, Mapping) else value or message)
        inner = error.get("innererror") if isinstance(error.get("innererror"), Mapping) else {}
        transaction_id = inner.get("transactionid")
        details = [_detail(d) for d in inner.get("errordetails") or [] if isinstance(d, Mapping)]
    elif isinstance(parsed, Mapping) and isinstance(parsed.get("fault"), Mapping):
        fault = parsed["fault"]
        detail = fault.get("detail") if isinstance(fault.get("detail"), Mapping) else {}
        code = str(detail.get("errorcode") or code)
        message = str(fault.get("faultstring") or message)
    elif text.lstrip().startswith("<"):
        if found := _XML_CODE.search(text):
            code = found.group(1).strip()
        if found := _XML_MESSAGE.search(text):
            message = found.group(1).strip()
    return _error_class(status)(
        message,
        status=status,
        code=code,
        details=details,
        transaction_id=str(transaction_id) if transaction_id else None,
        record_key=record_key,
        maybe_applied=status >= 500,
    )


def parse_sap_message(header: str | None) -> list[ErrorDetail]:
    """The messages of a ``sap-message`` header (the leading one and its ``details``)."""
    if not header:
        return []
    try:
        body = json.loads(header)
    except ValueError:
        return [ErrorDetail(code="", message=header, severity="info")]
    if not isinstance(body, Mapping):
        return []
    return [_detail(body), *(_detail(d) for d in body.get("details") or [] if isinstance(d, Mapping))]


def maybe_applied(error: TransientError) -> bool:
    """False only when the failed write certainly never reached SAP: the connection was never opened
    or SAP answered 429 (API Management refuses before the backend). Anything else may have been
    committed and must be looked up before resending."""
    if isinstance(error, SapError):
        return error.maybe_applied
    cause = error.__cause__
    return not (isinstance(cause, RetryableError) and cause.status in (None, 429))
