"""The gateway in front of each emulated system: logs every call and injects the configured faults.

A dropped connection needs the raw socket, which ASGI does not expose; the server's protocol class
(:class:`sandbox.server.SandboxHttpProtocol`) puts the transport in the scope under
:data:`TRANSPORT_KEY`. Without it (another ASGI server) a drop degrades to an exception, which most
servers turn into a bare 500.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.clock import iso_z
from sandbox.faults import Decision
from sandbox.logs import masked_query
from sandbox.system import EmulatedSystem

TRANSPORT_KEY = "sandbox.transport"
_SNIFF_LIMIT = 16_384  # only small JSON bodies are parsed for the logged error code


def _route_path(scope: Scope) -> str:
    """The path below the system's mount point, e.g. ``/api/crm/v8/Accounts`` for ``/zoho/api/...``."""
    return scope["path"][len(scope.get("root_path", "")) :]


class ConnectionDropped(Exception):
    """Raised when the socket cannot be aborted directly."""


class Gateway:
    def __init__(self, app: ASGIApp, system: EmulatedSystem) -> None:
        self.app = app
        self.system = system

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = self.system.ctx
        state = ctx.fault_state(self.system.name)
        entry = ctx.calls.start(
            self.system.name,
            scope["method"],
            scope["path"],
            masked_query(scope.get("query_string", b"")),
            iso_z(ctx.clock.now()),
        )
        started = time.monotonic()
        applies = state.config.scope == "all" or self.system.is_api_path(_route_path(scope))
        state.in_flight += 1
        try:
            decision = state.decide() if applies else Decision()
            entry["fault"] = decision.kind
            if decision.slow_seconds:
                entry["fault"] = entry["fault"] or "slow"
                await asyncio.sleep(decision.slow_seconds)
            await self._answer(decision, scope, receive, send, entry)
        finally:
            state.in_flight -= 1
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)

    async def _answer(
        self, decision: Decision, scope: Scope, receive: Receive, send: Send, entry: dict[str, Any]
    ) -> None:
        if decision.kind == "drop":
            await _drop(scope, receive)
            return
        recorder = _Recorder(send, entry, truncate=decision.kind == "truncate")
        if decision.kind in (None, "truncate"):
            await self.app(scope, receive, recorder)
        else:
            response = self.system.fault_response(decision.kind, self.system.faults, _route_path(scope))
            await response(scope, receive, recorder)
        if recorder.truncated:
            await _drop(scope, receive)


class _Recorder:
    """Wraps ``send``: notes status and error code, and cuts the body in half when truncating."""

    def __init__(self, send: Send, entry: dict[str, Any], *, truncate: bool) -> None:
        self._send = send
        self._entry = entry
        self._truncate = truncate
        self._json = False
        self._body = bytearray()
        self.truncated = False

    async def __call__(self, message: Message) -> None:
        if self.truncated:
            return
        if message["type"] == "http.response.start":
            self._entry["status"] = message["status"]
            headers = dict(message.get("headers") or [])
            self._json = headers.get(b"content-type", b"").startswith(b"application/json")
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if self._json and len(self._body) < _SNIFF_LIMIT:
                self._body.extend(chunk)
            if not message.get("more_body", False):
                self._note_error_code()
            if self._truncate:
                # Half a body on a connection that then closes: the client sees an incomplete read.
                await self._send({"type": "http.response.body", "body": chunk[: len(chunk) // 2], "more_body": True})
                self.truncated = True
                return
        await self._send(message)

    def _note_error_code(self) -> None:
        if not self._json or not self._body or len(self._body) >= _SNIFF_LIMIT:
            return
        try:
            body = json.loads(self._body)
        except ValueError:
            return
        if isinstance(body, dict):
            for key in ("errorCode", "code", "error"):
                if key in body and not isinstance(body[key], dict | list):
                    self._entry["error_code"] = body[key]
                    return


async def _drop(scope: Scope, receive: Receive) -> None:
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionDropped("the server does not expose its transport; cannot drop the connection")
    transport.abort()
    # Wait until the server has noticed, so it does not try to answer on the dead connection.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
