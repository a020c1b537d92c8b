"""A customer's cancellation of an order SAP already holds (recorded by ``crm_order_sync``).

Goods that have not left are stopped: the warehouse is asked (``order.cancel``) for every delivery it
was sent; once it agrees, SAP's deliveries are deleted and the order's open items rejected (the
settings' reason), the order ends ``cancelled`` and the CRM is told. A warehouse that answers that
the goods already left wins: the shipment goes on, the CRM is told the cancellation failed and an
alert is recorded for the sales team. Each outside write goes through the ledger.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from flows.alerting import Alert, raise_event
from flows.shipment_notices.notifying import send_updates
from flows.shipment_notices.stages import CANCEL, DELIVERY_CANCEL, touch
from hub.db import utcnow
from hub.ledger import Delivered, Ledger
from hub.lifecycle import OrderState as S
from hub.repositories.orders import set_status
from hub.schema import deliveries, order_cancellations, orders, sap_orders
from transforms.crm_shipment import ShipmentUpdate

log = logging.getLogger(__name__)

SHIPPED = ("shipped", "issued")  # delivery states past the point of no return
IN_WAREHOUSE = ("sent",)
# Orders in SAP the lifecycle lets move to cancelled (hub.lifecycle.TRANSITIONS). An order in review
# cannot: its cancellation waits until a human has settled the review (review → posted).
CANCELLABLE = (S.POSTED, S.CONFIRMED, S.PARTIAL)


class CancelRefused(Exception):
    """The warehouse answered that the goods already left."""


def cancel_orders(
    engine: Engine,
    qimen: Any,
    sap: Any,
    ledger: Ledger,
    crm_clients: Mapping[str, Any],
    run_id: str,
    *,
    owner_code: str,
    rejection_reason: str,
) -> dict[str, int]:
    """Work every requested cancellation; returns counts (cancelled, refused, waiting)."""
    from connectors.http import BusinessError

    with engine.connect() as conn:
        requests = conn.execute(
            select(order_cancellations, orders.c.order_number, orders.c.status.label("order_state"))
            .join(
                orders,
                (orders.c.source == order_cancellations.c.source)
                & (orders.c.crm_order_id == order_cancellations.c.crm_order_id),
            )
            .where(order_cancellations.c.status == "requested")
        ).all()
    counts: Counter[str] = Counter()
    for req in requests:
        key = (req.source, req.crm_order_id)
        with engine.connect() as conn:
            own = conn.execute(
                select(deliveries).where(
                    deliveries.c.source == req.source,
                    deliveries.c.crm_order_id == req.crm_order_id,
                    deliveries.c.status != "cancelled",
                )
            ).all()
        if req.order_state == S.REVIEW and not any(d.status in SHIPPED for d in own):
            log.warning("order %s: in review; its cancellation waits until the review is settled", req.order_number)
            counts["waiting"] += 1
            continue
        try:
            if req.order_state not in CANCELLABLE or any(d.status in SHIPPED for d in own):
                raise CancelRefused(f"order {req.order_number} is {req.order_state}: goods already left the warehouse")
            for d in own:
                if d.status in IN_WAREHOUSE:
                    _stop_in_warehouse(qimen, ledger, d, owner_code)
            _cancel_in_sap(engine, sap, ledger, key, own, rejection_reason)
        except (CancelRefused, BusinessError) as exc:
            _finish(engine, req, "refused", str(exc), run_id)
            raise_event(
                engine,
                Alert(
                    type="cancellation_refused",
                    key=f"{req.source}:{req.crm_order_id}",
                    severity="warning",
                    title=f"order {req.order_number}: cancelled by the customer, but the goods had already left",
                    facts={"order": req.order_number, "crm": req.source, "reason": str(exc)[:300]},
                    action="the shipment goes on and the CRM shows the cancellation failed: "
                    "agree a return with the customer",
                    instance=run_id,
                ),
                context={"dag_id": "shipment_notices", "run_id": run_id, "task_id": "cancel"},
            )
            counts["refused"] += 1
            _tell(engine, ledger, crm_clients, req, "cancel_failed", str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a system down, another worker on it: the next run tries again
            log.warning("order %s: cancellation waits for the next run: %s", req.order_number, exc)
            counts["waiting"] += 1
            continue
        with engine.begin() as conn:
            for d in own:
                touch(conn, d.delivery, run_id, status="cancelled")
            set_status(conn, [key], S.CANCELLED, run_id, only_from=CANCELLABLE)
        _finish(engine, req, "cancelled", "stopped in the warehouse and in SAP", run_id)
        _tell(engine, ledger, crm_clients, req, "cancelled", "")
        counts["cancelled"] += 1
    log.info("cancellations: %s", dict(counts))
    return {k: counts[k] for k in ("cancelled", "refused", "waiting")}


def _stop_in_warehouse(qimen: Any, ledger: Ledger, d: Any, owner_code: str) -> None:
    from connectors.http import BusinessError

    def call(_payload: Any) -> Delivered:
        try:
            qimen.order_cancel(
                warehouse_code=d.warehouse,
                order_code=d.delivery,
                owner_code=owner_code,
                order_id=d.wms_order_id,
                order_type="B2BCK",
                cancel_reason="customer cancelled the order",
            )
        except BusinessError as exc:
            raise CancelRefused(f"delivery {d.delivery}: the warehouse refused the cancellation: {exc}") from exc
        return Delivered(ref=d.delivery)

    ledger.send(CANCEL, d.delivery, {"delivery": d.delivery, "warehouse": d.warehouse}, call, call)


def _cancel_in_sap(engine: Engine, sap: Any, ledger: Ledger, key: tuple[str, str], own: list[Any], reason: str) -> None:
    """Delete SAP's un-issued deliveries of the order, then reject its open items."""
    with engine.connect() as conn:
        sap_order = conn.scalar(
            select(sap_orders.c.sap_order).where(sap_orders.c.source == key[0], sap_orders.c.crm_order_id == key[1])
        )

    from connectors.sap_errors import SapError

    def call(_payload: Any) -> Delivered:
        for d in own:
            try:
                doc = sap.delivery(d.delivery)
            except SapError as exc:
                if exc.status == 404:  # gone already: an earlier try deleted it
                    continue
                raise
            sap.delete_delivery(d.delivery, doc.version)
        rejected = sap.reject_open_items(sap_order, reason)
        return Delivered(ref=sap_order, response={"rejected": list(rejected)})

    ledger.send(
        DELIVERY_CANCEL,
        sap_order,
        {"sap_order": sap_order, "deliveries": [d.delivery for d in own], "reason": reason},
        call,
        call,  # deleting what is left and rejecting open items again changes nothing: its own lookup
    )


def _finish(engine: Engine, req: Any, status: str, detail: str, run_id: str) -> None:
    with engine.begin() as conn:
        _update(conn, req, status, detail, run_id)


def _update(conn: Connection, req: Any, status: str, detail: str, run_id: str) -> None:
    conn.execute(
        update(order_cancellations)
        .where(order_cancellations.c.source == req.source, order_cancellations.c.crm_order_id == req.crm_order_id)
        .values(status=status, detail=detail[:2000], run_id=run_id, updated_at=utcnow())
    )


def _tell(engine: Engine, ledger: Ledger, crm_clients: Mapping[str, Any], req: Any, status: str, note: str) -> None:
    update_ = ShipmentUpdate(
        source=req.source,
        crm_order_id=req.crm_order_id,
        order_number=req.order_number,
        status=status,
        carriers="",
        tracking="",
        lines=(),
        note=note[:500],
    )
    send_updates(engine, ledger, crm_clients, [update_])
