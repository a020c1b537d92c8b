"""The entry points: :func:`run_checks` (the conditions the checks watch, as the demo and a DAG task
call it), :func:`raise_event` (a one-off: a refused cancellation, a failed task try), and the failure
notifier's :func:`task_failure` (every failed try told once; :func:`notify` is its former name)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from flows.alerting.checks import CHECKS, Check
from flows.alerting.delivery import Sender, default_senders, deliver
from flows.alerting.states import Message, apply, record
from flows.alerting.types import Alert
from flows.alerting.values import aware, current_settings, short_error
from hub.db import utcnow

log = logging.getLogger(__name__)


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
    settings = current_settings(settings)
    now = aware(now)
    wanted = list(types) if types is not None else list(CHECKS)
    summary: dict[str, Any] = {"now": now.isoformat(), "checked": [], "errors": {}, "messages": Counter(), "open": {}}
    ran: dict[Check, list[Alert] | None] = {}
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
                messages = apply(conn, alert_type, mine, now, settings)
        except IntegrityError:  # another run updated the same states at the same moment: it tells
            log.warning("alert states of %s changed under this run; left to the other", alert_type)
            continue
        summary["checked"].append(alert_type)
        summary["open"][alert_type] = len(mine)
        for msg in messages:
            if record(engine, msg, settings, now=now, context=context or {}) is not None:
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
    settings = current_settings(settings)
    now = now or utcnow()
    stored = record(engine, Message(alert, "event", None), settings, now=now, context=context or {})
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
    return f"{type(shown).__name__}: {short_error(str(shown), 500) or '(no message)'}"


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
    retry_delay: timedelta | None = None,
    senders: Mapping[str, Sender | str] | None = None,
) -> bool:
    """Every failed try is told: a retried one as ``task_retry`` (warning), the last as ``task_failed``
    (critical). Once per try, however often the notifier runs for it."""
    label = f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")
    error = message or operator_error(exception)
    tries = f"try {try_number}" + (f" of {max_tries + 1}" if max_tries is not None else "")
    if will_retry:
        alert_type, severity = "task_retry", "warning"
        when = f" in about {max(1, round(retry_delay.total_seconds() / 60))} min" if retry_delay else ""
        title = f"{label} failed ({tries}); Airflow retries it{when}: {error}"
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
