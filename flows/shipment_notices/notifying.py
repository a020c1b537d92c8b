"""Step 3, tell: the customer gets a shipment e-mail per shipment (a partial one at once, the final one
once SAP has the goods issue), the CRM the order's shipping status with carriers and tracking per
line, and customers flagged for EDI an X12 856 ship notice per delivery. Each through the ledger.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, update

from flows.crms import adapter as get_source
from flows.crms import write_back_once, write_back_rendered
from flows.shipment_notices.records import confirms_of, outbound_orders
from flows.shipment_notices.stages import ASN, MAIL, NOTIFY_STAGE, crm_target
from hub import quarantine
from hub.db import pairs_in, rows_in_chunks, utcnow
from hub.keys import record_key
from hub.ledger import Delivered, Ledger, LedgerBusy, LedgerConflict, SendResult
from hub.schema import (
    customers,
    deliveries,
    delivery_lines,
    order_allocations,
    order_lines,
    orders,
    parcels,
    shipment_confirms,
)
from hub.schema import (
    ledger as ledger_table,
)
from transforms.crm_shipment import ShipmentUpdate, ShippedLine, shipment_summary

log = logging.getLogger(__name__)

# The order's state as the CRM shows it.
CRM_STATUS = {"partly_shipped": "partially_shipped", "shipped": "shipped", "delivered": "delivered"}


# -- e-mail per shipment ---------------------------------------------------------------------------


def mail_shipments(
    engine: Engine, ledger: Ledger, send_mail: Callable[[Any], str] | None, owner_code: str, now: Any
) -> dict[str, int]:
    """One e-mail per applied confirm not announced yet: partial ones at once, the final one once
    SAP's goods issue is posted (so the e-mail never announces what SAP does not show)."""
    from connectors.http import AuthError, PermanentError
    from transforms.shipment_confirms import combine
    from transforms.shipment_mail import notice_for, shipment_mail_key

    with engine.connect() as conn:
        todo = conn.execute(
            select(shipment_confirms.c.delivery, shipment_confirms.c.confirm_key, deliveries.c.source)
            .join(deliveries, deliveries.c.delivery == shipment_confirms.c.delivery)
            .where(
                shipment_confirms.c.notified_at.is_(None),
                or_(
                    and_(shipment_confirms.c.final.is_(False), deliveries.c.status.in_(("sent", "shipped", "issued"))),
                    deliveries.c.status == "issued",
                ),
            )
            .order_by(shipment_confirms.c.delivery, shipment_confirms.c.applied_at)
        ).all()
        numbers = sorted({t.delivery for t in todo})
        orders_by = {o.delivery: o for o in outbound_orders(conn, owner_code, now, numbers=numbers)}
        confirms = confirms_of(conn, numbers)
        people = _customers_of(conn, numbers)
    counts: Counter[str] = Counter()
    for t in todo:
        order = orders_by[t.delivery]
        planned = {ln.line_no: ln.quantity for ln in order.lines}
        summary = combine(
            planned, confirms.get(t.delivery, []), materials={ln.line_no: ln.material for ln in order.lines}
        )
        person = people[t.delivery]
        notice = notice_for(
            order,
            summary,
            t.confirm_key,
            customer_number=person.customer_number or "",
            customer_name=person.customer_name,
            email=person.email,
            language=person.language or "en",
            order_number=person.order_number,
        )
        if send_mail is None or not notice.email:
            counts["no_email"] += 1
        else:
            key = shipment_mail_key(notice)
            try:
                ledger.send(
                    MAIL,
                    key,
                    {"delivery": t.delivery, "shipment": t.confirm_key},
                    lambda _p, notice=notice: Delivered(ref=send_mail(notice)),
                )
            except AuthError:
                raise  # the smtp_default Connection is wrong: a task failure for ops
            except (PermanentError, LedgerConflict, ValueError) as exc:
                _refused(engine, t.source, t.delivery, "email", f"shipment e-mail refused for good: {exc}", ledger)
                counts["mail_failed"] += 1
            except Exception as exc:  # noqa: BLE001 - the mail server is down: next run
                log.warning("delivery %s: shipment e-mail not sent: %s", t.delivery, exc)
                counts["mail_failed"] += 1
                continue
            else:
                counts["mail_sent"] += 1
        with engine.begin() as conn:
            conn.execute(
                update(shipment_confirms)
                .where(shipment_confirms.c.delivery == t.delivery, shipment_confirms.c.confirm_key == t.confirm_key)
                .values(notified_at=utcnow())
            )
    return {k: counts[k] for k in ("mail_sent", "mail_failed", "no_email")}


def _customers_of(conn: Connection, numbers: Sequence[str]) -> dict[str, Any]:
    return {
        r.delivery: r
        for r in rows_in_chunks(
            conn,
            numbers,
            lambda chunk: (
                select(
                    deliveries.c.delivery,
                    orders.c.order_number,
                    orders.c.customer_number,
                    customers.c.name.label("customer_name"),
                    customers.c.email,
                    customers.c.language,
                )
                .join(
                    orders,
                    (orders.c.source == deliveries.c.source) & (orders.c.crm_order_id == deliveries.c.crm_order_id),
                )
                .outerjoin(customers, customers.c.customer_number == orders.c.customer_number)
                .where(deliveries.c.delivery.in_(chunk))
            ),
        )
    }


# -- the CRM ---------------------------------------------------------------------------------------


def tell_crms(engine: Engine, ledger: Ledger, crm_clients: Mapping[str, Any], run_id: str) -> dict[str, int]:
    """The order's shipping status (partly shipped, shipped, delivered) with carriers and tracking per
    line, to the CRM it came from, whenever it changed since the CRM was last told."""
    with engine.connect() as conn:
        updates = _shipment_updates(conn)
    counts: Counter[str] = Counter()
    for u, outcome in send_updates(engine, ledger, crm_clients, updates).items():
        counts[f"crm_{outcome}"] += 1
        if outcome in ("sent", "refused"):
            with engine.begin() as conn:
                _mark_told(conn, u)
    return {"crm_sent": counts["crm_sent"], "crm_failed": counts["crm_failed"] + counts["crm_refused"]}


def send_updates(
    engine: Engine, ledger: Ledger, crm_clients: Mapping[str, Any], updates: Sequence[ShipmentUpdate]
) -> dict[ShipmentUpdate, str]:
    """Write ``updates`` back to their CRMs through the ledger; per update ``sent``, ``refused`` (for
    good, quarantined with the field) or ``failed`` (transient: the next run tries again). Updates of a
    CRM without a client here (disabled since) are left out."""
    from connectors.http import AuthError, PermanentError

    outcome: dict[ShipmentUpdate, str] = {}
    by_source: dict[str, list[ShipmentUpdate]] = defaultdict(list)
    for u in updates:
        if u.source in crm_clients:
            by_source[u.source].append(u)
    for source_name, group in by_source.items():
        source, client = get_source(source_name), crm_clients[source_name]
        payloads = [(u.key, write_back_rendered(source, u, shipment_summary)) for u in group]
        results = write_back_once(ledger, crm_target(source_name), source, client, payloads)
        for u, result in zip(group, results, strict=True):
            if isinstance(result, AuthError):
                raise result  # the CRM Connection is wrong: a task failure for ops, not a refusal per order
            if isinstance(result, SendResult):
                outcome[u] = "sent"
            elif isinstance(result, PermanentError | LedgerConflict):
                _refused(
                    engine,
                    u.source,
                    u.crm_order_id,
                    "crm_order_id",
                    f"order {u.order_number}: CRM refused: {result}",
                    ledger,
                )
                outcome[u] = "refused"
            else:
                log.warning("%s: shipment status of %s not written back: %s", source_name, u.order_number, result)
                outcome[u] = "failed"
    return outcome


def _shipment_updates(conn: Connection) -> list[ShipmentUpdate]:
    """Orders whose shipping state changed since the CRM was last told (``deliveries.notified``)."""
    due = conn.execute(
        select(deliveries.c.source, deliveries.c.crm_order_id)
        .join(orders, (orders.c.source == deliveries.c.source) & (orders.c.crm_order_id == deliveries.c.crm_order_id))
        .where(
            deliveries.c.status == "issued",
            orders.c.status.in_(tuple(CRM_STATUS)),
            or_(deliveries.c.notified.is_(None), deliveries.c.notified != orders.c.status),
        )
        .distinct()
    ).all()
    keys = [(r.source, r.crm_order_id) for r in due]
    if not keys:
        return []
    heads = {
        (r.source, r.crm_order_id): r
        for r in rows_in_chunks(
            conn,
            keys,
            lambda chunk: select(orders.c.source, orders.c.crm_order_id, orders.c.order_number, orders.c.status).where(
                pairs_in(orders.c.source, orders.c.crm_order_id, chunk)
            ),
        )
    }
    shipped: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    tracking: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    carriers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows_in_chunks(
        conn,
        keys,
        lambda chunk: (
            select(
                deliveries.c.source,
                deliveries.c.crm_order_id,
                delivery_lines.c.sap_order_item,
                delivery_lines.c.shipped_qty,
                deliveries.c.delivery,
            )
            .join(delivery_lines, delivery_lines.c.delivery == deliveries.c.delivery)
            .where(pairs_in(deliveries.c.source, deliveries.c.crm_order_id, chunk), deliveries.c.status == "issued")
        ),
    ):
        shipped[(r.source, r.crm_order_id, r.sap_order_item)] += r.shipped_qty
    # Per order, its parcels come in order (a chunk holds all of an order's).
    for r in rows_in_chunks(
        conn,
        keys,
        lambda chunk: (
            select(deliveries.c.source, deliveries.c.crm_order_id, parcels.c.carrier_name, parcels.c.carrier_code)
            .add_columns(parcels.c.tracking_number, delivery_lines.c.sap_order_item)
            .join(parcels, parcels.c.delivery == deliveries.c.delivery)
            .join(delivery_lines, delivery_lines.c.delivery == deliveries.c.delivery)
            .where(pairs_in(deliveries.c.source, deliveries.c.crm_order_id, chunk), deliveries.c.status == "issued")
            .order_by(parcels.c.parcel)
        ),
    ):
        name = r.carrier_name or r.carrier_code
        if name not in carriers[(r.source, r.crm_order_id)]:
            carriers[(r.source, r.crm_order_id)].append(name)
        bucket = tracking[(r.source, r.crm_order_id, r.sap_order_item)]
        if r.tracking_number and r.tracking_number not in bucket:
            bucket.append(r.tracking_number)
    lines: dict[tuple[str, str], list[ShippedLine]] = defaultdict(list)
    for r in rows_in_chunks(
        conn,
        keys,
        lambda chunk: (
            select(
                order_lines.c.source,
                order_lines.c.crm_order_id,
                order_lines.c.line_no,
                order_lines.c.crm_line_id,
                order_lines.c.material,
                order_lines.c.quantity,
                order_allocations.c.sap_item,
            )
            .join(
                order_allocations,
                (order_allocations.c.source == order_lines.c.source)
                & (order_allocations.c.crm_order_id == order_lines.c.crm_order_id)
                & (order_allocations.c.line_no == order_lines.c.line_no),
            )
            .where(pairs_in(order_lines.c.source, order_lines.c.crm_order_id, chunk))
            .order_by(order_lines.c.line_no)
        ),
    ):
        item = str(int(r.sap_item)) if r.sap_item else None
        k = (r.source, r.crm_order_id, item or "")
        lines[(r.source, r.crm_order_id)].append(
            ShippedLine(r.line_no, r.crm_line_id, r.material, r.quantity, shipped[k], "; ".join(tracking[k]))
        )
    result = []
    for key in keys:
        head = heads[key]
        numbers = sorted({t for ln in lines[key] for t in ln.tracking.split("; ") if t})
        result.append(
            ShipmentUpdate(
                source=head.source,
                crm_order_id=head.crm_order_id,
                order_number=head.order_number,
                status=CRM_STATUS[head.status],
                carriers="; ".join(carriers[key]),
                tracking="; ".join(numbers),
                lines=tuple(lines[key]),
            )
        )
    return result


def _mark_told(conn: Connection, u: ShipmentUpdate) -> None:
    told = {"partially_shipped": "partly_shipped"}.get(u.status, u.status)
    conn.execute(
        update(deliveries)
        .where(
            deliveries.c.source == u.source,
            deliveries.c.crm_order_id == u.crm_order_id,
            deliveries.c.status == "issued",
        )
        .values(notified=told, updated_at=utcnow())
    )


# -- ASN -------------------------------------------------------------------------------------------


def write_asns(
    engine: Engine,
    ledger: Ledger,
    edi_customers: Sequence[str],
    folder: Path,
    render: Callable[[Connection, str], tuple[str, bytes]],
) -> dict[str, int]:
    """An X12 856 file per goods-issued delivery of a customer flagged for EDI, written once (the ledger
    key is the delivery; a rerun finds the file and sends nothing)."""
    if not edi_customers:
        return {"asn_written": 0, "asn_failed": 0}
    with engine.connect() as conn:
        done = select(ledger_table.c.idem_key).where(ledger_table.c.target == ASN, ledger_table.c.status == "sent")
        todo = conn.scalars(
            select(deliveries.c.delivery)
            .join(
                orders, (orders.c.source == deliveries.c.source) & (orders.c.crm_order_id == deliveries.c.crm_order_id)
            )
            .where(
                deliveries.c.status == "issued",
                orders.c.customer_number.in_(list(edi_customers)),
                deliveries.c.delivery.not_in(done),
            )
            .order_by(deliveries.c.delivery)
        ).all()
    counts: Counter[str] = Counter()
    for number in todo:
        try:
            with engine.connect() as conn:
                name, content = render(conn, number)
            ledger.send(
                ASN,
                number,
                {"file": name, "sha256": _sha256(content)},
                lambda _p, name=name, content=content: _write_file(folder / name, content),
                lambda _p, name=name, content=content: _file_holds(folder / name, content),
            )
        except ValueError as exc:  # a value the ASN cannot carry: named, kept for a human
            with engine.connect() as conn:
                source = conn.scalar(select(deliveries.c.source).where(deliveries.c.delivery == number))
            _refused(engine, source or "sap_s4", number, getattr(exc, "field", "delivery"), f"ASN: {exc}", ledger)
            counts["asn_failed"] += 1
            continue
        except (LedgerBusy, OSError) as exc:
            log.warning("delivery %s: ASN not written: %s", number, exc)
            counts["asn_failed"] += 1
            continue
        counts["asn_written"] += 1
    return {k: counts[k] for k in ("asn_written", "asn_failed")}


def _sha256(content: bytes) -> str:
    import hashlib

    return hashlib.sha256(content).hexdigest()


def _write_file(path: Path, content: bytes) -> Delivered:
    """Written under a temporary name and renamed: a reader never sees half a file (DESIGN §3.4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
    return Delivered(ref=str(path))


def _file_holds(path: Path, content: bytes) -> Delivered | None:
    return Delivered(ref=str(path)) if path.exists() and path.read_bytes() == content else None


def _refused(engine: Engine, source: str, key: str, field: str, detail: str, ledger: Ledger) -> None:
    with engine.begin() as conn:
        quarantine.add(
            conn,
            [
                quarantine.QuarantineRecord(
                    NOTIFY_STAGE, source, record_key(source, key), "NoticeRefused", detail, {"key": key}, field=field
                )
            ],
        )
