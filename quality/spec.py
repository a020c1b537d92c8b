"""How a gate's suite is declared (DESIGN §5): rules in code, built into GX objects only when a gate runs.

A suite holds three kinds of rule, all named the same way (``expect_…(column)``) so the quarantine
and the gate results read alike whichever kind a record broke:

- :class:`Rule`: one Great Expectations expectation, given by its type and kwargs;
- :class:`RowCheck`: a per-row rule GX cannot express (cross-column arithmetic), run in Python by
  the same gate and quarantining by key exactly like an expectation;
- :class:`TableCheck`: a whole-batch rule GX cannot express (control totals per order).

Nothing here imports GX or pandas, so the registry can be read (names, fields, blocking flags) at
DAG-parse time for free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation

# Map expectations evaluate each row and report the failing ones; everything else judges the batch.
_ROW_LEVEL_PREFIXES = (
    "expect_column_values_",
    "expect_column_pair_values_",
    "expect_compound_columns_",
    "expect_multicolumn_",
    "expect_select_column_values_",
)


def _param(value: Any) -> str:
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return f"${value['$PARAMETER']}"
    return str(value)


def _bounds_text(kwargs: Mapping[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    lo_op = ">" if kwargs.get("strict_min") else "≥"
    hi_op = "<" if kwargs.get("strict_max") else "≤"
    if low is not None and high is not None:
        return f"must be {lo_op} {_param(low)} and {hi_op} {_param(high)}"
    if low is not None:
        return f"must be {lo_op} {_param(low)}"
    if high is not None:
        return f"must be {hi_op} {_param(high)}"
    return "has no bounds"


@dataclass(frozen=True)
class Rule:
    """One GX expectation: ``type`` is its snake_case name, ``kwargs`` its arguments.

    ``says`` is the rule in words for quarantine details and breach messages; a sensible sentence is
    derived from the type when it is left out. ``fix`` names the one column a person corrects when a
    multi-column rule breaks (the line number, not the whole compound key); it becomes the
    quarantine's ``field``.
    """

    type: str
    kwargs: Mapping[str, Any] = dc_field(default_factory=dict)
    blocking: bool = False
    says: str | None = None
    fix: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        kw = self.kwargs
        if "column" in kw:
            return (kw["column"],)
        if "column_list" in kw:
            return tuple(kw["column_list"])
        if "column_A" in kw:
            return (kw["column_A"], kw["column_B"])
        return ()

    @property
    def field(self) -> str | None:
        return self.fix or ",".join(self.columns) or None

    @property
    def name(self) -> str:
        joined = ",".join(self.columns)
        return f"{self.type}({joined})" if joined else self.type

    @property
    def row_level(self) -> bool:
        return self.type.startswith(_ROW_LEVEL_PREFIXES)

    @property
    def text(self) -> str:
        if self.says:
            return self.says
        kw, subject = self.kwargs, self.field or "table"
        match self.type:
            case "expect_column_values_to_not_be_null":
                return f"{subject} must not be empty"
            case "expect_column_values_to_be_between":
                return f"{subject} {_bounds_text(kw)}"
            case "expect_column_values_to_be_in_set":
                return f"{subject} must be one of {', '.join(map(str, kw['value_set']))}"
            case "expect_column_values_to_match_regex":
                return f"{subject} must match {kw['regex']}"
            case "expect_column_values_to_be_unique":
                return f"{subject} must be unique"
            case "expect_compound_columns_to_be_unique":
                return f"({', '.join(self.columns)}) must be unique"
            case "expect_table_columns_to_match_set":
                return "required columns must be present"
            case "expect_table_row_count_to_be_between":
                return f"row count {_bounds_text(kw)}"
            case "expect_table_row_count_to_equal":
                return f"row count must equal {_param(kw['value'])}"
        return f"{subject} must satisfy {self.type}"

    def build(self) -> Expectation:
        """The GX expectation object (imports GX: call only when validating)."""
        import great_expectations.expectations as gxe

        class_name = "".join(part.capitalize() for part in self.type.split("_"))
        try:
            cls = getattr(gxe, class_name)
        except AttributeError:
            raise ValueError(f"rule {self.name}: GX has no expectation {class_name}") from None
        # The name travels in meta so each result maps back to its rule whatever order GX returns.
        return cls(**dict(self.kwargs), meta={"hub_rule": self.name})


@dataclass(frozen=True)
class RowCheck:
    """A per-row rule in Python. ``find(frame)`` returns {row position: what was observed} for the
    rows that break it; the frame it gets has a RangeIndex, so positions are index labels."""

    type: str
    column: str
    find: Callable[[pd.DataFrame], Mapping[int, str]]
    says: str
    blocking: bool = False

    @property
    def field(self) -> str:
        return self.column

    @property
    def name(self) -> str:
        return f"{self.type}({self.column})"

    @property
    def text(self) -> str:
        return self.says


@dataclass(frozen=True)
class TableCheck:
    """A whole-batch rule in Python. ``find(frame, key)`` returns one sentence per problem (naming
    the record key), an empty list when the batch is sound."""

    type: str
    column: str | None
    find: Callable[[pd.DataFrame, str], Sequence[str]]
    says: str
    blocking: bool = True

    @property
    def field(self) -> str | None:
        return self.column

    @property
    def name(self) -> str:
        return f"{self.type}({self.column})" if self.column else self.type

    @property
    def text(self) -> str:
        return self.says


AnyRule = Rule | RowCheck | TableCheck


@dataclass(frozen=True)
class SuiteSpec:
    """The suite of one gate.

    ``noun``, ``label_column`` and ``line_column`` shape quarantine details ("order SO-1 line 2: …"):
    the label is what a person knows the record by (the order number), the key when it is missing;
    ``parameters`` are defaults for ``{"$PARAMETER": name}`` values in rule kwargs, which a caller
    may override per run (an expected row count, for example).
    """

    description: str
    rules: tuple[Rule, ...]
    row_checks: tuple[RowCheck, ...] = ()
    table_checks: tuple[TableCheck, ...] = ()
    noun: str = "record"
    label_column: str | None = None
    line_column: str | None = None
    parameters: Mapping[str, Any] = dc_field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [r.name for r in self.all_rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            # Results, summaries and quarantine rows are keyed by name: two rules may not share one.
            raise ValueError(f"suite has rules with the same name: {', '.join(duplicates)}")

    def values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """This run's ``$PARAMETER`` values: the defaults, a callable default called now, then ``overrides``."""
        defaults = {k: v() if callable(v) else v for k, v in self.parameters.items() if k not in (overrides or {})}
        return {**defaults, **(overrides or {})}

    @property
    def all_rules(self) -> tuple[AnyRule, ...]:
        """Every rule in evaluation order; the order decides which broken rule names a record's field."""
        return (*self.rules, *self.row_checks, *self.table_checks)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.all_rules]

    @property
    def blocking(self) -> list[str]:
        return [r.name for r in self.all_rules if r.blocking]


# Small constructors so suites read like the data contract they are.


def not_null(*columns: str, blocking: bool = False) -> tuple[Rule, ...]:
    return tuple(Rule("expect_column_values_to_not_be_null", {"column": c}, blocking) for c in columns)


def between(
    column: str,
    min_value: Any = None,
    max_value: Any = None,
    *,
    strict_min: bool = False,
    strict_max: bool = False,
    blocking: bool = False,
    says: str | None = None,
) -> Rule:
    kwargs: dict[str, Any] = {"column": column}
    if min_value is not None:
        kwargs |= {"min_value": min_value, "strict_min": strict_min}
    if max_value is not None:
        kwargs |= {"max_value": max_value, "strict_max": strict_max}
    return Rule("expect_column_values_to_be_between", kwargs, blocking, says)


def in_set(
    column: str, values: Sequence[Any] | Mapping[str, str], *, blocking: bool = False, says: str | None = None
) -> Rule:
    """``values``: the set, or ``{"$PARAMETER": name}`` for a set given per run (or by the suite's default)."""
    value_set = dict(values) if isinstance(values, Mapping) else list(values)
    return Rule("expect_column_values_to_be_in_set", {"column": column, "value_set": value_set}, blocking, says)


def matches(column: str, regex: str, *, blocking: bool = False, says: str | None = None) -> Rule:
    return Rule("expect_column_values_to_match_regex", {"column": column, "regex": regex}, blocking, says)


def unique_together(*columns: str, blocking: bool = False, says: str | None = None, fix: str | None = None) -> Rule:
    return Rule("expect_compound_columns_to_be_unique", {"column_list": list(columns)}, blocking, says, fix)


def equal_columns(column_a: str, column_b: str, *, blocking: bool = False, says: str | None = None) -> Rule:
    """``column_a`` must equal ``column_b`` row by row; ``column_a`` is the one to fix."""
    kwargs = {"column_A": column_a, "column_B": column_b}
    return Rule("expect_column_pair_values_to_be_equal", kwargs, blocking, says, fix=column_a)


def columns_present(*columns: str) -> Rule:
    # Blocking by nature: without the column no rule on it can run, so no row can be judged.
    return Rule("expect_table_columns_to_match_set", {"column_set": list(columns), "exact_match": False}, True)


def row_count_between(min_value: Any = None, max_value: Any = None, *, says: str | None = None) -> Rule:
    kwargs = {k: v for k, v in (("min_value", min_value), ("max_value", max_value)) if v is not None}
    return Rule("expect_table_row_count_to_be_between", kwargs, True, says)
