"""Money and quantities are exact in the hub database, on SQLite as on PostgreSQL (DESIGN §3.3).

SQLite stores SQL NUMERIC as a binary float; the hub's columns store scaled integers there
(hub/exact.py). The same amounts must read back identical on both databases, sum exactly and be
found by an equality filter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import StatementError

from hub.bulk import upsert
from hub.schema import order_lines, orders

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
MONEY_MAX = Decimal("99999999999999.9999")  # NUMERIC(18,4)
QUANTITY_MAX = Decimal("999999999999999.999")  # NUMERIC(18,3)
RATE_MAX = Decimal("999.9999")  # NUMERIC(7,4)


def _decimals(limit: Decimal, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=-limit, max_value=limit, places=places, allow_nan=False, allow_infinity=False)


money = _decimals(MONEY_MAX, 4)
quantity = _decimals(QUANTITY_MAX, 3)
rate = _decimals(RATE_MAX, 4)
line_values = st.fixed_dictionaries(
    {
        "quantity": quantity,
        "unit_price": money,
        "discount": money,
        "net_amount": money,
        "tax_rate": rate,
        "tax_amount": money,
    }
)


def _header(crm_order_id: str, net: Decimal, tax: Decimal, gross: Decimal, lines: int) -> dict:
    return {
        "source": "zoho_crm",
        "crm_order_id": crm_order_id,
        "order_number": f"SO-{crm_order_id}",
        "customer_number": "10001",
        "currency": "CNY",
        "order_time": T0,
        "crm_modified_at": T0,
        "net_amount": net,
        "tax_amount": tax,
        "gross_amount": gross,
        "line_count": lines,
        "content_hash": "0" * 64,
        "updated_at": T0,
    }


def _line(crm_order_id: str, line_no: int, values: dict) -> dict:
    return {
        "source": "zoho_crm",
        "crm_order_id": crm_order_id,
        "line_no": line_no,
        "material": f"MAT-{line_no}",
        "currency": "CNY",
        "plant": "1010",
        **values,
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(header=st.tuples(money, money, money), lines=st.lists(line_values, min_size=1, max_size=5), bulk=st.booleans())
def test_amounts_read_back_identical_sum_exactly_and_are_found_by_equality(
    hub_db: Engine, header: tuple[Decimal, Decimal, Decimal], lines: list[dict], bulk: bool
) -> None:
    order_id = "P1"
    head = _header(order_id, *header, len(lines))
    rows = [_line(order_id, n, values) for n, values in enumerate(lines, start=1)]
    with hub_db.begin() as conn:
        conn.execute(delete(orders).where(orders.c.crm_order_id == order_id))
        if bulk:  # the path crm_sync takes: executemany upsert on SQLite, COPY on PostgreSQL
            upsert(conn, orders, [head], key=("source", "crm_order_id"))
            upsert(conn, order_lines, rows, key=("source", "crm_order_id", "line_no"))
        else:
            conn.execute(insert(orders), [head])
            conn.execute(insert(order_lines), rows)
    with hub_db.connect() as conn:
        got = conn.execute(select(orders).where(orders.c.crm_order_id == order_id)).mappings().one()
        for column in ("net_amount", "tax_amount", "gross_amount"):
            assert got[column] == head[column], column
            assert isinstance(got[column], Decimal) and got[column].as_tuple().exponent == -4, got[column]
        stored = (
            conn.execute(select(order_lines).where(order_lines.c.crm_order_id == order_id).order_by("line_no"))
            .mappings()
            .all()
        )
        assert [{k: r[k] for k in lines[0]} for r in stored] == lines
        for column, places in (("quantity", 3), ("unit_price", 4), ("tax_rate", 4), ("tax_amount", 4)):
            assert all(r[column].as_tuple().exponent == -places for r in stored), column
        for column in lines[0]:
            total = conn.execute(
                select(func.sum(order_lines.c[column])).where(order_lines.c.crm_order_id == order_id)
            ).scalar_one()
            assert isinstance(total, Decimal), (column, total)
            assert total == sum(line[column] for line in lines), column
            # An equality filter on an amount finds the line that holds it.
            probe = lines[-1][column]
            found = conn.execute(
                select(order_lines.c.line_no).where(
                    order_lines.c.crm_order_id == order_id, order_lines.c[column] == probe
                )
            ).scalars()
            assert len(lines) in set(found), (column, probe)
        # Comparisons and ORDER BY follow the amounts, not their text or a rounded float.
        ordered = conn.execute(
            select(order_lines.c.unit_price)
            .where(order_lines.c.crm_order_id == order_id)
            .order_by(order_lines.c.unit_price, order_lines.c.line_no)
        ).scalars()
        assert list(ordered) == sorted(line["unit_price"] for line in lines)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        # The examples: SQLite's float made the first 19.9999 and the second 1e14.
        (Decimal("19.99995"), Decimal("20.0000")),
        (Decimal("-19.99995"), Decimal("-20.0000")),  # half away from zero, as PostgreSQL rounds
        (Decimal("19.99994999"), Decimal("19.9999")),
        (MONEY_MAX, MONEY_MAX),
        (-MONEY_MAX, -MONEY_MAX),
        (Decimal("0.0001"), Decimal("0.0001")),
        (Decimal("0"), Decimal("0.0000")),
        (12, Decimal("12.0000")),
        ("0.1", Decimal("0.1000")),
    ],
)
def test_examples_read_back_the_same_on_both_databases(hub_db: Engine, written: object, read: Decimal) -> None:
    with hub_db.begin() as conn:
        conn.execute(insert(orders).values(_header("E1", written, Decimal(0), written, 1)))
    with hub_db.connect() as conn:
        got = conn.execute(select(orders.c.net_amount, orders.c.gross_amount)).one()
        assert got == (read, read)
        assert str(got.net_amount) == str(read)
        assert conn.execute(select(func.count()).where(orders.c.net_amount == read)).scalar_one() == 1


@pytest.mark.parametrize(
    "written",
    [
        Decimal("100000000000000"),
        Decimal("99999999999999.99995"),  # rounds up past the precision
        Decimal("-1e30"),
        Decimal("NaN"),
        Decimal("Infinity"),
        1e30,
        "12,5",
    ],
)
def test_values_that_do_not_fit_are_refused_naming_the_value(hub_db: Engine, written: object) -> None:
    with pytest.raises(StatementError, match="net_amount|NUMERIC") as caught, hub_db.begin() as conn:
        conn.execute(insert(orders).values(_header("E2", written, Decimal(0), Decimal(0), 1)))
    assert isinstance(caught.value.orig, ValueError | TypeError)
    assert repr(written) in str(caught.value.orig) or str(written) in str(caught.value.orig)


# -- migration 0003 ----------------------------------------------------------------------------------
# What the hub's SQLite database held before 0003: SQLAlchemy wrote NUMERIC values as floats, and
# SQLite kept whole numbers as integers. 19.99995 was written as the float nearest to it.
_OLD_HEADER = (
    "INSERT INTO orders (source, crm_order_id, order_number, currency, order_time, crm_modified_at, "
    "net_amount, tax_amount, gross_amount, line_count, status, content_hash, updated_at) VALUES "
    "('zoho_crm', 'M1', 'SO-M1', 'CNY', '2026-03-01 08:00:00+00:00', '2026-03-01 08:00:00+00:00', "
    "?, ?, ?, 2, 'accepted', ?, '2026-03-01 08:00:00+00:00')"
)
_OLD_LINE = (
    "INSERT INTO order_lines (source, crm_order_id, line_no, material, quantity, unit_price, discount, "
    "net_amount, tax_rate, tax_amount, currency) VALUES ('zoho_crm', 'M1', ?, 'MAT-1', ?, ?, ?, ?, ?, ?, 'CNY')"
)
_OLD_ALLOCATION = (
    "INSERT INTO order_allocations (source, crm_order_id, line_no, material, plant, ordered_qty, allocated_qty, "
    "updated_at) VALUES ('zoho_crm', 'M1', ?, 'MAT-1', '1010', ?, ?, '2026-03-01 08:00:00+00:00')"
)


def _database_at_0002(url: str, *, price: object = 19.99995) -> None:
    from hub.db import make_engine, upgrade

    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(_OLD_HEADER, (1323560149.7372, 172.0722, 1323560321.8094, "0" * 64))
            conn.exec_driver_sql(_OLD_LINE, (1, 2.5, price, 0, 49.99988, 0.13, 6.49998))
            conn.exec_driver_sql(_OLD_LINE, (2, 7, 0.1, "0.35", 1323560099.73732, 0.13, 172.06547))
            conn.exec_driver_sql(_OLD_ALLOCATION, (1, 2.5, 1.25))
            conn.exec_driver_sql(_OLD_ALLOCATION, (2, 7, 7))
    finally:
        engine.dispose()


def test_migration_0003_converts_stored_sqlite_amounts_exactly(sqlite_url: str) -> None:
    from hub.db import make_engine, upgrade
    from hub.schema import order_allocations

    _database_at_0002(sqlite_url)
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            head = conn.execute(select(orders)).mappings().one()
            assert (head["net_amount"], head["tax_amount"], head["gross_amount"]) == (
                Decimal("1323560149.7372"),
                Decimal("172.0722"),
                Decimal("1323560321.8094"),
            )
            assert head["tax_rounding_scope"] == "per_line"  # what the code computed before 0003
            got = conn.execute(
                select(
                    order_lines.c.quantity,
                    order_lines.c.unit_price,
                    order_lines.c.discount,
                    order_lines.c.net_amount,
                    order_lines.c.tax_rate,
                    order_lines.c.tax_amount,
                ).order_by(order_lines.c.line_no)
            ).all()
            assert [tuple(map(str, row)) for row in got] == [
                # 19.99995 rounds half-up to 20.0000, as PostgreSQL stores it; 49.99988 keeps its digits.
                ("2.500", "20.0000", "0.0000", "49.9999", "0.1300", "6.5000"),
                ("7.000", "0.1000", "0.3500", "1323560099.7373", "0.1300", "172.0655"),
            ]
            assert conn.execute(select(func.sum(order_lines.c.net_amount))).scalar_one() == Decimal("1323560149.7372")
            assert conn.execute(
                select(order_lines.c.line_no).where(order_lines.c.unit_price == Decimal("20"))
            ).all() == [(1,)]
            allocations = conn.execute(
                select(order_allocations.c.allocated_qty, order_allocations.c.confirmed_qty).order_by("line_no")
            ).all()
            assert allocations == [(Decimal("1.250"), Decimal(0)), (Decimal("7.000"), Decimal(0))]
            # Stored as integers of the column's scale, which SQLite sums and compares exactly.
            kinds = conn.exec_driver_sql("SELECT DISTINCT typeof(unit_price), typeof(tax_rate) FROM order_lines")
            assert kinds.all() == [("integer", "integer")]
    finally:
        engine.dispose()


def test_migration_0003_stops_on_an_amount_that_does_not_fit(sqlite_url: str) -> None:
    from hub.db import current_revision, upgrade

    _database_at_0002(sqlite_url, price=1e20)
    with pytest.raises(ValueError, match=r"order_lines.unit_price rowid 1: 1e\+20 does not fit NUMERIC\(18,4\)"):
        upgrade(sqlite_url)
    assert current_revision(sqlite_url) == "0002"  # nothing half done: the upgrade rolled back


def test_sql_arithmetic_is_exact_or_refused(hub_db: Engine) -> None:
    from hub.schema import order_allocations

    with hub_db.begin() as conn:
        conn.execute(
            insert(order_allocations),
            [
                {
                    "source": "zoho_crm",
                    "crm_order_id": "A1",
                    "line_no": n,
                    "material": "MAT-1",
                    "plant": "1010",
                    "ordered_qty": ordered,
                    "allocated_qty": ordered,
                    "confirmed_qty": confirmed,
                    "updated_at": T0,
                }
                for n, (ordered, confirmed) in enumerate([("2.5", "0.001"), ("7", "7"), ("0.333", "0")], start=1)
            ],
        )
    c = order_allocations.c
    with hub_db.connect() as conn:
        # + and - of one scale, literals, SUM and COALESCE stay exact (devtools/demo.py sums open quantities).
        open_qty = select(func.sum(c.ordered_qty - c.confirmed_qty)).where(c.confirmed_qty < c.ordered_qty)
        assert conn.execute(open_qty).scalar_one() == Decimal("2.832")
        assert conn.execute(select(func.coalesce(func.sum(c.ordered_qty + 1), 0))).scalar_one() == Decimal("12.833")
        assert conn.execute(select(func.max(c.ordered_qty), func.min(c.confirmed_qty))).one() == (
            Decimal(7),
            Decimal(0),
        )
    for build in (lambda: c.ordered_qty * c.confirmed_qty, lambda: c.ordered_qty / 2, lambda: 2 * c.ordered_qty):
        with pytest.raises(TypeError, match="not exact for an ExactDecimal column"):
            build()
