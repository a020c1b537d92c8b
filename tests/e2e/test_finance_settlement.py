"""finance_settlement end to end with ``dag.test()``: orders through SAP, goods issued (the 3PL plants
through the warehouse and the hub, plant 2010 by SAP itself), billed by SAP; the day's billing three-way
matched, written as a verifiable settlement file, delivered to the sandbox's SFTP server once; a re-run
writes nothing; a cancellation in SAP makes a new version naming the old one; a tampered file fails
``hub settlement verify``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from dagruns import deploy, run_dag, sync, task_result
from sqlalchemy import select

from hub.schema import ledger, settlement_exceptions, settlements

SEED, ORDERS = 11, 120
DAY = 86_400
pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]


def _sap(info: dict[str, Any]) -> Any:
    from connectors.sap_s4 import SapClient, SapConfig

    s = info["systems"]["sap_s4"]
    return SapClient(SapConfig(base_url=s["base_url"], user=s["user"], password=s["password"]))


@pytest.fixture(scope="module")
def world(tmp_path_factory, hub, airflow_home) -> Iterator[dict[str, Any]]:
    from devtools.servers import serving
    from hub.settings import get_settings
    from receiver.app import create_app
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("settlement")
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        control = info["control_url"]
        seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
        deploy(info, seed, hub, tmp_path, monkeypatch)
        monkeypatch.setenv("HUB__SETTLEMENT__FOLDER", str(tmp_path / "settlement"))
        monkeypatch.setenv("HUB__HUB__OUTPUT_DIR", str(tmp_path / "output"))
        get_settings.cache_clear()
        wms = info["systems"]["qimen_wms"]

        def sandbox_now() -> datetime:
            return datetime.fromisoformat(requests.get(f"{control}/clock", timeout=10).json()["now"])

        def advance(seconds: float) -> datetime:
            requests.post(f"{control}/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()
            return sandbox_now()

        app = create_app(lambda: hub, wms["secret"], wms["app_key"], wms["customer_id"], clock=sandbox_now)
        with serving(app) as receiver_url:
            requests.post(f"{control}/qimen_wms/receiver", json={"url": f"{receiver_url}/qimen"}, timeout=10)
            # SAP's seeded billing anomalies: a price difference, an over-billing, another currency, an
            # invoice without delivery, a credit memo, cancellations (sandbox/sap/billing_anomalies.py).
            anomalies = {"module": "config", "fields": {"billing_anomalies": True}}
            requests.post(f"{control}/records/sap_s4", json=anomalies, timeout=10).raise_for_status()
            now = datetime.fromisoformat(info["now"])
            run_dag("master_data_sync", at=now)
            sync(now)
            run_dag("sap_order_posting", at=now)
            run_dag("shipment_notices", at=advance(4 * DAY))  # deliveries due: to the warehouse
            at = advance(DAY)  # the warehouse ships and pushes its confirmations
            requests.post(f"{control}/qimen_wms/push", timeout=60).raise_for_status()
            run_dag("shipment_notices", at=at)  # goods issue in SAP
            advance(3 * DAY)  # SAP bills a day after goods issue; credit memos and cancellations a day later
            with _sap(info) as sap:
                billed = Counter(d.billing_date for d in sap.billing_documents())
            day, _ = billed.most_common(1)[0]
            yield {"info": info, "engine": hub, "control": control, "day": day, "folder": tmp_path / "settlement"}
    monkeypatch.undo()
    get_settings.cache_clear()


def _cancel_in_sap(info: dict[str, Any], billing_document: str) -> None:
    """Billing cancels an invoice in SAP: function import Cancel (POST, CSRF token first), an S1 document."""
    s = info["systems"]["sap_s4"]
    root = f"{s['base_url']}/sap/opu/odata/sap/API_BILLING_DOCUMENT_SRV"
    with requests.Session() as http:
        http.auth = (s["user"], s["password"])
        token = http.get(f"{root}/", headers={"x-csrf-token": "Fetch"}, timeout=10).headers["x-csrf-token"]
        r = http.post(
            f"{root}/Cancel",
            params={"BillingDocument": f"'{billing_document}'"},
            headers={"x-csrf-token": token, "Accept": "application/json"},
            timeout=10,
        )
    assert r.status_code < 300, r.text


def _run(world: dict[str, Any]) -> Any:
    return run_dag("finance_settlement", {"day": world["day"].isoformat()})


def _rows(engine, table) -> list[Any]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(table)).all()


def _sftp_files(world: dict[str, Any]) -> dict[str, str]:
    listing = requests.get(f"{world['control']}/sftp/files", timeout=10).json()
    return {Path(f["path"]).name: f["sha256"] for f in listing["files"]}


def test_the_day_is_matched_written_verified_and_delivered(world):
    from cli.settlement import verify_command

    engine, day = world["engine"], world["day"]
    run = _run(world)
    settled = task_result(run, "settle")
    assert settled["companies"], settled
    for company in settled["companies"]:
        csv_path = Path(company["files"][0])
        assert csv_path.name == f"{company['company_code']}_settlement_{day:%Y%m%d}_v01.csv"
        assert verify_command(csv_path) == 0
        # The day's money recomputed from the items equals SAP's billing totals to the minor unit
        # (signed: cancellations and credit memos count against), or the difference is an exception.
        with _sap(world["info"]) as sap:
            sap_net: dict[str, Decimal] = {}
            for d in sap.billing_documents():
                if d.billing_date == day and d.company_code == company["company_code"]:
                    sign = -1 if d.category in ("N", "O") else 1
                    sap_net[d.currency] = sap_net.get(d.currency, Decimal(0)) + sign * d.net_amount
        differences = [e for e in _rows(engine, settlement_exceptions) if e.reason == "totals_difference"]
        if not differences:
            assert {c: Decimal(t["net"]) for c, t in company["day_totals"].items()} == sap_net
    # Delivered to the SFTP server: CSV, XLSX, exceptions report and manifest, with the files' hashes.
    on_server = _sftp_files(world)
    for company in settled["companies"]:
        for path in map(Path, company["files"]):
            assert path.name in on_server
    assert not [name for name in on_server if name.endswith(".part")]
    assert {s.status for s in _rows(engine, settlements)} == {"delivered"}
    reasons = Counter(e.reason for e in _rows(engine, settlement_exceptions))
    assert sum(reasons.values()) == sum(c["exceptions"] for c in settled["companies"])


def test_a_rerun_with_the_same_inputs_writes_and_sends_nothing(world):
    engine, folder = world["engine"], world["folder"]
    before_files = sorted(p.name for p in folder.rglob("*") if p.is_file())
    before_ledger = [(e.idem_key, e.attempts) for e in _rows(engine, ledger) if e.target == "file.settlement"]
    run = _run(world)
    assert all(not c["written"] for c in task_result(run, "settle")["companies"])
    assert task_result(run, "deliver")["deliver"] and all(
        d["sent_now"] == 0 for d in task_result(run, "deliver")["deliver"].values()
    )
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == before_files
    assert [(e.idem_key, e.attempts) for e in _rows(engine, ledger) if e.target == "file.settlement"] == before_ledger


def test_a_cancellation_in_sap_is_a_new_version_naming_the_old_one(world):
    from cli.settlement import verify_command

    engine, day = world["engine"], world["day"]
    (first,) = [s for s in _rows(engine, settlements) if s.records > 0][:1]
    v1 = next(world["folder"].rglob(first.file))
    v1_bytes = v1.read_bytes()
    with _sap(world["info"]) as sap:
        doc = next(
            d
            for d in sap.billing_documents()
            if d.billing_date == day
            and d.company_code == first.company_code
            and not d.is_cancelled
            and d.billing_type == "F2"
        )
    _cancel_in_sap(world["info"], doc.number)
    run = _run(world)
    company = next(c for c in task_result(run, "settle")["companies"] if c["company_code"] == first.company_code)
    assert company["written"] and company["version"] == 2
    manifest = json.loads(Path(company["files"][2]).read_text(encoding="utf-8"))
    assert manifest["supersedes"]["file"] == first.file and manifest["supersedes"]["reason"]
    assert v1.read_bytes() == v1_bytes  # the old version is never overwritten
    assert verify_command(Path(company["files"][0])) == 0
    assert Path(company["files"][0]).name in _sftp_files(world)


EXPECTED = {"over_billing": {"over_billed", "under_delivered"}}


def test_every_seeded_billing_anomaly_is_an_exception_with_its_reason(world):
    engine = world["engine"]
    seeded = requests.get(f"{world['control']}/records/sap_s4/billing_anomalies/all", timeout=10).json()["record"]
    assert len(seeded["anomalies"]) >= 5, seeded
    with _sap(world["info"]) as sap:
        dates = {d.number: d.billing_date for d in sap.billing_documents()}
    for day in sorted({dates[a["billing_document"]] for a in seeded["anomalies"]}):
        run_dag("finance_settlement", {"day": day.isoformat()})
        found = {e.subject: e.reason for e in _rows(engine, settlement_exceptions) if e.business_day == day}
        for a in seeded["anomalies"]:
            if dates[a["billing_document"]] != day:
                continue
            expected = EXPECTED.get(a["kind"], {a["expected_reason"]})
            subject = f"{a['sales_order']}/{a['sales_order_item']}"
            assert found.get(subject) in expected, (a, found.get(subject))


def test_a_tampered_file_fails_verify(world, tmp_path):
    from cli.main import main as hub_cli

    original = next(world["folder"].rglob("*_settlement_*_v01.csv"))
    copy = tmp_path / original.name
    copy.write_bytes(original.read_bytes().replace(b",", b";", 1))
    (tmp_path / original.name.replace(".csv", ".manifest.json")).write_bytes(
        original.with_name(original.name.replace(".csv", ".manifest.json")).read_bytes()
    )
    assert hub_cli(["settlement", "verify", str(copy)]) == 1
    assert hub_cli(["settlement", "verify", str(original)]) == 0
