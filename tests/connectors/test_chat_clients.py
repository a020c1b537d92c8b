"""The alert channels' clients (issue 13): the DingTalk sign from the documented algorithm (a vector,
cross-checked with an independent HMAC implementation), Connections read as operators write them,
and each client against its sandbox emulator: delivered, refused for good (typed, not retried), refused
for now (retried with the project's backoff, then TransientError).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from connectors.dingtalk import DingTalkRobot, sign, signed_query
from connectors.errors import AuthError, PermanentError, TransientError
from connectors.http import RetryPolicy
from connectors.redaction import redact
from connectors.webhook import WebhookClient, signature
from connectors.wecom import WeComError, WeComRobot, markdown_message, text_message

pytestmark = pytest.mark.sandbox

# Computed from the documented algorithm: Base64(HmacSHA256(key=secret, timestamp + "\n" + secret)).
VECTOR_SECRET, VECTOR_TS = "SECtestsecret", 1700000000000
VECTOR_SIGN = "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="


def independent_sign(secret: str, timestamp: int) -> str:
    mac = crypto_hmac.HMAC(secret.encode("utf-8"), hashes.SHA256())
    mac.update(f"{timestamp}\n{secret}".encode())
    return base64.b64encode(mac.finalize()).decode("ascii")


def test_dingtalk_sign_vector_and_an_independent_implementation() -> None:
    assert sign(VECTOR_SECRET, VECTOR_TS) == VECTOR_SIGN == independent_sign(VECTOR_SECRET, VECTOR_TS)
    # The vector holds '/', '+' and '=': the URL carries them percent-encoded, or DingTalk reads a space.
    assert signed_query("tok", VECTOR_SECRET, VECTOR_TS) == (
        f"access_token=tok&timestamp={VECTOR_TS}&sign={quote(VECTOR_SIGN, safe='')}"
    )
    for ts in range(VECTOR_TS, VECTOR_TS + 200, 7):
        assert sign("SEC" + str(ts), ts) == independent_sign("SEC" + str(ts), ts)
    assert signed_query("tok", None, VECTOR_TS) == "access_token=tok"  # keyword / IP security: no sign


def conn(host: str, password: str | None = None, extra: dict[str, Any] | None = None) -> Any:
    return SimpleNamespace(host=host, login=None, password=password, port=None, schema=None, extra_dejson=extra or {})


def test_connections_as_operators_write_them() -> None:
    w = WeComRobot.from_connection(conn("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123"))
    assert w.url == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send" and w._key == "abc-123"
    assert WeComRobot.from_connection(conn("qyapi.weixin.qq.com/cgi-bin/webhook/send", "k2"))._key == "k2"
    d = DingTalkRobot.from_connection(
        conn("https://oapi.dingtalk.com/robot/send?access_token=t1", extra={"secret": "SECx"})
    )
    assert (d.url, d._token, d._secret) == ("https://oapi.dingtalk.com/robot/send", "t1", "SECx")
    assert "t1" not in repr(d) and "abc-123" not in repr(w)
    assert redact("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123 failed") == (
        "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=*** failed"
    )


def test_wecom_messages_are_checked_before_sending() -> None:
    assert text_message("x", ["@all"]) == {"msgtype": "text", "text": {"content": "x", "mentioned_list": ["@all"]}}
    with pytest.raises(WeComError) as too_long:
        markdown_message("配" * 1366)  # 4098 bytes
    assert too_long.value.field == "markdown.content"
    with pytest.raises(WeComError):
        text_message("")


@pytest.fixture
def robots(sandbox_faults: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for name in ("wecom", "dingtalk", "alert_webhook"):
        requests.delete(f"{sandbox_faults['control_url']}/{name}/messages", timeout=10).raise_for_status()
    yield sandbox_faults
    for name in ("wecom", "dingtalk", "alert_webhook"):
        requests.delete(f"{sandbox_faults['control_url']}/{name}/messages", timeout=10).raise_for_status()


def inbox(sandbox: dict[str, Any], system: str) -> list[dict[str, Any]]:
    return requests.get(f"{sandbox['control_url']}/{system}/messages", timeout=10).json()["messages"]


def faults(sandbox: dict[str, Any], **settings: Any) -> None:
    requests.post(f"{sandbox['control_url']}/faults", json=settings, timeout=10).raise_for_status()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_wecom_client_against_the_emulator(robots: dict[str, Any]) -> None:
    info, waits = robots["systems"]["wecom"], Sleeps()
    robot = WeComRobot(
        info["key"], url=info["url"], retry=RetryPolicy(max_attempts=3, max_retry_after=120), sleep=waits
    )
    assert robot.send_markdown('**hub** <font color="warning">late</font>')["errcode"] == 0
    assert robot.send_text("hub", mentioned_list=["@all"])["errcode"] == 0
    assert [m["msgtype"] for m in inbox(robots, "wecom")] == ["markdown", "text"]
    # Rate limited (45009): retried after the minute the robot counts, then delivered.
    faults(robots, system="wecom", burst_429=1)
    assert robot.send_text("after a wait")["errcode"] == 0 and waits == [60.0]
    # Rate limited for longer than the attempts: TransientError, for the ledger to resend later.
    faults(robots, system="wecom", burst_429=5)
    with pytest.raises(TransientError) as still:
        robot.send_text("x")
    assert still.value.code == "45009" and still.value.attempts == 3
    faults(robots, system="wecom", burst_429=0)
    # An invalid key is a configuration error, never retried; the key stays out of the message.
    wrong = WeComRobot("no-such-key", url=info["url"], sleep=waits)
    with pytest.raises(AuthError) as refused:
        wrong.send_text("x")
    assert refused.value.code == "93000" and "no-such-key" not in str(refused.value)
    with pytest.raises(WeComError) as bad:
        robot.send({"msgtype": "voice"})
    assert bad.value.code == "40008"


def test_dingtalk_client_against_the_emulator(robots: dict[str, Any]) -> None:
    info, waits = robots["systems"]["dingtalk"], Sleeps()
    robot = DingTalkRobot(info["access_token"], secret=info["secret"], url=info["url"], sleep=waits)
    assert robot.send_markdown("hub", "#### hub\n> late @13800001111", at_mobiles=["13800001111"])["errcode"] == 0
    got = inbox(robots, "dingtalk")
    assert got[0]["at"]["atMobiles"] == ["13800001111"] and got[0]["title"] == "hub"
    # A wrong secret or a clock an hour off: 310000, permanent, not retried.
    for bad in (
        DingTalkRobot(info["access_token"], secret="SECwrong", url=info["url"], sleep=waits),
        DingTalkRobot(
            info["access_token"],
            secret=info["secret"],
            url=info["url"],
            sleep=waits,
            clock_ms=lambda: int(time.time() * 1000) - 2 * 3_600_000,
        ),
    ):
        with pytest.raises(AuthError) as refused:
            bad.send_text("x")
        assert refused.value.code == "310000"
    assert waits == []
    # Too fast (130101): DingTalk throttles for 10 minutes, longer than a call waits: TransientError at once.
    faults(robots, system="dingtalk", burst_429=1)
    with pytest.raises(TransientError) as throttled:
        robot.send_text("x")
    assert throttled.value.code == "130101" and throttled.value.attempts == 1 and waits == []
    # A 503 cannot have posted: retried, then delivered. A 500 may have: not repeated (the ledger
    # resends later, at least once, with the same message id).
    faults(robots, system="dingtalk", burst_5xx=1, status_5xx=503)
    assert robot.send_text("after busy")["errcode"] == 0 and len(waits) == 1
    faults(robots, system="dingtalk", burst_5xx=1, status_5xx=500)
    with pytest.raises(TransientError):
        robot.send_text("maybe posted")
    assert len(waits) == 1


def test_webhook_client_against_the_emulator(robots: dict[str, Any]) -> None:
    info, waits = robots["systems"]["alert_webhook"], Sleeps()
    client = WebhookClient(info["url"], secret=info["secret"], sleep=waits)
    assert client.post({"type": "order_delay", "key": "1010"}, message_id="m-1") == "HTTP 202"
    assert client.post({"type": "order_delay", "key": "1010"}, message_id="m-1") == "HTTP 200"  # its duplicate
    assert [m["message_id"] for m in inbox(robots, "alert_webhook")] == ["m-1"]
    with pytest.raises(PermanentError) as refused:
        WebhookClient(info["url"], secret="wrong", sleep=waits).post({"a": 1}, message_id="m-2")
    assert refused.value.status == 401
    faults(robots, system="alert_webhook", burst_429=1, retry_after=3)
    assert client.post({"a": 1}, message_id="m-3") == "HTTP 202" and waits == [3.0]
    assert signature("s", 1, b"{}") == "sha256=" + __import__("hmac").new(b"s", b"1.{}", "sha256").hexdigest()
