"""Runs the order review (transforms/order_review.py) over a batch with master data from the hub.

Credit exposure accumulates through the batch in order-time order: two orders that each fit the
limit alone cannot both pass if together they exceed it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from hub import sql
from hub.keys import record_key
from hub.lifecycle import COUNTS_AGAINST_CREDIT
from hub.schema import MONEY, customers, materials, price_list
from transforms.business_day import business_date
from transforms.order_review import CustomerTerms, Finding, MaterialTerms, review_order


def review_batch(
    conn: Connection,
    batch: Mapping[str, tuple[dict[str, Any], list[dict[str, Any]]]],
    tolerance_pct: Decimal,
    zone: str | None = None,
) -> dict[str, list[Finding]]:
    """Findings per record key for the orders that break a rule; orders absent from it pass.

    Prices are those valid on the order's business day in ``zone`` (default: the settings'
    ``hub.timezone``, the one definition SAP's order date and the CRM dates use too).
    """
    if not batch:
        return {}
    if zone is None:
        from hub.settings import get_settings

        zone = get_settings().hub.timezone
    numbers = {order["customer_number"] for order, _ in batch.values()}
    wanted = {line["material"] for _, lines in batch.values() for line in lines}
    terms = {
        r.customer_number: CustomerTerms(r.customer_number, r.blocked, r.credit_limit, r.currency)
        for r in conn.execute(select(customers).where(customers.c.customer_number.in_(numbers)))
    }
    mats = {
        r.material: MaterialTerms(r.material, r.moq, r.pack_size, r.active)
        for r in conn.execute(select(materials).where(materials.c.material.in_(wanted)))
    }
    prices: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in conn.execute(select(price_list).where(price_list.c.material.in_(wanted))):
        prices[(r.material, r.currency)].append(r)
    exposure = _open_exposure(conn, numbers, [(o["source"], o["crm_order_id"]) for o, _ in batch.values()])

    # The price of a (material, currency) on a day, looked up once per pair and day the batch asks for:
    # the cost of an order is its lines, not the price list (resolving every pair for every order made
    # the review quadratic in the batch).
    valid_on: dict[tuple[str, str, date], Decimal | None] = {}

    def price_on(pair: tuple[str, str], day: date) -> Decimal | None:
        if (*pair, day) not in valid_on:
            valid_on[(*pair, day)] = _valid_price(prices.get(pair, ()), day)
        return valid_on[(*pair, day)]

    findings: dict[str, list[Finding]] = {}
    for key, (order, lines) in sorted(batch.items(), key=lambda kv: (kv[1][0]["order_time"], kv[0])):
        day = business_date(order["order_time"], zone)
        asked = {(line["material"], order["currency"]) for line in lines}
        customer = terms.get(order["customer_number"])
        found = review_order(
            order,
            lines,
            customer=customer,
            materials=mats,
            prices={pair: price for pair in asked if (price := price_on(pair, day)) is not None},
            price_tolerance_pct=tolerance_pct,
            open_exposure=exposure[order["customer_number"]],
        )
        if found:
            findings[key] = found
        elif customer is not None and order["currency"] == customer.currency:
            exposure[order["customer_number"]] += order["gross_amount"]
    return findings


def _valid_price(rows: Iterable[Any], day: date) -> Decimal | None:
    """The price of the first of a pair's price-list ``rows`` valid on ``day``; None when none is."""
    return next((r.price for r in rows if r.valid_from <= day <= r.valid_to), None)


def _open_exposure(conn: Connection, numbers: set[str], excluding: list[tuple[str, str]]) -> defaultdict:
    """Gross value of each customer's open orders in the credit currency, batch orders excluded
    (a re-pulled order must not count against itself): ``include/sql/credit_exposure.sql``."""
    exposure: defaultdict[str, Decimal] = defaultdict(lambda: Decimal(0))
    if not numbers:
        return exposure
    stmt = sql.query("credit_exposure", lists=("customers", "states", "excluded_keys"), types={"exposure": MONEY})
    rows = conn.execute(
        stmt,
        {
            "customers": sorted(numbers),
            "states": list(COUNTS_AGAINST_CREDIT),
            "excluded_keys": [record_key(source, crm_order_id) for source, crm_order_id in excluding],
        },
    )
    for number, total in rows:
        exposure[number] = total or Decimal(0)
    return exposure
