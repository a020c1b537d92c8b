"""Replenishment planning's own steps on SQLite and PostgreSQL alike (issue 14): the demand history
(ERP months, then the hub's orders, in monthly and weekly buckets), the proposals within budget from
stored forecasts, the due reorder reminders, and ``hub planning show/approve`` against a real hub
database. The same inputs give the same rows on both; the forecasting itself is
tests/unit/test_demand_forecast.py and the whole flow tests/e2e/test_replenishment_planning.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from flows.replenishment_planning import history, proposals, reminders
from hub.schema import (
    book_stock,
    consumption_history,
    customers,
    material_plants,
    materials,
    order_lines,
    orders,
    planning_runs,
    replenishment_proposals,
)
from hub.settings import load_settings

WEEK = date(2026, 12, 7)
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
ZONE = "Asia/Shanghai"
PARTS = [f"SP-{n:05d}" for n in range(1, 9)]
# C3 buys these parts on these November days: gaps too uneven for a rhythm
IRREGULAR = {PARTS[3]: [2, 3, 17, 29], PARTS[4]: [5, 6, 7, 28], PARTS[5]: [4, 20, 21], PARTS[0]: [10, 11, 26]}
FORTNIGHTLY = [date(2026, 10, 19), date(2026, 11, 2), date(2026, 11, 16), date(2026, 11, 30)]  # C2, PARTS[1]
WEEKLY = [date(2026, 11, 8), date(2026, 11, 15), date(2026, 11, 22), date(2026, 11, 29)]  # C1, PARTS[2]


def _settings(**planning: Any) -> Any:
    env = {f"HUB__PLANNING__{k.upper()}": str(v) for k, v in planning.items()}
    return load_settings(environ={**env, "HUB__PLANNING__BUDGET__1010": "900.00"})


def _order(conn, n: int, customer: str, at: datetime, lines: list[tuple[str, int]], status: str = "accepted") -> None:
    source = "fxiaoke" if customer == "C1" else "zoho_crm"  # a customer lives in one CRM
    conn.execute(
        insert(orders).values(
            source=source,
            crm_order_id=f"O{n}",
            order_number=f"SO-{n}",
            crm_account_id=f"ACC-{customer}",
            customer_number=customer,
            customer_name=f"Customer {customer}",
            currency="CNY",
            order_time=at,
            crm_modified_at=at,
            net_amount=Decimal(0),
            tax_amount=Decimal(0),
            gross_amount=Decimal(0),
            line_count=len(lines),
            status=status,
            content_hash=f"h{n}",
            updated_at=NOW,
        )
    )
    for i, (material, qty) in enumerate(lines, start=1):
        conn.execute(
            insert(order_lines).values(
                source=source,
                crm_order_id=f"O{n}",
                line_no=i,
                material=material,
                quantity=Decimal(qty),
                plant="1010",
                unit_price=Decimal(10),
                discount=Decimal(0),
                net_amount=Decimal(10 * qty),
                tax_rate=Decimal("0.13"),
                tax_amount=Decimal(0),
                currency="CNY",
            )
        )


def world(engine) -> None:
    """Eight parts at plant 1010: ERP consumption to October, the hub's orders in November (one order
    cancelled), SAP's book of December 5; two regular buyers (every 7 and 14 days) and an irregular one."""
    with engine.begin() as conn:
        conn.execute(
            insert(materials),
            [
                {"material": m, "description": f"Part {m}", "base_unit": "PC", "moq": Decimal(1),
                 "pack_size": Decimal(1), "active": True, "updated_at": NOW}
                for m in PARTS
            ],
        )  # fmt: skip
        conn.execute(
            insert(customers),
            [
                {"customer_number": c, "name": f"Customer {c}", "country": "CN", "language": lang, "currency": "CNY",
                 "credit_limit": Decimal(10**6), "blocked": False, "updated_at": NOW}
                for c, lang in (("C1", "zh"), ("C2", "en"), ("C3", "en"))
            ],
        )  # fmt: skip
        conn.execute(
            insert(material_plants),
            [
                {"material": m, "plant": "1010", "abc_class": "ABC"[i % 3], "lead_time_days": Decimal(14),
                 "lead_time_sd_days": Decimal(2), "purchase_moq": Decimal(5), "order_multiple": Decimal(5),
                 "max_stock": None, "unit_cost": Decimal("10.00") + i, "currency": "CNY", "updated_at": NOW}
                for i, m in enumerate(PARTS)
            ],
        )  # fmt: skip
        conn.execute(
            insert(consumption_history),
            [
                {"material": m, "plant": "1010", "month": date(2026, month, 1),
                 "quantity": Decimal((i + month) % 4 * 3), "updated_at": NOW}
                for i, m in enumerate(PARTS)
                for month in range(1, 11)
            ],
        )  # fmt: skip
        conn.execute(
            insert(book_stock),
            [
                {"business_day": date(2026, 12, 5), "plant": "1010", "storage_location": "0001", "material": m,
                 "batch": "", "stock_type": "01", "quantity": Decimal(i), "unit": "PC"}
                for i, m in enumerate(PARTS)
            ],
        )  # fmt: skip
        n = 0
        for part, days in IRREGULAR.items():  # November, Shanghai time
            for day in days:
                n += 1
                _order(conn, n, "C3", datetime(2026, 11, day, 2, tzinfo=UTC), [(part, day % 5 + 1)])
        n += 1
        _order(conn, n, "C3", datetime(2026, 11, 3, 2, tzinfo=UTC), [(PARTS[0], 500)], status="cancelled")
        for customer, part, days in (("C2", PARTS[1], FORTNIGHTLY), ("C1", PARTS[2], WEEKLY)):
            for day in days:
                n += 1
                at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)
                _order(conn, n, customer, at, [(part, 8 if customer == "C2" else 4)])


def _rows(engine, table, order) -> list[dict[str, Any]]:  # noqa: ANN001
    with engine.connect() as conn:
        return [
            {k: v for k, v in dict(r._mapping).items() if k not in ("updated_at", "run_id")}
            for r in conn.execute(select(table).order_by(*order))
        ]


def _plan(engine, tmp: Path) -> dict[str, Any]:
    settings = _settings()
    job = history.write_job(engine, tmp, WEEK, WEEK - timedelta(days=2), settings)  # planned on Saturday
    spec = json.loads(Path(job["job"]).read_text())
    # The forecasting environment's answer, made here: the mean of each series' last six buckets.
    result = {
        "models": ["mean6"],
        "seconds": 0.0,
        "series": [
            {"id": s["id"], "demand_class": "intermittent", "adi": 1.5, "cv2": 0.2, "model": "mean6", "rmsse": 0.5,
             "bias": 0.0, "forecast": [sum(s["values"][-6:]) / 6] * spec["horizon"], "error_sd": 2.0}
            for s in spec["series"]
        ],
    }  # fmt: skip
    result_path = Path(job["job"]).with_name("forecast_job.result.json")
    result_path.write_text(json.dumps(result))
    proposals.store_forecasts(engine, "run", WEEK, str(result_path))
    proposed = proposals.propose(engine, "run", WEEK, settings)
    due = reminders.due_reminders(engine, WEEK, settings)
    return {"job": spec, "proposed": proposed, "due": due}


@pytest.fixture
def planned(hub_db, tmp_path) -> dict[str, Any]:
    world(hub_db)
    return {"engine": hub_db, **_plan(hub_db, tmp_path)}


def test_history_is_erp_months_then_the_hubs_orders(planned) -> None:
    spec = planned["job"]
    series = {s["id"]: s["values"] for s in spec["series"]}
    assert len(series) == len(PARTS) and all(len(v) == 36 for v in series.values())  # ERP: all sold
    assert spec["series"][0]["start"] == "2023-12-01"  # 36 months before December
    for i, part in enumerate(PARTS):
        values = series[f"1010|{part}"]
        assert values[-11:-1] == [float((i + month) % 4 * 3) for month in range(1, 11)]  # ERP Jan..Oct
        assert values[:-11] == [0.0] * 25  # zeros kept
    # November: the hub's own orders (the cancelled 500 is not demand; October's C2 order is an ERP month)
    nov = {p: 0 for p in PARTS}
    for part, days in IRREGULAR.items():
        nov[part] += sum(day % 5 + 1 for day in days)
    nov[PARTS[1]] += 3 * 8  # October's order is an ERP month
    nov[PARTS[2]] += 4 * 4
    assert {p: series[f"1010|{p}"][-1] for p in PARTS} == {p: float(q) for p, q in nov.items()}


def test_the_history_ends_before_any_bucket_still_running() -> None:
    # planned on Saturday 2026-12-05 for the week of 2026-12-07: November is over, December is not
    assert history.history_end("month", WEEK, date(2026, 12, 5)) == date(2026, 12, 1)
    # planned on 2026-11-28 for the week of 2026-11-30 (still in November): October is the last month
    assert history.history_end("month", date(2026, 11, 30), date(2026, 11, 28)) == date(2026, 11, 1)
    # a week starting on 2027-01-04 planned on 2026-12-31: December is still running
    assert history.history_end("month", date(2027, 1, 4), date(2026, 12, 31)) == date(2026, 12, 1)
    assert history.history_end("week", WEEK, date(2026, 12, 5)) == date(2026, 11, 30)
    assert history.history_end("week", WEEK, date(2026, 12, 7)) == WEEK


def test_weekly_buckets_are_the_hubs_orders_only(hub_db, tmp_path) -> None:
    world(hub_db)
    data = history.series(hub_db, "week", WEEK, 6, ZONE)
    assert data["starts"] == [WEEK - timedelta(weeks=n) for n in range(6, 0, -1)]
    # ISO weeks from Monday 2026-10-26: C1's Sundays fall in the weeks of Nov 2, 9, 16, 23
    assert data["values"][(PARTS[2], "1010")] == [Decimal(0)] + [Decimal(4)] * 4 + [Decimal(0)]
    # C2's Mondays: Nov 2, 16 and 30 open their weeks
    assert data["values"][(PARTS[1], "1010")] == [Decimal(x) for x in (0, 8, 0, 8, 0, 8)]


def test_proposals_within_budget_and_on_both_databases_the_same(planned, sqlite_url, fresh_pg_url, tmp_path) -> None:
    from hub.db import make_engine, upgrade

    rows = _rows(planned["engine"], replenishment_proposals, (replenishment_proposals.c.priority,))
    assert rows and sum(r["value"] for r in rows) <= Decimal("900.00")
    assert {r["budget_status"] for r in rows} <= {"within", "partly_cut", "cut"}
    assert all(r["proposed_qty"] % 5 == 0 for r in rows)
    covers = [r["days_of_cover"] for r in rows]
    assert covers == sorted(covers)  # the fewest days of cover bought first
    other_url = fresh_pg_url if planned["engine"].dialect.name == "sqlite" else sqlite_url
    upgrade(other_url)
    other = make_engine(other_url)
    try:
        world(other)
        again = _plan(other, tmp_path / "other")
        assert _rows(other, replenishment_proposals, (replenishment_proposals.c.priority,)) == rows
        assert again["due"] == planned["due"]
    finally:
        other.dispose()


def test_the_regular_buyers_are_due_and_the_irregular_one_is_not(planned) -> None:
    due = {(r.customer, r.material): r for r in planned["due"]}
    assert set(due) == {("C1", PARTS[2]), ("C2", PARTS[1])}
    weekly = due[("C1", PARTS[2])]  # due yesterday: late by less than one interval
    assert (weekly.interval_days, weekly.last_purchase, weekly.due_date) == (7, date(2026, 11, 29), date(2026, 12, 6))
    assert weekly.typical_qty == 4 and weekly.language == "zh" and weekly.key == "RR-C1-SP-00003-20261129"
    fortnightly = due[("C2", PARTS[1])]  # due within the week's lead days
    assert (fortnightly.interval_days, fortnightly.purchases, fortnightly.due_date) == (14, 4, date(2026, 12, 14))
    assert (
        fortnightly.customer_crm_id == "ACC-C2" and fortnightly.source == "zoho_crm" or fortnightly.source == "fxiaoke"
    )


def test_hub_planning_show_and_approve(planned) -> None:
    engine = planned["engine"]
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "HUB_DATABASE_URL": url}

    def hub(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli", "planning", *args], capture_output=True, text=True, timeout=120, env=env
        )

    shown = hub("show", "2026-12-09")  # any day of the week
    assert shown.returncode == 0 and "week of 2026-12-07: proposed" in shown.stdout
    assert "plant 1010:" in shown.stdout and PARTS[0] in shown.stdout or "SP-" in shown.stdout
    assert hub("approve", "2026-12-07", "--note", "ok").returncode == 0
    with engine.connect() as conn:
        run = conn.execute(select(planning_runs)).one()
    assert run.status == "approved" and run.decided_by.startswith("cli:") and run.decision_note == "ok"
    refused = hub("reject", "2026-12-07")
    assert refused.returncode == 1 and "not waiting for a decision" in refused.stderr
    assert hub("show", "2026-13-01").returncode == 2  # not a date: a usage error
    as_json = json.loads(hub("show", "2026-12-07", "--json").stdout)
    assert as_json["run"]["status"] == "approved" and len(as_json["proposals"]) == len(
        _rows(engine, replenishment_proposals, (replenishment_proposals.c.priority,))
    )


def test_forecasts_and_proposals_pass_their_gates_and_a_bad_row_breaks_it(planned) -> None:
    from sqlalchemy import update

    from hub.schema import gate_results
    from quality.errors import GateBreach

    engine = planned["engine"]
    with engine.connect() as conn:
        gates = {r.gate: r for r in conn.execute(select(gate_results))}
    assert gates["demand_forecasts"].evaluated == len(PARTS) and gates["demand_forecasts"].quarantined == 0
    assert gates["replenishment_proposals"].evaluated > 0
    with engine.begin() as conn:  # a budget that raised a proposal instead of cutting it
        first = conn.execute(select(replenishment_proposals).order_by(replenishment_proposals.c.priority)).first()
        conn.execute(
            update(replenishment_proposals)
            .where(replenishment_proposals.c.material == first.material)
            .values(proposed_qty=first.order_qty + 5)
        )
    with pytest.raises(GateBreach, match="never raises"):
        proposals._gate(engine, "replenishment_proposals", "check")


def test_hub_planning_show_into_a_closed_pipe_is_not_an_error(planned) -> None:
    """`hub planning show WEEK | head -3`: the reader closes the pipe early; no BrokenPipeError traceback."""
    engine = planned["engine"]
    with engine.begin() as conn:  # enough proposals that the listing outgrows the pipe's buffer
        first = dict(conn.execute(select(replenishment_proposals)).first()._mapping)
        conn.execute(
            insert(replenishment_proposals),
            [{**first, "material": f"XP-{n:06d}", "priority": 100 + n} for n in range(3000)],
        )
    url = engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "planning", "show", "2026-12-07"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HUB_DATABASE_URL": url},
        bufsize=1,
    )
    first = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()  # what head does after its lines
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and all(first) and "Traceback" not in err, err
