"""SAP OData V2 (S/4HANA ``/sap/opu/odata/sap/<SERVICE>/``): the protocol every SAP service shares.

Wire rules (reference/sap_report.md §2–3):

* One ``requests.Session`` per client: it keeps the session cookies the CSRF token is bound to. Basic
  auth (or a bearer token), ``sap-client`` and ``sap-language`` on every URL, ``Accept: application/json``
  (verbose V2 JSON: ``{"d": {"results": [...]}}``, ``__metadata``, ``__deferred``, ``__count`` as a string).
* CSRF: fetched lazily before the first write of a service (``HEAD <service>/`` with the trailing slash
  and ``x-csrf-token: Fetch``, ``GET`` when HEAD is refused), sent with every POST/PATCH/DELETE/$batch.
  A ``403`` with ``x-csrf-token: Required`` means the token or its session expired: fetch once more and
  resend once; refused again is a :class:`SapAuthError`.
* Values: ``/Date(ms)/`` (Edm.DateTime, midnight UTC for dates), ``/Date(ms+mmmm)/`` (DateTimeOffset,
  offset in minutes), decimals as JSON strings. URL literals: ``'…'`` with quotes doubled, ``10M``,
  ``datetime'…'``, ``datetimeoffset'…Z'``.
* Paging: ``$top``/``$skip`` with a stable ``$orderby`` and ``$inlinecount=allpages``; a server-sent
  ``__next`` is followed when it has the service's origin.
* Errors: the SAP error body (``error.code``, ``error.message.value``, ``innererror.errordetails``)
  becomes a :class:`SapError` of the matching ``connectors.http`` class.

Retries — what may be sent twice:

* Reads, the CSRF fetch and PATCH/DELETE (guarded by ``If-Match``: a repeat after an applied first
  attempt is refused with 412, never applied twice) retry per the client's :class:`RetryPolicy`
  (timeouts, connection errors, 429 and 5xx, honouring ``Retry-After``).
* A create (``POST`` of an entity or a ``$batch``) is retried only when the server cannot have
  processed it: the connection was never opened, 429, or the CSRF 403. A 5xx, a read timeout or a
  dropped connection after sending raise :class:`~connectors.http.TransientError` at once: SAP may
  have committed the order, so the caller (the hub's ledger) must look it up (by
  ``PurchaseOrderByCustomer``) before sending it again. :func:`maybe_applied` tells the two apart.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from connectors.base import datetime_to_ms, ms_to_datetime, require_aware, to_decimal
from connectors.http import (
    AuthError,
    BusinessError,
    ConnectorError,
    HttpClient,
    PermanentError,
    RetryableError,
    RetryPolicy,
    Timeout,
    TransientError,
    redact,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SYSTEM = "sap_s4"
DEFAULT_SERVICE_ROOT = "/sap/opu/odata/sap"
ETAG = "__etag"  # key under which a cleaned entity carries its ETag (from __metadata or the header)
# Kept well below the 8 KB URL limits of web dispatchers and proxies in front of SAP Gateway.
MAX_FILTER_LENGTH = 2_000

# ---------------------------------------------------------------------------------------------------
# Values: JSON <-> Python
# ---------------------------------------------------------------------------------------------------

_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{1,4})?\)/$")
_MS_PER_DAY = 86_400_000


def is_odata_date(value: Any) -> bool:
    return isinstance(value, str) and _DATE.match(value) is not None


def parse_odata_date(value: str) -> date | datetime:
    """``/Date(ms)/`` at midnight UTC → ``date``; any other ``/Date(ms)/`` → aware UTC ``datetime``;
    ``/Date(ms±mmmm)/`` (DateTimeOffset, offset in minutes) → aware ``datetime`` in that offset.

    SAP renders every ``display-format="Date"`` property as midnight UTC, so the rule gives a ``date``
    for date fields; a time-of-day that happens to be exactly midnight also reads as a date.
    """
    match = _DATE.match(value)
    if match is None:
        raise ValueError(f"not an OData V2 date: {value!r}")
    ms, offset = int(match.group(1)), match.group(2)
    instant = ms_to_datetime(ms)
    if offset is not None:
        return instant.astimezone(timezone(timedelta(minutes=int(offset))))
    if ms % _MS_PER_DAY == 0:
        return instant.date()
    return instant


def parse_edm_datetime(value: str) -> datetime:
    """A ``/Date(…)/`` as an aware datetime whatever it holds (a date reads as its midnight UTC)."""
    parsed = parse_odata_date(value)
    return parsed if isinstance(parsed, datetime) else datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


def to_odata_date(value: date | datetime) -> str:
    """Edm.DateTime on the wire: a ``date`` as midnight UTC, an aware ``datetime`` as its UTC instant."""
    if isinstance(value, datetime):
        return f"/Date({datetime_to_ms(value)})/"
    return f"/Date({(value - date(1970, 1, 1)).days * _MS_PER_DAY})/"


def to_odata_datetimeoffset(value: datetime) -> str:
    """Edm.DateTimeOffset on the wire, always written in UTC: ``/Date(ms+0000)/``."""
    return f"/Date({datetime_to_ms(value)}+0000)/"


def edm_decimal(value: Decimal | int | str) -> str:
    """An Edm.Decimal as SAP wants it in a JSON body: a plain string, never a float or an exponent."""
    number = to_decimal(value)
    if number is None:
        raise ValueError("a decimal value is required")
    return format(number, "f")


def to_wire(value: Any) -> Any:
    """A request body with Python values written the OData V2 way (Decimal → string, date → /Date/)."""
    if isinstance(value, Decimal):
        return edm_decimal(value)
    if isinstance(value, datetime):
        return to_odata_datetimeoffset(value)
    if isinstance(value, date):
        return to_odata_date(value)
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def etag_of(entity: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> str | None:
    """The ETag from ``__metadata.etag`` or, when absent, the ``ETag`` response header (verbatim)."""
    metadata = entity.get("__metadata")
    if isinstance(metadata, Mapping) and metadata.get("etag"):
        return str(metadata["etag"])
    if headers is not None and headers.get("ETag"):
        return str(headers["ETag"])
    return None


def clean_entity(raw: Mapping[str, Any], decimals: Collection[str] = ()) -> dict[str, Any]:
    """A verbose-JSON entity as plain values: ``__metadata`` and unexpanded ``__deferred`` links
    dropped, expanded collections as lists, ``/Date(…)/`` as date/datetime, the named ``decimals``
    as ``Decimal`` (at any depth). The ETag, if any, stays under :data:`ETAG`."""
    result: dict[str, Any] = {}
    etag = etag_of(raw)
    if etag:
        result[ETAG] = etag
    for key, value in raw.items():
        if key == "__metadata":
            continue
        if isinstance(value, Mapping):
            if "__deferred" in value:
                continue
            if isinstance(value.get("results"), list):
                result[key] = [clean_entity(v, decimals) if isinstance(v, Mapping) else v for v in value["results"]]
            else:
                result[key] = clean_entity(value, decimals)
        elif key in decimals:
            result[key] = to_decimal(value)
        elif is_odata_date(value):
            result[key] = parse_odata_date(value)
        else:
            result[key] = value
    return result


# ---------------------------------------------------------------------------------------------------
# URL literals, filters and query strings
# ---------------------------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a property name: {name!r}")
    return name


def quote_string(value: str) -> str:
    """An Edm.String literal: single quotes, an embedded quote doubled."""
    return "'" + value.replace("'", "''") + "'"


def decimal_literal(value: Decimal | int | str) -> str:
    return edm_decimal(value) + "M"


def datetime_literal(value: date | datetime) -> str:
    """An Edm.DateTime literal (no offset; an aware datetime is written as its UTC wall time)."""
    if isinstance(value, datetime):
        moment = require_aware(value).astimezone(UTC).replace(tzinfo=None)
        return f"datetime'{moment.isoformat(timespec='microseconds' if moment.microsecond else 'seconds')}'"
    return f"datetime'{value.isoformat()}T00:00:00'"


def datetimeoffset_literal(value: datetime) -> str:
    moment = require_aware(value).astimezone(UTC).replace(tzinfo=None)
    return f"datetimeoffset'{moment.isoformat(timespec='microseconds' if moment.microsecond else 'seconds')}Z'"


def literal(value: Any) -> str:
    """The URL literal of a Python value: str, bool, int, Decimal (``M``), date (``datetime'…'``),
    aware datetime (``datetimeoffset'…'``), None (``null``). Floats and naive datetimes are refused."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return decimal_literal(value)
    if isinstance(value, datetime):
        return datetimeoffset_literal(value)
    if isinstance(value, date):
        return datetime_literal(value)
    raise TypeError(f"no OData literal for {type(value).__name__}")


def compare(name: str, op: str, value: Any) -> str:
    if op not in ("eq", "ne", "gt", "ge", "lt", "le"):
        raise ValueError(f"unknown comparison {op!r}")
    return f"{_name(name)} {op} {value if isinstance(value, RawLiteral) else literal(value)}"


class RawLiteral(str):
    """A literal already in URL syntax (e.g. :func:`datetime_literal` for an Edm.DateTime property)."""


def eq(name: str, value: Any) -> str:
    return compare(name, "eq", value)


def any_of(name: str, values: Iterable[Any]) -> str:
    terms = [eq(name, v) for v in dict.fromkeys(values)]
    if not terms:
        raise ValueError("any_of needs at least one value")
    return terms[0] if len(terms) == 1 else "(" + " or ".join(terms) + ")"


def all_of(*clauses: str | None) -> str | None:
    parts = [c for c in clauses if c]
    return " and ".join(parts) if parts else None


def any_of_chunks(
    name: str, values: Iterable[Any], *, max_length: int = MAX_FILTER_LENGTH, base: str | None = None
) -> Iterator[str]:
    """``$filter`` expressions ``base and (name eq v1 or …)`` covering every distinct value once,
    each at most ``max_length`` characters once URL-encoded (a single over-long value gets its own)."""
    chunk: list[Any] = []
    for value in dict.fromkeys(values):
        candidate = all_of(base, any_of(name, [*chunk, value])) or ""
        if chunk and len(quote(candidate, safe=_QUERY_SAFE)) > max_length:
            yield all_of(base, any_of(name, chunk)) or ""
            chunk = [value]
        else:
            chunk.append(value)
    if chunk:
        yield all_of(base, any_of(name, chunk)) or ""


_QUERY_SAFE = "'(),:*/"


def encode_query(params: Mapping[str, Any]) -> str:
    """A query string as SAP Gateway reads it: spaces as %20 (never ``+``), quotes and parentheses
    kept readable, ``&``/``=``/``+``/``#`` escaped inside values. ``None`` values are left out."""
    return "&".join(
        f"{quote(str(key), safe='$')}={quote(str(value), safe=_QUERY_SAFE)}"
        for key, value in params.items()
        if value is not None
    )


def entity_path(entity_set: str, key: str | Mapping[str, Any]) -> str:
    """``A_SalesOrder('1000001')`` or ``A_X(K1='a',K2='b')``, the key literals percent-encoded."""
    if isinstance(key, Mapping):
        inner = ",".join(f"{_name(k)}={literal(v)}" for k, v in key.items())
    else:
        inner = literal(key)
    return f"{_name(entity_set)}({quote(inner, safe=_QUERY_SAFE + '=')})"


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# $batch: multipart/mixed with CRLF line ends, one nested multipart per changeset
# ---------------------------------------------------------------------------------------------------

CRLF = "\r\n"


@dataclass(frozen=True)
class BatchRequest:
    """One operation of a $batch: ``path`` is relative to the service root (``A_SalesOrder``)."""

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


# A part of a batch is a read (one BatchRequest) or a changeset (a sequence of them).
BatchPart = BatchRequest | Sequence[BatchRequest]


@dataclass(frozen=True)
class BatchResponse:
    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"), parse_float=Decimal) if self.body.strip() else None

    def error(self, *, record_key: str | None = None) -> SapError:
        return sap_error_from(self.status, self.body, self.headers.get("Content-Type", ""), record_key=record_key)


@dataclass(frozen=True)
class ChangesetResult:
    """A changeset's outcome: every operation's response when it committed, else the one error."""

    responses: tuple[BatchResponse, ...] = ()
    error: SapError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _encode_operation(request: BatchRequest) -> str:
    body = "" if request.body is None else json.dumps(to_wire(request.body), ensure_ascii=False)
    headers = {"Accept": "application/json", **request.headers}
    if request.body is not None:
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(body.encode("utf-8")))
    lines = [
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"{request.method.upper()} {request.path} HTTP/1.1",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",  # the blank line ends the headers even without a body: SAP answers 400 without it
        body,
    ]
    return CRLF.join(lines)


def encode_batch(parts: Sequence[BatchPart], *, boundary: str | None = None) -> tuple[bytes, str]:
    """The body and Content-Type of a $batch request; writes must sit inside a changeset."""
    boundary = boundary or f"batch_{uuid.uuid4()}"
    chunks: list[str] = []
    for part in parts:
        chunks.append(f"--{boundary}")
        if isinstance(part, BatchRequest):
            if part.method.upper() != "GET":
                raise ValueError(f"{part.method} {part.path} must be inside a changeset")
            chunks.append(_encode_operation(part))
            continue
        if not part:
            raise ValueError("an empty changeset")
        inner = f"changeset_{uuid.uuid4()}"
        chunks.append(f"Content-Type: multipart/mixed; boundary={inner}{CRLF}")
        for operation in part:
            chunks.append(f"--{inner}")
            chunks.append(_encode_operation(operation))
        chunks.append(f"--{inner}--")
    chunks.append(f"--{boundary}--")
    return (CRLF.join(chunks) + CRLF).encode("utf-8"), f"multipart/mixed; boundary={boundary}"


def _boundary_of(content_type: str) -> str:
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.I)
    if match is None:
        raise ValueError(f"no multipart boundary in {content_type!r}")
    return match.group(1) or match.group(2)


def _split_head(block: bytes) -> tuple[list[bytes], bytes]:
    """Header lines and the rest, split at the first blank line (CRLF or bare LF)."""
    match = re.search(rb"\r?\n\r?\n", block)
    if match is None:
        return block.splitlines(), b""
    return block[: match.start()].splitlines(), block[match.end() :]


def _headers(lines: list[bytes]) -> CaseInsensitiveDict[str]:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for line in lines:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers


def _multipart_parts(body: bytes, boundary: str) -> list[bytes]:
    # A delimiter is "--boundary" at the start of a line; the line break before it belongs to it.
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):  # the closing delimiter: the epilogue is ignored
            return parts
        start = match.end()
    if start is not None:
        raise ValueError("multipart body without its closing delimiter")
    return parts


def _decode_http(block: bytes) -> BatchResponse:
    lines, rest = _split_head(block)
    if not lines:
        raise ValueError("an empty HTTP part")
    status_line = lines[0].decode("latin-1").strip()
    match = re.match(r"HTTP/\d\.\d\s+(\d{3})\s*(.*)$", status_line)
    if match is None:
        raise ValueError(f"not an HTTP status line: {status_line!r}")
    # The boundary delimits the body; Content-Length is not trusted (hand-edited or re-encoded parts).
    return BatchResponse(int(match.group(1)), match.group(2), _headers(lines[1:]), rest.rstrip(b"\r\n"))


def decode_batch(body: bytes, content_type: str) -> list[BatchResponse | list[BatchResponse]]:
    """The parts of a $batch response in order: a read's response, or the list of a changeset's
    responses. A changeset that failed is answered by one plain error part (not a list)."""
    answers: list[BatchResponse | list[BatchResponse]] = []
    for part in _multipart_parts(body, _boundary_of(content_type)):
        lines, rest = _split_head(part)
        headers = _headers(lines)
        part_type = headers.get("Content-Type", "")
        if part_type.lower().startswith("multipart/mixed"):
            answers.append([_decode_http(_split_head(p)[1]) for p in _multipart_parts(rest, _boundary_of(part_type))])
        else:
            answers.append(_decode_http(rest))
    return answers


def changeset_results(
    parts: Sequence[BatchPart], answers: Sequence[BatchResponse | list[BatchResponse]]
) -> list[BatchResponse | ChangesetResult]:
    """Pairs each request part with its answer; a changeset answered by a single error part failed as
    a whole (nothing of it committed). A part without an answer is a transient, maybe-applied error."""
    results: list[BatchResponse | ChangesetResult] = []
    for index, part in enumerate(parts):
        answer = answers[index] if index < len(answers) else None
        if isinstance(part, BatchRequest):
            if isinstance(answer, BatchResponse):
                results.append(answer)
                continue
            raise PermanentError(SYSTEM, f"$batch part {index + 1} (a read) was not answered by one response")
        if answer is None:
            missing = SapTransientError(f"$batch changeset {index + 1} was not answered", maybe_applied=True)
            results.append(ChangesetResult(error=missing))
        elif isinstance(answer, BatchResponse):
            # SAP's rule: any failure in a changeset → one error response for all of it.
            ok = answer.ok and len(part) == 1
            results.append(ChangesetResult(responses=(answer,)) if ok else ChangesetResult(error=answer.error()))
        else:
            failed = next((r for r in answer if not r.ok), None)
            if failed is not None:
                results.append(ChangesetResult(error=failed.error()))
            elif len(answer) != len(part):
                lost = SapTransientError(
                    f"$batch changeset {index + 1}: {len(answer)} responses for {len(part)} operations",
                    maybe_applied=True,
                )
                results.append(ChangesetResult(error=lost))
            else:
                results.append(ChangesetResult(responses=tuple(answer)))
    return results


# ---------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------


class _CsrfRequired(Exception):
    """403 with ``x-csrf-token: Required``: the request was refused before it was processed."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _never_received(error: BaseException) -> bool:
    return isinstance(error, TransientError) and not maybe_applied(error)


class ODataClient:
    """One SAP system through one session (cookies, CSRF tokens per service). Not thread-safe: one
    client per task. ``csrf_fetches`` counts token fetches, for tests and metrics."""

    def __init__(
        self,
        base_url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        client: str | None = None,
        language: str | None = None,
        service_root: str = DEFAULT_SERVICE_ROOT,
        timeout: Timeout | None = None,
        verify: bool = True,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.root = self.base_url + "/" + service_root.strip("/") if service_root.strip("/") else self.base_url
        self.retry = retry or RetryPolicy()
        self._http = HttpClient(SYSTEM, timeout=timeout, verify_tls=verify, retry=self.retry, session=session)
        # Creates go through a one-attempt client: whether to send again is decided here, by whether
        # SAP can have processed the first attempt (see the module docstring).
        self._once = HttpClient(
            SYSTEM, timeout=timeout, verify_tls=verify, retry=RetryPolicy(max_attempts=1), session=self._http.session
        )
        self._sleep = sleep
        session = self._http.session
        if bearer_token:
            session.headers["Authorization"] = f"Bearer {bearer_token}"
        elif user:
            session.auth = (user, password or "")
        session.headers["Accept"] = "application/json"
        self._fixed_params = {k: v for k, v in (("sap-client", client), ("sap-language", language)) if v}
        self._csrf: dict[str, str] = {}
        self.csrf_fetches = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ODataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- URLs ---------------------------------------------------------------------------------------

    def service_url(self, service: str) -> str:
        return f"{self.root}/{service.strip('/')}"

    def url(self, service: str, path: str = "", params: Mapping[str, Any] | None = None) -> str:
        query = encode_query({**(params or {}), **self._fixed_params})
        return f"{self.service_url(service)}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def _next_url(self, next_link: str, current: str) -> str:
        absolute = urljoin(current, next_link)
        if _origin(absolute) != _origin(self.base_url):
            raise PermanentError(SYSTEM, f"refusing a __next link to another origin: {redact(absolute)}", code="NEXT")
        present = {k for k, _ in parse_qsl(urlsplit(absolute).query, keep_blank_values=True)}
        missing = {k: v for k, v in self._fixed_params.items() if k not in present}
        return absolute + (("&" if urlsplit(absolute).query else "?") + encode_query(missing) if missing else "")

    # -- reads --------------------------------------------------------------------------------------

    def get(self, url: str) -> requests.Response:
        return self._http.send("GET", url, interpret=_expect_ok)

    def get_d(self, url: str) -> Any:
        """The ``d`` member of a JSON answer."""
        response = self.get(url)
        body = _json(response)
        if not isinstance(body, Mapping) or "d" not in body:
            raise PermanentError(SYSTEM, f"GET {redact(url)}: answer without 'd'", code="NOT_ODATA_JSON")
        return body["d"]

    def iter_entities(
        self,
        service: str,
        entity_set: str,
        *,
        orderby: str | Sequence[str],
        filter: str | None = None,
        select: Sequence[str] | None = None,
        expand: Sequence[str] | str | None = None,
        page_size: int = 1000,
        decimals: Collection[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Every entity of ``entity_set`` matching ``filter``, cleaned (:func:`clean_entity`), paging
        with ``$top``/``$skip`` under a stable ``orderby`` until ``__count`` is reached, and
        following ``__next`` whenever the server sends one."""
        if page_size < 1:
            raise ValueError("page_size must be positive")
        order = orderby if isinstance(orderby, str) else ",".join(orderby)
        if not order.strip():
            raise ValueError("paging with $skip needs a stable $orderby (the key, or a timestamp and the key)")
        expands = [expand] if isinstance(expand, str) else list(expand or [])
        selects = list(select or [])
        if selects:
            selects += [e.split("/")[0] for e in expands if e.split("/")[0] not in selects]
        query: dict[str, Any] = {
            "$filter": filter,
            "$orderby": order,
            "$select": ",".join(selects) or None,
            "$expand": ",".join(expands) or None,
            "$top": page_size,
            "$skip": 0,
            "$inlinecount": "allpages",
        }
        url = self.url(service, entity_set, query)
        fetched, window, total = 0, 0, None
        while True:
            d = self.get_d(url)
            rows = d.get("results", []) if isinstance(d, Mapping) else d
            if not isinstance(rows, list):
                raise PermanentError(
                    SYSTEM, f"{entity_set}: a collection answer without results", code="NOT_ODATA_JSON"
                )
            for row in rows:
                yield clean_entity(row, decimals)
            fetched, window = fetched + len(rows), window + len(rows)
            if total is None and isinstance(d, Mapping) and d.get("__count") is not None:
                total = int(d["__count"])
            if isinstance(d, Mapping) and d.get("__next"):
                url = self._next_url(str(d["__next"]), url)
                continue
            done = total is not None and fetched >= total
            if not rows or done or (total is None and window < page_size):
                return
            url = self.url(service, entity_set, {**query, "$skip": fetched, "$inlinecount": None})
            window = 0

    def read_entity(
        self,
        service: str,
        entity_set: str,
        key: str | Mapping[str, Any],
        *,
        expand: Sequence[str] | None = None,
        decimals: Collection[str] = (),
    ) -> dict[str, Any]:
        """One entity by key, cleaned, its ETag under :data:`ETAG` (from metadata or the header)."""
        url = self.url(service, entity_path(entity_set, key), {"$expand": ",".join(expand or []) or None})
        response = self.get(url)
        body = _json(response)
        raw = body.get("d") if isinstance(body, Mapping) else None
        if not isinstance(raw, Mapping):
            raise PermanentError(SYSTEM, f"{entity_set}: an entity answer without 'd'", code="NOT_ODATA_JSON")
        entity = clean_entity(raw, decimals)
        if ETAG not in entity and response.headers.get("ETag"):
            entity[ETAG] = response.headers["ETag"]
        return entity

    def call_function(self, service: str, name: str, params: Mapping[str, Any]) -> Any:
        """A GET function import; parameters given as Python values are written as URL literals.
        A complex result wrapped in its function's name (``{"d": {"Name": {…}}}``) is unwrapped."""
        query = {_name(k): literal(v) for k, v in params.items() if v is not None}
        d = self.get_d(self.url(service, _name(name), query))
        if isinstance(d, Mapping) and isinstance(d.get(name), Mapping) and len(d) == 1:
            d = d[name]
        if isinstance(d, Mapping) and isinstance(d.get("results"), list):
            return [clean_entity(r) if isinstance(r, Mapping) else r for r in d["results"]]
        return clean_entity(d) if isinstance(d, Mapping) else d

    # -- writes -------------------------------------------------------------------------------------

    def create(self, service: str, entity_set: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST an entity (deep insert included); the created entity, cleaned, with its ETag."""
        response = self._write(
            "POST", service, self.url(service, _name(entity_set)), json.dumps(to_wire(body)), "application/json"
        )
        raw = (_json(response) or {}).get("d")
        if not isinstance(raw, Mapping):
            raise PermanentError(SYSTEM, f"POST {entity_set}: 2xx without the created entity", code="NOT_ODATA_JSON")
        entity = clean_entity(raw)
        if response.headers.get("ETag"):
            entity[ETAG] = response.headers["ETag"]
        return entity

    def patch(
        self, service: str, entity_set: str, key: str | Mapping[str, Any], changes: Mapping[str, Any], etag: str
    ) -> str | None:
        """PATCH with ``If-Match: etag``; the new ETag when SAP sends one (it does, with 204)."""
        url = self.url(service, entity_path(entity_set, key))
        response = self._write(
            "PATCH", service, url, json.dumps(to_wire(changes)), "application/json", {"If-Match": etag}, create=False
        )
        return response.headers.get("ETag")

    def delete(self, service: str, entity_set: str, key: str | Mapping[str, Any], etag: str) -> None:
        url = self.url(service, entity_path(entity_set, key))
        self._write("DELETE", service, url, None, None, {"If-Match": etag}, create=False)

    def batch(self, service: str, parts: Sequence[BatchPart]) -> list[BatchResponse | ChangesetResult]:
        """One $batch request (202 expected); per part, the read's response or the changeset's result."""
        body, content_type = encode_batch(parts)
        response = self._write("POST", service, self.url(service, "$batch"), body, content_type)
        if response.status_code != 202:
            raise PermanentError(
                SYSTEM, f"$batch answered {response.status_code}, not 202", status=response.status_code
            )
        try:
            answers = decode_batch(response.content, response.headers.get("Content-Type", ""))
        except ValueError as exc:
            raise PermanentError(SYSTEM, f"$batch answer is not a valid multipart body: {exc}", code="BATCH") from exc
        return changeset_results(parts, answers)

    def _write(
        self,
        method: str,
        service: str,
        url: str,
        body: str | bytes | None,
        content_type: str | None,
        headers: Mapping[str, str] | None = None,
        *,
        create: bool = True,
    ) -> requests.Response:
        payload = body.encode("utf-8") if isinstance(body, str) else body
        for attempt in (1, 2):
            all_headers = {**(headers or {}), **({"Content-Type": content_type} if content_type else {})}
            if token := self._csrf_token(service):
                all_headers["x-csrf-token"] = token
            try:
                if create:
                    return self._send_create(method, url, payload, all_headers)
                return self._http.send(method, url, data=payload, headers=all_headers, interpret=_expect_write)  # type: ignore[arg-type]
            except _CsrfRequired:
                self._csrf.pop(service, None)
                if attempt == 2:
                    raise SapAuthError(
                        "CSRF token validation failed right after a fresh token fetch", status=403, code="CSRF"
                    ) from None
                log.info("%s: CSRF token of %s expired; fetching a new one", SYSTEM, service)
        raise AssertionError("unreachable")

    def _send_create(
        self, method: str, url: str, payload: bytes | None, headers: Mapping[str, str]
    ) -> requests.Response:
        policy = self.retry
        jitter = wait_random_exponential(multiplier=policy.base, max=policy.cap)

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            cause = failure.__cause__ if failure else None
            if isinstance(cause, RetryableError) and cause.retry_after is not None:
                return cause.retry_after
            return jitter(state)

        def retry_after_too_long(state: RetryCallState) -> bool:
            failure = state.outcome.exception() if state.outcome else None
            cause = failure.__cause__ if failure else None
            return isinstance(cause, RetryableError) and (cause.retry_after or 0) > policy.max_retry_after

        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts) | retry_after_too_long,
            wait=wait,
            retry=retry_if_exception(_never_received),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.warning(
                "%s %s %s: not received (attempt %d), sending again", SYSTEM, method, redact(url), s.attempt_number
            ),
        )
        return retrying(
            self._once.send, method, url, data=payload, headers=headers, interpret=_expect_write, idempotent=False
        )

    def _csrf_token(self, service: str) -> str:
        if service not in self._csrf:
            url = (
                self.service_url(service) + "/" + (f"?{encode_query(self._fixed_params)}" if self._fixed_params else "")
            )
            headers = {"x-csrf-token": "Fetch"}
            token = self._http.send("HEAD", url, headers=headers, interpret=_csrf_from_head)
            if token is None:  # HEAD refused or answered without a token (SAP/cloud-sdk-java#1126)
                token = self._http.send("GET", url, headers=headers, interpret=_csrf_from_get)
            self.csrf_fetches += 1
            self._csrf[service] = token or ""
        return self._csrf[service]


def _json(response: requests.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content.decode(response.encoding or "utf-8"), parse_float=Decimal)
    except ValueError as exc:
        raise PermanentError(
            SYSTEM,
            f"expected JSON, got {response.headers.get('Content-Type', '?')}: {response.text[:200]}",
            code="NOT_ODATA_JSON",
            status=response.status_code,
        ) from exc


def _raise_for(response: requests.Response) -> None:
    if response.status_code >= 300:
        raise sap_error_from(response.status_code, response.content, response.headers.get("Content-Type", ""))


def _expect_ok(response: requests.Response) -> requests.Response:
    _raise_for(response)
    for message in parse_sap_message(response.headers.get("sap-message")):
        log.info("%s: sap-message %s %s: %s", SYSTEM, message.severity, message.code, redact(message.message))
    return response


def _expect_write(response: requests.Response) -> requests.Response:
    if response.status_code == 403 and response.headers.get("x-csrf-token", "").lower() == "required":
        raise _CsrfRequired()
    return _expect_ok(response)


def _csrf_from_head(response: requests.Response) -> str | None:
    if response.status_code in (400, 403, 404, 405, 501):
        return None
    _raise_for(response)
    return response.headers.get("x-csrf-token") or None


def _csrf_from_get(response: requests.Response) -> str | None:
    _raise_for(response)
    token = response.headers.get("x-csrf-token")
    if not token:
        log.warning("%s: no CSRF token issued; writes are sent without one", SYSTEM)
    return token
