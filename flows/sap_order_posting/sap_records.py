"""What SAP holds, in the hub: looking an order up in SAP by ``PurchaseOrderByCustomer``, and linking
the hub's order to SAP's (``sap_orders``, confirmed quantities and dates, state ``posted``).

An SAP order number links one CRM order only. When SAP answers an order with a number the hub already
links to another CRM order (SAP was reset or restored while the hub database was kept, or the hub
database comes from another SAP system), the answer is refused, never linked over the other order:
:func:`number_clash` names both orders and the number, :func:`refuse_clash` holds the order in the
quarantine and marks its ledger entry failed with that sentence, for a human to sort out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, select, update

from flows.sap_order_posting.stages import SAP_ORDER, hold
from hub.bulk import upsert
from hub.db import utcnow
from hub.ledger import Delivered
from hub.lifecycle import OrderState as S
from hub.repositories.orders import OrderKey, set_status
from hub.schema import ledger, order_allocations, orders, sap_orders
from transforms.sap_posting import order_summary

CLASH = "SapNumberClash"  # quarantine error class of an SAP number the hub links to another order


def lookup_in_sap(sap: Any, payloads: list[dict[str, Any]]) -> list[Delivered | None]:
    """SAP's order for each payload's PurchaseOrderByCustomer, if it is this customer's."""
    found = sap.find_sales_orders([p["PurchaseOrderByCustomer"] for p in payloads])
    answers: list[Delivered | None] = []
    for p in payloads:
        doc = found.get(p["PurchaseOrderByCustomer"])
        # Another customer's order with the same reference text is not ours to link.
        answers.append(delivered(doc) if doc is not None and doc.sold_to == p["SoldToParty"] else None)
    return answers


def delivered(doc: Any) -> Delivered | Exception:
    if isinstance(doc, Exception):
        return doc
    return Delivered(ref=doc.number, response=order_summary(doc))


def link(conn: Connection, key: OrderKey, number: str, summary: Mapping[str, Any], run_id: str) -> None:
    now = utcnow()
    upsert(
        conn,
        sap_orders,
        [
            {
                "source": key[0],
                "crm_order_id": key[1],
                "order_number": number,
                "sap_order": summary["sap_order"],
                "sap_net_amount": Decimal(summary["net_amount"]) if summary.get("net_amount") else None,
                "currency": summary.get("currency"),
                "created_at": now,
                "run_id": run_id,
                "updated_at": now,
            }
        ],
        key=("source", "crm_order_id"),
        ignore=frozenset({"created_at", "updated_at", "run_id"}),
    )
    apply_confirmations(conn, key, summary["items"], run_id)
    set_status(conn, [key], S.POSTED, run_id, only_from=(S.ACCEPTED, S.BACKORDERED, S.HELD))


def number_clash(conn: Connection, key: OrderKey, number: str, summary: Mapping[str, Any]) -> str | None:
    """The sentence refusing SAP's answer for order ``number`` when the hub already links the SAP order
    number in ``summary`` to another CRM order; None when the number is free or already this order's."""
    sap_order = summary.get("sap_order")
    if not sap_order:
        return None
    other = conn.execute(
        select(sap_orders.c.source, sap_orders.c.crm_order_id, sap_orders.c.order_number).where(
            sap_orders.c.sap_order == str(sap_order),
            ~and_(sap_orders.c.source == key[0], sap_orders.c.crm_order_id == key[1]),
        )
    ).first()
    if other is None:
        return None
    return (
        f"order {number} ({key[0]}): SAP answered with sales order {sap_order}, which the hub already links to "
        f"order {other.order_number} ({other.source}); not linked. The hub database and SAP disagree (SAP reset "
        f"or restored while the hub kept its database, or a hub database from another system): check SAP order "
        f"{sap_order} and which CRM order it belongs to before requeueing order {number}"
    )


def refuse_clash(conn: Connection, key: OrderKey, number: str, sentence: str, run_id: str) -> None:
    """Hold the order in the quarantine with ``sentence`` and mark its ledger entry failed: SAP's answer
    is kept there (``response_ref``) but is not the clean success a linked order has."""
    status = conn.execute(
        select(orders.c.status).where(orders.c.source == key[0], orders.c.crm_order_id == key[1])
    ).scalar_one_or_none()
    if status is not None and status != S.HELD:
        hold(conn, {key: (sentence, CLASH, "sap_order")}, run_id)
    conn.execute(
        update(ledger)
        .where(ledger.c.target == SAP_ORDER, ledger.c.idem_key == number)
        .values(status="failed", last_error=sentence[:4000], claimed_by=None, claimed_until=None, updated_at=utcnow())
    )


def apply_confirmations(conn: Connection, key: OrderKey, items: Iterable[Mapping[str, Any]], run_id: str) -> int:
    """Write SAP's confirmed quantity and date onto the order's allocation rows; returns rows changed."""
    changed = 0
    for it in items:
        line_no = int(it["item"]) // 10
        confirmed_date = it.get("confirmed_date")
        changed += conn.execute(
            update(order_allocations)
            .where(
                order_allocations.c.source == key[0],
                order_allocations.c.crm_order_id == key[1],
                order_allocations.c.line_no == line_no,
            )
            .where(
                (order_allocations.c.confirmed_qty != Decimal(it["confirmed_qty"]))
                | (order_allocations.c.sap_item.is_(None))
                | (order_allocations.c.confirmed_date.is_distinct_from(_date(confirmed_date)))
            )
            .values(
                confirmed_qty=Decimal(it["confirmed_qty"]),
                confirmed_date=_date(confirmed_date),
                sap_item=str(it["item"]),
                run_id=run_id,
                updated_at=utcnow(),
            )
        ).rowcount
    return changed


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
