"""The canonical order confirmation: what SAP confirmed, per line, in the customer's terms.

One model feeds every confirmation channel (CRM write-back, customer e-mail). Line status codes
follow X12 element 668 (domain reference §2.1): IA accepted, BP partial with the balance backordered,
IB backordered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

LineStatus = Literal["IA", "BP", "IB"]
OrderStatus = Literal["confirmed", "partially_confirmed", "backordered"]


@dataclass(frozen=True)
class ConfirmedLine:
    line_no: int
    material: str
    description: str | None
    ordered_qty: Decimal
    confirmed_qty: Decimal
    unit: str
    confirmed_date: date | None  # promised delivery date of the confirmed quantity
    crm_line_id: str | None = None

    @property
    def backordered_qty(self) -> Decimal:
        return self.ordered_qty - self.confirmed_qty

    @property
    def status(self) -> LineStatus:
        if self.confirmed_qty >= self.ordered_qty:
            return "IA"
        return "BP" if self.confirmed_qty > 0 else "IB"


@dataclass(frozen=True)
class Confirmation:
    source: str  # the CRM the order came from
    crm_order_id: str
    order_number: str  # the CRM order number (= SAP PurchaseOrderByCustomer)
    customer_number: str
    customer_name: str | None
    email: str | None
    language: str  # "zh" | "en"
    sap_order: str | None  # None while nothing could be posted (fully backordered)
    currency: str
    net_amount: Decimal
    gross_amount: Decimal
    lines: tuple[ConfirmedLine, ...]

    @property
    def status(self) -> OrderStatus:
        return order_status(self.lines)

    @property
    def confirmed_date(self) -> date | None:
        """The latest promised date over the confirmed lines: when the confirmed part is complete."""
        dates = [ln.confirmed_date for ln in self.lines if ln.confirmed_date and ln.confirmed_qty > 0]
        return max(dates) if dates else None


def order_status(lines: Sequence[ConfirmedLine]) -> OrderStatus:
    if all(ln.status == "IA" for ln in lines):
        return "confirmed"
    if any(ln.confirmed_qty > 0 for ln in lines):
        return "partially_confirmed"
    return "backordered"
