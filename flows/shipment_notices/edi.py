"""The X12 856 ship notice of one goods-issued delivery, built from what the hub holds: the delivery,
the warehouse's packages (each an SSCC-18 pack), the order and the customer master."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from flows.shipment_notices.records import confirms_of
from hub.schema import customers, deliveries, delivery_lines, orders

# Serial numbers of SSCCs: the delivery number and the pack's position (two digits), so a rewrite is
# identical. The serial has 16 - len(prefix) digits; the delivery number is taken modulo what is left,
# so numbers repeat only after that many deliveries (10 million with a 7-digit prefix), far beyond
# GS1's 12 months.
PACKS_PER_DELIVERY = 100


def _serial(delivery: str, pack: int, company_prefix: str) -> int:
    room = 10 ** (16 - len(company_prefix) - 2)
    return (int(delivery) % room) * PACKS_PER_DELIVERY + pack


def render_asn(conn: Connection, delivery: str, *, sender_id: str, company_prefix: str) -> tuple[str, bytes]:
    """``(file name, content)`` of the 856 for ``delivery``; ValueError (AsnError, SsccError) naming the
    field when a value cannot travel in X12."""
    from transforms.asn_x12 import (
        CUSTOMER_PICKUP,
        PRIVATE_PARCEL,
        AsnItem,
        AsnOrder,
        AsnPack,
        AsnShipment,
        Envelope,
        Party,
        ascii_fold,
        write_856,
    )
    from transforms.sscc import make_sscc

    head = conn.execute(
        select(
            deliveries,
            orders.c.order_number,
            orders.c.order_time,
            orders.c.customer_number,
            customers.c.name.label("customer_name"),
            customers.c.street,
            customers.c.city,
            customers.c.postal_code,
            customers.c.country,
        )
        .join(orders, (orders.c.source == deliveries.c.source) & (orders.c.crm_order_id == deliveries.c.crm_order_id))
        .outerjoin(customers, customers.c.customer_number == orders.c.customer_number)
        .where(deliveries.c.delivery == delivery)
    ).one()
    lines = {
        ln.material: ln for ln in conn.execute(select(delivery_lines).where(delivery_lines.c.delivery == delivery))
    }
    confirms = confirms_of(conn, [delivery]).get(delivery, [])
    packs: list[Any] = []
    first = confirms[0] if confirms else None
    for confirm in confirms:
        for package in confirm.packages or ():
            items = tuple(
                AsnItem(lines[i.item_code].line_no, i.item_code, i.quantity, _unit(lines[i.item_code].unit))
                for i in package.items
                if i.item_code in lines and i.quantity > 0
            )
            if items:
                packs.append(
                    AsnPack(make_sscc(0, company_prefix, _serial(delivery, len(packs) + 1, company_prefix)), items)
                )
    if not packs:  # no packages reported: one pack holds what was shipped
        items = tuple(
            AsnItem(ln.line_no, ln.material, ln.shipped_qty, _unit(ln.unit))
            for ln in lines.values()
            if ln.shipped_qty > 0
        )
        packs.append(AsnPack(make_sscc(0, company_prefix, _serial(delivery, 1, company_prefix)), items))
    pickup = bool(first and first.pickup)
    carrier_name = first.logistics_name if first and first.logistics_name and first.logistics_name.isascii() else None
    shipment = AsnShipment(
        shipment_id=delivery,
        shipped_at=_aware(head.final_confirm_at or head.goods_issued_at),
        ship_from=Party(name=f"Plant {head.plant}", id=head.plant),
        ship_to=Party(
            name=ascii_fold(head.customer_name or head.customer_number),
            id=head.customer_number,
            address=ascii_fold(head.street) if head.street else None,
            city=ascii_fold(head.city) if head.city else None,
            postal_code=head.postal_code,
            country=head.country,
        ),
        orders=(
            AsnOrder(
                head.order_number, head.order_time.date() if head.order_time else None, head.sap_order, tuple(packs)
            ),
        ),
        carrier_code=None if pickup else (first.logistics_code if first else None),
        carrier_name=carrier_name,
        transport_method=CUSTOMER_PICKUP if pickup else PRIVATE_PARCEL,
        tracking=first.express_code if first and not pickup else None,
    )
    control = int(delivery) % 1_000_000_000 or 1
    envelope = Envelope(
        sender_qualifier="ZZ",
        sender_id=sender_id,
        receiver_qualifier="ZZ",
        receiver_id=head.customer_number,
        interchange_control=control,
        group_control=control,
        transaction_control=control,
        created=_aware(head.goods_issued_at),
    )
    content = write_856(shipment, envelope).encode("ascii")
    return f"ASN_{head.customer_number}_{delivery}.x12", content


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; the hub stores UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _unit(unit: str | None) -> str:
    # X12 unit codes: a piece is EA; SAP's PC/ST are pieces too.
    return "EA" if (unit or "PC").upper() in ("PC", "ST", "EA", "PCE") else (unit or "EA").upper()[:2]
