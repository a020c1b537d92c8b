"""WeCom (企业微信) group robot: ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY``.

Wire rules (the vendor's group-robot page, sources in sandbox/README.md "Chat robots"):

* The body is JSON, UTF-8: ``{"msgtype": "text", "text": {"content", "mentioned_list",
  "mentioned_mobile_list"}}`` (content at most 2048 bytes; ``@all`` mentions everyone) or
  ``{"msgtype": "markdown", "markdown": {"content"}}`` (at most 4096 bytes; ``<font color="info|comment|
  warning">``, ``<@userid>`` to mention). Other types (image, news, file, template_card) are not used.
* The answer is HTTP 200 JSON ``{"errcode": 0, "errmsg": "ok"}``; a non-zero errcode is a refusal.
* Each robot takes at most 20 messages a minute; beyond that it answers 45009 (api freq out of limit).

Errors: 45009 and -1 (system busy) are transient: retried with the project's backoff (45009 waits for
the next minute), then :class:`~connectors.errors.TransientError` for the ledger to resend later; 93000
(invalid webhook url: the key is wrong or the robot was removed) is an :class:`AuthError` (a
configuration problem); any other errcode (40008 invalid msgtype, 44004 empty content, 40058 a bad
field...) is a :class:`WeComError` (permanent, recorded). The key is the whole credential: logs and
errors show it masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

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

SYSTEM = "wecom"
DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
PER_MINUTE = 20
BUSY, FREQ_LIMIT, INVALID_WEBHOOK = -1, 45009, 93000
TRANSIENT_CODES = {BUSY: None, FREQ_LIMIT: 60.0}  # errcode → wait (s) before the next attempt


class WeComError(BusinessError):
    """The robot refused the message (its errcode and errmsg)."""


def text_message(content: str, mentioned_list: Sequence[str] = (), mentioned_mobile_list: Sequence[str] = ()) -> dict:
    check_size(content, TEXT_MAX_BYTES, "text.content")
    text: dict[str, Any] = {"content": content}
    if mentioned_list:
        text["mentioned_list"] = list(mentioned_list)
    if mentioned_mobile_list:
        text["mentioned_mobile_list"] = list(mentioned_mobile_list)
    return {"msgtype": "text", "text": text}


def markdown_message(content: str) -> dict:
    check_size(content, MARKDOWN_MAX_BYTES, "markdown.content")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def check_size(content: str, limit: int, field: str) -> None:
    if not content:
        raise WeComError(SYSTEM, f"{field} is empty", code="44004", field=field)
    size = len(content.encode("utf-8"))
    if size > limit:
        raise WeComError(
            SYSTEM, f"{field} is {size} bytes, the robot takes at most {limit}", code="TOO_LONG", field=field
        )


def interpret(response: requests.Response) -> dict[str, Any]:
    """The robot's answer: the body when errcode is 0, else the typed error (or a retry)."""
    body, code, message = robot_errcode(response, SYSTEM, TRANSIENT_CODES)
    if code == 0:
        return body
    if code == INVALID_WEBHOOK:
        raise AuthError(SYSTEM, f"invalid webhook url (check the robot's key): {message}", code=str(code))
    raise WeComError(SYSTEM, f"message refused: {message}", code=str(code))


class WeComRobot(OwnsHttp):
    """One WeCom group robot (its webhook key)."""

    def __init__(
        self,
        key: str,
        *,
        url: str = DEFAULT_URL,
        session: requests.Session | None = None,
        timeout: Timeout | None = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not key:
            raise ValueError("WeComRobot needs the robot's key")
        self.url = url.rstrip("/")
        self._key = key
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = HttpClient(SYSTEM, timeout=timeout, verify_tls=verify_tls, retry=retry, session=session, **extra)

    def __repr__(self) -> str:
        return f"WeComRobot(url={self.url!r}, key=***)"

    @classmethod
    def from_connection(cls, conn: ConnectionLike, **kwargs: Any) -> WeComRobot:
        """host = the webhook URL (``…/cgi-bin/webhook/send``, or the whole URL with ``?key=`` as WeCom
        shows it), password = the key (when the URL does not carry it)."""
        extra = dict(conn.extra_dejson or {})
        url, key = _split_key(base_url_of(conn))
        return cls(
            conn.password or key or "",
            url=url,
            **transport_extras(extra, DEFAULT_TIMEOUT),
            **kwargs,
        )

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        """Post one message (:func:`text_message`, :func:`markdown_message`); the robot's answer."""
        full = f"{self.url}?key={quote(self._key, safe='')}"
        return post_json(self.http, full, f"{self.url}?key=***", body_bytes(message), interpret)

    def send_text(
        self, content: str, mentioned_list: Sequence[str] = (), mentioned_mobile_list: Sequence[str] = ()
    ) -> dict:
        return self.send(text_message(content, mentioned_list, mentioned_mobile_list))

    def send_markdown(self, content: str) -> dict:
        return self.send(markdown_message(content))


def _split_key(url: str) -> tuple[str, str | None]:
    """(the URL without its query, the ``key`` it carried)."""
    parts = urlsplit(url)
    key = (parse_qs(parts.query).get("key") or [None])[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), key
