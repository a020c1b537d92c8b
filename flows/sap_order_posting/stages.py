"""Names the posting flow shares (quarantine stages, the ledger target, the retry policy) and the
moves between them: holding an order SAP will not take, releasing what operations requeued."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, select, update

from connectors.http import RetryPolicy
from hub import quarantine
from hub.db import count_in_chunks, pairs_in, rows_in_chunks
from hub.keys import record_key
from hub.lifecycle import OrderState as S
from hub.repositories.orders import OrderKey, requeued_orders, set_status
from hub.schema import order_allocations, orders

POSTING_STAGE = "sap_posting"  # quarantine stage of orders SAP refuses


POSTINGS_GATE = "sap_postings"  # the data-quality gate (and quarantine stage) after posting


SAP_ORDER = "sap.sales_order"  # ledger target; key = the CRM order number (= PurchaseOrderByCustomer)


# A whole $batch that meets a 5xx storm is tried this often (the ledger looks each order up in SAP
# before every re-send), then left failed in the ledger for the next run.
POST_RETRY = RetryPolicy(max_attempts=3, base=1.0, cap=10.0)


def hold(conn: Connection, problems: Mapping[OrderKey, tuple[str, str, str | None]], run_id: str) -> None:
    """Quarantine orders SAP will not take, with the SAP field to fix, and mark them held."""
    if not problems:
        return
    names = {
        (r.source, r.crm_order_id): r.order_number
        for r in rows_in_chunks(
            conn,
            problems,
            lambda chunk: select(orders.c.source, orders.c.crm_order_id, orders.c.order_number).where(
                pairs_in(orders.c.source, orders.c.crm_order_id, chunk)
            ),
        )
    }
    quarantine.add(
        conn,
        [
            quarantine.QuarantineRecord(
                POSTING_STAGE,
                source,
                record_key(source, crm_order_id),
                error_class,
                detail,
                {"order_number": names.get((source, crm_order_id)), "crm_order_id": crm_order_id},
                field=field,
            )
            for (source, crm_order_id), (detail, error_class, field) in problems.items()
        ],
        run_id,
    )
    set_status(conn, problems, S.HELD, run_id)


# Requeued quarantine rows send their orders back a step: (stage, state held in) → state to resume.
RELEASES = {POSTING_STAGE: (S.HELD, S.ACCEPTED), POSTINGS_GATE: (S.REVIEW, S.POSTED)}


def release_requeued(conn: Connection, run_id: str) -> int:
    """Orders whose quarantine row operations requeued go back to the step that refused them."""
    released = 0
    for stage, (held_in, resume) in RELEASES.items():
        keys = requeued_orders(conn, [stage])
        released += set_status(conn, keys, resume, only_from=(held_in,))
        if stage == POSTINGS_GATE:  # the gate looks at what changed in this run
            count_in_chunks(
                conn,
                keys,
                lambda chunk: (
                    update(order_allocations)
                    .where(pairs_in(order_allocations.c.source, order_allocations.c.crm_order_id, chunk))
                    .values(run_id=run_id)
                ),
            )
    return released
