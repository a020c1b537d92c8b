"""What the chat-robot emulators share (WeCom, DingTalk, the generic alert webhook): the inbox of
captured messages read through the control API, the per-robot rate window on the sandbox clock, and
the control routes ``GET|DELETE /_sandbox/<system>/messages`` and ``POST /_sandbox/<system>/robots``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.clock import iso_z

MAX_BODY = 65_536  # larger bodies are refused before parsing (the vendors cap far lower)


class Inbox:
    """Messages the robots accepted, in arrival order, numbered from 1."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._seq = 0

    def add(self, robot: str, when: datetime, **fields: Any) -> dict[str, Any]:
        self._seq += 1
        message = {"seq": self._seq, "robot": robot, "received_at": iso_z(when), **fields}
        self._messages.append(message)
        return message

    def query(self, robot: str | None, since: int) -> list[dict[str, Any]]:
        return [m for m in self._messages if m["seq"] > since and (robot is None or m["robot"] == robot)]

    def clear(self) -> None:
        self._messages.clear()


class RateWindow:
    """At most ``limit`` accepted calls per robot in any ``seconds`` of the sandbox clock; a robot that
    went over may stay blocked for ``penalty_seconds`` more (DingTalk's 10 minutes)."""

    def __init__(self, limit: int, seconds: float, penalty_seconds: float = 0.0) -> None:
        self.limit, self.seconds, self.penalty = limit, seconds, penalty_seconds
        self._calls: dict[str, deque[datetime]] = {}
        self._blocked_until: dict[str, datetime] = {}

    def admit(self, robot: str, now: datetime) -> bool:
        """True (and counted) when the robot may send now."""
        until = self._blocked_until.get(robot)
        if until is not None and now < until:
            return False
        calls = self._calls.setdefault(robot, deque())
        while calls and (now - calls[0]).total_seconds() >= self.seconds:
            calls.popleft()
        if len(calls) >= self.limit:
            if self.penalty:
                self._blocked_until[robot] = now + timedelta(seconds=self.penalty)
            return False
        calls.append(now)
        return True

    def reset(self) -> None:
        self._calls.clear()
        self._blocked_until.clear()


async def read_json(request: Request) -> tuple[Any, str | None]:
    """(the parsed body, None) or (None, why it is not JSON)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None, f"body larger than {MAX_BODY} bytes"
    if not raw.strip():
        return None, "empty body"
    try:
        return json.loads(raw.decode("utf-8")), None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, f"not JSON: {str(exc)[:80]}"


def answer(errcode: int, errmsg: str, status: int = 200) -> Response:
    body = json.dumps({"errcode": errcode, "errmsg": errmsg}, ensure_ascii=False).encode("utf-8", "replace")
    return Response(body, status_code=status, media_type="application/json; charset=utf-8")


def inbox_routes(
    inbox: Inbox, rates: RateWindow, add_robot: Callable[[dict[str, Any]], dict[str, Any] | str]
) -> list[Route]:
    """``GET|DELETE /messages`` (``?robot=&since=``; DELETE also lifts rate limits) and ``POST /robots``."""

    async def messages(request: Request) -> Response:
        if request.method == "DELETE":
            inbox.clear()
            rates.reset()
            return JSONResponse({"messages": []})
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return JSONResponse({"error": "since must be a message sequence number"}, status_code=400)
        return JSONResponse({"messages": inbox.query(request.query_params.get("robot"), since)})

    async def robots(request: Request) -> Response:
        body, problem = await read_json(request)
        if problem or not isinstance(body, dict):
            return JSONResponse({"error": problem or "body must be a JSON object"}, status_code=400)
        result = add_robot(body)
        if isinstance(result, str):
            return JSONResponse({"error": result}, status_code=400)
        return JSONResponse(result)

    return [
        Route("/messages", messages, methods=["GET", "DELETE"]),
        Route("/robots", robots, methods=["POST"]),
    ]


def str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
