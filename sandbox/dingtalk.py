"""DingTalk (钉钉) custom robot emulator: ``POST /dingtalk/robot/send?access_token=T[&timestamp=&sign=]``.

After the vendor's custom-robot documentation (sources in sandbox/README.md, "Chat robots"). A robot
has one security setting: **signed** (``timestamp`` in epoch ms and ``sign`` = Base64(HmacSHA256(secret,
timestamp + "\\n" + secret)), URL-encoded in the query; the timestamp within one hour), **keywords** (the
message must contain one of up to 10), or none. The body is JSON with ``msgtype`` ``text`` (``content``),
``markdown`` (``title``, ``text``), ``actionCard`` (``title``, ``text``, and ``singleTitle`` +
``singleURL`` or ``btns``), ``link`` (``title``, ``text``, ``messageUrl``) or ``feedCard`` (``links``);
``at`` = ``{"atMobiles": [...], "atUserIds": [...], "isAtAll": bool}``. Every answer is HTTP 200 JSON
``{"errcode", "errmsg"}``, checked in this order:

* 300001 ``token is not exist`` - no or an unknown access_token [verify: the code and text];
* 310000 ``sign not match`` / ``invalid timestamp`` (missing, not digits, more than an hour off) /
  ``keywords not in content`` [verify: the wording of the timestamp case];
* 40035 ``缺少参数 json`` - the body is not a JSON object, or msgtype or its fields are missing or of
  the wrong type [verify: the code for a bad msgtype];
* 130101 ``send too fast, exceed 20 times per minute`` - the 21st message within a minute of the
  sandbox clock, and every message for the next 10 minutes.

The timestamp window is checked against the host's clock, not the sandbox clock: the hub signs with its
own clock, while the demo and the tests move the sandbox clock days away. Faults: throttling, quota and
concurrency answer 130101; a server error answers -1 (系统繁忙) with the configured 5xx status. Accepted
messages are read at ``GET /_sandbox/dingtalk/messages``; ``DELETE`` clears them and the throttles;
``POST /_sandbox/dingtalk/robots {"access_token", "name", "secret"?, "keywords"?}`` adds a robot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.faults import FaultConfig, FaultKind
from sandbox.robots import Inbox, RateWindow, answer, inbox_routes, read_json, str_list
from sandbox.system import EmulatedSystem, SandboxContext

SEND_PATH = "/robot/send"
PER_MINUTE, THROTTLE_SECONDS = 20, 600
WINDOW_MS = 3_600_000
TOO_FAST = "send too fast, exceed 20 times per minute"
TYPES = ("text", "markdown", "actionCard", "link", "feedCard")


def expected_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass
class Robot:
    name: str
    secret: str | None = None
    keywords: list[str] = field(default_factory=list)


class DingTalkError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _credentials(seed: int) -> tuple[str, str]:
    token = hashlib.sha256(f"{seed}:dingtalk:ops".encode()).hexdigest()
    secret = hashlib.sha256(f"{seed}:dingtalk:ops:secret".encode()).hexdigest()
    return token, "SEC" + secret


class DingTalk(EmulatedSystem):
    name = "dingtalk"
    prefix = "/dingtalk"

    def __init__(self, ctx: SandboxContext, wall_ms: Any = None) -> None:
        super().__init__(ctx)
        token, secret = _credentials(ctx.seed)
        self.robots: dict[str, Robot] = {token: Robot("ops", secret=secret)}
        self.inbox = Inbox()
        self.rates = RateWindow(PER_MINUTE, 60.0, penalty_seconds=THROTTLE_SECONDS)
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))

    def routes(self) -> list[BaseRoute]:
        return [Route(SEND_PATH, self._send, methods=["POST"])]

    def connection_info(self, base_url: str) -> dict[str, Any]:
        token, secret = _credentials(self.ctx.seed)
        return {"url": f"{base_url}{self.prefix}{SEND_PATH}", "access_token": token, "secret": secret}

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        if kind == "server_error":
            return answer(-1, "系统繁忙", config.status_5xx)
        return answer(130101, TOO_FAST)

    def not_found(self, path: str) -> Response:
        return answer(404, "请求的URI地址不存在", 404)

    async def _send(self, request: Request) -> Response:
        try:
            params = request.query_params
            robot = self.robots.get(params.get("access_token", ""))
            if robot is None:
                raise DingTalkError(300001, "token is not exist")
            if robot.secret is not None:
                self._check_sign(robot.secret, params.get("timestamp"), params.get("sign"))
            body, problem = await read_json(request)
            if problem:
                raise DingTalkError(40035, f"缺少参数 json ({problem})")
            fields = _read(body)
            if robot.keywords and not any(k in fields["searchable"] for k in robot.keywords):
                raise DingTalkError(310000, "keywords not in content")
            now = self.ctx.clock.now()
            if not self.rates.admit(robot.name, now):
                raise DingTalkError(130101, TOO_FAST)
        except DingTalkError as exc:
            return answer(exc.code, exc.message)
        fields.pop("searchable")
        self.inbox.add(robot.name, now, **fields)
        self.ctx.writes.add(self.name, {"robot": robot.name, "msgtype": fields["msgtype"]})
        return answer(0, "ok")

    def _check_sign(self, secret: str, timestamp: str | None, sign: str | None) -> None:
        if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 15:
            raise DingTalkError(310000, "invalid timestamp")
        if abs(self._wall_ms() - int(timestamp)) > WINDOW_MS:
            raise DingTalkError(310000, "invalid timestamp")
        if not sign or not hmac.compare_digest(
            sign.encode("utf-8", "surrogatepass"), expected_sign(secret, timestamp).encode("ascii")
        ):
            raise DingTalkError(310000, "sign not match")

    # -- control API (/_sandbox/dingtalk/...) ---------------------------------------------------------
    def control_routes(self) -> list[Route]:
        return inbox_routes(self.inbox, self.rates, self._add_robot)

    def _add_robot(self, body: dict[str, Any]) -> dict[str, Any] | str:
        token, name = body.get("access_token"), body.get("name")
        secret, keywords = body.get("secret"), body.get("keywords", [])
        if not (isinstance(token, str) and token and isinstance(name, str) and name):
            return "access_token and name are required strings"
        if secret is not None and not (isinstance(secret, str) and secret.startswith("SEC")):
            return "secret must be a string starting with SEC"
        if not str_list(keywords) or len(keywords) > 10:
            return "keywords must be a list of at most 10 strings"
        self.robots[token] = Robot(name, secret=secret, keywords=list(keywords))
        return {"robots": sorted(r.name for r in self.robots.values())}


def _text(part: dict[str, Any], *names: str) -> list[str]:
    values = [part.get(n) for n in names]
    if not all(isinstance(v, str) and v for v in values):
        raise DingTalkError(40035, f"缺少参数 {'/'.join(names)}")
    return values  # type: ignore[return-value]


def _read(body: Any) -> dict[str, Any]:
    """The captured fields of a message, plus ``searchable`` (where keywords are looked for)."""
    if not isinstance(body, dict):
        raise DingTalkError(40035, "缺少参数 json")
    msgtype = body.get("msgtype")
    if msgtype not in TYPES:
        raise DingTalkError(40035, "缺少参数 msgtype")
    part = body.get(msgtype)
    if not isinstance(part, dict):
        raise DingTalkError(40035, f"缺少参数 {msgtype}")
    title, text = "", ""
    if msgtype == "text":
        (text,) = _text(part, "content")
    elif msgtype == "markdown":
        title, text = _text(part, "title", "text")
    elif msgtype == "link":
        title, text, _url = _text(part, "title", "text", "messageUrl")
    elif msgtype == "actionCard":
        title, text = _text(part, "title", "text")
        btns = part.get("btns")
        if not (isinstance(part.get("singleTitle"), str) and isinstance(part.get("singleURL"), str)) and not (
            isinstance(btns, list) and btns and all(isinstance(b, dict) for b in btns)
        ):
            raise DingTalkError(40035, "缺少参数 singleTitle/singleURL or btns")
    else:  # feedCard
        links = part.get("links")
        if not (isinstance(links, list) and links and all(isinstance(x, dict) for x in links)):
            raise DingTalkError(40035, "缺少参数 links")
        title = " ".join(str(x.get("title", "")) for x in links)
    at = body.get("at", {})
    if not isinstance(at, dict):
        raise DingTalkError(40035, "参数 at 不合法")
    mobiles, users, at_all = at.get("atMobiles", []), at.get("atUserIds", []), at.get("isAtAll", False)
    if not (str_list(mobiles) and str_list(users) and isinstance(at_all, bool)):
        raise DingTalkError(40035, "参数 at 不合法")
    return {
        "msgtype": msgtype,
        "title": title,
        "text": text,
        "at": {"atMobiles": mobiles, "atUserIds": users, "isAtAll": at_all},
        "searchable": f"{title}\n{text}",
    }
