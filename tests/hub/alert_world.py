"""Seeded hub data on which every alert type fires once (and a twin of each that must not), shared by
the alert tests. Business day 2026-12-09 (Asia/Shanghai); 3PL plants 1010 and 1020 (config/hub.toml)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from hub.schema import (
    crm_inbox,
    customers,
    deliveries,
    delivery_lines,
    gate_results,
    ledger,
    materials,
    order_allocations,
    orders,
    stock_policies,
)

NOW = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
D = Decimal


def _order(number: str, status: str, *, customer: str = "C1", gross: str = "100", days_old: int = 3) -> dict[str, Any]:
    at = NOW - timedelta(days=days_old)
    return {
        "source": "zoho_crm",
        "crm_order_id": number,
        "order_number": number,
        "customer_number": customer,
        "currency": "CNY",
        "order_time": at,
        "crm_modified_at": at,
        "net_amount": D(gross),
        "tax_amount": D(0),
        "gross_amount": D(gross),
        "line_count": 1,
        "status": status,
        "content_hash": "x" * 64,
        "updated_at": at,
    }


def _alloc(number: str, plant: str, material: str, ordered: str, confirmed: str, confirmed_on: date | None) -> dict:
    return {
        "source": "zoho_crm",
        "crm_order_id": number,
        "line_no": 1,
        "material": material,
        "plant": plant,
        "ordered_qty": D(ordered),
        "allocated_qty": D(confirmed),
        "confirmed_qty": D(confirmed),
        "confirmed_date": confirmed_on,
        "sap_item": "10",
        "updated_at": NOW,
    }


def seed(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "customer_number": "C1",
                    "name": "Ok Ltd",
                    "currency": "CNY",
                    "credit_limit": D("100000"),
                    "blocked": False,
                    "updated_at": NOW,
                },
                {
                    "customer_number": "C9",
                    "name": "Over Ltd",
                    "currency": "CNY",
                    "credit_limit": D("1000"),
                    "blocked": False,
                    "updated_at": NOW,
                },
            ],
        )
        conn.execute(
            insert(materials),
            [
                {"material": m, "base_unit": "PC", "moq": D(moq), "pack_size": D(1), "active": True, "updated_at": NOW}
                for m, moq in (("SP-LATE", 1), ("SP-OK", 1), ("SP-SHORT", 10), ("SP-HEAP", 10))
            ],
        )
        conn.execute(
            insert(orders),
            [
                _order("SO-LATE", "confirmed"),  # 3PL plant, confirmed for 12-05, 4 of 10 shipped: late
                _order("SO-SHIPPED", "confirmed"),  # confirmed for 12-05, all shipped: not late
                _order("SO-SOON", "confirmed"),  # confirmed for 12-12: not late yet
                _order("SO-OWN", "confirmed"),  # plant 2010 ships itself: not checked
                _order("SO-OLD-BO", "backordered", days_old=20),  # waiting 20 days: aging, critical (> 14)
                _order("SO-NEW-BO", "backordered", days_old=2),  # waiting 2 days: not yet
                _order("SO-CREDIT", "confirmed", customer="C9", gross="1500"),  # 150 % of C9's limit
            ],
        )
        conn.execute(
            insert(order_allocations),
            [
                _alloc("SO-LATE", "1010", "SP-LATE", "10", "10", date(2026, 12, 5)),
                _alloc("SO-SHIPPED", "1010", "SP-OK", "5", "5", date(2026, 12, 5)),
                _alloc("SO-SOON", "1020", "SP-OK", "5", "5", date(2026, 12, 12)),
                _alloc("SO-OWN", "2010", "SP-OK", "5", "5", date(2026, 12, 1)),
                _alloc("SO-OLD-BO", "1020", "SP-SHORT", "30", "0", None),
                _alloc("SO-NEW-BO", "1020", "SP-SHORT", "20", "0", None),
                _alloc("SO-CREDIT", "1010", "SP-OK", "1", "1", date(2026, 12, 20)),
            ],
        )
        conn.execute(
            insert(deliveries),
            [
                {
                    "delivery": d,
                    "source": "zoho_crm",
                    "crm_order_id": o,
                    "sap_order": "S" + d,
                    "plant": "1010",
                    "warehouse": "WH-SH01",
                    "status": "shipped",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for d, o in (("8001", "SO-LATE"), ("8002", "SO-SHIPPED"))
            ],
        )
        conn.execute(
            insert(delivery_lines),
            [
                {
                    "delivery": "8001",
                    "line_no": 10,
                    "sap_order_item": "10",
                    "material": "SP-LATE",
                    "planned_qty": D(10),
                    "shipped_qty": D(4),
                },
                {
                    "delivery": "8002",
                    "line_no": 10,
                    "sap_order_item": "10",
                    "material": "SP-OK",
                    "planned_qty": D(5),
                    "shipped_qty": D(5),
                },
            ],
        )
        taken = NOW - timedelta(hours=5)
        # Stock policies of the latest inventory run: position against reorder point and over-stock limit.
        conn.execute(
            insert(stock_policies),
            [
                {
                    "material": m,
                    "plant": p,
                    "business_day": NOW.date(),
                    "demand_per_day": D(2),
                    "demand_sd_per_day": D(1),
                    "service_level": D("0.95"),
                    "safety_stock": D(10),
                    "reorder_point": D(rop),
                    "max_stock": D(80),
                    "over_limit": D(100),
                    "eoq": D(40),
                    "on_hand": D(on_hand),
                    "on_order": D(0),
                    "reserved": D(0),
                    "backordered": D(short),
                    "position": D(on_hand) - D(short),
                    "suggested_qty": D(suggested),
                    "assessment": verdict,
                    "updated_at": NOW,
                }
                for p, m, on_hand, short, rop, suggested, verdict in (
                    ("1020", "SP-SHORT", "0", "50", "30", "130", "low"),  # customers wait: critical
                    ("1010", "SP-HEAP", "900", "0", "30", "0", "over"),  # above the over-stock limit 100
                    ("1010", "SP-OK", "50", "0", "30", "0", "ok"),  # fine
                )
            ],
        )
        conn.execute(
            insert(gate_results),
            [
                {
                    "gate": "sap_postings",
                    "source": "zoho_crm",
                    "run_id": "r-old",
                    "evaluated": 100,
                    "passed": 40,
                    "quarantined": 60,
                    "success": False,
                    "blocking_breach": True,
                    "summary": {},
                    "created_at": taken,
                },
                # the latest result of the same gate decides: this one breaches
                {
                    "gate": "sap_postings",
                    "source": "zoho_crm",
                    "run_id": "r-new",
                    "evaluated": 100,
                    "passed": 45,
                    "quarantined": 55,
                    "success": False,
                    "blocking_breach": True,
                    "summary": {"expectations": {"expect_sap_order": {"success": False}, "x": {"success": True}}},
                    "created_at": NOW,
                },
                {
                    "gate": "accepted_orders",
                    "source": "fxiaoke",
                    "run_id": "r-new",
                    "evaluated": 100,
                    "passed": 99,
                    "quarantined": 1,
                    "success": False,
                    "blocking_breach": False,
                    "summary": {},
                    "created_at": NOW,
                },
            ],
        )
        conn.execute(
            insert(crm_inbox),
            [
                {
                    "source": "fxiaoke",
                    "crm_order_id": f"F{i}",
                    "payload": {},
                    "payload_hash": "h",
                    "run_id": "pull-1",
                    "stage": "quarantined" if i < 8 else "accepted",
                    "updated_at": NOW,
                }
                for i in range(60)
            ],
        )
        for row in [
            {
                "target": "sap.sales_order",
                "idem_key": "k1",
                "payload_hash": "h",
                "payload": {},
                "status": "failed",
                "attempts": 3,
                "last_error": "TransientError: sap_s4: HTTP 503\n[SQL: SELECT secret]",
                "created_at": taken,
                "updated_at": taken,
            },
            {
                "target": "qimen.stockout",
                "idem_key": "k2",
                "payload_hash": "h",
                "payload": {},
                "status": "in_flight",
                "attempts": 1,
                "claimed_by": "x",
                "claimed_until": datetime(2020, 1, 1, tzinfo=UTC),
                "created_at": taken,
                "updated_at": taken,
            },
            {
                "target": "chat.dingtalk.alert",
                "idem_key": "k3",
                "payload_hash": "h",
                "payload": {},
                "status": "failed",
                "attempts": 1,
                "created_at": taken,
                "updated_at": taken,
            },
        ]:
            conn.execute(insert(ledger).values(**row))
