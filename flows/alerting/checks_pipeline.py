"""Checks on the hub's own machinery: data-quality gates that failed, runs that quarantined too much,
ledger messages that failed or hang past their lease."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select

from flows.alerting.types import ALERT_TARGETS, Alert
from flows.alerting.values import DETAIL_LINES, aware, short_error
from hub.db import utcnow
from hub.schema import crm_inbox, gate_results, ledger


def _latest_gate_rows(conn: Connection) -> list:
    latest = (
        select(func.max(gate_results.c.id).label("id")).group_by(gate_results.c.gate, gate_results.c.source).subquery()
    )
    return conn.execute(select(gate_results).join(latest, latest.c.id == gate_results.c.id)).all()


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


def _crm_intake_runs(conn: Connection) -> list[tuple[str, str, str, int, int]]:
    """The latest CRM pull of each source: orders pulled vs quarantined."""
    latest_runs = (
        select(crm_inbox.c.source, func.max(crm_inbox.c.updated_at).label("at")).group_by(crm_inbox.c.source).subquery()
    )
    runs = conn.execute(
        select(crm_inbox.c.source, crm_inbox.c.run_id)
        .join(latest_runs, and_(latest_runs.c.source == crm_inbox.c.source, latest_runs.c.at == crm_inbox.c.updated_at))
        .distinct()
    ).all()
    measured = []
    for source, run_id in runs:
        counts = conn.execute(
            select(crm_inbox.c.stage, func.count())
            .where(crm_inbox.c.source == source, crm_inbox.c.run_id == run_id)
            .group_by(crm_inbox.c.stage)
        ).all()
        total = sum(n for _, n in counts)
        quarantined = sum(n for stage, n in counts if stage == "quarantined")
        measured.append(("crm_intake", source, run_id, total, quarantined))
    return measured


def check_quarantine_rate(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """The latest run of each stage and source: the CRM intake (orders pulled vs quarantined) and every gate."""
    threshold, minimum = settings.alerts.quarantine_rate_pct, settings.gates.min_rows_for_rate
    measured: list[tuple[str, str, str, int, int]] = [  # stage, source, run, evaluated, quarantined
        (r.gate, r.source or "-", r.run_id, r.evaluated, r.quarantined) for r in _latest_gate_rows(conn)
    ]
    measured += _crm_intake_runs(conn)
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
                    "oldest_failed_at": aware(oldest),
                    "last_error": short_error(last_error),
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
                {"target": target, "stuck": count, "lease_expired_at": aware(since)},
                "The owning flow's next run asks the system whether they arrived and sends the rest; if it does "
                f"not run, trigger it. hub ledger list --target {target} --status in_flight lists them.",
            )
        )
    return found
