"""Step 6: approved proposals become SAP purchase requisitions, through the ledger, never twice.

One requisition per plant and planning week (a plant with more than ``ITEMS_PER_REQUISITION``
proposals gets several, numbered), created in one deep insert with its items. Every item carries
the requisition's external reference (``PurReqnExternalReference``, e.g. ``HUBPR-1010-20261207-1``),
so SAP can always be asked whether the hub's requisition exists: the ledger target
``sap.purchase_requisition`` looks it up before a retried create, and a requisition found is the
answer, not a reason to create another.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from hub.db import utcnow
from hub.ledger import Delivered, Ledger
from hub.schema import materials, planning_runs, replenishment_proposals

log = logging.getLogger(__name__)

TARGET = "sap.purchase_requisition"
ITEMS_PER_REQUISITION = 200


def reference(plant: str, planning_week: date, part: int) -> str:
    """The requisition's PurReqnExternalReference (35 characters at most)."""
    return f"HUBPR-{plant}-{planning_week:%Y%m%d}-{part}"


def _payload(planning_week: date, plant: str, part: int, rows: list[Any], names: dict, settings: Any) -> dict:
    return {
        "reference": reference(plant, planning_week, part),
        "plant": plant,
        "type": settings.planning.requisition_type,
        "description": f"Hub replenishment {plant} {planning_week.isoformat()}",
        "items": [
            {
                "material": r.material,
                "quantity": str(r.proposed_qty),
                "unit": r.unit,
                "delivery_date": r.delivery_date.isoformat(),
                "price": str(r.unit_cost),
                "currency": r.currency,
                "text": (names.get(r.material) or r.material)[:40],
            }
            for r in rows
        ],
    }


def _delivered(pr: Any) -> Delivered:
    return Delivered(
        ref=pr.number,
        response={"requisition": pr.number, "items": {i.material: i.item for i in pr.items}},
    )


def _create(client: Any, payload: dict[str, Any], purchasing_group: str) -> Delivered:
    from connectors.sap_purchase_req import PrItemIn

    items = [
        PrItemIn(
            material=i["material"],
            plant=payload["plant"],
            quantity=Decimal(i["quantity"]),
            unit=i["unit"],
            delivery_date=date.fromisoformat(i["delivery_date"]),
            external_reference=payload["reference"],
            price=Decimal(i["price"]),
            currency=i["currency"],
            purchasing_group=purchasing_group,
            text=i["text"],
        )
        for i in payload["items"]
    ]
    return _delivered(client.create(payload["description"], items, pr_type=payload["type"]))


def _lookup(client: Any, payload: dict[str, Any]) -> Delivered | None:
    found = client.find_by_external_reference(payload["reference"])
    return _delivered(found[0]) if found else None


def request_approved(
    engine: Engine, client: Any, ledger: Ledger, run_id: str, planning_week: date, settings: Any
) -> dict:
    """Create the requisitions of the week's approved proposals; anything not approved is left alone."""
    with engine.connect() as conn:
        run = conn.execute(select(planning_runs).where(planning_runs.c.planning_week == planning_week)).first()
        if run is None or run.status not in ("approved", "requested"):
            status = run.status if run is not None else "not planned"
            log.info("proposals of %s are %s: no requisition requested", planning_week, status)
            return {"status": status, "requisitions": 0, "items": 0}
        rows = conn.execute(
            select(replenishment_proposals)
            .where(
                replenishment_proposals.c.planning_week == planning_week,
                replenishment_proposals.c.decision.in_(("approved", "requested")),
                replenishment_proposals.c.proposed_qty > 0,
            )
            .order_by(replenishment_proposals.c.plant, replenishment_proposals.c.priority)
        ).all()
        names = dict(conn.execute(select(materials.c.material, materials.c.description)).all())
    by_plant: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_plant[r.plant].append(r)
    created, found = 0, 0
    for plant, plant_rows in sorted(by_plant.items()):
        for part, start in enumerate(range(0, len(plant_rows), ITEMS_PER_REQUISITION), start=1):
            chunk = plant_rows[start : start + ITEMS_PER_REQUISITION]
            payload = _payload(planning_week, plant, part, chunk, names, settings)
            result = ledger.send(
                TARGET,
                f"{planning_week.isoformat()}:{plant}:{part}",
                payload,
                call=lambda p: _create(client, p, settings.planning.purchasing_group),
                lookup=lambda p: _lookup(client, p),
            )
            created += int(result.called)
            found += int(not result.called)
            items = (result.response or {}).get("items") or {}
            with engine.begin() as conn:  # one statement, executed for every item of the requisition
                conn.execute(
                    update(replenishment_proposals)
                    .where(
                        replenishment_proposals.c.planning_week == planning_week,
                        replenishment_proposals.c.plant == plant,
                        replenishment_proposals.c.material == bindparam("item_material"),
                    )
                    .values(
                        decision="requested",
                        purchase_requisition=result.ref,
                        requisition_item=bindparam("item_number"),
                        updated_at=utcnow(),
                    ),
                    [{"item_material": r.material, "item_number": items.get(r.material)} for r in chunk],
                )
            log.info(
                "plant %s: purchase requisition %s %s (%d items, reference %s)",
                plant,
                result.ref,
                "created" if result.called else "already in SAP",
                len(chunk),
                payload["reference"],
            )
    with engine.begin() as conn:
        conn.execute(
            update(planning_runs)
            .where(planning_runs.c.planning_week == planning_week)
            .values(status="requested", run_id=run_id, updated_at=utcnow())
        )
    return {"status": "requested", "requisitions": created + found, "created_now": created, "items": len(rows)}
