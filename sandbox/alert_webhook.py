"""A generic alert webhook receiver: ``POST /hooks/alerts``, what an operations tool (a ticket system,
an on-call service) would run behind the hub's ``alert_webhook`` Connection.

It takes the hub's JSON alert messages as connectors/webhook.py sends them: ``X-Hub-Message-Id``,
``X-Hub-Timestamp`` (epoch seconds, within 5 minutes of the host's clock) and ``X-Hub-Signature-256:
sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` keyed by its secret. Answers: 202 stored; 200
``{"duplicate": true}`` for a message id it already holds (stored once: the at-least-once resend);
401 a missing or wrong signature or a stale timestamp; 400 a body that is not a JSON object or no
message id. Faults: throttling, quota and concurrency answer 429 (with the configured Retry-After); a
server error the configured 5xx. Messages at ``GET /_sandbox/alert_webhook/messages``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.faults import FaultConfig, FaultKind
from sandbox.robots import MAX_BODY, Inbox, RateWindow, inbox_routes
from sandbox.system import EmulatedSystem, SandboxContext

PATH = "/alerts"
WINDOW_SECONDS = 300


class AlertWebhook(EmulatedSystem):
    name = "alert_webhook"
    prefix = "/hooks"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        self.secret = hashlib.sha256(f"{ctx.seed}:alert_webhook:secret".encode()).hexdigest()[:40]
        self.inbox = Inbox()
        self.rates = RateWindow(10**9, 60.0)  # no documented limit: only the fault settings throttle

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self._receive, methods=["POST"])]

    def connection_info(self, base_url: str) -> dict[str, Any]:
        return {"url": f"{base_url}{self.prefix}{PATH}", "secret": self.secret}

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        if kind == "server_error":
            return JSONResponse({"error": "receiver unavailable"}, status_code=config.status_5xx)
        headers = {"Retry-After": str(config.retry_after)} if config.retry_after is not None else None
        return JSONResponse({"error": "too many requests"}, status_code=429, headers=headers)

    def not_found(self, path: str) -> Response:
        return JSONResponse({"error": "not found"}, status_code=404)

    async def _receive(self, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        stamp = request.headers.get("x-hub-timestamp", "")
        given = request.headers.get("x-hub-signature-256", "")
        wanted = (
            "sha256=" + hmac.new(self.secret.encode(), stamp.encode("latin-1") + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(given.encode("latin-1", "replace"), wanted.encode("ascii")):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if not (
            stamp.isascii() and stamp.isdigit() and len(stamp) < 15 and abs(time.time() - int(stamp)) <= WINDOW_SECONDS
        ):
            return JSONResponse({"error": "stale timestamp"}, status_code=401)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        message_id = request.headers.get("x-hub-message-id", "")
        if not isinstance(body, dict) or not message_id:
            return JSONResponse({"error": "a JSON object with an X-Hub-Message-Id is required"}, status_code=400)
        if any(m["message_id"] == message_id for m in self.inbox.query(None, 0)):
            return JSONResponse({"duplicate": True}, status_code=200)
        self.inbox.add("alerts", self.ctx.clock.now(), message_id=message_id, body=body)
        self.ctx.writes.add(self.name, {"message_id": message_id})
        return JSONResponse({"stored": message_id}, status_code=202)

    def control_routes(self) -> list[Route]:
        return inbox_routes(self.inbox, self.rates, lambda body: "this receiver has one secret; no robots to add")
