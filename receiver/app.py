"""The receiver's ASGI app: ``POST /qimen`` (the Qimen callback URL) and ``GET /health``.

What one push goes through, in this order (reference/logistics_report.md §1.5, §3.11):

1. the raw body bytes are read first (at most :data:`MAX_BODY` bytes), before anything is parsed;
2. the sign and the timestamp are checked with the hub's own secret, as ``SpiUtils`` does: every query
   parameter but ``sign``, empty ones too, the body decoded with the charset of ``Content-Type``
   (UTF-8 when none), a one-sided window; a failure is Qimen's ``sign-check-failure`` /
   ``Illegal request``, whatever the reason (the reason goes to the log only);
3. the method (``taobao.qimen.stockout.confirm`` or ``stockout.confirm``…) must be one the hub takes;
4. the XML must be a well-formed ``<request>`` (refused otherwise, with a code naming the problem);
5. the message is stored in the inbox, committed, under its ``outBizCode`` (or the body's SHA-256):
   only then is ``success`` answered; a message already held is answered ``success`` again and not
   stored twice; a database that fails is answered ``failure``, so the WMS pushes again later.

Every answer is HTTP 200 ``text/xml;charset=utf-8`` with the ``<response>`` envelope; nothing a sender
does yields a 500 (an unexpected error is a ``failure`` answer and an ERROR log). After a new message is
stored, the Airflow Asset event of the inbox is emitted in the background when a notifier is configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.qimen import SIGN_CHECK_FAILURE, SignCheckFailure, short_method, verify
from connectors.qimen_xml import QimenXmlError, parse_request, response_xml
from connectors.redaction import redact
from hub.repositories import inbox
from receiver.asset_events import AirflowAssetNotifier
from receiver.messages import ACCEPTED, filing

log = logging.getLogger("receiver")

MAX_BODY = 8 * 1024 * 1024  # far above any confirm; a larger body is refused before it is held
CONTENT_TYPE = "text/xml;charset=utf-8"


class _Refusal(Exception):
    """A push answered ``failure`` with this code and message."""

    def __init__(self, code: str, message: str, *, log_reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.log_reason = log_reason or message


def _answer(flag: str, code: str, message: str) -> Response:
    return Response(response_xml(flag, code, message), status_code=200, headers={"content-type": CONTENT_TYPE})


def _success() -> Response:
    return _answer("success", "0", "success")


def _illegal(reason: str) -> _Refusal:
    return _Refusal(SIGN_CHECK_FAILURE, "Illegal request", log_reason=reason)


def _charset(content_type: str | None) -> str:
    if not content_type:
        return "utf-8"
    message = Message()
    message["content-type"] = content_type
    return str(message.get_param("charset") or "utf-8").strip().lower()


def _query(raw_query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise _illegal("query string is not UTF-8") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:  # which of two values did the sender sign? Neither is safe to guess.
            raise _illegal(f"parameter {key[:40]!r} repeated")
        query[key] = value
    return query


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise _Refusal("body-too-large", f"the body exceeds {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _Refusal("body-too-large", f"the body exceeds {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    engine_factory: Callable[[], Engine],
    secret: str,
    app_key: str | None = None,
    customer_id: str | None = None,
    *,
    window_minutes: float = 10,
    asset_notifier: AirflowAssetNotifier | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Starlette:
    """The receiver for one Qimen binding.

    ``engine_factory`` gives the hub database's engine; it is called on the first push (not at start,
    so a database that is down does not stop the receiver) and again after a failure to create it.
    ``secret`` verifies the sign; ``app_key`` and ``customer_id``, when given, must match the pushed
    ``app_key`` and ``customerId``. ``window_minutes``: how stale a timestamp may be."""
    if not secret:
        raise ValueError("the receiver needs the Qimen secret")
    engine_lock = threading.Lock()
    engines: list[Engine] = []

    def engine() -> Engine:
        with engine_lock:
            if not engines:
                engines.append(engine_factory())
            return engines[0]

    def check(query: dict[str, str], text_bytes: bytes) -> str:
        try:
            verify(query, text_bytes, secret, now=clock(), window_minutes=window_minutes)
        except SignCheckFailure as exc:
            raise _illegal(exc.reason) from None
        if app_key is not None and query.get("app_key") != app_key:
            raise _illegal("app_key is not ours")
        if customer_id is not None and query.get("customerId") != customer_id:
            raise _illegal("customerId is not ours")
        method = short_method(query.get("method", ""))
        if method not in ACCEPTED:
            shown = query.get("method", "")[:80]
            raise _Refusal("invalid-method", f"method {shown!r} is not taken here; accepted: {', '.join(ACCEPTED)}")
        return method

    def store(method: str, key: str, document_code: str | None, body: str, params: dict[str, str]) -> bool:
        return inbox.store(
            engine(), method=method, message_key=key, document_code=document_code, body=body, params=params
        )

    async def qimen(request: Request) -> Response:
        try:
            raw = await _read_body(request)
            query = _query(request.url.query)
            charset = _charset(request.headers.get("content-type"))
            try:
                text = raw.decode(charset)
            except (LookupError, UnicodeDecodeError):
                raise _Refusal("invalid-charset", f"the body is not {charset[:40]} text") from None
            # The sign covers the text as the sender wrote it, in UTF-8 (§1.5, §5.2).
            text_bytes = raw if charset in ("utf-8", "utf8") else text.encode("utf-8")
            method = check(query, text_bytes)
            try:
                document = parse_request(text)
            except QimenXmlError as exc:
                raise _Refusal(exc.code, exc.message) from None
            filed = filing(method, document, text_bytes)
            params = {k: v for k, v in query.items() if k != "sign"}
            try:
                added = await run_in_threadpool(store, method, filed.message_key, filed.document_code, text, params)
            except Exception as exc:  # noqa: BLE001 - any database failure: the WMS must push again
                log.error(
                    "receiver: %s %s NOT stored (%s: %s); answered failure so the sender retries",
                    method,
                    filed.message_key,
                    type(exc).__name__,
                    redact(str(exc).splitlines()[0][:300]) if str(exc) else "",
                )
                return _answer("failure", "store-failed", "the message could not be stored; push it again later")
        except _Refusal as refusal:
            log.warning("receiver: refused a push (%s): %s", refusal.code, refusal.log_reason)
            return _answer("failure", refusal.code, refusal.message)
        except Exception:  # noqa: BLE001 - never a 500: the sender gets a failure and pushes again
            log.exception("receiver: unexpected error on a push")
            return _answer("failure", "internal-error", "the receiver failed; push it again later")
        log.info(
            "receiver: %s %s (%s) document %s: %s",
            method,
            filed.message_key,
            filed.keyed_by,
            filed.document_code or "-",
            "stored" if added else "duplicate",
        )
        response = _success()
        if added and asset_notifier is not None:
            extra: dict[str, Any] = {"method": method, "message_key": filed.message_key}
            response.background = BackgroundTask(asset_notifier.notify, extra)
        return response

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/qimen", qimen, methods=["POST"]), Route("/health", health, methods=["GET"])],
    )
