"""Step 5: approved adjustments to SAP as physical-inventory documents, through the ledger.

One document per plant and storage location and business day, its reference
(``PhysInventoryReferenceNumber``) derived from them, so SAP can always be asked whether the hub's
document exists: the ledger target ``sap.physical_inventory`` is exactly once. Sending is resumable:
a document found by its reference is completed (counts entered where missing, differences posted if
not yet) rather than created again, so a task killed anywhere between the calls ends with one
document, posted once.

The count entered for an item is SAP's own book quantity of the document (frozen when it was
created) plus the approved difference: SAP then posts exactly the difference that was approved,
even if goods moved between the reconciliation and the posting.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update

from connectors.sap_odata import SapBusinessError
from connectors.sap_physinv import PiItemIn
from flows.inventory_reconciliation.book import day_row
from hub.db import utcnow
from hub.ledger import Delivered, Ledger
from hub.schema import count_results, reconciliations

log = logging.getLogger(__name__)

TARGET = "sap.physical_inventory"


def reference(plant: str, storage_location: str, business_day: date) -> str:
    """SAP's PhysInventoryReferenceNumber of the hub's document (16 characters at most)."""
    return f"HB{plant}{storage_location}{business_day:%y%m%d}"


def _payload(business_day: date, plant: str, storage_location: str, lines: list[Any]) -> dict[str, Any]:
    return {
        "reference": reference(plant, storage_location, business_day),
        "plant": plant,
        "storage_location": storage_location,
        "business_day": business_day.isoformat(),
        "items": _one_per_item(lines),
    }


def _one_per_item(lines: list[Any]) -> list[dict[str, Any]]:
    """A document holds an item once: a count and a warehouse adjustment of the same item on one day
    are posted as their sum (with the count's reason)."""
    items: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in sorted(lines, key=lambda r: (r.material, r.batch, r.stock_type, r.basis)):
        key = (r.material, r.batch, r.stock_type)
        if key in items:
            items[key]["difference"] = str(Decimal(items[key]["difference"]) + r.difference_qty)
            continue
        items[key] = {
            "material": r.material,
            "batch": r.batch,
            "stock_type": r.stock_type,
            "difference": str(r.difference_qty),
            "unit": r.unit,
            "reason": r.reason_code,
        }
    return [i for i in items.values() if Decimal(i["difference"]) != 0]


def _complete(pi: Any, document: Any, payload: dict[str, Any]) -> Delivered:
    """Enter the counts still missing on ``document`` and post its differences unless posted."""
    wanted = {(i["material"], i["batch"], i["stock_type"]): i for i in payload["items"]}
    if not document.posted:
        counts = {}
        for item in document.items:
            line = wanted.get((item.material, item.batch or "", item.stock_type))
            if line is None or item.counted:
                continue
            counts[item.item] = (
                item.book_quantity + Decimal(line["difference"]),
                line["unit"] or item.unit,
                line["reason"],
            )
        if counts:
            document = pi.enter_counts(document, counts)
        try:
            document = pi.post_differences(
                document.fiscal_year, document.document, date.fromisoformat(payload["business_day"])
            )
        except SapBusinessError:
            # Another try completing the same document (its claim live: a zombie, or a retry settling
            # it through the lookup) posted between our read and our PostDifferences, and SAP refused
            # a second posting (MI/013): what SAP holds is the answer. Anything else stays an error.
            document = pi.read_document(document.fiscal_year, document.document)
            if not document.posted:
                raise
    material_docs = sorted({i.material_document for i in document.items if i.material_document})
    return Delivered(
        ref=document.document,
        response={
            "fiscal_year": document.fiscal_year,
            "document": document.document,
            "material_documents": material_docs,
            "items": len(document.items),
        },
    )


def _send(pi: Any, payload: dict[str, Any]) -> Delivered:
    found = pi.find_by_reference(payload["reference"])
    if found:
        return _complete(pi, found[0], payload)
    document = pi.create_document(
        payload["plant"],
        payload["storage_location"],
        payload["reference"],
        f"Hub count {payload['business_day']}",
        [PiItemIn(i["material"], i["batch"], i["stock_type"]) for i in payload["items"]],
        date.fromisoformat(payload["business_day"]),
    )
    return _complete(pi, document, payload)


def _lookup(pi: Any, payload: dict[str, Any]) -> Delivered | None:
    found = pi.find_by_reference(payload["reference"])
    return _complete(pi, found[0], payload) if found else None


def post_approved(engine: Engine, pi: Any, ledger: Ledger, run_id: str, business_day: date) -> dict[str, Any]:
    """Post the day's approved adjustments; anything not approved is left alone."""
    with engine.connect() as conn:
        day = day_row(conn, business_day)
        if day is None or day.status not in ("approved", "posted"):
            status = day.status if day is not None else "not reconciled"
            log.info("adjustments of %s are %s: nothing posted", business_day, status)
            return {"status": status, "documents": 0, "lines": 0}
        lines = conn.execute(
            select(count_results)
            .where(count_results.c.business_day == business_day, count_results.c.decision.in_(("approved", "posted")))
            .order_by(count_results.c.plant, count_results.c.storage_location, count_results.c.material)
        ).all()
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in lines:
        groups[(r.plant, r.storage_location)].append(r)
    documents, called = 0, 0
    for (plant, sloc), group in sorted(groups.items()):
        payload = _payload(business_day, plant, sloc, group)
        key = f"{business_day.isoformat()}:{plant}:{sloc}"
        result = ledger.send(TARGET, key, payload, call=lambda p: _send(pi, p), lookup=lambda p: _lookup(pi, p))
        documents += 1
        called += int(result.called)
        material_docs = (result.response or {}).get("material_documents") or []
        with engine.begin() as conn:
            conn.execute(
                update(count_results)
                .where(
                    count_results.c.business_day == business_day,
                    count_results.c.plant == plant,
                    count_results.c.storage_location == sloc,
                    count_results.c.decision.in_(("approved", "posted")),
                )
                .values(
                    decision="posted",
                    sap_document=result.ref,
                    sap_material_document=material_docs[0] if material_docs else None,
                )
            )
        log.info(
            "plant %s/%s: physical-inventory document %s %s (%d items)",
            plant,
            sloc,
            result.ref,
            "posted" if result.called else "already posted",
            len(group),
        )
    with engine.begin() as conn:
        conn.execute(
            update(reconciliations)
            .where(reconciliations.c.business_day == business_day)
            .values(status="posted", run_id=run_id, updated_at=utcnow())
        )
    return {"status": "posted", "documents": documents, "posted_now": called, "lines": len(lines)}
