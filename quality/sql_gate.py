"""The data-quality gate on a database table, validated in the database (DESIGN §5).

A large table is never loaded into pandas to be checked: GX compiles each rule to SQL and only counts
come back. Nothing is quarantined here (the rows already live in the table); the gate records how
many rows broke each rule and raises :class:`GateBreach` when a blocking rule is broken. The table
must be committed before the gate runs: GX reads it through its own connection.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from hub import gate_results
from quality.errors import GateBreach
from quality.spec import Rule, SuiteSpec, row_count_between
from quality.split import MAX_SOURCE, json_safe
from quality.suites import get_suite
from quality.verdicts import Verdict, breach_messages

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["GateBreach", "TableOutcome", "run_table_gate"]

_ROW_COUNT = "expect_table_row_count_to_be_between"


@dataclass(frozen=True)
class TableOutcome:
    evaluated: int
    success: bool
    summary: dict[str, Any]


_augmented: dict[str, tuple[SuiteSpec, SuiteSpec]] = {}


def _with_row_count(name: str, spec: SuiteSpec) -> SuiteSpec:
    # The gate result needs the row count; a suite without a row-count rule gets a neutral one. The
    # copy is kept so the GX suite built from it is reused, not rebuilt on every call.
    if any(isinstance(r, Rule) and r.type == _ROW_COUNT for r in spec.rules):
        return spec
    cached = _augmented.get(name)
    if cached is None or cached[0] is not spec:
        copy = SuiteSpec(
            description=spec.description,
            rules=(*spec.rules, row_count_between(0)),
            noun=spec.noun,
            parameters=spec.parameters,
        )
        cached = _augmented[name] = (spec, copy)
    return cached[1]


# Rules whose values are compared with the column's values, and the kwargs that hold them.
_VALUE_KWARGS = {
    "expect_column_values_to_be_between": ("min_value", "max_value"),
    "expect_column_values_to_be_in_set": ("value_set",),
    "expect_column_values_to_not_be_in_set": ("value_set",),
}
_in_stored_units_cache: dict[tuple[str, str], tuple[SuiteSpec, tuple, SuiteSpec]] = {}


def _in_stored_units(name: str, spec: SuiteSpec, engine_url: str, table_name: str, parameters: Mapping) -> SuiteSpec:
    """``spec`` with the values its rules compare against hub money and quantity columns expressed
    as the database stores them.

    On SQLite those columns hold the amount × 10^scale as an integer (hub/exact.py), so GX, which
    reads the table itself, must compare with 12.5 as 125000 in a NUMERIC(18,4) column: the check
    stays exact and in the database. The rule's text keeps the amounts a person wrote.
    """
    from sqlalchemy.engine import make_url

    from hub.exact import ExactDecimal, stored
    from hub.schema import metadata

    table = metadata.tables.get(table_name)
    if table is None or make_url(engine_url).get_backend_name() != "sqlite":
        return spec
    values = {**spec.parameters, **parameters}

    def resolve(value: Any) -> Any:
        if isinstance(value, Mapping) and "$PARAMETER" in value:
            return values[value["$PARAMETER"]]
        return value

    rules, used = [], []
    for rule in spec.rules:
        column = table.c.get(rule.kwargs.get("column", "")) if isinstance(rule, Rule) else None
        if column is not None and isinstance(column.type, ExactDecimal) and rule.type in _VALUE_KWARGS:
            kwargs = dict(rule.kwargs)
            for kw in _VALUE_KWARGS[rule.type]:
                if kwargs.get(kw) is None:
                    continue
                value = resolve(kwargs[kw])
                used.append(value if not isinstance(value, list) else tuple(value))
                if isinstance(value, list | tuple):
                    kwargs[kw] = [stored(column.type, v, "sqlite") for v in value]
                else:
                    kwargs[kw] = stored(column.type, value, "sqlite")
            rule = replace(rule, kwargs=kwargs, says=rule.text)
        rules.append(rule)
    if not used:
        return spec
    cached = _in_stored_units_cache.get((name, table_name))
    if cached is not None and cached[0] is spec and cached[1] == tuple(used):
        return cached[2]  # the same GX suite is reused (quality.gx_runtime caches by spec identity)
    scaled = replace(spec, rules=tuple(rules))
    _in_stored_units_cache[(name, table_name)] = (spec, tuple(used), scaled)
    return scaled


def _row_count(verdicts: list[Verdict]) -> int:
    for v in verdicts:
        if isinstance(v.rule, Rule) and v.rule.type == _ROW_COUNT and v.observed is not None:
            return int(v.observed)
    return 0  # the count could not be read; the breach of the row-count rule says why


def run_table_gate(
    gate: str,
    engine_url: str,
    table_name: str,
    *,
    conn: Connection,
    run_id: str,
    suite: str | None = None,
    source: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> TableOutcome:
    """Validate ``table_name`` of the database at ``engine_url`` with the suite ``suite`` (default:
    the gate's name), record the result on ``conn`` (the hub database) and return it.

    Every rule of a table suite should be blocking: a broken one raises :class:`GateBreach` after the
    result is committed. ``parameters`` fill ``$PARAMETER`` values (``min_rows``, for example).
    """
    from quality import gx_runtime

    started = time.perf_counter()
    name = suite or gate
    spec = get_suite(name)
    if spec.row_checks or spec.table_checks:
        raise ValueError(f"suite {name!r} has Python checks; a table gate runs GX rules only")
    spec = _with_row_count(name, spec)
    parameters = spec.values(parameters)
    stored_spec = _in_stored_units(name, spec, engine_url, table_name, parameters or {})
    try:
        verdicts = gx_runtime.validate_table(name, stored_spec, engine_url, table_name, parameters)
    except (ConnectionError, SQLAlchemyError) as exc:
        # GX tests the table when it first meets it (TestConnectionError is a ConnectionError). A
        # table that cannot be read is a breach operations must see, not a bare task traceback.
        verdicts = []
        breaches = [f"table {table_name} could not be read: {str(exc).splitlines()[0]}"]
    else:
        breaches = breach_messages(verdicts, {**spec.parameters, **(parameters or {})})
    evaluated = _row_count(verdicts)
    success = not breaches and all(v.success for v in verdicts)
    summary = {
        "suite": name,
        "table": table_name,
        "expectations": {v.name: v.summary() for v in verdicts},
        "breaches": breaches,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    summary = json_safe(summary)  # GX observations may be numpy scalars; the column is JSON
    # Nothing leaves the table, so every row counts as passed; the summary carries what broke.
    gate_results.record(
        conn,
        gate_results.GateResult(
            gate=gate,
            run_id=run_id,
            evaluated=evaluated,
            passed=evaluated,
            quarantined=0,
            success=success,
            blocking_breach=bool(breaches),
            source=source[:MAX_SOURCE] if source else None,
            summary=summary,
        ),
    )
    if breaches:
        conn.commit()
        raise GateBreach(gate, breaches, summary)
    return TableOutcome(evaluated=evaluated, success=success, summary=summary)
