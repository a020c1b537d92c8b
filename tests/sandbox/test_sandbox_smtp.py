"""The sandbox SMTP server through the real process: smtplib and the hub's Mailer, AUTH, policy, faults."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from connectors.http import AuthError, BusinessError, PermanentError, RetryPolicy, TransientError
from connectors.mail import Mailer, RecipientRefused, SmtpConfig
from transforms.confirmation import Confirmation, ConfirmedLine
from transforms.confirmation_mail import render_confirmation
from transforms.message_ids import stable_message_id

pytestmark = pytest.mark.sandbox

FAST = RetryPolicy(max_attempts=4, base=0.01, cap=0.05)


@pytest.fixture
def smtp(sandbox_faults: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The session sandbox's SMTP entry, with an empty mailbox and call log and no faults."""
    control = sandbox_faults["control_url"]
    requests.delete(control + "/mail", timeout=10).raise_for_status()
    requests.delete(control + "/calls", timeout=10).raise_for_status()
    yield sandbox_faults["systems"]["smtp"] | {"control_url": control}


def _connection(smtp: dict[str, Any], **extra: Any) -> SimpleNamespace:
    """The Airflow Connection ``smtp_default`` as the local setup builds it from the ready line."""
    return SimpleNamespace(
        conn_type="smtp",
        host=smtp["host"],
        port=smtp["port"],
        login=smtp["user"],
        password=smtp["password"],
        extra_dejson={"from_email": smtp["from_address"], "disable_tls": True, "disable_ssl": True, **extra},
    )


def _mailer(smtp: dict[str, Any], **changes: Any) -> Mailer:
    config = SmtpConfig.from_connection(_connection(smtp))
    return Mailer(SmtpConfig(**{**config.__dict__, "retry": FAST, "timeout": 10.0, **changes}))


def _message(smtp: dict[str, Any], to: str = "buyer@example.cn", key: str = "test:1") -> EmailMessage:
    message = EmailMessage()
    message["From"] = smtp["from_address"]
    message["To"] = to
    message["Subject"] = "订单确认 SO-00001 / SAP 1000001"
    message["Message-ID"] = stable_message_id(key, "parts-hub.example")
    message.set_content("您好，您的订单已确认。")
    message.add_alternative("<p>您好，<b>订单</b>已确认。</p>", subtype="html")
    return message


def _mail(smtp: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = requests.get(smtp["control_url"] + "/mail", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["messages"]


def _calls(smtp: dict[str, Any]) -> list[dict[str, Any]]:
    response = requests.get(smtp["control_url"] + "/calls", params={"system": "smtp"}, timeout=10)
    response.raise_for_status()
    return response.json()["calls"]


def _faults(smtp: dict[str, Any], **settings: Any) -> None:
    response = requests.post(smtp["control_url"] + "/faults", json={"system": "smtp", **settings}, timeout=10)
    assert response.status_code == 200, response.text


def test_ready_line_entry(sandbox: dict[str, Any]) -> None:
    entry = sandbox["systems"]["smtp"]
    assert set(entry) == {"host", "port", "user", "password", "from_address"}
    assert entry["host"] == "127.0.0.1" and isinstance(entry["port"], int) and entry["port"] > 0
    assert entry["from_address"] == "orders@parts-hub.example"
    with smtplib.SMTP(entry["host"], entry["port"], timeout=10) as client:
        code, _ = client.ehlo("hub.test")
        assert code == 250
        assert client.has_extn("size") and client.esmtp_features["size"] == str(10 * 1024 * 1024)
        assert client.has_extn("enhancedstatuscodes") and client.has_extn("smtputf8")
        assert set(client.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN"}
        assert not client.has_extn("starttls")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtplib_send_is_captured_decoded(smtp: dict[str, Any], mechanism: str) -> None:
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as client:
        client.ehlo()
        client.user, client.password = smtp["user"], smtp["password"]
        code, reply = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert (code, reply[:5]) == (235, b"2.7.0")
        assert client.send_message(_message(smtp)) == {}
    [stored] = _mail(smtp)
    assert stored["subject"] == "订单确认 SO-00001 / SAP 1000001"
    assert stored["text"] == "您好，您的订单已确认。\n"
    assert stored["html"] == "<p>您好，<b>订单</b>已确认。</p>\n"
    assert stored["mail_from"] == "orders@parts-hub.example" and stored["rcpt_to"] == ["buyer@example.cn"]
    assert stored["to"] == ["buyer@example.cn"] and stored["message_id"] == stable_message_id(
        "test:1", "parts-hub.example"
    )
    assert stored["received_at"].endswith("Z") and stored["seq"] >= 1
    assert ["Subject", "订单确认 SO-00001 / SAP 1000001"] in stored["headers"]


def test_sending_without_auth_is_530(smtp: dict[str, Any]) -> None:
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(_message(smtp))
        assert refused.value.smtp_code == 530 and refused.value.smtp_error.startswith(b"5.7.0")
    assert _mail(smtp) == []
    assert [(c["method"], c["status"], c["error_code"]) for c in _calls(smtp)] == [("MAIL", 530, "5.7.0")]
    config = SmtpConfig.from_connection(_connection(smtp))
    with pytest.raises(AuthError) as error:
        Mailer(SmtpConfig(**{**config.__dict__, "user": None, "retry": FAST})).send(_message(smtp))
    assert error.value.status == 530


def test_bad_password_is_535(smtp: dict[str, Any]) -> None:
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(smtp["user"], "wrong")
        assert refused.value.smtp_code == 535 and refused.value.smtp_error.startswith(b"5.7.8")
    with pytest.raises(AuthError) as error:
        _mailer(smtp, password="wrong").send(_message(smtp))
    assert error.value.status == 535 and error.value.code == "5.7.8" and "wrong" not in str(error.value)
    assert _mail(smtp) == []


def test_mailer_sends_a_rendered_chinese_confirmation(smtp: dict[str, Any]) -> None:
    confirmation = Confirmation(
        source="fxiaoke",
        crm_order_id="65f0a1b2c3d4e5f6a7b8c9d0",
        order_number="SO-00012",
        customer_number="C100",
        customer_name="上海汽配有限公司",
        email="purchase100@example.cn",
        language="zh",
        sap_order="1000001",
        currency="CNY",
        net_amount=Decimal("1234.50"),
        gross_amount=Decimal("1395.00"),
        lines=(ConfirmedLine(1, "SP-001", "刹车片 <前轮>", Decimal("10"), Decimal("6"), "PC", date(2026, 12, 2)),),
    )
    message = render_confirmation(
        confirmation,
        sender=smtp["from_address"],
        sent_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        idempotency_key="mail:confirmation:SO-00012:v1",
    )
    message_id = _mailer(smtp).send(message)
    assert message_id == stable_message_id("mail:confirmation:SO-00012:v1", "parts-hub.example")
    [stored] = _mail(smtp, to="purchase100@example.cn")
    assert stored["message_id"] == message_id
    assert stored["subject"] == "订单部分确认 SO-00012 / SAP 1000001"
    assert stored["date"] == "Tue, 01 Dec 2026 08:00:00 +0000"
    assert ["X-Hub-Order", "SO-00012"] in stored["headers"]
    assert "尊敬的上海汽配有限公司：" in stored["text"] and "2026年12月2日" in stored["text"]
    assert "刹车片 &lt;前轮&gt;" in stored["html"] and "部分确认" in stored["html"]


def test_nonexistent_recipient_domain_is_a_permanent_error_naming_the_recipient(smtp: dict[str, Any]) -> None:
    with pytest.raises(RecipientRefused) as error:
        _mailer(smtp).send(_message(smtp, to="nobody@invalid.example"))
    assert isinstance(error.value, BusinessError)
    assert error.value.status == 550 and error.value.code == "5.1.2"
    assert "nobody@invalid.example" in str(error.value) and error.value.delivered_to == []
    assert _mail(smtp) == []
    assert [(c["method"], c["status"]) for c in _calls(smtp) if c["method"] == "RCPT"] == [("RCPT", 550)]


def test_sender_outside_the_hub_domain_is_refused(smtp: dict[str, Any]) -> None:
    message = _message(smtp)
    message.replace_header("From", "someone@elsewhere.example")
    with pytest.raises(PermanentError) as error:
        _mailer(smtp).send(message)
    assert error.value.status == 553 and error.value.code == "5.7.1"


@pytest.mark.parametrize(
    ("fault", "method", "status", "kind"),
    [
        ({"burst_429": 2}, "RCPT", 421, "throttle"),
        ({"burst_5xx": 2}, "DATA", 451, "server_error"),
        ({"burst_drop": 2}, "RCPT", None, "drop"),
    ],
)
def test_transient_faults_are_retried_then_succeed(
    smtp: dict[str, Any], fault: dict[str, int], method: str, status: int | None, kind: str
) -> None:
    _faults(smtp, **fault)
    message_id = _mailer(smtp).send(_message(smtp, key=f"retry:{kind}"))
    stored = _mail(smtp)
    assert [m["message_id"] for m in stored] == [message_id]  # exactly one copy arrived
    faulted = [c for c in _calls(smtp) if c["fault"] == kind]
    assert [(c["method"], c["status"]) for c in faulted] == [(method, status)] * 2
    assert [c["status"] for c in _calls(smtp) if c["method"] == "DATA" and c["fault"] is None] == [250]


def test_transient_faults_that_last_raise_transient_error(smtp: dict[str, Any]) -> None:
    _faults(smtp, burst_5xx=10)
    with pytest.raises(TransientError) as error:
        _mailer(smtp, retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02)).send(_message(smtp))
    assert error.value.attempts == 2 and error.value.status == 451 and error.value.code == "4.3.0"
    assert _mail(smtp) == []


def test_size_limit(smtp: dict[str, Any]) -> None:
    big = "x" * 76 + "\r\n"
    body = (big * (10 * 1024 * 1024 // len(big) + 1)).encode()
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=30) as client:
        client.login(smtp["user"], smtp["password"])
        # Announced with SIZE: refused before any data is sent.
        code, reply = client.mail(smtp["from_address"], [f"SIZE={len(body)}"])
        assert (code, reply[:5]) == (552, b"5.3.4")
        client.rset()
        # Not announced: the server reads it all, then refuses it.
        assert client.mail(smtp["from_address"])[0] == 250
        assert client.rcpt("buyer@example.cn")[0] == 250
        code, reply = client.data(b"Subject: big\r\n\r\n" + body)
        assert (code, reply[:5]) == (552, b"5.3.4")
    assert _mail(smtp) == []


def test_mail_control_api_filters_and_delete(smtp: dict[str, Any]) -> None:
    mailer = _mailer(smtp)
    mailer.send(_message(smtp, to="a@example.com", key="k1"))
    mailer.send(_message(smtp, to="b@example.com", key="k2"))
    first, second = _mail(smtp)
    assert first["seq"] < second["seq"] and first["rcpt_to"] == ["a@example.com"]  # newest last
    assert [m["seq"] for m in _mail(smtp, since=first["seq"])] == [second["seq"]]
    assert [m["rcpt_to"] for m in _mail(smtp, to="B@example.com")] == [["b@example.com"]]
    assert requests.get(smtp["control_url"] + "/mail", params={"since": "x"}, timeout=10).status_code == 400
    response = requests.delete(smtp["control_url"] + "/mail", timeout=10)
    assert response.status_code == 200 and json.loads(response.text) == {"messages": []}
    assert _mail(smtp) == []


def test_call_log_has_auth_rcpt_and_data(smtp: dict[str, Any]) -> None:
    _mailer(smtp).send(_message(smtp))
    calls = _calls(smtp)
    assert [(c["method"], c["status"], c["error_code"]) for c in calls] == [
        ("AUTH", 235, "2.7.0"),
        ("RCPT", 250, "2.1.5"),
        ("DATA", 250, "2.0.0"),
    ]
    assert all(c["system"] == "smtp" and smtp["password"] not in json.dumps(c) for c in calls)
