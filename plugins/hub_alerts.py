"""Failure notifier for every hub DAG: each failed try is logged, recorded in the alert history and
sent to operations through :mod:`flows.alerting` (e-mail, WeCom, DingTalk, webhook, as the settings
route ``task_retry`` and ``task_failed``).

``plugins.dag_defaults`` sets it twice: ``on_retry_callback=HubAlertNotifier("task_retry")`` for a try
Airflow will retry (warning), ``on_failure_callback=HubAlertNotifier()`` for the last one (critical), so
every failed try is told, not only the last, and each once (its message id holds the run and try).

Airflow imports this file from the plugins folder; it also imports as ``plugins.hub_alerts`` from
the installed project, which is how the DAG files reach it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


class HubAlertNotifier(BaseNotifier):
    """Tell operations about a failed task try (``kind`` ``task_failed`` or ``task_retry``)."""

    template_fields = ("kind",)

    def __init__(self, kind: str = "task_failed") -> None:
        super().__init__()
        if kind not in ("task_failed", "task_retry"):
            raise ValueError(f"kind must be task_failed or task_retry, not {kind!r}")
        self.kind = kind

    def notify(self, context) -> None:  # noqa: ANN001 - Airflow's Context
        from flows import alerting
        from flows.connections import hub_engine

        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        exception = context.get("exception")
        dag_id, task_id = getattr(ti, "dag_id", None), getattr(ti, "task_id", None)
        log.error("hub alert %s: %s.%s: %s", self.kind, dag_id, task_id, alerting.operator_error(exception))
        try:
            engine = hub_engine()
        except Exception:  # noqa: BLE001 - a notifier that fails would hide the failure it reports
            log.exception("hub alert %s: the hub database is unreachable; logged only", self.kind)
            return
        try:
            alerting.task_failure(
                engine,
                dag_id=dag_id,
                task_id=task_id,
                run_id=getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None),
                try_number=getattr(ti, "try_number", None),
                max_tries=_int_or_none(getattr(ti, "max_tries", None)),
                map_index=_int_or_none(getattr(ti, "map_index", None)),
                exception=exception,
                log_url=getattr(ti, "log_url", None),
                will_retry=self.kind == "task_retry",
                retry_delay=_delay(context.get("task")),
            )
        except Exception:  # noqa: BLE001 - see above
            log.exception("hub alert %s not recorded", self.kind)
        finally:
            engine.dispose()


def _delay(task: object) -> timedelta | None:
    """The task's retry delay (Airflow may back off beyond it: "about")."""
    delay = getattr(task, "retry_delay", None)
    return delay if isinstance(delay, timedelta) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
