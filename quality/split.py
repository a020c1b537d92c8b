"""Split a judged frame into passing rows and quarantine records (DESIGN §3.1, §5).

The unit of quarantine is the record key: when one line of an order breaks a rule, every line with
the same key goes to the quarantine with it, as one record. Accepting the other lines would post a
partial order downstream, and the quarantine holds one row per (stage, source, record key) anyway.
A row without a key gets a key derived from its content, so a re-run updates the same record.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub.quarantine import QuarantineRecord
from quality.gx_runtime import ROW
from quality.spec import Rule, SuiteSpec
from quality.verdicts import Verdict

if TYPE_CHECKING:
    import pandas as pd

ERROR_CLASS = "DataQuality"
# Column widths of the quarantine table: an over-long value must not make the insert fail.
MAX_SOURCE, MAX_KEY = 16, 128
MAX_SENTENCES = 20  # rows described in one quarantine detail


def is_missing(value: Any) -> bool:
    """None, NaN (float or Decimal), pandas' NA or NaT; without importing pandas, on the hot path."""
    if value is None:
        return True
    if isinstance(value, float | Decimal):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType")


def json_safe(value: Any) -> Any:
    """``value`` with only JSON types: NaN → None, Decimal → exact string, times → ISO 8601."""
    if is_missing(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return json_safe(value.item())
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":
        return json_safe(value.tolist())
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def shown(value: Any) -> str:
    """A value as a person reads it in a quarantine detail: numbers plain, text quoted."""
    if is_missing(value):
        return "nothing"
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "(" + ", ".join(shown(v) for v in value) + ")"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _missing_key(row: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(json_safe(row), sort_keys=True, default=str).encode()).hexdigest()
    return f"missing-key:{digest[:16]}"


@dataclass(frozen=True)
class Split:
    quarantined_positions: list[int]
    records: list[QuarantineRecord]


def _finding(verdict: Verdict, value: Any) -> str:
    rule = verdict.rule
    if not isinstance(rule, Rule):
        return f"{rule.text} (got {value})"  # Python checks describe what they saw themselves
    if rule.type == "expect_column_values_to_not_be_null":
        return rule.text  # "(got nothing)" would only repeat the rule
    return f"{rule.text} (got {shown(value)})"


def _sentence(spec: SuiteSpec, label: str, line: Any, findings: Sequence[str]) -> str:
    where = f"{spec.noun} {label}" + (f" line {shown(line)}" if line is not None else "")
    return f"{where}: {'; '.join(findings)}"


def split(
    gate: str,
    spec: SuiteSpec,
    work: pd.DataFrame,
    verdicts: Sequence[Verdict],
    *,
    key: str,
    payload_column: str | None,
    source: str | None,
) -> Split:
    """Quarantine records for the rows that broke a row-level rule, and every row sharing their key."""
    broken: dict[int, list[tuple[Verdict, Any]]] = {}
    for verdict in verdicts:  # suite order, so each row's list starts with its first broken rule
        for pos, value in verdict.rows.items():
            broken.setdefault(pos, []).append((verdict, value))
    if not broken:
        return Split([], [])

    n = len(work)
    keys = work[key].tolist() if key in work.columns else [None] * n
    lines = work[spec.line_column].tolist() if spec.line_column in work.columns else [None] * n
    labels = work[spec.label_column].tolist() if spec.label_column in work.columns else keys
    sources = work["source"].tolist() if "source" in work.columns else [None] * n
    payloads = work[payload_column].tolist() if payload_column and payload_column in work.columns else None

    def needs_row(pos: int) -> bool:
        return payloads is None or not isinstance(payloads[pos], Mapping) or is_missing(keys[pos])

    failing_keys = {keys[pos] for pos in broken if not is_missing(keys[pos])}
    # failing_keys holds no missing key, so a keyless row joins only through its own failure.
    members = [pos for pos in range(n) if pos in broken or keys[pos] in failing_keys]
    # One bulk conversion: row by row, iloc costs tens of microseconds each on a large batch.
    wanted = [pos for pos in members if needs_row(pos)]
    rows = dict(zip(wanted, work.iloc[wanted].drop(columns=[ROW]).to_dict("records"), strict=True))
    group_of = {pos: _missing_key(rows[pos]) if is_missing(keys[pos]) else str(keys[pos]) for pos in members}

    groups: dict[str, list[int]] = {}
    for pos in sorted(group_of):
        groups.setdefault(group_of[pos], []).append(pos)

    order = {name: i for i, name in enumerate(spec.names)}
    records = []
    for record_key, positions in groups.items():
        breaks = [(pos, v, value) for pos in positions for v, value in broken.get(pos, [])]
        names = sorted({v.name for _, v, _ in breaks}, key=order.__getitem__)
        first = min(breaks, key=lambda b: order[b[1].name])[1]
        # One sentence per failing row, naming its line, with every rule the row broke.
        sentences = [
            _sentence(
                spec,
                record_key if is_missing(labels[pos]) else str(labels[pos]),
                None if is_missing(lines[pos]) else lines[pos],
                findings,
            )
            for pos in positions
            if (findings := list(dict.fromkeys(_finding(v, value) for v, value in broken.get(pos, []))))
        ]
        if len(sentences) > MAX_SENTENCES:
            sentences = [*sentences[:MAX_SENTENCES], f"and {len(sentences) - MAX_SENTENCES} more rows"]
        row_source = next((s for s in (sources[p] for p in positions) if isinstance(s, str) and s), None)
        records.append(
            QuarantineRecord(
                stage=gate,
                source=(source or row_source or "unknown")[:MAX_SOURCE],
                record_key=record_key[:MAX_KEY],
                error_class=ERROR_CLASS,
                detail=". ".join(sentences),
                payload=_payload(positions, payloads, rows),
                field=first.rule.field,
                expectations=names,
            )
        )
    return Split(members, records)


def _payload(positions: list[int], payloads: list[Any] | None, rows: Mapping[int, Any]) -> dict[str, Any]:
    """The record as received, for replay: the payload column when it holds a dict, else the row."""
    items = []
    for pos in positions:
        value = payloads[pos] if payloads is not None else None
        items.append(json_safe(value if isinstance(value, Mapping) else rows[pos]))
    distinct = list({json.dumps(i, sort_keys=True): i for i in items}.values())
    # Lines of one order usually carry the same raw order as payload: store it once.
    return distinct[0] if len(distinct) == 1 else {"rows": distinct}
