"""Benchmark: settling one business day of SAP billing (finance_settlement, issue 12).

Compares, in the same run, on the same machine and the same hub database (SQLite, ``hub.db.upgrade``):
- ``hub``: the production path: ``flows.finance_settlement.matching.settle_day`` (the day's keys, then
  order lines, goods issues, billing to date and the day's billing headers read through the table
  objects as exact decimals; ``transforms.settlement_match.match`` per SAP order item;
  ``transforms.settlement_money.line_money`` and ``compare_with_sap``; the exceptions written to
  ``settlement_exceptions``), then per company code ``transforms.settlement_file.write_settlement``
  (``render_rows``, ``csv_bytes``, ``controls``, the CSV and the manifest created under temporary
  names) and the gate ``verify`` of the CSV (re-read, SHA-256, every control recomputed).
  ``write_settlement`` always writes the XLSX copy too; here its ``xlsx_bytes`` is replaced by a stub
  (an empty file), so ``hub`` is the CSV + manifest path;
- ``xlsx``: the XLSX copy apart (10k and 100k lines only: openpyxl writes a few thousand rows a second
  and a worksheet holds at most 1,048,575 rows): ``settle_day`` and the rows rendered untimed, then
  timed ``xlsx_bytes`` (the workbook, its fixed zip) and, apart, the gate's read-back of it
  (``_xlsx_rows`` + ``controls``, what ``verify`` does with an XLSX);
- ``pandas``: the plain pandas pipeline a script would be: ``read_sql`` of the same tables (the day's
  SAP order items, selected in SQL), money and quantities as float64 (the scaled integers SQLite holds
  ÷ 10^scale), sign per document category, ``merge`` order lines × goods issues × billing on
  (sap_order, sap_item), ``groupby`` sums, the tolerances compared vectorised with ``np.select`` for
  the reasons (same order of rules as the hub; no check of a cancelled document whose cancellation is
  missing), tax = ``round(net × rate, 2)`` in float64, per-document totals against SAP's headers by
  ``groupby``, and ``to_csv`` of the file per company code and of the exceptions. Untimed afterwards,
  its tax and gross per line are compared with the exact ``Decimal`` result (net × rate rounded half
  up per line, the hub's rule): how many lines are off by a cent or more, and by how much the total
  tax per currency is off.

Data (deterministic, seed below): N billing items dated the business day, over ~N/5 orders of 1-9
lines (company codes 1010/1020 at 80/20 %, currencies CNY/USD at 97/3 %, VAT 13/9/6 % at 85/10/5 %,
unit prices 0.50-999.99 with any cents, quantities 1-50), each order with its SAP order, allocations
(SAP items), one outbound delivery goods-issued the day before and one F2 invoice of the day. Per
order line: 93.3 % plain (invoiced in full); 3 % billed partly three days earlier and the rest today
(cumulative match); 0.5 % invoiced five days earlier, one unit returned (a returns delivery, negative
goods issue) and credited today by a G2 credit memo; 1 % a price 5 % above the order's (price
difference); 0.5 % billed 2 units more than ordered and delivered (over-billed); 0.5 % not
goods-issued (billing without delivery); 0.2 % billed on a document in the other currency; 0.3 %
invoiced and cancelled today (F2 flagged cancelled + S1, two items). SAP's header totals are the sums
of their items (tax per item, half up), so the day's totals agree. Loaded with ``hub.bulk.upsert`` in
a separate process, untimed. Every case runs in a fresh subprocess (peak RSS is its own, as in
``bench.bulk_load``); cases up to 10k lines are timed as the median of 3 runs, larger ones once.

Usage: python -m bench.settlement [--sizes 10000,100000,1000000] [--methods hub,xlsx,pandas]
       [--xlsx-max 100000] [--profile 100000]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from bench.harness import parse, profile_top, run_module
from bench.machine import machine

SEED = 20261127
DAY = date(2026, 11, 27)
T0 = datetime(2026, 11, 20, 2, tzinfo=UTC)
CREATED = datetime(2026, 11, 28, 3, tzinfo=UTC)
INTERVAL = (datetime(2026, 11, 26, 18, tzinfo=UTC), datetime(2026, 11, 27, 18, tzinfo=UTC))
SOURCE = "zoho_crm"
COMPANIES = ("1010", "1020")
COMPANY_WEIGHTS = (80, 20)
CURRENCIES = ("CNY", "USD")
CURRENCY_WEIGHTS = (97, 3)
RATES = (Decimal("0.13"), Decimal("0.09"), Decimal("0.06"))
RATE_WEIGHTS = (85, 10, 5)
KINDS = (
    ("prior_partial", 0.03),
    ("returned", 0.005),
    ("price_difference", 0.01),
    ("over_billed", 0.005),
    ("no_delivery", 0.005),
    ("currency_mismatch", 0.002),
    ("cancelled", 0.003),
)
METHODS = ("hub", "xlsx", "pandas")
XLSX_MAX = 100_000
CENT = Decimal("0.01")


def timed_runs(n: int) -> int:
    return 3 if n <= 10_000 else 1


# -- data ------------------------------------------------------------------------------------------
def plan(n: int, seed: int = SEED) -> list[dict]:
    """Orders with their lines ``(line_no, material, qty, price, rate, kind)`` whose billing items of the
    day number exactly ``n``; deterministic."""
    rnd = random.Random(f"{seed}/{n}")
    orders: list[dict] = []
    day_items = 0
    while day_items < n:
        lines = []
        for line_no in range(1, rnd.randint(1, 9) + 1):
            if day_items >= n:
                break
            u, kind, acc = rnd.random(), "plain", 0.0
            for name, share in KINDS:
                acc += share
                if u < acc:
                    kind = name
                    break
            if kind == "cancelled" and day_items + 2 > n:
                kind = "plain"
            qty = rnd.randint(1, 50)
            if kind in ("prior_partial", "returned") and qty < 2:
                qty = 2
            price = Decimal(rnd.randint(50, 99_999)) / 100
            rate = rnd.choices(RATES, weights=RATE_WEIGHTS)[0]
            lines.append((line_no, f"SP-{100000 + rnd.randrange(20_000)}", qty, price, rate, kind))
            day_items += 2 if kind == "cancelled" else 1
        if lines:
            orders.append(
                {
                    "i": len(orders),
                    "company": rnd.choices(COMPANIES, weights=COMPANY_WEIGHTS)[0],
                    "currency": rnd.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0],
                    "lines": lines,
                }
            )
    return orders


def _tax(net: Decimal, rate: Decimal) -> Decimal:
    return (net * rate).quantize(CENT, ROUND_HALF_UP)


def _ids(o: dict) -> tuple[str, str, str, str]:
    i = o["i"]
    return f"Z{i:09d}", f"SO-{i}", f"10{i:08d}", f"80{i:08d}"


def order_rows(orders: list[dict]) -> Iterator[dict]:
    for o in orders:
        crm_id, number, _, _ = _ids(o)
        net = sum((q * p for _, _, q, p, _, _ in o["lines"]), Decimal(0))
        tax = sum((_tax(q * p, r) for _, _, q, p, r, _ in o["lines"]), Decimal(0))
        yield {
            "source": SOURCE,
            "crm_order_id": crm_id,
            "order_number": number,
            "currency": o["currency"],
            "order_time": T0,
            "crm_modified_at": T0,
            "net_amount": net,
            "tax_amount": tax,
            "gross_amount": net + tax,
            "line_count": len(o["lines"]),
            "status": "accepted",
            "content_hash": "x" * 64,
            "updated_at": T0,
        }


def line_rows(orders: list[dict]) -> Iterator[dict]:
    for o in orders:
        crm_id = _ids(o)[0]
        for line_no, material, qty, price, rate, _ in o["lines"]:
            net = qty * price
            yield {
                "source": SOURCE,
                "crm_order_id": crm_id,
                "line_no": line_no,
                "crm_line_id": f"{crm_id}-{line_no}",
                "crm_product_id": material,
                "material": material,
                "description": "brake pad 刹车片",
                "quantity": Decimal(qty),
                "unit": "PC",
                "unit_price": price,
                "discount": Decimal(0),
                "net_amount": net,
                "tax_rate": rate,
                "tax_amount": _tax(net, rate),
                "currency": o["currency"],
                "plant": "1010",
            }


def allocation_rows(orders: list[dict]) -> Iterator[dict]:
    for o in orders:
        crm_id = _ids(o)[0]
        for line_no, material, qty, _, _, _ in o["lines"]:
            yield {
                "source": SOURCE,
                "crm_order_id": crm_id,
                "line_no": line_no,
                "material": material,
                "plant": "1010",
                "priority": "02",
                "ordered_qty": Decimal(qty),
                "allocated_qty": Decimal(qty),
                "confirmed_qty": Decimal(qty),
                "sap_item": f"{line_no * 10:06d}",
                "updated_at": T0,
            }


def sap_order_rows(orders: list[dict]) -> Iterator[dict]:
    for o in orders:
        crm_id, number, sap_order, _ = _ids(o)
        yield {
            "source": SOURCE,
            "crm_order_id": crm_id,
            "order_number": number,
            "sap_order": sap_order,
            "currency": o["currency"],
            "created_at": T0,
            "updated_at": T0,
        }


def goods_issue_rows(orders: list[dict]) -> Iterator[dict]:
    for o in orders:
        _, _, sap_order, delivery = _ids(o)
        for line_no, material, qty, _, _, kind in o["lines"]:
            item = f"{line_no * 10:06d}"
            common = {"sales_order": sap_order, "sales_order_item": item, "material": material, "read_at": T0}
            issued = qty  # over-billed lines too: billed 2 more than ordered and delivered
            when = DAY - timedelta(days=6 if kind == "returned" else 1)
            if kind != "no_delivery":
                yield {"delivery": delivery, "item": item, "issued_qty": Decimal(issued), "goods_issue_date": when,
                       **common}  # fmt: skip
            if kind == "returned":  # one unit back: a returns delivery, a negative goods issue
                yield {"delivery": f"84{o['i']:08d}", "item": item, "issued_qty": Decimal(-1),
                       "goods_issue_date": DAY - timedelta(days=1), **common}  # fmt: skip


def billing_rows(orders: list[dict]) -> tuple[list[dict], list[dict]]:
    """Billing documents and items (headers' totals = their items', tax per item half up)."""
    docs: list[dict] = []
    items: list[dict] = []
    number = [0]

    def new_doc(o: dict, btype: str, category: str, day: date, currency: str, **extra: Any) -> dict:
        number[0] += 1
        doc = {
            "billing_document": f"9{number[0]:09d}",
            "billing_type": btype,
            "category": category,
            "billing_date": day,
            "company_code": o["company"],
            "sold_to": f"C{o['i'] % 5000:06d}",
            "purchase_order": _ids(o)[1],
            "currency": currency,
            "net_amount": Decimal(0),
            "tax_amount": Decimal(0),
            "gross_amount": Decimal(0),
            "is_cancelled": False,
            "cancelled_document": None,
            "last_changed_at": T0,
            "read_at": T0,
            "_items": 0,
            **extra,
        }
        docs.append(doc)
        return doc

    def add(doc: dict, o: dict, line: tuple, qty: int, net: Decimal) -> None:
        line_no, material, _, _, rate, _ = line
        _, _, sap_order, delivery = _ids(o)
        doc["_items"] += 1
        tax = _tax(net, rate)
        items.append(
            {
                "billing_document": doc["billing_document"],
                "item": f"{doc['_items'] * 10:06d}",
                "material": material,
                "plant": "1010",
                "quantity": Decimal(qty),
                "unit": "PC",
                "net_amount": net,
                "tax_amount": tax,
                "gross_amount": net + tax,
                "delivery": delivery,
                "delivery_item": f"{line_no * 10:06d}",
                "sales_order": sap_order,
                "sales_order_item": f"{line_no * 10:06d}",
            }
        )
        doc["net_amount"] += net
        doc["tax_amount"] += tax
        doc["gross_amount"] += net + tax

    for o in orders:
        cur = o["currency"]
        today = prior = early = credit = None
        for line in o["lines"]:
            _, _, qty, price, _, kind = line
            if kind == "prior_partial":
                prior = prior or new_doc(o, "F2", "M", DAY - timedelta(days=3), cur)
                first = qty // 2
                add(prior, o, line, first, first * price)
                today = today or new_doc(o, "F2", "M", DAY, cur)
                add(today, o, line, qty - first, (qty - first) * price)
            elif kind == "returned":
                early = early or new_doc(o, "F2", "M", DAY - timedelta(days=5), cur)
                add(early, o, line, qty, qty * price)
                credit = credit or new_doc(o, "G2", "O", DAY, cur)
                add(credit, o, line, 1, price)
            elif kind == "currency_mismatch":
                other = "USD" if cur == "CNY" else "CNY"
                add(new_doc(o, "F2", "M", DAY, other), o, line, qty, qty * price)
            elif kind == "cancelled":
                invoice = new_doc(o, "F2", "M", DAY, cur, is_cancelled=True)
                add(invoice, o, line, qty, qty * price)
                add(new_doc(o, "S1", "N", DAY, cur, cancelled_document=invoice["billing_document"]), o, line, qty,
                    qty * price)  # fmt: skip
            else:
                today = today or new_doc(o, "F2", "M", DAY, cur)
                if kind == "price_difference":
                    add(today, o, line, qty, (qty * price * Decimal("1.05")).quantize(CENT, ROUND_HALF_UP))
                elif kind == "over_billed":
                    add(today, o, line, qty + 2, (qty + 2) * price)
                else:  # plain, no_delivery
                    add(today, o, line, qty, qty * price)
    for d in docs:
        del d["_items"]
    return docs, items


def load(url: str, n: int) -> dict:
    """Fill the hub database at ``url`` with the day's data (untimed; its own process)."""
    from hub.bulk import upsert
    from hub.db import make_engine, upgrade
    from hub.schema import (
        billing_documents,
        billing_items,
        goods_issues,
        order_allocations,
        order_lines,
        orders,
        sap_orders,
    )

    started = time.perf_counter()
    plan_ = plan(n)
    upgrade(url)
    engine = make_engine(url)
    docs, items = billing_rows(plan_)
    with engine.begin() as conn:
        upsert(conn, orders, order_rows(plan_), key=("source", "crm_order_id"))
        upsert(conn, order_lines, line_rows(plan_), key=("source", "crm_order_id", "line_no"))
        upsert(conn, order_allocations, allocation_rows(plan_), key=("source", "crm_order_id", "line_no"))
        upsert(conn, sap_orders, sap_order_rows(plan_), key=("source", "crm_order_id"))
        upsert(conn, goods_issues, goods_issue_rows(plan_), key=("delivery", "item"))
        upsert(conn, billing_documents, docs, key=("billing_document",))
        upsert(conn, billing_items, items, key=("billing_document", "item"))
    engine.dispose()
    day_items = sum(1 for it, d in _items_with_docs(docs, items) if d["billing_date"] == DAY)
    assert day_items == n, (day_items, n)
    kinds = Counter(line[5] for o in plan_ for line in o["lines"])
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "orders": len(plan_),
        "order_lines": sum(len(o["lines"]) for o in plan_),
        "billing_documents": len(docs),
        "billing_items_all_days": len(items),
        "kinds": dict(sorted(kinds.items())),
    }


def _items_with_docs(docs: list[dict], items: list[dict]) -> Iterator[tuple[dict, dict]]:
    by = {d["billing_document"]: d for d in docs}
    for it in items:
        yield it, by[it["billing_document"]]


# -- contenders ------------------------------------------------------------------------------------
def _rules() -> tuple[Any, Any]:
    """The production rules with the settings' defaults."""
    from hub.settings import SettlementSection, TaxSection, TolerancesSection
    from transforms.settlement_match import Tolerances
    from transforms.settlement_money import MoneyRules

    s, tax, tol = SettlementSection(), TaxSection(), TolerancesSection()
    return MoneyRules(tax.rounding_mode, tax.rounding_scope, s.tax_country), Tolerances(
        s.qty_tolerance, s.amount_tolerance, tol.price_pct
    )


def _summary(days: list[Any]) -> dict:
    reasons = Counter(e["reason"] for d in days for e in d.exceptions)
    return {
        "matched_order_lines": sum(d.matched for d in days),
        "file_lines": sum(len(d.lines) for d in days),
        "exceptions": dict(sorted(reasons.items())),
        "totals": {d.company_code: d.totals for d in days},
    }


def run_hub(engine: Any, folder: Path) -> dict:
    """settle_day, then per company code write_settlement (XLSX stubbed) and the gate's verify of the CSV."""
    import transforms.settlement_file as sf
    from flows.finance_settlement.matching import settle_day

    rules, tolerances = _rules()
    days = settle_day(engine, "bench", DAY, rules, tolerances)
    for d in days:
        written = sf.write_settlement(
            folder / d.company_code,
            d.company_code,
            DAY,
            d.lines,
            None,
            "bench",
            rules,
            data_interval=INTERVAL,
            created_at=CREATED,
        )
        assert written is not None
        problems = sf.verify(written.csv)
        assert not problems, problems
    return _summary(days)


def run_xlsx(engine: Any, phases: Counter) -> dict:
    """The XLSX copy apart: settle_day and the rows untimed, xlsx_bytes and its read-back timed."""
    import transforms.settlement_file as sf
    from flows.finance_settlement.matching import settle_day

    rules, tolerances = _rules()
    days = settle_day(engine, "bench", DAY, rules, tolerances)
    prepared = [(d, sf.render_rows(d.lines)) for d in days]
    prepared = [(d, rows, sf.controls(rows)) for d, rows in prepared]
    started = time.perf_counter()
    for d, rows, ctl in prepared:
        t = time.perf_counter()
        content = sf.xlsx_bytes(rows, ctl, DAY, f"{d.company_code} settlement {DAY.isoformat()} v01")
        phases["xlsx_write_s"] += time.perf_counter() - t
        t = time.perf_counter()
        back = sf.controls(sf._xlsx_rows(content))
        phases["xlsx_verify_s"] += time.perf_counter() - t
        assert back == ctl, "the XLSX does not read back to the rows' controls"
        phases["xlsx_bytes"] += len(content)
    phases["timed_s"] = time.perf_counter() - started
    return _summary(days)


SCALE_MONEY = 10_000  # hub.exact: MONEY is NUMERIC(18, 4), stored × 10^4 as an INTEGER on SQLite
SCALE_QTY = 1_000  # QUANTITY NUMERIC(18, 3)
SCALE_RATE = 10_000  # TAX_RATE NUMERIC(7, 4)

_DAY_KEYS = """
    SELECT DISTINCT i.sales_order, i.sales_order_item
    FROM billing_items i JOIN billing_documents d ON d.billing_document = i.billing_document
    WHERE d.billing_date = :day"""


def run_pandas(engine: Any, folder: Path) -> dict:
    """The plain pandas pipeline (see the module); returns its counts, and its day lines for the check."""
    import numpy as np
    import pandas as pd
    from sqlalchemy import text

    rules, tol = _rules()
    q, amount_tol, pct = float(tol.qty), float(tol.amount), float(tol.pct)
    day = DAY.isoformat()
    with engine.connect() as conn:
        billing = pd.read_sql(
            text(
                "SELECT d.billing_document, d.billing_type, d.category, d.billing_date, d.company_code, d.currency,"
                " d.is_cancelled, d.cancelled_document, i.item, i.material, i.quantity, i.net_amount, i.delivery,"
                " i.delivery_item, i.sales_order AS sap_order, i.sales_order_item AS sap_item"
                " FROM billing_items i JOIN billing_documents d ON d.billing_document = i.billing_document"
                " WHERE d.billing_date <= :day AND (i.sales_order, i.sales_order_item) IN (" + _DAY_KEYS + ")"
            ),
            conn,
            params={"day": day},
        )
        issues = pd.read_sql(
            text(
                "SELECT sales_order AS sap_order, sales_order_item AS sap_item, issued_qty, goods_issue_date"
                " FROM goods_issues WHERE (sales_order, sales_order_item) IN (" + _DAY_KEYS + ")"
            ),
            conn,
            params={"day": day},
        )
        ordered = pd.read_sql(
            text(
                "SELECT s.sap_order, a.sap_item, l.source, l.crm_order_id, l.line_no, l.quantity AS ordered_qty,"
                " l.unit_price, l.currency AS order_currency, l.net_amount AS order_net, l.tax_rate"
                " FROM sap_orders s JOIN order_allocations a"
                " ON a.source = s.source AND a.crm_order_id = s.crm_order_id"
                " JOIN order_lines l ON l.source = a.source AND l.crm_order_id = a.crm_order_id"
                " AND l.line_no = a.line_no"
                " WHERE (s.sap_order, a.sap_item) IN (" + _DAY_KEYS + ")"
            ),
            conn,
            params={"day": day},
        )
        headers = pd.read_sql(
            text(
                "SELECT billing_document, company_code, currency, category, net_amount, tax_amount, gross_amount"
                " FROM billing_documents WHERE billing_date = :day"
            ),
            conn,
            params={"day": day},
        )
    key = ["sap_order", "sap_item"]
    billing["quantity"] = billing["quantity"] / SCALE_QTY
    billing["net_amount"] = billing["net_amount"] / SCALE_MONEY
    issues["issued_qty"] = issues["issued_qty"] / SCALE_QTY
    for c in ("ordered_qty",):
        ordered[c] = ordered[c] / SCALE_QTY
    for c in ("unit_price", "order_net"):
        ordered[c] = ordered[c] / SCALE_MONEY
    ordered["tax_rate"] = ordered["tax_rate"] / SCALE_RATE
    for c in ("net_amount", "tax_amount", "gross_amount"):
        headers[c] = headers[c] / SCALE_MONEY

    cat, btype = billing["category"], billing["billing_type"]
    billing["sign"] = np.select(
        [cat.isin(["M", "P", "S"]), cat.isin(["O", "N"]), btype.isin(["F1", "F2", "L2", "S2"])], [1, -1, 1], -1
    )
    billing["cancel"] = cat.isin(["N", "S"]) | btype.isin(["S1", "S2"]) | billing["is_cancelled"].astype(bool)
    billing["s_qty"] = billing["sign"] * billing["quantity"]
    billing["s_net"] = billing["sign"] * billing["net_amount"]
    billing = billing.merge(ordered[[*key, "order_currency"]], on=key, how="left")
    billing["other_currency"] = billing["currency"] != billing["order_currency"]
    billed = billing.groupby(key, as_index=False).agg(
        billed_qty=("s_qty", "sum"),
        billed_net=("s_net", "sum"),
        touched=("cancel", "any"),
        other_currency=("other_currency", "any"),
        billing_lines=("item", "size"),
    )
    issued = issues[issues["goods_issue_date"].notna()]
    issued = issued.assign(by_cutoff=issued["issued_qty"].where(issued["goods_issue_date"] <= day, 0.0))
    delivered = issued.groupby(key, as_index=False).agg(delivered=("issued_qty", "sum"), by_cutoff=("by_cutoff", "sum"))

    m = ordered.merge(billed, on=key, how="outer", indicator=True).merge(delivered, on=key, how="left")
    for c in ("billed_qty", "billed_net", "delivered", "by_cutoff", "billing_lines"):
        m[c] = m[c].fillna(0)
    m["touched"] = m["touched"].fillna(False).astype(bool)
    m["other_currency"] = m["other_currency"].fillna(False).astype(bool)
    has_billing = m["billing_lines"] > 0
    m["expected"] = np.where(m["billed_qty"] == m["ordered_qty"], m["order_net"], m["billed_qty"] * m["unit_price"])
    diff = (m["billed_net"] - m["expected"]).abs()
    within = (diff <= amount_tol) | (diff * 100 <= pct * m["expected"].abs())
    m["reason"] = np.select(
        [
            m["_merge"] == "right_only",
            m["other_currency"],
            m["touched"] & (m["billed_qty"] == 0) & (m["billed_net"] == 0),
            ~has_billing & (m["by_cutoff"] > q),
            ~has_billing,
            (m["delivered"] <= q) & (m["billed_qty"] > q),
            m["billed_qty"] > m["ordered_qty"] + q,
            m["billed_qty"] > m["delivered"] + q,
            m["billed_qty"] < m["by_cutoff"] - q,
            ~within,
        ],
        [
            "missing_order",
            "currency_mismatch",
            "cancelled",
            "missing_billing",
            "pending",
            "billing_without_delivery",
            "over_billed",
            "under_delivered",
            "missing_billing",
            "price_difference",
        ],
        "matched",
    )

    # the day's billing items of matched order lines: money in float64, as a script would
    lines = billing[billing["billing_date"] == day].merge(
        m.loc[m["reason"] == "matched", [*key, "source", "crm_order_id", "line_no", "tax_rate"]], on=key
    )
    lines["net"] = lines["sign"] * lines["net_amount"]
    lines["tax"] = lines["sign"] * np.round(lines["net_amount"] * lines["tax_rate"], 2)
    lines["gross"] = lines["net"] + lines["tax"]
    lines["quantity"] = lines["sign"] * lines["quantity"]
    lines["tax_rate_pct"] = lines["tax_rate"] * 100
    lines["debit_credit"] = np.where(lines["gross"] < 0, "C", "D")
    lines = lines.sort_values(["billing_document", "item"])
    # per billing document against SAP's header totals (SAP's positive view)
    ours = (
        lines.assign(p_net=lines["net_amount"], p_tax=lines["tax"] * lines["sign"])
        .groupby("billing_document")[["p_net", "p_tax"]]
        .sum()
    )
    check = headers.set_index("billing_document").join(ours, how="inner")
    differences = int(
        (
            (check["p_net"] - check["net_amount"]).abs().ge(0.005)
            | (check["p_tax"] - check["tax_amount"]).abs().ge(0.005)
        ).sum()
    )
    totals = lines.groupby(["company_code", "currency"])[["net", "tax", "gross"]].sum()
    columns = [
        "company_code", "billing_date", "billing_document", "item", "billing_type", "category",
        "cancelled_document", "sap_order", "sap_item", "source", "crm_order_id", "line_no", "delivery",
        "delivery_item", "material", "quantity", "currency", "net", "tax_rate_pct", "tax", "gross", "debit_credit",
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for company, part in lines.groupby("company_code"):
        part[columns].to_csv(folder / f"{company}_settlement_{DAY:%Y%m%d}.csv", index=False, float_format="%.2f")
    exceptions = m[~m["reason"].isin(["matched", "pending"])]
    exceptions[[*key, "reason", "billed_qty", "billed_net", "delivered", "ordered_qty"]].to_csv(
        folder / f"exceptions_{DAY:%Y%m%d}.csv", index=False, float_format="%.2f"
    )
    return {
        "matched_order_lines": int((m["reason"] == "matched").sum()),
        "file_lines": len(lines),
        "exceptions": {k: int(v) for k, v in sorted(Counter(exceptions["reason"]).items())},
        "document_total_differences": differences,
        "_lines": lines,
        "_totals": totals,
    }


def float_check(engine: Any, result: dict) -> dict:
    """Untimed: the pandas float64 money against the exact Decimal result, line by line and in total."""
    from sqlalchemy import select

    from hub.schema import billing_items, order_lines

    lines = result.pop("_lines")
    totals = result.pop("_totals")
    # exact values through the table objects (Decimal), by (document, item) and (source, order, line)
    with engine.connect() as conn:
        nets = {
            (d, i): v
            for d, i, v in conn.execute(
                select(billing_items.c.billing_document, billing_items.c.item, billing_items.c.net_amount)
            )
        }
        rates = {
            (s, o, ln): r
            for s, o, ln, r in conn.execute(
                select(order_lines.c.source, order_lines.c.crm_order_id, order_lines.c.line_no, order_lines.c.tax_rate)
            )
        }
    off_tax = off_gross = 0
    exact_tax: dict[str, Decimal] = Counter()
    for doc, item, src, crm, ln, sign, cur, tax, gross in zip(
        lines["billing_document"], lines["item"], lines["source"], lines["crm_order_id"], lines["line_no"],
        lines["sign"], lines["currency"], lines["tax"], lines["gross"], strict=True,
    ):  # fmt: skip
        net = nets[(doc, item)]
        t = sign * _tax(net, rates[(src, crm, int(ln))])
        g = sign * net + t
        exact_tax[cur] += t
        off_tax += abs(Decimal(repr(float(tax))) - t) >= Decimal("0.005")
        off_gross += abs(Decimal(repr(float(gross))) - g) >= Decimal("0.005")
    float_tax = totals.groupby(level="currency")["tax"].sum()
    return {
        "lines_tax_off_by_a_cent_or_more": int(off_tax),
        "lines_gross_off_by_a_cent_or_more": int(off_gross),
        "total_tax_difference": {
            cur: str((Decimal(repr(float(float_tax[cur]))) - exact_tax[cur]).quantize(CENT))
            for cur in sorted(exact_tax)
        },
        "total_tax_float_repr": {cur: repr(float(float_tax[cur])) for cur in sorted(exact_tax)},
        "total_tax_exact": {cur: str(exact_tax[cur]) for cur in sorted(exact_tax)},
    }


def run_case(method: str, url: str, n: int, repeat: int = 1, profile: bool = False) -> dict:
    """Run one case in this process; return rows/s (median of ``repeat``), peak RSS, phase times."""
    from hub.db import make_engine

    engine = make_engine(url)
    phases: dict[str, float] = Counter()
    if method == "pandas":
        import numpy  # noqa: F401 - the imports are one-off costs, not per line: outside the clock
        import pandas  # noqa: F401
    else:
        import flows.finance_settlement.matching as matching
        import transforms.settlement_file as sf

        if method == "hub":
            stack: list[float] = []  # exclusive phase times: a timed call inside another is not counted twice

            def timed(name: str, fn: Any) -> Any:
                def wrapper(*a: Any, **k: Any) -> Any:
                    stack.append(0.0)
                    t = time.perf_counter()
                    try:
                        return fn(*a, **k)
                    finally:
                        spent = time.perf_counter() - t
                        inner = stack.pop()
                        phases[name] += spent - inner
                        if stack:
                            stack[-1] += spent

                return wrapper

            # phase clocks around the modules' own calls (behaviour unchanged)
            for fn in ("_keys_of_day", "_orders", "_deliveries", "_billing", "_headers"):
                setattr(matching, fn, timed("read_s", getattr(matching, fn)))
            matching.match = timed("match_s", matching.match)
            matching.money_inputs = timed("money_s", matching.money_inputs)
            matching.line_money = timed("money_s", matching.line_money)
            matching.settlement_lines = timed("file_lines_s", matching.settlement_lines)
            matching.compare_with_sap = timed("totals_s", matching.compare_with_sap)
            sf.render_rows = timed("render_s", sf.render_rows)
            sf.csv_bytes = timed("csv_bytes_s", sf.csv_bytes)
            sf.controls = timed("controls_s", sf.controls)
            sf.verify = timed("verify_s", sf.verify)
            sf.xlsx_bytes = lambda *a, **k: b""  # the XLSX copy is measured apart (method xlsx)
            outer = timed("total", lambda f: f())
    times, prof, summary, extra = [], None, {}, {}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(repeat):
        phases.clear()
        summary = {}
        with tempfile.TemporaryDirectory() as tmp:
            prof = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if prof:
                prof.enable()
            if method == "hub":
                summary = outer(lambda: run_hub(engine, Path(tmp)))
            elif method == "xlsx":
                summary = run_xlsx(engine, phases)
            else:
                summary = run_pandas(engine, Path(tmp))
            if prof:
                prof.disable()
            elapsed = time.perf_counter() - started
        times.append(phases["timed_s"] if method == "xlsx" else elapsed)
    elapsed = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if method == "pandas":
        extra = float_check(engine, summary)
    engine.dispose()
    out = {
        "rows_per_s": round(n / elapsed),
        "seconds": round(elapsed, 3),
        "runs_seconds": [round(t, 3) for t in times],
        "peak_rss_mb": round(peak / 1024),
        "rss_growth_mb": round((peak - rss_before) / 1024),
        **summary,
        **extra,
    }
    if method == "xlsx":
        out["xlsx_write_rows_per_s"] = round(n / phases["xlsx_write_s"])
        out["xlsx_verify_rows_per_s"] = round(n / phases["xlsx_verify_s"])
        out["phases_s"] = {k: round(v, 3) for k, v in phases.items() if k.endswith("_s")}
        out["xlsx_mb"] = round(phases["xlsx_bytes"] / 2**20, 1)
    elif phases:
        total = phases.pop("total", 0.0)
        out["phases_s"] = {k: round(v, 3) for k, v in sorted(phases.items())}
        out["phases_s"]["rest_s"] = round(total, 3)  # settle_day's own code, write_settlement's files
    if prof:
        out["profile_tottime"] = profile_top(prof)
    return out


# -- driver ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None, *, lenient: bool = False) -> int:
    """``lenient``: ignore options meant for another benchmark (``bench.run`` forwards them to all)."""
    parser = argparse.ArgumentParser(prog="python -m bench.settlement")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--xlsx-max", type=int, default=XLSX_MAX, help="largest size the XLSX copy is measured at")
    parser.add_argument("--profile", default="100000", help="sizes at which the hub case also runs under cProfile")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: method|url|n|repeat|profile
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: url|n
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "settlement.json"))
    args = parse(parser, argv, lenient)
    if args.load:
        url, n = args.load.split("|")
        print(json.dumps(load(url, int(n))))
        return 0
    if args.case:
        method, url, n, repeat, profile = args.case.split("|")
        print(json.dumps(run_case(method, url, int(n), int(repeat), profile == "1"), default=str))
        return 0

    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")
    profile_sizes = {int(s) for s in args.profile.split(",") if s}
    results, inputs, skipped, profiles = [], {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            url = f"sqlite:///{Path(tmp) / f'settle{n}.sqlite'}"
            loaded = run_module("bench.settlement", ["--load", f"{url}|{n}"])
            inputs[str(n)] = {"billing_items_of_the_day": n, **{k: v for k, v in loaded.items() if k != "seconds"}}
            print(json.dumps({"backend": "sqlite", "rows": n, "loaded_s": loaded["seconds"]}), flush=True)
            for method in methods:
                if method == "xlsx" and n > args.xlsx_max:
                    skipped.append(
                        {
                            "backend": "sqlite",
                            "rows": n,
                            "method": method,
                            "reason": f"openpyxl writes a few thousand rows a second (--xlsx-max {args.xlsx_max})",
                        }
                    )
                    continue
                case = f"{method}|{url}|{n}|{timed_runs(n)}|0"
                row = {
                    "backend": "sqlite",
                    "rows": n,
                    "method": method,
                    **run_module("bench.settlement", ["--case", case]),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
            if n in profile_sizes and "hub" in methods:
                prof = run_module("bench.settlement", ["--case", f"hub|{url}|{n}|1|1"])
                profiles.append(
                    {
                        "backend": "sqlite",
                        "rows": n,
                        "seconds_under_profiler": prof["seconds"],
                        "phases_s": prof.get("phases_s"),
                        "tottime": prof["profile_tottime"],
                    }
                )
                print("\n".join(prof["profile_tottime"]), flush=True)
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "seed": SEED,
                "inputs": inputs,
                "results": results,
                "skipped": skipped,
                "profiles": profiles,
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
    )
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
