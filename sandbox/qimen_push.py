"""The WMS's pushes to the ERP's receiver URL: ``taobao.qimen.stockout.confirm``, and the count and stock
change reports ``taobao.qimen.inventory.report`` / ``taobao.qimen.stockchange.report``
(:mod:`sandbox.qimen_counts`), each message under its own method.

Each message is signed per logistics_report.md §1.3 with the one app_key/secret pair (query params
method, timestamp (sandbox clock, GMT+8), format, app_key, v, sign_method, customerId, plus any the
receiver URL already carries) and pushed until the receiver answers ``flag=success``, as a real WMS
keeps a 回传失败 state and pushes again (§2). Messages of one document (an order, a count's pages)
go out in order: a later one waits while an earlier one is undelivered. A message drawn as a
duplicate is pushed once more right after its first success.

Two ways to push, never both at once (one lock):

- the background task, started on the server's loop when a receiver URL is set: every 0.5 s of
  real time, unless the sandbox clock is frozen, it works the warehouse up to the clock and pushes
  what is due; a failed message waits 1, 2, 4 … s (capped at 60 s, real time) before its next try;
- :meth:`Pusher.push_due`, behind ``POST /_sandbox/qimen_wms/push``: everything due now, at once,
  backoff ignored, frozen clock or not; it answers what the receiver said to each push.

HTTP goes through ``requests`` in a worker thread, so the event loop never blocks. Push faults (not
gateway faults: these are the WMS's own mistakes): ``bad_sign`` signs the next N pushes with a wrong
secret; ``late_minutes`` holds confirms back that many sandbox minutes after shipping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from sandbox.clock import iso_z
from sandbox.logs import masked_query
from sandbox.qimen_warehouse import CONFIRM_METHOD, Message, Warehouse
from sandbox.qimen_xml import gmt8, qimen_sign, read_response
from sandbox.system import SandboxContext

log = logging.getLogger("sandbox.qimen")

INTERVAL = 0.5  # real seconds between background rounds
BACKOFF_CAP = 60.0
TIMEOUT = (5.0, 15.0)  # connect, read


@dataclass(frozen=True)
class Credentials:
    app_key: str
    secret: str
    customer_id: str


class Pusher:
    def __init__(self, ctx: SandboxContext, system: str, warehouse: Warehouse, credentials: Credentials) -> None:
        self.ctx = ctx
        self.system = system
        self.warehouse = warehouse
        self.credentials = credentials
        self.url: str | None = None
        self.bad_sign = 0  # the next N pushes carry a wrong sign
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None

    def set_receiver(self, url: str | None) -> None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url

    def ensure_running(self) -> None:
        """Start the background pusher on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            if self.url and not self.ctx.clock.frozen:
                try:
                    await self.push_due(background=True)
                except Exception:
                    log.exception("a background push round failed")

    async def push_due(self, *, background: bool = False) -> list[dict[str, Any]]:
        """Work the warehouse up to the clock and push every due message; one result per push."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = self.ctx.clock.now()
            self.warehouse.advance(now)
            if not self.url:
                return []
            results: list[dict[str, Any]] = []
            waiting: set[str] = set()  # orders with an earlier message still undelivered
            pending = [m for m in self.warehouse.outbox if not m.delivered or (m.duplicate and not m.duplicate_sent)]
            for message in sorted(pending, key=lambda m: (m.ready, m.seq)):
                if message.order_code in waiting:
                    continue
                if not message.delivered:
                    if message.ready > now or (background and message.next_try > time.monotonic()):
                        waiting.add(message.order_code)
                        continue
                    results.append(await self._send(message, duplicate=False))
                    if not message.delivered:
                        waiting.add(message.order_code)
                        continue
                if message.duplicate and not message.duplicate_sent:
                    message.duplicate_sent = True
                    results.append(await self._send(message, duplicate=True))
            return results

    async def _send(self, message: Message, *, duplicate: bool) -> dict[str, Any]:
        assert self.url is not None
        now = self.ctx.clock.now()
        creds = self.credentials
        parts = urlsplit(self.url)
        params = parse_qsl(parts.query, keep_blank_values=True) + [
            ("method", message.method),
            ("timestamp", gmt8(now)),
            ("format", "xml"),
            ("app_key", creds.app_key),
            ("v", "2.0"),
            ("sign_method", "md5"),
            ("customerId", creds.customer_id),
        ]
        bad_sign = self.bad_sign > 0
        if bad_sign:
            self.bad_sign -= 1
        sign = qimen_sign(params, message.body, creds.secret + ("-wrong" if bad_sign else ""))
        query = urlencode([*params, ("sign", sign)])
        target = urlunsplit(parts._replace(query=query))
        entry = self.ctx.calls.start(self.system, "POST", self.url, masked_query(query.encode()), iso_z(now))
        entry["direction"] = "push"
        entry["fault"] = "bad_sign" if bad_sign else "duplicate" if duplicate else None
        started = time.monotonic()
        status: int | None = None
        answer: dict[str, str] = {}
        error: str | None = None
        try:
            response = await asyncio.to_thread(
                requests.post,
                target,
                data=message.body,
                headers={"Content-Type": "text/xml;charset=utf-8"},
                timeout=TIMEOUT,
            )
            status = response.status_code
            answer = read_response(response.content)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = answer.get("flag") == "success"
        entry["status"] = status
        entry["error_code"] = None if ok else answer.get("code") or error or "no flag in the answer"
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        confirm = message.method == CONFIRM_METHOD
        result = {
            "method": message.method,
            "outBizCode": message.out_biz_code,
            "deliveryOrderCode": message.order_code if confirm else None,
            "document": message.order_code,
            "confirmType": message.confirm_type,
            "duplicate": duplicate,
            "bad_sign": bad_sign,
            "status": status,
            "flag": answer.get("flag"),
            "code": answer.get("code"),
            "message": answer.get("message"),
            "error": error,
        }
        if not duplicate:
            message.attempts += 1
            result["attempt"] = message.attempts
            message.last_answer = {k: result[k] for k in ("status", "flag", "code", "message", "error")}
            if ok:
                message.delivered = True
            else:
                message.next_try = time.monotonic() + min(2.0 ** (message.attempts - 1), BACKOFF_CAP)
        return result
