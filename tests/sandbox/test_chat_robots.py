"""The chat-robot emulators over real HTTP (issue 13): WeCom's group robot and DingTalk's custom robot
(paths, JSON formats, key and signature checks, the one-hour timestamp window, keywords, 20 messages a
minute and DingTalk's 10-minute throttle, error codes and bodies, faults, captured messages), the alert
webhook receiver (signature, duplicates), and hypothesis fuzz of all three: never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus, urlencode

import fuzzing
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 31, 20


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    yield from fuzzing.module_sandbox(SEED, ORDERS)


@pytest.fixture
def robots(sandbox: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Inboxes, rate windows and faults cleared before and after each test."""

    def clear() -> None:
        for name in ("wecom", "dingtalk", "alert_webhook"):
            requests.delete(f"{sandbox['control_url']}/{name}/messages", timeout=10).raise_for_status()
        requests.delete(f"{sandbox['control_url']}/faults", timeout=10).raise_for_status()

    clear()
    yield sandbox
    clear()


def messages(sandbox: dict[str, Any], system: str, **params: Any) -> list[dict[str, Any]]:
    return requests.get(f"{sandbox['control_url']}/{system}/messages", params=params, timeout=10).json()["messages"]


def advance(sandbox: dict[str, Any], seconds: float) -> None:
    requests.post(f"{sandbox['control_url']}/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()


# -- WeCom --------------------------------------------------------------------------------------------
def wecom_post(
    sandbox: dict[str, Any], body: Any, key: str | None = None, raw: bytes | None = None
) -> requests.Response:
    info = sandbox["systems"]["wecom"]
    params = {} if key == "" else {"key": key or info["key"]}
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(
        info["url"], params=params, data=data, headers={"Content-Type": "application/json"}, timeout=10
    )


def test_wecom_takes_text_with_mentions_and_markdown(robots: dict[str, Any]) -> None:
    text = {"msgtype": "text", "text": {"content": "配件 alert", "mentioned_list": ["wangqing", "@all"]}}
    r = wecom_post(robots, text)
    assert r.status_code == 200 and r.json() == {"errcode": 0, "errmsg": "ok"}
    assert (
        wecom_post(
            robots, {"msgtype": "markdown", "markdown": {"content": '**bold** <font color="warning">x</font>'}}
        ).json()["errcode"]
        == 0
    )
    got = messages(robots, "wecom", robot="ops")
    assert [m["msgtype"] for m in got] == ["text", "markdown"]
    assert got[0]["content"] == "配件 alert" and got[0]["mentioned_list"] == ["wangqing", "@all"]
    assert messages(robots, "wecom", since=got[0]["seq"]) == got[1:]


@pytest.mark.parametrize(
    ("body", "key", "code"),
    [
        ({"msgtype": "text", "text": {"content": "x"}}, "", 93000),
        ({"msgtype": "text", "text": {"content": "x"}}, "not-a-robot", 93000),
        ({"msgtype": "voice", "voice": {}}, None, 40008),
        ({"text": {"content": "x"}}, None, 40008),
        ({"msgtype": "text", "text": {"content": ""}}, None, 44004),
        ({"msgtype": "markdown", "markdown": {}}, None, 44004),
        ({"msgtype": "text", "text": {"content": "x" * 2049}}, None, 40058),
        ({"msgtype": "markdown", "markdown": {"content": "配" * 1366}}, None, 40058),  # 4098 bytes
        ({"msgtype": "text", "text": {"content": "x", "mentioned_list": "@all"}}, None, 40058),
        ([1, 2], None, 40035),
    ],
)
def test_wecom_refusals(robots: dict[str, Any], body: Any, key: str | None, code: int) -> None:
    r = wecom_post(robots, body, key)
    assert r.status_code == 200 and r.json()["errcode"] == code, r.json()
    assert messages(robots, "wecom") == []


def test_wecom_invalid_webhook_body_as_the_vendor_writes_it(robots: dict[str, Any]) -> None:
    answer = wecom_post(robots, {"msgtype": "text", "text": {"content": "x"}}, "nope").json()
    assert answer["errmsg"].startswith("invalid webhook url") and "e=93000" in answer["errmsg"]
    assert wecom_post(robots, None, raw=b"{not json").json()["errcode"] == 40035


def test_wecom_twenty_messages_a_minute(robots: dict[str, Any]) -> None:
    body = {"msgtype": "text", "text": {"content": "tick"}}
    assert [wecom_post(robots, body).json()["errcode"] for _ in range(20)] == [0] * 20
    refused = wecom_post(robots, body).json()
    assert refused["errcode"] == 45009 and "api freq out of limit" in refused["errmsg"]
    assert len(messages(robots, "wecom")) == 20
    advance(robots, 61)
    assert wecom_post(robots, body).json()["errcode"] == 0


def test_wecom_faults_in_the_vendor_shape(robots: dict[str, Any]) -> None:
    body = {"msgtype": "text", "text": {"content": "x"}}
    faults = f"{robots['control_url']}/faults"
    requests.post(faults, json={"system": "wecom", "burst_429": 1}, timeout=10).raise_for_status()
    assert wecom_post(robots, body).json()["errcode"] == 45009
    requests.post(faults, json={"system": "wecom", "burst_5xx": 1, "status_5xx": 503}, timeout=10).raise_for_status()
    r = wecom_post(robots, body)
    assert r.status_code == 503 and r.json()["errcode"] == -1
    assert wecom_post(robots, body).json()["errcode"] == 0


def test_wecom_control_adds_a_robot(robots: dict[str, Any]) -> None:
    url = f"{robots['control_url']}/wecom/robots"
    assert requests.post(url, json={"key": "k-duty"}, timeout=10).status_code == 400
    assert "duty" in requests.post(url, json={"key": "k-duty", "name": "duty"}, timeout=10).json()["robots"]
    assert wecom_post(robots, {"msgtype": "text", "text": {"content": "x"}}, "k-duty").json()["errcode"] == 0
    assert [m["robot"] for m in messages(robots, "wecom")] == ["duty"]


# -- DingTalk -----------------------------------------------------------------------------------------
def ding_sign(secret: str, timestamp: int) -> str:
    """The documented algorithm, written out here independently of the client and the emulator."""
    mac = hmac.new(secret.encode(), (str(timestamp) + "\n" + secret).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def ding_post(
    sandbox: dict[str, Any],
    body: Any,
    *,
    token: str | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    sign: str | None = None,
    unsigned: bool = False,
) -> dict[str, Any]:
    info = sandbox["systems"]["dingtalk"]
    stamp = timestamp if timestamp is not None else int(time.time() * 1000)
    query = f"access_token={token or info['access_token']}"
    if not unsigned:
        query += f"&timestamp={stamp}&sign={quote_plus(sign or ding_sign(secret or info['secret'], stamp))}"
    r = requests.post(f"{info['url']}?{query}", json=body, timeout=10)
    assert r.status_code == 200
    return r.json()


TEXT = {"msgtype": "text", "text": {"content": "配件 alert @13800001111"}, "at": {"atMobiles": ["13800001111"]}}


def test_dingtalk_signed_message_is_taken(robots: dict[str, Any]) -> None:
    assert ding_post(robots, TEXT) == {"errcode": 0, "errmsg": "ok"}
    md = {"msgtype": "markdown", "markdown": {"title": "hub", "text": "#### hub\n> x"}}
    assert ding_post(robots, md)["errcode"] == 0
    card = {
        "msgtype": "actionCard",
        "actionCard": {"title": "t", "text": "x", "singleTitle": "open", "singleURL": "https://example.com"},
    }
    assert ding_post(robots, card)["errcode"] == 0
    got = messages(robots, "dingtalk")
    assert [m["msgtype"] for m in got] == ["text", "markdown", "actionCard"]
    assert got[0]["at"] == {"atMobiles": ["13800001111"], "atUserIds": [], "isAtAll": False}
    assert got[1]["title"] == "hub"


def test_dingtalk_security_refusals(robots: dict[str, Any]) -> None:
    now = int(time.time() * 1000)
    assert ding_post(robots, TEXT, token="unknown")["errcode"] == 300001
    assert ding_post(robots, TEXT, secret="SECwrong") == {"errcode": 310000, "errmsg": "sign not match"}
    raw = ding_sign(robots["systems"]["dingtalk"]["secret"], now)
    assert ding_post(robots, TEXT, timestamp=now, sign=raw + "x")["errcode"] == 310000
    assert ding_post(robots, TEXT, unsigned=True)["errmsg"] == "invalid timestamp"
    # The one-hour window, both ways, measured with the host's clock.
    assert ding_post(robots, TEXT, timestamp=now - 3_660_000)["errmsg"] == "invalid timestamp"
    assert ding_post(robots, TEXT, timestamp=now + 3_660_000)["errmsg"] == "invalid timestamp"
    assert ding_post(robots, TEXT, timestamp=now - 3_500_000)["errcode"] == 0
    assert len(messages(robots, "dingtalk")) == 1


def test_dingtalk_sign_must_be_url_encoded(robots: dict[str, Any]) -> None:
    info = robots["systems"]["dingtalk"]
    for _ in range(50):  # a timestamp whose sign holds a '+', which an unencoded query turns into a space
        stamp = int(time.time() * 1000) - _
        raw = ding_sign(info["secret"], stamp)
        if "+" in raw:
            break
    else:
        pytest.skip("no sign with '+' in 50 timestamps")
    r = requests.post(
        f"{info['url']}?access_token={info['access_token']}&timestamp={stamp}&sign={raw}", json=TEXT, timeout=10
    )
    assert r.json() == {"errcode": 310000, "errmsg": "sign not match"}


def test_dingtalk_keyword_robot(robots: dict[str, Any]) -> None:
    url = f"{robots['control_url']}/dingtalk/robots"
    requests.post(
        url, json={"access_token": "kw-token", "name": "kw", "keywords": ["配件"]}, timeout=10
    ).raise_for_status()
    assert ding_post(robots, TEXT, token="kw-token", unsigned=True)["errcode"] == 0
    other = {"msgtype": "text", "text": {"content": "no keyword here"}}
    assert ding_post(robots, other, token="kw-token", unsigned=True) == {
        "errcode": 310000,
        "errmsg": "keywords not in content",
    }
    assert requests.post(url, json={"access_token": "x", "name": "x", "secret": "nosec"}, timeout=10).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"msgtype": "text", "text": {}},
        {"msgtype": "markdown", "markdown": {"title": "t"}},
        {"msgtype": "voice"},
        {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x"}},
        {"msgtype": "text", "text": {"content": "x"}, "at": {"atMobiles": "138"}},
        {"msgtype": "feedCard", "feedCard": {"links": []}},
        ["text"],
    ],
)
def test_dingtalk_bad_messages(robots: dict[str, Any], body: Any) -> None:
    assert ding_post(robots, body)["errcode"] == 40035
    assert messages(robots, "dingtalk") == []


def test_dingtalk_twenty_a_minute_then_ten_minutes_throttled(robots: dict[str, Any]) -> None:
    assert [ding_post(robots, TEXT)["errcode"] for _ in range(20)] == [0] * 20
    assert ding_post(robots, TEXT) == {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    advance(robots, 120)  # a new minute, but the throttle lasts 10
    assert ding_post(robots, TEXT)["errcode"] == 130101
    advance(robots, 500)
    assert ding_post(robots, TEXT)["errcode"] == 0
    assert len(messages(robots, "dingtalk")) == 21


def test_dingtalk_faults(robots: dict[str, Any]) -> None:
    faults = f"{robots['control_url']}/faults"
    requests.post(faults, json={"system": "dingtalk", "burst_429": 1}, timeout=10).raise_for_status()
    assert ding_post(robots, TEXT)["errcode"] == 130101
    requests.post(faults, json={"system": "dingtalk", "burst_5xx": 1}, timeout=10).raise_for_status()
    info = robots["systems"]["dingtalk"]
    r = requests.post(f"{info['url']}?access_token={info['access_token']}", json=TEXT, timeout=10)
    assert r.status_code == 500 and r.json()["errcode"] == -1


# -- the alert webhook receiver -------------------------------------------------------------------------
def hook_post(
    sandbox: dict[str, Any], body: bytes, message_id: str = "m-1", secret: str | None = None, stamp: int | None = None
) -> requests.Response:
    info = sandbox["systems"]["alert_webhook"]
    ts = str(stamp if stamp is not None else int(time.time()))
    sig = (
        "sha256=" + hmac.new((secret or info["secret"]).encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    headers = {"X-Hub-Message-Id": message_id, "X-Hub-Timestamp": ts, "X-Hub-Signature-256": sig}
    return requests.post(info["url"], data=body, headers=headers, timeout=10)


def test_alert_webhook_checks_the_signature_and_keeps_one_copy(robots: dict[str, Any]) -> None:
    body = b'{"type":"order_delay","key":"1010"}'
    assert hook_post(robots, body).status_code == 202
    again = hook_post(robots, body)
    assert again.status_code == 200 and again.json() == {"duplicate": True}
    assert hook_post(robots, body, "m-2", secret="wrong").status_code == 401
    assert hook_post(robots, body, "m-3", stamp=int(time.time()) - 3600).status_code == 401
    assert hook_post(robots, b"[1]", "m-4").status_code == 400
    got = messages(robots, "alert_webhook")
    assert [m["message_id"] for m in got] == ["m-1"] and got[0]["body"] == {"type": "order_delay", "key": "1010"}


# -- fuzz: never a 500 ----------------------------------------------------------------------------------
QUERY = st.dictionaries(
    st.sampled_from(["key", "access_token", "timestamp", "sign", "x"]),
    st.text(max_size=20) | st.sampled_from(fuzzing.NASTY_TEXT),
    max_size=4,
)
BODIES = st.binary(max_size=300) | fuzzing.json_values(["text", "markdown", "actionCard"]).map(fuzzing.dumps)
MESSAGES = st.fixed_dictionaries(
    {
        "msgtype": st.sampled_from(["text", "markdown", "actionCard", "link", "feedCard", "news", "file"])
        | fuzzing.scalars()
    },
    optional={
        "text": fuzzing.json_values(),
        "markdown": fuzzing.json_values(),
        "actionCard": fuzzing.json_values(),
        "at": fuzzing.json_values(),
        "feedCard": fuzzing.json_values(),
    },
).map(fuzzing.dumps)


@fuzzing.FUZZ
@given(system=st.sampled_from(["wecom", "dingtalk", "alert_webhook"]), query=QUERY, body=BODIES | MESSAGES)
def test_malformed_requests_never_get_a_500(
    sandbox: dict[str, Any], system: str, query: dict[str, str], body: bytes
) -> None:
    info = sandbox["systems"][system]
    url = f"{info['url']}?{urlencode(query, encoding='utf-8', errors='surrogatepass')}"
    r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code < 500, r.text
    r.json()  # always the vendor's JSON shape


@fuzzing.FUZZ
@given(body=MESSAGES)
def test_valid_credentials_with_any_message_never_get_a_500(sandbox: dict[str, Any], body: bytes) -> None:
    info = sandbox["systems"]["wecom"]
    assert requests.post(info["url"], params={"key": info["key"]}, data=body, timeout=10).status_code < 500
    ding = sandbox["systems"]["dingtalk"]
    stamp = int(time.time() * 1000)
    sign = quote_plus(ding_sign(ding["secret"], stamp))
    url = f"{ding['url']}?access_token={ding['access_token']}&timestamp={stamp}&sign={sign}"
    r = requests.post(url, data=body, timeout=10)
    assert r.status_code < 500 and isinstance(r.json()["errcode"], int)
