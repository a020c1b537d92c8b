"""Failure notifier for every hub DAG: logs the failure, records it in the alert history and e-mails
operations when ``alerts.email_to`` is set (:mod:`flows.alerting`).

Airflow imports this file from the plugins folder; it also imports as ``plugins.hub_alerts`` from
the installed project, which is how the DAG files reach it.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


class HubAlertNotifier(BaseNotifier):
    """Record a failed task or run in the task log, the hub's ``alerts`` table and operations' inbox."""

    template_fields = ("kind",)

    def __init__(self, kind: str = "task_failed") -> None:
        super().__init__()
        self.kind = kind

    def notify(self, context) -> None:  # noqa: ANN001 - Airflow's Context
        from flows import alerting
        from flows.connections import hub_engine

        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        exception = context.get("exception")
        message = f"{self.kind}: {getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
        if exception is not None:
            message += f": {type(exception).__name__}: {exception}"
        log.error("hub alert %s", message)
        engine = hub_engine()
        try:
            alerting.notify(
                engine,
                kind=self.kind,
                dag_id=getattr(ti, "dag_id", None),
                run_id=getattr(dag_run, "run_id", None),
                task_id=getattr(ti, "task_id", None),
                try_number=getattr(ti, "try_number", None),
                message=message,
                log_url=getattr(ti, "log_url", None),
            )
        finally:
            engine.dispose()
