"""Fxiaoke tokens: the legacy ``corpAccessToken`` and the new ``accessToken``, and checking them.

Both token endpoints follow the 7,200 s rule (crm_report.md §2.2): within the first 6,600 s the same
token comes back with ``expiresIn`` counting down; from 6,600 s on a new token is issued (the old one
keeps working until its own 7,200 s are up). Errors are ``errorCode`` bodies with HTTP 200.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.fxiaoke_schema import BAD_TOKEN, NEED_TOKEN, FxiaokeError

TOKEN_LIFETIME = 7200
RENEW_AFTER = 6600
RATE_WINDOW = timedelta(minutes=1)
DEFAULT_RATE_LIMIT = 10  # token calls per minute (crm_report.md §2.2)
OPERATOR_USER = "1000"  # the CRM administrator the hub acts as
EMPLOYEES = frozenset({"1000", "1001", "1002", "1003", "1004", "1005"})
_BAD_SECRET = {
    "errorCode": 10006,
    "errorMessage": "the parameter appSecret is missing or illegal",
    "errorDescription": "缺少参数或参数不合法",
}


def _hex(seed: int, label: str, length: int) -> str:
    return hashlib.sha256(f"{seed}:fxiaoke:{label}".encode()).hexdigest()[:length]


@dataclass
class _Slot:
    token: str
    issued: datetime


@dataclass(frozen=True)
class Caller:
    """Who is calling: the tenant and the employee whose data visibility applies."""

    corp_id: str
    user_id: str
    style: str  # "legacy" (body parameters) or "bearer" (headers)


class FxiaokeAuth:
    def __init__(self, seed: int, clock: SandboxClock) -> None:
        self._seed = seed
        self._clock = clock
        self.app_id = "FSAID_" + _hex(seed, "app_id", 26)
        self.app_secret = _hex(seed, "app_secret", 32)
        self.permanent_code = _hex(seed, "permanent_code", 32).upper()
        self.corp_id = "FSCID_" + _hex(seed, "corp_id", 24).upper()
        self.ea = f"sparehub{seed % 1000:03d}"
        self.open_user_id = "FSUID_" + _hex(seed, "open_user", 32).upper()
        self.app_open_user_id = "FSCID_" + _hex(seed, "app_user", 24).upper()
        self._slots: dict[str, _Slot | None] = {"legacy": None, "bearer": None}
        self._live: dict[str, datetime] = {}  # token → expiry
        self._calls: deque[datetime] = deque()
        self._count = 0

    def _credentials_error(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("appId") != self.app_id or body.get("appSecret") != self.app_secret:
            return dict(_BAD_SECRET)
        if body.get("permanentCode") != self.permanent_code:
            return {
                "errorCode": 20015,
                "errorMessage": "permanentCode is illegal",
                "errorDescription": "永久授权码错误",
            }
        return None

    def _throttled(self, rate_limit: int | None) -> dict[str, Any] | None:
        now = self._clock.now()
        while self._calls and now - self._calls[0] >= RATE_WINDOW:
            self._calls.popleft()
        if len(self._calls) >= (DEFAULT_RATE_LIMIT if rate_limit is None else rate_limit):
            return {
                "errorCode": 30004,
                "errorMessage": "token requests exceed 10 per minute",
                "errorDescription": "秒频次超限",
            }
        self._calls.append(now)
        return None

    def _token(self, style: str) -> tuple[str, int]:
        """The current token of this style and its remaining seconds, renewing it past 6,600 s."""
        now = self._clock.now()
        slot = self._slots[style]
        elapsed = (now - slot.issued).total_seconds() if slot else None
        if slot is None or elapsed is None or elapsed >= RENEW_AFTER or slot.token not in self._live:
            self._count += 1
            token = _hex(self._seed, f"token:{style}:{self._count}", 32).upper()
            slot = _Slot(token, now)
            self._slots[style] = slot
            self._live[token] = now + timedelta(seconds=TOKEN_LIFETIME)
            elapsed = 0.0
        return slot.token, max(int(TOKEN_LIFETIME - elapsed), 0)

    def legacy_grant(self, body: dict[str, Any], rate_limit: int | None) -> dict[str, Any]:
        error = self._credentials_error(body) or self._throttled(rate_limit)
        if error:
            return error
        token, expires_in = self._token("legacy")
        return {
            "errorCode": 0,
            "errorMessage": "success",
            "corpAccessToken": token,
            "corpId": self.corp_id,
            "expiresIn": expires_in,
        }

    def oauth_grant(self, body: dict[str, Any], rate_limit: int | None) -> dict[str, Any]:
        error = self._credentials_error(body)
        if error is None and body.get("grantType") != "app_secret":
            error = {"errorCode": 10006, "errorMessage": "the parameter grantType is missing or illegal"}
        if error:
            return {**error, "error": "非法请求", "error_description": "缺少参数或参数不合法"}
        throttled = self._throttled(rate_limit)
        if throttled:
            return throttled
        token, expires_in = self._token("bearer")
        return {
            "openUserId": self.app_open_user_id,
            "accessToken": token,
            "expiresIn": expires_in,
            "appId": self.app_id,
            "ea": self.ea,
            "errorCode": 0,
            "errorMessage": "success",
        }

    def _valid(self, token: str) -> bool:
        expiry = self._live.get(token)
        return expiry is not None and self._clock.now() < expiry

    def authenticate(self, headers: Any, body: dict[str, Any]) -> Caller:
        """The caller, or the error the gateway answers with (20017 no token, 20016 bad token)."""
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not self._valid(token.strip()) or headers.get("x-fs-ea") != self.ea:
                raise FxiaokeError(20016, BAD_TOKEN)
            user = headers.get("x-fs-userid") or ""
            if user not in EMPLOYEES:
                raise FxiaokeError(30027, "x-fs-userid is not an employee", "员工不存在")
            return Caller(self.corp_id, user, "bearer")
        token = body.get("corpAccessToken")
        if not token:
            raise FxiaokeError(20017, NEED_TOKEN)
        if not self._valid(str(token)) or body.get("corpId") != self.corp_id:
            raise FxiaokeError(20016, BAD_TOKEN)
        if body.get("currentOpenUserId") != self.open_user_id:
            raise FxiaokeError(20012, "currentOpenUserId is not found", "openUserId 未找到")
        return Caller(self.corp_id, OPERATOR_USER, "legacy")

    def expire_all(self) -> int:
        count = len(self._live)
        self._live.clear()
        self._slots = {"legacy": None, "bearer": None}
        return count
