"""The customer's shipment e-mail: what left the warehouse, with which carrier and tracking number, and
what is still to come, in the customer's language (zh or en).

Built like the order confirmation e-mail (``transforms/confirmation_mail.py``, whose template
environment, number and date formats it reuses): plain text and HTML from the Jinja2 templates
``shipment_notice.*`` in ``transforms/templates/mail``, HTML autoescaped since names, descriptions and
tracking numbers come from other systems. One e-mail per shipment (one distinct confirm): its
Message-ID, and the ledger key the flow sends it under (:func:`shipment_mail_key`), derive from the
delivery and the shipment's content, so a resend is the same message.

Header values (order number, delivery, customer name and address) holding a line break or another
control character are refused (ValueError naming the field) rather than cleaned: such a value is a
broken record upstream, and a header must never carry one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal
from urllib.parse import quote

from transforms.confirmation_mail import LANGUAGES as CONFIRMATION_LANGUAGES
from transforms.confirmation_mail import _environment, quantity_text
from transforms.message_ids import domain_of, stable_message_id
from transforms.outbound_orders import CARRIERS, OutboundOrder
from transforms.shipment_confirms import Parcel, ShipmentSummary

TEMPLATE = "shipment_notice"
NoticeKind = Literal["shipped", "shipped_short", "partly_shipped"]

# Public tracking pages per carrier code ({n}: the tracking number). Only carriers whose page takes the
# number in the URL; others get the carrier's name and the number, without a link. Pickups have none.
TRACKING_LINKS: dict[str, str] = {
    "SF": "https://www.sf-express.com/chn/sc/waybill/waybill-detail/{n}",
    "ZTO": "https://www.zto.com/?num={n}",
}

# Carrier names for English readers; Chinese readers get the standard's names (outbound_orders.CARRIERS).
CARRIER_NAMES_EN: dict[str, str] = {
    "SF": "SF Express",
    "EMS": "China Post EMS",
    "ZJS": "ZJS Express",
    "YTO": "YTO Express",
    "ZTO": "ZTO Express",
    "STO": "STO Express",
    "YUNDA": "Yunda Express",
    "JD": "JD Logistics",
    "POSTB": "China Post",
}

SUBJECTS: dict[str, dict[NoticeKind, str]] = {
    "en": {
        "shipped": "Order {order} shipped (delivery {delivery})",
        "shipped_short": "Order {order} shipped, some items short (delivery {delivery})",
        "partly_shipped": "Order {order} partly shipped (delivery {delivery})",
    },
    "zh": {
        "shipped": "订单 {order} 已发货（交货单 {delivery}）",
        "shipped_short": "订单 {order} 已发货，部分缺货（交货单 {delivery}）",
        "partly_shipped": "订单 {order} 部分发货（交货单 {delivery}）",
    },
}

_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@dataclass(frozen=True)
class NoticeLine:
    line_no: int
    material: str
    description: str | None
    unit: str
    ordered: Decimal  # on the delivery
    shipped_now: Decimal  # in this shipment
    shipped_total: Decimal  # over every shipment so far
    to_come: Decimal  # still open
    short: Decimal  # closed unshipped by the final confirm


@dataclass(frozen=True)
class ShipmentNotice:
    delivery: str
    order_number: str  # the customer's (CRM) order number
    sap_order: str | None
    customer_number: str
    customer_name: str | None
    email: str | None
    language: str
    shipment: str  # dedupe key of the confirm this e-mail announces
    shipped_at: datetime | None
    final: bool
    pickup: bool
    parcels: tuple[Parcel, ...]
    lines: tuple[NoticeLine, ...]

    @property
    def kind(self) -> NoticeKind:
        if not self.final:
            return "partly_shipped"
        return "shipped_short" if any(line.short > 0 for line in self.lines) else "shipped"


def notice_for(
    order: OutboundOrder,
    summary: ShipmentSummary,
    shipment: str,
    *,
    customer_number: str,
    customer_name: str | None,
    email: str | None,
    language: str,
    order_number: str | None = None,
) -> ShipmentNotice:
    """The notice of ``shipment`` (a dedupe key in ``summary``) for the customer of ``order``.

    "Still to come" and "short" are the summary's as it stands, so they reflect every confirm known
    when the e-mail is built. ``order_number`` defaults to the order's purchase order (the CRM number).
    """
    found = [s for s in summary.shipments if s.key == shipment]
    if not found:
        raise ValueError(f"delivery {order.delivery}: no shipment {shipment} in the summary")
    this = found[0]
    now = dict(this.quantities)
    progress = {line.line_no: line for line in summary.lines}
    lines = []
    for line in order.lines:
        p = progress.get(line.line_no)
        lines.append(
            NoticeLine(
                line.line_no,
                line.material,
                line.description,
                line.unit,
                line.quantity,
                now.get(line.line_no, Decimal(0)),
                p.shipped if p else Decimal(0),
                p.open if p else line.quantity,
                p.short if p else Decimal(0),
            )
        )
    return ShipmentNotice(
        delivery=order.delivery,
        order_number=order_number or order.purchase_order or order.sales_order,
        sap_order=order.sales_order,
        customer_number=customer_number,
        customer_name=customer_name,
        email=email,
        language=language,
        shipment=shipment,
        shipped_at=this.confirmed_at,
        final=summary.final,
        pickup=this.pickup,
        parcels=this.parcels,
        lines=tuple(lines),
    )


def tracking_link(carrier_code: str | None, tracking: str | None) -> str | None:
    """The carrier's public tracking page for ``tracking``; None for pickups and carriers without one."""
    if not carrier_code or not tracking or carrier_code not in TRACKING_LINKS:
        return None
    return TRACKING_LINKS[carrier_code].format(n=quote(tracking, safe=""))


def carrier_label(parcel: Parcel, lang: str) -> str:
    code = parcel.carrier_code or ""
    if lang == "en" and code in CARRIER_NAMES_EN:
        return CARRIER_NAMES_EN[code]
    if parcel.carrier_name:
        return parcel.carrier_name
    return CARRIERS.get(code, code) if code != "OTHER" else code


def language_of(notice: ShipmentNotice) -> str:
    """``zh`` or ``en`` as for the confirmation: a regional tag counts as its language, else English."""
    lang = (notice.language or "").lower().replace("_", "-").split("-")[0]
    return lang if lang in SUBJECTS else "en"


def subject_of(notice: ShipmentNotice) -> str:
    order = _header_safe("order_number", notice.order_number)
    delivery = _header_safe("delivery", notice.delivery)
    return SUBJECTS[language_of(notice)][notice.kind].format(order=order, delivery=delivery)


def shipment_mail_key(notice: ShipmentNotice) -> str:
    """The ledger key (and Message-ID seed) of the e-mail: delivery plus the shipment's content.

    The content is what left in this shipment and how (lines shipped now, carriers, tracking numbers),
    not what is still to come nor whether the delivery is closed, which can change between a first
    send and a resend.
    """
    content = {
        "shipment": notice.shipment,
        "lines": sorted([ln.line_no, ln.material, str(ln.shipped_now)] for ln in notice.lines if ln.shipped_now),
        "parcels": sorted([p.carrier_code or "", p.tracking or ""] for p in notice.parcels),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"mail:shipment:{notice.delivery}:{digest[:32]}"


def _header_safe(field: str, value: str) -> str:
    if _HEADER_UNSAFE.search(value):
        raise ValueError(f"{field} holds a line break or control character and cannot go into a header: {value!r}")
    return value


def _context(notice: ShipmentNotice, lang: str, contact: str) -> dict[str, Any]:
    words = CONFIRMATION_LANGUAGES[lang]
    parcels = list(
        dict.fromkeys(
            (carrier_label(p, lang), p.tracking or "-", tracking_link(p.carrier_code, p.tracking))
            for p in notice.parcels
        )
    )
    lines = [
        {
            "line_no": line.line_no,
            "material": line.material,
            "description": line.description or "",
            "shipped_now": quantity_text(line.shipped_now),
            "shipped_total": quantity_text(line.shipped_total),
            "ordered": quantity_text(line.ordered),
            "to_come": quantity_text(line.to_come),
            "unit": line.unit,
        }
        for line in notice.lines
    ]
    short = [
        {"line_no": ln.line_no, "material": ln.material, "quantity": quantity_text(ln.short), "unit": ln.unit}
        for ln in notice.lines
        if ln.short > 0
    ]
    return {
        "lang": lang,
        "subject": subject_of(notice),
        "customer_name": notice.customer_name,
        "order_number": notice.order_number,
        "delivery": notice.delivery,
        "sap_order": notice.sap_order,
        "shipped_on": words.date(notice.shipped_at.date()) if notice.shipped_at else words.no_date,
        "pickup": notice.pickup,
        "parcels": [{"carrier": c, "tracking": t, "link": link} for c, t, link in parcels],
        "lines": lines,
        "to_come": any(line.to_come > 0 for line in notice.lines),
        "short": short,
        "contact": contact,
    }


def render_shipment(
    notice: ShipmentNotice,
    *,
    sender: str,
    sent_at: datetime,
    contact: str | None = None,
) -> EmailMessage:
    """The shipment e-mail for ``notice``, ready for :meth:`connectors.mail.Mailer.send`.

    ``sender`` is the From address, ``sent_at`` the Date header (aware; the run's logical time),
    ``contact`` the address named in the footer (default: the sender's). The Message-ID derives from
    :func:`shipment_mail_key`. Raises ValueError when the customer has no e-mail address or a header
    value holds a line break.
    """
    if not notice.email:
        raise ValueError(f"delivery {notice.delivery}: customer {notice.customer_number} has no e-mail address")
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise ValueError("sent_at must be timezone-aware")
    email = _header_safe("email", notice.email)
    name = _header_safe("customer_name", notice.customer_name or "")
    lang = language_of(notice)
    context = _context(notice, lang, contact or parseaddr(sender)[1])
    env = _environment()
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(display_name=name, addr_spec=email)
    message["Subject"] = context["subject"]
    message["Date"] = format_datetime(sent_at)
    message_id = stable_message_id(shipment_mail_key(notice), domain_of(sender))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to an automatic message
    message["X-Hub-Order"] = _header_safe("order_number", notice.order_number)
    message["X-Hub-Delivery"] = _header_safe("delivery", notice.delivery)
    message.set_content(env.get_template(f"{TEMPLATE}.{lang}.txt.j2").render(context))
    message.add_alternative(env.get_template(f"{TEMPLATE}.{lang}.html.j2").render(context), subtype="html")
    # After the parts (set_content drops Content-* headers); a boundary from the Message-ID makes a
    # resend byte-identical, as for the confirmation.
    message["Content-Language"] = lang
    message.set_boundary(f"=_hub_{message_id.strip('<>').partition('@')[0]}")
    return message
