"""The one Great Expectations context of this process, and the translation of GX results to verdicts.

Importing GX costs 3-4 s and the first validation of a gate about 0.3 s more (datasource, asset and
suite objects); a process pays both once and every later gate call reuses them. The context is
ephemeral (DESIGN §7: GX Core used directly, no file context shared between parallel tasks) and
holds no results, so nothing leaks from one gate to the next. GX is imported here, inside functions,
so importing :mod:`quality` stays cheap.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from quality.spec import Rule, SuiteSpec
from quality.verdicts import Verdict

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context import AbstractDataContext

ROW = "__gate_row__"  # position column added to the frame so failing rows map back exactly

_lock = threading.RLock()
_context: AbstractDataContext | None = None
_suites: dict[str, tuple[SuiteSpec, ExpectationSuite]] = {}


def context() -> AbstractDataContext:
    """The process-wide ephemeral GX context, created on first use."""
    global _context
    with _lock:
        if _context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            # Progress bars go to stderr on every validation: noise in task logs.
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            _context = ctx
        return _context


def _suite(gate: str, spec: SuiteSpec) -> ExpectationSuite:
    cached = _suites.get(gate)
    if cached is not None and cached[0] is spec:
        return cached[1]
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=gate, expectations=[rule.build() for rule in spec.rules])
    _suites[gate] = (spec, suite)
    return suite


def _get_or_add(collection: Any, name: str, add: Any) -> Any:
    try:
        return collection.get(name)
    except (KeyError, LookupError, ValueError):
        return add()


def _frame_batch_definition(gate: str) -> Any:
    ctx = context()
    source = _get_or_add(ctx.data_sources, "hub_frames", lambda: ctx.data_sources.add_pandas("hub_frames"))
    asset = next((a for a in source.assets if a.name == gate), None) or source.add_dataframe_asset(gate)
    return next(
        (b for b in asset.batch_definitions if b.name == "whole"), None
    ) or asset.add_batch_definition_whole_dataframe("whole")


def _result_format(index_columns: Sequence[str]) -> dict[str, Any]:
    if not index_columns:
        # In the database nothing is quarantined: counts are enough, and SUMMARY keeps results small.
        return {"result_format": "SUMMARY", "partial_unexpected_count": 0}
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": list(index_columns),
        # The index list names every failing row; a partial sample would only repeat part of it.
        "partial_unexpected_count": 0,
        "include_unexpected_rows": False,
        "return_unexpected_index_query": False,
    }


def validate_frame(
    gate: str,
    spec: SuiteSpec,
    frame: pd.DataFrame,
    index_columns: Sequence[str],
    parameters: Mapping[str, Any] | None = None,
) -> list[Verdict]:
    """Run the GX rules of ``spec`` on ``frame`` (which must hold the :data:`ROW` column)."""
    if not spec.rules:
        return []
    with _lock:
        batch = _frame_batch_definition(gate).get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            _suite(gate, spec),
            expectation_parameters={**spec.parameters, **(parameters or {})},
            result_format=_result_format(index_columns),
        )
    return _verdicts(spec, result, rows_expected=True)


def validate_table(
    gate: str,
    spec: SuiteSpec,
    engine_url: str,
    table_name: str,
    parameters: Mapping[str, Any] | None = None,
) -> list[Verdict]:
    """Run the GX rules of ``spec`` inside the database on ``table_name`` (whole table)."""
    # The name must be stable per database but must not show the URL: it may hold a password.
    source_name = "hub_sql_" + hashlib.sha256(engine_url.encode()).hexdigest()[:16]
    with _lock:
        ctx = context()
        source = _get_or_add(ctx.data_sources, source_name, lambda: _add_sql_source(source_name, engine_url))
        asset = next((a for a in source.assets if a.name == table_name), None) or source.add_table_asset(
            name=table_name, table_name=table_name
        )
        definition = next(
            (b for b in asset.batch_definitions if b.name == "whole"), None
        ) or asset.add_batch_definition_whole_table("whole")
        result = definition.get_batch().validate(
            _suite(gate, spec),
            expectation_parameters={**spec.parameters, **(parameters or {})},
            result_format=_result_format(()),
        )
    return _verdicts(spec, result, rows_expected=False)


def _add_sql_source(name: str, engine_url: str) -> Any:
    import warnings

    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    # NullPool: connections close after each validation, so no idle session outlives the gate (it
    # would block DROP DATABASE on PostgreSQL). GX pins SQLite to one static connection itself.
    kwargs = {} if make_url(engine_url).get_backend_name() == "sqlite" else {"poolclass": NullPool}
    with warnings.catch_warnings():
        # The generic SQL datasource is chosen on purpose: one code path for SQLite and PostgreSQL.
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        return context().data_sources.add_sql(name=name, connection_string=engine_url, kwargs=kwargs)


def _error(exception_info: Mapping[str, Any] | None) -> str | None:
    # GX reports an exception either flat or keyed by the metric that raised it.
    if not exception_info:
        return None
    if "raised_exception" in exception_info:
        infos: list[Any] = [exception_info]
    else:
        infos = [v for v in exception_info.values() if isinstance(v, Mapping)]
    for info in infos:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "unknown error").strip()
    return None


def _row_values(rule: Rule, index_list: Sequence[Mapping[str, Any]]) -> dict[int, Any]:
    columns = rule.columns
    rows: dict[int, Any] = {}
    for entry in index_list:
        values = tuple(entry.get(c) for c in columns)
        rows[int(entry[ROW])] = values[0] if len(values) == 1 else values
    return rows


def _verdicts(spec: SuiteSpec, validation: Any, *, rows_expected: bool) -> list[Verdict]:
    by_name = {rule.name: rule for rule in spec.rules}
    found: dict[str, Verdict] = {}
    for res in validation.results:
        rule = by_name[res.expectation_config.meta["hub_rule"]]
        error = _error(res.exception_info)
        result = res.result or {}
        rows = _row_values(rule, result.get("unexpected_index_list") or []) if rule.row_level else {}
        observed = result.get("observed_value")
        if rule.type == "expect_table_columns_to_match_set":
            mismatched = (result.get("details") or {}).get("mismatched") or {}
            observed = {"missing": sorted(mismatched.get("missing") or [])}
        count = result.get("unexpected_count")
        if count is None:
            count = 0 if res.success else 1
        if rows_expected and rule.row_level and error is None and count > len(rows):
            # Rows GX counted but did not name could be neither quarantined nor passed safely.
            error = f"{count} rows broke it but GX named only {len(rows)} of them"
        found[rule.name] = Verdict(
            rule=rule,
            success=bool(res.success) and error is None,
            unexpected_count=int(count),
            rows=rows,
            error=error,
            observed=observed,
        )
    # Keep the suite's order: it decides which broken rule names a quarantined record's field. A rule
    # without a result was never judged, and that must block rather than pass its rows unchecked.
    unjudged = "GX returned no result for this rule"
    return [found.get(r.name) or Verdict(r, success=False, error=unjudged) for r in spec.rules]
