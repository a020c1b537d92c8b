"""run_table_gate validates hub tables inside the database, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, select, update

from hub.schema import gate_results, order_lines, orders
from quality.sql_gate import GateBreach, run_table_gate
from quality.suites import SUITES

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _load(engine: Engine, n_orders: int = 2, **line_changes: object) -> None:
    with engine.begin() as conn:
        for i in range(1, n_orders + 1):
            conn.execute(
                insert(orders).values(
                    source="zoho_crm",
                    crm_order_id=str(i),
                    order_number=f"SO-{i}",
                    customer_number="10001",
                    currency="CNY",
                    order_time=T0,
                    crm_modified_at=T0,
                    net_amount=Decimal("25.00"),
                    tax_amount=Decimal("3.25"),
                    gross_amount=Decimal("28.25"),
                    line_count=1,
                    content_hash="0" * 64,
                    updated_at=T0,
                )
            )
            line = {
                "source": "zoho_crm",
                "crm_order_id": str(i),
                "line_no": 1,
                "material": "MAT-1",
                "quantity": Decimal("2"),
                "unit_price": Decimal("12.50"),
                "discount": Decimal("0"),
                "net_amount": Decimal("25.00"),
                "tax_rate": Decimal("0.13"),
                "tax_amount": Decimal("3.25"),
                "currency": "CNY",
                "plant": "1010",
            }
            conn.execute(insert(order_lines).values(line | (line_changes if i == n_orders else {})))


def _result(engine: Engine, run_id: str) -> dict:
    with engine.connect() as conn:
        (row,) = conn.execute(select(gate_results).where(gate_results.c.run_id == run_id)).mappings().all()
    return dict(row)


def test_sound_tables_pass_and_the_result_is_recorded(hub_db: Engine) -> None:
    _load(hub_db, 3)
    with hub_db.begin() as conn:
        headers = run_table_gate("orders_table", _url(hub_db), "orders", conn=conn, run_id="run-1")
        lines = run_table_gate("order_lines_table", _url(hub_db), "order_lines", conn=conn, run_id="run-2")
    assert (headers.evaluated, headers.success, lines.evaluated, lines.success) == (3, True, 3, True)
    result = _result(hub_db, "run-1")
    assert (result["gate"], result["evaluated"], result["passed"], result["quarantined"]) == ("orders_table", 3, 3, 0)
    assert result["success"] is True and result["blocking_breach"] is False
    entry = result["summary"]["expectations"]["expect_column_values_to_be_in_set(status)"]
    assert entry == {"success": True, "unexpected_count": 0, "blocking": True}


BAD_HEADERS = [  # one row per rule of orders_table, each breaking that rule only (source: see below)
    {"currency": "XXX"},
    {},  # status: the database refuses an unknown state itself (CHECK, hub/lifecycle.py); no row can break it
    {"net_amount": Decimal("-1")},
    {"tax_amount": Decimal("-0.01")},
    {"gross_amount": Decimal("-1")},
    {"line_count": 0},
    {"customer_number": None},
    {},
]
BAD_LINES = [  # one row per rule of order_lines_table
    {"line_no": 0},
    {"quantity": Decimal("0")},
    {"unit_price": Decimal("-1")},
    {"discount": Decimal("-0.01")},
    {"net_amount": Decimal("-1")},
    {"tax_amount": Decimal("-1")},
    {"currency": "usd"},
    {"plant": None},
]


def _load_each_fault(engine: Engine) -> None:
    _load(engine, len(BAD_HEADERS) + 1)
    with engine.begin() as conn:
        for i, (header, line) in enumerate(zip(BAD_HEADERS, BAD_LINES, strict=True), start=2):
            if header:
                conn.execute(update(orders).where(orders.c.crm_order_id == str(i)).values(header))
            conn.execute(update(order_lines).where(order_lines.c.crm_order_id == str(i)).values(line))
        # The source is part of the key its lines refer to: a header of an unknown CRM comes without lines.
        (first,) = conn.execute(select(orders).where(orders.c.crm_order_id == "1")).mappings().all()
        conn.execute(insert(orders).values(dict(first) | {"source": "salesforce"}))


@pytest.mark.parametrize(("suite", "table"), [("orders_table", "orders"), ("order_lines_table", "order_lines")])
def test_every_table_rule_fails_on_a_crafted_table(hub_db: Engine, suite: str, table: str) -> None:
    _load_each_fault(hub_db)
    with pytest.raises(GateBreach) as caught, hub_db.begin() as conn:
        run_table_gate(suite, _url(hub_db), table, conn=conn, run_id="run-all", parameters={"min_rows": 100})
    found = caught.value.summary["expectations"]
    assert sorted(found) == sorted(SUITES[suite].names)
    failed = {name for name, entry in found.items() if not entry["success"]}
    # Every rule but the column check caught its row (the row count by the min_rows parameter); the
    # status rule is a second line behind the database's CHECK, which no crafted row gets past.
    unreachable = {"expect_table_columns_to_match_set", "expect_column_values_to_be_in_set(status)"}
    assert failed == set(SUITES[suite].names) - unreachable
    for name in failed - {"expect_table_row_count_to_be_between"}:
        assert found[name]["unexpected_count"] == 1, name
    assert len(caught.value.breaches) == len(failed)


def test_bad_values_in_the_table_are_counted_and_block(hub_db: Engine) -> None:
    _load(hub_db, 3, quantity=Decimal("-1"), currency="XXX")
    with pytest.raises(GateBreach) as caught, hub_db.begin() as conn:
        run_table_gate("order_lines_table", _url(hub_db), "order_lines", conn=conn, run_id="run-b")
    assert "expect_column_values_to_be_between(quantity): quantity must be > 0: broken by 1 rows" in str(caught.value)
    assert "expect_column_values_to_be_in_set(currency)" in str(caught.value)
    result = _result(hub_db, "run-b")  # committed although the caller's transaction rolled back
    assert result["blocking_breach"] is True and result["success"] is False
    assert (result["evaluated"], result["passed"], result["quarantined"]) == (3, 3, 0)
    expectations = result["summary"]["expectations"]
    assert expectations["expect_column_values_to_be_between(quantity)"]["unexpected_count"] == 1
    assert expectations["expect_column_values_to_be_between(unit_price)"]["unexpected_count"] == 0


def test_row_count_parameter_is_checked_in_the_database(hub_db: Engine) -> None:
    _load(hub_db, 2)
    with pytest.raises(GateBreach, match=r"the table must hold at least 5 orders \(got 2\)"):
        with hub_db.begin() as conn:
            run_table_gate(
                "orders_table",
                _url(hub_db),
                "orders",
                conn=conn,
                run_id="run-n",
                parameters={"min_rows": 5},
            )
    with hub_db.begin() as conn:
        outcome = run_table_gate(
            "orders_table",
            _url(hub_db),
            "orders",
            conn=conn,
            run_id="run-m",
            parameters={"min_rows": 2},
        )
    assert outcome.success


def test_wrong_table_is_a_missing_column_breach(hub_db: Engine) -> None:
    _load(hub_db, 1)
    with pytest.raises(GateBreach, match=r"missing: customer_number, gross_amount, line_count, order_number, status\)"):
        with hub_db.begin() as conn:
            run_table_gate("headers", _url(hub_db), "order_lines", suite="orders_table", conn=conn, run_id="run-w")
    assert _result(hub_db, "run-w")["gate"] == "headers"


def test_missing_table_is_a_recorded_breach(hub_db: Engine) -> None:
    with pytest.raises(GateBreach, match=r"table no_such_table could not be read: .*no_such_table"):
        with hub_db.begin() as conn:
            run_table_gate("orders_table", _url(hub_db), "no_such_table", conn=conn, run_id="run-g")
    result = _result(hub_db, "run-g")
    assert (result["evaluated"], result["blocking_breach"]) == (0, True)


def test_empty_table_passes_with_zero_rows(hub_db: Engine) -> None:
    with hub_db.begin() as conn:
        outcome = run_table_gate("orders_table", _url(hub_db), "orders", conn=conn, run_id="run-e")
    assert (outcome.evaluated, outcome.success) == (0, True)
    assert _result(hub_db, "run-e")["evaluated"] == 0


def test_suite_with_python_checks_is_refused(hub_db: Engine) -> None:
    with pytest.raises(ValueError, match="has Python checks"), hub_db.begin() as conn:
        run_table_gate("accepted_orders", _url(hub_db), "order_lines", conn=conn, run_id="run-x")
