"""Exact money and quantity columns on every database the hub runs on (DESIGN §3.3).

SQLite has no decimal type: a column declared NUMERIC keeps a binary float, so 19.99995 read back
as 19.9999 (PostgreSQL: 20.0000), 99999999999999.9999 as 100000000000000.0000, and an equality
filter on an amount found nothing. :class:`ExactDecimal` keeps NUMERIC(p, s) on PostgreSQL and
stores the value × 10^s as an INTEGER on SQLite ("minor units" of the column's scale). Integers are
exact in SQLite up to 2^63 (18 digits fit), and unlike TEXT they compare, sort, filter by equality
and ``SUM`` as numbers. Python sees :class:`~decimal.Decimal` quantised to the scale on both.

What holds, on both databases alike:

- A value is rounded to the column's scale half away from zero (``ROUND_HALF_UP``), which is what
  PostgreSQL does when it stores a NUMERIC: the same input gives the same stored amount whichever
  database or write path (Core statement, or the COPY of :mod:`hub.bulk`) it takes. Refusing extra
  places instead would make SQLite stricter than PostgreSQL's COPY; callers that care about the
  rounding (money, tax) quantise before writing (transforms/money.py).
- A value that does not fit the precision (too many digits before the point, also after rounding),
  NaN, infinity, a float or anything that is not a number is refused with a ValueError/TypeError
  naming the value and the column type, never stored rounded or truncated.
- Literals compared with a column (``col == Decimal("12.5")``) are bound through the same type, so
  equality filters and range conditions are exact; ``func.sum(col)`` and ``func.coalesce(col, 0)``
  take the column's type and come back as exact Decimals. ``+``/``-`` between columns of one scale
  are exact too. ``*``, ``/``, ``//`` and ``%`` on a column in SQL are refused when the statement
  is built (on SQLite they would work on the scaled integers), and a float read back (``avg``) is
  refused: compute those in Python.

Raw SQL that reads these columns on SQLite sees the scaled integers: read through the table objects
of :mod:`hub.schema`, or use :func:`stored` to scale a bound (quality/sql_gate.py does).
"""

from __future__ import annotations

import operator
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from numbers import Integral
from typing import Any

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Wide enough to quantise any value that passed the precision check without an InvalidOperation.
_CONTEXT = Context(prec=60)


def _stores_integers(dialect: Dialect) -> bool:
    return dialect.name == "sqlite"


# SQL arithmetic that would run on the scaled integers on SQLite and give a wrong, unscaled answer.
_SCALE_BREAKING = frozenset({operator.mul, operator.truediv, operator.floordiv, operator.mod})


class ExactDecimal(TypeDecorator):
    """NUMERIC(precision, scale) that is exact on SQLite too: scaled INTEGER there (see module)."""

    impl = Numeric
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator):  # noqa: N801 - SQLAlchemy's hook name
        """Refuses ``*``, ``/``, ``//`` and ``%`` on the column in SQL, on every database alike (on
        SQLite they would work on the scaled integers): compute them in Python."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            _refuse_scale_breaking(op, self.expr)
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            _refuse_scale_breaking(op, self.expr)
            return super().reverse_operate(op, other, **kwargs)

    def __init__(self, precision: int, scale: int) -> None:
        if not 0 <= scale <= precision <= 18:
            raise ValueError(f"ExactDecimal({precision}, {scale}): need 0 <= scale <= precision <= 18 (INTEGER range)")
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self.step = Decimal(1).scaleb(-scale)
        self.limit = Decimal(10) ** (precision - scale)

    def __repr__(self) -> str:
        return f"ExactDecimal({self.precision}, {self.scale})"

    @property
    def sql_name(self) -> str:
        return f"NUMERIC({self.precision},{self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _stores_integers(dialect):
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def fit(self, value: object) -> Decimal:
        """``value`` as a Decimal rounded half-up to the scale; ValueError/TypeError if it does not fit."""
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, Integral) and not isinstance(value, bool):
            number = Decimal(int(value))
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise ValueError(f"{value!r} is not a number for a {self.sql_name} column") from None
        else:
            raise TypeError(
                f"{value!r} ({type(value).__name__}) is not a Decimal, int or numeric string for a "
                f"{self.sql_name} column: floats never touch money (DESIGN §3.3)"
            )
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number for a {self.sql_name} column")
        if abs(number) >= self.limit:
            raise ValueError(f"{value!r} does not fit {self.sql_name}: {self.precision - self.scale} digits at most")
        rounded = number.quantize(self.step, rounding=ROUND_HALF_UP, context=_CONTEXT)
        if abs(rounded) >= self.limit:
            raise ValueError(f"{value!r} does not fit {self.sql_name}: rounded to {self.scale} places it is {rounded}")
        return rounded.copy_abs() if rounded.is_zero() else rounded  # no negative zero, as in NUMERIC

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = self.fit(value)
        return int(exact.scaleb(self.scale)) if _stores_integers(dialect) else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if _stores_integers(dialect):
            if isinstance(value, bool) or not isinstance(value, int):
                # A REAL here means SQL arithmetic (*, /, avg) ran on the scaled integers, or a
                # value was written around this type: either way it would not be exact.
                raise TypeError(
                    f"{self.sql_name} column on SQLite read {value!r} ({type(value).__name__}), not the "
                    "scaled integer it stores: do *, / and avg in Python, not in SQL"
                )
            return Decimal(value).scaleb(-self.scale).quantize(self.step, context=_CONTEXT)
        # Sums may hold more digits than the column: quantise (to the scale) but never refuse.
        return Decimal(value).quantize(self.step, rounding=ROUND_HALF_UP, context=_CONTEXT)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        # A literal compared with (or added to) the column is bound as the column's own type, so it
        # is scaled like the stored values.
        return self


def _refuse_scale_breaking(op: Any, expr: Any) -> None:
    if op in _SCALE_BREAKING:
        raise TypeError(
            f"{op.__name__} on {expr} in SQL is not exact for an ExactDecimal column (SQLite stores "
            "scaled integers): read the amounts and compute in Python"
        )


def stored(type_: TypeEngine[Any], value: Any, dialect_name: str) -> Any:
    """What ``value`` is in the database of ``dialect_name`` for a column of ``type_``: the scaled
    integer for an :class:`ExactDecimal` on SQLite, else ``value`` unchanged (raw SQL, GX rules)."""
    if isinstance(type_, ExactDecimal) and dialect_name == "sqlite" and value is not None:
        return int(type_.fit(value).scaleb(type_.scale))
    return value
