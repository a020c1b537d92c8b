"""The carrier waybills the WMS emulator has handed to couriers, shared with the SF Express emulator.

The Qimen WMS registers a waybill when a parcel leaves the warehouse; SF's route query answers for
the SF ones. The book lives on the sandbox's :class:`~sandbox.system.SandboxContext`, the one object
every system of a sandbox gets, so two sandboxes in one process never share waybills. The context
has no field for state shared between systems, so :func:`waybill_book` attaches one on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sandbox.system import SandboxContext


@dataclass(frozen=True)
class Waybill:
    number: str
    carrier: str  # logisticsCode: SF, ZTO
    order_code: str  # the deliveryOrderCode (SF's "customer order number", trackingType 2)
    picked_up: datetime  # when the courier took the parcel (the warehouse's shipping time)
    origin_city: str
    destination_city: str
    receiver_mobile: str


class WaybillBook:
    def __init__(self) -> None:
        self._by_number: dict[str, Waybill] = {}
        self._by_order: dict[str, list[str]] = {}

    def add(self, waybill: Waybill) -> None:
        self._by_number[waybill.number] = waybill
        self._by_order.setdefault(waybill.order_code, []).append(waybill.number)

    def __contains__(self, number: object) -> bool:
        return number in self._by_number

    def get(self, number: str) -> Waybill | None:
        return self._by_number.get(number)

    def of_order(self, order_code: str) -> list[Waybill]:
        return [self._by_number[n] for n in self._by_order.get(order_code, [])]


def waybill_book(ctx: SandboxContext) -> WaybillBook:
    """The sandbox's waybill book, created on first use."""
    book = vars(ctx).get("waybills")
    if not isinstance(book, WaybillBook):
        book = WaybillBook()
        vars(ctx)["waybills"] = book
    return book
