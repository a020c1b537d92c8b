"""Gate results: one row per gate run with its counts, so operations see pass rates over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert

from hub.db import utcnow
from hub.schema import gate_results


@dataclass(frozen=True)
class GateResult:
    gate: str
    run_id: str
    evaluated: int
    passed: int
    quarantined: int
    success: bool
    blocking_breach: bool
    source: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Counts must balance at every gate (DESIGN §3.1): in = passed + quarantined.
        if self.evaluated != self.passed + self.quarantined:
            raise ValueError(
                f"gate {self.gate}: counts do not balance: {self.evaluated} in ≠ "
                f"{self.passed} passed + {self.quarantined} quarantined"
            )


def record(conn: Connection, result: GateResult) -> None:
    conn.execute(
        insert(gate_results).values(
            gate=result.gate,
            source=result.source,
            run_id=result.run_id,
            evaluated=result.evaluated,
            passed=result.passed,
            quarantined=result.quarantined,
            success=result.success,
            blocking_breach=result.blocking_breach,
            summary=result.summary,
            created_at=utcnow(),
        )
    )
