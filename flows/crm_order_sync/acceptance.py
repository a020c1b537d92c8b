"""Step 3, map and accept: raw-passed orders become canonical ones, are reviewed and gated, and the
accepted are upserted into ``orders`` / ``order_lines``; the others go to the quarantine, each alone."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, tuple_

from flows.crm_order_sync.review import review_batch
from flows.crm_order_sync.stages import ACCEPT_STAGE, MAPPING_STAGE, REVIEW_STAGE, UNREADABLE, inbox_rows, set_stage
from flows.crms import adapter as get_source
from flows.crms import default_tax_rate
from hub import quarantine
from hub.bulk import upsert
from hub.db import count_in_chunks, pairs_in, rows_in_chunks, utcnow
from hub.keys import crm_order_id_of, record_key
from hub.lifecycle import NOT_IN_SAP, OrderState
from hub.schema import (
    crm_inbox,
    customer_map,
    material_map,
    order_allocations,
    order_cancellations,
    order_confirmations,
    order_lines,
    orders,
)
from transforms import crm_orders


def _masters(conn: Connection, source_name: str) -> crm_orders.Masters:
    accounts = conn.execute(
        select(customer_map.c.crm_account_id, customer_map.c.customer_number, customer_map.c.name).where(
            customer_map.c.source == source_name
        )
    ).all()
    products = conn.execute(
        select(material_map.c.crm_product_id, material_map.c.material).where(material_map.c.source == source_name)
    ).all()
    return crm_orders.Masters(
        customers={a.crm_account_id: a.customer_number for a in accounts if a.customer_number},
        customer_names={a.crm_account_id: a.name for a in accounts},
        materials={p.crm_product_id: p.material for p in products if p.material},
    )


def accept(engine: Engine, source_name: str, run_id: str) -> dict[str, Any]:
    """Map raw-passed orders to canonical ones, review them, gate them, and upsert the accepted."""
    import pandas as pd

    from hub.settings import get_settings
    from quality.gate import run_gate

    settings = get_settings()
    source = get_source(source_name)
    tax_rate = default_tax_rate(source, settings)
    held: list[quarantine.QuarantineRecord] = []
    canonical: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    with engine.begin() as conn:
        inbox = inbox_rows(conn, source_name, run_id, "raw_passed")
        payloads = {record_key(source_name, oid): p for oid, p in inbox}
        masters = _masters(conn, source_name)
        for key, payload in payloads.items():
            try:
                canonical[key] = crm_orders.canonical_order(
                    source.raw_lines(payload),
                    masters,
                    lambda _s: tax_rate,
                    settings.tax.decimal_rounding,
                    plant=settings.plants.default,
                    tax_rounding_scope=settings.tax.rounding_scope,
                )
            except crm_orders.MappingError as exc:
                held.append(
                    quarantine.QuarantineRecord(
                        MAPPING_STAGE,
                        source_name,
                        key,
                        "MappingError",
                        str(exc),
                        payload,
                        field=exc.field,
                    )
                )
                continue
            except UNREADABLE as exc:  # past the raw gate only if a limit is missing: this record only
                held.append(
                    quarantine.QuarantineRecord(
                        MAPPING_STAGE,
                        source_name,
                        key,
                        type(exc).__name__,
                        f"order {crm_order_id_of(key)}: cannot be mapped ({exc})",
                        payload,
                    )
                )
                continue
            # The set-based write below fails for the whole batch on one value a column cannot hold.
            misfit = _misfit(*canonical[key])
            if misfit is not None:
                del canonical[key]
                field, detail = misfit
                held.append(
                    quarantine.QuarantineRecord(
                        ACCEPT_STAGE, source_name, key, "DoesNotFit", detail, payload, field=field
                    )
                )
        for key, findings in review_batch(conn, canonical, settings.tolerances.price_pct).items():
            held.append(
                quarantine.QuarantineRecord(
                    REVIEW_STAGE,
                    source_name,
                    key,
                    "BusinessRule",
                    "; ".join(f.message for f in findings),
                    payloads[key],
                    field=findings[0].field,
                    expectations=[f.rule for f in findings],
                )
            )
            del canonical[key]
        quarantine.add(conn, held, run_id)

        frame = pd.DataFrame(
            [
                {
                    "record_key": key,
                    "order_number": order["order_number"],
                    "customer_number": order["customer_number"],
                    "order_net_amount": order["net_amount"],
                    **line,
                    "payload": payloads[key],
                }
                for key, (order, lines) in canonical.items()
                for line in lines
            ]
        )
        outcome = run_gate(ACCEPT_STAGE, frame, conn=conn, run_id=run_id, source=source_name)
        passed = set(outcome.passed["record_key"]) if len(outcome.passed) else set()
        accepted = {k: v for k, v in canonical.items() if k in passed}
        written, unchanged, held_after_posting = _write_orders(conn, source_name, accepted, payloads, run_id)

        accepted_keys = [k for k in accepted if k not in held_after_posting]
        quarantine.resolve(conn, source_name, accepted_keys)
        accepted_ids = {crm_order_id_of(k) for k in accepted_keys}
        set_stage(conn, source_name, accepted_ids, "accepted")
        rejected = [oid for oid, _ in inbox if oid not in accepted_ids]
        set_stage(conn, source_name, rejected, "quarantined")
        withdrawn = _withdraw_rejected(conn, source_name, run_id)
    return {
        "source": source_name,
        "evaluated": len(inbox),
        "accepted": len(accepted_ids),
        "written": written,
        "unchanged": unchanged,
        "quarantined": len(rejected),
        "withdrawn": withdrawn,
    }


def _withdraw_rejected(conn: Connection, source_name: str, run_id: str) -> int:
    """Take back accepted-but-not-posted orders whose new CRM version this run quarantined.

    Otherwise the old version would sit in ``orders`` while the new one sits in the quarantine, and
    SAP would get what the customer no longer asked for. Orders SAP already has stay (see
    ``ChangedAfterPosting``); their lines go with them (ON DELETE CASCADE).
    """
    rejected = select(crm_inbox.c.crm_order_id).where(
        crm_inbox.c.source == source_name, crm_inbox.c.run_id == run_id, crm_inbox.c.stage == "quarantined"
    )
    where = (orders.c.source == source_name, orders.c.status.in_(NOT_IN_SAP), orders.c.crm_order_id.in_(rejected))
    withdrawn = select(orders.c.source, orders.c.crm_order_id).where(*where)
    # The posting flow's plan and confirmation rows go with the order (they have no foreign key).
    for table in (order_lines, order_allocations, order_confirmations):
        conn.execute(delete(table).where(tuple_(table.c.source, table.c.crm_order_id).in_(withdrawn)))
    return conn.execute(delete(orders).where(*where)).rowcount


def _misfit(order: Mapping[str, Any], lines: list[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(field, sentence) for the first value of a canonical order its hub column cannot hold, else None.

    The gates' limits (quality/limits.py) keep such values out; this is the last line before the
    set-based upsert, read from the columns themselves, so a limit missing there costs one record.
    """
    from hub.exact import ExactDecimal

    label = order.get("order_number") or order.get("crm_order_id")
    for table, rows in ((orders, [order]), (order_lines, lines)):
        for row in rows:
            where = f"order {label}" + (f" line {row['line_no']}" if table is order_lines else "")
            for name, value in row.items():
                if name not in table.c or value is None:
                    continue
                kind = table.c[name].type
                length = getattr(kind, "length", None)
                if isinstance(value, str) and length is not None and len(value) > length:
                    return name, f"{where}: {name} must be at most {length} characters for the hub (got {len(value)})"
                if isinstance(value, str) and ("\x00" in value or not _encodable(value)):
                    return name, f"{where}: {name} must not contain NUL or unpaired surrogates (got {value[:40]!r})"
                if isinstance(kind, ExactDecimal) and isinstance(value, Decimal | int):
                    number = Decimal(value)
                    if not number.is_finite() or abs(number) >= kind.limit:
                        numeric = f"NUMERIC({kind.precision},{kind.scale})"
                        return (
                            name,
                            f"{where}: {name} must be < {kind.limit:.0e} for the hub's {numeric} (got {number:.6g})",
                        )
                if name == "line_no" and isinstance(value, int) and not 0 < value < 2**31:
                    return name, f"{where}: {name} must fit an Integer column (got {value})"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _request_cancellations(conn: Connection, source_name: str, crm_order_ids: list[str], run_id: str, now: Any) -> None:
    """A customer's cancellation of an order SAP holds: recorded once (a later pull of the same
    cancelled record changes nothing); ``shipment_notices`` asks the warehouse and SAP to stop it."""
    known = {
        r.crm_order_id
        for r in rows_in_chunks(
            conn,
            crm_order_ids,
            lambda chunk: select(order_cancellations.c.crm_order_id).where(
                order_cancellations.c.source == source_name, order_cancellations.c.crm_order_id.in_(chunk)
            ),
        )
    }
    new = [i for i in crm_order_ids if i not in known]
    if new:
        conn.execute(
            order_cancellations.insert(),
            [
                {"source": source_name, "crm_order_id": i, "status": "requested", "requested_at": now}
                | {"run_id": run_id, "updated_at": now}
                for i in new
            ],
        )


def _initial_state(order: dict[str, Any]) -> str:
    cancelled = order.get("crm_status") in crm_orders.CANCELLED_STATUSES
    return OrderState.CANCELLED if cancelled else OrderState.ACCEPTED


def _write_orders(
    conn: Connection,
    source_name: str,
    accepted: dict[str, tuple[dict, list[dict]]],
    payloads: Mapping[str, Any],
    run_id: str,
) -> tuple[int, int, set[str]]:
    """Upsert new and changed orders; refuse changes to orders SAP already has."""
    if not accepted:
        return 0, 0, set()
    ids = [order["crm_order_id"] for order, _ in accepted.values()]
    existing = {
        r.crm_order_id: r
        for r in rows_in_chunks(
            conn,
            ids,
            lambda chunk: select(orders.c.crm_order_id, orders.c.content_hash, orders.c.status).where(
                orders.c.source == source_name, orders.c.crm_order_id.in_(chunk)
            ),
        )
    }
    now = utcnow()
    to_write, held, cancelled = [], set(), []
    for key, (order, lines) in accepted.items():
        prior = existing.get(order["crm_order_id"])
        if prior is not None and prior.content_hash == order["content_hash"]:
            continue
        if prior is not None and prior.status not in NOT_IN_SAP:
            if _initial_state(order) == OrderState.CANCELLED:
                cancelled.append(order["crm_order_id"])  # shipment_notices stops it in the warehouse and SAP
            else:
                held.add(key)
            continue
        to_write.append((order, lines))
    _request_cancellations(conn, source_name, cancelled, run_id, now)
    quarantine.add(
        conn,
        [
            quarantine.QuarantineRecord(
                ACCEPT_STAGE,
                source_name,
                key,
                "ChangedAfterPosting",
                f"order {accepted[key][0]['order_number']}: changed in the CRM after it was posted to SAP "
                f"(status {existing[accepted[key][0]['crm_order_id']].status}); change it in SAP or cancel it there",
                payloads[key],
            )
            for key in held
        ],
        run_id,
    )
    if to_write:
        changed = [(source_name, o["crm_order_id"]) for o, _ in to_write]
        count_in_chunks(
            conn,
            changed,
            lambda chunk: delete(order_lines).where(pairs_in(order_lines.c.source, order_lines.c.crm_order_id, chunk)),
        )
        upsert(
            conn,
            orders,
            # A customer's cancellation before SAP has the order ends it here: never planned, posted or confirmed.
            [{**o, "status": _initial_state(o), "run_id": run_id, "updated_at": now} for o, _ in to_write],
            key=("source", "crm_order_id"),
        )
        upsert(
            conn, order_lines, [ln for _, lines in to_write for ln in lines], key=("source", "crm_order_id", "line_no")
        )
    return len(to_write), len(accepted) - len(to_write) - len(held), held
