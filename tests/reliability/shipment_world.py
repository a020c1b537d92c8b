"""The world of the shipment reliability tests (tests/reliability/test_shipment_reliability.py).

One frozen sandbox and one hub database per backend (SQLite, PostgreSQL), seeded the slow way once:
``dag.test()`` of master_data_sync, crm_order_sync and sap_order_posting, then four sandbox days so
that SAP creates the outbound deliveries of the 3PL plants, and the flow's own ``discover`` step
stores them. The real receiver (``receiver.app``) takes the WMS's pushes on a loopback port, with
the sandbox clock.

The discovered deliveries are then parked as ``held`` (a reserve no step touches: ``send`` reads
``new``, ``issue`` reads ``shipped``); a test takes whole orders' deliveries from the reserve back to
``new`` with :func:`take`, so each test works on deliveries no other test sent, as if ``discover``
had just found them. Tests assert on their own deliveries only: the WMS keeps working on the sandbox
clock for every order it holds, so a test that moves the clock ships earlier tests' orders too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from sqlalchemy import select, update

from hub.schema import deliveries, delivery_lines, ledger, orders

SEED, ORDERS = 11, 60
DAY = 86_400
PROJECT_ROOT = Path(__file__).resolve().parents[2]


# -- the world ------------------------------------------------------------------------------------
@contextmanager
def _database(request: pytest.FixtureRequest, tmp: Path) -> Iterator[Any]:
    from devtools.testrun import fresh_database
    from hub.db import make_engine, upgrade

    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp / 'hub.sqlite'}"
        else:
            url = stack.enter_context(fresh_database(request.getfixturevalue("pg_url")))
        upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        yield engine


@contextmanager
def build_world(request: pytest.FixtureRequest, tmp: Path) -> Iterator[World]:
    from dagruns import deploy, run_dag, sync

    from devtools.servers import serving
    from hub.settings import get_settings
    from receiver.app import create_app
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    monkeypatch = pytest.MonkeyPatch()
    try:
        with _database(request, tmp) as engine, running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
            seed = generate(SEED, ORDERS, datetime.fromisoformat(info["now"]))
            deploy(info, seed, engine, tmp, monkeypatch)
            world = World(info, engine, seed, tmp)
            wms = info["systems"]["qimen_wms"]
            app = create_app(lambda: engine, wms["secret"], wms["app_key"], wms["customer_id"], clock=world.now)
            with serving(app) as receiver_url:
                world.receiver = f"{receiver_url}/qimen"
                world.post("qimen_wms/receiver", {"url": world.receiver})
                now = world.now()
                run_dag("master_data_sync", at=now)
                sync(now)
                run_dag("sap_order_posting", at=now)
                world.advance(4 * DAY)  # SAP creates deliveries as confirmed dates come due
                world.discover()
                world.park()
                try:
                    yield world
                finally:
                    world.close()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


class World:
    """What a test needs: the sandbox (control calls, clock, call log), the hub database, clients."""

    def __init__(self, info: dict[str, Any], engine: Any, seed: Any, tmp: Path) -> None:
        from connectors.http import RetryPolicy
        from connectors.qimen import QimenClient
        from connectors.sap_s4 import SapClient, SapConfig
        from hub.settings import get_settings

        self.info, self.engine, self.seed, self.tmp = info, engine, seed, tmp
        self.control = info["control_url"]
        self.receiver = ""
        self.settings = get_settings()
        self.owner_code = self.settings.logistics.owner_code
        self.fast = RetryPolicy(max_attempts=2, base=0, cap=0)
        wms, s = info["systems"]["qimen_wms"], info["systems"]["sap_s4"]
        # The WMS checks the sign's timestamp against its own (sandbox) clock, as a real one against
        # real time: the hub's client signs with the sandbox clock.
        self.qimen_config = {k: wms[k] for k in ("url", "app_key", "secret", "customer_id")}
        self.qimen = QimenClient(**self.qimen_config, clock=self.now, retry=self.fast)
        self.sap_config = {k: s[k] for k in ("base_url", "user", "password", "client")}
        self.sap = SapClient(SapConfig(**self.sap_config, retry=self.fast))
        self.reserve: dict[tuple[str, str], list[str]] = {}  # order → its parked deliveries
        self._runs = 0

    def close(self) -> None:
        self.qimen.close()
        self.sap.close()

    # -- the sandbox --------------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(f"{self.control}/{path}", params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> Any:
        r = requests.post(f"{self.control}/{path}", json=body if body is not None else {}, timeout=60)
        assert r.ok, r.text
        return r.json()

    def now(self) -> datetime:
        return datetime.fromisoformat(self.get("clock")["now"])

    def advance(self, seconds: float) -> datetime:
        return datetime.fromisoformat(self.post("clock", {"advance_seconds": seconds})["now"])

    def push(self) -> list[dict[str, Any]]:
        """The WMS works up to the clock and pushes what is due to the receiver; what it was answered."""
        return self.post("qimen_wms/push")["pushes"]

    def last_seq(self) -> int:
        calls = self.get("calls")["calls"]
        return calls[-1]["seq"] if calls else 0

    def calls(self, system: str, since: int = 0) -> list[dict[str, Any]]:
        return self.get("calls", system=system, since=since)["calls"]

    def qimen_calls(self, method: str, since: int = 0) -> list[dict[str, Any]]:
        """The WMS's call log entries of one Qimen method (named in the query string), pushes left out."""
        return [
            c
            for c in self.calls("qimen_wms", since)
            if c.get("direction") != "push" and parse_qs(c["query"]).get("method") == [f"taobao.qimen.{method}"]
        ]

    def wms_creates(self) -> Counter[str]:
        """Outbound orders the WMS took, per deliveryOrderCode (its write log: one entry per create that
        added lines; a repeated create with the same content adds none)."""
        return Counter(
            w["deliveryOrderCode"]
            for w in self.get("writes", system="qimen_wms")["writes"]
            if w["method"] == "stockout.create"
        )

    def wms_order(self, code: str) -> dict[str, Any]:
        """One order as the WMS holds it, its work done up to the clock (``/qimen_wms/orders`` works
        the warehouse first; ``/records/qimen_wms/orders/<code>`` shows it as last worked)."""
        (order,) = [o for o in self.get("qimen_wms/orders")["orders"] if o["deliveryOrderCode"] == code]
        return order

    def sap_actions(self, action: str, since: int = 0) -> Counter[str]:
        """SAP delivery function imports (``PostGoodsIssue`` …) per delivery, answered or refused."""
        found: Counter[str] = Counter()
        for c in self.calls("sap_s4", since):
            if c["method"] == "POST" and c["path"].endswith(f"/{action}"):
                (number,) = parse_qs(c["query"])["DeliveryDocument"]
                found[number.strip("'")] += 1
        return found

    # -- the hub ------------------------------------------------------------------------------------
    def run_id(self, name: str) -> str:
        self._runs += 1
        return f"{name}-{self._runs}"

    def ledger(self, owner: str) -> Any:
        from hub.ledger import Ledger

        return Ledger(self.engine, owner=owner)

    def discover(self) -> dict[str, int]:
        from zoneinfo import ZoneInfo

        from flows.shipment_notices.sending import discover

        day = self.now().astimezone(ZoneInfo(self.settings.hub.timezone)).date()
        logistics = self.settings.logistics
        return discover(
            self.engine, self.sap, self.run_id("discover"), day, logistics.warehouses, logistics.reread_days
        )

    def send(self, owner: str = "shipment_notices.send#1", now: datetime | None = None) -> dict[str, int]:
        from flows.shipment_notices.sending import send

        now = now or self.now()
        return send(self.engine, self.qimen, self.ledger(owner), self.run_id("send"), self.owner_code, now)

    def confirm(self) -> dict[str, int]:
        from flows.shipment_notices.confirming import apply_confirms

        return apply_confirms(self.engine, self.run_id("confirm"))

    def issue(self, owner: str = "shipment_notices.issue#1") -> dict[str, int]:
        from flows.shipment_notices.confirming import issue

        return issue(self.engine, self.sap, self.ledger(owner), self.run_id("issue"))

    def cancel(self, owner: str = "shipment_notices.cancel#1") -> dict[str, int]:
        from flows.crms import crm_clients
        from flows.shipment_notices.cancelling import cancel_orders

        logistics = self.settings.logistics
        with crm_clients(self.engine) as clients:
            return cancel_orders(
                self.engine,
                self.qimen,
                self.sap,
                self.ledger(owner),
                clients,
                self.run_id("cancel"),
                owner_code=self.owner_code,
                rejection_reason=logistics.rejection_reason,
            )

    def park(self) -> None:
        """Every ``new`` delivery into the reserve (``held``), grouped by order."""
        with self.engine.begin() as conn:
            for r in conn.execute(
                select(deliveries.c.source, deliveries.c.crm_order_id, deliveries.c.delivery)
                .where(deliveries.c.status == "new")
                .order_by(deliveries.c.delivery)
            ):
                self.reserve.setdefault((r.source, r.crm_order_id), []).append(r.delivery)
            conn.execute(update(deliveries).where(deliveries.c.status == "new").values(status="held"))
        assert self.reserve, "SAP created deliveries of the 3PL plants"

    def take(self, count: int, want: Any = None, source: str | None = None) -> list[str]:
        """The deliveries of ``count`` orders from the reserve whose every delivery satisfies ``want``
        (a predicate on the WMS's seeded traits, :func:`sandbox.qimen_plan.traits`), set ``new``."""
        from sandbox.qimen_plan import traits

        picked: list[tuple[str, str]] = []
        for key, numbers in self.reserve.items():
            if source and key[0] != source:
                continue
            if want is None or all(want(traits(SEED, n), n) for n in numbers):
                picked.append(key)
            if len(picked) == count:
                break
        assert len(picked) == count, f"the reserve holds {count} orders as wanted"
        taken = sorted(n for key in picked for n in self.reserve.pop(key))
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.delivery.in_(taken)).values(status="new"))
        return taken

    def deliveries(self, numbers: Iterable[str]) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return {
                r.delivery: r for r in conn.execute(select(deliveries).where(deliveries.c.delivery.in_(list(numbers))))
            }

    def lines(self, numbers: Iterable[str]) -> dict[tuple[str, int], Any]:
        with self.engine.connect() as conn:
            return {
                (r.delivery, r.line_no): r
                for r in conn.execute(select(delivery_lines).where(delivery_lines.c.delivery.in_(list(numbers))))
            }

    def entries(self, target: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        query = select(ledger).where(ledger.c.target == target)
        if keys is not None:
            query = query.where(ledger.c.idem_key.in_(list(keys)))
        with self.engine.connect() as conn:
            return {r.idem_key: r for r in conn.execute(query)}

    def order_of(self, delivery: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(orders)
                .join(
                    deliveries,
                    (deliveries.c.source == orders.c.source) & (deliveries.c.crm_order_id == orders.c.crm_order_id),
                )
                .where(deliveries.c.delivery == delivery)
            ).one()

    def ship_and_confirm(self, numbers: list[str], max_days: int = 5) -> None:
        """Move the clock until the WMS has shipped ``numbers`` for good, push, apply the confirms."""
        for _ in range(max_days * 4):
            self.advance(DAY / 4)
            self.push()
            self.confirm()
            if all(d.status != "sent" for d in self.deliveries(numbers).values()):
                return
        raise AssertionError(f"not shipped after {max_days} days: {self.deliveries(numbers)}")


# -- worker processes -----------------------------------------------------------------------------
WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import datetime

    import requests

    from connectors.http import RetryPolicy
    from connectors.qimen import QimenClient
    from connectors.sap_s4 import SapClient, SapConfig
    from hub.db import make_engine
    from hub.ledger import Ledger

    with open(sys.argv[1]) as f:
        job = json.load(f)
    engine = make_engine(job["db_url"])
    fast = RetryPolicy(max_attempts=2, base=0, cap=0)

    def sandbox_now():
        return datetime.fromisoformat(requests.get(job["control"] + "/clock", timeout=10).json()["now"])

    qimen = QimenClient(**job["qimen"], clock=sandbox_now, retry=fast)
    sap = SapClient(SapConfig(**job["sap"], retry=fast))
    die = job.get("die_after")
    if die:
        cls = {"stockout_create": QimenClient, "post_goods_issue": SapClient}[die]
        real = getattr(cls, die)

        def call_then_die(self, *args, **kwargs):
            real(self, *args, **kwargs)  # the outside system has it ...
            os._exit(9)  # ... and the worker dies before the ledger hears of it

        setattr(cls, die, call_then_die)
    while not os.path.exists(job["go"]):  # all workers start together
        time.sleep(0.01)
    ledger = Ledger(engine, owner=job["owner"])
    if job["step"] == "send":
        from flows.shipment_notices.sending import send

        counts = send(engine, qimen, ledger, job["run_id"], job["owner_code"], sandbox_now())
    else:
        from flows.shipment_notices.confirming import issue

        counts = issue(engine, sap, ledger, job["run_id"])
    print(json.dumps(counts))
    """
)


def start_worker(world: World, step: str, owner: str, go: Path, **extra: Any) -> subprocess.Popen:
    """One process running ``step`` (send or issue) as one task try ``owner``; it waits for ``go``."""
    job = {
        "db_url": world.engine.url.render_as_string(hide_password=False),
        "control": world.control,
        "qimen": world.qimen_config,
        "sap": world.sap_config,
        "owner_code": world.owner_code,
        "owner": owner,
        "run_id": f"{step}-{owner}",
        "step": step,
        "go": str(go),
        **extra,
    }
    path = world.tmp / f"job-{owner.replace('/', '_').replace('#', '_')}.json"
    path.write_text(json.dumps(job))
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )


def finish(proc: subprocess.Popen, code: int = 0) -> dict[str, int] | None:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == code, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]) if code == 0 else None


def expire_claims(world: World, target: str, keys: Iterable[str]) -> None:
    """The dead try's lease runs out (ten minutes later)."""
    past = datetime.now().astimezone() - timedelta(minutes=1)
    with world.engine.begin() as conn:
        conn.execute(
            update(ledger)
            .where(ledger.c.target == target, ledger.c.idem_key.in_(list(keys)))
            .values(claimed_until=past)
        )
