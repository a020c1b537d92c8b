"""The Qimen WMS emulator's stock counts (issue 11): the WMS's stock starts from SAP's seeded book, drifts
in the seeded ways the drift route lists, and the counts and stock changes reach a receiver as signed
inventory.report pages and stockchange.report messages that the hub's parser reads back to exactly
those differences. Plus inventory.query through the hub's client, the daily schedule and the count
sheets of plant 2010.

One frozen sandbox for the module (nothing ships, so the seed's book is the WMS's book before a count).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import fuzzing
import pytest
import requests
from qimen_client import GMT8, Sandbox, sign, utc

from connectors.qimen import QimenClient
from sandbox.clock import DEFAULT_START, SandboxClock
from sandbox.count_sheets import sheet_drift
from sandbox.qimen_warehouse import seeded_book
from sandbox.qimen_wms import QimenWms
from sandbox.sap.masterdata import load_stock
from sandbox.sap.services import SERVICES
from sandbox.sap.store import Store
from sandbox.seed_data import generate
from sandbox.system import SandboxContext
from transforms.warehouse_counts import (
    CountSheetError,
    assemble_count,
    parse_count_sheet,
    parse_inventory_report,
    parse_stockchange,
)

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 21, 40
DATA = generate(SEED, ORDERS, DEFAULT_START)
BOOK = seeded_book(DATA)
PLANTS = {"WH-SH01": "1010", "WH-SZ01": "1020"}


class PushSink:
    """A receiver for every pushed method: checks the sign, answers success, keeps what came."""

    def __init__(self, secret: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.secret = secret
        self.received: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                pairs = parse_qsl(self.path.partition("?")[2], keep_blank_values=True)
                sink.received.append(
                    {
                        "params": dict(pairs),
                        "body": body,
                        "sign_ok": dict(pairs).get("sign") == sign(pairs, body, sink.secret),
                    }
                )
                payload = (
                    b'<?xml version="1.0" encoding="utf-8"?><response><flag>success</flag><code>0</code>'
                    b"<message>ok</message></response>"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/xml;charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/qimen"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["params"]["method"] == f"taobao.qimen.{method}"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    for info in fuzzing.module_sandbox(SEED, ORDERS):
        yield Sandbox(info)


@pytest.fixture(scope="module")
def sink(sandbox: Sandbox) -> Iterator[PushSink]:
    sink = PushSink(sandbox.qimen["secret"])
    sandbox.control_post("/qimen_wms/receiver", {"url": sink.url})
    yield sink
    sandbox.control_post("/qimen_wms/receiver", {"url": None})
    sink.close()


def drift_of(sandbox: Sandbox) -> dict[str, Any]:
    return requests.get(sandbox.control + "/qimen_wms/drift", timeout=10).json()


def _context(seed: int) -> SandboxContext:
    return SandboxContext(
        seed=seed, clock=SandboxClock(DEFAULT_START, frozen=True), data=generate(seed, ORDERS, DEFAULT_START)
    )


def test_the_wms_starts_from_saps_seeded_book() -> None:
    store = Store([SERVICES[name] for name in SERVICES], {"A_MatlStkInAcctMod": ("Material", "Plant")})
    load_stock(store, DATA)
    sap: Counter[tuple[str, str, str]] = Counter()
    for row in store.table("A_MatlStkInAcctMod").all():
        sap[(row["Plant"], row["Material"], row["InventoryStockType"])] += int(row["MatlWrhsStkQtyInMatlBaseUnit"])
    assert {k: v for k, v in BOOK.items()} == dict(sap)
    assert {t for _, _, t in BOOK} == {"01", "02", "07"}
    wms = QimenWms(_context(SEED))
    totals: Counter[tuple[str, str, str]] = Counter()
    for (wh, item, inventory_type, _batch), unfrozen, frozen in wms.warehouse.stock.rows():
        totals[(PLANTS[wh], item, {"ZP": "01", "CC": "07"}[inventory_type])] += unfrozen + frozen
    expected = {k: v for k, v in BOOK.items() if k[0] in ("1010", "1020") and k[2] != "02" and v > 0}
    assert dict(totals) == expected  # quality stock (02) is not at the 3PL; batches and frozen units add up


def test_the_drift_is_deterministic_from_the_seed() -> None:
    first, again, other = (QimenWms(_context(s)).counts.drift_json() for s in (SEED, SEED, SEED + 1))
    assert first == again and first["drift"] != other["drift"]
    kinds = Counter(d["kind"] for d in first["drift"])
    assert kinds == {
        "shrinkage": 4,
        "mis_pick": 2,
        "uom_mix_up": 1,
        "unknown_item": 1,
        "in_transit": 1,
        "damage": 2,
        "adjust": 1,
    }
    materials = {m.number for m in DATA.materials}
    for d in first["drift"]:
        assert d["physical"] == d["sap_book"] + d["difference"]
        assert (d["material"] in materials) == (d["kind"] != "unknown_item")
        if d["kind"] != "unknown_item":
            assert d["sap_book"] == BOOK.get((d["plant"], d["material"], d["stock_type"]), 0)
    assert first["drift"] == sorted(first["drift"], key=lambda d: list(kinds).index(d["kind"]))


def test_counts_and_stock_changes_reach_the_receiver_as_the_drift_says(sandbox: Sandbox, sink: PushSink) -> None:
    drift = drift_of(sandbox)["drift"]
    made = {wh: sandbox.control_post("/qimen_wms/counts", {"warehouse": wh}) for wh in ("WH-SZ01", "WH-SH01")}
    assert made["WH-SH01"]["totalPage"] >= 2 and made["WH-SZ01"]["adjustType"] == "CHECK"
    pushes = sandbox.push()
    assert pushes and all(p["flag"] == "success" for p in pushes)
    assert all(r["sign_ok"] for r in sink.received)

    # Pages: one outBizCode each; one page came twice, byte for byte; the parser assembles each count.
    reports = sink.of("inventory.report")
    by_key: dict[str, list[bytes]] = {}
    for r in reports:
        by_key.setdefault(parse_inventory_report(r["body"]).out_biz_code, []).append(r["body"])
    twice = [k for k, bodies in by_key.items() if len(bodies) == 2]
    assert len(twice) == 1 and len(set(by_key[twice[0]])) == 1 and twice[0].endswith("-P2")
    pages = [parse_inventory_report(r["body"]) for r in reports]
    counts = {}
    for code in {p.check_order_code for p in pages}:
        counts[code] = assemble_count([p for p in pages if p.check_order_code == code])
    checks = {c.warehouse: c for c in counts.values() if c.adjust_type == "CHECK"}
    (adjusted,) = [c for c in counts.values() if c.adjust_type == "ADJUST"]
    sh = checks["WH-SH01"]
    assert sh.total_page == made["WH-SH01"]["totalPage"] and sh.check_order_code == made["WH-SH01"]["checkOrderCode"]
    lines = {(c.warehouse, ln.material, ln.inventory_type): ln for c in checks.values() for ln in c.lines}
    assert any(ln.counted_qty is None for ln in lines.values()), "totalQty left out on some items"
    assert sum(ln.counted_qty is not None for ln in lines.values()) > len(lines) / 2
    assert any(ln.batch for ln in lines.values()), "batchCode on batch-kept items"

    changes = [line for r in sink.of("stockchange.report") for line in parse_stockchange(r["body"])]
    for d in drift:
        key = (d["warehouse"], d["material"], d["inventory_type"])
        if d["kind"] in ("shrinkage", "mis_pick", "uom_mix_up", "unknown_item"):
            line = lines[key]
            assert line.difference == d["difference"], d
            physical = line.counted_qty if line.counted_qty is not None else d["sap_book"] + line.difference
            assert physical == d["physical"], d
        elif d["kind"] == "in_transit":
            (receipt,) = [c for c in changes if c.order_type == "CGRK"]
            assert (receipt.material, receipt.quantity) == (d["material"], d["difference"])
            assert lines[key].difference == 0 and lines[key].counted_qty == d["physical"]
        elif d["kind"] == "damage":
            (moved,) = [c for c in changes if c.material == d["material"] and c.inventory_type == d["inventory_type"]]
            assert moved.quantity == d["difference"] and moved.stock_type == d["stock_type"]
            assert lines[key].difference == 0 and lines[key].counted_qty == d["physical"]
        else:
            (line,) = adjusted.lines
            assert (line.material, line.difference, line.counted_qty) == (d["material"], d["difference"], d["physical"])
    assert {ln.stock_type for ln in lines.values()} == {"01", "07"}

    # The control API lists what was counted and pushed; a second count finds nothing new.
    state = requests.get(sandbox.control + "/qimen_wms/counts", timeout=10).json()
    assert all(p["delivered"] for c in state["counts"] for p in c["pages"])
    assert len(state["stock_changes"]) == 2 and all(c["push"]["delivered"] for c in state["stock_changes"])
    again = sandbox.control_post("/qimen_wms/counts", {"warehouse": "WH-SH01"})
    drifted = {d["material"] for d in drift if d["warehouse"] == "WH-SH01"}
    assert {i["itemCode"] for i in again["items"]} >= drifted
    assert all(i["quantity"] == 0 for i in again["items"])
    assert sandbox.control_post("/qimen_wms/counts", {"warehouse": "WH-SH01", "items": ["SP-NOPE"]})["items"] == [
        {"itemCode": "SP-NOPE", "inventoryType": "ZP", "batchCode": "", "quantity": 0, "totalQty": 0}
    ]
    sandbox.push()


def test_inventory_query_through_the_hubs_client(sandbox: Sandbox) -> None:
    info = drift_of(sandbox)
    q = sandbox.qimen
    client = QimenClient(q["url"], q["app_key"], q["secret"], q["customer_id"], clock=sandbox.now)
    frozen = {f["material"]: f["lock_quantity"] for f in info["frozen"] if f["warehouse"] == "WH-SH01"}
    damaged = next(d for d in info["drift"] if d["kind"] == "damage")
    unknown = next(d for d in info["drift"] if d["kind"] == "unknown_item")["material"]
    rows = client.inventory_query("WH-SH01", [*frozen, unknown], batch_size=2)
    for item, lock in frozen.items():
        (row,) = [r for r in rows if r.item_code == item]
        assert row.lock_quantity == lock and row.on_hand == BOOK[("1010", item, "01")]
    assert [r.on_hand for r in rows if r.item_code == unknown] == [
        Decimal(next(d["physical"] for d in info["drift"] if d["material"] == unknown))
    ]
    every = client.inventory_query(None, [damaged["material"]])
    types = {(r.warehouse, r.inventory_type): r.on_hand for r in every}
    assert types[("WH-SZ01", "CC")] == BOOK.get(("1020", damaged["material"], "07"), 0) + next(
        d["difference"] for d in info["drift"] if d["kind"] == "damage" and d["inventory_type"] == "CC"
    )
    batch = info["batches"][0]
    (lot,) = client.inventory_query(batch["warehouse"], [batch["material"]])
    assert lot.batch == batch["batch"]


def test_the_daily_count_runs_on_the_sandbox_clock(sandbox: Sandbox, sink: PushSink) -> None:
    before = len(requests.get(sandbox.control + "/qimen_wms/counts", timeout=10).json()["counts"])
    schedule = sandbox.control_post("/qimen_wms/counts/schedule", {"enabled": True})
    try:
        assert schedule["enabled"] and schedule["count_time"] == "18:30 GMT+8"
        due = utc(schedule["next_count"])
        assert due.astimezone(GMT8).strftime("%H:%M") == "18:30" and due > sandbox.now()
        sandbox.clock(now=(due - timedelta(minutes=1)).isoformat())
        assert len(requests.get(sandbox.control + "/qimen_wms/counts", timeout=10).json()["counts"]) == before
        sandbox.clock(now=(due + timedelta(days=1, minutes=1)).isoformat())
        counts = requests.get(sandbox.control + "/qimen_wms/counts", timeout=10).json()["counts"][before:]
        assert [(c["warehouseCode"], c["trigger"]) for c in counts] == [
            ("WH-SH01", "scheduled"),
            ("WH-SZ01", "scheduled"),
        ] * 2
        assert [c["checkTime"][11:] for c in counts] == ["18:30:00"] * 4
        assert counts[0]["checkTime"][:10] != counts[2]["checkTime"][:10]
        pushed = sandbox.push()
        assert {p["method"] for p in pushed} == {"taobao.qimen.inventory.report"}
    finally:
        sandbox.control_post("/qimen_wms/counts/schedule", {"enabled": False})


def test_count_sheets_of_plant_2010(sandbox: Sandbox, tmp_path: Path) -> None:
    files = sandbox.control_post("/qimen_wms/count_sheets", {"folder": str(tmp_path), "day": "2026-12-01"})["files"]
    good, bad = (Path(f) for f in files)
    assert (good.name, bad.name) == ("count_2010_20261201.csv", "count_2010_20261201_B.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.name, bad.name]  # no temporary file left
    lines = parse_count_sheet(good.read_text(encoding="utf-8"), good.name)
    assert {ln.plant for ln in lines} == {"2010"} and all(
        ln.counted_at.utcoffset() == timedelta(hours=1) for ln in lines
    )
    counted = {(ln.material, ln.stock_type): ln for ln in lines}
    drift = drift_of(sandbox)["count_sheets"]
    assert drift == [d.json() for d in sheet_drift(DATA)] and {d["kind"] for d in drift} >= {"shrinkage", "gain"}
    for d in drift:
        line = counted[(d["material"], d["stock_type"])]
        assert (line.counted_qty, line.unit) == (d["counted_qty"], d["unit"])
    for (material, stock_type), line in counted.items():
        if material not in {d["material"] for d in drift}:
            assert line.counted_qty == BOOK[("2010", material, stock_type)]
    with pytest.raises(CountSheetError) as refused:
        parse_count_sheet(bad.read_text(encoding="utf-8"), bad.name)
    assert (refused.value.file, refused.value.row, refused.value.field) == (bad.name, 4, "counted_qty")
    assert (
        files
        == sandbox.control_post("/qimen_wms/count_sheets", {"folder": str(tmp_path), "day": "2026-12-01"})["files"]
    )
    assert good.read_bytes() == Path(files[0]).read_bytes()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/qimen_wms/counts", {}),
        ("/qimen_wms/counts", {"warehouse": "WH-XX"}),
        ("/qimen_wms/counts", {"warehouse": "WH-SH01", "adjustType": "FOO"}),
        ("/qimen_wms/counts", {"warehouse": "WH-SH01", "items": []}),
        ("/qimen_wms/counts", {"warehouse": "WH-SH01", "extra": 1}),
        ("/qimen_wms/counts/schedule", {"enabled": "yes"}),
        ("/qimen_wms/count_sheets", {"folder": "/tmp/x", "day": "01.12.2026"}),
        ("/qimen_wms/count_sheets", {"day": "2026-12-01"}),
    ],
)
def test_control_refusals(sandbox: Sandbox, path: str, body: dict[str, Any]) -> None:
    r = requests.post(sandbox.control + path, json=body, timeout=10)
    assert r.status_code == 400 and r.json()["error"]


def test_stock_route(sandbox: Sandbox) -> None:
    info = drift_of(sandbox)
    frozen = info["frozen"][0]
    rows = requests.get(
        sandbox.control + "/qimen_wms/stock",
        params={"warehouse": frozen["warehouse"], "item": frozen["material"]},
        timeout=10,
    ).json()["stock"]
    assert [r["lockQuantity"] for r in rows] == [frozen["lock_quantity"]]
