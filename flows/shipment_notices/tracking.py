"""Step 4, track: the routes of parcels on their way, from the carrier's API (SF Express), until they
are signed for (签收). A delivery is delivered when all its parcels are; an order when all its
deliveries are and nothing more is to come. The signed-for time is what on-time-in-full counts.

Carriers without an API here (ZTO, OTHER …) keep their parcels ``shipped``; the summary says how many
wait for lack of one. A customer pickup is delivered when it leaves the warehouse.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from sqlalchemy import Engine, and_, exists, func, select, update

from hub.db import pairs_in, rows_in_chunks, utcnow
from hub.lifecycle import OrderState as S
from hub.repositories.orders import set_status
from hub.schema import deliveries, orders, parcels

log = logging.getLogger(__name__)

TRACKED_CARRIERS = ("SF",)  # carriers whose route query the hub speaks
BATCH = 10  # waybills per route query, as SF's samples send them


def track(engine: Engine, sf: Any, run_id: str) -> dict[str, int]:
    """Read the routes of open SF parcels; mark what was signed for; move deliveries and orders."""
    counts: Counter[str] = Counter()
    with engine.connect() as conn:
        open_parcels = conn.execute(
            select(parcels.c.delivery, parcels.c.parcel, parcels.c.carrier_code, parcels.c.tracking_number)
            .join(deliveries, deliveries.c.delivery == parcels.c.delivery)
            .where(parcels.c.delivered_at.is_(None), deliveries.c.status == "issued")
            .order_by(parcels.c.tracking_number)
        ).all()
    trackable = [p for p in open_parcels if p.carrier_code in TRACKED_CARRIERS and p.tracking_number]
    counts["untracked"] = len(open_parcels) - len(trackable)
    if trackable and sf is None:
        log.warning("%d SF parcels on their way, but no carrier_sf Connection: not tracked", len(trackable))
        counts["untracked"] += len(trackable)
        trackable = []
    by_number = {p.tracking_number: p for p in trackable}
    numbers = sorted(by_number)
    for start in range(0, len(numbers), BATCH):
        try:
            answers = sf.routes(numbers[start : start + BATCH])
        except Exception as exc:  # noqa: BLE001 - the carrier is down: the parcels wait for the next run
            log.warning("SF route query failed, %d parcels wait: %s", len(numbers[start : start + BATCH]), exc)
            counts["failed"] += len(numbers[start : start + BATCH])
            continue
        with engine.begin() as conn:
            for answer in answers:
                parcel = by_number.get(answer.mail_no)
                if parcel is None or not answer.routes:
                    continue
                last = answer.routes[-1]
                values: dict[str, Any] = {
                    "last_scan": f"{last.op_code} {last.remark}"[:500],
                    "last_scan_at": last.accepted_at,
                }
                if answer.signed_for_at is not None:
                    values["delivered_at"] = answer.signed_for_at
                    counts["signed_for"] += 1
                else:
                    counts["on_the_way"] += 1
                conn.execute(
                    update(parcels)
                    .where(parcels.c.delivery == parcel.delivery, parcels.c.parcel == parcel.parcel)
                    .values(**values)
                )
    with engine.begin() as conn:
        counts["deliveries_delivered"] = _deliveries_delivered(conn, run_id)
        counts["orders_delivered"] = _orders_delivered(conn, run_id)
    log.info("tracking: %s", dict(counts))
    return {
        k: counts[k]
        for k in ("signed_for", "on_the_way", "untracked", "failed", "deliveries_delivered", "orders_delivered")
    }


def _deliveries_delivered(conn: Any, run_id: str) -> int:
    """Issued deliveries whose parcels were all signed for get the last signature as delivered_at."""
    open_parcel = exists().where(parcels.c.delivery == deliveries.c.delivery, parcels.c.delivered_at.is_(None))
    any_parcel = exists().where(parcels.c.delivery == deliveries.c.delivery)
    done = (
        conn.execute(
            select(deliveries.c.delivery).where(
                deliveries.c.status == "issued", deliveries.c.delivered_at.is_(None), any_parcel, ~open_parcel
            )
        )
        .scalars()
        .all()
    )
    for number in done:
        signed = conn.scalar(select(func.max(parcels.c.delivered_at)).where(parcels.c.delivery == number))
        conn.execute(
            update(deliveries)
            .where(deliveries.c.delivery == number)
            .values(delivered_at=signed, run_id=run_id, updated_at=utcnow())
        )
    return len(done)


def _orders_delivered(conn: Any, run_id: str) -> int:
    """Shipped orders (nothing more to come) whose deliveries all arrived."""
    pending = exists().where(
        and_(
            deliveries.c.source == orders.c.source,
            deliveries.c.crm_order_id == orders.c.crm_order_id,
            deliveries.c.status != "cancelled",
            deliveries.c.delivered_at.is_(None),
        )
    )
    keys = [
        (r.source, r.crm_order_id)
        for r in conn.execute(
            select(orders.c.source, orders.c.crm_order_id).where(orders.c.status == S.SHIPPED, ~pending)
        )
    ]
    with_deliveries = (
        {
            (r.source, r.crm_order_id)
            for r in rows_in_chunks(
                conn,
                keys,
                lambda chunk: select(deliveries.c.source, deliveries.c.crm_order_id).where(
                    pairs_in(deliveries.c.source, deliveries.c.crm_order_id, chunk)
                ),
            )
        }
        if keys
        else set()
    )
    return set_status(conn, sorted(with_deliveries), S.DELIVERED, run_id, only_from=(S.SHIPPED,))
