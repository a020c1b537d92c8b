"""Each alert type on seeded hub data, on SQLite and PostgreSQL (issue 13): what fires, with which
numbers and severity, and what must not fire (shipped, not due yet, a plant the hub does not ship
from, a gate that quarantined a little, the alert channels' own ledger targets)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from alert_world import NOW, seed

from flows import alerting
from hub.settings import load_settings


@pytest.fixture
def world(hub_db):
    seed(hub_db)
    return hub_db


@pytest.fixture
def settings():
    return load_settings(environ={})


def found(engine, settings, alert_type: str) -> dict[str, alerting.Alert]:
    with engine.connect() as conn:
        alerts = alerting.CHECKS[alert_type](conn, NOW, settings)
    return {a.key: a for a in alerts if a.type == alert_type}


def test_order_delay(world, settings) -> None:
    late = found(world, settings, "order_delay")
    assert list(late) == ["1010"]  # SO-SHIPPED shipped in full, SO-SOON not due, SO-OWN's plant 2010 unseen
    alert = late["1010"]
    assert alert.severity == "critical" and alert.facts["orders_late"] == 1 and alert.facts["max_days_late"] == 4
    assert alert.details == ["SO-LATE line 1 SP-LATE: 6 of 10 not shipped, confirmed for 2026-12-05 (4 days late)"]
    assert "warehouse" in alert.action


def test_order_delay_grace_days(world) -> None:
    relaxed = load_settings(environ={"HUB__ALERTS__ORDER_DELAY_GRACE_DAYS": "5"})
    assert found(world, relaxed, "order_delay") == {}


def test_backorder_aging(world, settings) -> None:
    aging = found(world, settings, "backorder_aging")
    assert list(aging) == ["1020"]
    facts = aging["1020"].facts
    assert (facts["orders"], facts["lines"], facts["short_qty"], facts["oldest_days"]) == (1, 1, Decimal(30), 20)
    assert aging["1020"].severity == "critical"  # 20 days > 2 x 7


def test_low_and_over_stock(world, settings) -> None:
    low = found(world, settings, "low_stock")
    assert list(low) == ["1020"] and low["1020"].severity == "critical"
    assert low["1020"].facts["materials_with_backorders"] == 1 and low["1020"].facts["units_backordered"] == 50
    over = found(world, settings, "over_stock")
    assert list(over) == ["1010"] and over["1010"].severity == "info"
    assert over["1010"].details == ["SP-HEAP: position 900 > limit 100 (max 80, reorder point 30)"]
    assert over["1010"].facts["units_over"] == 800
    assert "position -50 (on hand 0, reserved 0, backordered 50) <= reorder point 30" in low["1020"].details[0]
    assert low["1020"].facts["units_to_order"] == 130


def test_credit_limit(world, settings) -> None:
    credit = found(world, settings, "credit_limit")
    assert list(credit) == ["C9"]
    facts = credit["C9"].facts
    assert (facts["exposure"], facts["credit_limit"], facts["used_pct"]) == (
        Decimal("1500"),
        Decimal("1000"),
        Decimal("150.0"),
    )
    assert credit["C9"].severity == "critical"


def test_gate_failure_reads_the_latest_result(world, settings) -> None:
    gates = found(world, settings, "gate_failure")
    assert list(gates) == ["sap_postings:zoho_crm"]
    assert gates["sap_postings:zoho_crm"].facts["run_id"] == "r-new"
    assert gates["sap_postings:zoho_crm"].facts["expectations_failed"] == ["expect_sap_order"]


def test_quarantine_rate_per_stage_and_source(world, settings) -> None:
    rates = found(world, settings, "quarantine_rate")
    # crm intake fxiaoke 8 of 60 = 13.3 %; gate sap_postings 55 %; accepted_orders 1 % stays quiet
    assert sorted(rates) == ["crm_intake:fxiaoke", "sap_postings:zoho_crm"]
    assert rates["crm_intake:fxiaoke"].facts["share_pct"] == Decimal("13.3")
    assert rates["crm_intake:fxiaoke"].severity == "warning"
    assert rates["sap_postings:zoho_crm"].severity == "critical"  # above gates.max_quarantine_pct (50)
    few = load_settings(environ={"HUB__GATES__MIN_ROWS_FOR_RATE": "61"})
    assert sorted(found(world, few, "quarantine_rate")) == ["sap_postings:zoho_crm"]


def test_ledger_failed_and_stuck(world, settings) -> None:
    failed = found(world, settings, "ledger_failed")
    assert list(failed) == ["sap.sales_order"]  # the alert channel's own target is left out
    assert failed["sap.sales_order"].facts["last_error"] == "TransientError: sap_s4: HTTP 503"  # no SQL
    stuck = found(world, settings, "ledger_stuck")
    assert list(stuck) == ["qimen.stockout"] and stuck["qimen.stockout"].facts["stuck"] == 1


def test_settlement_deadline(world, settings) -> None:
    from sqlalchemy import insert

    from hub.schema import billing_documents, settlements

    assert found(world, settings, "settlement_deadline") == {}  # nothing billed: nothing to wait for
    day = date(2026, 12, 8)  # NOW is 10:00 on the 9th in Shanghai: the 8th was due at 08:00 on the 9th
    with world.begin() as conn:
        conn.execute(
            insert(billing_documents).values(
                billing_document="90000001",
                billing_type="F2",
                category="M",
                billing_date=day,
                company_code="1000",
                currency="CNY",
                net_amount=Decimal(100),
                tax_amount=Decimal(13),
                gross_amount=Decimal(113),
                is_cancelled=False,
                last_changed_at=NOW,
                read_at=NOW,
            )
        )
    late = found(world, settings, "settlement_deadline")
    assert list(late) == ["2026-12-08"] and late["2026-12-08"].severity == "critical"
    assert late["2026-12-08"].facts["due_at"].startswith("2026-12-09T08:00")
    with world.begin() as conn:
        conn.execute(
            insert(settlements).values(
                company_code="1000",
                business_day=day,
                status="delivered",
                records=1,
                delivered_at=NOW,
                updated_at=NOW,
            )
        )
    assert found(world, settings, "settlement_deadline") == {}


def test_run_checks_on_the_seeded_world_tells_each_alert_once(world, settings) -> None:
    sent: list[tuple[str, str]] = []

    class Fake:
        def __init__(self, channel: str) -> None:
            self.target = alerting.TARGETS[channel]
            self.channel = channel

        def render(self, row):
            return {"id": row.message_id, "text": row.message}

        def send(self, payload):
            sent.append((self.channel, payload["id"]))
            return alerting.Delivered(ref="ok")

    senders = {c: Fake(c) for c in alerting.TARGETS}
    summary = alerting.run_checks(world, NOW, senders=senders, settings=settings)
    assert summary["errors"] == {}
    assert {t: n for t, n in summary["open"].items() if n} == {
        "order_delay": 1,
        "backorder_aging": 1,
        "low_stock": 1,
        "over_stock": 1,
        "credit_limit": 1,
        "gate_failure": 1,
        "quarantine_rate": 2,
        "ledger_failed": 1,
        "ledger_stuck": 1,
    }
    assert summary["messages"] == {"raised": 10}
    # critical → email, wecom, dingtalk; warning → email, wecom; info → email (config/hub.toml)
    by_channel = {c: sum(1 for ch, _ in sent if ch == c) for c in alerting.TARGETS}
    assert by_channel == {"email": 10, "wecom": 9, "dingtalk": 6, "webhook": 0}
    again = alerting.run_checks(world, NOW, senders=senders, settings=settings)
    assert again["messages"] == {} and len(sent) == 25


def test_budget_cut(world, settings) -> None:
    from sqlalchemy import insert, update

    from hub.schema import planning_runs, replenishment_proposals

    assert found(world, settings, "budget_cut") == {}  # nothing planned
    week = date(2026, 12, 7)
    base = {
        "planning_week": week,
        "abc_class": "A",
        "demand_class": "intermittent",
        "model": "IMAPA",
        "demand_per_day": Decimal(1),
        "error_sd_per_day": Decimal(1),
        "lead_time_days": Decimal(14),
        "service_level": Decimal("0.95"),
        "safety_stock": Decimal(5),
        "reorder_point": Decimal(19),
        "max_qty": Decimal(40),
        "on_hand": Decimal(0),
        "on_order": Decimal(0),
        "reserved": Decimal(0),
        "backordered": Decimal(0),
        "position": Decimal(0),
        "unit": "PC",
        "unit_cost": Decimal(10),
        "currency": "CNY",
        "decision": "proposed",
        "delivery_date": date(2026, 12, 21),
        "updated_at": NOW,
    }
    with world.begin() as conn:
        conn.execute(
            insert(planning_runs).values(
                planning_week=week, status="proposed", bucket="month", history_to=date(2026, 12, 1), updated_at=NOW
            )
        )
        conn.execute(
            insert(replenishment_proposals),
            [
                {
                    **base,
                    "plant": "1010",
                    "material": "SP-A",
                    "order_qty": Decimal(40),
                    "proposed_qty": Decimal(40),
                    "value": Decimal(400),
                    "priority": 1,
                    "days_of_cover": Decimal(0),
                    "budget_status": "within",
                },
                {
                    **base,
                    "plant": "1010",
                    "material": "SP-B",
                    "order_qty": Decimal(40),
                    "proposed_qty": Decimal(10),
                    "value": Decimal(100),
                    "priority": 2,
                    "days_of_cover": Decimal(1),
                    "budget_status": "partly_cut",
                },
                {
                    **base,
                    "plant": "1010",
                    "material": "SP-C",
                    "order_qty": Decimal(30),
                    "proposed_qty": Decimal(0),
                    "value": Decimal(0),
                    "priority": 3,
                    "days_of_cover": Decimal(2),
                    "budget_status": "cut",
                },
                {
                    **base,
                    "plant": "1020",
                    "material": "SP-A",
                    "order_qty": Decimal(40),
                    "proposed_qty": Decimal(40),
                    "value": Decimal(400),
                    "priority": 1,
                    "days_of_cover": Decimal(0),
                    "budget_status": "within",
                },
            ],
        )
    cut = found(world, settings, "budget_cut")
    assert list(cut) == ["2026-12-07:1010"]  # 1020 bought all it proposed
    alert = cut["2026-12-07:1010"]
    assert alert.severity == "warning" and alert.facts["cut"] == 2 and alert.facts["cut_value"] == "600.00"
    assert alert.details == ("SP-B: 10.000 of 40.000 (cover 1.000 days)", "SP-C: 0.000 of 30.000 (cover 2.000 days)")
    with world.begin() as conn:
        conn.execute(update(planning_runs).values(status="rejected"))
    assert found(world, settings, "budget_cut") == {}  # a rejected week buys nothing: nothing was cut from a buy
