"""The shared HTTP layer: redaction, Retry-After, backoff, typed errors, and retries over real sockets."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.http import (
    MASK,
    HttpClient,
    PermanentError,
    RedactingFilter,
    RetryableError,
    RetryPolicy,
    TransientError,
    dumps_json,
    parse_retry_after,
    redact,
)

FAST = RetryPolicy(max_attempts=4, base=0.01, cap=0.05)

# ------------------------------------------------------------------------------------------------
# redact()
# ------------------------------------------------------------------------------------------------

SECRET = "s3cr3t-VALUE.with/chars=="


@pytest.mark.parametrize(
    "text",
    [
        f"https://accounts.zoho.com/oauth/v2/token?refresh_token={SECRET}&client_id=abc",
        f"grant_type=refresh_token&client_secret={SECRET}&refresh_token={SECRET}",
        f'{{"corpAccessToken": "{SECRET}", "corpId": "c1"}}',
        f'{{"appId":"FSAID_1","appSecret":"{SECRET}","permanentCode":"{SECRET}"}}',
        f"{{'access_token': '{SECRET}', 'api_domain': 'https://www.zohoapis.com'}}",
        f"Authorization: Zoho-oauthtoken {SECRET}",
        f"authorization=Bearer {SECRET}",
        f"request failed with header Zoho-oauthtoken {SECRET} attached",
        f"ACCESS_TOKEN={SECRET}",
    ],
)
def test_redact_masks_credentials_in_text(text: str) -> None:
    cleaned = redact(text)
    assert SECRET not in cleaned
    assert MASK in cleaned


def test_redact_keeps_what_is_not_a_credential() -> None:
    text = "GET https://www.zohoapis.com/crm/v8/Sales_Orders?fields=id&page_token=abc123&per_page=200"
    assert redact(text) == text


def test_redact_mappings_recursively_and_case_insensitively() -> None:
    value = {
        "Authorization": f"Zoho-oauthtoken {SECRET}",
        "data": {"object_data": {"name": "SO-1"}},
        "creds": [{"CLIENT_SECRET": SECRET}, {"refresh_token": SECRET}],
        "note": f"token was access_token={SECRET}",
    }
    cleaned = redact(value)
    assert SECRET not in json.dumps(cleaned)
    assert cleaned["Authorization"] == MASK
    assert cleaned["data"] == {"object_data": {"name": "SO-1"}}
    assert value["Authorization"].endswith(SECRET), "the input is not modified"


def test_redact_bytes_and_other_types() -> None:
    assert SECRET not in redact(f"client_secret={SECRET}".encode())
    assert redact(42) == 42
    assert redact(None) is None


@given(
    key=st.sampled_from(["access_token", "corpAccessToken", "appSecret", "client_secret", "refresh_token"]),
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789._-/+=", min_size=6, max_size=40),
    style=st.sampled_from(["{k}={v}", '"{k}": "{v}"', "'{k}': '{v}'", '"{k}":"{v}"', "{k} = {v}"]),
)
def test_redact_property_never_leaks(key: str, secret: str, style: str) -> None:
    text = "prefix & " + style.format(k=key, v=secret) + " & suffix"
    assert secret not in redact(text)


def test_redacting_filter_cleans_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redacting")
    handler_filter = RedactingFilter()
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.redacting"):
            logger.info("calling %s", f"https://x/?access_token={SECRET}")
    finally:
        logger.removeFilter(handler_filter)
    assert SECRET not in caplog.text
    assert "access_token=***" in caplog.text


# ------------------------------------------------------------------------------------------------
# Retry-After and backoff
# ------------------------------------------------------------------------------------------------


def test_parse_retry_after_seconds_and_garbage() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2 ") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("-3") is None
    assert parse_retry_after("soon") is None


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0  # already past


@given(seconds=st.integers(min_value=0, max_value=86_400))
def test_parse_retry_after_date_round_trip(seconds: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(header, now=now) == seconds


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base=-1)


# ------------------------------------------------------------------------------------------------
# dumps_json
# ------------------------------------------------------------------------------------------------


def test_dumps_json_writes_decimals_exactly() -> None:
    text = dumps_json({"amount": Decimal("12345678901234567.10"), "qty": Decimal("3"), "n": [1, "a", None, True]})
    assert text == '{"amount":12345678901234567.10,"qty":3,"n":[1,"a",null,true]}'
    assert json.loads(text, parse_float=Decimal)["amount"] == Decimal("12345678901234567.10")


def test_dumps_json_refuses_floats_and_nan() -> None:
    with pytest.raises(TypeError):
        dumps_json({"amount": 0.1})
    with pytest.raises(ValueError):
        dumps_json(Decimal("NaN"))


# ------------------------------------------------------------------------------------------------
# HttpClient over real sockets
# ------------------------------------------------------------------------------------------------


def _client(sleeps: list[float] | None = None, **kwargs) -> HttpClient:
    recorder = sleeps.append if sleeps is not None else (lambda _s: None)
    return HttpClient("test", timeout=(1.0, 1.0), retry=kwargs.pop("retry", FAST), sleep=recorder, **kwargs)


def test_retries_429_then_succeeds_honouring_retry_after(scripted_server, reply) -> None:
    scripted_server.script(
        reply(429, '{"code":"TOO_MANY_REQUESTS"}', {"Retry-After": "3"}),
        reply(503, "{}"),
        reply(200, '{"ok": true}'),
    )
    sleeps: list[float] = []
    response = _client(sleeps).send("GET", scripted_server.url + "/x")
    assert response.json() == {"ok": True}
    assert len(scripted_server.hits) == 3
    assert sleeps[0] == 3.0, "Retry-After replaces the computed backoff"
    assert 0 <= sleeps[1] <= FAST.cap


def test_retry_after_http_date_is_honoured(scripted_server, reply) -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    scripted_server.script(reply(429, "{}", {"Retry-After": format_datetime(when, usegmt=True)}), reply(200))
    sleeps: list[float] = []
    _client(sleeps).send("GET", scripted_server.url)
    assert 15 <= sleeps[0] <= 20


def test_backoff_is_capped_full_jitter(scripted_server, reply) -> None:
    scripted_server.script(reply(500))
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=8, base=0.01, cap=0.05)
    with pytest.raises(TransientError) as info:
        _client(sleeps, retry=policy).send("GET", scripted_server.url)
    assert info.value.attempts == 8 and info.value.status == 500
    assert len(sleeps) == 7
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0 <= wait <= min(policy.cap, policy.base * 2 ** (attempt - 1))


def test_too_long_retry_after_gives_up_at_once(scripted_server, reply) -> None:
    scripted_server.script(reply(429, "{}", {"Retry-After": "3600"}))
    with pytest.raises(TransientError) as info:
        _client(retry=RetryPolicy(max_attempts=5, base=0.01, cap=0.05, max_retry_after=60)).send(
            "GET", scripted_server.url
        )
    assert info.value.attempts == 1 and info.value.status == 429
    assert len(scripted_server.hits) == 1


def test_4xx_is_permanent_and_not_retried(scripted_server, reply) -> None:
    scripted_server.script(reply(404, '{"code":"INVALID_URL_PATTERN","message":"nope"}'))
    with pytest.raises(PermanentError) as info:
        _client().send("GET", scripted_server.url + "/missing")
    assert info.value.status == 404 and info.value.code == "INVALID_URL_PATTERN"
    assert info.value.system == "test"
    assert len(scripted_server.hits) == 1


def test_read_timeout_is_retried_then_transient(scripted_server, reply) -> None:
    scripted_server.script(reply(200, delay=0.6))
    client = HttpClient("test", timeout=(1.0, 0.2), retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02))
    with pytest.raises(TransientError) as info:
        client.send("GET", scripted_server.url)
    assert info.value.attempts == 2 and info.value.code == "TIMEOUT"


def test_dropped_connection_is_retried(scripted_server, reply) -> None:
    scripted_server.script(reply(drop=True), reply(200, '{"n": 1}'))
    assert _client().send("GET", scripted_server.url).json() == {"n": 1}
    assert len(scripted_server.hits) == 2


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError) as info:
        _client().send("GET", f"http://127.0.0.1:{port}/")
    assert info.value.attempts == FAST.max_attempts and info.value.code == "CONNECTION"


def test_non_idempotent_call_is_not_repeated_after_a_500(scripted_server, reply) -> None:
    scripted_server.script(reply(500), reply(200))
    with pytest.raises(TransientError) as info:
        _client().send("POST", scripted_server.url, json_body={"a": 1}, idempotent=False)
    assert info.value.attempts == 1 and len(scripted_server.hits) == 1


def test_non_idempotent_call_is_repeated_when_the_connection_was_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError) as info:
        _client().send("POST", f"http://127.0.0.1:{port}/", json_body={}, idempotent=False)
    assert info.value.attempts == FAST.max_attempts, "nothing reached a server: safe to try again"


def test_non_idempotent_call_is_not_repeated_after_a_dropped_answer(scripted_server, reply) -> None:
    scripted_server.script(reply(drop=True), reply(200))
    with pytest.raises(TransientError) as info:
        _client().send("POST", scripted_server.url, json_body={"a": 1}, idempotent=False)
    assert info.value.code == "CONNECTION" and len(scripted_server.hits) == 1


def test_non_idempotent_call_is_repeated_after_a_429(scripted_server, reply) -> None:
    scripted_server.script(reply(429), reply(200))
    _client().send("POST", scripted_server.url, json_body={"a": 1}, idempotent=False)
    assert len(scripted_server.hits) == 2


def test_interpret_can_ask_for_a_retry(scripted_server, reply) -> None:
    scripted_server.script(reply(200, '{"errorCode": 30004}'), reply(200, '{"errorCode": 0}'))

    def interpret(response):
        if response.json()["errorCode"]:
            raise RetryableError("busy", code="30004")
        return response.json()

    assert _client().send("POST", scripted_server.url, json_body={}, interpret=interpret) == {"errorCode": 0}
    assert len(scripted_server.hits) == 2


def test_sends_json_with_exact_decimals_and_a_timeout(scripted_server, reply) -> None:
    scripted_server.script(reply(200))
    _client().send("POST", scripted_server.url, json_body={"price": Decimal("0.10")})
    hit = scripted_server.hits[0]
    assert hit.body == b'{"price":0.10}'
    assert hit.headers["Content-Type"].startswith("application/json")


def test_tls_verification_is_on_by_default(tls_server, reply) -> None:
    tls_server.script(reply(200, '{"ok": true}'))
    with pytest.raises(PermanentError) as info:
        _client().send("GET", tls_server.url)  # self-signed: must not be trusted
    assert info.value.code == "TLS"
    assert not tls_server.hits, "no request was sent over an unverified connection"
    assert HttpClient("x").timeout == (10.0, 60.0)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verification_can_be_turned_off_by_configuration(tls_server, reply) -> None:
    tls_server.script(reply(200, '{"ok": true}'))
    assert _client(verify_tls=False).send("GET", tls_server.url).json() == {"ok": True}


def test_retry_logs_never_show_credentials(scripted_server, reply, caplog: pytest.LogCaptureFixture) -> None:
    scripted_server.script(reply(503, f'{{"message": "bad token access_token={SECRET}"}}'), reply(200))
    with caplog.at_level(logging.DEBUG, logger="connectors.http"):
        _client().send(
            "GET",
            scripted_server.url,
            params={"access_token": SECRET, "fields": "id"},
            headers={"Authorization": f"Zoho-oauthtoken {SECRET}"},
        )
    assert "attempt 1/4 failed" in caplog.text
    assert SECRET not in caplog.text


def test_transient_error_message_never_shows_credentials(scripted_server, reply) -> None:
    scripted_server.script(reply(500, f'{{"echo": "client_secret={SECRET}"}}'))
    with pytest.raises(TransientError) as info:
        _client().send("GET", scripted_server.url, params={"refresh_token": SECRET})
    assert SECRET not in str(info.value)
