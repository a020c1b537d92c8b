"""A table gate compares hub amounts exactly, although SQLite stores them as scaled integers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert

from hub.schema import order_lines, orders
from quality.spec import SuiteSpec, between, in_set
from quality.sql_gate import GateBreach, run_table_gate
from quality.suites import SUITES

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PRICES = [Decimal("12.4999"), Decimal("12.5"), Decimal("12.5001"), Decimal("99999999999999.9999")]

EXACT_BOUNDS = SuiteSpec(
    description="bounds on money and quantity columns that a float or a scaled integer would get wrong",
    rules=(
        between("unit_price", Decimal("12.5"), {"$PARAMETER": "max_price"}, blocking=True),
        between("quantity", Decimal("0.001"), blocking=True),
        in_set("tax_rate", [Decimal("0.13"), Decimal("0.09")], blocking=True),
        between("line_no", 1, blocking=True),  # not a money column: compared as it is
    ),
    parameters={"max_price": Decimal("12.5")},
)


def _load(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(orders).values(
                source="zoho_crm",
                crm_order_id="1",
                order_number="SO-1",
                customer_number="10001",
                currency="CNY",
                order_time=T0,
                crm_modified_at=T0,
                net_amount=Decimal(0),
                tax_amount=Decimal(0),
                gross_amount=Decimal(0),
                line_count=len(PRICES),
                content_hash="0" * 64,
                updated_at=T0,
            )
        )
        conn.execute(
            insert(order_lines),
            [
                {
                    "source": "zoho_crm",
                    "crm_order_id": "1",
                    "line_no": n,
                    "material": "MAT-1",
                    "quantity": Decimal("0.001") if n > 1 else Decimal("0.0004"),  # rounds to 0.000
                    "unit_price": price,
                    "discount": Decimal(0),
                    "net_amount": Decimal(0),
                    "tax_rate": Decimal("0.13") if n != 2 else Decimal("0.1301"),
                    "tax_amount": Decimal(0),
                    "currency": "CNY",
                    "plant": "1010",
                }
                for n, price in enumerate(PRICES, start=1)
            ],
        )


def test_bounds_and_sets_on_amounts_are_exact_in_the_database(hub_db: Engine, monkeypatch) -> None:
    monkeypatch.setitem(SUITES, "exact_bounds", EXACT_BOUNDS)
    _load(hub_db)
    url = hub_db.url.render_as_string(hide_password=False)
    with pytest.raises(GateBreach) as caught, hub_db.begin() as conn:
        run_table_gate("exact_bounds", url, "order_lines", conn=conn, run_id="run-x")
    found = caught.value.summary["expectations"]
    # 12.4999 is below 12.5; 12.5001 and the largest amount are above the parameter 12.5.
    assert found["expect_column_values_to_be_between(unit_price)"]["unexpected_count"] == 3
    assert found["expect_column_values_to_be_between(quantity)"]["unexpected_count"] == 1
    assert found["expect_column_values_to_be_in_set(tax_rate)"]["unexpected_count"] == 1
    assert found["expect_column_values_to_be_between(line_no)"]["unexpected_count"] == 0
    # Messages speak in amounts, not in the scaled integers SQLite holds.
    assert "unit_price must be ≥ 12.5 and ≤ 12.5: broken by 3 rows" in str(caught.value)
    assert "125000" not in str(caught.value)
    with pytest.raises(GateBreach) as again, hub_db.begin() as conn:
        run_table_gate(
            "exact_bounds",
            url,
            "order_lines",
            conn=conn,
            run_id="run-y",
            parameters={"max_price": Decimal("99999999999999.9999")},
        )
    assert (
        again.value.summary["expectations"]["expect_column_values_to_be_between(unit_price)"]["unexpected_count"] == 1
    )
