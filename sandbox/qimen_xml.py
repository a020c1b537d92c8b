"""Qimen wire format for the WMS emulator: the md5 sign, GMT+8 timestamps, ``<request>`` in, ``<response>`` out.

Sign (logistics_report.md §1.3, §1.5): every query param except ``sign``, empty ones kept, sorted by
key, ``k1v1k2v2…``, then the raw body, the secret at both ends, MD5 over UTF-8, upper-case hex. The
body is hashed as the bytes received, so what the sender signed is exactly what is checked.

Parsing gives nested dicts with camelCase keys, every leaf a stripped ``str`` and every list a list,
whatever the sender's SDK generation: ``orderLines/orderLine``, ``order_lines/order_line``, a bare
``order_line``, one child or many (§5.6, §5.7). ``extendProps`` keeps its own tags. A DOCTYPE is
refused outright: no entity expansion, no external entities.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

GMT8 = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_BODY = 1_000_000
MAX_DEPTH = 16
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

# Container → item tag, camelCase (the snake_case forms are mapped onto these first).
LISTS = {
    "orderLines": "orderLine",
    "relatedOrders": "relatedOrder",
    "packages": "package",
    "items": "item",
    "batchs": "batch",
    "packageMaterialList": "packageMaterial",
    "criteriaList": "criteria",
    "subSourceOrders": "subSourceOrder",
    "snList": "sn",
    "processes": "process",
}
_ITEM_TO_LIST = {item: container for container, item in LISTS.items()}
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class XmlError(ValueError):
    """A body that is not a Qimen ``<request>`` document."""


def qimen_sign(params: Iterable[tuple[str, str]], body: bytes, secret: str) -> str:
    """The md5 sign of §1.3 over ``params`` (``sign`` itself is skipped) and the raw ``body``."""
    text = "".join(f"{key}{value}" for key, value in sorted(params) if key != "sign")
    data = secret.encode("utf-8", "replace") + text.encode("utf-8", "replace") + body + secret.encode("utf-8")
    return hashlib.md5(data, usedforsecurity=False).hexdigest().upper()


def gmt8(moment: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in GMT+8, as Qimen timestamps and document times are written."""
    return moment.astimezone(GMT8).strftime(TIME_FORMAT)


def parse_gmt8(text: str) -> datetime:
    """A GMT+8 ``yyyy-MM-dd HH:mm:ss``; ValueError for anything else."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text):
        raise ValueError(f"not yyyy-MM-dd HH:mm:ss: {text!r}")
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=GMT8)


def _camel(tag: str) -> str:
    local = tag.rpartition("}")[2]
    head, *rest = local.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_request(body: bytes) -> dict[str, Any]:
    """The ``<request>`` document as canonical dicts; XmlError for anything else."""
    if len(body) > MAX_BODY:
        raise XmlError(f"body larger than {MAX_BODY} bytes")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise XmlError("DOCTYPE and entity declarations are not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DOCTYPE refused above, so no entity can expand
    except (ET.ParseError, ValueError, LookupError, UnicodeError) as exc:
        raise XmlError(f"not well-formed XML: {exc}") from None
    if _camel(root.tag) != "request":
        raise XmlError(f"the root element must be <request>, not <{root.tag[:50]}>")
    converted = _convert(root, 0)
    return converted if isinstance(converted, dict) else {}


def _convert(element: ET.Element, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise XmlError(f"elements nested deeper than {MAX_DEPTH} levels")
    children = list(element)
    if not children:
        return (element.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        key = _camel(child.tag)
        if key == "extendProps":
            out[key] = {c.tag.rpartition("}")[2]: (c.text or "").strip() for c in child}
        elif key in LISTS:  # a container: every child is an item, whatever its tag
            out.setdefault(key, []).extend(_convert(item, depth + 2) for item in child)
        elif key in _ITEM_TO_LIST:  # a bare item at its parent's level
            out.setdefault(_ITEM_TO_LIST[key], []).append(_convert(child, depth + 1))
        elif key not in out:  # a repeated single field: the first one counts
            out[key] = _convert(child, depth + 1)
    return out


def xml_text(value: object) -> str:
    """Text safe inside an XML 1.0 element: escaped, with characters XML cannot carry dropped."""
    return escape(_NOT_XML_CHAR.sub("", str(value)))


def to_xml(tag: str, value: Any) -> str:
    """Compact XML for a dict/list/scalar tree; lists under a container key get its item tag."""
    if isinstance(value, Mapping):
        inner = "".join(to_xml(k, v) for k, v in value.items() if v is not None)
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list):
        item = LISTS.get(tag, "item")
        return f"<{tag}>{''.join(to_xml(item, v) for v in value)}</{tag}>"
    return f"<{tag}>{xml_text(value)}</{tag}>"


def document(root: str, fields: Mapping[str, Any]) -> bytes:
    """A whole document, declaration included, as UTF-8 bytes."""
    return (XML_DECLARATION + to_xml(root, fields)).encode("utf-8")


def read_response(body: bytes) -> dict[str, str]:
    """flag, code and message of a ``<response>`` (the receiver's answer to a push); empty when unreadable."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return {}
    try:
        root = ET.fromstring(body)  # noqa: S314 - DOCTYPE refused above
    except (ET.ParseError, ValueError, LookupError, UnicodeError):
        return {}
    return {key: (root.findtext(key) or "").strip() for key in ("flag", "code", "message")}


class QimenError(Exception):
    """A request the WMS answers with ``flag=failure``: its code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def fields(self) -> dict[str, Any]:
        return {"flag": "failure", "code": self.code, "message": self.message}
