"""The order review prices each order with the list price valid on its business day, and looks each
(material, currency, day) up once per batch, not once per order and price-list pair (issue 15: the
review was quadratic in the batch). Same findings as the definition on normal and hostile data:
overlapping and inverted validity periods, zero prices, unknown and inactive materials, unknown and
blocked customers, currencies without a price, orders across midnight, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from flows.crm_order_sync import review
from hub.schema import customers, materials, price_list
from transforms.business_day import business_date
from transforms.order_review import CustomerTerms, MaterialTerms, review_order

ZONE = "Asia/Shanghai"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAY0 = date(2026, 11, 1)
CURRENCIES = ["CNY", "EUR", "USD"]
MATERIALS = {"M0": True, "M1": True, "M2": True, "M3": False}  # M3 inactive; M4 is not in the master
CUSTOMERS = [("C1", "CNY", Decimal("5000"), False), ("C2", "EUR", Decimal("1e9"), False), ("C3", "CNY", 0, True)]
PRICES = st.sampled_from([Decimal("0"), Decimal("10.00"), Decimal("12.50"), Decimal("99.99")])


@st.composite
def price_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = {}
    for material in [*MATERIALS, "M4"]:
        for currency in CURRENCIES:
            for _ in range(draw(st.integers(0, 3))):
                start = DAY0 + timedelta(days=draw(st.integers(0, 6)))
                # Periods may overlap, and a hostile one may end before it starts.
                end = start + timedelta(days=draw(st.integers(-1, 4)))
                rows[(material, currency, start)] = {
                    "material": material,
                    "currency": currency,
                    "valid_from": start,
                    "valid_to": end,
                    "price": draw(PRICES),
                    "updated_at": NOW,
                }
    return list(rows.values())


@st.composite
def batches(draw: st.DrawFn) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    batch = {}
    for i in range(draw(st.integers(1, 25))):
        lines = []
        for n in range(draw(st.integers(1, 3))):
            quantity = Decimal(draw(st.sampled_from([1, 2, 5, 10])))
            price = draw(st.one_of(PRICES, st.decimals("0.01", "200", places=2)))
            lines.append(
                {
                    "line_no": n + 1,
                    "material": draw(st.sampled_from([*MATERIALS, "M4"])),
                    "quantity": quantity,
                    "unit_price": price,
                    "discount": draw(st.sampled_from([Decimal(0), Decimal("0.01")])),
                }
            )
        order = {
            "source": "zoho_crm",
            "crm_order_id": f"o{i}",
            "order_number": f"SO-{i}",
            "customer_number": draw(st.sampled_from(["C1", "C2", "C3", "C9"])),
            "currency": draw(st.sampled_from(CURRENCIES)),
            # Minutes from the start of 1 November UTC: business days 1-8 November in Shanghai.
            "order_time": NOW + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60))),
            "gross_amount": sum((ln["quantity"] * ln["unit_price"] for ln in lines), Decimal(0)),
        }
        batch[f"zoho_crm:o{i}"] = (order, lines)
    return batch


def _master(conn: Any, prices: list[dict[str, Any]]) -> None:
    for table in (price_list, materials, customers):
        conn.execute(delete(table))
    conn.execute(
        insert(customers),
        [
            {"customer_number": n, "name": n, "currency": c, "credit_limit": lim, "blocked": b, "updated_at": NOW}
            for n, c, lim, b in CUSTOMERS
        ],
    )
    conn.execute(
        insert(materials),
        [
            {"material": m, "base_unit": "PC", "moq": 1, "pack_size": 1, "active": a, "updated_at": NOW}
            for m, a in MATERIALS.items()
        ],
    )
    if prices:
        conn.execute(insert(price_list), prices)


def _by_definition(conn: Any, batch: dict, tolerance: Decimal) -> dict[str, list]:
    """The review as specified, without shortcuts: every order sees every pair's price valid on its day."""
    terms = {
        r.customer_number: CustomerTerms(r.customer_number, r.blocked, r.credit_limit, r.currency)
        for r in conn.execute(select(customers))
    }
    mats = {
        r.material: MaterialTerms(r.material, r.moq, r.pack_size, r.active) for r in conn.execute(select(materials))
    }
    wanted = {ln["material"] for _, lines in batch.values() for ln in lines}
    rows: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in conn.execute(select(price_list).where(price_list.c.material.in_(wanted))):
        rows[(r.material, r.currency)].append(r)
    exposure: defaultdict[str, Decimal] = defaultdict(lambda: Decimal(0))
    findings = {}
    for key, (order, lines) in sorted(batch.items(), key=lambda kv: (kv[1][0]["order_time"], kv[0])):
        day = business_date(order["order_time"], ZONE)
        valid = {
            pair: next(r.price for r in pair_rows if r.valid_from <= day <= r.valid_to)
            for pair, pair_rows in rows.items()
            if any(r.valid_from <= day <= r.valid_to for r in pair_rows)
        }
        customer = terms.get(order["customer_number"])
        found = review_order(
            order,
            lines,
            customer=customer,
            materials=mats,
            prices=valid,
            price_tolerance_pct=tolerance,
            open_exposure=exposure[order["customer_number"]],
        )
        if found:
            findings[key] = found
        elif customer is not None and order["currency"] == customer.currency:
            exposure[order["customer_number"]] += order["gross_amount"]
    return findings


def _counting_lookups(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts the price lookups of a review, by day."""
    calls: Counter = Counter()
    real = review._valid_price

    def counted(rows: Any, day: date) -> Any:
        calls[day] += 1
        return real(rows, day)

    monkeypatch.setattr(review, "_valid_price", counted)
    return calls


def _asked(batch: dict) -> set[tuple[str, str, date]]:
    return {
        (ln["material"], order["currency"], business_date(order["order_time"], ZONE))
        for order, lines in batch.values()
        for ln in lines
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices=price_rows(), batch=batches(), tolerance=st.sampled_from([Decimal(0), Decimal(2)]))
def test_the_review_finds_what_the_definition_finds(hub_db, monkeypatch, prices, batch, tolerance):
    with hub_db.begin() as conn:
        _master(conn, prices)
    with monkeypatch.context() as patch, hub_db.connect() as conn:
        calls = _counting_lookups(patch)
        got = review.review_batch(conn, batch, tolerance, zone=ZONE)
        expected = _by_definition(conn, batch, tolerance)
    assert got == expected
    # At most one lookup per (material, currency, day) the orders ask for, whatever the batch size.
    assert sum(calls.values()) <= len(_asked(batch))


def test_price_lookups_do_not_grow_with_the_orders_of_a_day(hub_db, monkeypatch):
    """A price list of 300 pairs and 40 or 400 orders on the same three days: the same lookups."""
    pairs = [(f"P{i:03}", c) for i in range(100) for c in CURRENCIES]
    with hub_db.begin() as conn:
        _master(conn, [])
        conn.execute(
            insert(materials),
            [
                {"material": m, "base_unit": "PC", "moq": 1, "pack_size": 1, "active": True, "updated_at": NOW}
                for m in sorted({m for m, _ in pairs})
            ],
        )
        conn.execute(
            insert(price_list),
            [
                {
                    "material": m,
                    "currency": c,
                    "valid_from": DAY0,
                    "valid_to": DAY0 + timedelta(days=30),
                    "price": Decimal("10.00"),
                    "updated_at": NOW,
                }
                for m, c in pairs
            ],
        )

    def batch_of(n: int) -> dict:
        return {
            f"zoho_crm:o{i}": (
                {
                    "source": "zoho_crm",
                    "crm_order_id": f"o{i}",
                    "order_number": f"SO-{i}",
                    "customer_number": "C2",
                    "currency": "EUR",
                    "order_time": NOW + timedelta(days=i % 3, hours=6),
                    "gross_amount": Decimal("10.00"),
                },
                [
                    {
                        "line_no": 1,
                        "material": f"P{i % 100:03}",
                        "quantity": Decimal(1),
                        "unit_price": Decimal("10.00"),
                        "discount": Decimal(0),
                    }
                ],
            )
            for i in range(n)
        }

    looked_up = []
    for n in (40, 400):
        with monkeypatch.context() as patch, hub_db.connect() as conn:
            calls = _counting_lookups(patch)
            assert review.review_batch(conn, batch_of(n), Decimal(0), zone=ZONE) == {}
        looked_up.append(sum(calls.values()))
    # 40 orders ask for 40 (material, day) pairs; 400 orders for the 100 materials on 3 days (300),
    # never 400 × the 300 pairs of the price list as before.
    assert looked_up == [40, 300]
