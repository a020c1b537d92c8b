"""The data-quality gate on a frame: judge, split, quarantine, record, and block only when it must.

``run_gate`` is what a task calls (DESIGN §5): the passing rows go on, each failing record goes to
the quarantine with the rules it broke, the counts are recorded in ``gate_results``, and only a
blocking breach (a blocking rule broken, a rule that could not be evaluated, or too large a share of
the batch quarantined) raises :class:`GateBreach`, after the result has been committed.
``evaluate`` is the same judgement without the database.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub import gate_results, quarantine
from quality.errors import GateBreach
from quality.spec import RowCheck, SuiteSpec
from quality.split import MAX_SOURCE, Split, json_safe, split
from quality.suites import get_suite
from quality.verdicts import Verdict, breach_messages

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Connection

__all__ = ["Evaluation", "GateBreach", "GateOutcome", "evaluate", "run_gate"]


@dataclass(frozen=True)
class GateOutcome:
    passed: pd.DataFrame
    quarantined: int
    evaluated: int
    success: bool
    summary: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """A frame judged by a suite: the verdicts, the rows to quarantine and the blocking breaches."""

    gate: str
    evaluated: int
    verdicts: list[Verdict]
    split: Split
    breaches: list[str]

    @property
    def quarantined(self) -> int:
        return len(self.split.quarantined_positions)

    @property
    def success(self) -> bool:
        return not self.breaches and all(v.success for v in self.verdicts)


def _run_python_checks(spec: SuiteSpec, work: pd.DataFrame, key: str) -> list[Verdict]:
    verdicts = []
    for check in (*spec.row_checks, *spec.table_checks):
        try:
            if isinstance(check, RowCheck):
                rows = dict(check.find(work))
                verdicts.append(Verdict(check, success=not rows, unexpected_count=len(rows), rows=rows))
            else:
                problems = list(check.find(work, key))
                verdicts.append(Verdict(check, success=not problems, unexpected_count=len(problems), problems=problems))
        except Exception as exc:  # noqa: BLE001 - a check that cannot run must block, not pass rows unchecked
            verdicts.append(Verdict(check, success=False, error=f"{type(exc).__name__}: {exc}"))
    return verdicts


def evaluate(
    gate: str,
    frame: pd.DataFrame,
    *,
    key: str = "record_key",
    payload_column: str | None = "payload",
    source: str | None = None,
    max_quarantine_pct: Decimal | float | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Judge ``frame`` with the suite ``gate``; touches no database."""
    import numpy as np

    from quality import gx_runtime

    spec = get_suite(gate)
    parameters = spec.values(parameters)
    n = len(frame)
    if n == 0:
        # Nothing to judge: GX is not called, so an empty interval costs milliseconds.
        return Evaluation(gate=gate, evaluated=0, verdicts=[], split=Split([], []), breaches=[])
    # Positions, not index labels, tie GX's findings to rows: labels may repeat or be missing.
    work = frame.reset_index(drop=True).assign(**{gx_runtime.ROW: np.arange(n)})
    index_columns = [key, gx_runtime.ROW] if key in work.columns else [gx_runtime.ROW]
    verdicts = gx_runtime.validate_frame(gate, spec, work, index_columns, parameters)
    verdicts += _run_python_checks(spec, work, key)
    parts = split(gate, spec, work, verdicts, key=key, payload_column=payload_column, source=source)
    breaches = breach_messages(verdicts, {**spec.parameters, **(parameters or {})})
    limit = _limit(max_quarantine_pct)
    share = _share(len(parts.quarantined_positions), n)
    # A share says little about a handful of rows: one bad order in a quiet interval is 100 %.
    # The settings' limit waits for gates.min_rows_for_rate rows; an explicit limit always applies.
    large_enough = max_quarantine_pct is not None or n >= _min_rows_for_rate()
    if large_enough and share > limit:
        breaches.append(
            f"{len(parts.quarantined_positions)} of {n} rows quarantined ({share:.1f} %), "
            f"more than max_quarantine_pct {limit} %"
        )
    return Evaluation(gate=gate, evaluated=n, verdicts=verdicts, split=parts, breaches=breaches)


def _limit(override: Decimal | float | None) -> Decimal:
    if override is not None:
        return Decimal(str(override))
    from hub.settings import get_settings

    return get_settings().gates.max_quarantine_pct


def _min_rows_for_rate() -> int:
    from hub.settings import get_settings

    return get_settings().gates.min_rows_for_rate


def _share(quarantined: int, evaluated: int) -> Decimal:
    return Decimal(quarantined) * 100 / Decimal(evaluated) if evaluated else Decimal(0)


def _summary(gate: str, evaluation: Evaluation, limit: Decimal, started: float) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "suite": gate,
        "expectations": {v.name: v.summary() for v in evaluation.verdicts},
        "quarantined_records": len(evaluation.split.records),
        "quarantine_pct": round(float(_share(evaluation.quarantined, evaluation.evaluated)), 3),
        "max_quarantine_pct": float(limit),
        "breaches": evaluation.breaches,
    }
    if not evaluation.evaluated:
        summary["note"] = "empty batch: nothing to validate"
    summary["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    # GX observations may be numpy scalars; the summary goes to a JSON column and to XCom.
    return json_safe(summary)


def _source(frame: pd.DataFrame, source: str | None) -> str | None:
    if source is None and "source" in frame.columns:
        # One CRM per batch is the common case; naming it lets operations see pass rates per source.
        values = frame["source"].dropna().unique()
        source = str(values[0]) if len(values) == 1 else None
    return source[:MAX_SOURCE] if source else None


def run_gate(
    gate: str,
    frame: pd.DataFrame,
    *,
    conn: Connection,
    run_id: str,
    source: str | None = None,
    key: str = "record_key",
    payload_column: str | None = "payload",
    max_quarantine_pct: Decimal | float | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> GateOutcome:
    """Run the suite ``gate`` on ``frame``; quarantine failing records, record the result, return the rest.

    ``key`` names the record-key column (the unit of quarantine); ``payload_column`` the column
    holding each record as received (a dict), stored for replay; without it the row itself is
    stored. ``max_quarantine_pct`` overrides ``gates.max_quarantine_pct`` of the settings;
    ``parameters`` fill ``$PARAMETER`` values of the suite.

    On a blocking breach the quarantine rows and the gate result are committed on ``conn`` before
    :class:`GateBreach` is raised, so operations see them although the task fails.
    """
    started = time.perf_counter()
    limit = _limit(max_quarantine_pct)
    evaluation = evaluate(
        gate,
        frame,
        key=key,
        payload_column=payload_column,
        source=source,
        max_quarantine_pct=max_quarantine_pct,
        parameters=parameters,
    )
    quarantine.add(conn, evaluation.split.records, run_id)
    summary = _summary(gate, evaluation, limit, started)
    gate_results.record(
        conn,
        gate_results.GateResult(
            gate=gate,
            run_id=run_id,
            evaluated=evaluation.evaluated,
            passed=evaluation.evaluated - evaluation.quarantined,
            quarantined=evaluation.quarantined,
            success=evaluation.success,
            blocking_breach=bool(evaluation.breaches),
            source=_source(frame, source),
            summary=summary,
        ),
    )
    if evaluation.breaches:
        # The task is about to fail and its transaction would roll back: keep the evidence.
        conn.commit()
        raise GateBreach(gate, evaluation.breaches, summary)

    import numpy as np

    keep = np.ones(len(frame), dtype=bool)
    keep[evaluation.split.quarantined_positions] = False
    return GateOutcome(
        passed=frame[keep],
        quarantined=evaluation.quarantined,
        evaluated=evaluation.evaluated,
        success=evaluation.success,
        summary=summary,
    )
