"""WeCom (企业微信) group robot emulator: ``POST /wecom/cgi-bin/webhook/send?key=KEY``.

After the vendor's group-robot documentation (sources in sandbox/README.md, "Chat robots"). The body is
JSON: ``msgtype`` ``text`` (``text.content`` at most 2048 bytes, ``mentioned_list``,
``mentioned_mobile_list``: lists of strings, ``@all`` allowed) or ``markdown`` (``markdown.content`` at
most 4096 bytes); ``image``, ``news``, ``file`` and ``template_card`` are accepted with their object
present and captured without a content check. Every answer is HTTP 200 JSON ``{"errcode", "errmsg"}``:

* 93000 ``invalid webhook url`` - no key, or a key no robot has (removed robot);
* 40035 body not JSON (WeCom adds "Warning: wrong json format." to errmsg) [verify: the code];
* 40008 ``invalid message type`` - msgtype missing or unknown;
* 44004 ``empty content`` - text/markdown without content;
* 40058 invalid parameter - content too long, mention lists not lists of strings [verify: the code];
* 45009 ``api freq out of limit`` - more than 20 messages in a minute of the sandbox clock per robot.

Faults: throttling, quota and concurrency answer 45009 (HTTP 200); a server error answers errcode -1
(system busy) with the configured 5xx status. Accepted messages are read at
``GET /_sandbox/wecom/messages`` (``?robot=ops&since=N``); ``DELETE`` clears them and the rate windows;
``POST /_sandbox/wecom/robots {"key", "name"}`` adds a robot.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.faults import FaultConfig, FaultKind
from sandbox.robots import Inbox, RateWindow, answer, inbox_routes, read_json, str_list
from sandbox.system import EmulatedSystem, SandboxContext

SEND_PATH = "/cgi-bin/webhook/send"
TEXT_MAX, MARKDOWN_MAX = 2048, 4096
PER_MINUTE = 20
OTHER_TYPES = ("image", "news", "file", "template_card")
MORE_INFO = "more info at https://open.work.weixin.qq.com/devtool/query?e="


def robot_key(seed: int, name: str) -> str:
    """A webhook key shaped as WeCom's (a UUID), derived from the seed."""
    h = hashlib.sha256(f"{seed}:wecom:{name}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class WeComError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class WeCom(EmulatedSystem):
    name = "wecom"
    prefix = "/wecom"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        self.robots: dict[str, str] = {robot_key(ctx.seed, "ops"): "ops"}  # key → robot name
        self.inbox = Inbox()
        self.rates = RateWindow(PER_MINUTE, 60.0)

    def routes(self) -> list[BaseRoute]:
        return [Route(SEND_PATH, self._send, methods=["POST"])]

    def connection_info(self, base_url: str) -> dict[str, Any]:
        return {"url": f"{base_url}{self.prefix}{SEND_PATH}", "key": robot_key(self.ctx.seed, "ops")}

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        if kind == "server_error":
            return answer(-1, "system busy", config.status_5xx)
        return answer(45009, f"api freq out of limit, {MORE_INFO}45009")

    def not_found(self, path: str) -> Response:
        return answer(404, "invalid url path", 404)

    async def _send(self, request: Request) -> Response:
        try:
            robot = self.robots.get(request.query_params.get("key", ""))
            if robot is None:
                raise WeComError(93000, f"invalid webhook url, {MORE_INFO}93000")
            body, problem = await read_json(request)
            if problem:
                raise WeComError(40035, f"invalid parameter: {problem}, Warning: wrong json format.")
            fields = self._read(body)
            now = self.ctx.clock.now()
            if not self.rates.admit(robot, now):
                raise WeComError(45009, f"api freq out of limit, {MORE_INFO}45009")
        except WeComError as exc:
            return answer(exc.code, exc.message)
        self.inbox.add(robot, now, **fields)
        self.ctx.writes.add(self.name, {"robot": robot, "msgtype": fields["msgtype"]})
        return answer(0, "ok")

    @staticmethod
    def _read(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise WeComError(40035, "invalid parameter: the body must be a JSON object, Warning: wrong json format.")
        msgtype = body.get("msgtype")
        if msgtype in OTHER_TYPES:
            if not isinstance(body.get(msgtype), dict):
                raise WeComError(40058, f"invalid parameter: {msgtype} must be an object")
            return {"msgtype": msgtype, "content": None}
        if msgtype not in ("text", "markdown"):
            raise WeComError(40008, "invalid message type")
        part = body.get(msgtype)
        if not isinstance(part, dict):
            raise WeComError(40058, f"invalid parameter: {msgtype} must be an object")
        content = part.get("content")
        if not isinstance(content, str) or not content:
            raise WeComError(44004, "empty content")
        limit = TEXT_MAX if msgtype == "text" else MARKDOWN_MAX
        if len(content.encode("utf-8", "surrogatepass")) > limit:
            raise WeComError(40058, f"invalid parameter: content exceeds {limit} bytes")
        fields: dict[str, Any] = {"msgtype": msgtype, "content": content}
        if msgtype == "text":
            for name in ("mentioned_list", "mentioned_mobile_list"):
                value = part.get(name, [])
                if not str_list(value):
                    raise WeComError(40058, f"invalid parameter: {name} must be a list of strings")
                fields[name] = value
        return fields

    # -- control API (/_sandbox/wecom/...) ------------------------------------------------------------
    def control_routes(self) -> list[Route]:
        return inbox_routes(self.inbox, self.rates, self._add_robot)

    def _add_robot(self, body: dict[str, Any]) -> dict[str, Any] | str:
        key, name = body.get("key"), body.get("name")
        if not (isinstance(key, str) and key and isinstance(name, str) and name):
            return "key and name are required strings"
        self.robots[key] = name
        return {"robots": sorted(self.robots.values())}
