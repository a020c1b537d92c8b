"""ops_report end to end with ``dag.test()``: a hub database filled by the real flows against the sandbox
(master data, CRM orders, SAP postings and confirmations, 3PL shipments tracked to delivered), then the
daily report: HTML with charts and a formula-safe CSV in the output folder, numbers that agree with the
database, the same files on a re-run, and the paths in the run's result for the Asset event.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync, task_result
from sqlalchemy import select

from hub.schema import deliveries, order_allocations, orders

SEED, ORDERS = 11, 120
pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
DAY = 86_400


@pytest.fixture(scope="module")
def world(tmp_path_factory, airflow_home) -> Iterator[dict[str, Any]]:
    from devtools.servers import serving
    from hub.db import make_engine, upgrade
    from hub.settings import get_settings
    from receiver.app import create_app
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    tmp_path = tmp_path_factory.mktemp("ops_report")
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    monkeypatch = pytest.MonkeyPatch()
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        control = info["control_url"]
        seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
        deploy(info, seed, engine, tmp_path, monkeypatch)
        monkeypatch.setenv("HUB__HUB__OUTPUT_DIR", str(tmp_path / "out"))
        monkeypatch.setenv("HUB__LOGISTICS__ASN_DIR", str(tmp_path / "asn"))
        get_settings.cache_clear()
        wms = info["systems"]["qimen_wms"]

        def sandbox_now() -> datetime:
            return datetime.fromisoformat(requests.get(f"{control}/clock", timeout=10).json()["now"])

        def advance(seconds: float, push: bool) -> datetime:
            requests.post(f"{control}/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()
            if push:
                requests.post(f"{control}/qimen_wms/push", timeout=60).raise_for_status()
            return sandbox_now()

        app = create_app(lambda: engine, wms["secret"], wms["app_key"], wms["customer_id"], clock=sandbox_now)
        with serving(app) as receiver_url:
            requests.post(f"{control}/qimen_wms/receiver", json={"url": f"{receiver_url}/qimen"}, timeout=10)
            now = datetime.fromisoformat(info["now"])
            run_dag("master_data_sync", at=now)
            sync(now)
            run_dag("sap_order_posting", at=now)
            for seconds, push in ((4 * DAY, False), (DAY, True), (4 * DAY, True)):
                run_dag("shipment_notices", at=advance(seconds, push))
            yield {"engine": engine, "now": sandbox_now(), "out": tmp_path / "out"}
    monkeypatch.undo()
    get_settings.cache_clear()
    engine.dispose()


@pytest.fixture(scope="module")
def report(world) -> dict[str, Any]:
    run = run_dag("ops_report", at=world["now"])
    return task_result(run, "report")


def _csv(path: str) -> list[dict[str, str]]:
    raw = Path(path).read_bytes()
    assert raw.startswith("\ufeff".encode()), "UTF-8 with a byte-order mark for spreadsheet programs"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def _value(rows: list[dict[str, str]], section: str, metric: str, dimension: str, window: str) -> str:
    (row,) = [
        r
        for r in rows
        if (r["section"], r["metric"], r["dimension"], r["window"]) == (section, metric, dimension, window)
    ]
    return row["value"]


def test_the_report_is_written_for_the_business_day_before_the_run(world, report):
    from transforms.business_day import business_date

    day = business_date(world["now"], "Asia/Shanghai")
    assert report["day"] == (day.fromordinal(day.toordinal() - 1)).isoformat()
    html, csv_path = Path(report["html"]), Path(report["csv"])
    assert html.parent == csv_path.parent == world["out"] / "reports"
    assert html.name == f"ops_report_{report['day']}.html" and csv_path.is_file()
    assert not [p for p in html.parent.iterdir() if p.name.startswith(".")], "no temporary file left behind"
    page = html.read_text(encoding="utf-8")
    assert "运营日报" in page and page.count("<svg") >= 6 and "指标定义" in page
    # Offline: no script, no stylesheet or font from elsewhere.
    assert (
        "<script" not in page
        and "https://" not in page
        and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    )


def test_the_csv_is_formula_safe_and_agrees_with_the_database(world, report):
    rows = _csv(report["csv"])
    assert rows and all(not v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    with world["engine"].connect() as conn:
        owed = conn.execute(
            select(order_allocations.c.ordered_qty, order_allocations.c.confirmed_qty, orders.c.status).join(
                orders,
                (orders.c.source == order_allocations.c.source)
                & (orders.c.crm_order_id == order_allocations.c.crm_order_id),
            )
        ).all()
        shipped = conn.execute(select(deliveries.c.delivered_at)).all()
    backordered = sum(1 for o, c, s in owed if c < o and s in ("backordered", "posted", "partial"))
    aging_total = sum(
        int(_value(rows, "backorder_aging", "lines", "all", b))
        for b in ("not_due", "0-7", "8-14", "15-30", "31-60", ">60")
    )
    assert aging_total == backordered > 0
    assert report["backorder_lines"] == backordered
    # The span saw parcels signed for, so cycle times and lines due were measured.
    assert any(d for (d,) in shipped)
    delivered = int(_value(rows, "cycle_time", "total_orders", "all", "prev28")) + int(
        _value(rows, "cycle_time", "total_orders", "all", "day")
    )
    assert delivered > 0
    due = int(_value(rows, "service", "lines_due", "all", "prev28")) + int(
        _value(rows, "service", "lines_due", "all", "day")
    )
    assert due > 0
    for window in ("day", "prev7", "prev28"):
        value = _value(rows, "service", "otif_lines", "all", window)
        assert value == "" or 0 <= float(value) <= 100


def test_a_rerun_of_the_day_writes_the_same_report(world, report):
    before_csv = Path(report["csv"]).read_bytes()
    before_html = Path(report["html"]).read_text(encoding="utf-8")
    again = task_result(run_dag("ops_report", {"day": report["day"]}, at=world["now"]), "report")
    assert again["csv"] == report["csv"] and Path(again["csv"]).read_bytes() == before_csv
    after_html = Path(again["html"]).read_text(encoding="utf-8")
    strip = lambda page: page.split("</p>", 1)[1]  # noqa: E731 - the header line names the run
    assert strip(after_html) == strip(before_html)


def test_english_from_the_settings(world, report, monkeypatch):
    from hub.settings import get_settings

    monkeypatch.setenv("HUB__HUB__LANGUAGE", "en")
    get_settings.cache_clear()
    try:
        done = task_result(run_dag("ops_report", {"day": report["day"]}, at=world["now"]), "report")
    finally:
        monkeypatch.delenv("HUB__HUB__LANGUAGE")
        get_settings.cache_clear()
    page = Path(done["html"]).read_text(encoding="utf-8")
    assert done["language"] == "en" and "daily operations report" in page and "On time in full (OTIF)" in page
