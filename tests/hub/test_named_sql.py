"""The named queries of include/sql/ run on both databases and give exact, correct answers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Date, bindparam, insert

from hub import sql
from hub.schema import MONEY, QUANTITY, TS, customers, order_allocations, orders

NOW = datetime(2026, 12, 1, tzinfo=UTC)
# Sample values for every parameter a named query takes (lists, then the report span's instants and dates).
PARAMS = {
    "customers": ["C1"],
    "states": ["accepted"],
    "excluded_keys": ["zoho_crm:x"],
    "sources": ["zoho_crm"],
    "confirmation_targets": ["crm.zoho_crm.confirmation"],
    "backorder_states": ["backordered", "partial"],
    "excluded_states": ["cancelled"],
    "reserving_states": ["posted", "confirmed"],
    "short_states": ["backordered", "partial"],
}
LISTS = tuple(PARAMS)
SCALARS = {
    "day_start": datetime(2026, 11, 30, 16, tzinfo=UTC),
    "day_end": datetime(2026, 12, 1, 16, tzinfo=UTC),
    "week_start": datetime(2026, 11, 23, 16, tzinfo=UTC),
    "month_start": datetime(2026, 11, 2, 16, tzinfo=UTC),
    "first_day": date(2026, 11, 3),
    "last_day": date(2026, 12, 1),
    "business_day": date(2026, 12, 1),
    "previous_day": date(2026, 11, 30),
    "planned_before": date(2026, 12, 7),
    "due_after": date(2026, 12, 1),
    "counts_from": datetime(2026, 11, 30, 15, 30, tzinfo=UTC),
    "counts_to": datetime(2026, 12, 1, 15, 30, tzinfo=UTC),
    "book_taken_at": datetime(2026, 12, 1, 15, 40, tzinfo=UTC),
    "receipts_from": datetime(2026, 11, 27, 15, 30, tzinfo=UTC),
    "history_from": datetime(2026, 9, 2, 16, tzinfo=UTC),
    "history_to": datetime(2026, 12, 1, 16, tzinfo=UTC),
    "query_document": "query:2026-12-01",
}


def _order(crm_order_id: str, status: str, gross: str, currency: str = "CNY") -> dict:
    return {
        "source": "zoho_crm",
        "crm_order_id": crm_order_id,
        "order_number": f"SO-{crm_order_id}",
        "customer_number": "C1",
        "currency": currency,
        "order_time": NOW,
        "crm_modified_at": NOW,
        "net_amount": Decimal(gross),
        "tax_amount": Decimal(0),
        "gross_amount": Decimal(gross),
        "line_count": 1,
        "status": status,
        "content_hash": "h",
        "updated_at": NOW,
    }


@pytest.mark.parametrize("name", sql.names())
def test_every_named_query_runs(hub_db, name):
    text = sql.source(name)
    assert text.startswith(f"-- {name}:"), "each file starts by naming and describing its query"
    statement = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
    bound = set(re.findall(r"(?<![:\w]):([a-z_][a-z0-9_]*)", statement))
    assert bound <= set(PARAMS) | set(SCALARS), f"give test_every_named_query_runs a sample of {bound}"
    used = [p for p in LISTS if p in bound]
    stmt = sql.query(name, lists=used)
    typed = [
        bindparam(p, type_=Date() if isinstance(SCALARS[p], date) and not isinstance(SCALARS[p], datetime) else TS)
        for p in SCALARS
        if p in bound and not isinstance(SCALARS[p], str)
    ]
    with hub_db.connect() as conn:
        rows = conn.execute(
            stmt.bindparams(*typed) if typed else stmt, {p: {**PARAMS, **SCALARS}[p] for p in bound}
        ).all()
    assert isinstance(rows, list)


def test_credit_exposure_is_exact_and_follows_the_rules(hub_db):
    with hub_db.begin() as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "customer_number": "C1",
                    "name": "C",
                    "currency": "CNY",
                    "credit_limit": Decimal(1000),
                    "blocked": False,
                    "updated_at": NOW,
                }
            ],
        )
        conn.execute(
            insert(orders),
            [
                _order("a", "partial", "0.1001"),
                _order("b", "accepted", "0.2002"),
                _order("c", "cancelled", "500"),  # not open
                _order("d", "accepted", "700", currency="USD"),  # not the credit currency
                _order("e", "accepted", "900"),  # the order under review itself
            ],
        )
        stmt = sql.query("credit_exposure", lists=("customers", "states", "excluded_keys"), types={"exposure": MONEY})
        rows = conn.execute(
            stmt, {"customers": ["C1"], "states": ["accepted", "partial"], "excluded_keys": ["zoho_crm:e"]}
        ).all()
        none_excluded = conn.execute(stmt, {"customers": ["C1"], "states": ["accepted"], "excluded_keys": []}).all()
    assert rows == [("C1", Decimal("0.3003"))]  # exact on SQLite too (scaled integers summed)
    assert none_excluded == [("C1", Decimal("900.2002"))]


def test_typed_quantities_come_back_exact(hub_db):
    with hub_db.begin() as conn:
        conn.execute(
            insert(order_allocations),
            [
                {
                    "source": "zoho_crm",
                    "crm_order_id": "a",
                    "line_no": n,
                    "material": "M",
                    "plant": "1010",
                    "ordered_qty": Decimal("10.001"),
                    "allocated_qty": Decimal(0),
                    "confirmed_qty": Decimal(confirmed),
                    "updated_at": NOW,
                }
                for n, confirmed in ((1, "0.001"), (2, "10.001"), (3, "3"))
            ],
        )
        lines, short = conn.execute(sql.query("backorder_lines", types={"short_qty": QUANTITY})).one()
    assert (lines, short) == (2, Decimal("17.001"))


def test_unknown_names_are_refused():
    with pytest.raises(LookupError, match="no named query"):
        sql.query("nope")
    with pytest.raises(ValueError, match="not a query name"):
        sql.query("../schema")
