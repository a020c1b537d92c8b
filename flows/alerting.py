"""The hub's one alerting module: what is wrong, how bad, who hears of it, once.

Two kinds of alert:

* **Conditions** the checks watch (:func:`run_checks`): order delay, backorder aging, low / over stock,
  credit limit exceeded, gate failure, quarantine share, ledger failed / stuck, settlement deadline
  missed (a hook until finance exists), and whatever a flow registers (:func:`register_check`, e.g.
  the replenishment budget of issue 11). Each alert has a type, a key (what it is about: a plant, a
  gate and source, a ledger target, a customer), a severity, the numbers that triggered it and what to
  do. Suppression lives in ``alert_states``: the same type + key is **raised** once per
  ``alerts.window_minutes``; while it stays open a **reminder** follows every ``alerts.reminder_hours``;
  a rise in severity is **escalated** at once; when the check no longer finds it, **resolved** (only
  if people were told it was open). A check that fails resolves nothing.
* **Events** (:func:`raise_event`): a failed task try (the failure notifier, :func:`task_failure`), a
  refused cancellation; each told once (its message id).

Every message is a row of the ``alerts`` history with a stable ``message_id``, and goes to the
channels ``alerts.channels`` (per severity) or ``alerts.routes`` (per type) name: e-mail
(``smtp_default`` to ``alerts.email_to``), the WeCom group robot (``alert_wecom``), the DingTalk robot
(``alert_dingtalk``), a generic JSON webhook (``alert_webhook``). Delivery goes through the ledger
(targets ``mail.alert``, ``chat.wecom.alert``, ``chat.dingtalk.alert``, ``webhook.alert``; at least once,
key = the message id, so a resend carries the same id): a robot that refuses for now (rate limit) leaves
the message waiting for the next run, one that refuses for good (bad signature, invalid webhook) is
recorded as refused with its reason; a channel without its Connection is skipped.

``run_checks(engine, now)`` is what the demo and a DAG task call; ``now`` is the run's instant (the
checks compare dates with the business day of ``now`` in ``hub.timezone``; ledger leases with the wall
clock, which is what claims are written in).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.exc import IntegrityError

from hub import alerts as store
from hub.db import utcnow
from hub.ledger import Delivered, Ledger, LedgerError
from hub.lifecycle import COUNTS_AGAINST_CREDIT, IN_SAP, OrderState
from hub.schema import (
    crm_inbox,
    customers,
    deliveries,
    delivery_lines,
    gate_results,
    ledger,
    materials,
    order_allocations,
    orders,
    stock_snapshots,
)

log = logging.getLogger(__name__)

ALERT_MAIL = "mail.alert"
TARGETS = {
    "email": ALERT_MAIL,
    "wecom": "chat.wecom.alert",
    "dingtalk": "chat.dingtalk.alert",
    "webhook": "webhook.alert",
}
ALERT_TARGETS = frozenset(TARGETS.values())
SEVERITIES = ("info", "warning", "critical")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
RESEND_HOURS = 48  # a message not delivered by then is left as it is (a newer one says more)
DETAIL_LINES = 10  # example lines per message
PREFIX = "[spare-parts hub]"
SHIPPED_OR_LATER = ("shipped", "delivered", "invoiced", "settled")


@dataclass(frozen=True)
class Alert:
    """One alert as a check or an event raises it."""

    type: str
    key: str
    severity: str
    title: str  # one line an operator reads
    facts: Mapping[str, Any]  # the numbers that triggered it
    action: str  # what to do
    details: Sequence[str] = ()  # example lines (orders, materials, ...)
    instance: str = ""  # events: what makes this one unique (run and try of a task)

    def __post_init__(self) -> None:
        if self.severity not in RANK:
            raise ValueError(f"unknown severity {self.severity!r}")


@dataclass(frozen=True)
class AlertType:
    name: str
    meaning: str
    threshold: str  # what triggers it, in the settings' words


ALERT_TYPES: dict[str, AlertType] = {
    t.name: t
    for t in (
        AlertType(
            "order_delay",
            "order lines of 3PL plants whose confirmed date has passed and that have not shipped in full",
            "confirmed date + alerts.order_delay_grace_days before the business day; critical from 3 days late",
        ),
        AlertType(
            "backorder_aging",
            "order lines SAP has not confirmed in full, waiting longer than the setting",
            "order older than alerts.backorder_age_days; critical beyond twice that",
        ),
        AlertType(
            "low_stock",
            "materials whose SAP availability is at or below the setting (no safety stock is defined yet)",
            "available <= alerts.low_stock_available in the latest snapshot; critical when customers wait for one",
        ),
        AlertType(
            "over_stock",
            "materials with far more on hand than customers order (no max stock is defined yet)",
            "unrestricted stock > alerts.over_stock_moq_multiple x the material's minimum order quantity",
        ),
        AlertType(
            "credit_limit",
            "customers whose open orders exceed their credit limit",
            "gross value of open orders (states counting against credit, limit currency) > credit limit; "
            "critical beyond 110 %",
        ),
        AlertType("gate_failure", "a data-quality gate failed its task (blocking breach)", "latest result per gate"),
        AlertType(
            "quarantine_rate",
            "a run quarantined more than the setting's share of its records (per stage and source)",
            "quarantined / evaluated > alerts.quarantine_rate_pct with at least gates.min_rows_for_rate records; "
            "critical beyond gates.max_quarantine_pct",
        ),
        AlertType(
            "ledger_failed",
            "messages to an outside system that failed and wait for a resend",
            ">= alerts.ledger_failed failed entries of one target (alert targets excepted)",
        ),
        AlertType("ledger_stuck", "messages in flight past their claim's lease", "in_flight with claimed_until passed"),
        AlertType(
            "settlement_deadline",
            "finance's daily settlement file missed its deadline",
            "a hook: the finance flow registers its check (not built yet)",
        ),
        AlertType(
            "cancellation_refused",
            "a customer cancelled an order whose goods had already left the warehouse",
            "every refusal of order.cancel, or an order already shipped (shipment_notices)",
        ),
        AlertType("task_failed", "a task failed its last try", "every final failure (critical)"),
        AlertType("task_retry", "a task try failed and Airflow retries it", "every retried failure (warning)"),
    )
}

Check = Callable[[Connection, datetime, Any], list[Alert]]
CHECKS: dict[str, Check] = {}
SETTLEMENT_HOOKS: list[Check] = []  # the finance flow appends its deadline check here


def register_check(alert_type: str, check: Check, *, meaning: str = "", threshold: str = "") -> None:
    """Add a check (a flow's own condition, e.g. the replenishment budget); it runs with the others."""
    CHECKS[alert_type] = check
    ALERT_TYPES.setdefault(alert_type, AlertType(alert_type, meaning or alert_type, threshold or "see the flow"))


def _check(*types: str) -> Callable[[Check], Check]:
    def wrap(fn: Check) -> Check:
        for alert_type in types:
            CHECKS[alert_type] = fn
        return fn

    return wrap


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------
def _business_today(now: datetime, settings: Any):  # noqa: ANN202 - a date
    from transforms.business_day import business_date

    return business_date(now, settings.hub.timezone)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _qty(value: Decimal | None) -> str:
    return "0" if value is None else format(value.normalize(), "f")


@_check("order_delay")
def check_order_delay(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Lines of 3PL plants confirmed for a date now passed, not shipped in full. Plants the company
    ships from itself are not checked: SAP issues their goods and the hub does not see it."""
    today = _business_today(now, settings)
    cutoff = today - timedelta(days=settings.alerts.order_delay_grace_days)
    plants = list(settings.logistics.warehouses)
    open_states = [s for s in IN_SAP if s not in SHIPPED_OR_LATER]
    if not plants:
        return []
    shipped = (
        select(
            deliveries.c.source,
            deliveries.c.crm_order_id,
            delivery_lines.c.sap_order_item,
            func.sum(delivery_lines.c.shipped_qty).label("shipped"),
        )
        .join(delivery_lines, delivery_lines.c.delivery == deliveries.c.delivery)
        .where(deliveries.c.status != "cancelled")
        .group_by(deliveries.c.source, deliveries.c.crm_order_id, delivery_lines.c.sap_order_item)
        .subquery()
    )
    rows = conn.execute(
        select(
            order_allocations.c.plant,
            orders.c.order_number,
            order_allocations.c.line_no,
            order_allocations.c.material,
            order_allocations.c.confirmed_qty,
            order_allocations.c.confirmed_date,
            shipped.c.shipped,
        )
        .join(
            orders,
            and_(
                orders.c.source == order_allocations.c.source, orders.c.crm_order_id == order_allocations.c.crm_order_id
            ),
        )
        .outerjoin(
            shipped,
            and_(
                shipped.c.source == order_allocations.c.source,
                shipped.c.crm_order_id == order_allocations.c.crm_order_id,
                shipped.c.sap_order_item == order_allocations.c.sap_item,
            ),
        )
        .where(
            orders.c.status.in_(open_states),
            order_allocations.c.plant.in_(plants),
            order_allocations.c.confirmed_qty > 0,
            order_allocations.c.confirmed_date < cutoff,
        )
    ).all()
    late: dict[str, list[tuple[int, str]]] = defaultdict(list)
    orders_late: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        open_qty = r.confirmed_qty - (r.shipped or Decimal(0))
        if open_qty <= 0:
            continue
        days = (today - r.confirmed_date).days
        late[r.plant].append(
            (
                days,
                f"{r.order_number} line {r.line_no} {r.material}: {_qty(open_qty)} of {_qty(r.confirmed_qty)} "
                f"not shipped, confirmed for {r.confirmed_date.isoformat()} ({days} days late)",
            )
        )
        orders_late[r.plant].add(r.order_number)
    found = []
    for plant, lines in sorted(late.items()):
        lines.sort(key=lambda x: -x[0])
        worst = lines[0][0]
        found.append(
            Alert(
                "order_delay",
                plant,
                "critical" if worst >= 3 else "warning",
                f"plant {plant}: {len(orders_late[plant])} orders ({len(lines)} lines) are past their confirmed "
                f"date and not shipped; the latest is {worst} days late",
                {
                    "plant": plant,
                    "orders_late": len(orders_late[plant]),
                    "lines_late": len(lines),
                    "max_days_late": worst,
                    "business_day": today.isoformat(),
                    "grace_days": settings.alerts.order_delay_grace_days,
                },
                f"Ask the 3PL warehouse of plant {plant} about these deliveries (Qimen orders at "
                "GET /_sandbox/qimen_wms/orders in the sandbox); tell the customers of the latest ones "
                "a new date; hub ledger list --target qimen.stockout --status failed shows deliveries never sent.",
                [text for _, text in lines[:DETAIL_LINES]],
            )
        )
    return found


@_check("backorder_aging")
def check_backorder_aging(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Lines SAP has not confirmed in full (backordered, partial), older than alerts.backorder_age_days."""
    days_limit = settings.alerts.backorder_age_days
    since = now - timedelta(days=days_limit)
    rows = conn.execute(
        select(
            order_allocations.c.plant,
            orders.c.order_number,
            orders.c.order_time,
            order_allocations.c.line_no,
            order_allocations.c.material,
            order_allocations.c.ordered_qty,
            order_allocations.c.confirmed_qty,
        )
        .join(
            orders,
            and_(
                orders.c.source == order_allocations.c.source, orders.c.crm_order_id == order_allocations.c.crm_order_id
            ),
        )
        .where(
            orders.c.status.in_([OrderState.BACKORDERED.value, OrderState.PARTIAL.value]),
            order_allocations.c.confirmed_qty < order_allocations.c.ordered_qty,
            orders.c.order_time < since,
        )
    ).all()
    by_plant: dict[str, list] = defaultdict(list)
    for r in rows:
        by_plant[r.plant].append(r)
    found = []
    for plant, lines in sorted(by_plant.items()):
        ages = [(now - _aware(r.order_time)).days for r in lines]
        oldest = max(ages)
        short = sum((r.ordered_qty - r.confirmed_qty for r in lines), Decimal(0))
        ordered = sorted(zip(ages, lines, strict=True), key=lambda x: -x[0])
        found.append(
            Alert(
                "backorder_aging",
                plant,
                "critical" if oldest > 2 * days_limit else "warning",
                f"plant {plant}: {len({r.order_number for r in lines})} orders ({len(lines)} lines, "
                f"{_qty(short)} units) have waited more than {days_limit} days for stock; the oldest {oldest} days",
                {
                    "plant": plant,
                    "orders": len({r.order_number for r in lines}),
                    "lines": len(lines),
                    "short_qty": short,
                    "oldest_days": oldest,
                    "threshold_days": days_limit,
                },
                "Check the goods receipts due for these materials (purchasing); sap_order_posting confirms the "
                "backorders as soon as SAP has stock. Offer the oldest customers a partial delivery or a substitute.",
                [
                    f"{r.order_number} line {r.line_no} {r.material}: {_qty(r.ordered_qty - r.confirmed_qty)} of "
                    f"{_qty(r.ordered_qty)} open, ordered {age} days ago"
                    for age, r in ordered[:DETAIL_LINES]
                ],
            )
        )
    return found


def _latest_stock(conn: Connection) -> list:
    latest = (
        select(
            stock_snapshots.c.plant, stock_snapshots.c.material, func.max(stock_snapshots.c.taken_at).label("taken_at")
        )
        .group_by(stock_snapshots.c.plant, stock_snapshots.c.material)
        .subquery()
    )
    return conn.execute(
        select(
            stock_snapshots.c.plant,
            stock_snapshots.c.material,
            stock_snapshots.c.unrestricted,
            stock_snapshots.c.available,
            stock_snapshots.c.taken_at,
            materials.c.moq,
        )
        .join(
            latest,
            and_(
                latest.c.plant == stock_snapshots.c.plant,
                latest.c.material == stock_snapshots.c.material,
                latest.c.taken_at == stock_snapshots.c.taken_at,
            ),
        )
        .outerjoin(materials, materials.c.material == stock_snapshots.c.material)
    ).all()


@_check("low_stock", "over_stock")
def check_stock(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Per plant, from the latest SAP stock snapshot of each material. No inventory policy (safety
    stock, max stock) exists yet: low is availability at or below a setting, over is more than a
    multiple of the minimum order quantity on hand."""
    stock = _latest_stock(conn)
    waiting = {
        (r.plant, r.material): r.short
        for r in conn.execute(
            select(
                order_allocations.c.plant,
                order_allocations.c.material,
                func.sum(order_allocations.c.ordered_qty - order_allocations.c.confirmed_qty).label("short"),
            )
            .join(
                orders,
                and_(
                    orders.c.source == order_allocations.c.source,
                    orders.c.crm_order_id == order_allocations.c.crm_order_id,
                ),
            )
            .where(
                orders.c.status.in_([OrderState.BACKORDERED.value, OrderState.PARTIAL.value]),
                order_allocations.c.confirmed_qty < order_allocations.c.ordered_qty,
            )
            .group_by(order_allocations.c.plant, order_allocations.c.material)
        ).all()
    }
    low: dict[str, list] = defaultdict(list)
    over: dict[str, list] = defaultdict(list)
    limit, multiple = settings.alerts.low_stock_available, settings.alerts.over_stock_moq_multiple
    for r in stock:
        if r.available <= limit:
            low[r.plant].append((waiting.get((r.plant, r.material)) or Decimal(0), r))
        if r.moq and r.moq > 0 and r.unrestricted > r.moq * multiple:
            over[r.plant].append(r)
    found = []
    for plant, items in sorted(low.items()):
        items.sort(key=lambda x: (-x[0], x[1].material))
        with_demand = [x for x in items if x[0] > 0]
        found.append(
            Alert(
                "low_stock",
                plant,
                "critical" if with_demand else "warning",
                f"plant {plant}: {len(items)} materials have nothing left to promise (availability <= "
                f"{_qty(limit)}); customers wait for {len(with_demand)} of them",
                {
                    "plant": plant,
                    "materials_low": len(items),
                    "materials_with_backorders": len(with_demand),
                    "units_backordered": sum((x[0] for x in with_demand), Decimal(0)),
                    "threshold_available": limit,
                    "snapshot_at": max(_aware(x[1].taken_at) for x in items),
                },
                "Expedite the open purchase orders of the materials customers wait for (first lines below); "
                "no safety stock or reorder point is defined yet: replenishment planning will set them.",
                [
                    f"{r.material}: unrestricted {_qty(r.unrestricted)}, available {_qty(r.available)}, "
                    f"backordered {_qty(short)}"
                    for short, r in items[:DETAIL_LINES]
                ],
            )
        )
    for plant, items in sorted(over.items()):
        items.sort(key=lambda r: -(r.unrestricted / r.moq))
        found.append(
            Alert(
                "over_stock",
                plant,
                "info",
                f"plant {plant}: {len(items)} materials hold more than {multiple} minimum order quantities",
                {"plant": plant, "materials_over": len(items), "moq_multiple": multiple},
                "Review purchasing for these materials; no max stock is defined yet: replenishment planning "
                "will set one.",
                [
                    f"{r.material}: unrestricted {_qty(r.unrestricted)} = {(r.unrestricted / r.moq):.0f} x MOQ "
                    f"{_qty(r.moq)}"
                    for r in items[:DETAIL_LINES]
                ],
            )
        )
    return found


@_check("credit_limit")
def check_credit_limit(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Customers whose open orders (states counting against credit, in the limit's currency) exceed it."""
    rows = conn.execute(
        select(
            customers.c.customer_number,
            customers.c.name,
            customers.c.currency,
            customers.c.credit_limit,
            func.sum(orders.c.gross_amount).label("exposure"),
            func.count().label("orders"),
        )
        .join(
            orders,
            and_(orders.c.customer_number == customers.c.customer_number, orders.c.currency == customers.c.currency),
        )
        .where(orders.c.status.in_(list(COUNTS_AGAINST_CREDIT)))
        .group_by(customers.c.customer_number, customers.c.name, customers.c.currency, customers.c.credit_limit)
    ).all()
    found = []
    for r in rows:
        if r.exposure is None or r.exposure <= r.credit_limit:
            continue
        pct = (r.exposure * 100 / r.credit_limit).quantize(Decimal("0.1")) if r.credit_limit > 0 else None
        found.append(
            Alert(
                "credit_limit",
                r.customer_number,
                "critical" if pct is None or pct > 110 else "warning",
                f"customer {r.customer_number} ({r.name}): open orders {r.exposure:.2f} {r.currency} exceed the "
                f"credit limit {r.credit_limit:.2f} {r.currency}" + (f" ({pct} %)" if pct is not None else ""),
                {
                    "customer": r.customer_number,
                    "currency": r.currency,
                    "open_orders": r.orders,
                    "exposure": r.exposure,
                    "credit_limit": r.credit_limit,
                    "used_pct": pct,
                },
                "Credit control: collect, or raise the limit in the ERP master data (master_data_sync imports it); "
                "the order review quarantines this customer's new orders until the exposure fits.",
            )
        )
    return found


def _latest_gate_rows(conn: Connection) -> list:
    latest = (
        select(func.max(gate_results.c.id).label("id")).group_by(gate_results.c.gate, gate_results.c.source).subquery()
    )
    return conn.execute(select(gate_results).join(latest, latest.c.id == gate_results.c.id)).all()


@_check("gate_failure")
def check_gate_failure(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    found = []
    for r in _latest_gate_rows(conn):
        if not r.blocking_breach:
            continue
        expectations = (r.summary or {}).get("expectations") or {}
        broken = sorted(
            name for name, res in expectations.items() if isinstance(res, dict) and res.get("success") is False
        )
        key = f"{r.gate}:{r.source or '-'}"
        found.append(
            Alert(
                "gate_failure",
                key,
                "critical",
                f"gate {r.gate} ({r.source or 'all sources'}) failed its task: {r.quarantined} of {r.evaluated} "
                "records refused, blocking breach",
                {
                    "gate": r.gate,
                    "source": r.source,
                    "run_id": r.run_id,
                    "evaluated": r.evaluated,
                    "passed": r.passed,
                    "quarantined": r.quarantined,
                    "expectations_failed": broken,
                },
                f"Open the run {r.run_id} in Airflow; hub quarantine list --stage {r.gate} shows the records and "
                "why; fix the source data or the master data, then requeue and clear the task.",
                [f"expectation failed: {name}" for name in broken[:DETAIL_LINES]],
            )
        )
    return found


@_check("quarantine_rate")
def check_quarantine_rate(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """The latest run of each stage and source: the CRM intake (orders pulled vs quarantined) and every gate."""
    threshold, minimum = settings.alerts.quarantine_rate_pct, settings.gates.min_rows_for_rate
    measured: list[tuple[str, str, str, int, int]] = []  # stage, source, run, evaluated, quarantined
    for r in _latest_gate_rows(conn):
        measured.append((r.gate, r.source or "-", r.run_id, r.evaluated, r.quarantined))
    latest_runs = (
        select(crm_inbox.c.source, func.max(crm_inbox.c.updated_at).label("at")).group_by(crm_inbox.c.source).subquery()
    )
    runs = conn.execute(
        select(crm_inbox.c.source, crm_inbox.c.run_id)
        .join(latest_runs, and_(latest_runs.c.source == crm_inbox.c.source, latest_runs.c.at == crm_inbox.c.updated_at))
        .distinct()
    ).all()
    for source, run_id in runs:
        counts = conn.execute(
            select(crm_inbox.c.stage, func.count())
            .where(crm_inbox.c.source == source, crm_inbox.c.run_id == run_id)
            .group_by(crm_inbox.c.stage)
        ).all()
        total = sum(n for _, n in counts)
        quarantined = sum(n for stage, n in counts if stage == "quarantined")
        measured.append(("crm_intake", source, run_id, total, quarantined))
    found = []
    for stage, source, run_id, evaluated, quarantined in measured:
        if evaluated < max(minimum, 1) or quarantined == 0:
            continue
        share = (Decimal(quarantined) * 100 / evaluated).quantize(Decimal("0.1"))
        if share <= threshold:
            continue
        where = "stages order_review and raw_crm_orders" if stage == "crm_intake" else f"stage {stage}"
        found.append(
            Alert(
                "quarantine_rate",
                f"{stage}:{source}",
                "critical" if share > settings.gates.max_quarantine_pct else "warning",
                f"{stage} ({source}): the latest run quarantined {quarantined} of {evaluated} records ({share} %), "
                f"more than {threshold} %",
                {
                    "stage": stage,
                    "source": source,
                    "run_id": run_id,
                    "evaluated": evaluated,
                    "quarantined": quarantined,
                    "share_pct": share,
                    "threshold_pct": threshold,
                },
                f"hub quarantine list --source {source} shows the reasons ({where}); fix the data in the source "
                "system or the master data, then hub quarantine requeue.",
            )
        )
    return found


@_check("ledger_failed", "ledger_stuck")
def check_ledger(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Failed entries per target, and in-flight claims past their lease (compared with the wall clock,
    in which claims are written). The alert channels' own targets are left out: a robot that refuses is
    recorded on the alert message itself."""
    wall = utcnow()
    failed = conn.execute(
        select(ledger.c.target, func.count(), func.min(ledger.c.updated_at), func.max(ledger.c.id))
        .where(ledger.c.status == "failed", ledger.c.target.not_in(list(ALERT_TARGETS)))
        .group_by(ledger.c.target)
    ).all()
    found = []
    for target, count, oldest, last_id in failed:
        if count < settings.alerts.ledger_failed:
            continue
        last_error = conn.execute(select(ledger.c.last_error).where(ledger.c.id == last_id)).scalar_one()
        found.append(
            Alert(
                "ledger_failed",
                target,
                "critical" if count >= 10 * settings.alerts.ledger_failed else "warning",
                f"{count} messages to {target} failed and wait for a resend",
                {
                    "target": target,
                    "failed": count,
                    "oldest_failed_at": _aware(oldest),
                    "last_error": _short_error(last_error),
                    "threshold": settings.alerts.ledger_failed,
                },
                f"hub ledger list --target {target} --status failed shows them; once the system is back, the owning "
                f"flow resends them on its next run (asking the system first); hub ledger retry --target {target} "
                "for those left failed by a refusal you fixed.",
            )
        )
    stuck = conn.execute(
        select(ledger.c.target, func.count(), func.min(ledger.c.claimed_until))
        .where(
            ledger.c.status == "in_flight", ledger.c.claimed_until < wall, ledger.c.target.not_in(list(ALERT_TARGETS))
        )
        .group_by(ledger.c.target)
    ).all()
    for target, count, since in stuck:
        found.append(
            Alert(
                "ledger_stuck",
                target,
                "warning",
                f"{count} messages to {target} are in flight past their claim's lease (a worker died mid-send)",
                {"target": target, "stuck": count, "lease_expired_at": _aware(since)},
                "The owning flow's next run asks the system whether they arrived and sends the rest; if it does "
                f"not run, trigger it. hub ledger list --target {target} --status in_flight lists them.",
            )
        )
    return found


@_check("settlement_deadline")
def check_settlement_deadline(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """A hook: finance_settlement is not built yet; its deadline check registers in SETTLEMENT_HOOKS."""
    return [alert for hook in SETTLEMENT_HOOKS for alert in hook(conn, now, settings)]


def _short_error(text: str | None, limit: int = 300) -> str | None:
    """An error for an alert: first line, credentials masked, no SQL statement."""
    if not text:
        return None
    from connectors.redaction import redact

    first = str(text).split("\n[SQL:", 1)[0].splitlines()[0] if str(text).strip() else ""
    return redact(first)[:limit]


# ---------------------------------------------------------------------------------------------------
# Suppression: alert states → messages
# ---------------------------------------------------------------------------------------------------
def message_id(alert_type: str, key: str, *parts: object) -> str:
    """The stable id of one message: the same for every resend, different for every state change."""
    digest = hashlib.sha256("|".join([alert_type, key, *map(str, parts)]).encode()).hexdigest()
    return f"{alert_type[:24]}-{digest[:32]}"


@dataclass
class _Message:
    alert: Alert
    event: str
    occurrence: int | None
    number: int = 0  # which reminder / escalation
    opened_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message_id(self) -> str:
        if self.event == "event":
            return message_id(self.alert.type, self.alert.key, self.alert.instance, "event")
        return message_id(self.alert.type, self.alert.key, self.occurrence, self.event, self.number)


def _apply(conn: Connection, alert_type: str, found: list[Alert], now: datetime, settings: Any) -> list[_Message]:
    """Compare what a check found with the stored states of its type; return the messages to send."""
    window = timedelta(minutes=settings.alerts.window_minutes)
    reminder = timedelta(hours=settings.alerts.reminder_hours)
    known = store.states(conn, alert_type)
    out: list[_Message] = []
    seen: set[str] = set()
    for alert in found:
        if alert.key in seen:
            continue
        seen.add(alert.key)
        state = known.get(alert.key)
        if state is None or state.status == "resolved":
            occurrence = (state.occurrence if state else 0) + 1
            last_raised = _aware(state.last_raised_at) if state else None
            suppressed = last_raised is not None and now - last_raised < window
            values: dict[str, Any] = {
                "status": "open",
                "severity": alert.severity,
                "occurrence": occurrence,
                "announced": not suppressed,
                "reminders": 0,
                "escalations": 0,
                "opened_at": now,
                "last_seen_at": now,
                "resolved_at": None,
                "summary": alert.title,
                "facts": alert.facts,
            }
            if not suppressed:
                values.update(last_raised_at=now, last_notified_at=now)
                out.append(_Message(alert, "raised", occurrence, opened_at=now))
            else:
                log.info("alert %s %s reopened within the window: not raised again", alert_type, alert.key)
            store.save_state(conn, alert_type, alert.key, values, new=state is None)
            continue
        values = {"last_seen_at": now, "summary": alert.title, "facts": alert.facts}
        last_told = _aware(state.last_notified_at)
        if RANK[alert.severity] > RANK[state.severity]:
            values.update(
                severity=alert.severity, escalations=state.escalations + 1, announced=True, last_notified_at=now
            )
            out.append(_Message(alert, "escalated", state.occurrence, state.escalations + 1, _aware(state.opened_at)))
        elif last_told is None or now - last_told >= reminder:
            values.update(reminders=state.reminders + 1, announced=True, last_notified_at=now)
            if RANK[alert.severity] < RANK[state.severity]:
                values["severity"] = alert.severity
            out.append(_Message(alert, "reminder", state.occurrence, state.reminders + 1, _aware(state.opened_at)))
        elif RANK[alert.severity] < RANK[state.severity]:
            values["severity"] = alert.severity
        store.save_state(conn, alert_type, alert.key, values, new=False)
    for key, state in known.items():
        if state.status != "open" or key in seen:
            continue
        store.save_state(conn, alert_type, key, {"status": "resolved", "resolved_at": now}, new=False)
        if state.announced:
            opened = _aware(state.opened_at)
            cleared = Alert(
                alert_type,
                key,
                state.severity,
                f"resolved: {state.summary}",
                dict(state.facts or {}),
                "Nothing to do: the check no longer finds it.",
            )
            out.append(
                _Message(cleared, "resolved", state.occurrence, opened_at=opened, extra={"open_for": str(now - opened)})
            )
    return out


def _store(engine: Engine, msg: _Message, settings: Any, *, now: datetime, context: Mapping[str, Any]) -> int | None:
    channels = settings.alerts.channels_for(msg.alert.type, msg.alert.severity)
    a = msg.alert
    facts = {**dict(a.facts), **msg.extra}
    if msg.opened_at is not None:
        facts.setdefault("opened_at", msg.opened_at)
    return store.add_message(
        engine,
        {
            "kind": a.type,
            "alert_key": a.key,
            "severity": a.severity,
            "event": msg.event,
            "occurrence": msg.occurrence,
            "message_id": msg.message_id,
            "title": a.title,
            "message": _text_body(a, msg.event, facts),
            "action": a.action,
            "facts": {**facts, "details": list(a.details)},
            "deliveries": {c: {"status": store.PENDING} for c in channels},
            "created_at": now,
            "dag_id": context.get("dag_id"),
            "run_id": context.get("run_id"),
            "task_id": context.get("task_id"),
        },
    )


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------
EVENT_LABEL = {
    "raised": "",
    "reminder": "reminder: ",
    "escalated": "escalated: ",
    "resolved": "resolved: ",
    "event": "",
}


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def _fact_lines(facts: Mapping[str, Any]) -> list[str]:
    return [f"{k}: {_fmt(v)}" for k, v in facts.items() if k != "details" and v is not None]


def _text_body(alert: Alert, event: str, facts: Mapping[str, Any]) -> str:
    lines = [alert.title, "", *_fact_lines(facts)]
    if alert.details:
        lines += ["", *alert.details]
    lines += ["", f"What to do: {alert.action}", "", f"Severity {alert.severity} · alert {alert.type} / {alert.key}"]
    return "\n".join(lines)


def subject_of(row: Any) -> str:
    return f"{PREFIX} {EVENT_LABEL.get(row.event, '')}{row.kind}: {row.alert_key}"


def _details_of(row: Any) -> list[str]:
    return list((row.facts or {}).get("details") or [])


def _fit(build: Callable[[list[str]], str], details: list[str], limit: int) -> str:
    """``build(details)`` cut to ``limit`` UTF-8 bytes: example lines dropped first, then the text cut."""
    for n in range(len(details), -1, -1):
        text = build(details[:n] + ([f"… {len(details) - n} more"] if n < len(details) else []))
        if len(text.encode("utf-8")) <= limit:
            return text
    raw = build([]).encode("utf-8")[: limit - 3]
    return raw.decode("utf-8", "ignore") + "…"


def wecom_payload(row: Any, mentions: Sequence[str] = ()) -> dict[str, Any]:
    from connectors.wecom import MARKDOWN_MAX_BYTES, markdown_message

    color = {"critical": "warning", "warning": "warning", "info": "info"}.get(row.severity, "comment")
    facts = _fact_lines({k: v for k, v in (row.facts or {}).items()})
    tail = "".join(f"<@{m}>" for m in mentions) if row.severity == "critical" and row.event != "resolved" else ""

    def build(details: list[str]) -> str:
        parts = [
            f'**{PREFIX} <font color="{color}">{row.severity}</font> {EVENT_LABEL.get(row.event, "")}{row.kind}**',
            str(row.title),
            *(f"> {line}" for line in facts),
            *details,
            f"**What to do:** {row.action}",
            f'<font color="comment">{row.message_id}</font> {tail}'.rstrip(),
        ]
        return "\n".join(parts)

    return markdown_message(_fit(build, _details_of(row), MARKDOWN_MAX_BYTES))


def dingtalk_payload(row: Any, at_mobiles: Sequence[str] = ()) -> dict[str, Any]:
    from connectors.dingtalk import markdown_message

    mobiles = list(at_mobiles) if row.severity == "critical" and row.event != "resolved" else []
    title = f"{PREFIX} {EVENT_LABEL.get(row.event, '')}{row.kind}: {row.alert_key}"

    def build(details: list[str]) -> str:
        parts = [
            f"#### {title}",
            f"**{row.severity}** {row.title}",
            "",
            *(f"- {line}" for line in _fact_lines(row.facts or {})),
            "",
            *(f"> {line}\n" for line in details),
            f"**What to do:** {row.action}",
            "",
            f"message {row.message_id}" + "".join(f" @{m}" for m in mobiles),
        ]
        return "\n".join(parts)

    return markdown_message(title, _fit(build, _details_of(row), 18_000), at_mobiles=mobiles)


def webhook_payload(row: Any) -> dict[str, Any]:
    facts = dict(row.facts or {})
    details = facts.pop("details", [])
    return {
        "source": "spare-parts-hub",
        "message_id": row.message_id,
        "type": row.kind,
        "key": row.alert_key,
        "severity": row.severity,
        "event": row.event,
        "occurrence": row.occurrence,
        "title": row.title,
        "facts": facts,
        "details": details,
        "action": row.action,
        "created_at": _aware(row.created_at).isoformat(),
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "task_id": row.task_id,
    }


def alert_message(
    *, key: str, subject: str, body: str, sender: str, recipients: Sequence[str], when: datetime
) -> EmailMessage:
    from transforms.message_ids import domain_of, stable_message_id

    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = stable_message_id(key, domain_of(sender))
    message["X-Hub-Alert"] = key
    message.set_content(body)
    return message


# ---------------------------------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------------------------------
class Sender(Protocol):
    target: str

    def render(self, row: Any) -> dict[str, Any]: ...

    def send(self, payload: dict[str, Any]) -> Delivered: ...


class MailSender:
    target = TARGETS["email"]

    def __init__(self, smtp: Any, recipients: Sequence[str]) -> None:
        self.smtp, self.recipients = smtp, list(recipients)

    def render(self, row: Any) -> dict[str, Any]:
        return {"to": self.recipients, "subject": subject_of(row), "body": row.message, "message_id": row.message_id}

    def send(self, payload: dict[str, Any]) -> Delivered:
        from connectors.mail import Mailer

        mail = alert_message(
            key=payload["message_id"],
            subject=payload["subject"],
            body=payload["body"],
            sender=self.smtp.from_address,
            recipients=payload["to"],
            when=utcnow(),
        )
        return Delivered(ref=Mailer(self.smtp).send(mail))


class WeComSender:
    target = TARGETS["wecom"]

    def __init__(self, robot: Any, mentions: Sequence[str] = ()) -> None:
        self.robot, self.mentions = robot, list(mentions)

    def render(self, row: Any) -> dict[str, Any]:
        return wecom_payload(row, self.mentions)

    def send(self, payload: dict[str, Any]) -> Delivered:
        return Delivered(ref="errcode 0", response=self.robot.send(payload))


class DingTalkSender:
    target = TARGETS["dingtalk"]

    def __init__(self, robot: Any, at_mobiles: Sequence[str] = ()) -> None:
        self.robot, self.at_mobiles = robot, list(at_mobiles)

    def render(self, row: Any) -> dict[str, Any]:
        return dingtalk_payload(row, self.at_mobiles)

    def send(self, payload: dict[str, Any]) -> Delivered:
        return Delivered(ref="errcode 0", response=self.robot.send(payload))


class WebhookSender:
    target = TARGETS["webhook"]

    def __init__(self, client: Any) -> None:
        self.client = client

    def render(self, row: Any) -> dict[str, Any]:
        return webhook_payload(row)

    def send(self, payload: dict[str, Any]) -> Delivered:
        return Delivered(ref=self.client.post(payload, message_id=payload["message_id"]))


def default_senders(settings: Any = None) -> dict[str, Sender | str]:
    """A sender per channel from the Airflow Connections, or why the channel is skipped."""
    from flows.connections import get_connection

    settings = settings or _settings()
    out: dict[str, Sender | str] = {}

    def connection(conn_id: str) -> Any:
        try:
            return get_connection(conn_id, required=False)
        except Exception as exc:  # noqa: BLE001 - no Airflow configured: the channel is skipped, said why
            log.warning("alerts: Connection %s unreadable: %s", conn_id, exc)
            return None

    if not settings.alerts.email_to:
        out["email"] = "alerts.email_to is empty"
    elif (smtp := connection("smtp_default")) is None:
        out["email"] = "no Connection smtp_default"
    else:
        from connectors.mail import SmtpConfig

        out["email"] = MailSender(SmtpConfig.from_connection(smtp), settings.alerts.email_to)
    if (wecom := connection("alert_wecom")) is None:
        out["wecom"] = "no Connection alert_wecom"
    else:
        from connectors.wecom import WeComRobot

        out["wecom"] = WeComSender(WeComRobot.from_connection(wecom), settings.alerts.wecom_mentions)
    if (dingtalk := connection("alert_dingtalk")) is None:
        out["dingtalk"] = "no Connection alert_dingtalk"
    else:
        from connectors.dingtalk import DingTalkRobot

        out["dingtalk"] = DingTalkSender(DingTalkRobot.from_connection(dingtalk), settings.alerts.dingtalk_at_mobiles)
    if (hook := connection("alert_webhook")) is None:
        out["webhook"] = "no Connection alert_webhook"
    else:
        from connectors.webhook import WebhookClient

        out["webhook"] = WebhookSender(WebhookClient.from_connection(hook))
    return out


def deliver(
    engine: Engine,
    senders: Mapping[str, Sender | str],
    *,
    now: datetime | None = None,
    only: Iterable[int] | None = None,
    owner: str = "alerts",
) -> dict[str, Counter]:
    """Send every message with a channel still open, through the ledger. A channel that answers
    "not now" (rate limit, outage) is left for the next call and not tried again in this one."""
    from connectors.errors import ConnectorError, PermanentError

    since = (now or utcnow()) - timedelta(hours=RESEND_HOURS)
    rows = store.undelivered(engine, since)
    if only is not None:
        wanted = set(only)
        rows = [r for r in rows if r.id in wanted]
    result: dict[str, Counter] = defaultdict(Counter)
    paused: set[str] = set()
    book = Ledger(engine, owner=owner)
    for row in rows:
        for channel, state in (row.deliveries or {}).items():
            if state.get("status") in store.FINAL:
                continue
            sender = senders.get(channel, f"unknown channel {channel}")
            if isinstance(sender, str):
                store.set_delivery(engine, row.id, channel, store.SKIPPED, sender)
                result[store.SKIPPED][channel] += 1
                continue
            if channel in paused:
                result[store.WAITING][channel] += 1
                continue
            try:
                payload = sender.render(row)
                book.send(sender.target, row.message_id, payload, sender.send)
            except PermanentError as exc:
                store.set_delivery(engine, row.id, channel, store.REFUSED, f"{type(exc).__name__}: {exc}")
                result[store.REFUSED][channel] += 1
                log.error("alert %s refused by %s: %s", row.message_id, channel, exc)
            except (ConnectorError, LedgerError) as exc:  # transient, or another worker holds it
                store.set_delivery(engine, row.id, channel, store.WAITING, f"{type(exc).__name__}: {exc}")
                result[store.WAITING][channel] += 1
                paused.add(channel)
                log.warning("alert %s waits for %s: %s", row.message_id, channel, exc)
            except Exception as exc:  # noqa: BLE001 - an alert must never take down what it reports on
                store.set_delivery(engine, row.id, channel, store.WAITING, f"{type(exc).__name__}: {exc}")
                result[store.WAITING][channel] += 1
                paused.add(channel)
                log.exception("alert %s not sent to %s", row.message_id, channel)
            else:
                store.set_delivery(engine, row.id, channel, store.SENT)
                result[store.SENT][channel] += 1
    return result


# ---------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------
def _settings() -> Any:
    from hub.settings import get_settings

    return get_settings()


def run_checks(
    engine: Engine,
    now: datetime,
    *,
    senders: Mapping[str, Sender | str] | None = None,
    settings: Any = None,
    types: Iterable[str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the checks, update the alert states, store and send the messages; a summary for the task log."""
    settings = settings or _settings()
    now = _aware(now)
    wanted = list(types) if types is not None else list(CHECKS)
    summary: dict[str, Any] = {"now": now.isoformat(), "checked": [], "errors": {}, "messages": Counter(), "open": {}}
    ran: dict[Check, list[Alert] | None] = {}
    new_ids: list[int] = []
    for alert_type in wanted:
        check = CHECKS[alert_type]
        if check not in ran:
            try:
                with engine.connect() as conn:
                    ran[check] = check(conn, now, settings)
            except Exception as exc:  # noqa: BLE001 - one broken check must not silence the others
                log.exception("alert check %s failed", check.__name__)
                ran[check] = None
                summary["errors"][alert_type] = f"{type(exc).__name__}: {exc}"[:300]
        found = ran[check]
        if found is None:
            summary["errors"].setdefault(alert_type, "check failed")
            continue
        mine = [a for a in found if a.type == alert_type]
        try:
            with engine.begin() as conn:
                messages = _apply(conn, alert_type, mine, now, settings)
        except IntegrityError:  # another run updated the same states at the same moment: it tells
            log.warning("alert states of %s changed under this run; left to the other", alert_type)
            continue
        summary["checked"].append(alert_type)
        summary["open"][alert_type] = len(mine)
        for msg in messages:
            stored = _store(engine, msg, settings, now=now, context=context or {})
            if stored is not None:
                new_ids.append(stored)
                summary["messages"][msg.event] += 1
    result = deliver(engine, senders if senders is not None else default_senders(settings), now=now)
    summary["deliveries"] = {status: dict(counts) for status, counts in result.items()}
    summary["messages"] = dict(summary["messages"])
    log.info(
        "alerts: %d open (%s); messages %s; deliveries %s%s",
        sum(summary["open"].values()),
        ", ".join(f"{t} {n}" for t, n in summary["open"].items() if n) or "none",
        summary["messages"] or "none",
        summary["deliveries"] or "none",
        f"; checks failed: {summary['errors']}" if summary["errors"] else "",
    )
    return summary


def raise_event(
    engine: Engine,
    alert: Alert,
    *,
    now: datetime | None = None,
    senders: Mapping[str, Sender | str] | None = None,
    settings: Any = None,
    context: Mapping[str, Any] | None = None,
) -> bool:
    """Store and send a one-off alert (a failed try, a refused cancellation); told once per
    ``alert.instance``. True when it was new. Never raises for the sending."""
    settings = settings or _settings()
    now = now or utcnow()
    stored = _store(engine, _Message(alert, "event", None), settings, now=now, context=context or {})
    if stored is None:
        return False
    try:
        deliver(engine, senders if senders is not None else default_senders(settings), now=now, only=[stored])
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("alert %s/%s stored but not sent", alert.type, alert.key)
    return True


def operator_error(exc: BaseException | None) -> str:
    """An exception as an operator reads it: class and first line, credentials masked, no SQL."""
    if exc is None:
        return "no exception given"
    orig = getattr(exc, "orig", None)  # SQLAlchemy: the database's own message, not the statement
    shown = orig if isinstance(orig, BaseException) else exc
    return f"{type(shown).__name__}: {_short_error(str(shown), 500) or '(no message)'}"


def task_failure(
    engine: Engine,
    *,
    dag_id: str | None,
    task_id: str | None,
    run_id: str | None,
    try_number: int | None,
    max_tries: int | None = None,
    map_index: int | None = None,
    exception: BaseException | None = None,
    message: str | None = None,
    log_url: str | None = None,
    will_retry: bool = False,
    senders: Mapping[str, Sender | str] | None = None,
) -> bool:
    """Every failed try is told: a retried one as ``task_retry`` (warning), the last as ``task_failed``
    (critical). Once per try, however often the notifier runs for it."""
    label = f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")
    error = message or operator_error(exception)
    tries = f"try {try_number}" + (f" of {max_tries + 1}" if max_tries is not None else "")
    if will_retry:
        alert_type, severity = "task_retry", "warning"
        title = f"{label} failed ({tries}); Airflow retries it: {error}"
        action = "Nothing yet if the retry succeeds; if it keeps failing, read the log and the error above."
    else:
        alert_type, severity = "task_failed", "critical"
        title = f"{label} failed ({tries}), no tries left: {error}"
        action = (
            "Read the log; fix the cause (an outside system down: wait for it; refused data: hub quarantine list), "
            "then clear the task in Airflow. Held-back records: hub quarantine list · failed sends: hub ledger list "
            "--status failed."
        )
    alert = Alert(
        alert_type,
        label,
        severity,
        title,
        {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "try": try_number, "error": error, "log": log_url},
        action,
        instance=f"{run_id}#{try_number}",
    )
    return raise_event(engine, alert, senders=senders, context={"dag_id": dag_id, "run_id": run_id, "task_id": task_id})


def notify(
    engine: Engine,
    *,
    kind: str,
    dag_id: str | None,
    run_id: str | None,
    task_id: str | None,
    try_number: int | None,
    message: str,
    log_url: str | None = None,
) -> bool:
    """The former entry point of the failure notifier: a final failure told once per try."""
    return task_failure(
        engine,
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        try_number=try_number,
        message=message,
        log_url=log_url,
        will_retry=kind == "task_retry",
    )
