"""Outbound deliveries of 3PL plants (API_OUTBOUND_DELIVERY_SRV;v=0002): what the hub's goods-issue
work needs besides the documents of :mod:`connectors.sap_documents` — the messages SAP's delivery
actions answer with, the refusal of a second goods issue as its own error class, and the day filter.

Pure values and functions: the HTTP calls are :class:`connectors.sap_s4.SapClient` methods.

Which calls, and why (metadata of the service, reference/sap_report.md §4.4):

* Reading by day: deliveries carry no ``LastChangeDateTime``, only the date-only ``CreationDate`` and
  ``LastChangeDate`` (the latter stays empty until a first change in SAP). The filter asks for either
  being the day; the caller re-reads the previous day and de-duplicates by delivery number. The header
  names no plant (``ShippingPoint`` is a shipping point, only by convention numbered like the plant),
  so the plants are matched on the items, client-side.
* The picked quantity: ``SetPickingQuantityWithBaseQuantity`` *sets* an item's picked quantity (a
  repeat sets the same value, so it may be retried like a PATCH); ``PostGoodsIssue`` then posts what
  was picked and SAP adapts the delivery quantity to it.
* ``PostGoodsIssue`` is answered 400 ``VL/609`` when goods issue was already posted: raised as
  :class:`GoodsIssueAlreadyPosted`, a ``SapBusinessError``, so a flow re-run after a crash between
  SAP's answer and its ledger record can tell "done before" from a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.sap_errors import SapBusinessError, SapError
from connectors.sap_values import RawLiteral, compare, datetime_literal

ALREADY_POSTED = "VL/609"
_ERROR_TYPES = frozenset({"E", "A", "X"})  # error, abort, dump: the action did not happen


@dataclass(frozen=True)
class DeliveryMessage:
    """One row of a delivery action's answer (``PickingReport`` or ``Return``)."""

    type: str  # S success, I info, W warning, E error, A abort
    message_class: str  # SystemMessageIdentification, e.g. VL
    number: str  # SystemMessageNumber
    item: str  # DeliveryDocumentItem, "" for the whole delivery
    variables: tuple[str, ...]

    @property
    def code(self) -> str:
        return f"{self.message_class}/{self.number}" if self.message_class else self.number

    @property
    def is_error(self) -> bool:
        return self.type.upper() in _ERROR_TYPES


class GoodsIssueAlreadyPosted(SapBusinessError):
    """``PostGoodsIssue`` refused because goods issue of the delivery is already posted (VL/609)."""


def messages_from(rows: Any) -> tuple[DeliveryMessage, ...]:
    """The messages of a delivery action's cleaned ``results`` (anything else reads as none)."""
    if not isinstance(rows, list):
        return ()
    found = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        item = str(row.get("DeliveryDocumentItem") or "")
        found.append(
            DeliveryMessage(
                type=str(row.get("SystemMessageType") or ""),
                message_class=str(row.get("SystemMessageIdentification") or ""),
                number=str(row.get("SystemMessageNumber") or ""),
                item=str(int(item)) if item.isdigit() else item,
                variables=tuple(
                    str(row[k]) for k in sorted(row) if k.startswith("SystemMessageVariable") and row.get(k)
                ),
            )
        )
    return tuple(found)


def raise_for_messages(action: str, delivery: str, messages: tuple[DeliveryMessage, ...]) -> None:
    """A 200 answer whose messages hold an error still means the action did not happen."""
    errors = [m for m in messages if m.is_error]
    if errors:
        first = errors[0]
        text = " ".join(first.variables) or "refused"
        raise SapBusinessError(
            f"{action}({delivery}): {first.code} {text}", status=200, code=first.code, record_key=delivery
        )


def already_posted(error: SapError, delivery: str) -> GoodsIssueAlreadyPosted | None:
    """The refusal of a second goods issue as :class:`GoodsIssueAlreadyPosted`, else None."""
    if error.status != 400 or (error.code or "").upper() != ALREADY_POSTED:
        return None
    return GoodsIssueAlreadyPosted(
        error.message,
        status=error.status,
        code=error.code,
        details=error.details,
        transaction_id=error.transaction_id,
        record_key=delivery,
    )


def created_or_changed_on(day: date) -> str:
    """``$filter`` for deliveries created or last changed on ``day`` (both fields date-only)."""
    literal = RawLiteral(datetime_literal(day))
    return f"({compare('CreationDate', 'eq', literal)} or {compare('LastChangeDate', 'eq', literal)})"
