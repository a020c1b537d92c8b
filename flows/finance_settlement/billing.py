"""Step 1: SAP's billing documents, read incrementally, and the goods issues of the deliveries they bill.

Billing is read by ``LastChangeDateTime`` from the high-water mark of the last read (``sync_cursors``,
stream ``billing_documents``) minus ``settlement.overlap_seconds``: a cancellation or credit memo
changes its original's change time, so it is read again with it; rows are upserted by document, so
reading twice changes nothing. The first read starts ``settlement.initial_read_days`` before the day.
Goods issues come from SAP's deliveries themselves (every plant: SAP issues plant 2010 on its own),
read once a delivery is billed and again while it is not fully issued.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select

from hub.bulk import upsert
from hub.db import count_in_chunks, utcnow
from hub.schema import billing_documents, billing_items, goods_issues, sync_cursors

log = logging.getLogger(__name__)

SOURCE, STREAM = "sap_s4", "billing_documents"


def _cursor(conn: Any) -> datetime | None:
    value = conn.scalar(
        select(sync_cursors.c.cursor_value).where(sync_cursors.c.source == SOURCE, sync_cursors.c.stream == STREAM)
    )
    return datetime.fromisoformat(value) if value else None


def read_billing(
    engine: Engine, sap: Any, run_id: str, first_day_start: datetime, overlap: timedelta, initial: timedelta
) -> dict[str, int]:
    """Upsert the billing documents changed since the last read (minus the overlap); move the mark."""
    with engine.connect() as conn:
        mark = _cursor(conn)
    since = (mark - overlap) if mark else (first_day_start - initial)
    now = utcnow()
    docs, items, newest = [], [], mark
    for doc in sap.billing_documents(since):
        changed = doc.last_changed_at or now
        newest = max(newest, changed) if newest else changed
        docs.append(
            {
                "billing_document": doc.number,
                "billing_type": doc.billing_type,
                "category": doc.category,
                "billing_date": doc.billing_date,
                "company_code": doc.company_code,
                "country": doc.country or None,
                "sold_to": doc.sold_to,
                "purchase_order": doc.purchase_order,
                "currency": doc.currency,
                "net_amount": doc.net_amount,
                "tax_amount": doc.tax_amount,
                "gross_amount": doc.gross_amount,
                "is_cancelled": doc.is_cancelled,
                "cancelled_document": doc.cancelled_document or None,
                "last_changed_at": changed,
                "run_id": run_id,
                "read_at": now,
            }
        )
        items += [
            {
                "billing_document": doc.number,
                "item": it.item,
                "material": it.material,
                "plant": it.plant or None,
                "quantity": it.quantity,
                "unit": it.unit or None,
                "net_amount": it.net_amount,
                "tax_amount": it.tax_amount,
                "gross_amount": it.gross_amount,
                # Only a delivery: an order-related invoice refers to the order, a credit memo to the invoice.
                "delivery": it.delivery_reference[0] if it.delivery_reference else None,
                "delivery_item": it.delivery_reference[1] if it.delivery_reference else None,
                "sales_order": it.sales_order or None,
                "sales_order_item": it.sales_order_item or None,
            }
            for it in doc.items
        ]
    with engine.begin() as conn:
        numbers = [d["billing_document"] for d in docs]
        upsert(conn, billing_documents, docs, key=("billing_document",), ignore=frozenset({"run_id", "read_at"}))
        count_in_chunks(  # a re-read document brings all its items again
            conn, numbers, lambda chunk: delete(billing_items).where(billing_items.c.billing_document.in_(chunk))
        )
        upsert(conn, billing_items, items, key=("billing_document", "item"))
        if newest and (mark is None or newest > mark):
            upsert(
                conn,
                sync_cursors,
                [
                    {"source": SOURCE, "stream": STREAM, "cursor_value": newest.astimezone(UTC).isoformat()}
                    | {"run_id": run_id, "updated_at": now}
                ],
                key=("source", "stream"),
            )
    log.info("SAP billing changed since %s: %d documents, %d items", since.isoformat(), len(docs), len(items))
    return {"documents": len(docs), "items": len(items)}


def read_goods_issues(engine: Engine, sap: Any) -> dict[str, int]:
    """SAP's goods issues of every billed delivery not yet known as fully issued."""
    with engine.connect() as conn:
        billed = set(conn.scalars(select(billing_items.c.delivery).where(billing_items.c.delivery.is_not(None))))
        done = set(conn.scalars(select(goods_issues.c.delivery).where(goods_issues.c.goods_issue_date.is_not(None))))
    wanted = sorted(billed - done)
    now = utcnow()
    rows = []
    for number in wanted:
        doc = sap.delivery(number)
        issued = doc.goods_movement_status == "C"
        for it in doc.items:
            rows.append(
                {
                    "delivery": number,
                    "item": it.item,
                    "sales_order": it.sales_order,
                    "sales_order_item": it.sales_order_item,
                    "material": it.material,
                    "issued_qty": (it.base_quantity or it.quantity) if issued else 0,
                    "goods_issue_date": doc.goods_issue_date if issued else None,
                    "read_at": now,
                }
            )
    with engine.begin() as conn:
        upsert(conn, goods_issues, rows, key=("delivery", "item"), ignore=frozenset({"read_at"}))
    log.info("goods issues of %d billed deliveries read from SAP (%d items)", len(wanted), len(rows))
    return {"deliveries": len(wanted), "items": len(rows)}
