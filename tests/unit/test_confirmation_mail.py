"""The customer confirmation e-mail: languages, statuses, numbers, dates, escaping, headers."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.mail import SmtpConfig
from transforms.confirmation import Confirmation, ConfirmedLine
from transforms.confirmation_mail import money_text, quantity_text, render_confirmation
from transforms.message_ids import stable_message_id

SENT_AT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
SENDER = "Parts Hub <orders@parts-hub.example>"
KEY = "mail:confirmation:SO-00012:v1"


def _line(no: int, ordered: str, confirmed: str, *, description: str | None = "Brake pad", when=date(2026, 12, 2)):
    return ConfirmedLine(no, f"SP-{no:03d}", description, Decimal(ordered), Decimal(confirmed), "PC", when)


def _confirmation(*lines: ConfirmedLine, language: str = "en", **changes) -> Confirmation:
    base = Confirmation(
        source="zoho_crm",
        crm_order_id="5843104000300000012",
        order_number="SO-00012",
        customer_number="C100",
        customer_name="ACME Parts GmbH" if language == "en" else "上海汽配有限公司",
        email="buyer@acme.example.com",
        language=language,
        sap_order="1000001",
        currency="CNY",
        net_amount=Decimal("1234.5"),
        gross_amount=Decimal("1395.0"),
        lines=lines or (_line(1, "10.000", "10"), _line(2, "4", "4")),
    )
    return replace(base, **changes)


def _render(confirmation: Confirmation) -> EmailMessage:
    return render_confirmation(confirmation, sender=SENDER, sent_at=SENT_AT, idempotency_key=KEY)


def _parts(message: EmailMessage) -> tuple[str, str]:
    """Both bodies as a receiver reads them, after a trip through the wire format."""
    received = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(received, EmailMessage)
    text, html = received.get_body(("plain",)), received.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def _text_rows(text: str) -> list[list[str]]:
    return [row.split(" | ") for row in text.splitlines() if re.match(r"^\d+ \| ", row)]


def test_english_confirmation_headers_and_parts() -> None:
    message = _render(_confirmation())
    assert message["Subject"] == "Order confirmation SO-00012 / SAP 1000001"
    assert message["From"] == SENDER
    assert message["To"].addresses[0].addr_spec == "buyer@acme.example.com"
    assert message["Date"] == "Tue, 01 Dec 2026 08:30:00 +0000"
    assert message["Message-ID"] == stable_message_id(KEY, "parts-hub.example")
    assert message["X-Hub-Order"] == "SO-00012"
    assert message.get_content_type() == "multipart/alternative"
    text, html = _parts(message)
    assert "Dear ACME Parts GmbH," in text and "SAP sales order 1000001" in text and "Status: confirmed" in text
    assert _text_rows(text)[0] == ["1", "SP-001", "Brake pad", "10", "10", "0", "PC", "2026-12-02"]
    assert "Net total: CNY 1,234.50" in text and "Gross total: CNY 1,395.00" in text
    assert "as soon as stock arrives" not in text  # nothing is backordered
    assert "orders@parts-hub.example" in text  # contact footer defaults to the sender's address
    assert "<td>SP-001</td>" in html and "CNY 1,395.00" in html and 'lang="en"' in html


def test_chinese_confirmation() -> None:
    confirmation = _confirmation(_line(1, "10", "6"), _line(2, "5", "5"), language="zh")
    message = _render(confirmation)
    assert message["Subject"] == "订单部分确认 SO-00012 / SAP 1000001"
    assert message["Content-Language"] == "zh"
    text, html = _parts(message)
    assert text.startswith("尊敬的上海汽配有限公司：")
    assert "状态：部分确认" in text
    assert _text_rows(text)[0] == ["1", "SP-001", "Brake pad", "10", "6", "4", "PC", "2026年12月2日"]
    assert "净额合计：CNY 1,234.50" in text and "含税总额：CNY 1,395.00" in text
    assert "剩余数量将在到货后尽快确认。" in text
    assert "<th>承诺交货日期</th>" in html and "2026年12月2日" in html and "部分确认" in html
    # The subject travels RFC 2047-encoded and decodes back to the same text.
    assert "=?utf-8?" in message.as_string()


@pytest.mark.parametrize(
    ("language", "lines", "subject", "status"),
    [
        ("en", [("10", "10")], "Order confirmation SO-00012 / SAP 1000001", "confirmed"),
        ("en", [("10", "4")], "Partial order confirmation SO-00012 / SAP 1000001", "partially confirmed"),
        ("en", [("10", "0")], "Order backordered SO-00012 / SAP 1000001", "backordered"),
        ("zh", [("10", "10")], "订单确认 SO-00012 / SAP 1000001", "已确认"),
        ("zh", [("10", "4"), ("3", "0")], "订单部分确认 SO-00012 / SAP 1000001", "部分确认"),
        ("zh", [("10", "0")], "订单缺货待补 SO-00012 / SAP 1000001", "缺货待补"),
    ],
)
def test_statuses_have_their_own_subjects(language, lines, subject, status) -> None:
    confirmation = _confirmation(*(_line(i, o, c) for i, (o, c) in enumerate(lines, 1)), language=language)
    message = _render(confirmation)
    assert message["Subject"] == subject
    text, html = _parts(message)
    assert status in text and status in html


def test_backordered_without_sap_order_and_without_promised_date() -> None:
    confirmation = _confirmation(_line(1, "8", "0", when=None), sap_order=None)
    message = _render(confirmation)
    assert message["Subject"] == "Order backordered SO-00012"
    text, _ = _parts(message)
    assert "SAP sales order" not in text
    assert _text_rows(text)[0][-1] == "to be advised"
    assert "The remaining quantities will be confirmed as soon as stock arrives." in text
    zh_text, _ = _parts(_render(replace(confirmation, language="zh")))
    assert _text_rows(zh_text)[0][-1] == "待定"


def test_html_escapes_hostile_text() -> None:
    hostile = '<script>alert("x")</script>'
    confirmation = _confirmation(_line(1, "1", "1", description=hostile), customer_name="<b>Evil</b> & Co")
    text, html = _parts(_render(confirmation))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Evil</b>" not in html and "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in html
    assert hostile in text  # plain text is not markup: shown as written


def test_numbers_dates_and_money_formats() -> None:
    assert quantity_text(Decimal("10.000")) == "10"
    assert quantity_text(Decimal("2.50")) == "2.5"
    assert quantity_text(Decimal("100")) == "100"
    assert quantity_text(Decimal("0.000")) == "0"
    assert money_text(Decimal("1234.505"), "CNY") == "CNY 1,234.51"
    assert money_text(Decimal("1234.5"), "JPY") == "JPY 1,235"
    confirmation = _confirmation(_line(1, "2.500", "1.25", when=date(2027, 1, 9)), language="zh")
    text, _ = _parts(_render(confirmation))
    assert _text_rows(text)[0][3:6] == ["2.5", "1.25", "1.25"]
    assert _text_rows(text)[0][-1] == "2027年1月9日"


def test_missing_email_names_the_order() -> None:
    with pytest.raises(ValueError, match="SO-00012.*no e-mail"):
        _render(_confirmation(email=None))
    with pytest.raises(ValueError, match="SO-00012"):
        _render(_confirmation(email=""))


def test_rendering_is_deterministic_and_date_is_the_one_passed_in() -> None:
    confirmation = _confirmation()
    assert _render(confirmation).as_bytes() == _render(confirmation).as_bytes()
    later = render_confirmation(
        confirmation, sender=SENDER, sent_at=SENT_AT.astimezone(timezone(timedelta(hours=8))), idempotency_key=KEY
    )
    assert later["Date"] == "Tue, 01 Dec 2026 16:30:00 +0800"
    other = render_confirmation(confirmation, sender=SENDER, sent_at=SENT_AT, idempotency_key=KEY + "-v2")
    assert other["Message-ID"] != _render(confirmation)["Message-ID"]
    with pytest.raises(ValueError, match="timezone-aware"):
        render_confirmation(confirmation, sender=SENDER, sent_at=datetime(2026, 12, 1), idempotency_key=KEY)


def test_unknown_or_regional_language() -> None:
    assert _render(_confirmation(language="zh-CN"))["Subject"].startswith("订单确认")
    assert _render(_confirmation(language="de"))["Subject"].startswith("Order confirmation")


def test_stable_message_id() -> None:
    first = stable_message_id("mail:confirmation:SO-1:v1", "parts-hub.example")
    assert first == stable_message_id("mail:confirmation:SO-1:v1", "parts-hub.example")
    assert re.fullmatch(r"<[0-9a-f]{32}@parts-hub\.example>", first)
    assert first != stable_message_id("mail:confirmation:SO-1:v2", "parts-hub.example")
    with pytest.raises(ValueError):
        stable_message_id("", "parts-hub.example")


def test_smtp_config_from_an_airflow_style_connection() -> None:
    conn = SimpleNamespace(
        host="smtp.example.com",
        port=None,
        login="hub",
        password="s3cret",
        extra_dejson={"from_email": "orders@parts-hub.example", "retry_limit": 2, "timeout": "10"},
    )
    cfg = SmtpConfig.from_connection(conn)
    assert (cfg.host, cfg.port, cfg.ssl, cfg.starttls, cfg.verify_tls) == ("smtp.example.com", 465, True, False, True)
    assert cfg.retry.max_attempts == 3 and cfg.timeout == 10.0 and cfg.from_address == "orders@parts-hub.example"
    assert "s3cret" not in repr(cfg)
    conn.extra_dejson = {"from_email": "o@x.example", "disable_ssl": "true", "ssl_context": "none"}
    cfg = SmtpConfig.from_connection(conn)
    assert (cfg.port, cfg.ssl, cfg.starttls, cfg.verify_tls) == (587, False, True, False)
    conn.extra_dejson = {"from_email": "o@x.example", "disable_ssl": True, "disable_tls": True}
    conn.port = 2525
    cfg = SmtpConfig.from_connection(conn)
    assert (cfg.port, cfg.ssl, cfg.starttls) == (2525, False, False)
    conn.extra_dejson = {}
    with pytest.raises(ValueError, match="from_email"):
        SmtpConfig.from_connection(conn)


quantities = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)


@given(
    st.lists(st.tuples(quantities, st.floats(min_value=0, max_value=1)), min_size=1, max_size=8),
    st.sampled_from(["en", "zh"]),
)
def test_table_confirmed_plus_backordered_is_ordered(lines, language) -> None:
    confirmed_lines = []
    for no, (ordered, share) in enumerate(lines, 1):
        # The confirmed part is a share of the ordered quantity, at the same precision.
        confirmed = (ordered * Decimal(repr(share))).quantize(Decimal("0.001")).min(ordered)
        confirmed_lines.append(_line(no, str(ordered), str(confirmed)))
    text, html = _parts(_render(_confirmation(*confirmed_lines, language=language)))
    rows = _text_rows(text)
    assert len(rows) == len(lines)
    for row, (ordered, _) in zip(rows, lines, strict=True):
        assert Decimal(row[4]) + Decimal(row[5]) == Decimal(row[3]) == ordered
    cells = re.findall(r"<tr><td>\d+</td>(.*?)</tr>", html)
    for cell_row, (ordered, _) in zip(cells, lines, strict=True):
        numbers = re.findall(r'<td style="text-align: right;">([^<]*)</td>', cell_row)
        assert Decimal(numbers[1]) + Decimal(numbers[2]) == Decimal(numbers[0]) == ordered
