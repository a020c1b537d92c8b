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
