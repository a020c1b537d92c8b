"""Steps 3 and 4: refresh what SAP confirmed since, and the ``sap_postings`` gate over what SAP answered."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Engine, select, tuple_

from flows.sap_order_posting.sap_records import apply_confirmations
from flows.sap_order_posting.stages import POSTINGS_GATE
from hub.keys import record_key
from hub.lifecycle import REFRESHABLE
from hub.lifecycle import OrderState as S
from hub.repositories.orders import set_status
from hub.schema import order_allocations, orders, sap_orders
from transforms.sap_posting import order_summary


# -- refresh ---------------------------------------------------------------------------------------
def refresh(engine: Engine, sap: Any, run_id: str) -> dict[str, int]:
    """Read SAP's current confirmations of orders it holds with quantities still open."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(sap_orders.c.source, sap_orders.c.crm_order_id, sap_orders.c.order_number)
            .join(
                orders, (orders.c.source == sap_orders.c.source) & (orders.c.crm_order_id == sap_orders.c.crm_order_id)
            )
            .where(orders.c.status.in_(REFRESHABLE))
        ).all()
    by_number = {r.order_number: (r.source, r.crm_order_id) for r in rows}
    found = sap.find_sales_orders(sorted(by_number)) if by_number else {}
    changed = 0
    with engine.begin() as conn:
        for number, doc in found.items():
            changed += bool(apply_confirmations(conn, by_number[number], order_summary(doc)["items"], run_id))
    return {"checked": len(by_number), "changed": changed, "missing_in_sap": len(set(by_number) - set(found))}


# -- gate ------------------------------------------------------------------------------------------
def gate(engine: Engine, run_id: str) -> dict[str, int]:
    """The ``sap_postings`` gate over what SAP answered in this run: new postings, and orders whose
    confirmation SAP changed (a backorder confirmed later).

    An order that fails it (SAP confirmed more than ordered, another currency, a net amount off the
    agreed prices) goes to ``review``: it is in SAP, but no confirmation leaves until a human looks
    (``hub quarantine requeue --stage sap_postings`` sends it back through the gate). On a blocking
    breach every order of the batch goes to ``review`` before the task fails.
    """
    import pandas as pd

    from quality.gate import GateBreach, run_gate
    from quality.suites import SAP_POSTING_COLUMNS

    totals: Counter[str] = Counter()
    changed = select(order_allocations.c.source, order_allocations.c.crm_order_id).where(
        order_allocations.c.run_id == run_id
    )
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                orders.c.source,
                orders.c.crm_order_id,
                orders.c.order_number,
                orders.c.currency,
                orders.c.net_amount.label("order_net_amount"),
                sap_orders.c.sap_order,
                sap_orders.c.currency.label("sap_currency"),
                sap_orders.c.sap_net_amount,
                order_allocations.c.line_no,
                order_allocations.c.material,
                order_allocations.c.ordered_qty,
                order_allocations.c.confirmed_qty,
            )
            .join(
                sap_orders,
                (sap_orders.c.source == orders.c.source) & (sap_orders.c.crm_order_id == orders.c.crm_order_id),
            )
            .join(
                order_allocations,
                (order_allocations.c.source == orders.c.source)
                & (order_allocations.c.crm_order_id == orders.c.crm_order_id),
            )
            .where(orders.c.status.in_(REFRESHABLE), tuple_(orders.c.source, orders.c.crm_order_id).in_(changed))
            .order_by(orders.c.source, orders.c.crm_order_id, order_allocations.c.line_no)
        ).all()
        by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_source[r.source].append({**r._mapping, "record_key": record_key(r.source, r.crm_order_id)})
        for source, records in by_source.items():
            frame = pd.DataFrame(records, columns=[*SAP_POSTING_COLUMNS, "crm_order_id"])
            try:
                outcome = run_gate(POSTINGS_GATE, frame, conn=conn, run_id=run_id, source=source, payload_column=None)
            except GateBreach:
                set_status(conn, {(source, r["crm_order_id"]) for r in records}, S.REVIEW, run_id)
                conn.commit()
                raise
            passed = set(outcome.passed["record_key"]) if len(outcome.passed) else set()
            failed = {(source, r["crm_order_id"]) for r in records if r["record_key"] not in passed}
            set_status(conn, failed, S.REVIEW, run_id)
            totals["evaluated"] += frame["record_key"].nunique()
            totals["review"] += len(failed)
    return {
        "evaluated": totals["evaluated"],
        "passed": totals["evaluated"] - totals["review"],
        "review": totals["review"],
    }
