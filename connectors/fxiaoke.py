"""Fxiaoke (纷享销客) OpenAPI client: legacy ``corpAccessToken`` V2 auth, object query, object update.

Wire rules (reference/crm_report.md §2): business errors come back as HTTP 200 with a non-zero
``errorCode`` (never branch on the message); 20016 means the token is stale: fetch a new one and
repeat once. ``/cgi/crm/v2/data/query`` takes ``limit`` ≤ 100 and an ``offset`` that is a multiple
of it and at most 10,000; past that, sort by ``_id`` and filter ``_id GT <last>`` from offset 0.
Numbers and money travel as strings, dates as epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import requests

from connectors.base import (
    ConnectionLike,
    Resource,
    TokenClient,
    WriteResult,
    base_url_of,
    chunked,
    datetime_to_ms,
    extra_bool,
    extra_retry,
    extra_timeout,
    ms_to_datetime,
    require_aware,
    to_decimal,
)
from connectors.http import (
    DEFAULT_TIMEOUT,
    AuthError,
    BusinessError,
    PermanentError,
    RetryableError,
    RetryPolicy,
    TokenRejected,
    TransientError,
    loads_json,
)
from connectors.paging import OffsetThenKeyset

__all__ = [
    "ACCOUNTS",
    "PRODUCTS",
    "SALES_ORDER_LINES",
    "SALES_ORDERS",
    "SALES_RECORDS",
    "FxiaokeClient",
    "FxiaokeConfig",
    "datetime_to_ms",
    "flt",
    "ms_to_datetime",
    "to_decimal",
]

SYSTEM = "fxiaoke"
TOKEN_PATH = "/cgi/corpAccessToken/get/V2"  # noqa: S105 - a URL path, not a secret
QUERY_PATH = "/cgi/crm/v2/data/query"
UPDATE_PATH = "/cgi/crm/v2/data/update"
CREATE_PATH = "/cgi/crm/v2/data/create"

MAX_LIMIT = 100
MAX_OFFSET = 10_000
TOKEN_LIFETIME = 7_200  # seconds the server lets a corpAccessToken live
TOKEN_REUSE = 6_600  # within this age the server hands out the same token again

PAGING = OffsetThenKeyset(max_page_size=MAX_LIMIT, max_offset=MAX_OFFSET)
_PAGED = {"primary_key": "_id", "cursor": "last_modified_time", "page_size": MAX_LIMIT, "paginator": PAGING}
SALES_ORDERS = Resource("SalesOrderObj", **_PAGED)
SALES_ORDER_LINES = Resource("SalesOrderProductObj", **_PAGED, parent_key="order_id")
ACCOUNTS = Resource("AccountObj", **_PAGED)
PRODUCTS = Resource("ProductObj", **_PAGED)
# 销售记录 (docs/crm_reminders.md §2): the hub's reorder reminders, one per key in the tenant's custom
# text field field_hub_key__c (not unique: the hub looks a key up before it creates the record).
SALES_RECORDS = Resource("ActiveRecordObj", **_PAGED)
REMINDER_KEY = "field_hub_key__c"

TOKEN_REJECTED = 20016
# Per-second limit, daily quota, "busy", service timeout: the same call can succeed later.
TRANSIENT_CODES = frozenset({30004, 30002, -1, 50009})


@dataclass(frozen=True, kw_only=True)
class FxiaokeConfig:
    """Everything needed to reach one Fxiaoke tenant through the legacy token. Secrets stay out of
    ``repr``. ``current_open_user_id`` is the operator (``FSUID_…``) whose visibility the queries get:
    use a CRM administrator."""

    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    permanent_code: str = field(repr=False)
    current_open_user_id: str
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    verify_tls: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    page_size: int = MAX_LIMIT
    token_reuse_seconds: float = TOKEN_REUSE
    token_refresh_margin: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be within 1..{MAX_LIMIT}")
        for name in ("base_url", "app_id", "app_secret", "permanent_code", "current_open_user_id"):
            if not getattr(self, name):
                raise ValueError(f"FxiaokeConfig.{name} is required")

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> FxiaokeConfig:
        """host = base URL, login = app id, password = app secret; extras: ``permanent_code``,
        ``current_open_user_id``, ``verify_tls``, ``timeout``, ``page_size``, ``max_attempts``,
        ``backoff_base``, ``backoff_cap``, ``max_retry_after``."""
        extra = dict(conn.extra_dejson or {})
        return cls(
            base_url=base_url_of(conn),
            app_id=conn.login or "",
            app_secret=conn.password or "",
            permanent_code=str(extra.get("permanent_code") or ""),
            current_open_user_id=str(extra.get("current_open_user_id") or ""),
            timeout=extra_timeout(extra, DEFAULT_TIMEOUT),
            verify_tls=extra_bool(extra, "verify_tls", True),
            retry=extra_retry(extra),
            page_size=int(extra.get("page_size", MAX_LIMIT)),
        )


@dataclass
class _Token:
    value: str = field(repr=False)
    corp_id: str
    renew_at: float  # on the client's monotonic clock


def flt(field_name: str, operator: str, *values: Any) -> dict[str, Any]:
    """One query filter in wire form: ``field_values`` is always a list of strings."""
    return {"field_name": field_name, "field_values": [_filter_value(v) for v in values], "operator": operator}


def _filter_value(value: Any) -> str:
    if isinstance(value, datetime):
        return str(datetime_to_ms(value))
    if isinstance(value, float):
        raise TypeError("filter values must not be floats")
    return str(value)


def _wire_value(value: Any) -> Any:
    """Fxiaoke's value encoding: numbers as strings, datetimes as epoch ms."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return datetime_to_ms(value)
    if isinstance(value, float):
        raise TypeError("refusing to send a float: use Decimal or str")
    if isinstance(value, list | tuple):
        return [_wire_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _wire_value(v) for k, v in value.items()}
    return value


class FxiaokeClient(TokenClient):
    """One Fxiaoke tenant. Not thread-safe: use one client per task (the token cache is per client)."""

    system = SYSTEM

    # -- reads --------------------------------------------------------------------------------------

    def query(
        self,
        api_name: str,
        *,
        filters: Sequence[Mapping[str, Any]] = (),
        orders: Sequence[tuple[str, bool]] = (),
        fields: Sequence[str] | None = None,
        limit: int = MAX_LIMIT,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """One page of ``api_name`` records. ``orders`` are (field, ascending) pairs."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_LIMIT}")
        if offset % limit or not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"offset must be a multiple of limit and at most {MAX_OFFSET}")
        search: dict[str, Any] = {
            "limit": limit,
            "offset": offset,
            "filters": [dict(f) for f in filters],
            "orders": [{"fieldName": name, "isAsc": asc} for name, asc in orders],
        }
        if fields:
            search["fieldProjection"] = list(fields)
        body = self._call(
            QUERY_PATH,
            {"dataObjectApiName": api_name, "find_explicit_total_num": False, "search_query_info": search},
        )
        data = body.get("data") or {}
        return list(data.get("dataList") or [])

    def iter_objects(
        self,
        resource: Resource,
        filters: Sequence[Mapping[str, Any]] = (),
        fields: Sequence[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of every ``resource`` record matching ``filters``, in primary-key order.

        Offset paging while the next offset stays below 10,000, then keyset paging on the primary key
        (``_id GT last``, offset 0). Both phases sort by the key, so the switch neither skips nor
        repeats a record.
        """
        key = resource.primary_key
        if fields and key not in fields:
            fields = [key, *fields]
        limit = min(self.config.page_size, resource.page_size)
        orders = [(key, True)]

        def fetch(offset: int, after: Any) -> list[dict[str, Any]]:
            if after is None:
                return self.query(
                    resource.name, filters=filters, orders=orders, fields=fields, limit=limit, offset=offset
                )
            keyset = [*filters, flt(key, "GT", after)]
            return self.query(resource.name, filters=keyset, orders=orders, fields=fields, limit=limit)

        paging = resource.paginator or PAGING
        yield from paging.pages(fetch, key=key, page_size=limit, system=SYSTEM, what=resource.name)

    def iter_sales_orders(
        self, modified_from: datetime, modified_to: datetime, *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Sales orders with ``last_modified_time`` in ``[modified_from, modified_to)``, each with its
        lines (SalesOrderProductObj, found by ``order_id``) under ``"details"``. Raw Fxiaoke records."""
        lower = datetime_to_ms(require_aware(modified_from))
        upper = datetime_to_ms(require_aware(modified_to))
        if upper <= lower:
            raise ValueError("modified_to must be after modified_from")
        cursor = SALES_ORDERS.cursor or "last_modified_time"
        # BETWEEN is inclusive on both ends; the interval's end belongs to the next run, so records
        # stamped exactly `upper` are dropped below.
        window = [flt(cursor, "BETWEEN", lower, upper)]
        seen: set[str] = set()
        for page in self.iter_objects(SALES_ORDERS, window, fields):
            orders = []
            for order in page:
                order_id = str(order[SALES_ORDERS.primary_key])
                stamp = int(order.get(cursor) or 0)
                if order_id in seen or not lower <= stamp < upper:
                    continue
                seen.add(order_id)
                orders.append(order)
            lines = self._lines_by_order([str(o[SALES_ORDERS.primary_key]) for o in orders])
            for order in orders:
                order["details"] = lines.get(str(order[SALES_ORDERS.primary_key]), [])
                yield order

    def list_accounts(
        self, fields: Sequence[str] | None = None, modified_since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Accounts (customer master for the mapping); only those modified at or after
        ``modified_since`` when given."""
        for page in self.iter_objects(ACCOUNTS, _modified_since(ACCOUNTS, modified_since), fields):
            yield from page

    def list_products(
        self, fields: Sequence[str] | None = None, modified_since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Products (material master for the mapping); only those modified at or after
        ``modified_since`` when given."""
        for page in self.iter_objects(PRODUCTS, _modified_since(PRODUCTS, modified_since), fields):
            yield from page

    def sales_orders_by_id(
        self, order_ids: Sequence[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """Sales orders by ``_id`` (absent when deleted) and their lines by order id: what the hub wrote
        back can be read back."""
        key = SALES_ORDERS.primary_key
        records: dict[str, dict[str, Any]] = {}
        for id_chunk in chunked(order_ids, MAX_LIMIT):
            for page in self.iter_objects(SALES_ORDERS, [flt(key, "IN", *id_chunk)]):
                records.update((str(r[key]), r) for r in page)
        return records, self._lines_by_order(list(records))

    def _lines_by_order(self, order_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        # By the master key rather than the time window: a line's own last_modified_time need not
        # move when its order changes, so a window query could miss lines of a changed order.
        parent = SALES_ORDER_LINES.parent_key or "order_id"
        lines: dict[str, list[dict[str, Any]]] = {}
        for id_chunk in chunked(order_ids, MAX_LIMIT):
            for page in self.iter_objects(SALES_ORDER_LINES, [flt(parent, "IN", *id_chunk)]):
                for line in page:
                    lines.setdefault(str(line.get(parent)), []).append(line)
        return lines

    # -- writes -------------------------------------------------------------------------------------

    def update_objects(self, api_name: str, updates: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """Update records of ``api_name`` (each mapping carries ``_id``), one call per record, workflow
        and approval flows off. One result per record, in input order; a refused record does not stop
        the others. Detail rows can ride along under ``"details": {api_name: [...]}``."""
        for update in updates:
            if not str(update.get("_id") or ""):
                raise ValueError("every update needs the record's _id")
        results: list[WriteResult] = []
        outage: TransientError | None = None
        for update in updates:
            record_id = str(update["_id"])
            if outage is not None:  # the system is down: the rest are reported unsent, not hammered
                results.append(_unsent(record_id, outage))
                continue
            values = {k: v for k, v in update.items() if k != "details"}
            data: dict[str, Any] = {"object_data": {"dataObjectApiName": api_name, **_wire_value(values)}}
            if update.get("details"):
                data["details"] = _wire_value(update["details"])
            try:
                self._call(UPDATE_PATH, data, top={"triggerWorkFlow": False, "triggerApprovalFlow": False})
            except TransientError as exc:
                outage = exc
                results.append(_unsent(record_id, exc))
            except AuthError:
                raise
            except PermanentError as exc:
                results.append(WriteResult(record_id, False, exc.code, exc.message))
            else:
                results.append(WriteResult(record_id, True, "0", None))
        return results

    # -- reorder reminders (ActiveRecordObj) --------------------------------------------------------

    def find_reminders(self, keys: Sequence[str]) -> dict[str, str]:
        """The sales records that already carry one of ``keys`` in ``field_hub_key__c``: key → ``_id``
        (the oldest when a key was written twice)."""
        wanted = list(dict.fromkeys(str(k) for k in keys))
        found: dict[str, str] = {}
        for chunk in chunked(wanted, MAX_LIMIT):
            filters = [flt(REMINDER_KEY, "IN", *chunk)]
            for page in self.iter_objects(SALES_RECORDS, filters, ["_id", REMINDER_KEY]):
                for record in page:
                    key = record.get(REMINDER_KEY)
                    if key in chunk and key not in found:
                        found[key] = str(record["_id"])
        return found

    def create_reminders(self, payloads: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """Create sales records (each payload carries ``field_hub_key__c``), one call each, workflow and
        approval flows off. One result per payload, in order: ``record_id`` is the new ``dataId``, or
        the key of a payload that was refused or not sent (the system down: the rest are not tried)."""
        keys = [str(p.get(REMINDER_KEY) or "") for p in payloads]
        if not all(keys):
            raise ValueError(f"every reminder needs its {REMINDER_KEY}")
        results: list[WriteResult] = []
        outage: TransientError | None = None
        for payload, key in zip(payloads, keys, strict=True):
            if outage is not None:
                results.append(_unsent(key, outage))
                continue
            data = {"object_data": {"dataObjectApiName": SALES_RECORDS.name, **_wire_value(dict(payload))}}
            try:
                body = self._call(CREATE_PATH, data, top={"triggerWorkFlow": False, "triggerApprovalFlow": False})
            except TransientError as exc:  # may or may not have been created: the next run looks first
                outage = exc
                results.append(_unsent(key, exc))
            except AuthError:
                raise
            except PermanentError as exc:
                results.append(WriteResult(key, False, exc.code, exc.message))
            else:
                results.append(WriteResult(str(body.get("dataId") or key), True, "0", None))
        return results

    # -- plumbing -----------------------------------------------------------------------------------

    def _call(self, path: str, data: Mapping[str, Any], *, top: Mapping[str, Any] | None = None) -> dict[str, Any]:
        url = self.config.base_url.rstrip("/") + path

        def send(token: _Token) -> dict[str, Any]:
            body = {
                "corpAccessToken": token.value,
                "corpId": token.corp_id,
                "currentOpenUserId": self.config.current_open_user_id,
                **(top or {}),
                "data": data,
            }
            return self._http.send("POST", url, json_body=body, interpret=_interpret)

        return self._with_token(send, rejected_code=str(TOKEN_REJECTED))

    def _valid_token(self) -> _Token:
        # Shared too: the token endpoint takes at most 10 calls a minute per app.
        token = self._token or self._shared_token()
        if token is None or self._clock() >= token.renew_at:
            token = self._fetch_token()
            self._share({"corpAccessToken": token.value, "corpId": token.corp_id}, token.renew_at)
        self._token = token
        return token

    def _credential_parts(self) -> tuple[str, ...]:
        cfg = self.config
        return (cfg.base_url, cfg.app_id, cfg.permanent_code)

    def _token_from(self, fields: dict[str, Any], deadline: float) -> _Token:
        return _Token(value=fields["corpAccessToken"], corp_id=fields["corpId"], renew_at=deadline)

    def _fetch_token(self) -> _Token:
        cfg = self.config
        body = self._http.send(
            "POST",
            cfg.base_url.rstrip("/") + TOKEN_PATH,
            json_body={"appId": cfg.app_id, "appSecret": cfg.app_secret, "permanentCode": cfg.permanent_code},
            interpret=_interpret_token,
        )
        self.token_refreshes += 1
        remaining = float(body.get("expiresIn") or TOKEN_LIFETIME)
        # `expiresIn` counts down from 7,200; the server repeats the token until its age is 6,600 s.
        # Renew once our own reuse limit or the token's end (less a margin) comes, whichever is first.
        keep = min(cfg.token_reuse_seconds, remaining - cfg.token_refresh_margin)
        return _Token(
            value=str(body["corpAccessToken"]),
            corp_id=str(body.get("corpId") or ""),
            renew_at=self._clock() + max(keep, 0.0),
        )


# ---------------------------------------------------------------------------------------------------
# Response interpretation (runs inside each HTTP attempt)
# ---------------------------------------------------------------------------------------------------


def _modified_since(resource: Resource, since: datetime | None) -> list[dict[str, Any]]:
    if since is None:
        return []
    return [flt(resource.cursor or "last_modified_time", "GTE", datetime_to_ms(require_aware(since)))]


def _envelope(response: requests.Response) -> tuple[int, dict[str, Any]]:
    if response.status_code >= 300:
        raise PermanentError(
            SYSTEM,
            f"HTTP {response.status_code}: {response.text[:300]}",
            code=f"HTTP_{response.status_code}",
            status=response.status_code,
        )
    try:
        body = loads_json(response)
    except ValueError:
        # A 200 that is not JSON comes from something in front of the API (gateway, proxy page).
        raise RetryableError("HTTP 200 without a JSON body", status=response.status_code, code="INVALID_BODY") from None
    if not isinstance(body, dict) or "errorCode" not in body:
        raise PermanentError(SYSTEM, "response without an errorCode envelope", code="INVALID_BODY")
    try:
        code = int(body["errorCode"])
    except (TypeError, ValueError):
        raise PermanentError(SYSTEM, f"non-numeric errorCode {body['errorCode']!r}", code="INVALID_BODY") from None
    return code, body


def _describe(body: Mapping[str, Any]) -> str:
    parts = [str(body.get(k)) for k in ("errorMessage", "errorDescription") if body.get(k)]
    if body.get("traceId"):
        parts.append(f"traceId={body['traceId']}")
    return "; ".join(parts) or "no message"


def _interpret(response: requests.Response) -> dict[str, Any]:
    code, body = _envelope(response)
    if code == 0:
        return body
    if code == TOKEN_REJECTED:
        raise TokenRejected(str(code))
    if code in TRANSIENT_CODES:
        raise RetryableError(f"errorCode {code}: {_describe(body)}", status=response.status_code, code=str(code))
    raise BusinessError(SYSTEM, _describe(body), code=str(code), status=response.status_code)


def _interpret_token(response: requests.Response) -> dict[str, Any]:
    code, body = _envelope(response)
    if code == 0 and body.get("corpAccessToken"):
        return body
    if code in TRANSIENT_CODES:
        raise RetryableError(f"token errorCode {code}: {_describe(body)}", code=str(code))
    raise AuthError(SYSTEM, f"corpAccessToken refused: {_describe(body)}", code=str(code))


def _unsent(record_id: str, error: TransientError) -> WriteResult:
    return WriteResult(record_id, False, error.code or "TRANSIENT", error.message, retryable=True)
