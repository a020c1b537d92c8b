"""The ops report's named queries (include/sql/kpi_*.sql) give the right facts on SQLite and PostgreSQL:
windows cut at the business day's edges in the hub's time zone, exact quantities and money, the first
confirmation after SAP took the order, shipped and delivered as of the end of the day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert

from flows.ops_report.facts import BACKORDER_STATES, load
from hub.schema import (
    deliveries,
    delivery_lines,
    gate_results,
    ledger,
    materials,
    order_allocations,
    order_lines,
    orders,
    quarantine,
    sap_orders,
    stock_snapshots,
)
from transforms.kpis import Span, build_report

DAY = date(2026, 12, 1)  # Asia/Shanghai: 2026-11-30 16:00Z … 2026-12-01 16:00Z
SPAN = Span.of(DAY, "Asia/Shanghai")
SOURCES = ["zoho_crm", "fxiaoke"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _order(source: str, oid: str, number: str, at: datetime, status: str, gross: str, lines: int, **kw) -> dict:
    return {
        "source": source,
        "crm_order_id": oid,
        "order_number": number,
        "customer_number": "C1",
        "currency": "CNY",
        "order_time": at,
        "crm_modified_at": at,
        "net_amount": Decimal(gross),
        "tax_amount": Decimal(0),
        "gross_amount": Decimal(gross),
        "line_count": lines,
        "status": status,
        "content_hash": "h",
        "updated_at": at,
        "requested_date": None,  # every row names the same columns (executemany takes the first row's)
        **kw,
    }


def _line(source: str, oid: str, n: int, material: str, qty: str, net: str) -> dict:
    return {
        "source": source,
        "crm_order_id": oid,
        "line_no": n,
        "material": material,
        "quantity": Decimal(qty),
        "unit_price": Decimal(0),
        "discount": Decimal(0),
        "net_amount": Decimal(net),
        "tax_rate": Decimal(0),
        "tax_amount": Decimal(0),
        "currency": "CNY",
    }


def _alloc(source: str, oid: str, n: int, material: str, plant: str, qty: str, confirmed: str, when, item) -> dict:
    return {
        "source": source,
        "crm_order_id": oid,
        "line_no": n,
        "material": material,
        "plant": plant,
        "ordered_qty": Decimal(qty),
        "allocated_qty": Decimal(confirmed),
        "confirmed_qty": Decimal(confirmed),
        "confirmed_date": when,
        "sap_item": item,
        "updated_at": utc(2026, 11, 28),
    }


def _ledger(target: str, key: str, status: str, created: datetime, sent: datetime | None) -> dict:
    return {
        "target": target,
        "idem_key": key,
        "payload_hash": "x",
        "payload": {},
        "status": status,
        "created_at": created,
        "updated_at": created,
        "sent_at": sent,
    }


def _delivery(
    number: str, source: str, oid: str, plant: str, final: datetime | None, delivered: datetime | None
) -> dict:
    return {
        "delivery": number,
        "source": source,
        "crm_order_id": oid,
        "sap_order": "1",
        "plant": plant,
        "warehouse": "WH",
        "status": "issued",
        "final_confirm_at": final,
        "delivered_at": delivered,
        "created_at": utc(2026, 11, 28),
        "updated_at": utc(2026, 11, 28),
    }


def _gate(gate: str, at: datetime, evaluated: int, passed: int, success: bool = True) -> dict:
    return {
        "gate": gate,
        "source": "zoho_crm",
        "run_id": f"r{at.isoformat()}",
        "evaluated": evaluated,
        "passed": passed,
        "quarantined": evaluated - passed,
        "success": success,
        "blocking_breach": False,
        "summary": {},
        "created_at": at,
    }


def _held(key: str, at: datetime, status: str = "open") -> dict:
    return {
        "stage": "order_review",
        "source": "zoho_crm",
        "record_key": key,
        "error_class": "BusinessRule",
        "field": "quantity",
        "detail": "below MOQ",
        "payload": {},
        "status": status,
        "created_at": at,
        "updated_at": at,
    }


def _snapshot(run: str, plant: str, material: str, unrestricted: str, available: str, at: datetime) -> dict:
    return {
        "run_id": run,
        "plant": plant,
        "material": material,
        "unrestricted": Decimal(unrestricted),
        "available": Decimal(available),
        "taken_at": at,
    }


@pytest.fixture
def world(hub_db):
    with hub_db.begin() as conn:
        conn.execute(
            insert(orders),
            [
                # A: placed in the week before, confirmed, shipped, delivered on the day (local 18:00) in full
                _order("zoho_crm", "A", "SO-A", utc(2026, 11, 28, 2), "delivered", "100.0001", 2),
                # B: placed on the day (local 09:00), partly confirmed, shipped in part, not delivered
                _order(
                    "fxiaoke",
                    "B",
                    "SO-B",
                    utc(2026, 12, 1, 1),
                    "partial",
                    "70.00",
                    1,
                    requested_date=date(2026, 11, 20),
                ),
                # C: placed after the day's end (local 12-02 01:00): not seen
                _order("zoho_crm", "C", "SO-C", utc(2026, 12, 1, 17), "accepted", "5", 1),
                # E: cancelled: no lines due
                _order("zoho_crm", "E", "SO-E", utc(2026, 11, 29), "cancelled", "9", 1),
            ],
        )
        conn.execute(
            insert(order_lines),
            [
                _line("zoho_crm", "A", 1, "M-A", "10", "50.00"),
                _line("zoho_crm", "A", 2, "M-A2", "5.5", "50.0001"),
                _line("fxiaoke", "B", 1, "M-B", "7", "70.00"),
                _line("zoho_crm", "C", 1, "M-A", "1", "5"),
                _line("zoho_crm", "E", 1, "M-A", "1", "9"),
            ],
        )
        conn.execute(
            insert(order_allocations),
            [
                _alloc("zoho_crm", "A", 1, "M-A", "1010", "10", "10", DAY, "10"),
                _alloc("zoho_crm", "A", 2, "M-A2", "1010", "5.5", "5.5", DAY, "20"),
                _alloc("fxiaoke", "B", 1, "M-B", "1020", "7", "3", date(2026, 11, 30), "10"),
                _alloc("zoho_crm", "E", 1, "M-A", "1010", "1", "1", DAY, "10"),
            ],
        )
        conn.execute(
            insert(sap_orders),
            [
                {
                    "source": "zoho_crm",
                    "crm_order_id": "A",
                    "order_number": "SO-A",
                    "sap_order": "100",
                    "created_at": utc(2026, 11, 28, 3),
                    "updated_at": utc(2026, 11, 28, 3),
                },
                {
                    "source": "fxiaoke",
                    "crm_order_id": "B",
                    "order_number": "SO-B",
                    "sap_order": "101",
                    "created_at": utc(2026, 12, 1, 2),
                    "updated_at": utc(2026, 12, 1, 2),
                },
            ],
        )
        conn.execute(
            insert(ledger),
            [
                # a backorder notice before SAP took A does not count as its confirmation
                _ledger(
                    "crm.zoho_crm.confirmation",
                    "SO-A:aaaaaaaaaaaaaaaa",
                    "sent",
                    utc(2026, 11, 28, 2),
                    utc(2026, 11, 28, 2, 30),
                ),
                _ledger(
                    "crm.zoho_crm.confirmation",
                    "SO-A:0123456789abcdef",
                    "sent",
                    utc(2026, 11, 28, 4),
                    utc(2026, 11, 28, 4),
                ),
                _ledger(
                    "crm.fxiaoke.confirmation",
                    "SO-B:0123456789abcdef",
                    "sent",
                    utc(2026, 12, 1, 3),
                    utc(2026, 12, 1, 3),
                ),
                # the backlog: one pending, one failed; one created after the day is not in it
                _ledger("sap.sales_order", "SO-X", "pending", utc(2026, 11, 30, 12), None),
                _ledger("sap.sales_order", "SO-Y", "failed", utc(2026, 12, 1, 0), None),
                _ledger("sap.sales_order", "SO-Z", "failed", utc(2026, 12, 2, 0), None),
            ],
        )
        conn.execute(
            insert(deliveries),
            [
                _delivery("D1", "zoho_crm", "A", "1010", utc(2026, 11, 29, 8), utc(2026, 12, 1, 10)),
                _delivery("D2", "fxiaoke", "B", "1020", utc(2026, 11, 30, 5), None),
            ],
        )
        conn.execute(
            insert(delivery_lines),
            [
                {
                    "delivery": "D1",
                    "line_no": 10,
                    "sap_order_item": "10",
                    "material": "M-A",
                    "planned_qty": Decimal(10),
                    "shipped_qty": Decimal(10),
                },
                {
                    "delivery": "D1",
                    "line_no": 20,
                    "sap_order_item": "20",
                    "material": "M-A2",
                    "planned_qty": Decimal("5.5"),
                    "shipped_qty": Decimal("5.5"),
                },
                {
                    "delivery": "D2",
                    "line_no": 10,
                    "sap_order_item": "10",
                    "material": "M-B",
                    "planned_qty": Decimal(3),
                    "shipped_qty": Decimal(3),
                },
            ],
        )
        conn.execute(
            insert(gate_results),
            [
                _gate("raw_crm_orders", utc(2026, 12, 1, 2), 10, 9),  # the day
                _gate("raw_crm_orders", utc(2026, 11, 25), 5, 5),  # the week before
                _gate("raw_crm_orders", utc(2026, 11, 10), 4, 0, success=False),  # 8–28 days before
                _gate("raw_crm_orders", utc(2026, 12, 2), 100, 0),  # after the day
            ],
        )
        conn.execute(
            insert(quarantine),
            [
                _held("k1", utc(2026, 12, 1, 1)),
                _held("k2", utc(2026, 12, 1, 2)),
                _held("k3", utc(2026, 11, 20), "resolved"),
            ],
        )
        conn.execute(
            insert(materials),
            [
                {
                    "material": m,
                    "base_unit": "PC",
                    "moq": Decimal(1),
                    "pack_size": Decimal(1),
                    "active": True,
                    "updated_at": utc(2026, 11, 1),
                }
                for m in ("M-A", "M-A2", "M-B")
            ],
        )
        conn.execute(
            insert(stock_snapshots),
            [
                _snapshot("r1", "1020", "M-B", "0", "0", utc(2026, 11, 29)),
                _snapshot("r2", "1020", "M-B", "2", "2", utc(2026, 11, 30)),
                _snapshot("r3", "1020", "M-B", "900", "900", utc(2026, 12, 2)),  # after the day
                _snapshot("r1", "1010", "M-A", "100", "50", utc(2026, 11, 28)),
            ],
        )
    return hub_db


def test_order_events_are_cut_at_the_day_and_confirmed_after_sap(world):
    facts = load(world, SPAN, sources=SOURCES)
    by_id = {o.crm_order_id: o for o in facts["orders"]}
    assert set(by_id) == {"A", "B", "E"}  # C was placed after the day
    a, b = by_id["A"], by_id["B"]
    assert a.gross_amount == Decimal("100.0001")  # exact on SQLite too
    assert _naive(a.confirmed_at) == datetime(2026, 11, 28, 4)  # not the backorder notice before SAP had it
    assert _naive(a.shipped_at) == datetime(2026, 11, 29, 8)
    assert _naive(a.fully_delivered_at) == datetime(2026, 12, 1, 10)
    assert (a.ordered_qty, a.confirmed_qty, a.lines_confirmed_full) == (Decimal("15.5"), Decimal("15.5"), 2)
    assert b.delivered_at is None and b.open_deliveries == 1 and b.fully_delivered_at is None
    assert (b.ordered_qty, b.confirmed_qty, b.lines_confirmed_full) == (Decimal(7), Decimal(3), 0)


def test_order_lines_carry_what_was_shipped_and_delivered_by_the_end_of_the_day(world):
    lines = {(ln.crm_order_id, ln.line_no): ln for ln in load(world, SPAN, sources=SOURCES)["lines"]}
    assert set(lines) == {("A", 1), ("A", 2), ("B", 1)}  # not C (after the day), not E (cancelled)
    a2, b1 = lines[("A", 2)], lines[("B", 1)]
    assert (a2.ordered_qty, a2.shipped_qty, a2.delivered_qty, a2.plant) == (
        Decimal("5.5"),
        Decimal("5.5"),
        Decimal("5.5"),
        "1010",
    )
    assert a2.confirmed_date == DAY and a2.net_amount == Decimal("50.0001")
    assert (b1.confirmed_qty, b1.shipped_qty, b1.delivered_qty, b1.delivered_at) == (
        Decimal(3),
        Decimal(3),
        Decimal(0),
        None,
    )
    assert b1.requested_date == date(2026, 11, 20) and b1.status == "partial"


def test_gates_quarantine_ledger_and_stock_per_window(world):
    facts = load(world, SPAN, sources=SOURCES)
    gates = {r["bucket"]: r for r in facts["gate_rows"]}
    assert {b: (r["evaluated"], r["passed"], r["failed_runs"]) for b, r in gates.items()} == {
        "day": (10, 9, 0),
        "week": (5, 5, 0),
        "month": (4, 0, 1),
    }
    (held,) = facts["quarantine_rows"]
    assert (held["open_records"], held["new_day"], held["new_week"], held["new_month"]) == (2, 2, 0, 1)
    sends = {r["target"]: r for r in facts["ledger_rows"]}
    sap = sends["sap.sales_order"]
    assert (sap["pending"], sap["failed"]) == (1, 1)  # SO-Z was created after the day
    assert _naive(sap["oldest_open"]) == datetime(2026, 11, 30, 12)
    assert (sends["crm.zoho_crm.confirmation"]["sent_week"], sends["crm.fxiaoke.confirmation"]["sent_day"]) == (2, 1)
    stock = {r["plant"]: r for r in facts["stock_rows"]}
    assert stock["1020"]["out_of_stock"] == 0  # the latest snapshot by the day's end: 2 in stock
    assert stock["1020"]["short_beyond_available"] == 1 and stock["1020"]["short_qty"] == Decimal(4)
    assert stock["1010"]["backordered_materials"] == 0 and stock["1010"]["active_materials"] == 3


def test_the_report_of_the_day(world):
    facts = load(world, SPAN, sources=SOURCES)
    report = build_report(
        SPAN,
        **facts,
        sources=SOURCES,
        plants=["1010", "1020", "2010"],
        tracked_plants=["1010", "1020"],
        backorder_states=BACKORDER_STATES,
    )
    service = report.service[""]
    # A's two lines were due on the day and signed for in full that day; B's line was due the day before.
    assert (service["day"].lines, service["day"].otif_lines.pct(), service["day"].otif_orders.pct()) == (
        2,
        Decimal("100.0"),
        Decimal("100.0"),
    )
    assert (service["prev7"].lines, service["prev7"].otif_lines.pct(), service["prev7"].unit_fill.value) == (
        1,
        Decimal("0.0"),
        Decimal(3) / Decimal(7),
    )
    assert report.intake[""]["day"].orders == 1 and report.intake["zoho_crm"]["prev7"].orders == 2
    assert report.confirmed[""]["day"].orders == 1 and report.confirmed[""]["prev7"].orders == 1
    total = report.cycle["day"]["total"]
    assert total.n == 1 and total.median == Decimal(80) / Decimal(24)  # 11-28 02:00 → 12-01 10:00
    aging = report.aging[""]
    assert (aging["8-14"].lines, aging["8-14"].units, aging["8-14"].values) == (
        1,
        Decimal(4),
        {"CNY": Decimal("40.00")},
    )


def _naive(moment: datetime | None) -> datetime | None:
    """SQLite gives naive UTC, PostgreSQL aware: compare as naive UTC."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
