"""Transient, permanent, bug (DESIGN §3.5, issue 8 point 5), over HTTP, OData and SMTP alike.

* Only what a connector classifies as transient is retried, and through the one policy
  (``connectors.retry``: its log lines prove it), exactly ``max_attempts`` times.
* A value the protocol cannot carry (CR/LF or NUL in a mail header built from CRM data) is a permanent
  ``BusinessError`` naming the field, raised before any traffic: retrying it would loop forever.
* A programming error in our own code inside an attempt propagates as itself after one attempt: it is
  neither retried nor turned into a refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from connectors import mail as mail_module
from connectors import sap_odata
from connectors.http import BusinessError, HttpClient, RetryPolicy, TransientError
from connectors.mail import HeaderRefused, Mailer, SmtpConfig, check_header_values
from connectors.sap_odata import ODataClient
from transforms.message_ids import stable_message_id

FAST = RetryPolicy(max_attempts=3, base=0.0, cap=0.0)


def retry_lines(caplog: pytest.LogCaptureFixture, system: str) -> list[str]:
    """The one policy's log lines for ``system``: one per wait before another attempt."""
    return [
        r.getMessage() for r in caplog.records if r.name == "connectors.retry" and r.getMessage().startswith(system)
    ]


# ------------------------------------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------------------------------------


def test_http_5xx_is_retried_exactly_max_attempts_through_the_one_policy(
    scripted_server, reply, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.script(reply(503, '{"code": "BUSY"}'))
    with caplog.at_level(logging.INFO, logger="connectors.retry"), pytest.raises(TransientError) as caught:
        HttpClient("crm", retry=FAST, sleep=lambda _s: None).send("GET", scripted_server.url + "/x")
    assert len(scripted_server.hits) == FAST.max_attempts == caught.value.attempts
    assert caught.value.status == 503 and caught.value.code == "BUSY"
    lines = retry_lines(caplog, "crm GET")
    assert [line.split(": ", 1)[1].split(" failed")[0] for line in lines] == ["attempt 1/3", "attempt 2/3"]


def test_http_programming_error_in_an_attempt_propagates_after_one_attempt(scripted_server, reply) -> None:
    scripted_server.script(reply(200, '{"data": null}'))

    def interpret(response: requests.Response) -> Any:
        return response.json()["data"].get("id")  # a bug: data is None

    with pytest.raises(AttributeError):
        HttpClient("crm", retry=FAST, sleep=lambda _s: None).send("GET", scripted_server.url, interpret=interpret)
    assert len(scripted_server.hits) == 1


def test_http_programming_error_in_the_transport_propagates_after_one_attempt(
    scripted_server, reply, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HttpClient("crm", retry=FAST, sleep=lambda _s: None)
    calls: list[str] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        raise AttributeError("'NoneType' object has no attribute 'request'")

    monkeypatch.setattr(client.session, "request", broken)
    with pytest.raises(AttributeError):
        client.send("GET", scripted_server.url)
    assert calls == ["GET"]


# ------------------------------------------------------------------------------------------------
# SAP OData
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def odata(scripted_server) -> Iterator[ODataClient]:
    with ODataClient(
        scripted_server.url, user="HUB", password="secret", service_root="", retry=FAST, sleep=lambda _s: None
    ) as client:
        client._csrf["S"] = "tok-1"  # as fetched before (the scripted server does not answer HEAD)
        yield client


def test_odata_read_5xx_is_retried_exactly_max_attempts_through_the_one_policy(
    odata: ODataClient, scripted_server, reply, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.script(reply(503, "busy"))
    with caplog.at_level(logging.INFO, logger="connectors.retry"), pytest.raises(TransientError) as caught:
        odata.get(odata.url("S", "A_Product"))
    assert len(scripted_server.hits) == FAST.max_attempts == caught.value.attempts
    assert len(retry_lines(caplog, "sap_s4 GET")) == FAST.max_attempts - 1


def test_odata_create_refused_with_429_is_sent_exactly_max_attempts_through_the_one_policy(
    odata: ODataClient, scripted_server, reply, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.script(reply(429, "{}"))
    with caplog.at_level(logging.INFO, logger="connectors.retry"), pytest.raises(TransientError) as caught:
        odata.create("S", "A_SalesOrder", {"PurchaseOrderByCustomer": "PO-1"})
    posts = [h for h in scripted_server.hits if h.method == "POST"]
    assert len(posts) == FAST.max_attempts == caught.value.attempts
    assert not sap_odata.maybe_applied(caught.value)
    lines = retry_lines(caplog, "sap_s4 POST")
    assert len(lines) == FAST.max_attempts - 1 and all("(not received)" in line for line in lines)


def test_odata_read_programming_error_propagates_after_one_attempt(
    odata: ODataClient, scripted_server, reply, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_server.script(reply(200, '{"d": {"results": []}}'))

    def broken(response: requests.Response) -> Any:
        raise AttributeError("'Response' object has no attribute 'sap_message'")

    monkeypatch.setattr(sap_odata, "_expect_ok", broken)
    with pytest.raises(AttributeError):
        odata.get(odata.url("S", "A_Product"))
    assert len(scripted_server.hits) == 1


def test_odata_create_programming_error_propagates_after_one_attempt(
    odata: ODataClient, scripted_server, reply, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_server.script(reply(201, '{"d": {"SalesOrder": "1"}}'))

    def broken(response: requests.Response) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'lower'")

    monkeypatch.setattr(sap_odata, "_expect_write", broken)
    with pytest.raises(AttributeError):
        odata.create("S", "A_SalesOrder", {"PurchaseOrderByCustomer": "PO-1"})
    assert [h.method for h in scripted_server.hits] == ["POST"]


# ------------------------------------------------------------------------------------------------
# SMTP, against the sandbox's SMTP server
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def smtp(sandbox_faults: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The session sandbox's SMTP entry, with an empty mailbox and call log and no faults."""
    control = sandbox_faults["control_url"]
    requests.delete(control + "/mail", timeout=10).raise_for_status()
    requests.delete(control + "/calls", timeout=10).raise_for_status()
    yield sandbox_faults["systems"]["smtp"] | {"control_url": control}


def _mailer(smtp: dict[str, Any], retry: RetryPolicy = FAST) -> Mailer:
    connection = SimpleNamespace(
        host=smtp["host"],
        port=smtp["port"],
        login=smtp["user"],
        password=smtp["password"],
        extra_dejson={"from_email": smtp["from_address"], "disable_tls": True, "disable_ssl": True},
    )
    config = SmtpConfig.from_connection(connection)
    return Mailer(SmtpConfig(**{**config.__dict__, "retry": retry, "timeout": 10.0}), sleep=lambda _s: None)


def _message(smtp: dict[str, Any], cls: type[Message] = EmailMessage, **headers: str) -> Any:
    message = cls(policy=policy.compat32) if cls is not EmailMessage else EmailMessage()
    values = {
        "From": smtp["from_address"],
        "To": "buyer@example.cn",
        "Subject": "订单确认 SO-00001 / SAP 1000001",
        "Message-ID": stable_message_id("test:1", "parts-hub.example"),
        **headers,
    }
    for name, value in values.items():
        message[name] = value
    message.set_payload("您好，您的订单已确认。", "utf-8")
    return message


def _control(smtp: dict[str, Any], what: str) -> list[dict[str, Any]]:
    params = {"system": "smtp"} if what == "calls" else {}
    response = requests.get(f"{smtp['control_url']}/{what}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["calls" if what == "calls" else "messages"]


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the SMTP connections the mailer opens."""
    opened: list[int] = []
    original = Mailer._connect

    def counting(self: Mailer) -> Any:
        opened.append(1)
        return original(self)

    monkeypatch.setattr(Mailer, "_connect", counting)
    return opened


@pytest.mark.sandbox
@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"Subject": "订单确认 SO-1\r\nBcc: attacker@example.com"}, "subject"),  # header injection
        ({"Subject": "订单确认 SO-1\r\n"}, "subject"),
        ({"Subject": "SO-\n1"}, "subject"),
        ({"To": "buyer@example.cn\r\nBcc: attacker@example.com"}, "email"),
        ({"Message-ID": "<SO-1\r\n@parts-hub.example>"}, "message-id"),
    ],
    ids=["subject-injection", "subject-trailing-crlf", "subject-lf", "address-crlf", "message-id-crlf"],
)
def test_smtp_line_break_in_a_header_is_a_business_error_before_any_smtp_traffic(
    smtp: dict[str, Any], connects: list[int], headers: dict[str, str], field: str
) -> None:
    # A compat32 message (MIMEText and friends) accepts the value; the default policy refuses it at once.
    with pytest.raises(HeaderRefused) as caught:
        _mailer(smtp).send(_message(smtp, cls=Message, **headers))
    assert isinstance(caught.value, BusinessError) and not isinstance(caught.value, TransientError)
    assert caught.value.field == field and caught.value.code == "INVALID_HEADER"
    assert connects == [] and _control(smtp, "calls") == [] and _control(smtp, "mail") == []


@pytest.mark.sandbox
@pytest.mark.parametrize(
    ("headers", "field"),
    [({"Subject": "订单确认 SO-\x001"}, "subject"), ({"To": "buy\x00er@example.cn"}, "email")],
    ids=["subject", "address"],
)
def test_smtp_nul_in_a_header_of_a_default_policy_message_is_a_business_error_before_any_traffic(
    smtp: dict[str, Any], connects: list[int], headers: dict[str, str], field: str
) -> None:
    with pytest.raises(HeaderRefused) as caught:
        _mailer(smtp).send(_message(smtp, **headers))
    assert caught.value.field == field
    assert connects == [] and _control(smtp, "calls") == [] and _control(smtp, "mail") == []


@pytest.mark.sandbox
def test_smtp_mime_text_with_a_crlf_subject_is_refused_once_not_retried(
    smtp: dict[str, Any], connects: list[int]
) -> None:
    message = MIMEText("body", "plain", "utf-8")
    message["From"], message["To"] = smtp["from_address"], "buyer@example.cn"
    message["Subject"] = "SO-1\r\nX-Injected: yes"
    message["Message-ID"] = stable_message_id("test:mime", "parts-hub.example")
    mailer = _mailer(smtp)
    for _ in range(2):  # the next run refuses it the same way: a refusal, not a loop
        with pytest.raises(HeaderRefused, match="Subject"):
            mailer.send(message)
    assert connects == [] and _control(smtp, "mail") == []


@pytest.mark.sandbox
def test_smtp_a_folded_header_is_not_mistaken_for_a_line_break(smtp: dict[str, Any]) -> None:
    message = _message(smtp, cls=Message, Subject="a long subject\r\n folded as RFC 5322 allows")
    _mailer(smtp).send(message)
    [stored] = _control(smtp, "mail")
    assert stored["subject"].startswith("a long subject")


@pytest.mark.sandbox
def test_smtp_421_is_retried_exactly_max_attempts_through_the_one_policy(
    smtp: dict[str, Any], connects: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    response = requests.post(f"{smtp['control_url']}/faults", json={"system": "smtp", "burst_429": 10}, timeout=10)
    assert response.status_code == 200, response.text
    with caplog.at_level(logging.INFO, logger="connectors.retry"), pytest.raises(TransientError) as caught:
        _mailer(smtp).send(_message(smtp))
    assert caught.value.attempts == FAST.max_attempts and caught.value.status == 421
    rcpt = [(c["method"], c["status"]) for c in _control(smtp, "calls") if c["method"] == "RCPT"]
    assert rcpt == [("RCPT", 421)] * FAST.max_attempts and len(connects) == FAST.max_attempts
    lines = retry_lines(caplog, "smtp message")
    assert len(lines) == FAST.max_attempts - 1 and "attempt 1/3 failed (421" in lines[0]
    assert _control(smtp, "mail") == []


@pytest.mark.sandbox
def test_smtp_programming_error_in_an_attempt_propagates_after_one_attempt(
    smtp: dict[str, Any], connects: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'encode'")

    monkeypatch.setattr(mail_module._Smtp, "send_message", broken)
    with pytest.raises(AttributeError):
        _mailer(smtp).send(_message(smtp))
    assert len(connects) == 1
    assert [c["method"] for c in _control(smtp, "calls")] == ["AUTH"]
    assert _control(smtp, "mail") == []


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"order_number": "SO-1\r\nBcc: attacker@example.com", "email": "buyer@example.cn"}, "order_number"),
        ({"order_number": "SO-1", "email": "buyer@example.cn\n"}, "email"),
        ({"order_number": "SO-1", "customer_name": "上海\x00汽配"}, "customer_name"),
        ({"order_number": "SO-1\r\n folded"}, "order_number"),  # a value is not a folded header
    ],
)
def test_check_header_values_names_the_field_before_a_message_is_built(values: dict[str, str], field: str) -> None:
    with pytest.raises(HeaderRefused) as caught:
        check_header_values(values)
    assert caught.value.field == field and isinstance(caught.value, BusinessError)
    assert "\r" not in str(caught.value) and "attacker" not in str(caught.value)


def test_check_header_values_lets_clean_and_missing_values_through() -> None:
    check_header_values({"order_number": "SO-00012", "customer_name": None, "subject": "订单确认 SO-00012"})
