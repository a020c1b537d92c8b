"""replenishment_planning end to end with ``dag.test()``: SAP's consumption history and the hub's orders
forecast in the forecasting environment, proposals within each plant's budget that wait for a person,
nothing requested before the approval, the approved week as SAP purchase requisitions once, and the
regular buyers' reorder reminders written once to the CRM each customer belongs to.

One frozen sandbox and hub database for the module; the tests run in order, each a step further.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync, task_result
from sqlalchemy import select

from hub.schema import demand_forecasts, ledger, planning_runs, reorder_reminders, replenishment_proposals

SEED, ORDERS = 11, 200  # 4 regular buyers among the orders
BUDGET_1010 = Decimal("200000.00")  # small: plant 1010's proposals are partly cut
pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]


@pytest.fixture(scope="module")
def world(tmp_path_factory, hub, airflow_home) -> Iterator[dict[str, Any]]:
    from flows import inventory_reconciliation as inventory
    from flows.replenishment_planning import planning_week
    from hub.settings import get_settings
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("planning")
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
        deploy(info, seed, hub, tmp_path, monkeypatch)
        monkeypatch.setenv("HUB__PLANNING__APPROVAL", "cli")
        monkeypatch.setenv("HUB__PLANNING__BUDGET__1010", str(BUDGET_1010))
        monkeypatch.setenv("HUB__HUB__OUTPUT_DIR", str(tmp_path / "output"))
        get_settings.cache_clear()
        now = datetime.fromisoformat(info["now"])
        run_dag("master_data_sync", at=now)
        sync(now)
        run_dag("sap_order_posting", at=now)
        zone = get_settings().hub.timezone
        # SAP's book stock, as inventory_reconciliation's first step reads it every night
        inventory.snapshot(hub, "test-snapshot", inventory.day_window(inventory.business_day_of(now, zone), zone))
        regular = {(o.customer_number, o.regular[0]) for o in seed.orders if o.regular}
        yield {
            "info": info,
            "engine": hub,
            # next week, planned ahead: November is complete, so the hub's own orders of November count
            "week": planning_week(now, zone) + timedelta(days=7),
            "regular": regular,
            "output": tmp_path / "output",
        }
    monkeypatch.undo()
    get_settings.cache_clear()


def _run(world: dict[str, Any]) -> Any:
    # With approval by the CLI the branch skips the Airflow UI's approval task.
    return run_dag("replenishment_planning", {"week": world["week"].isoformat()}, skipped=("approve", "approved"))


def _rows(engine, table, *where) -> list[Any]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(table).where(*where)).all()


def _sap_requisitions(world: dict[str, Any]) -> dict[str, Any]:
    url = f"{world['info']['control_url']}/records/sap_s4/purchase_requisitions/all"
    answer = requests.get(url, timeout=10)
    answer.raise_for_status()
    return answer.json()["record"]


def _crm_holds(world: dict[str, Any], keys_by_source: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    from flows.crms import adapter, crm_clients

    with crm_clients(world["engine"]) as clients:
        return {s: adapter(s).find_reminders(clients[s], keys) for s, keys in keys_by_source.items()}


def test_first_run_forecasts_proposes_within_budget_and_waits(world):
    engine, week = world["engine"], world["week"]
    run = _run(world)
    stored = task_result(run, "store")
    assert stored["stored"] > 100 and set(stored["classes"]) <= {
        "smooth",
        "intermittent",
        "erratic",
        "lumpy",
        "too_short",
    }
    forecasts = _rows(engine, demand_forecasts, demand_forecasts.c.planning_week == week)
    assert len(forecasts) == stored["stored"]
    assert all(len(f.forecast["values"]) == 6 and min(f.forecast["values"]) >= 0 for f in forecasts)
    # the history ends before the planning week's month, zeros kept; its last month is the hub's orders
    assert all(f.history["periods"][-1] == "2026-11-01" for f in forecasts)
    assert _hub_november(engine) == {
        (f.material, f.plant): Decimal(str(f.history["values"][-1])) for f in forecasts if f.history["values"][-1]
    }
    (planned,) = _rows(engine, planning_runs, planning_runs.c.planning_week == week)
    assert planned.status == "proposed" and planned.decided_by is None
    proposals = _rows(engine, replenishment_proposals, replenishment_proposals.c.planning_week == week)
    assert proposals and all(p.order_qty > 0 and p.position <= p.reorder_point for p in proposals)
    in_1010 = [p for p in proposals if p.plant == "1010"]
    assert sum(p.value for p in in_1010) <= BUDGET_1010
    assert {p.budget_status for p in in_1010} >= {"within", "cut"}
    # bought by priority: every proposal bought in full comes before the first one cut to nothing
    first_cut = min(p.priority for p in in_1010 if p.budget_status == "cut")
    assert all(p.priority < first_cut for p in in_1010 if p.budget_status == "within" and p.value > BUDGET_1010 / 4)
    # nothing requested before a person decided
    assert _sap_requisitions(world)["count"] == 0
    assert task_result(run, "request")["status"] == "proposed"


def _hub_november(engine) -> dict[tuple[str, str], Decimal]:  # noqa: ANN001
    """What the hub's accepted orders asked for in November (Shanghai time), per material and plant."""
    from zoneinfo import ZoneInfo

    from hub.schema import order_lines, orders

    zone = ZoneInfo("Asia/Shanghai")
    out: dict[tuple[str, str], Decimal] = {}
    with engine.connect() as conn:
        for r in conn.execute(
            select(
                order_lines.c.material,
                order_lines.c.plant,
                order_lines.c.quantity,
                orders.c.order_time,
                orders.c.status,
            )
            .join(
                orders,
                (orders.c.source == order_lines.c.source) & (orders.c.crm_order_id == order_lines.c.crm_order_id),
            )
            .where(order_lines.c.plant.is_not(None))
        ):
            at = r.order_time if r.order_time.tzinfo else r.order_time.replace(tzinfo=UTC)
            if r.status != "cancelled" and at.astimezone(zone).strftime("%Y-%m") == "2026-11":
                out[(r.material, r.plant)] = out.get((r.material, r.plant), Decimal(0)) + r.quantity
    return out


def test_regular_buyers_are_reminded_in_their_crm(world):
    engine = world["engine"]
    written = _rows(engine, reorder_reminders, reorder_reminders.c.status == "written")
    assert written, "the seeded regular buyers are due"
    assert {(r.customer, r.material) for r in written} <= world["regular"]
    assert {r.source for r in written} == {"zoho_crm", "fxiaoke"} or len(written) == 1
    keys: dict[str, list[str]] = {}
    for r in written:
        keys.setdefault(r.source, []).append(r.reminder_key)
    held = _crm_holds(world, keys)
    assert all(set(held[s]) == set(k) for s, k in keys.items())  # each CRM holds exactly the reminders
    assert all(r.crm_record_id == held[r.source][r.reminder_key] for r in written)


def test_approved_week_becomes_requisitions_once(world, capsys):
    from cli.planning import planning_command
    from hub.settings import get_settings

    engine, week = world["engine"], world["week"]
    assert planning_command(engine, "approve", week.isoformat(), get_settings().hub.timezone, "e2e") == 0
    assert "approved by cli:" in capsys.readouterr().out
    _run(world)
    proposals = _rows(engine, replenishment_proposals, replenishment_proposals.c.planning_week == week)
    bought = [p for p in proposals if p.proposed_qty > 0]
    assert bought and all(p.decision == "requested" and p.purchase_requisition for p in bought)
    sap = _sap_requisitions(world)
    by_number = {r["PurchaseRequisition"]: r for r in sap["records"]}
    assert set(by_number) == {p.purchase_requisition for p in bought}
    for p in bought:  # SAP holds exactly what was approved
        items = {i["Material"]: i for i in by_number[p.purchase_requisition]["items"]}
        assert Decimal(str(items[p.material]["RequestedQuantity"])) == p.proposed_qty
        assert items[p.material]["Plant"] == p.plant
    assert not any(p.purchase_requisition for p in proposals if p.proposed_qty == 0)  # cut ones are not bought
    reminders_before = len(_rows(engine, reorder_reminders, reorder_reminders.c.status == "written"))

    _run(world)  # the same week again: nothing twice
    assert _sap_requisitions(world)["count"] == sap["count"]
    with engine.connect() as conn:
        sent = conn.execute(select(ledger).where(ledger.c.target == "sap.purchase_requisition")).all()
        reminded = conn.execute(select(ledger).where(ledger.c.target.like("crm.%.reminder"))).all()
    assert len(sent) == sap["count"] and all(e.attempts == 1 for e in sent)
    assert len(reminded) == reminders_before and all(e.attempts == 1 for e in reminded)


def test_report_lists_every_proposal(world):
    engine, week = world["engine"], world["week"]
    folder = world["output"] / "planning"
    files = {p.suffix for p in folder.glob(f"*{week.isoformat()}*")}
    assert {".csv", ".xlsx", ".html"} <= files
    (path,) = folder.glob(f"*{week.isoformat()}.csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    proposals = _rows(engine, replenishment_proposals, replenishment_proposals.c.planning_week == week)
    assert len(rows) == len(proposals)
    html = next(folder.glob(f"*{week.isoformat()}.html")).read_text(encoding="utf-8")
    assert html.count("<svg") >= 1 and "1010" in html
