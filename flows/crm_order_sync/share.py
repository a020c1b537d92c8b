"""Step 4, the quarantine share of the run: a CRM whose orders this run mostly quarantined is a broken
feed (master data missing, a mapping gone, a CRM change), not a few bad orders.

Per CRM, from the counts ``accept`` returned (pulled = accepted + quarantined):

- above ``gates.max_quarantine_pct`` of what was pulled: the run fails with an operator message
  (how many, the limit, the most common reason with an example, where to look) and an alert;
- above ``alerts.quarantine_rate_pct``: an alert and a warning in the log; the run stays green;
- either only once the CRM delivered ``gates.min_rows_for_rate`` orders: one bad order in a quiet
  interval is 100 %, not a broken feed.

The sandbox's order books plant one order of every defect kind per CRM on purpose, so a test book of
a hundred orders is 10-20 % bad while the feed itself is healthy: that is an alert, not a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from flows.alerting import Alert, raise_event
from flows.crm_order_sync.stages import CRM_STAGES
from hub.schema import quarantine

log = logging.getLogger(__name__)

ALERT_KIND = "quarantine_share"


class QuarantineShareExceeded(RuntimeError):
    """A CRM's orders were mostly quarantined in this run; the message is for operations."""


@dataclass(frozen=True)
class Verdict:
    source: str
    pulled: int
    quarantined: int
    share: Decimal  # percent of pulled
    level: str  # "ok", "alert" or "fail"
    message: str | None = None


def _pct(value: Decimal) -> str:
    """12.345 → "12.3", 100 → "100", 5.0 → "5"."""
    text = f"{value.quantize(Decimal('0.1'))}"
    return text.removesuffix(".0")


def judge(
    source: str, pulled: int, quarantined: int, *, alert_pct: Decimal, fail_pct: Decimal, min_rows: int
) -> Verdict:
    """The level of one CRM's share (no message yet): pure, for the tests and :func:`check`."""
    share = Decimal(quarantined) * 100 / Decimal(pulled) if pulled else Decimal(0)
    if pulled < min_rows or pulled == 0:
        level = "ok"
    elif share > fail_pct:
        level = "fail"
    elif share > alert_pct:
        level = "alert"
    else:
        level = "ok"
    return Verdict(source, pulled, quarantined, share, level)


def most_common_reason(conn: Connection, source: str, run_id: str) -> tuple[str, int, str] | None:
    """(reason, how many, an example sentence) of the CRM orders this run quarantined, or None."""
    where = (
        quarantine.c.source == source,
        quarantine.c.run_id == run_id,
        quarantine.c.status == "open",
        quarantine.c.stage.in_(CRM_STAGES),
    )
    n = func.count().label("n")
    top = conn.execute(
        select(quarantine.c.stage, quarantine.c.error_class, quarantine.c.field, n)
        .where(*where)
        .group_by(quarantine.c.stage, quarantine.c.error_class, quarantine.c.field)
        .order_by(n.desc(), quarantine.c.stage, quarantine.c.error_class)
        .limit(1)
    ).first()
    if top is None:
        return None
    example = conn.execute(
        select(quarantine.c.detail)
        .where(*where, quarantine.c.stage == top.stage, quarantine.c.error_class == top.error_class)
        .where(quarantine.c.field.is_(None) if top.field is None else quarantine.c.field == top.field)
        .order_by(quarantine.c.id)
        .limit(1)
    ).scalar_one()
    reason = f"{top.stage} · {top.error_class}" + (f"({top.field})" if top.field else "")
    return reason, top.n, example


def message(verdict: Verdict, limit: Decimal, reason: tuple[str, int, str] | None) -> str:
    head = (
        f"{verdict.source}: {verdict.quarantined} of {verdict.pulled} orders quarantined "
        f"({_pct(verdict.share)} %, limit {_pct(limit)} %)"
    )
    if reason is not None:
        what, n, example = reason
        example = example if len(example) <= 200 else example[:199] + "…"
        head += f": most common reason {what}, {n} orders, e.g. {example}"
    return f"{head}; see hub quarantine list --source {verdict.source}"


def check(
    engine: Engine, results: Sequence[Mapping[str, Any]], run_id: str, *, dag_id: str, task_id: str
) -> dict[str, Any]:
    """Judge each CRM's share of this run; record alerts; raise :class:`QuarantineShareExceeded`
    naming every CRM above ``gates.max_quarantine_pct``. Returns the verdicts (for XCom)."""
    from hub.settings import get_settings

    settings = get_settings()
    alert_pct, fail_pct = settings.alerts.quarantine_rate_pct, settings.gates.max_quarantine_pct
    min_rows = settings.gates.min_rows_for_rate
    verdicts, failures = [], []
    for r in results:
        verdict = judge(
            r["source"], r["pulled"], r["quarantined"], alert_pct=alert_pct, fail_pct=fail_pct, min_rows=min_rows
        )
        if verdict.level != "ok":
            with engine.connect() as conn:
                reason = most_common_reason(conn, verdict.source, run_id)
            limit = fail_pct if verdict.level == "fail" else alert_pct
            text = message(verdict, limit, reason)
            raise_event(
                engine,
                Alert(
                    type=ALERT_KIND,
                    key=verdict.source,
                    severity="critical" if verdict.level == "fail" else "warning",
                    title=text,
                    facts={"pulled": verdict.pulled, "quarantined": verdict.quarantined, "limit_pct": str(limit)},
                    action=f"see hub quarantine list --source {verdict.source}",
                    instance=run_id,
                ),
                context={"dag_id": dag_id, "run_id": run_id, "task_id": task_id},
            )
            if verdict.level == "fail":
                log.error("%s", text)
                failures.append(text)
            else:
                log.warning("%s", text)
            verdict = Verdict(**{**verdict.__dict__, "message": text})
        verdicts.append(verdict)
    if failures:
        raise QuarantineShareExceeded("\n".join(failures))
    return {
        "per_crm": [
            {"source": v.source, "share_pct": _pct(v.share), "level": v.level, "message": v.message} for v in verdicts
        ]
    }
