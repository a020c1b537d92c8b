"""Step 1, plan: postings in doubt settled against SAP, then SAP stock and availability for the open
orders' materials, allocation by priority and order time, backorders and holds."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, delete, select

from connectors.http import BusinessError, ConnectorError, TransientError
from flows.sap_order_posting.sap_records import link, lookup_in_sap, number_clash, refuse_clash
from flows.sap_order_posting.stages import SAP_ORDER, hold, release_requeued
from hub.bulk import upsert
from hub.db import count_in_chunks, pairs_in, utcnow
from hub.ledger import Ledger
from hub.lifecycle import PLANNABLE
from hub.lifecycle import OrderState as S
from hub.repositories.orders import OrderKey, open_lines, order_of, set_status
from hub.schema import order_allocations, orders, stock_snapshots
from transforms.allocation import Demand, allocate, posting_sequence
from transforms.sap_posting import area_problem, pick_sales_area

log = logging.getLogger(__name__)


def plan(engine: Engine, sap: Any, run_id: str, *, default_plant: str) -> dict[str, Any]:
    """Snapshot SAP stock and availability for the open orders' materials and allocate it.

    Returns counts, the posting sequence and the customers' sales areas for :func:`post`.
    """
    with engine.begin() as conn:
        released = release_requeued(conn, run_id)
    settled, in_doubt = _settle_unknown_postings(engine, sap, run_id)
    with engine.connect() as conn:
        rows = [r for r in open_lines(conn, PLANNABLE, default_plant) if r.order_number not in in_doubt]
    by_order: dict[OrderKey, list[Any]] = defaultdict(list)
    for r in rows:
        by_order[(r.source, r.crm_order_id)].append(r)
    currencies = {r.customer_number: r.currency for r in rows}
    found = sap.customer_sales_areas(sorted(currencies))
    areas = {c: pick_sales_area(found.get(c, []), cur) for c, cur in currencies.items()}

    refused = {key: area_problem(lines[0], areas[lines[0].customer_number]) for key, lines in by_order.items()}
    refused = {key: problem for key, problem in refused.items() if problem}
    plannable = [r for r in rows if (r.source, r.crm_order_id) not in refused]

    pairs = sorted({(r.material, r.plant) for r in plannable})
    materials_by_plant: dict[str, list[str]] = defaultdict(list)
    for material, plant in pairs:
        materials_by_plant[plant].append(material)
    unrestricted: dict[tuple[str, str], Decimal] = {}
    unreadable: set[tuple[str, str]] = set()  # SAP could not be asked (an outage): wait for the next run
    for plant, wanted in materials_by_plant.items():
        try:
            stock = sap.unrestricted_stock(plant, wanted)
        except TransientError as exc:
            log.warning("plant %s: stock of %d materials not readable (%s); their orders wait", plant, len(wanted), exc)
            unreadable.update((m, plant) for m in wanted)
            continue
        for material, qty in stock.items():
            unrestricted[(material, plant)] = qty
    available, unknown, unreachable = _availability(sap, [p for p in pairs if p not in unreadable])
    unreadable |= unreachable
    deferred = {(r.source, r.crm_order_id) for r in plannable if (r.material, r.plant) in unreadable}
    plannable = [r for r in plannable if (r.source, r.crm_order_id) not in deferred]
    rows = [r for r in rows if (r.source, r.crm_order_id) not in deferred]
    for r in plannable:
        if (r.material, r.plant) in unknown:
            refused[(r.source, r.crm_order_id)] = (
                f"order {r.order_number} line {r.line_no}: {unknown[r.material, r.plant]}",
                "material",
            )
    plannable = [r for r in plannable if (r.source, r.crm_order_id) not in refused]

    allocations = allocate(
        (
            Demand(
                r.source,
                r.crm_order_id,
                r.order_number,
                r.line_no,
                r.material,
                r.plant,
                r.quantity,
                areas[r.customer_number].priority,  # type: ignore[union-attr] - refused orders are out
                r.order_time,
            )
            for r in plannable
        ),
        available,
    )
    sequence = posting_sequence(allocations)
    nothing_available = {a.demand.order_key for a in allocations} - set(sequence)
    _write_plan(engine, run_id, allocations, unrestricted, available, rows, refused, nothing_available, sequence)
    return {
        "open_orders": len(by_order),
        "lines": len(rows),
        "materials": len(pairs),
        "released": released,
        "settled_from_sap": settled,
        "in_doubt": len(in_doubt),
        "deferred": len(deferred),
        "to_post": len(sequence),
        "backordered": len(nothing_available),
        "held": len(refused),
        "sequence": [list(key) for key in sequence],
        "sales_areas": {c: asdict(a) for c, a in areas.items() if a is not None},
    }


def _availability(
    sap: Any, pairs: Sequence[tuple[str, str]]
) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], str], set[tuple[str, str]]]:
    """SAP's availability per (material, plant); the pairs SAP refuses to check (e.g. a material
    not maintained in the plant: its orders cannot be posted either); and the pairs SAP could not be
    asked about through its retries (an outage: only their orders wait for the next run)."""
    available, unknown, unreachable = {}, {}, set()
    for pair in pairs:
        try:
            available[pair] = sap.availability(*pair)
        except BusinessError as exc:
            unknown[pair] = f"SAP cannot check material {pair[0]} in plant {pair[1]}: {exc}"
        except TransientError as exc:
            log.warning("material %s plant %s: availability not readable (%s); its orders wait", *pair, exc)
            unreachable.add(pair)
    return available, unknown, unreachable


def _settle_unknown_postings(engine: Engine, sap: Any, run_id: str) -> tuple[int, set[str]]:
    """Before anything is planned: orders whose SAP posting may have happened without the hub knowing
    (a task killed between SAP's answer and the ledger's record, a timeout) are looked up in SAP by
    ``PurchaseOrderByCustomer``. Those SAP holds are linked and posted; the order numbers SAP could
    not be asked about, or that another try is posting right now, are returned so that nobody plans
    them. Returns (how many were linked, order numbers in doubt)."""
    with engine.connect() as conn:
        numbers = list(
            conn.execute(
                select(orders.c.order_number).where(orders.c.status.in_((*PLANNABLE, S.HELD))).distinct()
            ).scalars()
        )
    settled, unknown = Ledger(engine).settle(
        SAP_ORDER, numbers, lambda payloads: lookup_in_sap(sap, payloads), expected=(ConnectorError,)
    )
    linked = 0
    if settled:
        with engine.begin() as conn:
            for row, found in settled:
                key = order_of(conn, row.idem_key, row.payload["SoldToParty"])
                if key is None:
                    continue
                clash = number_clash(conn, key, row.idem_key, found.response or {})
                if clash is not None:  # held again: the ledger's lookup has just called it sent
                    refuse_clash(conn, key, row.idem_key, clash, run_id)
                    continue
                link(conn, key, row.idem_key, found.response or {}, run_id)
                linked += 1
        log.info("%d orders SAP already held were linked before planning (an earlier try posted them)", linked)
    return linked, {row.idem_key for row in unknown}


def _write_plan(
    engine: Engine,
    run_id: str,
    allocations: Sequence[Any],
    unrestricted: Mapping[tuple[str, str], Decimal],
    available: Mapping[tuple[str, str], Decimal],
    rows: Sequence[Any],
    refused: Mapping[OrderKey, tuple[str, str]],
    nothing_available: set[OrderKey],
    sequence: Sequence[OrderKey],
) -> None:
    now = utcnow()
    with engine.begin() as conn:
        upsert(
            conn,
            stock_snapshots,
            [
                {
                    "run_id": run_id,
                    "material": material,
                    "plant": plant,
                    "unrestricted": unrestricted.get((material, plant), Decimal(0)),
                    "available": qty,
                    "taken_at": now,
                }
                for (material, plant), qty in available.items()
            ],
            key=("run_id", "plant", "material"),
        )
        planned = {(r.source, r.crm_order_id) for r in rows}
        count_in_chunks(
            conn,
            sorted(planned),
            lambda chunk: delete(order_allocations).where(
                pairs_in(order_allocations.c.source, order_allocations.c.crm_order_id, chunk)
            ),
        )
        upsert(
            conn,
            order_allocations,
            [
                {
                    "source": a.demand.source,
                    "crm_order_id": a.demand.crm_order_id,
                    "line_no": a.demand.line_no,
                    "material": a.demand.material,
                    "plant": a.demand.plant,
                    "priority": a.demand.priority or None,
                    "ordered_qty": a.demand.quantity,
                    "allocated_qty": a.allocated,
                    "confirmed_qty": Decimal(0),
                    "run_id": run_id,
                    "updated_at": now,
                }
                for a in allocations
            ],
            key=("source", "crm_order_id", "line_no"),
        )
        # A CRM sync may have moved an order since it was read: only unposted orders change here.
        set_status(conn, nothing_available, S.BACKORDERED, run_id, only_from=PLANNABLE)
        set_status(conn, sequence, S.ACCEPTED, run_id, only_from=PLANNABLE)
        hold(conn, {key: (why, "SapNotOrderable", field) for key, (why, field) in refused.items()}, run_id)
