"""SAP OData V2 (S/4HANA ``/sap/opu/odata/sap/<SERVICE>/``): the protocol every SAP service shares.

Wire rules (reference/sap_report.md §2–3):

* One ``requests.Session`` per client: it keeps the session cookies the CSRF token is bound to. Basic
  auth, a static bearer token or an OAuth 2.0 client-credentials one (:mod:`connectors.sap_oauth`:
  fetched before the first call, renewed near its expiry, and once more on a 401 before the request is
  resent once; refused again is an ``AuthError``), ``sap-client`` and ``sap-language`` on every URL,
  ``Accept: application/json`` (verbose V2 JSON: ``{"d": {"results": [...]}}``, ``__metadata``,
  ``__deferred``, ``__count`` as a string).
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
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from connectors.http import (
    HttpClient,
    PermanentError,
    RetryableError,
    RetryPolicy,
    Timeout,
    TokenRejected,
    TransientError,
    redact,
)
from connectors.retry import call_with_retries
from connectors.sap_batch import (
    BatchPart,
    BatchRequest,
    BatchResponse,
    ChangesetResult,
    changeset_results,
    decode_batch,
    encode_batch,
)
from connectors.sap_errors import (
    SYSTEM,
    ErrorDetail,
    SapAuthError,
    SapBusinessError,
    SapError,
    SapRequestError,
    SapTransientError,
    maybe_applied,
    parse_sap_message,
    sap_error_from,
)
from connectors.sap_oauth import ClientCredentialsAuth
from connectors.sap_values import (
    ETAG,
    MAX_FILTER_LENGTH,
    RawLiteral,
    all_of,
    any_of,
    any_of_chunks,
    clean_entity,
    compare,
    datetime_literal,
    datetimeoffset_literal,
    decimal_literal,
    edm_decimal,
    encode_query,
    entity_path,
    eq,
    etag_of,
    is_odata_date,
    literal,
    parse_edm_datetime,
    parse_odata_date,
    property_name,
    quote_string,
    to_odata_date,
    to_odata_datetimeoffset,
    to_wire,
)

__all__ = [  # the protocol layer's public API, gathered from its modules
    "DEFAULT_SERVICE_ROOT",
    "ETAG",
    "MAX_FILTER_LENGTH",
    "SYSTEM",
    "BatchPart",
    "BatchRequest",
    "BatchResponse",
    "ChangesetResult",
    "ErrorDetail",
    "ODataClient",
    "RawLiteral",
    "SapAuthError",
    "SapBusinessError",
    "SapError",
    "SapRequestError",
    "SapTransientError",
    "all_of",
    "any_of",
    "any_of_chunks",
    "changeset_results",
    "clean_entity",
    "compare",
    "datetime_literal",
    "datetimeoffset_literal",
    "decimal_literal",
    "decode_batch",
    "edm_decimal",
    "encode_batch",
    "encode_query",
    "entity_path",
    "eq",
    "etag_of",
    "is_odata_date",
    "literal",
    "maybe_applied",
    "parse_edm_datetime",
    "parse_odata_date",
    "parse_sap_message",
    "property_name",
    "quote_string",
    "sap_error_from",
    "to_odata_date",
    "to_odata_datetimeoffset",
    "to_wire",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SERVICE_ROOT = "/sap/opu/odata/sap"


class _CsrfRequired(Exception):
    """403 with ``x-csrf-token: Required``: the request was refused before it was processed."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


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
        oauth: ClientCredentialsAuth | None = None,
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
        self._http = HttpClient(
            SYSTEM, timeout=timeout, verify_tls=verify, retry=self.retry, session=session, sleep=sleep
        )
        # Creates go through a one-attempt client: whether to send again is decided here, by whether
        # SAP can have processed the first attempt (see the module docstring).
        self._once = HttpClient(
            SYSTEM, timeout=timeout, verify_tls=verify, retry=RetryPolicy(max_attempts=1), session=self._http.session
        )
        self._sleep = sleep
        session = self._http.session
        if oauth and (user or bearer_token):
            raise ValueError("OAuth replaces user/password and bearer_token: pass one kind of credentials")
        self._oauth = oauth  # its bearer token is set per call, by _authorized
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
        if self._oauth:
            self._oauth.close()

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
        return self._authorized(self._http.send, "GET", url, interpret=_expect_ok)

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
        query = {property_name(k): literal(v) for k, v in params.items() if v is not None}
        d = self.get_d(self.url(service, property_name(name), query))
        if isinstance(d, Mapping) and isinstance(d.get(name), Mapping) and len(d) == 1:
            d = d[name]
        if isinstance(d, Mapping) and isinstance(d.get("results"), list):
            return [clean_entity(r) if isinstance(r, Mapping) else r for r in d["results"]]
        return clean_entity(d) if isinstance(d, Mapping) else d

    # -- writes -------------------------------------------------------------------------------------

    def create(self, service: str, entity_set: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST an entity (deep insert included); the created entity, cleaned, with its ETag."""
        response = self._write(
            "POST", service, self.url(service, property_name(entity_set)), json.dumps(to_wire(body)), "application/json"
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
                    return self._authorized(self._send_create, method, url, payload, all_headers)
                return self._authorized(
                    self._http.send,
                    method,
                    url,
                    data=payload,
                    headers=all_headers,
                    interpret=_expect_write,
                )
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
        def attempt() -> requests.Response:
            try:
                return self._once.send(
                    method, url, data=payload, headers=headers, interpret=_expect_write, idempotent=False
                )
            except TransientError as exc:
                if maybe_applied(exc):
                    raise  # SAP may hold the order: the caller looks it up before sending it again
                cause = exc.__cause__  # the one attempt's RetryableError: never received, send again
                if isinstance(cause, RetryableError):
                    raise cause from cause.__cause__
                raise

        return call_with_retries(
            self.retry, attempt, system=SYSTEM, what=f"{method} {redact(url)} (not received)", sleep=self._sleep
        )

    def _csrf_token(self, service: str) -> str:
        if service not in self._csrf:
            url = (
                self.service_url(service) + "/" + (f"?{encode_query(self._fixed_params)}" if self._fixed_params else "")
            )
            headers = {"x-csrf-token": "Fetch"}
            token = self._authorized(self._http.send, "HEAD", url, headers=headers, interpret=_csrf_from_head)
            if token is None:  # HEAD refused or answered without a token (SAP/cloud-sdk-java#1126)
                token = self._authorized(self._http.send, "GET", url, headers=headers, interpret=_csrf_from_get)
            self.csrf_fetches += 1
            self._csrf[service] = token or ""
        return self._csrf[service]

    def _authorized(self, send: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``send(*args, **kwargs)``; with OAuth, under a valid bearer token, and a 401 (token expired
        or revoked before its time) answered by one new token and one resend: a 401 was not processed,
        so even a create may go again."""
        if self._oauth is None:
            return send(*args, **kwargs)

        def attempt(access_token: str) -> T:
            self._http.session.headers["Authorization"] = f"Bearer {access_token}"
            try:
                return send(*args, **kwargs)
            except SapAuthError as exc:
                if exc.status == 401:
                    raise TokenRejected(exc.code) from exc
                raise

        return self._oauth.authorized(attempt)


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
