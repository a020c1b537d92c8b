"""Which confirmations are due: the content each order's customer should hear now, and the key that
names that content (an unchanged confirmation is never sent again)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Connection, and_, select

from hub import jsonable
from hub.db import pairs_in, rows_in_chunks
from hub.lifecycle import CONFIRMABLE
from hub.schema import customers, order_allocations, order_confirmations, order_lines, orders, sap_orders
from transforms.confirmation import Confirmation, ConfirmedLine


def confirmation_key(c: Confirmation) -> str:
    """Deterministic per confirmed content: same content, same key (ledger idempotency)."""
    content = [c.status, c.sap_order] + [
        [ln.line_no, _plain(ln.confirmed_qty), ln.confirmed_date.isoformat() if ln.confirmed_date else None]
        for ln in c.lines
    ]
    digest = hashlib.sha256(jsonable.dumps(content, canonical=True).encode()).hexdigest()[:16]
    return f"{c.order_number}:{digest}"


def pending(conn: Connection, default_language: str) -> list[Confirmation]:
    """Confirmations whose content differs from the last one the customer got."""
    heads = conn.execute(
        select(
            orders.c.source,
            orders.c.crm_order_id,
            orders.c.order_number,
            orders.c.customer_number,
            orders.c.customer_name,
            orders.c.currency,
            orders.c.net_amount,
            orders.c.gross_amount,
            orders.c.status,
            sap_orders.c.sap_order,
            customers.c.name.label("sap_customer_name"),
            customers.c.email,
            customers.c.language,
            order_confirmations.c.confirmation_key,
        )
        .outerjoin(
            sap_orders,
            and_(sap_orders.c.source == orders.c.source, sap_orders.c.crm_order_id == orders.c.crm_order_id),
        )
        .outerjoin(customers, customers.c.customer_number == orders.c.customer_number)
        .outerjoin(
            order_confirmations,
            and_(
                order_confirmations.c.source == orders.c.source,
                order_confirmations.c.crm_order_id == orders.c.crm_order_id,
            ),
        )
        .where(orders.c.status.in_(CONFIRMABLE))
    ).all()
    if not heads:
        return []
    keys = [(h.source, h.crm_order_id) for h in heads]
    lines: dict[tuple[str, str], list[ConfirmedLine]] = defaultdict(list)
    for ln in rows_in_chunks(
        conn,
        keys,
        lambda chunk: (
            select(
                order_lines.c.source,
                order_lines.c.crm_order_id,
                order_lines.c.line_no,
                order_lines.c.crm_line_id,
                order_lines.c.material,
                order_lines.c.description,
                order_lines.c.quantity,
                order_lines.c.unit,
                order_allocations.c.confirmed_qty,
                order_allocations.c.confirmed_date,
            )
            .outerjoin(
                order_allocations,
                and_(
                    order_allocations.c.source == order_lines.c.source,
                    order_allocations.c.crm_order_id == order_lines.c.crm_order_id,
                    order_allocations.c.line_no == order_lines.c.line_no,
                ),
            )
            .where(pairs_in(order_lines.c.source, order_lines.c.crm_order_id, chunk))
            .order_by(order_lines.c.source, order_lines.c.crm_order_id, order_lines.c.line_no)
        ),
    ):
        lines[(ln.source, ln.crm_order_id)].append(
            ConfirmedLine(
                line_no=ln.line_no,
                material=ln.material,
                description=ln.description,
                ordered_qty=ln.quantity,
                confirmed_qty=ln.confirmed_qty or Decimal(0),
                unit=ln.unit or "PC",
                confirmed_date=ln.confirmed_date,
                crm_line_id=ln.crm_line_id,
            )
        )
    result = []
    for h in heads:
        c = Confirmation(
            source=h.source,
            crm_order_id=h.crm_order_id,
            order_number=h.order_number,
            customer_number=h.customer_number,
            customer_name=h.sap_customer_name or h.customer_name,
            email=h.email or None,
            language=h.language or default_language,
            sap_order=h.sap_order,
            currency=h.currency,
            net_amount=h.net_amount,
            gross_amount=h.gross_amount,
            lines=tuple(lines[(h.source, h.crm_order_id)]),
        )
        if c.lines and confirmation_key(c) != h.confirmation_key:
            result.append(c)
    return result


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
