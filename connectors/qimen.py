"""Alibaba 奇门 (Qimen) warehouse-standard client, and the sign check of the hub's receiver.

Wire rules (reference/logistics_report.md §1–§3):

* ``POST {url}?method=…&timestamp=…&format=xml&app_key=…&v=2.0&sign=…&sign_method=md5&customerId=…``
  with the system parameters in the query string and the XML document as the raw body
  (``text/xml;charset=utf-8``); the query string is built in that order, values URL-encoded with ``+``
  for a space, exactly as the report's vector shows (§1.4).
* ``sign = upper(hex(md5(secret + k1v1k2v2… + body + secret)))`` over the UTF-8 bytes, parameters
  sorted by key in byte order, ``sign`` itself left out (§1.3). The client drops empty parameters
  (and never sends one); the receiver side keeps them (§1.5), so the two rules differ on purpose.
* Timestamps are GMT+8 ``yyyy-MM-dd HH:mm:ss``; the receiver's window is one-sided (only a timestamp
  older than the window fails).
* HTTP 200 with ``<response><flag>success|failure</flag><code/><message/>…``: ``flag != success`` is a
  business refusal (:class:`QimenBusinessError`, never retried); ``sign-check-failure`` is a
  configuration problem (:class:`QimenAuthError`). Timeouts, refused connections, 429 and 5xx are
  retried by the project's policy (:mod:`connectors.retry`); the creates and the cancel are writes, so
  they are repeated only where the WMS cannot have acted (DESIGN §3.5), and otherwise left to the
  ledger and the task retry.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import requests

from connectors.base import ConnectionLike, OwnsHttp, base_url_of, transport_extras
from connectors.http import (
    DEFAULT_TIMEOUT,
    AuthError,
    BusinessError,
    HttpClient,
    PermanentError,
    RetryPolicy,
    Timeout,
    expect_success,
)
from connectors.qimen_xml import QimenXmlError, parse_response, serialize

log = logging.getLogger(__name__)

SYSTEM = "qimen"
METHOD_PREFIX = "taobao.qimen."
CONTENT_TYPE = "text/xml;charset=utf-8"
VERSION = "2.0"
SIGN_METHOD = "md5"
GMT8 = timezone(timedelta(hours=8))  # the SDK's DATE_TIMEZONE "GMT+8": a fixed offset, no DST
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
SIGN_CHECK_FAILURE = "sign-check-failure"
INVENTORY_QUERY_BATCH = 100  # criteria per inventory.query call: the standard's page limit (§3.7, §3.9)


# ---------------------------------------------------------------------------------------------------
# Sign
# ---------------------------------------------------------------------------------------------------


def _md5_upper(text_parts: list[bytes]) -> str:
    digest = hashlib.md5(usedforsecurity=False)  # the protocol's choice, not ours
    for part in text_parts:
        digest.update(part)
    return digest.hexdigest().upper()


def sign(params: Mapping[str, str], body: str | bytes, secret: str) -> str:
    """The client's md5 sign (§1.3): every parameter but ``sign``, empty ones dropped, sorted by key in
    byte order, ``secret + k1v1… + body + secret``, 32 upper-case hex characters.

    ``body`` is the exact text (or its UTF-8 bytes) that is sent."""
    return _sign(params, body, secret, keep_empty=False)


def _sign(params: Mapping[str, str], body: str | bytes, secret: str, *, keep_empty: bool) -> str:
    pairs = sorted(
        ((k, v) for k, v in params.items() if k != "sign" and (keep_empty or v not in ("", None))),
        key=lambda kv: kv[0].encode("utf-8"),  # Arrays.sort on Java strings: UTF-16 units; equal for ASCII keys
    )
    joined = "".join(f"{k}{'' if v is None else v}" for k, v in pairs)
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    key = secret.encode("utf-8")
    return _md5_upper([key, joined.encode("utf-8"), raw, key])


def format_timestamp(moment: datetime) -> str:
    """``moment`` (aware) as the GMT+8 ``yyyy-MM-dd HH:mm:ss`` Qimen signs and checks."""
    if moment.tzinfo is None:
        raise ValueError("timestamp needs an aware datetime")
    return moment.astimezone(GMT8).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """A Qimen timestamp (GMT+8, ``yyyy-MM-dd HH:mm:ss``) as an aware datetime; ``ValueError`` if not one."""
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=GMT8)


class SignCheckFailure(Exception):
    """A pushed request the receiver must refuse: ``reason`` says why (for the log, never the answer,
    which is always Qimen's ``sign-check-failure`` / ``Illegal request``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(
    query: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    now: datetime,
    window_minutes: float,
) -> None:
    """Check a pushed request as ``SpiUtils.checkSign`` / ``checkTimestamp`` do (§1.5); raise
    :class:`SignCheckFailure` when it fails.

    ``query`` holds the decoded query parameters, ``body`` the body's UTF-8 bytes. Every parameter but
    ``sign`` is signed, empty ones included; the sign is compared as an exact string (in constant
    time). The timestamp window is one-sided: only a timestamp more than ``window_minutes`` older than
    ``now`` fails (a later one passes, as in the SDK)."""
    given = query.get("sign")
    if not given:
        raise SignCheckFailure("no sign parameter")
    expected = _sign(query, body, secret, keep_empty=True)
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise SignCheckFailure("sign does not match")
    stamp = query.get("timestamp")
    if not stamp:
        raise SignCheckFailure("no timestamp parameter")
    try:
        sent = parse_timestamp(stamp)
    except ValueError:
        raise SignCheckFailure(f"timestamp {stamp[:40]!r} is not yyyy-MM-dd HH:mm:ss") from None
    if now.tzinfo is None:
        raise ValueError("now needs an aware datetime")
    if now - sent > timedelta(minutes=window_minutes):
        raise SignCheckFailure(f"timestamp {stamp} is older than {window_minutes:g} minutes")


def short_method(method: str) -> str:
    """``taobao.qimen.stockout.confirm`` and ``stockout.confirm`` both → ``stockout.confirm`` (§5.5)."""
    return method.removeprefix(METHOD_PREFIX)


def full_method(method: str) -> str:
    return method if method.startswith(METHOD_PREFIX) else METHOD_PREFIX + method


# ---------------------------------------------------------------------------------------------------
# Responses and errors
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QimenResponse:
    """A parsed ``<response>``: ``flag``, ``code``, ``message`` and the method's own fields (``fields``,
    canonical camelCase as :func:`connectors.qimen_xml.parse_response` gives them)."""

    flag: str
    code: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    raw: str = field(default="", repr=False)

    @property
    def success(self) -> bool:
        return self.flag == "success"  # the SDK's isSuccess(): exactly this string

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class QimenBusinessError(BusinessError):
    """The WMS answered ``flag`` ``failure``: ``code`` and ``qimen_message`` as it sent them."""

    def __init__(self, method: str, response: QimenResponse) -> None:
        super().__init__(SYSTEM, f"{method} refused: {response.message}", code=response.code or "failure")
        self.method = method
        self.qimen_message = response.message
        self.response = response


class QimenAuthError(AuthError):
    """The WMS refused our sign (``sign-check-failure``): app key, secret, customerId or clock wrong."""


def interpret(method: str, response: requests.Response) -> QimenResponse:
    """The :class:`QimenResponse` of an HTTP answer; raises for a refusal or an unreadable body."""
    expect_success(response, SYSTEM)
    raw = response.content.decode("utf-8", errors="replace")
    try:
        fields = parse_response(response.content)
    except QimenXmlError as exc:
        raise PermanentError(
            SYSTEM, f"{method}: the answer is not a Qimen <response>: {exc.message}", code="MALFORMED_RESPONSE"
        ) from None
    result = QimenResponse(
        flag=str(fields.pop("flag", "")),
        code=str(fields.pop("code", "")),
        message=str(fields.pop("message", "")),
        fields=fields,
        raw=raw,
    )
    if result.success:
        return result
    if result.code == SIGN_CHECK_FAILURE:
        raise QimenAuthError(SYSTEM, f"{method}: the WMS refused the sign: {result.message}", code=result.code)
    raise QimenBusinessError(method, result)


# ---------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QimenClient(OwnsHttp):
    """The hub's side of one Qimen binding (app key, secret, customerId) to a WMS endpoint."""

    def __init__(
        self,
        url: str,
        app_key: str,
        secret: str,
        customer_id: str,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = _utcnow,
        timeout: Timeout | None = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        for name, value in (("url", url), ("app_key", app_key), ("secret", secret), ("customer_id", customer_id)):
            if not value:
                raise ValueError(f"QimenClient needs {name}")
        self.url = url
        self.app_key = app_key
        self._secret = secret
        self.customer_id = customer_id
        self._clock = clock
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = HttpClient(SYSTEM, timeout=timeout, verify_tls=verify_tls, retry=retry, session=session, **extra)

    def __repr__(self) -> str:  # the secret stays out
        return f"QimenClient(url={self.url!r}, app_key={self.app_key!r}, customer_id={self.customer_id!r})"

    @classmethod
    def from_connection(cls, conn: ConnectionLike, **kwargs: Any) -> QimenClient:
        """host = the endpoint URL, login = app_key, password = secret; extras: ``customer_id`` and the
        transport extras ``timeout``, ``verify_tls``, ``max_attempts``, ``backoff_base``, ``backoff_cap``."""
        extra = dict(conn.extra_dejson or {})
        return cls(
            base_url_of(conn),
            conn.login or "",
            conn.password or "",
            str(extra.get("customer_id") or ""),
            **transport_extras(extra, DEFAULT_TIMEOUT),
            **kwargs,
        )

    def signed_query(self, method: str, body: str) -> str:
        """The query string (without ``?``) of one call: system parameters in the report's order."""
        params = {
            "method": full_method(method),
            "timestamp": format_timestamp(self._clock()),
            "format": "xml",
            "app_key": self.app_key,
            "v": VERSION,
            "sign_method": SIGN_METHOD,
            "customerId": self.customer_id,
        }
        signature = sign(params, body, self._secret)
        ordered = [(k, params[k]) for k in ("method", "timestamp", "format", "app_key", "v")]
        ordered += [("sign", signature), ("sign_method", SIGN_METHOD), ("customerId", self.customer_id)]
        return urlencode(ordered)  # quote_plus: space → '+', ':' → %3A, as §1.4 shows

    def call(self, method: str, document: Mapping[str, Any], *, idempotent: bool = True) -> QimenResponse:
        """Send ``document`` as ``method`` (``stockout.create`` or its ``taobao.qimen.`` form): serialised
        once, signed over the exact UTF-8 bytes posted. Returns the success response; raises
        :class:`QimenBusinessError` on ``flag`` failure, :class:`QimenAuthError` on a refused sign,
        ``TransientError`` when the transport kept failing."""
        name = full_method(method)
        body = serialize(document)
        payload = body.encode("utf-8")
        separator = "&" if "?" in self.url else "?"
        url = f"{self.url}{separator}{self.signed_query(name, body)}"
        response = self.http.send(
            "POST",
            url,
            data=payload,  # type: ignore[arg-type] - raw bytes: requests posts them unchanged
            headers={"Content-Type": CONTENT_TYPE},
            interpret=lambda r: interpret(name, r),
            idempotent=idempotent,
        )
        log.info("qimen %s: %s %s", name, response.flag, response.code)
        return response

    # -- ERP → WMS ----------------------------------------------------------------------------------

    def stockout_create(self, document: Mapping[str, Any]) -> QimenResponse:
        """出库单创建 (§3.1): ``{"deliveryOrder": {...}, "orderLines": [...], "extendProps": {...}}``.
        The answer carries ``deliveryOrderId`` (the WMS number) in ``fields``. A write: repeated only
        where the WMS cannot have received it."""
        return self.call("stockout.create", document, idempotent=False)

    def order_cancel(
        self,
        *,
        warehouse_code: str,
        order_code: str,
        owner_code: str | None = None,
        order_id: str | None = None,
        order_type: str | None = None,
        cancel_reason: str | None = None,
    ) -> QimenResponse:
        """单据取消 (§3.8). ``QimenBusinessError`` when the WMS refuses (the goods already left)."""
        document = {
            "warehouseCode": warehouse_code,
            "ownerCode": owner_code,
            "orderCode": order_code,
            "orderId": order_id,
            "orderType": order_type,
            "cancelReason": cancel_reason,
        }
        return self.call("order.cancel", document, idempotent=False)

    def stockout_query(
        self,
        *,
        delivery_order_code: str,
        delivery_order_id: str | None = None,
        owner_code: str | None = None,
        warehouse_code: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> QimenResponse:
        """出库单查询 (§3.9): the pull substitute of ``stockout.confirm`` (optional for a WMS)."""
        document = {
            "deliveryOrderCode": delivery_order_code,
            "deliveryOrderId": delivery_order_id,
            "ownerCode": owner_code,
            "warehouseCode": warehouse_code,
            "page": page,
            "pageSize": page_size,
        }
        return self.call("stockout.query", document)

    def orderprocess_query(
        self,
        *,
        order_code: str,
        order_type: str | None = None,
        order_id: str | None = None,
        warehouse_code: str | None = None,
        owner_code: str | None = None,
    ) -> QimenResponse:
        """单据流水查询 (§3.9): ``orderProcess`` with ``processes`` (a list) in ``fields``."""
        document = {
            "orderCode": order_code,
            "orderType": order_type,
            "orderId": order_id,
            "warehouseCode": warehouse_code,
            "ownerCode": owner_code,
        }
        return self.call("orderprocess.query", document)

    def inventory_query(
        self,
        warehouse: str | None,
        item_codes: Iterable[str],
        *,
        owner_code: str | None = None,
        inventory_type: str | None = None,
        batch_size: int = INVENTORY_QUERY_BATCH,
    ) -> list[WmsStock]:
        """库存查询 (§3.7): the WMS's stock of ``item_codes`` in ``warehouse`` (None: every warehouse),
        every inventory type unless ``inventory_type`` names one. Item codes are deduplicated and asked
        ``batch_size`` criteria per call. One :class:`WmsStock` per row the WMS answers (warehouse, item,
        type, batch): ``quantity`` unfrozen (未冻结), ``lock_quantity`` frozen (冻结); on hand is their sum.
        A row that is not readable (no item, a quantity that is not a number) raises ``PermanentError``
        naming it: a snapshot with a hole in it is not a snapshot."""
        if not 1 <= batch_size <= INVENTORY_QUERY_BATCH:
            raise ValueError(f"batch_size must be 1..{INVENTORY_QUERY_BATCH}")
        codes = list(dict.fromkeys(c for c in item_codes))
        if not codes or not all(isinstance(c, str) and c for c in codes):
            raise ValueError("inventory_query needs item codes (non-empty strings)")
        rows: list[WmsStock] = []
        for start in range(0, len(codes), batch_size):
            criteria = [
                {"itemCode": code, "warehouseCode": warehouse, "ownerCode": owner_code, "inventoryType": inventory_type}
                for code in codes[start : start + batch_size]
            ]
            response = self.call("inventory.query", {"criteriaList": criteria})
            items = response.get("items") or []
            if not isinstance(items, list):
                items = [items]
            rows += [_stock_row(item, n, warehouse) for n, item in enumerate(items, 1)]
        return rows


@dataclass(frozen=True)
class WmsStock:
    """One row of an inventory.query answer, typed."""

    warehouse: str
    item_code: str
    inventory_type: str  # ZP 正品, CC 残次, JS 机损, XS 箱损, ZT 在途 (ZP when the WMS leaves it out)
    quantity: Decimal  # unfrozen (available)
    lock_quantity: Decimal  # frozen
    batch: str = ""  # batchCode, "" when none

    @property
    def on_hand(self) -> Decimal:
        return self.quantity + self.lock_quantity


def _stock_row(item: Any, n: int, warehouse: str | None) -> WmsStock:
    where = f"inventory.query items[{n}]"

    def text(key: str) -> str:
        value = item.get(key, "")
        if not isinstance(value, str):
            raise PermanentError(SYSTEM, f"{where}.{key} is not text", code="MALFORMED_RESPONSE")
        return value.strip()

    def number(key: str, *, required: bool) -> Decimal:
        raw = text(key)
        if not raw and not required:
            return Decimal(0)
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            raise PermanentError(SYSTEM, f"{where}.{key} is not a number: {raw[:40]!r}", code="MALFORMED_RESPONSE")
        return value

    if not isinstance(item, dict):
        raise PermanentError(SYSTEM, f"{where} is not an element with fields", code="MALFORMED_RESPONSE")
    code = text("itemCode")
    held_in = text("warehouseCode") or warehouse or ""
    if not code or not held_in:
        missing = "itemCode" if not code else "warehouseCode"
        raise PermanentError(SYSTEM, f"{where} has no {missing}", code="MALFORMED_RESPONSE")
    return WmsStock(
        warehouse=held_in,
        item_code=code,
        inventory_type=text("inventoryType") or "ZP",
        quantity=number("quantity", required=True),
        lock_quantity=number("lockQuantity", required=False),
        batch=text("batchCode"),
    )
