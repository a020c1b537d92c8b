"""What each rule of a suite found in one batch, whichever engine judged it (GX or Python).

The gate turns verdicts into quarantine rows, a gate-result summary and, for blocking rules, the
message of :class:`quality.errors.GateBreach`. Summaries carry counts and findings, never rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from string import Template
from typing import Any

from quality.spec import AnyRule, Rule

# Enough findings to act on without bloating the gate_results row.
SUMMARY_FINDINGS = 10


@dataclass(frozen=True)
class Verdict:
    rule: AnyRule
    success: bool
    unexpected_count: int = 0
    rows: Mapping[int, Any] = dc_field(default_factory=dict)  # row position → value that broke the rule
    problems: Sequence[str] = ()  # findings of whole-batch rules, one sentence each
    error: str | None = None  # why the rule could not be evaluated at all
    observed: Any = None

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def breached(self) -> bool:
        """True when this verdict must stop the batch.

        A rule that could not be evaluated breaches whatever its flag: the rows it should have
        judged would otherwise pass unchecked.
        """
        return self.error is not None or (self.rule.blocking and not self.success)

    def breach_message(self) -> str:
        if self.error is not None:
            return f"{self.name} could not be evaluated: {self.error}"
        text = f"{self.name}: {self.rule.text}"
        if self.problems:
            shown = "; ".join(self.problems[:5])
            more = len(self.problems) - 5
            return f"{text}: {shown}" + (f"; and {more} more" if more > 0 else "")
        if isinstance(self.rule, Rule) and not self.rule.row_level:
            return f"{text} ({_describe_observed(self.rule, self.observed)})"
        return f"{text}: broken by {self.unexpected_count} rows"

    def summary(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "blocking": self.rule.blocking,
        }
        if self.error is not None:
            entry["error"] = self.error
        if self.problems:
            entry["findings"] = list(self.problems[:SUMMARY_FINDINGS])
        if self.observed is not None and not (isinstance(self.rule, Rule) and self.rule.row_level):
            entry["observed"] = self.observed
        return entry


def _describe_observed(rule: Rule, observed: Any) -> str:
    if rule.type == "expect_table_columns_to_match_set" and isinstance(observed, Mapping):
        return f"missing: {', '.join(observed.get('missing') or []) or 'none'}"
    return f"got {observed}"


def breach_messages(verdicts: Sequence[Verdict], parameters: Mapping[str, Any] | None = None) -> list[str]:
    """One message per breached rule, with ``$PARAMETER`` names replaced by this run's values.

    Rules that errored beside a judged breach (a missing column makes every rule on it error) are
    folded into one line: the judged breach already says why.
    """
    breached = [v for v in verdicts if v.breached]
    judged = [v.breach_message() for v in breached if v.error is None]
    errored = [v for v in breached if v.error is not None]
    if errored and judged:
        messages = [*judged, f"{len(errored)} rules could not be evaluated: {', '.join(v.name for v in errored)}"]
    else:
        messages = judged + [v.breach_message() for v in errored]
    values = {k: str(v) for k, v in (parameters or {}).items()}
    return [Template(m).safe_substitute(values) for m in messages]
