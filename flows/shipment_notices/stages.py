"""Names the shipment flow shares: ledger targets, quarantine stages and gates, and the moves of a
delivery and its order the steps agree on."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Connection, func, select

from hub.db import in_chunks, pairs_in, rows_in_chunks, utcnow
from hub.lifecycle import OrderState as S
from hub.quarantine import resolve
from hub.repositories.orders import OrderKey, set_status
from hub.schema import deliveries, delivery_lines, order_allocations, quarantine

# Ledger targets (declared in hub/ledger.py TARGETS); keys are SAP delivery numbers unless noted.
STOCKOUT = "qimen.stockout"
CANCEL = "qimen.cancel"
GOODS_ISSUE = "sap.goods_issue"
DELIVERY_CANCEL = "sap.delivery_cancel"  # key = the SAP sales order
ASN = "file.asn"
MAIL = "mail.shipment_notice"


def crm_target(source: str) -> str:
    return f"crm.{source}.shipment"


# Data-quality gates (quality/suites.py), which are also the quarantine stages of what they refuse.
NOTICES_GATE = "shipment_notices"  # SAP deliveries before they go to the warehouse
CONFIRMS_GATE = "shipment_confirms"  # the warehouse's confirmations before SAP's goods issue
# Quarantine stages of what a step refuses on its own.
OUTBOUND_STAGE = "shipment_outbound"  # a delivery the warehouse cannot take (a field it cannot carry)
CONFIRM_STAGE = "shipment_confirm"  # a confirmation that cannot be read (malformed XML, bad values)
NOTIFY_STAGE = "shipment_notify"  # a CRM write-back, e-mail or ASN refused for good
GOODS_ISSUE_STAGE = "sap_goods_issue"  # a goods issue SAP refuses (a locked or changed delivery)

# A requeued delivery goes back to the step that refused it: stage → (state held in, state to resume).
RELEASES = {OUTBOUND_STAGE: ("held", "new"), GOODS_ISSUE_STAGE: ("held", "shipped")}

CONFIRM_METHOD = "stockout.confirm"  # the receiver's inbox method this flow reads


def order_shipping_state(conn: Connection, keys: list[OrderKey], run_id: str) -> dict[str, int]:
    """Move orders whose deliveries were goods-issued to ``shipped`` (everything SAP confirmed has
    left) or ``partly_shipped`` (more to come), from the shipped quantities of their issued deliveries."""
    if not keys:
        return {"shipped": 0, "partly_shipped": 0}
    confirmed: dict[OrderKey, Decimal] = defaultdict(Decimal)
    for r in rows_in_chunks(
        conn,
        keys,
        lambda chunk: select(
            order_allocations.c.source, order_allocations.c.crm_order_id, order_allocations.c.confirmed_qty
        ).where(pairs_in(order_allocations.c.source, order_allocations.c.crm_order_id, chunk)),
    ):
        confirmed[(r.source, r.crm_order_id)] += r.confirmed_qty or Decimal(0)
    shipped: dict[OrderKey, Decimal] = defaultdict(Decimal)
    for r in rows_in_chunks(
        conn,
        keys,
        lambda chunk: (
            select(deliveries.c.source, deliveries.c.crm_order_id, func.sum(delivery_lines.c.shipped_qty).label("qty"))
            .join(delivery_lines, delivery_lines.c.delivery == deliveries.c.delivery)
            .where(pairs_in(deliveries.c.source, deliveries.c.crm_order_id, chunk), deliveries.c.status == "issued")
            .group_by(deliveries.c.source, deliveries.c.crm_order_id)
        ),
    ):
        shipped[(r.source, r.crm_order_id)] = Decimal(r.qty or 0)
    complete = [k for k in keys if shipped[k] > 0 and shipped[k] >= confirmed[k]]
    partly = [k for k in keys if 0 < shipped[k] < confirmed[k]]
    return {
        "shipped": set_status(conn, complete, S.SHIPPED, run_id, only_from=(S.CONFIRMED, S.PARTIAL, S.PARTLY_SHIPPED)),
        "partly_shipped": set_status(conn, partly, S.PARTLY_SHIPPED, run_id, only_from=(S.CONFIRMED, S.PARTIAL)),
    }


def release_requeued(conn: Connection) -> int:
    """Deliveries whose quarantine row operations requeued resume at the step that refused them."""
    released = 0
    for stage, (held_in, resume) in RELEASES.items():
        rows = conn.execute(
            select(quarantine.c.source, quarantine.c.record_key).where(
                quarantine.c.stage == stage, quarantine.c.status == "requeued"
            )
        ).all()
        numbers = [r.record_key.split(":", 1)[1] for r in rows]
        if not numbers:
            continue
        move = deliveries.update().where(deliveries.c.status == held_in).values(status=resume, updated_at=utcnow())
        for chunk in in_chunks(numbers):
            released += conn.execute(move.where(deliveries.c.delivery.in_(chunk))).rowcount
        for source in {r.source for r in rows}:
            keys = [r.record_key for r in rows if r.source == source]
            resolve(conn, source, keys, [stage])
    return released


def touch(conn: Connection, delivery: str, run_id: str, **values: object) -> None:
    conn.execute(
        deliveries.update()
        .where(deliveries.c.delivery == delivery)
        .values(**values, run_id=run_id, updated_at=utcnow())
    )
