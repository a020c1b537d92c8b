"""The one exception a gate raises: a blocking breach, after the gate result has been recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class GateBreach(Exception):
    """A blocking rule of ``gate`` was breached; the batch must not go on.

    Row-level failures never raise: those rows are quarantined and the rest of the batch passes.
    """

    def __init__(self, gate: str, breaches: Sequence[str], summary: dict[str, Any] | None = None) -> None:
        self.gate = gate
        self.breaches = list(breaches)
        self.summary = summary or {}
        super().__init__(f"gate {gate}: blocking breach: " + "; ".join(self.breaches))
