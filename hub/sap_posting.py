"""sap_order_posting, step by step: plan (SAP availability → allocation), post (SAP sales orders
through the ledger), refresh (what SAP confirmed). Confirmations to the customer: hub.confirmations.

Orders move ``accepted`` → ``posted`` (in SAP) when anything could be allocated, ``backordered``
(not in SAP yet) when nothing could, ``held`` when SAP refused them (quarantine stage
``sap_posting``; requeue to try again). A backordered order is planned again on every run, ranked
with the new ones; an order partly confirmed in SAP waits for SAP's own backorder run, and
``refresh`` picks up what SAP confirms later. ``gate`` sends what SAP answered through the
``sap_postings`` suite; an order that fails it waits in ``review`` before anyone is told.
Cancelled orders (``hub.crm_sync``) are never planned.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, select, tuple_, update

from connectors.http import AuthError, BusinessError, ConnectorError, RetryPolicy, TransientError
from hub import quarantine
from hub.bulk import upsert
from hub.db import utcnow
from hub.ledger import Delivered, Ledger, LedgerBusy, SendResult
from hub.lifecycle import PLANNABLE, REFRESHABLE
from hub.lifecycle import OrderState as S
from hub.order_states import OrderKey, requeued_orders, set_status
from hub.schema import materials, order_allocations, order_lines, orders, sap_orders, stock_snapshots
from transforms.allocation import Demand, allocate, posting_sequence
from transforms.business_day import business_date
from transforms.crm_orders import record_key

log = logging.getLogger(__name__)

POSTING_STAGE = "sap_posting"  # quarantine stage of orders SAP refuses
POSTINGS_GATE = "sap_postings"  # the data-quality gate (and quarantine stage) after posting
SAP_ORDER = "sap.sales_order"  # ledger target; key = the CRM order number (= PurchaseOrderByCustomer)
# A whole $batch that meets a 5xx storm is tried this often (the ledger looks each order up in SAP
# before every re-send), then left failed in the ledger for the next run.
POST_RETRY = RetryPolicy(max_attempts=3, base=1.0, cap=10.0)

# ConditionRateValue is Decimal(24,9): at 9 places SAP's quantity × price is the CRM's net amount to
# well under a cent for any quantity an order line can hold.
PRICE_STEP = Decimal("1e-9")


@dataclass(frozen=True)
class SalesArea:
    """The customer's SAP sales area the order is booked in, and its delivery priority."""

    sales_org: str
    channel: str
    division: str
    priority: str
    blocked: bool


def pick_sales_area(areas: Sequence[Mapping[str, Any]], currency: str) -> SalesArea | None:
    """The sales area trading in the order's currency, else the customer's first one."""
    if not areas:
        return None
    area = next((a for a in areas if a.get("Currency") == currency), areas[0])
    return SalesArea(
        sales_org=area["SalesOrganization"],
        channel=area["DistributionChannel"],
        division=area["Division"],
        priority=area.get("DeliveryPriority") or "",
        blocked=bool(area.get("OrderIsBlockedForCustomer")),
    )


# -- plan ------------------------------------------------------------------------------------------
def plan(engine: Engine, sap: Any, run_id: str, *, default_plant: str) -> dict[str, Any]:
    """Snapshot SAP stock and availability for the open orders' materials and allocate it.

    Returns counts, the posting sequence and the customers' sales areas for :func:`post`.
    """
    with engine.begin() as conn:
        released = _release_requeued(conn, run_id)
    settled, in_doubt = _settle_unknown_postings(engine, sap, run_id)
    with engine.connect() as conn:
        rows = [r for r in _open_lines(conn, default_plant) if r.order_number not in in_doubt]
    by_order: dict[OrderKey, list[Any]] = defaultdict(list)
    for r in rows:
        by_order[(r.source, r.crm_order_id)].append(r)
    currencies = {r.customer_number: r.currency for r in rows}
    found = sap.customer_sales_areas(sorted(currencies))
    areas = {c: pick_sales_area(found.get(c, []), cur) for c, cur in currencies.items()}

    refused = {key: _area_problem(lines[0], areas[lines[0].customer_number]) for key, lines in by_order.items()}
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


class OpenLine(NamedTuple):
    source: str
    crm_order_id: str
    order_number: str
    customer_number: str
    currency: str
    order_time: Any
    line_no: int
    material: str
    quantity: Decimal
    plant: str


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
        SAP_ORDER, numbers, lambda payloads: _lookup(sap, payloads), expected=(ConnectorError,)
    )
    linked = 0
    if settled:
        with engine.begin() as conn:
            for row, found in settled:
                key = _order_of(conn, row.idem_key, row.payload["SoldToParty"])
                if key is not None:
                    _link(conn, key, row.idem_key, found.response or {}, run_id)
                    linked += 1
        log.info("%d orders SAP already held were linked before planning (an earlier try posted them)", linked)
    return linked, {row.idem_key for row in unknown}


def _order_of(conn: Connection, order_number: str, sold_to: str) -> OrderKey | None:
    """The hub order posted to SAP as ``order_number`` for ``sold_to`` (the ledger key of sap.sales_order)."""
    row = conn.execute(
        select(orders.c.source, orders.c.crm_order_id).where(
            orders.c.order_number == order_number, orders.c.customer_number == sold_to
        )
    ).first()
    return (row.source, row.crm_order_id) if row else None


def _open_lines(conn: Connection, default_plant: str) -> list[OpenLine]:
    rows = conn.execute(
        select(
            orders.c.source,
            orders.c.crm_order_id,
            orders.c.order_number,
            orders.c.customer_number,
            orders.c.currency,
            orders.c.order_time,
            order_lines.c.line_no,
            order_lines.c.material,
            order_lines.c.quantity,
            order_lines.c.plant,
        )
        .join(
            order_lines,
            (order_lines.c.source == orders.c.source) & (order_lines.c.crm_order_id == orders.c.crm_order_id),
        )
        .where(orders.c.status.in_(PLANNABLE))
        .order_by(orders.c.source, orders.c.crm_order_id, order_lines.c.line_no)
    ).all()
    return [OpenLine(*r)._replace(plant=r.plant or default_plant) for r in rows]


def _area_problem(order: Any, area: SalesArea | None) -> tuple[str, str] | None:
    """Why SAP will not take orders of this customer, and the field to fix; None when it will."""
    if area is None:
        return (
            f"order {order.order_number}: customer {order.customer_number} has no sales area in SAP",
            "customer_number",
        )
    if area.blocked:
        return (
            f"order {order.order_number}: customer {order.customer_number} is blocked for orders in SAP",
            "customer_number",
        )
    return None


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
        if planned:
            conn.execute(
                delete(order_allocations).where(
                    tuple_(order_allocations.c.source, order_allocations.c.crm_order_id).in_(list(planned))
                )
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
        _hold(conn, {key: (why, "SapNotOrderable", field) for key, (why, field) in refused.items()}, run_id)


# Requeued quarantine rows send their orders back a step: (stage, state held in) → state to resume.
RELEASES = {POSTING_STAGE: (S.HELD, S.ACCEPTED), POSTINGS_GATE: (S.REVIEW, S.POSTED)}


def _release_requeued(conn: Connection, run_id: str) -> int:
    """Orders whose quarantine row operations requeued go back to the step that refused them."""
    released = 0
    for stage, (held_in, resume) in RELEASES.items():
        keys = requeued_orders(conn, [stage])
        released += set_status(conn, keys, resume, only_from=(held_in,))
        if keys and stage == POSTINGS_GATE:  # the gate looks at what changed in this run
            conn.execute(
                update(order_allocations)
                .where(tuple_(order_allocations.c.source, order_allocations.c.crm_order_id).in_(keys))
                .values(run_id=run_id)
            )
    return released


def _hold(conn: Connection, problems: Mapping[OrderKey, tuple[str, str, str | None]], run_id: str) -> None:
    """Quarantine orders SAP will not take, with the SAP field to fix, and mark them held."""
    if not problems:
        return
    names = {
        (r.source, r.crm_order_id): r.order_number
        for r in conn.execute(
            select(orders.c.source, orders.c.crm_order_id, orders.c.order_number).where(
                tuple_(orders.c.source, orders.c.crm_order_id).in_(list(problems))
            )
        )
    }
    quarantine.add(
        conn,
        [
            quarantine.QuarantineRecord(
                POSTING_STAGE,
                source,
                record_key(source, crm_order_id),
                error_class,
                detail,
                {"order_number": names.get((source, crm_order_id)), "crm_order_id": crm_order_id},
                field=field,
            )
            for (source, crm_order_id), (detail, error_class, field) in problems.items()
        ],
        run_id,
    )
    set_status(conn, problems, S.HELD, run_id)


# -- post ------------------------------------------------------------------------------------------
def post(
    engine: Engine,
    sap: Any,
    ledger: Ledger,
    run_id: str,
    planned: Mapping[str, Any],
    *,
    default_plant: str,
    retry: RetryPolicy = POST_RETRY,
) -> dict[str, int]:
    """Create the planned orders in SAP, in allocation order, one ``$batch`` per ``batch_size``.

    Every order is looked up by ``PurchaseOrderByCustomer`` before it is created, so an order SAP
    already has (a crash after SAP answered, a restored hub database) is linked, not duplicated.
    """
    from connectors.sap_s4 import OrderLine, sales_order_payload
    from hub.settings import get_settings

    business_tz = get_settings().hub.timezone  # the business day: transforms/business_day.py

    areas = {c: SalesArea(**a) for c, a in planned["sales_areas"].items()}
    with engine.connect() as conn:
        heads, lines = _orders_with_lines(conn, [(s, o) for s, o in planned["sequence"]])
    # Orders a CRM sync changed or withdrew since the plan are not in ``heads``: the next run plans them.
    keys = [(s, o) for s, o in planned["sequence"] if (s, o) in heads]
    items = []
    for key in keys:
        head = heads[key]
        area = areas[head.customer_number]
        payload = sales_order_payload(
            sold_to=head.customer_number,
            purchase_order=head.order_number,
            sales_organization=area.sales_org,
            distribution_channel=area.channel,
            division=area.division,
            currency=head.currency,
            purchase_order_date=business_date(head.order_time, business_tz),
            requested_delivery_date=head.requested_date,
            lines=[
                OrderLine(
                    material=ln.material,
                    quantity=ln.quantity,
                    unit=ln.base_unit or ln.unit,
                    plant=ln.plant or default_plant,
                    # The agreed price after discount, so SAP's net amount is the CRM's (to ±0.00005/unit).
                    net_unit_price=(ln.net_amount / ln.quantity).quantize(PRICE_STEP, ROUND_HALF_UP),
                    item=str(ln.line_no * 10),
                    text=ln.description,
                )
                for ln in lines[key]
            ],
        )
        items.append((key, head.order_number, payload))

    counts: Counter[str] = Counter()
    for start in range(0, len(items), sap.config.batch_size):
        chunk = items[start : start + sap.config.batch_size]
        results = _send_with_retries(ledger, sap, [(number, payload) for _, number, payload in chunk], retry)
        with engine.begin() as conn:
            for (key, number, _), result in zip(chunk, results, strict=True):
                counts[_record_posting(conn, key, number, result, run_id)] += 1
    return {k: counts.get(k, 0) for k in ("posted", "already_in_sap", "held", "failed")}


def _orders_with_lines(conn: Connection, keys: Sequence[OrderKey]) -> tuple[dict[OrderKey, Any], dict[OrderKey, list]]:
    """Headers and lines, each line with its material's SAP base unit: the review checked MOQ and pack
    size in base units, and a CRM's own unit text (个, Stk) means nothing to SAP."""
    if not keys:
        return {}, {}
    where = tuple_(orders.c.source, orders.c.crm_order_id).in_(list(keys))
    accepted = conn.execute(select(orders).where(where, orders.c.status == S.ACCEPTED))
    heads = {(r.source, r.crm_order_id): r for r in accepted}
    lines: dict[OrderKey, list[Any]] = defaultdict(list)
    for ln in conn.execute(
        select(order_lines, materials.c.base_unit)
        .outerjoin(materials, materials.c.material == order_lines.c.material)
        .where(tuple_(order_lines.c.source, order_lines.c.crm_order_id).in_(list(keys)))
        .order_by(order_lines.c.source, order_lines.c.crm_order_id, order_lines.c.line_no)
    ):
        lines[(ln.source, ln.crm_order_id)].append(ln)
    return heads, lines


def _send_with_retries(
    ledger: Ledger, sap: Any, items: list[tuple[str, dict[str, Any]]], retry: RetryPolicy
) -> list[SendResult | Exception]:
    """Send one chunk through the ledger; what failed transiently is tried again under the one retry
    policy (connectors.retry), each retry asking SAP first whether the order arrived."""
    from connectors.retry import retry_pending

    def send(batch: list[tuple[str, dict[str, Any]]]) -> list[SendResult | Exception]:
        answers = ledger.send_many(
            SAP_ORDER,
            batch,
            lambda payloads: [_delivered(doc) for doc in sap.create_sales_orders(payloads)],
            lambda payloads: _lookup(sap, payloads),
            lookup_first=True,
            replace_unsent=True,  # an order fixed after SAP refused it goes out in its new form
            expected=(ConnectorError,),
        )
        for answer in answers:
            if isinstance(answer, AuthError):
                raise answer  # the sap_s4 Connection is wrong: a task failure for ops, not a refusal per order
        return answers

    return retry_pending(retry, items, send, is_transient=_is_transient, system="sap_s4", what="SAP posting")


def _lookup(sap: Any, payloads: list[dict[str, Any]]) -> list[Delivered | None]:
    """SAP's order for each payload's PurchaseOrderByCustomer, if it is this customer's."""
    found = sap.find_sales_orders([p["PurchaseOrderByCustomer"] for p in payloads])
    answers: list[Delivered | None] = []
    for p in payloads:
        doc = found.get(p["PurchaseOrderByCustomer"])
        # Another customer's order with the same reference text is not ours to link.
        answers.append(_delivered(doc) if doc is not None and doc.sold_to == p["SoldToParty"] else None)
    return answers


def _delivered(doc: Any) -> Delivered | Exception:
    if isinstance(doc, Exception):
        return doc
    return Delivered(ref=doc.number, response=order_summary(doc))


def order_summary(doc: Any) -> dict[str, Any]:
    """What the hub keeps of a SAP sales order (ledger response, sap_orders, allocations)."""
    return {
        "sap_order": doc.number,
        "net_amount": str(doc.net_amount) if doc.net_amount is not None else None,
        "currency": doc.currency,
        "items": [
            {
                "item": it.item,
                "material": it.material,
                "confirmed_qty": str(it.confirmed_quantity),
                "confirmed_date": it.confirmed_date.isoformat() if it.confirmed_date else None,
            }
            for it in doc.items
        ],
    }


def _is_transient(result: Any) -> bool:
    return isinstance(result, TransientError | LedgerBusy)


def _record_posting(conn: Connection, key: OrderKey, number: str, result: SendResult | Exception, run_id: str) -> str:
    if isinstance(result, SendResult):
        _link(conn, key, number, result.response or {}, run_id)
        quarantine.resolve(conn, key[0], [record_key(*key)], [POSTING_STAGE])
        return "posted" if result.called else "already_in_sap"
    if _is_transient(result):
        log.warning("order %s: not posted this run (%s); the ledger keeps it for the next run", number, result)
        return "failed"
    field = _error_field(result)
    _hold(conn, {key: (f"order {number}: SAP refused it: {result}", type(result).__name__, field)}, run_id)
    return "held"


def _error_field(error: Exception) -> str | None:
    details = getattr(error, "errordetails", ()) or ()
    return next((d.field for d in details if getattr(d, "field", None)), None)


def _link(conn: Connection, key: OrderKey, number: str, summary: Mapping[str, Any], run_id: str) -> None:
    now = utcnow()
    upsert(
        conn,
        sap_orders,
        [
            {
                "source": key[0],
                "crm_order_id": key[1],
                "order_number": number,
                "sap_order": summary["sap_order"],
                "sap_net_amount": Decimal(summary["net_amount"]) if summary.get("net_amount") else None,
                "currency": summary.get("currency"),
                "created_at": now,
                "run_id": run_id,
                "updated_at": now,
            }
        ],
        key=("source", "crm_order_id"),
        ignore=frozenset({"created_at", "updated_at", "run_id"}),
    )
    _apply_confirmations(conn, key, summary["items"], run_id)
    set_status(conn, [key], S.POSTED, run_id, only_from=(S.ACCEPTED, S.BACKORDERED, S.HELD))


def _apply_confirmations(conn: Connection, key: OrderKey, items: Iterable[Mapping[str, Any]], run_id: str) -> int:
    """Write SAP's confirmed quantity and date onto the order's allocation rows; returns rows changed."""
    changed = 0
    for it in items:
        line_no = int(it["item"]) // 10
        confirmed_date = it.get("confirmed_date")
        changed += conn.execute(
            update(order_allocations)
            .where(
                order_allocations.c.source == key[0],
                order_allocations.c.crm_order_id == key[1],
                order_allocations.c.line_no == line_no,
            )
            .where(
                (order_allocations.c.confirmed_qty != Decimal(it["confirmed_qty"]))
                | (order_allocations.c.sap_item.is_(None))
                | (order_allocations.c.confirmed_date.is_distinct_from(_date(confirmed_date)))
            )
            .values(
                confirmed_qty=Decimal(it["confirmed_qty"]),
                confirmed_date=_date(confirmed_date),
                sap_item=str(it["item"]),
                run_id=run_id,
                updated_at=utcnow(),
            )
        ).rowcount
    return changed


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# -- refresh ---------------------------------------------------------------------------------------
def refresh(engine: Engine, sap: Any, run_id: str) -> dict[str, int]:
    """Read SAP's current confirmations of orders it holds with quantities still open."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(sap_orders.c.source, sap_orders.c.crm_order_id, sap_orders.c.order_number)
            .join(
                orders, (orders.c.source == sap_orders.c.source) & (orders.c.crm_order_id == sap_orders.c.crm_order_id)
            )
            .where(orders.c.status.in_(REFRESHABLE))
        ).all()
    by_number = {r.order_number: (r.source, r.crm_order_id) for r in rows}
    found = sap.find_sales_orders(sorted(by_number)) if by_number else {}
    changed = 0
    with engine.begin() as conn:
        for number, doc in found.items():
            changed += bool(_apply_confirmations(conn, by_number[number], order_summary(doc)["items"], run_id))
    return {"checked": len(by_number), "changed": changed, "missing_in_sap": len(set(by_number) - set(found))}


# -- gate ------------------------------------------------------------------------------------------
def gate(engine: Engine, run_id: str) -> dict[str, int]:
    """The ``sap_postings`` gate over what SAP answered in this run: new postings, and orders whose
    confirmation SAP changed (a backorder confirmed later).

    An order that fails it (SAP confirmed more than ordered, another currency, a net amount off the
    agreed prices) goes to ``review``: it is in SAP, but no confirmation leaves until a human looks
    (``hub quarantine requeue --stage sap_postings`` sends it back through the gate). On a blocking
    breach every order of the batch goes to ``review`` before the task fails.
    """
    import pandas as pd

    from quality.gate import GateBreach, run_gate
    from quality.suites import SAP_POSTING_COLUMNS

    totals: Counter[str] = Counter()
    changed = select(order_allocations.c.source, order_allocations.c.crm_order_id).where(
        order_allocations.c.run_id == run_id
    )
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                orders.c.source,
                orders.c.crm_order_id,
                orders.c.order_number,
                orders.c.currency,
                orders.c.net_amount.label("order_net_amount"),
                sap_orders.c.sap_order,
                sap_orders.c.currency.label("sap_currency"),
                sap_orders.c.sap_net_amount,
                order_allocations.c.line_no,
                order_allocations.c.material,
                order_allocations.c.ordered_qty,
                order_allocations.c.confirmed_qty,
            )
            .join(
                sap_orders,
                (sap_orders.c.source == orders.c.source) & (sap_orders.c.crm_order_id == orders.c.crm_order_id),
            )
            .join(
                order_allocations,
                (order_allocations.c.source == orders.c.source)
                & (order_allocations.c.crm_order_id == orders.c.crm_order_id),
            )
            .where(orders.c.status.in_(REFRESHABLE), tuple_(orders.c.source, orders.c.crm_order_id).in_(changed))
            .order_by(orders.c.source, orders.c.crm_order_id, order_allocations.c.line_no)
        ).all()
        by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_source[r.source].append({**r._mapping, "record_key": record_key(r.source, r.crm_order_id)})
        for source, records in by_source.items():
            frame = pd.DataFrame(records, columns=[*SAP_POSTING_COLUMNS, "crm_order_id"])
            try:
                outcome = run_gate(POSTINGS_GATE, frame, conn=conn, run_id=run_id, source=source, payload_column=None)
            except GateBreach:
                set_status(conn, {(source, r["crm_order_id"]) for r in records}, S.REVIEW, run_id)
                conn.commit()
                raise
            passed = set(outcome.passed["record_key"]) if len(outcome.passed) else set()
            failed = {(source, r["crm_order_id"]) for r in records if r["record_key"] not in passed}
            set_status(conn, failed, S.REVIEW, run_id)
            totals["evaluated"] += frame["record_key"].nunique()
            totals["review"] += len(failed)
    return {
        "evaluated": totals["evaluated"],
        "passed": totals["evaluated"] - totals["review"],
        "review": totals["review"],
    }
