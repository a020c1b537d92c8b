"""Which checks run, in which order, and how a flow adds its own (:func:`register_check`, e.g. the
replenishment budget of issue 14).

A check reads the hub database at the run's instant and returns the alerts it finds now; one
function may watch several types (it then returns alerts of each)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from flows.alerting.checks_orders import check_backorder_aging, check_credit_limit, check_order_delay
from flows.alerting.checks_pipeline import check_gate_failure, check_ledger, check_quarantine_rate
from flows.alerting.checks_planning import check_budget_cut
from flows.alerting.checks_settlement import check_settlement_deadline
from flows.alerting.checks_stock import check_stock
from flows.alerting.types import ALERT_TYPES, Alert, AlertType

Check = Callable[[Connection, datetime, Any], list[Alert]]
# The order is the order of the run, of its summary and of the messages it stores.
CHECKS: dict[str, Check] = {
    "order_delay": check_order_delay,
    "backorder_aging": check_backorder_aging,
    "low_stock": check_stock,
    "over_stock": check_stock,
    "credit_limit": check_credit_limit,
    "gate_failure": check_gate_failure,
    "quarantine_rate": check_quarantine_rate,
    "ledger_failed": check_ledger,
    "ledger_stuck": check_ledger,
    "settlement_deadline": check_settlement_deadline,
    "budget_cut": check_budget_cut,
}


def register_check(alert_type: str, check: Check, *, meaning: str = "", threshold: str = "") -> None:
    """Add a check (a flow's own condition, e.g. the replenishment budget); it runs with the others."""
    CHECKS[alert_type] = check
    ALERT_TYPES.setdefault(alert_type, AlertType(alert_type, meaning or alert_type, threshold or "see the flow"))
