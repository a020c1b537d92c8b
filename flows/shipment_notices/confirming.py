"""Step 2, confirm: the warehouse's ``stockout.confirm`` messages (stored by the receiver) are read,
gated (``shipment_confirms``) and applied to their deliveries; a delivery whose final confirm
arrived gets its goods issue in SAP through the ledger, and its order moves to ``shipped`` or
``partly_shipped``.

How quantities add up (the standard leaves it open, reference §3.3): ``actualQty`` of each confirm is
what that shipment carried (incremental). A delivery's shipped quantity per line is the sum over its
distinct confirms; a confirm is applied once, keyed by ``outBizCode`` (or a digest of its content
when the warehouse sends none), so a replayed push adds nothing. The final confirm
(``confirmType`` 0) closes the delivery: what was not shipped by then is short, and goods issue posts
the summed quantities.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from flows.shipment_notices.stages import (
    CONFIRM_METHOD,
    CONFIRM_STAGE,
    CONFIRMS_GATE,
    GOODS_ISSUE,
    GOODS_ISSUE_STAGE,
    order_shipping_state,
    touch,
)
from hub import quarantine
from hub.db import count_in_chunks, rows_in_chunks, utcnow
from hub.ledger import Delivered, Ledger, LedgerBusy, LedgerConflict
from hub.repositories import inbox
from hub.schema import deliveries, delivery_lines, parcels, receiver_inbox, shipment_confirms
from hub.schema import quarantine as quarantine_table

log = logging.getLogger(__name__)

QIMEN_SOURCE = "qimen"  # quarantine source of what the warehouse pushed


def message_key(inbox_id: int) -> str:
    """The quarantine record key of one pushed message: its inbox row, which a requeue replays."""
    return f"{QIMEN_SOURCE}:{inbox_id}"


# -- read, gate and apply confirmations ------------------------------------------------------------


def apply_confirms(engine: Engine, run_id: str) -> dict[str, int]:
    """Apply every stockout.confirm waiting in the inbox; returns counts."""
    from connectors.qimen_xml import QimenXmlError, parse_request
    from transforms.shipment_confirms import read_confirm

    with engine.begin() as conn:
        _release_requeued(conn)
    counts: Counter[str] = Counter()
    readable: list[tuple[Any, Any]] = []  # (inbox row, ShipmentConfirm)
    refused: list[quarantine.QuarantineRecord] = []
    for row in inbox.pending(engine, CONFIRM_METHOD):
        counts["received"] += 1
        try:
            reading = read_confirm(parse_request(row.body))
        except QimenXmlError as exc:
            refused.append(_refusal(row, None, "body", f"message {row.message_key}: not a Qimen document: {exc}"))
            continue
        if not reading.ok:
            detail = "; ".join(f"{p.field}: {p.message}" for p in reading.problems)
            refused.append(_refusal(row, reading.delivery, reading.problems[0].field, detail))
            continue
        readable.append((row, reading.confirm))
    with engine.begin() as conn:
        quarantine.add(conn, refused, run_id)
        inbox.mark(conn, [int(r.payload["inbox_id"]) for r in refused], "quarantined")
        counts["quarantined"] += len(refused)
        fresh, duplicates = _split_duplicates(conn, readable)
        inbox.mark(conn, [row.id for row, _ in duplicates], "superseded")
        counts["duplicates"] += len(duplicates)
        passed = _gate(conn, fresh, run_id) if fresh else set()
        for row, confirm in fresh:
            if message_key(row.id) not in passed:
                inbox.mark(conn, [row.id], "quarantined")
                counts["quarantined"] += 1
                continue
            _apply(conn, row, confirm, run_id)
            inbox.mark(conn, [row.id], "processed")
            counts["final" if confirm.final else "partial"] += 1
    log.info(
        "warehouse confirmations: %d received, %d final, %d partial, %d duplicates, %d quarantined",
        *(counts[k] for k in ("received", "final", "partial", "duplicates", "quarantined")),
    )
    return {k: counts[k] for k in ("received", "final", "partial", "duplicates", "quarantined")}


def _refusal(row: Any, delivery: str | None, field: str, detail: str) -> quarantine.QuarantineRecord:
    return quarantine.QuarantineRecord(
        CONFIRM_STAGE,
        QIMEN_SOURCE,
        message_key(row.id),
        "ConfirmUnreadable",
        detail,
        {"inbox_id": row.id, "message_key": row.message_key, "delivery": delivery},
        field=field,
    )


def _split_duplicates(conn: Connection, readable: list[tuple[Any, Any]]) -> tuple[list, list]:
    """Confirms already applied (a replay under a new outBizCode, a duplicate push of a message without
    one) or repeated within this batch are duplicates; the rest are fresh."""
    held = {
        (r.delivery, r.confirm_key)
        for r in rows_in_chunks(
            conn,
            sorted({c.delivery for _, c in readable}),
            lambda chunk: select(shipment_confirms.c.delivery, shipment_confirms.c.confirm_key).where(
                shipment_confirms.c.delivery.in_(chunk)
            ),
        )
    }
    fresh, duplicates = [], []
    for row, confirm in readable:
        key = (confirm.delivery, confirm.dedupe_key)
        (duplicates if key in held else fresh).append((row, confirm))
        held.add(key)
    return fresh, duplicates


def _gate(conn: Connection, fresh: list[tuple[Any, Any]], run_id: str) -> set[str]:
    """The ``shipment_confirms`` suite over every line of the fresh confirms, with what the delivery
    has shipped so far (earlier confirms of this batch included, in arrival order)."""
    import pandas as pd

    from quality.gate import run_gate
    from quality.suites import SHIPMENT_CONFIRM_COLUMNS

    numbers = {c.delivery for _, c in fresh}
    status = {
        r.delivery: r.status
        for r in rows_in_chunks(
            conn,
            sorted(numbers),
            lambda chunk: select(deliveries.c.delivery, deliveries.c.status).where(deliveries.c.delivery.in_(chunk)),
        )
    }
    lines = _lines_of(conn, numbers)
    running: dict[tuple[str, int], Decimal] = {k: v.shipped_qty for k, v in lines.items()}
    rows = []
    for row, confirm in fresh:
        parcel = confirm.parcels[0]
        for line in confirm.lines:
            target = _line_of(lines, confirm.delivery, line)
            key = (confirm.delivery, target.line_no if target else -1)
            running[key] = running.get(key, Decimal(0)) + line.quantity
            rows.append(
                {
                    "record_key": message_key(row.id),
                    "delivery": confirm.delivery,
                    "line_no": line.line_no if line.line_no is not None else -1,
                    "delivery_status": status.get(confirm.delivery),
                    "planned_qty": target.planned_qty if target else None,
                    "shipped_qty": running[key],
                    "carrier_code": parcel.carrier_code or ("OTHER" if confirm.pickup else None),
                    "carrier_name": parcel.carrier_name,
                    "tracking_number": parcel.tracking,
                    "needs_tracking": not confirm.pickup,
                    "payload": {"inbox_id": row.id, "message_key": row.message_key, "delivery": confirm.delivery},
                }
            )
    frame = pd.DataFrame(rows, columns=[*SHIPMENT_CONFIRM_COLUMNS, "payload"])
    outcome = run_gate(CONFIRMS_GATE, frame, conn=conn, run_id=run_id, source=QIMEN_SOURCE)
    return set(outcome.passed["record_key"]) if len(outcome.passed) else set()


def _lines_of(conn: Connection, numbers: set[str]) -> dict[tuple[str, int], Any]:
    return {
        (r.delivery, r.line_no): r
        for r in rows_in_chunks(
            conn, sorted(numbers), lambda chunk: select(delivery_lines).where(delivery_lines.c.delivery.in_(chunk))
        )
    }


def _line_of(lines: dict[tuple[str, int], Any], delivery: str, line: Any) -> Any:
    """The delivery line a confirm line ships: by orderLineNo, else the one line of its item code."""
    if line.line_no is not None and (delivery, line.line_no) in lines:
        return lines[(delivery, line.line_no)]
    same_item = [r for (d, _), r in lines.items() if d == delivery and r.material == line.item_code]
    return same_item[0] if len(same_item) == 1 else None


def _apply(conn: Connection, row: Any, confirm: Any, run_id: str) -> None:
    now = utcnow()
    conn.execute(
        shipment_confirms.insert().values(
            delivery=confirm.delivery,
            confirm_key=confirm.dedupe_key,
            final=confirm.final,
            confirmed_at=confirm.confirmed_at,
            inbox_id=row.id,
            applied_at=now,
        )
    )
    lines = _lines_of(conn, {confirm.delivery})
    for line in confirm.lines:
        target = _line_of(lines, confirm.delivery, line)
        conn.execute(
            update(delivery_lines)
            .where(delivery_lines.c.delivery == confirm.delivery, delivery_lines.c.line_no == target.line_no)
            .values(shipped_qty=delivery_lines.c.shipped_qty + line.quantity)
        )
    known = set(conn.scalars(select(parcels.c.parcel).where(parcels.c.delivery == confirm.delivery)))
    for n, parcel in enumerate(confirm.parcels, start=1):
        name = parcel.package_code or parcel.tracking or f"{confirm.dedupe_key[:60]}#{n}"
        if name in known:
            continue
        known.add(name)
        pickup = confirm.pickup
        conn.execute(
            parcels.insert().values(
                delivery=confirm.delivery,
                parcel=name,
                carrier_code=parcel.carrier_code or "OTHER",
                carrier_name=parcel.carrier_name,
                tracking_number=parcel.tracking,
                shipped_at=confirm.confirmed_at or now,
                # A customer pickup is handed over at the warehouse: delivered as it leaves.
                delivered_at=(confirm.confirmed_at or now) if pickup else None,
                last_scan="picked up at the warehouse" if pickup else None,
            )
        )
    values: dict[str, Any] = {"wms_order_id": confirm.wms_order_id} if confirm.wms_order_id else {}
    if confirm.final:
        values |= {"status": "shipped", "final_confirm_at": confirm.confirmed_at or now}
    if values:
        touch(conn, confirm.delivery, run_id, **values)


def _release_requeued(conn: Connection) -> None:
    """Messages operations requeued (after fixing the delivery, or to accept a corrected push) are
    read again on this run."""
    rows = conn.execute(
        select(quarantine_table.c.record_key).where(
            quarantine_table.c.stage.in_([CONFIRM_STAGE, CONFIRMS_GATE]),
            quarantine_table.c.source == QIMEN_SOURCE,
            quarantine_table.c.status == "requeued",
        )
    ).all()
    ids = [int(r.record_key.split(":", 1)[1]) for r in rows]
    if not ids:
        return
    count_in_chunks(
        conn,
        ids,
        lambda chunk: (
            update(receiver_inbox).where(receiver_inbox.c.id.in_(chunk)).values(processed_at=None, outcome=None)
        ),
    )
    quarantine.resolve(conn, QIMEN_SOURCE, [r.record_key for r in rows], [CONFIRM_STAGE, CONFIRMS_GATE])


# -- goods issue -----------------------------------------------------------------------------------


def issue(engine: Engine, sap: Any, ledger: Ledger, run_id: str) -> dict[str, int]:
    """SAP goods issue, once per delivery, for every delivery whose final confirm arrived: the picked
    quantities set to what the warehouse shipped (a short line less, a line not shipped 0), then
    ``PostGoodsIssue``. Orders follow: ``shipped`` or ``partly_shipped``."""
    from connectors.http import PermanentError

    with engine.connect() as conn:
        todo = conn.execute(
            select(deliveries).where(deliveries.c.status == "shipped").order_by(deliveries.c.delivery)
        ).all()
        quantities: dict[str, dict[str, str]] = defaultdict(dict)
        for ln in rows_in_chunks(
            conn,
            [d.delivery for d in todo],
            lambda chunk: (
                select(delivery_lines)
                .where(delivery_lines.c.delivery.in_(chunk))
                .order_by(delivery_lines.c.delivery, delivery_lines.c.line_no)
            ),
        ):
            quantities[ln.delivery][str(ln.line_no)] = str(ln.shipped_qty)
    counts: Counter[str] = Counter()
    for d in todo:
        payload = {"delivery": d.delivery, "picked": quantities[d.delivery]}
        try:
            ledger.send(
                GOODS_ISSUE,
                d.delivery,
                payload,
                lambda p: _post_goods_issue(sap, p),
                lambda p: _issued_in_sap(sap, p["delivery"]),
            )
        except LedgerBusy as exc:
            log.warning("delivery %s: %s", d.delivery, exc)
            counts["waiting"] += 1
            continue
        except (PermanentError, LedgerConflict) as exc:
            _hold(engine, d, str(exc), run_id)
            counts["quarantined"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - SAP down: the ledger retries on the next run
            log.warning("delivery %s: goods issue not posted, next run tries again: %s", d.delivery, exc)
            counts["failed"] += 1
            continue
        with engine.begin() as conn:
            touch(conn, d.delivery, run_id, status="issued", goods_issued_at=utcnow())
            moved = order_shipping_state(conn, [(d.source, d.crm_order_id)], run_id)
        counts["issued"] += 1
        counts.update(moved)
    log.info("goods issue in SAP: %s", dict(counts))
    return {k: counts[k] for k in ("issued", "shipped", "partly_shipped", "quarantined", "failed", "waiting")}


def _post_goods_issue(sap: Any, payload: dict[str, Any]) -> Delivered:
    from connectors.sap_deliveries import GoodsIssueAlreadyPosted

    delivery = payload["delivery"]
    doc = sap.delivery(delivery)
    if not doc.is_issued:
        sap.pick_delivery(doc, {item: Decimal(q) for item, q in payload["picked"].items()})
        try:
            sap.post_goods_issue(delivery)
        except GoodsIssueAlreadyPosted:  # an earlier try got through after all: the same outcome
            pass
    return Delivered(ref=delivery)


def _issued_in_sap(sap: Any, delivery: str) -> Delivered | None:
    """The ledger's lookup: SAP shows goods movement status C once goods issue is posted."""
    doc = sap.delivery(delivery)
    return Delivered(ref=delivery) if doc is not None and doc.goods_movement_status == "C" else None


def _hold(engine: Engine, d: Any, detail: str, run_id: str) -> None:
    with engine.begin() as conn:
        quarantine.add(
            conn,
            [
                quarantine.QuarantineRecord(
                    GOODS_ISSUE_STAGE,
                    d.source,
                    f"sap_s4:{d.delivery}",
                    "GoodsIssueRefused",
                    f"delivery {d.delivery}: SAP refused goods issue: {detail}",
                    {"delivery": d.delivery, "sap_order": d.sap_order, "crm_order_id": d.crm_order_id},
                    field="DeliveryDocument",
                )
            ],
            run_id,
        )
        touch(conn, d.delivery, run_id, status="held")
