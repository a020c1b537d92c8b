"""exact money on SQLite; orders.tax_rounding_scope

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 15:00:00

- Money and quantity columns become hub.exact.ExactDecimal. On PostgreSQL that is the NUMERIC(p, s)
  they already are: no type change. On SQLite, where NUMERIC held binary floats, each value is
  converted in place to the integer value × 10^scale (the float's shortest repr, which is the
  decimal that was written whenever it had at most 15 significant digits, rounded half-up at the
  column's scale as PostgreSQL rounds), then the column becomes BIGINT in batch mode (table
  recreated; the integers are copied unchanged). A stored value that does not fit the column's
  precision (PostgreSQL would have refused it) stops the migration, naming the rows to correct.
- ``orders.tax_rounding_scope`` records settings ``tax.rounding_scope`` with the amounts. Orders
  already stored were computed per line (the only scope the code knew), hence the default.
"""

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# table → column → (precision, scale, nullable, server default) as of this revision.
EXACT_COLUMNS: dict[str, dict[str, tuple[int, int, bool, str | None]]] = {
    "orders": {
        "net_amount": (18, 4, False, None),
        "tax_amount": (18, 4, False, None),
        "gross_amount": (18, 4, False, None),
    },
    "order_lines": {
        "quantity": (18, 3, False, None),
        "unit_price": (18, 4, False, None),
        "discount": (18, 4, False, None),
        "net_amount": (18, 4, False, None),
        "tax_rate": (7, 4, False, None),
        "tax_amount": (18, 4, False, None),
    },
    "customers": {"credit_limit": (18, 4, False, None)},
    "materials": {"moq": (18, 3, False, None), "pack_size": (18, 3, False, None)},
    "price_list": {"price": (18, 4, False, None)},
    "stock_snapshots": {"unrestricted": (18, 3, False, None), "available": (18, 3, False, None)},
    "order_allocations": {
        "ordered_qty": (18, 3, False, None),
        "allocated_qty": (18, 3, False, None),
        "confirmed_qty": (18, 3, False, "0"),
    },
    "sap_orders": {"sap_net_amount": (18, 4, True, None)},
}
SCOPE_CHECK = "tax_rounding_scope IN ('per_line', 'per_document')"
_CONTEXT = Context(prec=60)
_CHUNK = 10_000


def _scaled(value: object, precision: int, scale: int) -> int:
    """A value SQLite's NUMERIC held (int, float or text) as the integer value × 10^scale."""
    if isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, int):
        number = Decimal(value)
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=_CONTEXT)
    if abs(rounded) >= Decimal(10) ** (precision - scale):
        raise ValueError(f"{value!r} does not fit NUMERIC({precision},{scale})")
    return int(rounded.scaleb(scale, context=_CONTEXT))


def _convert_sqlite_values(conn: sa.Connection, table: str, columns: dict[str, tuple]) -> None:
    names = list(columns)
    select_list = ", ".join(f'"{c}"' for c in names)
    assignments = ", ".join(f'"{c}" = ?' for c in names)
    problems: list[str] = []
    last = None
    while True:
        where = "" if last is None else f"WHERE rowid > {int(last)}"
        rows = conn.exec_driver_sql(
            f'SELECT rowid, {select_list} FROM "{table}" {where} ORDER BY rowid LIMIT {_CHUNK}'  # noqa: S608
        ).fetchall()
        if not rows:
            break
        updates = []
        for rowid, *values in rows:
            converted = []
            for name, value in zip(names, values, strict=True):
                precision, scale = columns[name][:2]
                if value is None:
                    converted.append(None)
                    continue
                try:
                    converted.append(_scaled(value, precision, scale))
                except ValueError as exc:
                    problems.append(f"{table}.{name} rowid {rowid}: {exc}")
                    converted.append(None)
            updates.append((*converted, rowid))
        if not problems:
            conn.exec_driver_sql(f'UPDATE "{table}" SET {assignments} WHERE rowid = ?', updates)  # noqa: S608
        last = rows[-1][0]
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise ValueError(
            f"migration 0003: {len(problems)} stored amounts cannot be kept exactly, correct them and "
            f"upgrade again: {shown}{more}"
        )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table, columns in EXACT_COLUMNS.items():
            _convert_sqlite_values(bind, table, columns)
            with op.batch_alter_table(table) as batch:
                for name, (precision, scale, nullable, default) in columns.items():
                    batch.alter_column(
                        name,
                        type_=sa.BigInteger(),
                        existing_type=sa.Numeric(precision=precision, scale=scale),
                        existing_nullable=nullable,
                        existing_server_default=default,
                    )
    # PostgreSQL keeps NUMERIC(p, s): ExactDecimal is that type there.
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column(
                "tax_rounding_scope",
                sa.String(length=16),
                nullable=False,
                server_default="per_line",
                comment="settings tax.rounding_scope the tax amounts were computed with: per_line | per_document",
            )
        )
        batch.create_check_constraint(op.f("ck_orders_tax_rounding_scope"), sa.text(SCOPE_CHECK))


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_tax_rounding_scope"), type_="check")
        batch.drop_column("tax_rounding_scope")
    if bind.dialect.name == "sqlite":
        for table, columns in EXACT_COLUMNS.items():
            with op.batch_alter_table(table) as batch:
                for name, (precision, scale, nullable, default) in columns.items():
                    batch.alter_column(
                        name,
                        type_=sa.Numeric(precision=precision, scale=scale),
                        existing_type=sa.BigInteger(),
                        existing_nullable=nullable,
                        existing_server_default=default,
                    )
            # Back to what SQLite's NUMERIC holds: a number (a float where it has decimals).
            assignments = ", ".join(f'"{c}" = "{c}" / {10 ** spec[1]}.0' for c, spec in columns.items())
            bind.exec_driver_sql(f'UPDATE "{table}" SET {assignments}')  # noqa: S608
