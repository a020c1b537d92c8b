"""The seed data: deterministic, realistic enough, and carrying every kind of bad record."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox.clock import DEFAULT_START
from sandbox.seed_data import (
    FXIAOKE,
    QUARANTINE_DEFECTS,
    TOLERATED_DEFECTS,
    ZOHO,
    DefectKind,
    SalesOrder,
    SeedData,
    generate,
)

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def data() -> SeedData:
    return generate(7, 600)


def _fingerprint(d: SeedData) -> list[tuple]:
    return [
        (o.number, o.crm_id, o.customer_number, o.order_time, o.modified_time, o.currency)
        + tuple((ln.line_number, ln.material_number, ln.quantity, ln.unit_price, ln.crm_id) for ln in o.lines)
        for o in d.orders
    ]


def test_same_seed_same_data(data: SeedData) -> None:
    again = generate(7, 600)
    assert _fingerprint(again) == _fingerprint(data)
    assert [(c.number, c.name, c.blocked, c.credit_limit) for c in again.customers] == [
        (c.number, c.name, c.blocked, c.credit_limit) for c in data.customers
    ]
    assert [(m.number, m.list_prices, m.moq, m.pack_size) for m in again.materials] == [
        (m.number, m.list_prices, m.moq, m.pack_size) for m in data.materials
    ]
    assert again.defects == data.defects


def test_other_seed_other_data(data: SeedData) -> None:
    assert _fingerprint(generate(8, 600)) != _fingerprint(data)


def test_master_data_does_not_depend_on_order_count(data: SeedData) -> None:
    bigger = generate(7, 1500)
    assert [m.number for m in bigger.materials] == [m.number for m in data.materials]
    assert [c.name for c in bigger.customers] == [c.name for c in data.customers]


def test_master_data_shape(data: SeedData) -> None:
    assert len(data.customers) == 120
    assert len(data.materials) >= 2000
    assert {p.code for p in data.plants} == {"1010", "1020", "2010"}
    assert len({c.number for c in data.customers}) == 120
    assert len({c.name for c in data.customers}) == 120
    chinese = [c for c in data.customers if c.language == "zh"]
    latin = [c for c in data.customers if c.language == "en"]
    assert chinese and latin
    assert all("公司" in c.name and c.address.country == "CN" for c in chinese)
    assert {c.address.country for c in latin} >= {"DE", "US"}
    assert {c.currency for c in data.customers} == {"CNY", "EUR", "USD"}
    for crm in (ZOHO, FXIAOKE):
        assert any(c.blocked for c in data.customers_of(crm))
    assert all(c.credit_limit > 0 for c in data.customers)
    for m in data.materials:
        assert m.number.startswith("SP-") and m.number[3:].isdigit()
        assert m.description_zh and m.description_en
        assert m.moq >= m.pack_size and m.moq % m.pack_size == 0
        assert set(m.list_prices) == {"CNY", "EUR", "USD"} and all(p > 0 for p in m.list_prices.values())
        assert "1010" in m.plants
    assert {pl.currency for pl in data.price_lists} == {"CNY", "EUR", "USD"}
    assert len(data.stock) == sum(len(m.plants) for m in data.materials)
    assert all(s.unrestricted >= 0 and s.max_stock >= s.reorder_point >= s.safety_stock for s in data.stock)


def test_demand_is_intermittent(data: SeedData) -> None:
    ordered = Counter(line.material_number for o in data.orders for line in o.lines)
    # Most parts are rarely ordered: over six weeks of 600 orders most materials never appear at all,
    # while a few fast movers appear many times.
    assert sum(1 for m in data.materials if m.number not in ordered) > len(data.materials) / 2
    assert max(ordered.values()) >= 5
    # ...and demand is skewed: the 10 % of parts most likely to be ordered take far more than 10 % of lines.
    likely = sorted(data.materials, key=lambda m: m.demand_probability, reverse=True)[: len(data.materials) // 10]
    share = sum(ordered[m.number] for m in likely) / sum(ordered.values())
    assert share > 0.3
    probabilities = sorted(m.demand_probability for m in data.materials)
    assert probabilities[len(probabilities) // 2] < 0.1


def test_orders_split_and_spread(data: SeedData) -> None:
    by_crm = Counter(o.crm for o in data.orders if o.regular is None)
    assert by_crm[ZOHO] == 330 and by_crm[FXIAOKE] == 270
    assert {o.currency for o in data.orders_of(ZOHO)} == {"CNY", "EUR", "USD"}
    assert {o.currency for o in data.orders_of(FXIAOKE)} == {"CNY"}
    assert all(o.vat_rate == 13 for o in data.orders_of(FXIAOKE))
    start = DEFAULT_START - timedelta(weeks=6)
    assert all(start <= o.order_time <= o.modified_time < DEFAULT_START for o in data.orders)
    weeks = Counter((o.order_time - start).days // 7 for o in data.orders)
    assert len(weeks) == 6 and min(weeks.values()) > 50
    assert all(1 <= len(o.lines) <= 9 for o in data.orders)  # 1–8, plus one added for a duplicate
    assert len({o.number for o in data.orders}) == len(data.orders)


def test_regular_buyers_reorder_at_their_interval(data: SeedData) -> None:
    """One customer x part pair per 50 orders buys again every 7, 10 or 14 days (± 1), clean orders."""
    pairs: dict[tuple[str, str, int], list[SalesOrder]] = {}
    for o in data.orders:
        if o.regular is not None:
            pairs.setdefault((o.customer_number, *o.regular), []).append(o)
    assert len(pairs) == 600 // 50
    for (customer, part, interval), orders in pairs.items():
        assert interval in (7, 10, 14) and len(orders) >= 42 // (interval + 1) - 1
        assert all(o.lines[0].material_number == part and not o.defects for o in orders)
        days = sorted(o.order_time.date() for o in orders)
        assert all(interval - 2 <= (b - a).days <= interval + 2 for a, b in zip(days, days[1:], strict=False)), (
            customer,
            part,
            days,
        )
    assert generate(7, 40).orders and not [o for o in generate(7, 40).orders if o.regular]


def test_now_moves_the_order_book() -> None:
    later = datetime(2027, 3, 1, tzinfo=UTC)
    d = generate(7, 50, later)
    assert all(later - timedelta(weeks=6) <= o.order_time < later for o in d.orders)


def _clean_problems(d: SeedData, o: SalesOrder) -> list[str]:
    problems = []
    customer = d.customer_by_number.get(o.customer_number or "")
    if customer is None or customer.blocked or customer.currency != o.currency:
        problems.append("customer")
    numbers = [ln.line_number for ln in o.lines]
    if len(set(numbers)) != len(numbers):
        problems.append("line numbers")
    for ln in o.lines:
        m = d.material_by_number.get(ln.material_number)
        if m is None or ln.currency != o.currency or not isinstance(ln.unit_price, Decimal):
            problems.append("line data")
            continue
        if ln.quantity < m.moq or ln.quantity % m.pack_size:
            problems.append("quantity")
        if ln.unit_price != m.list_prices[o.currency] or ln.discount_percent > 2:
            problems.append("price")
    return problems


def test_clean_orders_pass_every_business_rule(data: SeedData) -> None:
    clean = [o for o in data.orders if not o.defects]
    assert len(clean) > 500
    assert {o.number: _clean_problems(data, o) for o in clean if _clean_problems(data, o)} == {}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_every_defect_kind_in_each_crm(seed: int) -> None:
    d = generate(seed, 200)
    for crm in (ZOHO, FXIAOKE):
        kinds = {k for o in d.orders_of(crm) for k in o.defects}
        assert kinds == {k.value for k in DefectKind}, crm
    assert d.defects == {o.number: o.defects for o in d.orders if o.defects}
    assert QUARANTINE_DEFECTS | TOLERATED_DEFECTS == set(DefectKind)


def test_defects_are_really_in_the_orders(data: SeedData) -> None:
    for number, kinds in data.defects.items():
        o = data.order_by_number[number]
        kind = DefectKind(kinds[0])
        lines = o.lines
        customer = data.customer_by_number.get(o.customer_number or "")
        if kind is DefectKind.MISSING_CUSTOMER:
            assert o.customer_number is None
        elif kind is DefectKind.UNKNOWN_PRODUCT:
            assert any(ln.material_number not in data.material_by_number for ln in lines)
        elif kind is DefectKind.BAD_QUANTITY:
            assert any(ln.quantity <= 0 for ln in lines)
        elif kind is DefectKind.NON_NUMERIC_PRICE:
            assert any(isinstance(ln.unit_price, str) for ln in lines)
        elif kind is DefectKind.DUPLICATE_LINE_NUMBERS:
            assert len({ln.line_number for ln in lines}) < len(lines)
        elif kind is DefectKind.CURRENCY_MISMATCH:
            assert any(ln.currency != o.currency for ln in lines)
        elif kind is DefectKind.EMOJI_TEXT:
            assert any(ord(ch) > 0x1F000 for ch in o.description or "")
        elif kind is DefectKind.LONG_TEXT:
            assert len(o.description or "") == 500
        elif kind is DefectKind.UNKNOWN_EXTRA_FIELDS:
            assert o.extra_fields and any(ln.extra_fields for ln in lines)
        elif kind is DefectKind.MISSING_OPTIONAL_FIELDS:
            assert (o.purchase_order, o.requested_delivery_date, o.ship_to, o.carrier) == (None, None, None, None)
        elif kind is DefectKind.BLOCKED_CUSTOMER:
            assert customer is not None and customer.blocked
        elif kind is DefectKind.BELOW_MOQ:
            assert any(
                0 < ln.quantity < data.material_by_number[ln.material_number].moq
                for ln in lines
                if ln.material_number in data.material_by_number
            )
        elif kind is DefectKind.PACK_SIZE_VIOLATION:
            assert any(
                ln.quantity % data.material_by_number[ln.material_number].pack_size
                for ln in lines
                if ln.material_number in data.material_by_number
            )
        elif kind is DefectKind.PRICE_OUT_OF_TOLERANCE:
            assert any(
                isinstance(ln.unit_price, Decimal)
                and ln.unit_price < data.material_by_number[ln.material_number].list_prices[o.currency] * Decimal("0.6")
                for ln in lines
                if ln.material_number in data.material_by_number
            )
