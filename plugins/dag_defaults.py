"""Defaults every hub DAG shares. Light to import: DAG files load it at parse time."""

from __future__ import annotations

from datetime import timedelta

OWNER = "integration-team"


def default_args(**overrides: object) -> dict[str, object]:
    """``default_args`` with the hub's retry policy and failure notifier."""
    from plugins.hub_alerts import HubAlertNotifier

    args: dict[str, object] = {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
        "on_failure_callback": HubAlertNotifier(),  # the last try
        "on_retry_callback": HubAlertNotifier("task_retry"),  # every try Airflow retries
    }
    args.update(overrides)
    return args


def run_id() -> str:
    """The current task's run id (inside a task)."""
    from airflow.sdk import get_current_context

    return get_current_context()["run_id"]


def engine_and_ledger() -> tuple:
    """The hub database and a ledger whose claims belong to this try of this task (inside a task)."""
    from airflow.sdk import get_current_context

    from flows.connections import hub_engine
    from hub.ledger import Ledger, task_try_owner

    engine = hub_engine()
    return engine, Ledger(engine, owner=task_try_owner(get_current_context()["ti"]))
