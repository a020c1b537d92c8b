"""DingTalk (钉钉) custom robot: ``POST https://oapi.dingtalk.com/robot/send?access_token=TOKEN``,
signed: ``&timestamp=<epoch ms>&sign=<urlEncode(Base64(HmacSHA256(secret, timestamp + "\\n" + secret)))>``.

Wire rules (the vendor's custom-robot pages, sources in sandbox/README.md "Chat robots"):

* Security is one of: signing (the secret starts with ``SEC``; the timestamp must lie within one hour
  of DingTalk's time), custom keywords (the message must contain one), an IP allow-list. This client
  signs whenever it has a secret.
* The body is JSON, UTF-8: ``text`` (``{"content"}``), ``markdown`` (``{"title", "text"}``),
  ``actionCard`` (``{"title", "text", "singleTitle", "singleURL"}``), ``link``, ``feedCard``; ``at``:
  ``{"atMobiles": [...], "atUserIds": [...], "isAtAll": false}`` (a mobile is also written as
  ``@mobile`` in the text to show the mention).
* The answer is HTTP 200 JSON ``{"errcode": 0, "errmsg": "ok"}``.
* Each robot takes at most 20 messages a minute; beyond that it is throttled for 10 minutes and
  answers 130101 (send too fast).

Errors: 130101 is transient (its 10-minute throttle exceeds what one call waits: at once a
:class:`TransientError`, the ledger resends in a later run), as is -1 (system busy); 310000 (sign not
match, invalid timestamp, keywords not in content, IP not allowed) and 300001 (unknown token) are
configuration refusals (:class:`AuthError`), never retried; other errcodes are :class:`DingTalkError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit, urlunsplit

import requests

from connectors.base import ConnectionLike, OwnsHttp, base_url_of, transport_extras
from connectors.http import (
    DEFAULT_TIMEOUT,
    AuthError,
    BusinessError,
    HttpClient,
    RetryPolicy,
    Timeout,
)
from connectors.webhook import body_bytes, post_json, robot_errcode

SYSTEM = "dingtalk"
DEFAULT_URL = "https://oapi.dingtalk.com/robot/send"
PER_MINUTE = 20
THROTTLE_SECONDS = 600
BUSY, SEND_TOO_FAST, SECURITY_REFUSED, TOKEN_UNKNOWN = -1, 130101, 310000, 300001
TRANSIENT_CODES = {BUSY: None, SEND_TOO_FAST: float(THROTTLE_SECONDS)}


class DingTalkError(BusinessError):
    """The robot refused the message (its errcode and errmsg)."""


def sign(secret: str, timestamp_ms: int | str) -> str:
    """Base64 of HmacSHA256 keyed by the secret over ``timestamp + "\\n" + secret`` (UTF-8); the URL
    carries it URL-encoded (:func:`signed_query`)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_query(access_token: str, secret: str | None, timestamp_ms: int) -> str:
    """The query string of one send: the token, and when signing, the timestamp and the URL-encoded sign."""
    query = f"access_token={quote_plus(access_token)}"
    if secret:
        query += f"&timestamp={timestamp_ms}&sign={quote_plus(sign(secret, timestamp_ms))}"
    return query


def at_block(mobiles: Sequence[str] = (), user_ids: Sequence[str] = (), at_all: bool = False) -> dict[str, Any]:
    return {"atMobiles": list(mobiles), "atUserIds": list(user_ids), "isAtAll": bool(at_all)}


def text_message(content: str, *, at_mobiles: Sequence[str] = (), at_all: bool = False) -> dict[str, Any]:
    if not content:
        raise DingTalkError(SYSTEM, "text.content is empty", code="EMPTY", field="text.content")
    return {"msgtype": "text", "text": {"content": content}, "at": at_block(at_mobiles, at_all=at_all)}


def markdown_message(title: str, text: str, *, at_mobiles: Sequence[str] = (), at_all: bool = False) -> dict[str, Any]:
    if not title or not text:
        raise DingTalkError(SYSTEM, "markdown needs a title and a text", code="EMPTY", field="markdown")
    return {
        "msgtype": "markdown",
        "markdown": {"title": title, "text": text},
        "at": at_block(at_mobiles, at_all=at_all),
    }


def action_card(title: str, text: str, single_title: str, single_url: str) -> dict[str, Any]:
    return {
        "msgtype": "actionCard",
        "actionCard": {"title": title, "text": text, "singleTitle": single_title, "singleURL": single_url},
    }


def interpret(response: requests.Response) -> dict[str, Any]:
    body, code, message = robot_errcode(response, SYSTEM, TRANSIENT_CODES)
    if code == 0:
        return body
    if code in (SECURITY_REFUSED, TOKEN_UNKNOWN):
        raise AuthError(
            SYSTEM, f"robot refused the call (security settings, token or clock): {message}", code=str(code)
        )
    raise DingTalkError(SYSTEM, f"message refused: {message}", code=str(code))


def _now_ms() -> int:
    return int(time.time() * 1000)


class DingTalkRobot(OwnsHttp):
    """One DingTalk custom robot: its access token and, in signed mode, its ``SEC…`` secret."""

    def __init__(
        self,
        access_token: str,
        *,
        secret: str | None = None,
        url: str = DEFAULT_URL,
        session: requests.Session | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        timeout: Timeout | None = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("DingTalkRobot needs the robot's access_token")
        self.url = url.rstrip("/")
        self._token = access_token
        self._secret = secret or None
        self._clock_ms = clock_ms
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = HttpClient(SYSTEM, timeout=timeout, verify_tls=verify_tls, retry=retry, session=session, **extra)

    def __repr__(self) -> str:
        return f"DingTalkRobot(url={self.url!r}, signed={self._secret is not None})"

    @classmethod
    def from_connection(cls, conn: ConnectionLike, **kwargs: Any) -> DingTalkRobot:
        """host = the send URL (``…/robot/send``, or the whole webhook with ``?access_token=``),
        password = the access token (when the URL does not carry it), extra ``secret`` = the ``SEC…``
        signing secret (none: keyword or IP security)."""
        extra = dict(conn.extra_dejson or {})
        parts = urlsplit(base_url_of(conn))
        token = (parse_qs(parts.query).get("access_token") or [None])[0]
        return cls(
            conn.password or token or "",
            secret=extra.get("secret") or None,
            url=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            **transport_extras(extra, DEFAULT_TIMEOUT),
            **kwargs,
        )

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        """Post one message (:func:`text_message`, :func:`markdown_message`, :func:`action_card`).

        Signed once per send: the retries of one send last minutes, well inside DingTalk's one-hour window."""
        url = f"{self.url}?{signed_query(self._token, self._secret, self._clock_ms())}"
        return post_json(self.http, url, f"{self.url}?access_token=***", body_bytes(message), interpret)

    def send_text(self, content: str, *, at_mobiles: Sequence[str] = (), at_all: bool = False) -> dict:
        return self.send(text_message(content, at_mobiles=at_mobiles, at_all=at_all))

    def send_markdown(self, title: str, text: str, *, at_mobiles: Sequence[str] = (), at_all: bool = False) -> dict:
        return self.send(markdown_message(title, text, at_mobiles=at_mobiles, at_all=at_all))
