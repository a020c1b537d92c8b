"""Zoho CRM v8 client: OAuth2 refresh-token flow, Get Records paging, by-id reads, bulk updates.

Wire rules (reference/crm_report.md §1): ``Authorization: Zoho-oauthtoken <t>``; list calls need
``fields`` (≤ 50 names); ``per_page`` ≤ 200; ``page`` reaches only the first 2,000 records, then
``page_token`` from ``info.next_page_token`` (never both in one call); ``If-Modified-Since`` filters
inclusively and 204/304 mean "nothing"; updates take ≤ 100 records and answer per record (200, 207
mixed, 400 all failed). Error codes are matched on ``code``, not on the HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import requests

from connectors.base import (
    ConnectionLike,
    Resource,
    TokenClient,
    WriteResult,
    base_url_of,
    chunked,
    extra_bool,
    extra_retry,
    extra_timeout,
    parse_iso_datetime,
    require_aware,
)
from connectors.http import (
    DEFAULT_TIMEOUT,
    AuthError,
    PermanentError,
    RetryableError,
    RetryPolicy,
    TokenRejected,
    TransientError,
    loads_json,
)
from connectors.paging import PageThenToken

SYSTEM = "zoho_crm"
API_PATH = "/crm/v8"

MAX_FIELDS = 50  # names per `fields` parameter, `id` included
MAX_PER_PAGE = 200
DISCRETE_PAGING_LIMIT = 2_000  # records reachable with `page`; `page_token` beyond
MAX_WRITE_BATCH = 100
MAX_IDS = 100  # ids per `ids` parameter when completing wide records

PAGING = PageThenToken(max_page_size=MAX_PER_PAGE, page_limit=DISCRETE_PAGING_LIMIT)
SALES_ORDERS = Resource("Sales_Orders", "id", cursor="Modified_Time", page_size=MAX_PER_PAGE, paginator=PAGING)
# Ordered_Items: a subform inside each sales order (read with the order by id), rows keyed by their id.
SALES_ORDER_LINES = Resource("Ordered_Items", "id")
ACCOUNTS = Resource("Accounts", "id", cursor="Modified_Time", page_size=MAX_PER_PAGE, paginator=PAGING)
PRODUCTS = Resource("Products", "id", cursor="Modified_Time", page_size=MAX_PER_PAGE, paginator=PAGING)

# Tasks (docs/crm_reminders.md §1): the hub's reorder reminders, one per key in the org's unique custom
# text(100) field; found by Search Records (≤ 10 criteria per call) before they are created.
TASKS = "Tasks"
REMINDER_KEY = "Hub_Reminder_Key"
MAX_SEARCH_CRITERIA = 10

ACCOUNT_FIELDS: tuple[str, ...] = (
    "id",
    "Account_Name",
    "Account_Number",
    "Account_Type",
    "Phone",
    "Billing_Street",
    "Billing_City",
    "Billing_State",
    "Billing_Code",
    "Billing_Country",
    "Currency",
    "Modified_Time",
)
PRODUCT_FIELDS: tuple[str, ...] = (
    "id",
    "Product_Name",
    "Product_Code",
    "Product_Active",
    "Unit_Price",
    "Usage_Unit",
    "Qty_in_Stock",
    "Currency",
    "Modified_Time",
)

_TOKEN_REJECTED_CODES = frozenset({"INVALID_TOKEN", "AUTHENTICATION_FAILURE", "INVALID_OAUTHTOKEN"})
_NOT_ALLOWED_CODES = frozenset({"OAUTH_SCOPE_MISMATCH", "NO_PERMISSION"})


@dataclass(frozen=True, kw_only=True)
class ZohoConfig:
    """Everything needed to reach one Zoho CRM org. Secrets are kept out of ``repr``.

    ``api_domain`` overrides the one the token endpoint returns (developer or sandbox orgs); leave it
    ``None`` to follow the data centre the token names.
    """

    accounts_url: str
    api_domain: str | None = None
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    verify_tls: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    per_page: int = MAX_PER_PAGE
    # Refresh this long before the token's stated expiry, so a call never starts with a dying token.
    token_refresh_margin: float = 60.0
    # Zoho blocks token creation for the rest of a 10-minute window after 10 tokens; a short backoff
    # cannot help, so a throttled refresh waits this long before its next attempt.
    token_throttle_wait: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be within 1..{MAX_PER_PAGE}")
        for name in ("accounts_url", "client_id", "client_secret", "refresh_token"):
            if not getattr(self, name):
                raise ValueError(f"ZohoConfig.{name} is required")

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> ZohoConfig:
        """host = accounts URL, login = client id, password = client secret; extras: ``refresh_token``,
        ``api_domain``, ``verify_tls``, ``timeout``, ``per_page``, ``max_attempts``, ``backoff_base``,
        ``backoff_cap``, ``max_retry_after``."""
        extra = dict(conn.extra_dejson or {})
        return cls(
            accounts_url=base_url_of(conn),
            api_domain=(extra.get("api_domain") or None),
            client_id=conn.login or "",
            client_secret=conn.password or "",
            refresh_token=str(extra.get("refresh_token") or ""),
            timeout=extra_timeout(extra, DEFAULT_TIMEOUT),
            verify_tls=extra_bool(extra, "verify_tls", True),
            retry=extra_retry(extra),
            per_page=int(extra.get("per_page", MAX_PER_PAGE)),
        )


@dataclass
class _Token:
    value: str = field(repr=False)
    api_domain: str
    expires_at: float  # on the client's monotonic clock


# ---------------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------------


def split_fields(fields: Iterable[str], limit: int = MAX_FIELDS, key: str = "id") -> list[list[str]]:
    """Field names in groups of at most ``limit`` that each contain ``key``, order kept, duplicates
    dropped, so partial records fetched per group can be merged back by ``key``."""
    if limit < 2:
        raise ValueError("limit must leave room for the key and one field")
    others = [name for name in dict.fromkeys(fields) if name != key]
    if not others:
        return [[key]]
    return [[key, *group] for group in chunked(others, limit - 1)]


def merge_by_id(
    primary: Sequence[Mapping[str, Any]], *partials: Iterable[Mapping[str, Any]], key: str = "id"
) -> list[dict[str, Any]]:
    """``primary`` records, in their order, completed with the fields of the partial records that share
    their ``key``. Partial records without a primary counterpart are dropped: the primary pass decides
    which records exist."""
    merged = {str(record[key]): dict(record) for record in primary}
    for group in partials:
        for record in group:
            target = merged.get(str(record.get(key)))
            if target is not None:
                target.update(record)
    return list(merged.values())


def format_if_modified_since(value: datetime) -> str:
    """ISO-8601 with offset, whole seconds, rounded down: Zoho filters inclusively, so rounding down
    can only add records, which the caller's own lower-bound check then drops."""
    return require_aware(value).astimezone(UTC).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------


class ZohoCrmClient(TokenClient):
    """One org's Zoho CRM. Pass a ``token_store`` to share access tokens across tasks."""

    system = SYSTEM
    max_fields = MAX_FIELDS  # per list call; an attribute so a test can force the split-and-merge path

    # -- reads --------------------------------------------------------------------------------------

    def iter_records(
        self,
        module: str,
        fields: Sequence[str],
        modified_since: datetime | None = None,
        sort_by: str | None = "Modified_Time",
        sort_order: str = "asc",
    ) -> Iterator[dict[str, Any]]:
        """Every record of ``module`` (modified at or after ``modified_since`` when given).

        More than 50 fields are read in groups: the first group pages through the module, each page
        is completed with the other groups by ``ids`` and merged by ``id``.
        """
        groups = split_fields(fields, self.max_fields)
        first, rest = groups[0], groups[1:]
        for page in self._iter_pages(module, first, modified_since, sort_by, sort_order):
            yield from (self._complete(module, page, rest) if rest else page)

    def get_record(self, module: str, record_id: str) -> dict[str, Any] | None:
        """One record with all its fields and subforms; ``None`` when it no longer exists."""
        status, body = self._call("GET", f"{API_PATH}/{module}/{record_id}")
        if status in (204, 304) or not body or not body.get("data"):
            return None
        return body["data"][0]

    def iter_sales_orders(self, modified_from: datetime, modified_to: datetime) -> Iterator[dict[str, Any]]:
        """Sales orders whose ``Modified_Time`` lies in ``[modified_from, modified_to)``, oldest first,
        each read by id so ``Ordered_Items`` is complete. Raw Zoho records, money as ``Decimal``."""
        lower, upper = require_aware(modified_from), require_aware(modified_to)
        if upper <= lower:
            raise ValueError("modified_to must be after modified_from")
        key, cursor = SALES_ORDERS.primary_key, SALES_ORDERS.cursor or "Modified_Time"
        seen: set[str] = set()
        # Only key and cursor in the list pass: list responses do not carry subforms, and the
        # by-id read below returns every field anyway.
        stubs = self.iter_records(SALES_ORDERS.name, [key, cursor], modified_since=lower, sort_by=cursor)
        for stub in stubs:
            modified = parse_iso_datetime(stub[cursor])
            if modified >= upper:
                break  # sorted ascending: the rest of the pages are outside the interval too
            record_id = str(stub[key])
            if modified < lower or record_id in seen:
                continue
            seen.add(record_id)
            record = self.get_record(SALES_ORDERS.name, record_id)
            if record is not None:  # deleted between the list and the read
                yield record

    def list_accounts(
        self, fields: Sequence[str] = ACCOUNT_FIELDS, modified_since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Accounts (customer master for the mapping), oldest id first; only those modified at or
        after ``modified_since`` when given."""
        return self.iter_records(ACCOUNTS.name, fields, modified_since, sort_by="id", sort_order="asc")

    def list_products(
        self, fields: Sequence[str] = PRODUCT_FIELDS, modified_since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Products (material master for the mapping), oldest id first; only those modified at or
        after ``modified_since`` when given."""
        return self.iter_records(PRODUCTS.name, fields, modified_since, sort_by="id", sort_order="asc")

    # -- writes -------------------------------------------------------------------------------------

    def update_sales_orders(
        self, updates: Sequence[Mapping[str, Any]], *, trigger: Sequence[str] = ()
    ) -> list[WriteResult]:
        """Update sales orders (each mapping carries ``id``) in calls of ≤ 100; one result per record,
        in input order. ``trigger`` names the automations to run (none by default: the hub's writes
        are bookkeeping, not user actions)."""
        return self._update(SALES_ORDERS.name, updates, trigger)

    def _update(self, module: str, updates: Sequence[Mapping[str, Any]], trigger: Sequence[str]) -> list[WriteResult]:
        for update in updates:
            if not str(update.get("id") or ""):
                raise ValueError("every update needs the record's id")
        results: list[WriteResult] = []
        outage: TransientError | None = None
        for chunk in chunked(updates, MAX_WRITE_BATCH):
            ids = [str(update["id"]) for update in chunk]
            if outage is not None:  # the system is down: don't hammer it with the remaining chunks
                results.extend(_unsent(ids, outage))
                continue
            try:
                _, body = self._call(
                    "PUT",
                    f"{API_PATH}/{module}",
                    json_body={"data": list(chunk), "trigger": list(trigger)},
                    accept_record_errors=True,
                )
            except TransientError as exc:
                outage = exc
                results.extend(_unsent(ids, exc))
                continue
            except AuthError:
                raise
            except PermanentError as exc:  # the request as a whole was refused
                results.extend(WriteResult(i, False, exc.code, exc.message) for i in ids)
                continue
            results.extend(_record_results(ids, (body or {}).get("data") or []))
        return results

    # -- reorder reminders (Tasks) ----------------------------------------------------------------

    def find_reminders(self, keys: Sequence[str]) -> dict[str, str]:
        """The Tasks that already carry one of ``keys`` in ``Hub_Reminder_Key``: key → task id.

        Searched in groups of 10 ``equals`` criteria joined by ``or``. Zoho's ``equals`` among several
        criteria also matches longer values and ignores case, so only an exact key counts."""
        wanted = list(dict.fromkeys(str(k) for k in keys))
        found: dict[str, str] = {}
        for group in chunked(wanted, MAX_SEARCH_CRITERIA):
            terms = [f"({REMINDER_KEY}:equals:{_escape_criteria(k)})" for k in group]
            criteria = terms[0] if len(terms) == 1 else "(" + "or".join(terms) + ")"
            page = 1
            while True:
                params = {"criteria": criteria, "fields": f"id,{REMINDER_KEY}", "per_page": MAX_PER_PAGE, "page": page}
                status, body = self._call("GET", f"{API_PATH}/{TASKS}/search", params=params)
                if status in (204, 304) or not body:
                    break
                for record in body.get("data") or []:
                    key = record.get(REMINDER_KEY)
                    if key in group and key not in found:
                        found[key] = str(record["id"])
                if not (body.get("info") or {}).get("more_records"):
                    break
                page += 1
        return found

    def create_reminders(self, payloads: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """Insert Tasks (each payload carries ``Hub_Reminder_Key``) in calls of ≤ 100, no automation
        triggered. One result per payload, in order: ``record_id`` is the new task's id, or for a key
        the org already holds (``DUPLICATE_DATA`` on the unique key field) the existing task's id with
        ``ok`` true, since the reminder is there; a refused or unsent payload reports its key."""
        keys = [str(p.get(REMINDER_KEY) or "") for p in payloads]
        if not all(keys):
            raise ValueError(f"every reminder needs its {REMINDER_KEY}")
        results: list[WriteResult] = []
        outage: TransientError | None = None
        for start in range(0, len(payloads), MAX_WRITE_BATCH):
            chunk, chunk_keys = list(payloads[start : start + MAX_WRITE_BATCH]), keys[start : start + MAX_WRITE_BATCH]
            if outage is not None:
                results.extend(_unsent(chunk_keys, outage))
                continue
            try:
                _, body = self._call(
                    "POST", f"{API_PATH}/{TASKS}", json_body={"data": chunk, "trigger": []}, accept_record_errors=True
                )
            except TransientError as exc:  # may or may not have been added: the next run looks first
                outage = exc
                results.extend(_unsent(chunk_keys, exc))
                continue
            except AuthError:
                raise
            except PermanentError as exc:
                results.extend(WriteResult(k, False, exc.code, exc.message) for k in chunk_keys)
                continue
            results.extend(_insert_results(chunk_keys, (body or {}).get("data") or []))
        return results

    # -- plumbing -----------------------------------------------------------------------------------

    def _iter_pages(
        self,
        module: str,
        fields: Sequence[str],
        modified_since: datetime | None,
        sort_by: str | None,
        sort_order: str,
    ) -> Iterator[list[dict[str, Any]]]:
        per_page = self.config.per_page
        base: dict[str, Any] = {"fields": ",".join(fields), "per_page": per_page}
        if sort_by:
            base |= {"sort_by": sort_by, "sort_order": sort_order}
        headers = {"If-Modified-Since": format_if_modified_since(modified_since)} if modified_since else {}

        def fetch(position: dict[str, Any]) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
            status, body = self._call("GET", f"{API_PATH}/{module}", params=base | position, headers=headers)
            if status in (204, 304) or not body:
                return [], {}
            return body.get("data") or [], body.get("info") or {}

        yield from PAGING.pages(fetch, page_size=per_page, system=SYSTEM, what=module)

    def _complete(self, module: str, page: list[dict[str, Any]], groups: list[list[str]]) -> list[dict[str, Any]]:
        ids = [str(record["id"]) for record in page]
        partials: list[list[dict[str, Any]]] = []
        for group in groups:
            for id_chunk in chunked(ids, MAX_IDS):
                params = {"fields": ",".join(group), "ids": ",".join(id_chunk), "per_page": MAX_PER_PAGE}
                status, body = self._call("GET", f"{API_PATH}/{module}", params=params)
                if status not in (204, 304) and body:
                    partials.append(body.get("data") or [])
        return merge_by_id(page, *partials)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        accept_record_errors: bool = False,
    ) -> tuple[int, Any]:
        interpret = partial(_interpret_api, accept_record_errors=accept_record_errors)

        def send(token: _Token) -> tuple[int, Any]:
            return self._http.send(
                method,
                token.api_domain.rstrip("/") + path,
                params=params,
                json_body=json_body,
                headers={**(headers or {}), "Authorization": f"Zoho-oauthtoken {token.value}"},
                interpret=interpret,
            )

        return self._with_token(send, rejected_code="INVALID_TOKEN")

    def _valid_token(self) -> _Token:
        token = self._token or self._shared_token()
        if token is None or self._clock() >= token.expires_at - self.config.token_refresh_margin:
            token = self._refresh_token()
            self._share({"access_token": token.value, "api_domain": token.api_domain}, token.expires_at)
        self._token = token
        return token

    def _credential_parts(self) -> tuple[str, ...]:
        cfg = self.config
        return (cfg.accounts_url, cfg.client_id, cfg.refresh_token)

    def _token_from(self, fields: dict[str, Any], deadline: float) -> _Token:
        return _Token(value=fields["access_token"], api_domain=fields["api_domain"], expires_at=deadline)

    def _refresh_token(self) -> _Token:
        cfg = self.config
        # Sent as a form body (as the official SDK does), never in the query string, so the secret
        # and the refresh token cannot end up in an access log.
        body = self._http.send(
            "POST",
            f"{cfg.accounts_url.rstrip('/')}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": cfg.client_id,
                "client_secret": cfg.client_secret,
                "refresh_token": cfg.refresh_token,
            },
            interpret=partial(_interpret_token, throttle_wait=cfg.token_throttle_wait),
        )
        self.token_refreshes += 1
        api_domain = cfg.api_domain or body.get("api_domain")
        if not api_domain:
            raise PermanentError(SYSTEM, "token response names no api_domain and none is configured")
        return _Token(
            value=str(body["access_token"]),
            api_domain=str(api_domain),
            expires_at=self._clock() + _lifetime_seconds(body),
        )


# ---------------------------------------------------------------------------------------------------
# Response interpretation (runs inside each HTTP attempt)
# ---------------------------------------------------------------------------------------------------


def _json_body(response: requests.Response) -> Any:
    try:
        return loads_json(response)
    except ValueError:
        return None


def _interpret_api(response: requests.Response, *, accept_record_errors: bool) -> tuple[int, Any]:
    status = response.status_code
    if status in (204, 304):
        return status, None
    body = _json_body(response)
    if status < 300:
        if not isinstance(body, dict):
            raise PermanentError(SYSTEM, f"HTTP {status} with a body that is not a JSON object", status=status)
        return status, body
    error = body if isinstance(body, dict) else {}
    code = str(error.get("code") or f"HTTP_{status}")
    message = str(error.get("message") or response.text[:300])
    # Matched on the code: the same INVALID_TOKEN body has been seen with 400 as well as 401.
    if code in _TOKEN_REJECTED_CODES or (status == 401 and code not in _NOT_ALLOWED_CODES):
        raise TokenRejected(code)
    if code in _NOT_ALLOWED_CODES:
        raise AuthError(SYSTEM, message, code=code, status=status)
    if accept_record_errors and isinstance(error.get("data"), list):
        return status, error  # 400 with per-record results: every record failed, each says why
    raise PermanentError(SYSTEM, message, code=code, status=status)


def _interpret_token(response: requests.Response, *, throttle_wait: float) -> dict[str, Any]:
    body = _json_body(response)
    body = body if isinstance(body, dict) else {}
    if response.status_code == 200 and body.get("access_token"):
        return body
    error = str(body.get("error") or f"HTTP_{response.status_code}")
    description = str(body.get("error_description") or "")
    if "too many requests" in description.lower() or error.lower() == "access denied":
        raise RetryableError(
            f"token endpoint throttled: {error}: {description}",
            status=response.status_code,
            code="ACCESS_DENIED",
            retry_after=throttle_wait,
        )
    # Zoho answers a revoked or mistyped refresh token with 200 {"error": "invalid_code"}.
    raise AuthError(
        SYSTEM, f"token refresh refused: {error} {description}".strip(), code=error, status=response.status_code
    )


def _lifetime_seconds(body: Mapping[str, Any]) -> float:
    # The SDK's rule: with `expires_in_sec` present, `expires_in` is in milliseconds.
    if body.get("expires_in_sec") is not None:
        return float(body["expires_in_sec"])
    return float(body.get("expires_in") or 3600)


def _record_results(ids: list[str], rows: list[Any]) -> list[WriteResult]:
    results = []
    for index, record_id in enumerate(ids):
        row = rows[index] if index < len(rows) and isinstance(rows[index], dict) else None
        if row is None:
            results.append(WriteResult(record_id, False, "NO_RESULT", "no per-record result returned"))
            continue
        details = row.get("details") if isinstance(row.get("details"), dict) else {}
        ok = str(row.get("status", "")).lower() == "success"
        results.append(
            WriteResult(
                record_id=record_id,
                ok=ok,
                code=row.get("code"),
                message=row.get("message"),
                field=None if ok else details.get("api_name"),
            )
        )
    return results


def _escape_criteria(value: str) -> str:
    """A value inside Search Records criteria: backslash, comma and parentheses escaped."""
    for ch in ("\\", ",", "(", ")"):
        value = value.replace(ch, "\\" + ch)
    return value


def _insert_results(keys: list[str], rows: list[Any]) -> list[WriteResult]:
    results = []
    for index, key in enumerate(keys):
        row = rows[index] if index < len(rows) and isinstance(rows[index], dict) else None
        if row is None:
            results.append(WriteResult(key, False, "NO_RESULT", "no per-record result returned"))
            continue
        details = row.get("details") if isinstance(row.get("details"), dict) else {}
        code = row.get("code")
        if str(row.get("status", "")).lower() == "success":
            results.append(WriteResult(str(details.get("id") or key), True, code, row.get("message")))
        elif code == "DUPLICATE_DATA" and details.get("api_name") == REMINDER_KEY:
            held = (details.get("duplicate_record") or {}).get("id") or details.get("id") or key
            results.append(WriteResult(str(held), True, code, "the org holds this reminder already"))
        else:
            results.append(WriteResult(key, False, code, row.get("message"), field=details.get("api_name")))
    return results


def _unsent(ids: Iterable[str], error: TransientError) -> list[WriteResult]:
    return [WriteResult(i, False, error.code or "TRANSIENT", error.message, retryable=True) for i in ids]
