"""Step 5: reorder reminders for the customers' sales reps, in the CRM each customer belongs to.

From a year of orders (``planning.reminder_history_days``), each customer x part bought at a steady
rhythm (``transforms.reorder_reminders``) whose next purchase falls due this week becomes a reminder:
a Zoho Task on the account, a Fxiaoke follow-up record (connectors/crm/, ``reminder_payload``).

Once per customer, part and purchase cycle, without an idempotency key in either CRM: the reminder's
key (customer, part, last purchase) is written into a key field of the record, and the CRM is asked
for that key before anything is created (ledger target ``crm.<name>.reminder``, every unsent key
looked up first). A re-run of the week, a killed task, or a hub database restored from a backup
finds the reminder already written.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update

from flows.crms import adapter as crm_adapter
from flows.named_queries import rows as named_rows
from hub.bulk import upsert
from hub.db import rows_in_chunks, utcnow
from hub.lifecycle import OrderState
from hub.schema import reorder_reminders
from transforms.business_day import day_start
from transforms.reorder_reminders import is_due, reminder_key, rhythm

log = logging.getLogger(__name__)

EXCLUDED = (OrderState.CANCELLED.value,)


@dataclass(frozen=True)
class Reminder:
    """What the CRM adapters render (connectors.crm.base.ReminderLike)."""

    key: str
    source: str
    customer: str
    customer_crm_id: str
    customer_name: str
    material: str
    material_name: str
    purchases: int
    interval_days: int
    interval_cv: Decimal
    last_purchase: date
    typical_qty: Decimal
    due_date: date
    unit: str
    language: str


def due_reminders(engine: Engine, today: date, settings: Any) -> list[Reminder]:
    """Every customer x part whose next purchase is due (see the module docstring)."""
    p = settings.planning
    zone = ZoneInfo(settings.hub.timezone)
    start = today - timedelta(days=p.reminder_history_days)
    with engine.connect() as conn:
        lines = named_rows(
            conn,
            "reorder_history",
            history_from=datetime.combine(start, time(), zone).astimezone(UTC),
            history_to=datetime.combine(today, time(), zone).astimezone(UTC),
            excluded_states=list(EXCLUDED),
        )
    bought: dict[tuple, list[tuple[date, Decimal]]] = defaultdict(list)
    about: dict[tuple, dict[str, Any]] = {}
    for r in lines:
        at = r["order_time"] if r["order_time"].tzinfo else r["order_time"].replace(tzinfo=UTC)
        key = (r["source"], r["crm_account_id"], r["customer"], r["material"])
        bought[key].append((at.astimezone(zone).date(), r["quantity"]))
        about[key] = r
    out = []
    for key, purchases in sorted(bought.items()):
        found = rhythm(purchases, p.reminder_min_purchases, p.reminder_max_cv)
        if found is None or not is_due(found, today, p.reminder_lead_days):
            continue
        r = about[key]
        out.append(
            Reminder(
                key=reminder_key(r["customer"], r["material"], found.last_purchase),
                source=r["source"],
                customer=r["customer"],
                customer_crm_id=r["crm_account_id"],
                customer_name=r["customer_name"] or r["customer"],
                material=r["material"],
                material_name=r["material_name"] or r["material"],
                purchases=found.purchases,
                interval_days=found.interval_days,
                interval_cv=found.interval_cv,
                last_purchase=found.last_purchase,
                typical_qty=found.typical_qty,
                due_date=found.due_date,
                unit=r["unit"] or "PC",
                language=r["language"] if r["language"] in ("zh", "en") else "en",
            )
        )
    return out


def _store(engine: Engine, run_id: str, planning_week: date, due: list[Reminder]) -> set[str]:
    """Record the due reminders; return the keys already written to their CRM."""
    now = utcnow()
    with engine.begin() as conn:
        written = {
            row.reminder_key
            for row in rows_in_chunks(
                conn,
                [r.key for r in due],
                lambda keys: select(reorder_reminders.c.reminder_key).where(
                    reorder_reminders.c.reminder_key.in_(keys), reorder_reminders.c.status == "written"
                ),
            )
        }
        upsert(
            conn,
            reorder_reminders,
            [
                {
                    "reminder_key": r.key,
                    "source": r.source,
                    "customer": r.customer,
                    "crm_account_id": r.customer_crm_id,
                    "material": r.material,
                    "purchases": r.purchases,
                    "interval_days": r.interval_days,
                    "interval_cv": r.interval_cv,
                    "last_purchase": r.last_purchase,
                    "typical_qty": r.typical_qty,
                    "due_date": r.due_date,
                    "planning_week": planning_week,
                    "status": "written" if r.key in written else "due",
                    "run_id": run_id,
                    "updated_at": now,
                }
                for r in due
            ],
            key=("reminder_key",),
            update=("purchases", "interval_days", "interval_cv", "typical_qty", "due_date", "run_id", "updated_at"),
        )
    return written


def write_reminders(
    engine: Engine, ledger: Any, clients: dict[str, Any], run_id: str, planning_week: date, settings: Any
) -> dict[str, Any]:
    """Find the due reminders and write each to its customer's CRM once."""
    from connectors.crm import Rendering, reminder_text
    from connectors.http import ConnectorError
    from flows.crms import write_outcome
    from hub.ledger import Delivered

    due = due_reminders(engine, planning_week, settings)
    written = _store(engine, run_id, planning_week, due)
    todo: dict[str, list[Reminder]] = defaultdict(list)
    for r in due:
        if r.key not in written:
            todo[r.source].append(r)
    counts: dict[str, dict[str, int]] = {}
    for source, reminders in sorted(todo.items()):
        client = clients.get(source)
        if client is None:
            log.warning("%d reminders for %s, which is not enabled: not written", len(reminders), source)
            continue
        crm = crm_adapter(source)
        if not crm.supports_reminders:
            log.warning("%d reminders for %s, whose adapter writes no reminders: not written", len(reminders), source)
            continue
        zone = crm.defaults.timezone or settings.hub.timezone
        items = []
        for r in reminders:
            rendering = Rendering(
                summary=lambda _language, r=r: reminder_text.description(r),  # r carries its language
                day_start=lambda d, z=zone: day_start(d, z),
                today=planning_week,
            )
            items.append((r.key, crm.reminder_payload(r, rendering)))
        key_of = {id(p): k for k, p in items}

        def lookup(payloads: list[Any], crm: Any = crm, client: Any = client, key_of: dict = key_of) -> list:
            held = crm.find_reminders(client, [key_of[id(p)] for p in payloads])
            return [Delivered(ref=held[key_of[id(p)]]) if key_of[id(p)] in held else None for p in payloads]

        def call(payloads: list[Any], crm: Any = crm, client: Any = client, source: str = source) -> list:
            return [write_outcome(source, res) for res in crm.write_reminders(client, payloads)]

        results = ledger.send_many(
            f"crm.{source}.reminder", items, call, lookup, lookup_first=True, expected=(ConnectorError,)
        )
        done = {"written": 0, "found": 0, "failed": 0}
        with engine.begin() as conn:
            for (key, _), result in zip(items, results, strict=True):
                if isinstance(result, Exception):
                    done["failed"] += 1
                    log.warning("reminder %s to %s not written: %s", key, source, result)
                    continue
                done["written" if result.called else "found"] += 1
                conn.execute(
                    update(reorder_reminders)
                    .where(reorder_reminders.c.reminder_key == key)
                    .values(status="written", crm_record_id=result.ref, updated_at=utcnow())
                )
        counts[source] = done
        log.info(
            "%s: %d reorder reminders written, %d found already there, %d failed",
            source,
            done["written"],
            done["found"],
            done["failed"],
        )
    return {"due": len(due), "already_written": len(written), "by_crm": counts}
