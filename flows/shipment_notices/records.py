"""What the shipment steps read back from the hub database: deliveries as canonical outbound orders,
the confirms applied to them, and the order lines they ship."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from hub.db import rows_in_chunks
from hub.schema import customers, deliveries, delivery_lines, orders, receiver_inbox, shipment_confirms
from transforms.outbound_orders import OutboundLine, OutboundOrder, Receiver


def outbound_orders(
    conn: Connection, owner_code: str, now: datetime, *, status: str | None = None, numbers: Sequence[str] = ()
) -> list[OutboundOrder]:
    """The canonical outbound orders of the deliveries in ``status`` (or named in ``numbers``), with the
    customer master's ship-to as the receiver."""
    query = (
        select(
            deliveries,
            orders.c.order_number,
            orders.c.customer_number,
            customers.c.name.label("customer_name"),
            customers.c.contact,
            customers.c.phone,
            customers.c.region,
            customers.c.city,
            customers.c.street,
            customers.c.country,
        )
        .join(orders, (orders.c.source == deliveries.c.source) & (orders.c.crm_order_id == deliveries.c.crm_order_id))
        .outerjoin(customers, customers.c.customer_number == orders.c.customer_number)
        .order_by(deliveries.c.delivery)
    )
    if status:
        heads = conn.execute(query.where(deliveries.c.status == status)).all()
    else:  # sorted: the chunks come back in delivery order
        heads = rows_in_chunks(conn, sorted(numbers), lambda chunk: query.where(deliveries.c.delivery.in_(chunk)))
    if not heads:
        return []
    lines: dict[str, list[OutboundLine]] = {}
    for ln in rows_in_chunks(
        conn,
        [h.delivery for h in heads],
        lambda chunk: (
            select(delivery_lines)
            .where(delivery_lines.c.delivery.in_(chunk))
            .order_by(delivery_lines.c.delivery, delivery_lines.c.line_no)
        ),
    ):
        lines.setdefault(ln.delivery, []).append(
            OutboundLine(ln.line_no, ln.material, ln.description, ln.planned_qty, ln.unit or "PC")
        )
    return [
        OutboundOrder(
            delivery=h.delivery,
            sales_order=h.sap_order,
            purchase_order=h.order_number,
            plant=h.plant,
            warehouse=h.warehouse,
            owner_code=owner_code,
            # SQLite gives the stored UTC time back naive: still the delivery's own time, never the run's
            # (createTime is in the ledger's payload: a retry on a later run must send the same order).
            created=h.created_at if h.created_at.tzinfo else h.created_at.replace(tzinfo=UTC),
            schedule_date=None,
            receiver=Receiver(
                company=h.customer_name,
                name=h.contact or h.customer_name or "",
                mobile=h.phone or "",
                # Abroad there is no province: the country stands in, as forwarders write it.
                province=h.region or h.country or "",
                city=h.city or "",
                area=None,
                detail_address=h.street or "",
            ),
            logistics_code=None,
            lines=tuple(lines.get(h.delivery, ())),
        )
        for h in heads
    ]


def confirms_of(conn: Connection, numbers: Sequence[str]) -> dict[str, list[Any]]:
    """The confirms applied to each delivery, read again from the messages the receiver stored."""
    from connectors.qimen_xml import parse_request
    from transforms.shipment_confirms import read_confirm

    found: dict[str, list[Any]] = {}
    # Each delivery's confirms in the order they were applied (a chunk holds all of a delivery's).
    for r in rows_in_chunks(
        conn,
        numbers,
        lambda chunk: (
            select(shipment_confirms.c.delivery, receiver_inbox.c.body)
            .join(receiver_inbox, receiver_inbox.c.id == shipment_confirms.c.inbox_id)
            .where(shipment_confirms.c.delivery.in_(chunk))
            .order_by(shipment_confirms.c.applied_at)
        ),
    ):
        reading = read_confirm(parse_request(r.body))
        if reading.confirm is not None:
            found.setdefault(r.delivery, []).append(reading.confirm)
    return found
