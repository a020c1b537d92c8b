"""Step 2: the three-way match of one business day, per company code: the order lines billed that day,
with everything ordered, goods-issued and billed for them so far (transforms/settlement_match.py);
money recomputed exactly (transforms/settlement_money.py) and compared with SAP's billing totals.

What matches goes into the day's file: the day's billing items of the matched order lines. The rest
is recorded in ``settlement_exceptions`` with its reason, and in the exceptions report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, select, tuple_

from hub import gate_results
from hub.db import in_chunks
from hub.schema import (
    billing_documents,
    billing_items,
    goods_issues,
    order_allocations,
    order_lines,
    sap_orders,
    settlement_exceptions,
)
from transforms.settlement_file import SettlementLine, settlement_lines
from transforms.settlement_match import BillingLine, DeliveredLine, OrderLine, Tolerances, match, money_inputs
from transforms.settlement_money import (
    BillingHeader,
    MoneyResult,
    MoneyRules,
    TaxRate,
    TaxTable,
    compare_with_sap,
    line_money,
)

log = logging.getLogger(__name__)

# A day with hundreds of thousands of billed order lines is read in chunks of (sap_order, sap_item)
# keys (hub.db.in_chunks: under every database's limit of bound values), each row read once (the
# keys are distinct). On SQLite each chunk also names the range of its SAP orders (implied by its
# sorted keys; SQLite's BINARY collation orders text as Python does): SQLite scans the whole table
# for a row-value IN list, but reads a range on the order number through the index, so a day costs
# one pass over its own rows, not one pass over the table per chunk (1M billed lines: minutes → seconds).


def _by_keys(conn: Any, keys: set[tuple[str, str]], statement: Any, order_column: Any) -> list[Any]:
    """The rows of ``statement(chunk)`` for every chunk of the sorted ``keys``, in order;
    ``order_column`` is the SAP order number column the keys' first part is compared with."""
    ordered = sorted(keys)
    ranged = conn.dialect.name == "sqlite"
    rows: list[Any] = []
    for chunk in in_chunks(ordered):
        stmt = statement(chunk)
        if ranged:
            stmt = stmt.where(order_column.between(chunk[0][0], chunk[-1][0]))
        rows += conn.execute(stmt).all()
    return rows


@dataclass(frozen=True)
class DaySettlement:
    company_code: str
    lines: list[SettlementLine]
    exceptions: list[dict[str, Any]]
    totals: dict[str, Any]  # currency → net/tax/gross recomputed (signed), for the summary
    matched: int


def _keys_of_day(conn: Any, business_day: date) -> dict[str, set[tuple[str, str]]]:
    rows = conn.execute(
        select(billing_documents.c.company_code, billing_items.c.sales_order, billing_items.c.sales_order_item)
        .join(billing_items, billing_items.c.billing_document == billing_documents.c.billing_document)
        .where(billing_documents.c.billing_date == business_day)
    ).all()
    out: dict[str, set[tuple[str, str]]] = {}
    for company, order, item in rows:
        out.setdefault(company, set()).add((order or "", item or ""))
    return out


def _billing(conn: Any, keys: set[tuple[str, str]], business_day: date) -> list[BillingLine]:
    # The item's amounts, not the header's: both tables have net/tax/gross_amount, and a select of
    # both tables would name the header's plainly (the item's become net_amount_1 ...).
    header = billing_documents.c
    rows = _by_keys(
        conn,
        keys,
        lambda chunk: (
            select(
                billing_items,
                header.billing_type,
                header.category,
                header.is_cancelled,
                header.cancelled_document,
                header.currency,
                header.billing_date,
                header.company_code,
            )
            .join(billing_documents, billing_items.c.billing_document == billing_documents.c.billing_document)
            .where(
                tuple_(billing_items.c.sales_order, billing_items.c.sales_order_item).in_(chunk),
                billing_documents.c.billing_date <= business_day,
            )
        ),
        billing_items.c.sales_order,
    )
    return [
        BillingLine(
            billing_document=r.billing_document,
            item=r.item,
            billing_type=r.billing_type,
            category=r.category,
            is_cancelled=r.is_cancelled,
            cancelled_document=r.cancelled_document or "",
            sap_order=r.sales_order or "",
            sap_item=r.sales_order_item or "",
            delivery=r.delivery or "",
            delivery_item=r.delivery_item or "",
            material=r.material,
            quantity=r.quantity,
            net_amount=r.net_amount,
            tax_amount=r.tax_amount,
            gross_amount=r.gross_amount,
            currency=r.currency,
            billing_date=r.billing_date,
            company_code=r.company_code,
        )
        for r in rows
    ]


def _deliveries(conn: Any, keys: set[tuple[str, str]]) -> list[DeliveredLine]:
    rows = _by_keys(
        conn,
        keys,
        lambda chunk: select(goods_issues).where(
            tuple_(goods_issues.c.sales_order, goods_issues.c.sales_order_item).in_(chunk),
        ),
        goods_issues.c.sales_order,
    )
    return [
        DeliveredLine(
            r.delivery, r.item, r.sales_order, r.sales_order_item, r.material, r.issued_qty, r.goods_issue_date
        )
        for r in rows
    ]


def _orders(conn: Any, keys: set[tuple[str, str]]) -> list[OrderLine]:
    rows = _by_keys(
        conn,
        keys,
        lambda chunk: (
            select(sap_orders.c.sap_order, order_allocations.c.sap_item, order_lines)
            .join(
                order_allocations,
                and_(
                    order_allocations.c.source == sap_orders.c.source,
                    order_allocations.c.crm_order_id == sap_orders.c.crm_order_id,
                ),
            )
            .join(
                order_lines,
                and_(
                    order_lines.c.source == order_allocations.c.source,
                    order_lines.c.crm_order_id == order_allocations.c.crm_order_id,
                    order_lines.c.line_no == order_allocations.c.line_no,
                ),
            )
            .where(tuple_(sap_orders.c.sap_order, order_allocations.c.sap_item).in_(chunk))
        ),
        sap_orders.c.sap_order,
    )
    return [
        OrderLine(
            source=r.source,
            crm_order_id=r.crm_order_id,
            line_no=r.line_no,
            sap_order=r.sap_order,
            sap_item=r.sap_item,
            material=r.material,
            ordered_qty=r.quantity,
            # The net price per unit (after the line's discount), which SAP bills a part of the line at.
            unit_price=(r.net_amount / r.quantity) if r.quantity else r.unit_price,
            currency=r.currency,
            net_amount=r.net_amount,
            tax_rate=r.tax_rate,
        )
        for r in rows
    ]


def _headers(conn: Any, company: str, business_day: date) -> list[BillingHeader]:
    rows = conn.execute(
        select(billing_documents).where(
            billing_documents.c.company_code == company, billing_documents.c.billing_date == business_day
        )
    ).all()
    return [
        BillingHeader(
            r.billing_document,
            r.category,
            r.billing_type,
            r.currency,
            r.net_amount,
            r.tax_amount,
            r.gross_amount,
            company,
        )
        for r in rows
    ]


def _money(
    billing: list[BillingLine], orders: list[OrderLine], rules: MoneyRules, countries: dict[str, str | None]
) -> MoneyResult:
    """Net, tax and gross of the day's items. VAT of ``rules.country`` (the settings' tax country) is
    checked against its effective-dated rates; a billing of a customer in another country carries the
    rate the order was taken with (the hub's and SAP's), which is used as it is."""
    result = MoneyResult()
    by_country: dict[str, list[BillingLine]] = {}
    for b in billing:
        by_country.setdefault(countries.get(b.billing_document) or rules.country, []).append(b)
    for country, lines in sorted(by_country.items()):
        inputs = money_inputs(lines, orders)
        if country == rules.country:
            table = TaxTable()
        else:
            rates = {i.tax_rate for i in inputs if i.tax_rate is not None}
            table = TaxTable([TaxRate(country, r, date.min, f"order {r}") for r in sorted(rates)])
        part = line_money(inputs, replace(rules, country=country), table)
        result.lines.update(part.lines)
        result.errors.update(part.errors)
    return result


def settle_day(
    engine: Engine, run_id: str, business_day: date, rules: MoneyRules, tolerances: Tolerances
) -> list[DaySettlement]:
    """Match, price and check the day's billing of every company code; record the exceptions."""
    out = []
    with engine.connect() as conn:
        by_company = _keys_of_day(conn, business_day)
        inputs = {
            company: (
                _orders(conn, keys),
                _deliveries(conn, keys),
                _billing(conn, keys, business_day),
                _headers(conn, company, business_day),
            )
            for company, keys in by_company.items()
        }
        countries = dict(
            conn.execute(
                select(billing_documents.c.billing_document, billing_documents.c.country).where(
                    billing_documents.c.billing_date == business_day
                )
            ).all()
        )
    for company, (orders, delivered, billing, headers) in sorted(inputs.items()):
        result = match(orders, delivered, billing, tolerances, cutoff=business_day)
        todays = [b for b in billing if b.billing_date == business_day and b.company_code == company]
        money = _money(todays, orders, rules, countries)
        day_groups = [
            replace(g, billing=tuple(b for b in g.billing if b.billing_date == business_day)) for g in result.matched
        ]
        lines, refused = settlement_lines(day_groups, money, company)
        totals, differences = compare_with_sap(money.lines.values(), headers, rules)
        exceptions = [
            {
                "subject": f"{e.key[0]}/{e.key[1]}",
                "reason": e.reason,
                "detail": e.detail,
                "currency": (e.order.currency if e.order else (e.billing[0].currency if e.billing else None)),
                "amount": e.figures.billed_net,
            }
            for e in result.exceptions
        ]
        exceptions += [
            {
                "subject": f"{g.key[0]}/{g.key[1]}",
                "reason": "money_refused",
                "detail": why,
                "currency": g.order.currency if g.order else None,
                "amount": g.figures.billed_net,
            }
            for g, why in refused
        ]
        exceptions += [
            {
                "subject": f"{d.billing_document or 'all'} {d.currency} {d.amount}",
                "reason": "totals_difference",
                "detail": d.sentence(),
                "currency": d.currency,
                "amount": d.difference,
            }
            for d in differences
        ]
        out.append(
            DaySettlement(
                company,
                lines,
                exceptions,
                {c: {"net": str(t.net), "tax": str(t.tax), "gross": str(t.gross)} for c, t in totals.items()},
                len(result.matched) - len(refused),
            )
        )
        log.info(
            "company %s, %s: %d order lines matched (%d file lines), %d exceptions (%s)",
            company,
            business_day,
            len(result.matched) - len(refused),
            len(lines),
            len(exceptions),
            ", ".join(f"{k} {n}" for k, n in sorted(result.by_reason().items()) if n) or "none",
        )
    with engine.begin() as conn:
        for s in out:
            # The match is the gate of the settlement lines: every order line billed that day either
            # settles or is an exception (the counts balance; exceptions are held in their own table).
            judged = s.matched + len([e for e in s.exceptions if e["reason"] != "totals_difference"])
            gate_results.record(
                conn,
                gate_results.GateResult(
                    gate="settlement_lines",
                    run_id=run_id,
                    evaluated=judged,
                    passed=s.matched,
                    quarantined=judged - s.matched,
                    success=not s.exceptions,
                    blocking_breach=False,
                    source=s.company_code,
                    summary={"business_day": business_day.isoformat(), "exceptions": len(s.exceptions)},
                ),
            )
        conn.execute(delete(settlement_exceptions).where(settlement_exceptions.c.business_day == business_day))
        rows = [
            {"company_code": s.company_code, "business_day": business_day, "run_id": run_id, **e}
            for s in out
            for e in s.exceptions
        ]
        # One row per subject: an order line that is an exception twice keeps its first reason.
        unique = list({(r["company_code"], r["subject"]): r for r in reversed(rows)}.values())
        if unique:
            conn.execute(insert(settlement_exceptions), unique)
    return out
