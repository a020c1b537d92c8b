"""Step 1b: what the warehouses say they hold, into ``warehouse_counts`` (and receipts into
``warehouse_receipts``), each line through the ``warehouse_counts`` gate.

Three ways in:

- ``inventory.report`` pushes (via the receiver's inbox): every page of a ``checkOrderCode`` is
  collected before any is used; a count still missing pages waits for the next run, and is
  quarantined whole once it has waited a day. CHECK lines are counts, ADJUST lines (adjusted in the
  warehouse already) are kept apart (``adjust_type``). A page pushed twice is one message.
- ``stockchange.report`` pushes: receipts into the warehouse (order types ending in RK, 入库) that SAP
  may not have booked yet explain a physical stock ahead of the book.
- count sheets (CSV) in ``inventory.count_dir``, for plants without a WMS: each file is filed in the
  inbox by its SHA-256 (so a file dropped twice is read once); a malformed file is quarantined whole
  with the row and field.
- ``inventory.query``: the WMS's own stock of every material SAP books at its plants, once per day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, exists, select

from hub import quarantine
from hub.bulk import upsert
from hub.db import utcnow
from hub.repositories import inbox
from hub.schema import book_stock, materials, warehouse_counts, warehouse_receipts
from quality.gate import run_gate
from transforms import warehouse_counts as wc

log = logging.getLogger(__name__)

STAGE = "warehouse_counts"
SHEET_METHOD = "count_sheet"
INCOMPLETE_AFTER = timedelta(days=1)
# Qimen order types that bring goods into the warehouse from outside (§3.10); CCRK (defective goods
# in) moves stock between types inside the warehouse and is no receipt SAP could be behind on.
RECEIPT_TYPES = frozenset({"B2BRK", "SCRK", "LYRK", "CGRK", "DBRK", "QTRK", "XTRK", "THRK", "HHRK"})
_KEY = ("source", "document", "adjust_type", "plant", "material", "batch", "stock_type")


def _base_units(conn: Any) -> dict[str, str]:
    return dict(conn.execute(select(materials.c.material, materials.c.base_unit)).all())


def _row(
    line: Any, plant: str, storage_location: str, inbox_id: int | None, run_id: str, now: datetime, received: datetime
) -> dict:
    return {
        "source": line.source,
        "document": line.document,
        "adjust_type": line.adjust_type,
        "plant": plant,
        "storage_location": storage_location,
        "material": line.material,
        "batch": line.batch or "",
        "stock_type": line.stock_type,
        "inventory_type": line.inventory_type,
        "physical": line.counted_qty,
        "difference": line.difference,
        "unit": line.unit,
        # A report without checkTime counted at the latest when it reached the receiver.
        "counted_at": line.counted_at or received,
        "inbox_id": inbox_id,
        "run_id": run_id,
        "collected_at": now,
    }


def _without_unkept_batches(conn: Any, rows: list[dict]) -> list[dict]:
    """A warehouse may keep lots of a material SAP books without batches: its lines are summed under
    no batch, so they meet SAP's one book line."""
    kept = set(conn.execute(select(book_stock.c.plant, book_stock.c.material).where(book_stock.c.batch != "")).all())
    merged: dict[tuple, dict] = {}
    for r in rows:
        if r["batch"] and (r["plant"], r["material"]) not in kept:
            r = {**r, "batch": ""}
        key = tuple(r[k] for k in _KEY)
        if key in merged:
            prev = merged[key]
            for field in ("physical", "difference"):
                if prev[field] is not None or r[field] is not None:
                    prev[field] = (prev[field] or 0) + (r[field] or 0)
        else:
            merged[key] = dict(r)
    return list(merged.values())


def _store_gated(engine: Engine, rows: list[dict], run_id: str, source: str) -> tuple[int, int]:
    """Gate the count lines and store those that pass; returns (stored, quarantined)."""
    if not rows:
        return 0, 0
    import pandas as pd

    with engine.begin() as conn:
        rows = _without_unkept_batches(conn, rows)
        units = _base_units(conn)
        frame = pd.DataFrame(
            [
                {
                    **r,
                    "record_key": f"{r['document']}:{r['plant']}:{r['material']}:{r['batch']}:{r['stock_type']}",
                    "base_unit": units.get(r["material"]),
                    "known_material": r["material"] in units,
                    "payload": {k: v for k, v in r.items() if k not in ("run_id", "collected_at")},
                }
                for r in rows
            ]
        )
        outcome = run_gate(STAGE, frame, conn=conn, run_id=run_id, source=source)
        keep = outcome.passed.index
        passed = [rows[i] for i in keep]
        upsert(conn, warehouse_counts, passed, key=_KEY)
    return len(passed), outcome.quarantined


def _quarantine_message(engine: Engine, row: Any, source: str, error: Exception, run_id: str) -> None:
    with engine.begin() as conn:
        quarantine.add(
            conn,
            [
                quarantine.QuarantineRecord(
                    STAGE,
                    source,
                    f"{row.method}:{row.message_key}"[:200],
                    type(error).__name__,
                    f"{row.method} {row.document_code or row.message_key}: {error}",
                    {
                        "method": row.method,
                        "message_key": row.message_key,
                        "document": row.document_code,
                        "body": row.body[:20000],
                    },
                    field=getattr(error, "field", None),
                )
            ],
            run_id,
        )
        inbox.mark(conn, [row.id], "quarantined")
    log.warning("%s %s quarantined whole: %s", row.method, row.document_code or row.message_key, error)


def collect_reports(
    engine: Engine, run_id: str, warehouses: dict[str, str], storage_location: str, now: datetime
) -> dict[str, int]:
    """Counts pushed as inventory.report, complete ones only."""
    plants_of = {code: plant for plant, code in warehouses.items()}
    pending = inbox.pending(engine, "inventory.report")
    by_document: dict[str, list[Any]] = defaultdict(list)
    stats = {"messages": len(pending), "counts": 0, "waiting": 0, "lines": 0, "quarantined": 0}
    for row in pending:
        try:
            page = wc.parse_inventory_report(row.body)
        except wc.CountError as exc:
            _quarantine_message(engine, row, "qimen", exc, run_id)
            stats["quarantined"] += 1
            continue
        by_document[page.check_order_code].append((row, page))
    for document, pages in sorted(by_document.items()):
        rows_of = [r for r, _ in pages]
        try:
            count = wc.assemble_count([p for _, p in pages])
        except wc.IncompleteCount as exc:
            oldest = min(_aware(r.received_at) for r in rows_of)
            if now - oldest < INCOMPLETE_AFTER:
                stats["waiting"] += 1
                log.info("count %s: %s; waiting for the rest", document, exc)
                continue
            for r in rows_of:
                _quarantine_message(engine, r, "qimen", exc, run_id)
            stats["quarantined"] += 1
            continue
        except wc.CountError as exc:
            for r in rows_of:
                _quarantine_message(engine, r, "qimen", exc, run_id)
            stats["quarantined"] += 1
            continue
        lines = list(count.lines)
        plant = plants_of.get(count.warehouse)
        if plant is None:
            for r in rows_of:
                _quarantine_message(
                    engine,
                    r,
                    "qimen",
                    wc.CountError(f"warehouseCode {count.warehouse!r} is no plant's warehouse"),
                    run_id,
                )
            stats["quarantined"] += 1
            continue
        first = rows_of[0]
        received = min(_aware(r.received_at) for r in rows_of)
        rows = [_row(line, plant, storage_location, first.id, run_id, now, received) for line in lines]
        stored, held = _store_gated(engine, rows, run_id, "qimen")
        with engine.begin() as conn:
            inbox.mark(conn, [r.id for r in rows_of], "processed")
        stats["counts"] += 1
        stats["lines"] += stored
        stats["quarantined"] += held
        log.info(
            "count %s (%s, %s): %d lines stored, %d quarantined",
            document,
            count.warehouse,
            count.adjust_type,
            stored,
            held,
        )
    return stats


def collect_changes(engine: Engine, run_id: str, warehouses: dict[str, str]) -> dict[str, int]:
    """stockchange.report: receipts the warehouse booked, for timing differences."""
    plants_of = {code: plant for plant, code in warehouses.items()}
    pending = inbox.pending(engine, "stockchange.report")
    stats = {"messages": len(pending), "receipts": 0, "quarantined": 0}
    for row in pending:
        try:
            changes = wc.parse_stockchange(row.body)
        except wc.CountError as exc:
            _quarantine_message(engine, row, "qimen", exc, run_id)
            stats["quarantined"] += 1
            continue
        rows = []
        for n, change in enumerate(changes, start=1):
            plant = plants_of.get(change.warehouse)
            if plant is None or change.stock_type is None or change.order_type not in RECEIPT_TYPES:
                continue  # only goods from outside (入库) in a known warehouse can be ahead of SAP's book
            rows.append(
                {
                    "message_key": row.message_key,
                    "line_no": n,
                    "plant": plant,
                    "order_code": change.order_code,
                    "order_type": change.order_type,
                    "material": change.material,
                    "stock_type": change.stock_type,
                    "quantity": change.quantity,
                    "changed_at": change.changed_at or _aware(row.received_at),
                }
            )
        with engine.begin() as conn:
            upsert(conn, warehouse_receipts, rows, key=("message_key", "line_no"))
            inbox.mark(conn, [row.id], "processed")
        stats["receipts"] += len(rows)
    return stats


def collect_sheets(engine: Engine, run_id: str, folder: Path, storage_location: str, now: datetime) -> dict[str, int]:
    """Count sheets dropped in ``folder``: filed once by content, parsed, gated."""
    stats = {"files": 0, "lines": 0, "quarantined": 0}
    if not folder.is_dir():
        log.info("no count-sheet folder %s: nothing to read", folder)
        return stats
    for path in sorted(folder.glob("*.csv")):
        raw = path.read_bytes()
        inbox.store(
            engine,
            method=SHEET_METHOD,
            message_key=inbox.body_key(raw),
            document_code=path.name,
            body=raw.decode("utf-8", errors="replace"),
            params={"file": path.name},
        )
    for row in inbox.pending(engine, SHEET_METHOD):
        stats["files"] += 1
        try:
            lines = wc.parse_count_sheet(row.body, row.document_code or row.message_key)
        except wc.CountError as exc:
            _quarantine_message(engine, row, "count_sheet", exc, run_id)
            stats["quarantined"] += 1
            continue
        received = _aware(row.received_at)
        rows = [
            _row(line, line.plant, line.storage_location or storage_location, row.id, run_id, now, received)
            for line in lines
        ]
        stored, held = _store_gated(engine, rows, run_id, "count_sheet")
        with engine.begin() as conn:
            inbox.mark(conn, [row.id], "processed")
        stats["lines"] += stored
        stats["quarantined"] += held
        log.info("count sheet %s: %d lines stored, %d quarantined", row.document_code, stored, held)
    return stats


def query_stock(
    engine: Engine,
    qimen: Any,
    run_id: str,
    business_day: date,
    warehouses: dict[str, str],
    storage_location: str,
    owner_code: str,
) -> dict[str, int]:
    """The WMS's stock of every material SAP books at its plants, once per business day."""
    document = f"query:{business_day.isoformat()}"
    stats = {"queried": 0, "lines": 0, "quarantined": 0}
    with engine.connect() as conn:
        done = conn.execute(
            select(
                exists().where(warehouse_counts.c.source == "inventory_query", warehouse_counts.c.document == document)
            )
        ).scalar()
        if done:
            log.info("the warehouses' stock of %s was read before: kept", business_day)
            return stats
        wanted = {
            plant: sorted(
                {
                    m
                    for (m,) in conn.execute(
                        select(book_stock.c.material)
                        .where(book_stock.c.business_day == business_day, book_stock.c.plant == plant)
                        .distinct()
                    )
                }
            )
            for plant in warehouses
        }
    now = utcnow()
    rows = []
    for plant, code in sorted(warehouses.items()):
        if not wanted[plant]:
            continue
        totals: dict[tuple[str, str, str], list] = {}
        for stock in qimen.inventory_query(code, wanted[plant], owner_code=owner_code):
            stock_type = wc.STOCK_TYPES.get(stock.inventory_type)
            if stock_type is None:
                continue  # goods in transit (ZT) are not on hand
            key = (stock.item_code, stock.batch or "", stock_type)
            entry = totals.setdefault(key, [stock.inventory_type, 0])
            entry[1] += stock.quantity + stock.lock_quantity
        stats["queried"] += len(wanted[plant])
        for (material, batch, stock_type), (inventory_type, quantity) in sorted(totals.items()):
            rows.append(
                {
                    "source": "inventory_query",
                    "document": document,
                    "adjust_type": "CHECK",
                    "plant": plant,
                    "storage_location": storage_location,
                    "material": material,
                    "batch": batch,
                    "stock_type": stock_type,
                    "inventory_type": inventory_type,
                    "physical": quantity,
                    "difference": None,
                    "unit": None,
                    "counted_at": now,
                    "inbox_id": None,
                    "run_id": run_id,
                    "collected_at": now,
                }
            )
    stored, held = _store_gated(engine, rows, run_id, "qimen")
    stats["lines"], stats["quarantined"] = stored, held
    log.info("inventory.query: %d materials asked, %d stock lines stored", stats["queried"], stored)
    return stats


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
