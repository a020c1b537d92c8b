"""What the CRM is told about an order's shipment: the status, carriers and tracking per line, and a
one-line summary for people, in the CRM's language (``connectors.crm.ShipmentLike``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

STATUSES = ("partially_shipped", "shipped", "delivered", "cancelled", "cancel_failed")


@dataclass(frozen=True)
class ShippedLine:
    line_no: int
    crm_line_id: str | None
    material: str
    ordered_qty: Decimal
    shipped_qty: Decimal
    tracking: str  # "; "-joined tracking numbers of the parcels that carried it ("" for a pickup)


@dataclass(frozen=True)
class ShipmentUpdate:
    source: str
    crm_order_id: str
    order_number: str
    status: str  # one of STATUSES
    carriers: str
    tracking: str
    lines: tuple[ShippedLine, ...]
    note: str = ""  # why a cancellation failed, for people

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"order {self.order_number}: shipment status {self.status!r} is not one of {STATUSES}")

    @property
    def key(self) -> str:
        """The ledger key: the order and a digest of what the CRM is told, so a change is a new send."""
        told = "|".join(
            [self.status, self.carriers, self.tracking, self.note]
            + [f"{ln.line_no}:{ln.shipped_qty.normalize()}:{ln.tracking}" for ln in self.lines]
        )
        return f"{self.order_number}:{self.status}:{hashlib.sha256(told.encode()).hexdigest()[:16]}"


_WORDS = {
    "en": {
        "partially_shipped": "Partly shipped",
        "shipped": "Shipped",
        "delivered": "Delivered",
        "cancelled": "Cancelled in the warehouse and in SAP",
        "cancel_failed": "Cancellation failed: the goods had already left the warehouse",
        "lines": "{shipped} of {total} lines shipped",
        "via": "via",
    },
    "zh": {
        "partially_shipped": "部分发货",
        "shipped": "已发货",
        "delivered": "已签收",
        "cancelled": "已在仓库和SAP中取消",
        "cancel_failed": "取消失败：货物已出库",
        "lines": "已发货 {shipped}/{total} 行",
        "via": "承运商",
    },
}


def shipment_summary(update: ShipmentUpdate, language: str) -> str:
    """``Shipped · 3 of 3 lines shipped · via 顺丰速运 SF1234567890123`` (or in Chinese)."""
    words = _WORDS["zh" if language == "zh" else "en"]
    parts = [words[update.status]]
    if update.status in ("partially_shipped", "shipped", "delivered") and update.lines:
        shipped = sum(1 for ln in update.lines if ln.shipped_qty > 0)
        parts.append(words["lines"].format(shipped=shipped, total=len(update.lines)))
    if update.carriers:
        parts.append(f"{words['via']} {update.carriers} {update.tracking}".strip())
    if update.note:
        parts.append(update.note)
    return " · ".join(parts)
