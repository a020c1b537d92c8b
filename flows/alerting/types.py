"""What an alert is: its severities, the types the hub knows (what each means, what triggers it), and
the ledger target of each channel it can go to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# One ledger target per channel; the checks leave these out of the ledger alerts, since a robot that
# refuses is recorded on the alert message itself.
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
            "materials whose inventory position is at or below the reorder point of their stock policy",
            "on hand + on order - reserved - backordered <= reorder point (inventory_reconciliation's policies); "
            "critical when customers wait for one",
        ),
        AlertType(
            "over_stock",
            "materials whose inventory position is above the over-stock limit of their stock policy",
            "position > the max-stock cap (SAP's maximum stock level), else S plus one order lot",
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
            "a business day SAP billed has no settlement file delivered settlement.deadline_hours after it closed "
            "(02:00 next day); also Airflow's DeadlineAlert on the run",
        ),
        AlertType(
            "budget_cut",
            "the plant's replenishment budget left proposals of the planning week unbought",
            "proposals cut or partly cut by planning.budget in the latest planned week (warning)",
        ),
        AlertType(
            "quarantine_share",
            "a CRM run quarantined more than the settings allow of what it pulled (a broken feed fails the run)",
            "share > alerts.quarantine_rate_pct (warning), > gates.max_quarantine_pct (critical, the run fails); "
            "at least gates.min_rows_for_rate orders",
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
