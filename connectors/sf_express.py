"""SF Express 丰桥 route query (``EXP_RECE_SEARCH_ROUTES``): where a parcel is, and when it was signed for.

Wire rules (reference/logistics_report.md §4):

* ``POST {url}`` form-encoded with ``partnerID``, ``requestID`` (a UUID), ``serviceCode``,
  ``timestamp`` (epoch milliseconds), ``msgDigest`` and ``msgData`` (a JSON string).
* ``msgDigest = Base64(MD5(URLEncode_UTF8(msgData + timestamp + checkWord)))`` with Java
  ``URLEncoder`` rules: space → ``+``, ``*`` kept, ``~`` → ``%7E`` (Python keeps ``~``: replaced here).
* The answer is JSON ``{"apiResultCode": "A1000", "apiErrorMsg", "apiResponseID", "apiResultData"}``
  where ``apiResultData`` is itself a JSON **string** (a second parse) holding ``success``,
  ``errorCode``, ``errorMsg`` and ``msgData.routeResps[{mailNo, routes[{acceptTime, acceptAddress,
  remark, opCode}]}]``. ``opCode`` 50 = 收件 (picked up), 80 = 签收 (signed for).

An ``apiResultCode`` other than ``A1000`` is a gateway refusal (:class:`SfApiError`, permanent); a
``success: false`` inside is a business refusal (:class:`SfBusinessError`). Transport failures are retried
by the project's policy; the query is a read, so every attempt is safe.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus

import requests

from connectors.base import ConnectionLike, OwnsHttp, base_url_of, transport_extras
from connectors.http import (
    DEFAULT_TIMEOUT,
    BusinessError,
    HttpClient,
    PermanentError,
    RetryPolicy,
    Timeout,
    expect_success,
)

SYSTEM = "sf_express"
SERVICE_ROUTES = "EXP_RECE_SEARCH_ROUTES"
API_OK = "A1000"
OP_PICKED_UP = "50"
OP_SIGNED_FOR = "80"
TRACKING_BY_WAYBILL = "1"
TRACKING_BY_ORDER = "2"
CHINA_TIME = timezone(timedelta(hours=8))  # acceptTime is written in China time, without an offset


def java_url_encode(text: str) -> str:
    """``java.net.URLEncoder.encode(text, "UTF-8")``: letters, digits and ``.-*_`` kept, space → ``+``,
    everything else ``%XX`` of its UTF-8 bytes (upper-case hex)."""
    return quote_plus(text, safe="*", encoding="utf-8").replace("~", "%7E")


def msg_digest(msg_data: str, timestamp: int | str, check_word: str) -> str:
    """SF's ``msgDigest`` of one request (§4)."""
    encoded = java_url_encode(f"{msg_data}{timestamp}{check_word}")
    md5 = hashlib.md5(encoded.encode("utf-8"), usedforsecurity=False).digest()  # the protocol's choice
    return base64.b64encode(md5).decode("ascii")


def routes_msg_data(
    tracking_numbers: Sequence[str],
    *,
    check_phone: str | None = None,
    tracking_type: str = TRACKING_BY_WAYBILL,
    language: str = "0",
) -> str:
    """The ``msgData`` JSON of a route query, compact and in the order of the report's vector."""
    data: dict[str, Any] = {
        "language": language,
        "trackingType": tracking_type,
        "trackingNumber": list(tracking_numbers),
        "methodType": "1",
    }
    if check_phone is not None:
        data["checkPhoneNo"] = check_phone
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Route:
    """One scan of a parcel. ``accept_time`` as SF sent it; ``accepted_at`` read as China time (or
    ``None`` when SF sent something else)."""

    accept_time: str
    accept_address: str
    remark: str
    op_code: str

    @property
    def accepted_at(self) -> datetime | None:
        try:
            return datetime.strptime(self.accept_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TIME)
        except ValueError:
            return None

    @property
    def signed_for(self) -> bool:
        return self.op_code == OP_SIGNED_FOR


@dataclass(frozen=True)
class RouteResponse:
    """The scans of one waybill, oldest first as SF lists them."""

    mail_no: str
    routes: tuple[Route, ...]

    @property
    def signed_for_at(self) -> datetime | None:
        """When the parcel was signed for (the first 签收 scan), ``None`` while it is on its way."""
        return next((r.accepted_at for r in self.routes if r.signed_for), None)


class SfApiError(PermanentError):
    """SF's gateway refused the call (``apiResultCode`` not A1000: digest, partner, service…)."""


class SfBusinessError(BusinessError):
    """The route service answered ``success: false`` (``errorCode``, ``errorMsg``)."""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_routes(response_json: Any) -> list[RouteResponse]:
    """The route responses of an SF answer (the outer JSON, already parsed once)."""
    if not isinstance(response_json, dict):
        raise PermanentError(SYSTEM, "the answer is not a JSON object", code="MALFORMED_RESPONSE")
    code = _text(response_json.get("apiResultCode"))
    if code != API_OK:
        raise SfApiError(SYSTEM, f"route query refused: {_text(response_json.get('apiErrorMsg'))}", code=code or None)
    raw = response_json.get("apiResultData")
    try:
        result = json.loads(raw) if isinstance(raw, str) else raw  # the second parse
    except ValueError:
        raise PermanentError(SYSTEM, "apiResultData is not JSON", code="MALFORMED_RESPONSE") from None
    if not isinstance(result, dict):
        raise PermanentError(SYSTEM, "apiResultData is not a JSON object", code="MALFORMED_RESPONSE")
    if result.get("success") is not True:
        raise SfBusinessError(
            SYSTEM,
            f"route query failed: {_text(result.get('errorMsg'))}",
            code=_text(result.get("errorCode")) or None,
        )
    resps = ((result.get("msgData") or {}).get("routeResps")) or []
    if not isinstance(resps, list):
        raise PermanentError(SYSTEM, "routeResps is not a list", code="MALFORMED_RESPONSE")
    parsed = []
    for resp in resps:
        if not isinstance(resp, dict):
            raise PermanentError(SYSTEM, "a routeResps entry is not an object", code="MALFORMED_RESPONSE")
        routes = tuple(
            Route(
                accept_time=_text(r.get("acceptTime")),
                accept_address=_text(r.get("acceptAddress")),
                remark=_text(r.get("remark")),
                op_code=_text(r.get("opCode")),
            )
            for r in (resp.get("routes") or [])
            if isinstance(r, dict)
        )
        parsed.append(RouteResponse(mail_no=_text(resp.get("mailNo")), routes=routes))
    return parsed


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class SfClient(OwnsHttp):
    """One SF 丰桥 partner account (``partnerID`` + ``checkWord``)."""

    def __init__(
        self,
        url: str,
        partner_id: str,
        check_word: str,
        *,
        session: requests.Session | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        request_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        timeout: Timeout | None = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        for name, value in (("url", url), ("partner_id", partner_id), ("check_word", check_word)):
            if not value:
                raise ValueError(f"SfClient needs {name}")
        self.url = url
        self.partner_id = partner_id
        self._check_word = check_word
        self._clock_ms = clock_ms
        self._request_id = request_id
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = HttpClient(SYSTEM, timeout=timeout, verify_tls=verify_tls, retry=retry, session=session, **extra)

    def __repr__(self) -> str:
        return f"SfClient(url={self.url!r}, partner_id={self.partner_id!r})"

    @classmethod
    def from_connection(cls, conn: ConnectionLike, **kwargs: Any) -> SfClient:
        """host = the service URL, login = partnerID, password = checkWord; transport extras as the others."""
        extra = dict(conn.extra_dejson or {})
        return cls(
            base_url_of(conn),
            conn.login or "",
            conn.password or "",
            **transport_extras(extra, DEFAULT_TIMEOUT),
            **kwargs,
        )

    def routes(
        self,
        tracking_numbers: Sequence[str],
        *,
        check_phone: str | None = None,
        tracking_type: str = TRACKING_BY_WAYBILL,
        language: str = "0",
    ) -> list[RouteResponse]:
        """The scans of each waybill in ``tracking_numbers``. ``check_phone``: the last four digits of
        the sender's or receiver's phone, which SF asks for when querying by waybill number."""
        numbers = [str(n) for n in tracking_numbers if str(n)]
        if not numbers:
            return []
        msg_data = routes_msg_data(numbers, check_phone=check_phone, tracking_type=tracking_type, language=language)
        timestamp = str(self._clock_ms())
        form = {
            "partnerID": self.partner_id,
            "requestID": self._request_id(),
            "serviceCode": SERVICE_ROUTES,
            "timestamp": timestamp,
            "msgDigest": msg_digest(msg_data, timestamp, self._check_word),
            "msgData": msg_data,
        }

        def interpret(response: requests.Response) -> list[RouteResponse]:
            expect_success(response, SYSTEM)
            try:
                body = json.loads(response.content.decode("utf-8"))
            except ValueError:
                raise PermanentError(SYSTEM, "the answer is not JSON", code="MALFORMED_RESPONSE") from None
            return parse_routes(body)

        return self.http.send("POST", self.url, data=form, interpret=interpret)
