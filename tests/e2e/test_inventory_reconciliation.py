"""inventory_reconciliation end to end with ``dag.test()``: SAP's book against the WMS emulator's seeded
drift (counts pushed through the real receiver, inventory.query) and plant 2010's count sheets; the
proposal waits for a person, nothing is posted before the approval, the approved adjustments become SAP
physical-inventory documents once, and SAP's book stock moves by exactly what was approved.

One frozen sandbox and hub database for the module; the tests run in order, each a step further.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync, task_result
from sqlalchemy import select

from hub.schema import count_results, ledger, quarantine, receiver_inbox, reconciliations, stock_policies

SEED, ORDERS = 11, 120
pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]


@pytest.fixture(scope="module")
def world(tmp_path_factory, hub, airflow_home) -> Iterator[dict[str, Any]]:
    from devtools.servers import serving
    from flows.inventory_reconciliation import business_day_of
    from hub.settings import get_settings
    from receiver.app import create_app
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("inventory")
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        control = info["control_url"]
        seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
        deploy(info, seed, hub, tmp_path, monkeypatch)
        monkeypatch.setenv("HUB__INVENTORY__APPROVAL", "cli")
        monkeypatch.setenv("HUB__INVENTORY__COUNT_DIR", str(tmp_path / "counts"))
        monkeypatch.setenv("HUB__HUB__OUTPUT_DIR", str(tmp_path / "output"))
        get_settings.cache_clear()
        wms = info["systems"]["qimen_wms"]

        def sandbox_now() -> datetime:
            return datetime.fromisoformat(requests.get(f"{control}/clock", timeout=10).json()["now"])

        app = create_app(lambda: hub, wms["secret"], wms["app_key"], wms["customer_id"], clock=sandbox_now)
        with serving(app) as receiver_url:
            requests.post(f"{control}/qimen_wms/receiver", json={"url": f"{receiver_url}/qimen"}, timeout=10)
            now = datetime.fromisoformat(info["now"])
            run_dag("master_data_sync", at=now)
            sync(now)
            run_dag("sap_order_posting", at=now)
            day = business_day_of(now, get_settings().hub.timezone)
            for warehouse in ("WH-SH01", "WH-SZ01"):
                r = requests.post(f"{control}/qimen_wms/counts", json={"warehouse": warehouse}, timeout=30)
                r.raise_for_status()
            requests.post(f"{control}/qimen_wms/push", timeout=60).raise_for_status()
            sheets = requests.post(
                f"{control}/qimen_wms/count_sheets",
                json={"folder": str(tmp_path / "counts"), "day": day.isoformat()},
                timeout=30,
            )
            sheets.raise_for_status()
            drift = requests.get(f"{control}/qimen_wms/drift", timeout=10).json()
            sap_info = info["systems"]["sap_s4"]
            yield {
                "info": info,
                "engine": hub,
                "control": control,
                "day": day,
                "drift": drift,
                "sheets": sheets.json()["files"],
                "sap": sap_info,
                "output": tmp_path / "output",
            }
    monkeypatch.undo()
    get_settings.cache_clear()


def _results(engine) -> dict[tuple[str, str, str], Any]:  # noqa: ANN001
    with engine.connect() as conn:
        return {(r.plant, r.material, r.basis + ":" + r.stock_type): r for r in conn.execute(select(count_results))}


def _rows(engine, table) -> list[Any]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(table)).all()


def _book(world: dict[str, Any], plant: str, material: str, stock_type: str = "01") -> Decimal:
    from connectors.sap_s4 import SapClient, SapConfig

    s = world["sap"]
    with SapClient(SapConfig(base_url=s["base_url"], user=s["user"], password=s["password"])) as sap:
        return sum((r.quantity for r in sap.stock(plant, [material]) if r.stock_type == stock_type), Decimal(0))


def _run(world: dict[str, Any]) -> Any:
    # With approval by the CLI the branch skips the Airflow UI's approval task.
    return run_dag("inventory_reconciliation", {"day": world["day"].isoformat()}, skipped=("approve", "approved"))


def test_first_run_finds_the_seeded_drift_and_proposes(world):
    engine = world["engine"]
    run = _run(world)
    collected = task_result(run, "collect")
    assert collected["reports"]["counts"] >= 2 and collected["query"]["lines"] > 0, collected
    # the malformed sheet whole, and the good sheet's line counted in packs (PAK is no base unit)
    assert collected["sheets"]["files"] == len(world["sheets"]) and collected["sheets"]["quarantined"] == 2
    results = _results(engine)
    by_kind = {d["kind"]: d for d in world["drift"]["drift"]}
    for d in world["drift"]["drift"]:
        key = (d["plant"], d["material"], ("wms_adjust" if d["kind"] == "adjust" else "count") + ":" + d["stock_type"])
        if d["kind"] == "unknown_item":
            assert key not in results  # quarantined: SAP does not know it
            continue
        line = results[key]
        if d["kind"] == "in_transit":
            assert line.status == "explained" and "received, not booked" in line.explanation, line
        elif d["kind"] == "uom_mix_up":
            assert line.status == "recount" and "packs" in line.explanation, line
        else:
            assert line.status in ("adjust", "recount"), (d, line)
            assert line.difference_qty == d["difference"], (d, line)
            if line.status == "adjust":
                expected = ("701", "702") if line.stock_type == "01" else ("707", "708")
                assert line.movement_type == expected[0 if d["difference"] > 0 else 1]
    assert results[(by_kind["adjust"]["plant"], by_kind["adjust"]["material"], "wms_adjust:01")].reason_code == "0003"
    statuses = {r.status for r in results.values()}
    assert {"matched", "explained", "adjust"} <= statuses, statuses
    # The unknown item and the malformed sheet are in the quarantine with the reason.
    held = [q for q in _rows(engine, quarantine) if q.stage == "warehouse_counts"]
    assert any(by_kind["unknown_item"]["material"] in q.record_key for q in held)
    assert any(q.record_key.startswith("count_sheet:") and q.field for q in held), [q.record_key for q in held]
    # The page the warehouse pushed twice is held once (by its outBizCode) and counted once.
    pushed = requests.get(f"{world['control']}/qimen_wms/counts", timeout=10).json()["counts"]
    twice = [p["outBizCode"] for c in pushed for p in c["pages"] if p["duplicate_sent"]]
    assert twice, "the sandbox pushes one count page twice"
    held = [r for r in _rows(engine, receiver_inbox) if r.method == "inventory.report"]
    assert len(held) == len({r.message_key for r in held}) and set(twice) <= {r.message_key for r in held}
    (day,) = _rows(engine, reconciliations)
    assert day.status == "proposed" and day.proposal["lines"] == sum(r.status == "adjust" for r in results.values())


def test_nothing_is_posted_before_approval(world):
    engine = world["engine"]
    shrink = next(d for d in world["drift"]["drift"] if d["kind"] == "shrinkage")
    book = _book(world, shrink["plant"], shrink["material"])
    run = _run(world)
    assert task_result(run, "post")["status"] == "proposed"
    assert not [e for e in _rows(engine, ledger) if e.target == "sap.physical_inventory"]
    assert _book(world, shrink["plant"], shrink["material"]) == book


def test_approved_adjustments_post_once_and_move_sap_stock(world):
    from cli.main import main as hub_cli

    engine, day = world["engine"], world["day"]
    adjust = [r for r in _results(engine).values() if r.status == "adjust" and r.stock_type == "01"]
    sample = adjust[0]
    book_before = _book(world, sample.plant, sample.material)
    assert hub_cli(["inventory", "approve", day.isoformat(), "--note", "e2e"]) == 0
    assert hub_cli(["inventory", "approve", day.isoformat()]) == 1  # decided once
    run = _run(world)
    posted = task_result(run, "post")
    plants = {r.plant for r in _results(engine).values() if r.status == "adjust"}
    assert posted["status"] == "posted" and posted["documents"] == len(plants) == posted["posted_now"], posted
    same_item = [r for r in adjust if (r.plant, r.material) == (sample.plant, sample.material)]
    moved = sum((r.difference_qty for r in same_item), Decimal(0))
    assert _book(world, sample.plant, sample.material) == book_before + moved
    lines = _results(engine)
    assert all(r.decision == "posted" and r.sap_document for r in lines.values() if r.status == "adjust")
    # A re-run posts nothing twice: the ledger's entries stay as they were.
    before = [(e.idem_key, e.attempts, e.status) for e in _rows(engine, ledger) if e.target == "sap.physical_inventory"]
    again = task_result(_run(world), "post")
    assert again["posted_now"] == 0
    after = [(e.idem_key, e.attempts, e.status) for e in _rows(engine, ledger) if e.target == "sap.physical_inventory"]
    assert after == before and all(status == "sent" for _, _, status in after)


def test_report_and_policies(world):
    engine = world["engine"]
    run = _run(world)
    files = task_result(run, "report")["report"]["files"]
    assert set(files) == {"csv", "xlsx", "html"}
    from pathlib import Path

    csv_text = Path(files["csv"]).read_text(encoding="utf-8-sig")
    assert world["drift"]["drift"][0]["material"] in csv_text
    policies = _rows(engine, stock_policies)
    assert policies and {p.assessment for p in policies} <= {"low", "over", "ok"}
    assert all(p.reorder_point >= p.safety_stock for p in policies)
