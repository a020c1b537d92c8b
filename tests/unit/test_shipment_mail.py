"""The customer's shipment e-mail: languages, carriers and tracking links, open and short lines, escaping."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from transforms.message_ids import stable_message_id
from transforms.outbound_orders import OutboundLine, OutboundOrder, Receiver
from transforms.shipment_confirms import ShipmentConfirm, combine, read_confirm
from transforms.shipment_mail import (
    ShipmentNotice,
    notice_for,
    render_shipment,
    shipment_mail_key,
    tracking_link,
)

SENT_AT = datetime(2024, 5, 21, 10, 0, tzinfo=UTC)
SENDER = "Parts Hub <orders@parts-hub.example>"

ORDER = OutboundOrder(
    delivery="80000017",
    sales_order="1000001",
    purchase_order="SO-00012",
    plant="1010",
    warehouse="WH-SH01",
    owner_code="PARTSHUB",
    created=datetime(2024, 5, 20, 2, 0, tzinfo=UTC),
    schedule_date=date(2024, 5, 21),
    receiver=Receiver("华东汽修有限公司", "张工", "13800000000", "江苏省", "苏州市", None, "星湖街100号"),
    logistics_code="SF",
    lines=(
        OutboundLine(10, "P-1001", "Front brake pad", Decimal(5), "PC"),
        OutboundLine(20, "P-2040", "Oil filter", Decimal(20), "PC"),
    ),
)
PLANNED = {line.line_no: line.quantity for line in ORDER.lines}


def _confirm(code: str, qty: dict[str, str], *, final: bool, **head: Any) -> ShipmentConfirm:
    header = {
        "deliveryOrderCode": "80000017",
        "outBizCode": code,
        "confirmType": "0" if final else "1",
        "logisticsCode": "SF",
        "expressCode": f"SF{code}",
        "orderConfirmTime": "2024-05-21 16:40:00",
        **head,
    }
    lines = [{"orderLineNo": n, "itemCode": f"P-{n}", "actualQty": q} for n, q in qty.items()]
    reading = read_confirm({"deliveryOrder": {k: v for k, v in header.items() if v is not None}, "orderLines": lines})
    assert reading.confirm is not None, reading.problems
    return reading.confirm


def _notice(confirms: list[ShipmentConfirm], key: str, *, language: str = "en", **changes: Any) -> ShipmentNotice:
    summary = combine(PLANNED, confirms)
    notice = notice_for(
        ORDER,
        summary,
        key,
        customer_number="C100",
        customer_name="ACME Parts GmbH" if language == "en" else "上海汽配有限公司",
        email="buyer@acme.example.com",
        language=language,
    )
    return replace(notice, **changes)


def _parts(message: EmailMessage) -> tuple[str, str]:
    received = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(received, EmailMessage)
    text, html = received.get_body(("plain",)), received.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def _rows(text: str) -> list[list[str]]:
    return [row.split(" | ") for row in text.splitlines() if re.match(r"^\d+ \| ", row)]


PARTIAL = _confirm("C1", {"10": "2", "20": "20"}, final=False)
FINAL_SHORT = _confirm("C2", {"10": "1"}, final=True, logisticsCode="ZTO", expressCode="73100000001")


def test_partial_shipment_in_english() -> None:
    message = render_shipment(_notice([PARTIAL], "C1"), sender=SENDER, sent_at=SENT_AT)
    assert message["Subject"] == "Order SO-00012 partly shipped (delivery 80000017)"
    assert message["X-Hub-Delivery"] == "80000017" and message["Content-Language"] == "en"
    text, html = _parts(message)
    assert "have left our warehouse on 2024-05-21 (delivery 80000017, SAP sales order 1000001)" in text
    link = "https://www.sf-express.com/chn/sc/waybill/waybill-detail/SFC1"
    assert f"SF Express | SFC1 | {link}" in text
    assert _rows(text) == [
        ["10", "P-1001", "Front brake pad", "2", "2", "5", "3", "PC"],
        ["20", "P-2040", "Oil filter", "20", "20", "20", "0", "PC"],
    ]
    assert "will follow in a later shipment" in text and "could not ship" not in text
    assert f'<a href="{link}">SFC1</a>' in html


def test_final_short_shipment_in_chinese_names_the_short_lines() -> None:
    notice = _notice([PARTIAL, FINAL_SHORT], "C2", language="zh-CN")
    message = render_shipment(notice, sender=SENDER, sent_at=SENT_AT)
    assert message["Subject"] == "订单 SO-00012 已发货，部分缺货（交货单 80000017）"
    text, html = _parts(message)
    assert text.startswith("尊敬的上海汽配有限公司：")
    assert "已于2024年5月21日从我方仓库发出" in text
    assert "中通快递 | 73100000001 | https://www.zto.com/?num=73100000001" in text
    assert _rows(text)[0] == ["10", "P-1001", "Front brake pad", "1", "3", "5", "0", "PC"]
    assert "- 第10行 P-1001：2 PC" in text and "待发货品" not in text
    assert "<th>本次发货</th>" in html and "第10行 P-1001：2 PC" in html


def test_complete_final_shipment() -> None:
    rest = _confirm("C2", {"10": "3"}, final=True)
    message = render_shipment(_notice([PARTIAL, rest], "C2"), sender=SENDER, sent_at=SENT_AT)
    assert message["Subject"] == "Order SO-00012 shipped (delivery 80000017)"
    text, _ = _parts(message)
    assert "later shipment" not in text and "could not ship" not in text


def test_pickup_has_no_carrier_and_no_link() -> None:
    pickup = _confirm(
        "C1", {"10": "5", "20": "20"}, final=True, logisticsCode="OTHER", logisticsName="到仓自提", expressCode=None
    )
    notice = _notice([pickup], "C1")
    assert notice.pickup
    text, html = _parts(render_shipment(notice, sender=SENDER, sent_at=SENT_AT))
    assert "collected at our warehouse" in text and "no tracking number" in text
    assert "Tracking link" not in text and "<a href" not in html


def test_tracking_links() -> None:
    assert tracking_link("SF", "SF123") == "https://www.sf-express.com/chn/sc/waybill/waybill-detail/SF123"
    assert tracking_link("ZTO", "7310") == "https://www.zto.com/?num=7310"
    assert tracking_link("YTO", "YT1") is None  # no documented page: name and number only
    assert tracking_link(None, None) is None
    assert tracking_link("SF", "a/b?c") == "https://www.sf-express.com/chn/sc/waybill/waybill-detail/a%2Fb%3Fc"


def test_other_carrier_keeps_its_name_without_link() -> None:
    other = _confirm(
        "C1", {"10": "5"}, final=False, logisticsCode="OTHER", logisticsName="德邦物流", expressCode="DPK1"
    )
    text, _ = _parts(render_shipment(_notice([other], "C1"), sender=SENDER, sent_at=SENT_AT))
    assert "德邦物流 | DPK1 | -" in text


def test_message_id_is_stable_per_delivery_and_shipment_content() -> None:
    first = _notice([PARTIAL], "C1")
    later = _notice([PARTIAL, FINAL_SHORT], "C1")  # the same shipment, announced after more arrived
    assert shipment_mail_key(first) == shipment_mail_key(later)
    assert shipment_mail_key(first) != shipment_mail_key(_notice([PARTIAL, FINAL_SHORT], "C2"))
    message = render_shipment(first, sender=SENDER, sent_at=SENT_AT)
    assert message["Message-ID"] == stable_message_id(shipment_mail_key(first), "parts-hub.example")
    assert message.as_bytes() == render_shipment(first, sender=SENDER, sent_at=SENT_AT).as_bytes()
    assert shipment_mail_key(first).startswith("mail:shipment:80000017:")


def test_refusals() -> None:
    with pytest.raises(ValueError, match="no e-mail address"):
        render_shipment(_notice([PARTIAL], "C1", email=None), sender=SENDER, sent_at=SENT_AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        render_shipment(_notice([PARTIAL], "C1"), sender=SENDER, sent_at=datetime(2024, 5, 21))
    with pytest.raises(ValueError, match="no shipment C9"):
        _notice([PARTIAL], "C9")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_number", "SO-1\r\nBcc: victim@example.com"),
        ("customer_name", "ACME\nBcc: victim@example.com"),
        ("email", "buyer@acme.example.com\r\nBcc: x@y"),
        ("delivery", "800\r00017"),
    ],
)
def test_line_breaks_in_header_values_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{field} holds a line break"):
        render_shipment(_notice([PARTIAL], "C1", **{field: value}), sender=SENDER, sent_at=SENT_AT)


def test_html_escapes_hostile_text() -> None:
    hostile = '<script>alert("x")</script>'
    order = replace(ORDER, lines=(OutboundLine(10, "P-1001", hostile, Decimal(5), "PC"),))
    summary = combine({10: Decimal(5)}, [PARTIAL])
    notice = notice_for(
        order, summary, "C1", customer_number="C1", customer_name="<b>Evil</b> & Co", email="a@b.example", language="en"
    )
    text, html = _parts(render_shipment(notice, sender=SENDER, sent_at=SENT_AT))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Evil</b>" not in html and "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in html
    assert hostile in text


_hostile = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
) | st.sampled_from(["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "&amp;", "a\r\nBcc: x@y"])


@given(description=_hostile, name=_hostile, order_number=_hostile, lang=st.sampled_from(["en", "zh"]))
def test_hostile_text_is_escaped_or_refused(description: str, name: str, order_number: str, lang: str) -> None:
    order = replace(ORDER, lines=(OutboundLine(10, "P-1001", description, Decimal(5), "PC"),))
    summary = combine({10: Decimal(5)}, [PARTIAL])
    notice = notice_for(
        order,
        summary,
        "C1",
        customer_number="C1",
        customer_name=name,
        email="a@b.example",
        language=lang,
        order_number=order_number,
    )
    unsafe = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
    if unsafe.search(name) or unsafe.search(order_number):
        with pytest.raises(ValueError, match="line break or control character"):
            render_shipment(notice, sender=SENDER, sent_at=SENT_AT)
        return
    message = render_shipment(notice, sender=SENDER, sent_at=SENT_AT)
    received = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert set(received.keys()) == set(message.keys())  # no header smuggled in
    assert received["Subject"].split() == message["Subject"].split()  # refolding may move whitespace
    _, html = _parts(message)
    for value in (description, name, order_number):
        if not unsafe.search(value) and value.strip() == value:  # as written, after a trip through MIME
            assert str(escape(value)) in html
    assert "<script" not in html and "<img" not in html  # the template has neither: any would be injected
