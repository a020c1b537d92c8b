"""The customer's order confirmation e-mail: a :class:`Confirmation` rendered in the customer's language.

Plain text and HTML alternatives from the Jinja2 templates in ``transforms/templates/mail`` (package
data, so an installed hub finds them); HTML is autoescaped, since descriptions and names come from the
CRM. Everything that varies between sends is passed in (the send time, the idempotency key), so the
same confirmation always renders to the same message, and a resend carries the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from transforms.confirmation import Confirmation, OrderStatus
from transforms.message_ids import domain_of, stable_message_id
from transforms.money import quantize

TEMPLATE = "order_confirmation"


@dataclass(frozen=True)
class _Language:
    status: dict[OrderStatus, str]
    subject: dict[OrderStatus, str]  # "{order}" is the CRM order number, with the SAP number when there is one
    date: Callable[[date], str]
    no_date: str


LANGUAGES: dict[str, _Language] = {
    "en": _Language(
        status={"confirmed": "confirmed", "partially_confirmed": "partially confirmed", "backordered": "backordered"},
        subject={
            "confirmed": "Order confirmation {order}",
            "partially_confirmed": "Partial order confirmation {order}",
            "backordered": "Order backordered {order}",
        },
        date=date.isoformat,
        no_date="to be advised",
    ),
    "zh": _Language(
        status={"confirmed": "已确认", "partially_confirmed": "部分确认", "backordered": "缺货待补"},
        subject={
            "confirmed": "订单确认 {order}",
            "partially_confirmed": "订单部分确认 {order}",
            "backordered": "订单缺货待补 {order}",
        },
        date=lambda d: f"{d.year}年{d.month}月{d.day}日",
        no_date="待定",
    ),
}


def language_of(confirmation: Confirmation) -> str:
    """``zh`` or ``en``: a regional tag (``zh-CN``) counts as its language; anything else gets English."""
    lang = (confirmation.language or "").lower().replace("_", "-").split("-")[0]
    return lang if lang in LANGUAGES else "en"


def quantity_text(value: Decimal) -> str:
    """A quantity without trailing zeros or exponent: 10.000 → ``10``, 2.50 → ``2.5``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def money_text(amount: Decimal, currency: str) -> str:
    """An amount at its currency's minor unit with thousands separators: ``CNY 1,234.50``, ``JPY 1,235``."""
    return f"{currency} {quantize(amount, currency):,f}"


def subject_of(confirmation: Confirmation) -> str:
    order = confirmation.order_number
    if confirmation.sap_order:
        order = f"{order} / SAP {confirmation.sap_order}"
    return LANGUAGES[language_of(confirmation)].subject[confirmation.status].format(order=order)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("transforms", "templates/mail"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _context(confirmation: Confirmation, lang: str, contact: str) -> dict[str, Any]:
    words = LANGUAGES[lang]
    lines = [
        {
            "line_no": line.line_no,
            "material": line.material,
            "description": line.description or "",
            "ordered": quantity_text(line.ordered_qty),
            "confirmed": quantity_text(line.confirmed_qty),
            "backordered": quantity_text(line.backordered_qty),
            "unit": line.unit,
            "promised": words.date(line.confirmed_date)
            if line.confirmed_date and line.confirmed_qty > 0
            else words.no_date,
        }
        for line in confirmation.lines
    ]
    return {
        "lang": lang,
        "subject": subject_of(confirmation),
        "customer_name": confirmation.customer_name,
        "order_number": confirmation.order_number,
        "sap_order": confirmation.sap_order,
        "status_text": words.status[confirmation.status],
        "lines": lines,
        "net": money_text(confirmation.net_amount, confirmation.currency),
        "gross": money_text(confirmation.gross_amount, confirmation.currency),
        "has_backorder": any(line.backordered_qty > 0 for line in confirmation.lines),
        "contact": contact,
    }


def render_confirmation(
    confirmation: Confirmation,
    *,
    sender: str,
    sent_at: datetime,
    idempotency_key: str,
    contact: str | None = None,
) -> EmailMessage:
    """The confirmation e-mail for ``confirmation``, ready for :meth:`connectors.mail.Mailer.send`.

    ``sender`` is the From address (the SMTP connection's ``from_email``), ``sent_at`` the Date header
    (timezone-aware; the run's logical time, not now()), ``idempotency_key`` the ledger key the
    Message-ID is derived from, ``contact`` the address named in the footer (default: the sender).
    Raises ValueError when the customer has no e-mail address.
    """
    if not confirmation.email:
        raise ValueError(
            f"order {confirmation.order_number}: customer {confirmation.customer_number} has no e-mail address"
        )
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise ValueError("sent_at must be timezone-aware")
    lang = language_of(confirmation)
    context = _context(confirmation, lang, contact or parseaddr(sender)[1])
    env = _environment()
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(display_name=confirmation.customer_name or "", addr_spec=confirmation.email)
    message["Subject"] = context["subject"]
    message["Date"] = format_datetime(sent_at)
    message_id = stable_message_id(idempotency_key, domain_of(sender))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to an automatic message
    message["X-Hub-Order"] = confirmation.order_number
    message.set_content(env.get_template(f"{TEMPLATE}.{lang}.txt.j2").render(context))
    message.add_alternative(env.get_template(f"{TEMPLATE}.{lang}.html.j2").render(context), subtype="html")
    # After the parts: set_content drops Content-* headers. A boundary from the Message-ID (not random)
    # makes a resend byte-identical to the first send.
    message["Content-Language"] = lang
    message.set_boundary(f"=_hub_{message_id.strip('<>').partition('@')[0]}")
    return message
