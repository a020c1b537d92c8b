"""Which pushed Qimen methods the receiver takes, and what it reads of each to file it in the inbox.

The receiver reads only two things of a document: the message id (``outBizCode``, the sender's key
for "the same message again", reference/logistics_report.md §2) and the document it is about
(``deliveryOrderCode`` / ``checkOrderCode`` / ``orderCode``), so operations can find it. The rest is
the batch flow's business, from the raw body kept in the inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.repositories.inbox import MAX_KEY, body_key

# Short method name → where its document code is.
ACCEPTED: tuple[str, ...] = (
    "stockout.confirm",
    "deliveryorder.confirm",
    "inventory.report",
    "stockchange.report",
    "orderprocess.report",
)


@dataclass(frozen=True)
class Filing:
    """Where a message goes in the inbox: its key, and the document it is about (``None`` if unknown)."""

    message_key: str
    document_code: str | None
    keyed_by: str  # "outBizCode" or "body": for the log line


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _at(document: dict[str, Any], *path: str) -> str:
    node: Any = document
    for step in path:
        if not isinstance(node, dict):
            return ""
        node = node.get(step)
    return _text(node)


def _first(*values: str) -> str:
    return next((v for v in values if v), "")


def _one_of(values: list[str]) -> str:
    """The value all entries share, or "" when they differ or none has one."""
    distinct = {v for v in values if v}
    return distinct.pop() if len(distinct) == 1 and all(values) else ""


def _items(document: dict[str, Any]) -> list[dict[str, Any]]:
    items = document.get("items")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _confirm(document: dict[str, Any]) -> tuple[str, str]:
    return (
        _first(_at(document, "deliveryOrder", "outBizCode"), _at(document, "outBizCode")),
        _at(document, "deliveryOrder", "deliveryOrderCode"),
    )


def _inventory_report(document: dict[str, Any]) -> tuple[str, str]:
    return _at(document, "outBizCode"), _at(document, "checkOrderCode")


def _stockchange_report(document: dict[str, Any]) -> tuple[str, str]:
    # outBizCode and orderCode are per item (§3.6): one message id when every item carries the same.
    items = _items(document)
    return (
        _first(_at(document, "outBizCode"), _one_of([_text(i.get("outBizCode")) for i in items])),
        _first(_at(document, "orderCode"), _one_of([_text(i.get("orderCode")) for i in items])),
    )


def _orderprocess_report(document: dict[str, Any]) -> tuple[str, str]:
    return (
        _first(_at(document, "outBizCode"), _at(document, "orderProcess", "outBizCode")),
        _first(
            _at(document, "orderProcess", "orderCode"), _at(document, "order", "orderCode"), _at(document, "orderCode")
        ),
    )


_READERS: dict[str, Callable[[dict[str, Any]], tuple[str, str]]] = {
    "stockout.confirm": _confirm,
    "deliveryorder.confirm": _confirm,
    "inventory.report": _inventory_report,
    "stockchange.report": _stockchange_report,
    "orderprocess.report": _orderprocess_report,
}
assert set(_READERS) == set(ACCEPTED)


def filing(method: str, document: dict[str, Any], raw_body: bytes) -> Filing:
    """The inbox key and document code of a parsed message of ``method`` (a short name in ACCEPTED).

    Without an ``outBizCode`` (optional in a single confirm), or with one too long to be an id, the key
    is the SHA-256 of the raw body: the same bytes again are the same message."""
    out_biz_code, document_code = _READERS[method](document)
    if out_biz_code and len(out_biz_code) <= MAX_KEY:
        return Filing(out_biz_code, document_code or None, "outBizCode")
    return Filing(body_key(raw_body), document_code or None, "body")
