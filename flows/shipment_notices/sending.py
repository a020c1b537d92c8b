"""Step 1, send: new SAP outbound deliveries of the 3PL plants become Qimen ``stockout.create``
orders to the warehouse, after the ``shipment_notices`` gate.

SAP's delivery change date has no time and cannot be filtered by time in every release, so each run
reads day by day from the last business day it read (a cursor, so a scheduler that was down for days
leaves no gap) minus ``logistics.reread_days``, up to its own business day, and keeps the deliveries
it does not hold yet (the delivery number is the key). A delivery whose order the hub did not post, or which carries
more than SAP confirmed, is quarantined with the field and never sent.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from flows.shipment_notices.records import outbound_orders
from flows.shipment_notices.stages import NOTICES_GATE, OUTBOUND_STAGE, STOCKOUT, touch
from hub import quarantine
from hub.bulk import upsert
from hub.db import rows_in_chunks, utcnow
from hub.ledger import Delivered, Ledger, LedgerBusy, LedgerConflict
from hub.schema import deliveries, delivery_lines, order_allocations, orders, sap_orders, sync_cursors
from transforms.outbound_orders import OutboundOrder, OutboundOrderError, to_stockout_create

log = logging.getLogger(__name__)

SAP_SOURCE = "sap_s4"  # quarantine source of what SAP sent
DELIVERIES_STREAM = "outbound_deliveries"  # sync_cursors: the last business day read


def delivery_key(delivery: str) -> str:
    return f"{SAP_SOURCE}:{delivery}"


# -- discover --------------------------------------------------------------------------------------


def discover(
    engine: Engine, sap: Any, run_id: str, business_day: date, warehouses: Mapping[str, str], reread_days: int
) -> dict[str, int]:
    """Read SAP's deliveries changed since ``business_day - reread_days``, keep the new ones of 3PL
    plants, gate them and store those that pass as ``new`` (to be sent)."""
    counts: Counter[str] = Counter()
    with engine.connect() as conn:
        known = set(conn.scalars(select(deliveries.c.delivery)))
        last = conn.scalar(
            select(sync_cursors.c.cursor_value).where(
                sync_cursors.c.source == SAP_SOURCE, sync_cursors.c.stream == DELIVERIES_STREAM
            )
        )
        # The first run starts at the oldest order SAP holds for the hub: no delivery can be older.
        posted = conn.scalar(
            select(func.min(orders.c.order_time)).join(
                sap_orders,
                (sap_orders.c.source == orders.c.source) & (sap_orders.c.crm_order_id == orders.c.crm_order_id),
            )
        )
    if last:
        start = min(date.fromisoformat(last), business_day)
    else:
        start = min(posted.date(), business_day) if posted else business_day
    first = start - timedelta(days=reread_days)
    days = [first + timedelta(days=n) for n in range((business_day - first).days + 1)]
    found, seen = [], set()
    for doc in (d for day in days for d in sap.deliveries_on(day, plants=sorted(warehouses))):
        counts["read"] += 1
        if doc.number in known or doc.number in seen:
            continue
        seen.add(doc.number)
        if doc.goods_movement_status == "C":  # issued in SAP by hand: nothing left for the warehouse
            log.warning("delivery %s of a 3PL plant was goods-issued in SAP already; not sent", doc.number)
            counts["issued_in_sap"] += 1
            continue
        found.append(doc)
    with engine.begin() as conn:
        stored = 0
        if found:
            rows = _gate_rows(conn, found, warehouses)
            passed = _gate(conn, rows, run_id)
            stored = _store(conn, [d for d in found if delivery_key(d.number) in passed], rows, warehouses, run_id)
        # Re-runs of an older run never move the cursor back.
        if not last or business_day.isoformat() > last:
            upsert(
                conn,
                sync_cursors,
                [
                    {"source": SAP_SOURCE, "stream": DELIVERIES_STREAM, "cursor_value": business_day.isoformat()}
                    | {"run_id": run_id, "updated_at": utcnow()}
                ],
                key=("source", "stream"),
            )
    counts["new"] = stored
    counts["quarantined"] = len(found) - stored
    log.info("deliveries of 3PL plants: %d read, %d new, %d quarantined", counts["read"], stored, counts["quarantined"])
    return {k: counts[k] for k in ("read", "new", "quarantined", "issued_in_sap")}


def _gate_rows(conn: Connection, docs: Sequence[Any], warehouses: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per delivery item with the hub's view of its sales order: its state and what SAP confirmed."""
    numbers = {item.sales_order for d in docs for item in d.items}
    links = {
        r.sap_order: r
        for r in rows_in_chunks(
            conn,
            sorted(numbers),
            lambda chunk: (
                select(sap_orders.c.sap_order, sap_orders.c.source, sap_orders.c.crm_order_id, orders.c.status)
                .join(
                    orders,
                    (orders.c.source == sap_orders.c.source) & (orders.c.crm_order_id == sap_orders.c.crm_order_id),
                )
                .where(sap_orders.c.sap_order.in_(chunk))
            ),
        )
    }
    confirmed = {
        (links_row.sap_order, r.sap_item): r.confirmed_qty
        for links_row in links.values()
        for r in conn.execute(
            select(order_allocations.c.sap_item, order_allocations.c.confirmed_qty).where(
                order_allocations.c.source == links_row.source,
                order_allocations.c.crm_order_id == links_row.crm_order_id,
            )
        )
    }
    rows = []
    for d in docs:
        for item in d.items:
            link = links.get(item.sales_order)
            rows.append(
                {
                    "record_key": delivery_key(d.number),
                    "delivery": d.number,
                    "line_no": int(item.item),
                    "sap_order": item.sales_order or None,
                    "order_state": link.status if link else None,
                    "material": item.material,
                    "plant": item.plant,
                    "warehouse": warehouses.get(item.plant),
                    "delivery_qty": item.quantity,
                    "confirmed_qty": confirmed.get((item.sales_order, str(int(item.sales_order_item or 0)))),
                    "source": link.source if link else SAP_SOURCE,
                    "crm_order_id": link.crm_order_id if link else None,
                }
            )
    return rows


def _gate(conn: Connection, rows: list[dict[str, Any]], run_id: str) -> set[str]:
    import pandas as pd

    from quality.gate import run_gate
    from quality.suites import SHIPMENT_NOTICE_COLUMNS

    frame = pd.DataFrame(rows, columns=[*SHIPMENT_NOTICE_COLUMNS, "source", "crm_order_id"])
    outcome = run_gate(NOTICES_GATE, frame, conn=conn, run_id=run_id, source=SAP_SOURCE, payload_column=None)
    return set(outcome.passed["record_key"]) if len(outcome.passed) else set()


def _store(
    conn: Connection, docs: Sequence[Any], rows: list[dict[str, Any]], warehouses: Mapping[str, str], run_id: str
) -> int:
    by_key = {(r["delivery"], r["line_no"]): r for r in rows}
    now = utcnow()
    for d in docs:
        first = by_key[(d.number, int(d.items[0].item))]
        conn.execute(
            deliveries.insert().values(
                delivery=d.number,
                source=first["source"],
                crm_order_id=first["crm_order_id"],
                sap_order=first["sap_order"],
                plant=first["plant"],
                warehouse=warehouses[first["plant"]],
                status="new",
                sap_changed_on=d.last_change_date,
                run_id=run_id,
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            delivery_lines.insert(),
            [
                {
                    "delivery": d.number,
                    "line_no": int(item.item),
                    "sap_order_item": str(int(item.sales_order_item or 0)),
                    "material": item.material,
                    "unit": item.unit,
                    "planned_qty": item.quantity,
                    "shipped_qty": Decimal(0),
                }
                for item in d.items
            ],
        )
    return len(docs)


# -- send ------------------------------------------------------------------------------------------


def send(engine: Engine, qimen: Any, ledger: Ledger, run_id: str, owner_code: str, now: datetime) -> dict[str, int]:
    """Every ``new`` delivery → ``stockout.create`` through the ledger (key = delivery number)."""
    with engine.connect() as conn:
        todo = outbound_orders(conn, owner_code, now, status="new")
    counts: Counter[str] = Counter()
    for order in todo:
        try:
            document = to_stockout_create(order)
        except OutboundOrderError as exc:
            _refuse(engine, order.delivery, exc.field, str(exc), run_id)
            counts["quarantined"] += 1
            continue
        try:
            result = ledger.send(
                STOCKOUT,
                order.delivery,
                document,
                lambda doc: _created(qimen.stockout_create(doc)),
                lambda doc, order=order: _held_by_warehouse(qimen, order, owner_code),
            )
        except LedgerBusy as exc:
            log.warning("delivery %s: %s", order.delivery, exc)
            counts["waiting"] += 1
            continue
        except LedgerConflict as exc:
            _refuse(engine, order.delivery, "deliveryOrderCode", str(exc), run_id)
            counts["quarantined"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - per delivery: one refusal never stops the batch
            from connectors.http import PermanentError

            if isinstance(exc, PermanentError):
                _refuse(engine, order.delivery, "deliveryOrderCode", f"the warehouse refused it: {exc}", run_id)
                counts["quarantined"] += 1
                continue
            log.warning("delivery %s not sent to the warehouse, next run tries again: %s", order.delivery, exc)
            counts["failed"] += 1
            continue
        with engine.begin() as conn:
            touch(conn, order.delivery, run_id, status="sent", wms_order_id=result.ref)
        counts["sent"] += 1
    log.info("outbound orders to the warehouse: %d sent, %s", counts["sent"], dict(counts))
    return {k: counts[k] for k in ("sent", "quarantined", "failed", "waiting")}


def _created(response: Any) -> Delivered:
    return Delivered(ref=response.get("deliveryOrderId"), response={"createTime": response.get("createTime")})


def _held_by_warehouse(qimen: Any, order: OutboundOrder, owner_code: str) -> Delivered | None:
    """The ledger's lookup: does the warehouse already hold this outbound order (a killed try)?"""
    from connectors.http import BusinessError

    try:
        found = qimen.stockout_query(
            delivery_order_code=order.delivery, owner_code=owner_code, warehouse_code=order.warehouse
        )
    except BusinessError:  # "no such order" is a failure envelope: not held
        return None
    head = found.get("deliveryOrder") or {}
    wms_id = head.get("deliveryOrderId") if isinstance(head, Mapping) else None
    return Delivered(ref=wms_id) if wms_id else None


def _refuse(engine: Engine, delivery: str, field: str, detail: str, run_id: str) -> None:
    with engine.begin() as conn:
        row = conn.execute(select(deliveries).where(deliveries.c.delivery == delivery)).one()
        quarantine.add(
            conn,
            [
                quarantine.QuarantineRecord(
                    OUTBOUND_STAGE,
                    row.source,
                    delivery_key(delivery),
                    "OutboundOrderError",
                    detail,
                    {"delivery": delivery, "sap_order": row.sap_order, "crm_order_id": row.crm_order_id},
                    field=field,
                )
            ],
            run_id,
        )
        touch(conn, delivery, run_id, status="held")  # until operations requeue it
