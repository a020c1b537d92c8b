"""Step 1a: SAP's book stock of the business day, read once and kept.

A day's book is read on its first run and reused by every re-run of that day, so a re-run judges the
same numbers (and an adjustment posted in between cannot make the day look different). The rows are
checked in the database by the ``book_stock`` gate.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from hub.bulk import chunked
from hub.db import utcnow
from hub.schema import book_stock, reconciliations

log = logging.getLogger(__name__)


def day_row(conn: Any, business_day: date) -> Any:
    return conn.execute(select(reconciliations).where(reconciliations.c.business_day == business_day)).first()


def take_book(
    engine: Engine,
    sap: Any,
    run_id: str,
    business_day: date,
    plants: list[str],
    counts_from: datetime,
    counts_to: datetime,
) -> dict[str, Any]:
    """Read SAP's stock of ``plants`` into ``book_stock`` for ``business_day`` unless the day has it."""
    with engine.connect() as conn:
        existing = day_row(conn, business_day)
        if existing is not None:
            rows = conn.execute(
                select(func.count()).select_from(book_stock).where(book_stock.c.business_day == business_day)
            ).scalar_one()
            log.info(
                "book stock of %s was read at %s (%d rows): reused, so a re-run judges the same book",
                business_day,
                existing.book_taken_at,
                rows,
            )
            return {"book_rows": rows, "reused": True, "taken_at": existing.book_taken_at.isoformat()}
    taken_at = utcnow()
    total = 0
    special = 0
    with engine.begin() as conn:
        conn.execute(delete(book_stock).where(book_stock.c.business_day == business_day))
        for plant in plants:
            rows = []
            for row in sap.stock(plant):
                if row.special_stock_type:
                    special += 1  # consignment, customer or project stock is not the warehouse's to count
                    continue
                rows.append(
                    {
                        "business_day": business_day,
                        "plant": row.plant,
                        "storage_location": row.storage_location,
                        "material": row.material,
                        "batch": row.batch or "",
                        "stock_type": row.stock_type,
                        "quantity": row.quantity,
                        "unit": row.unit or None,
                    }
                )
            for chunk in chunked(rows, 5000):
                conn.execute(insert(book_stock), chunk)
            total += len(rows)
            log.info("SAP book stock of plant %s: %d rows", plant, len(rows))
        conn.execute(
            insert(reconciliations).values(
                business_day=business_day,
                status="snapshot",
                book_taken_at=taken_at,
                counts_from=counts_from,
                counts_to=counts_to,
                run_id=run_id,
                updated_at=taken_at,
            )
        )
    log.info(
        "book stock of %s read at %s: %d rows (%d special-stock rows left out)", business_day, taken_at, total, special
    )
    return {"book_rows": total, "reused": False, "taken_at": taken_at.isoformat(), "special_stock_rows": special}
