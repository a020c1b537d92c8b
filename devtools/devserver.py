"""``make up``: a live trial of the hub. The sandbox systems, ``airflow standalone`` with the UI on
http://127.0.0.1:8080, and the hub's receiver taking the sandbox warehouse's pushes (it emits the
inbox Asset event through Airflow's REST API, so ``shipment_notices`` starts at once).

What it sets up, in this order, and says on start:

- **a fresh hub database beside a fresh sandbox.** The sandbox keeps its state in memory, so a new one
  numbers its SAP orders from the start again and serves the same seeded CRM orders: a hub database
  kept from ``make demo`` (or an earlier ``make up``) would hold SAP numbers and orders of a sandbox
  that is gone. The previous file is kept as ``hub.previous.sqlite`` beside the new one. Airflow's
  run history (``.airflow/airflow.db``) restarts with them, as the demo's does: runs of a hub
  database set aside would mislead, and a kept history would put the first scheduled run up to 15
  minutes off (its latest interval already ran).
- **the ERP master-data extract** of the sandbox business, written to ``output/sandbox/masterdata``
  (``HUB__MASTERDATA__EXTRACT_DIR`` for every task) and imported once before Airflow starts, so the
  first ``crm_order_sync`` run reviews orders against it; ``master_data_sync`` keeps it daily.
- **live flow**: the sandbox clock starts at the wall clock (the receiver's timestamp check and
  Airflow's schedule agree with it) and the CRMs get a new order every ``HUB_UP_LIVE_ORDERS_EVERY``
  seconds (default 180; 0 turns it off); the DAGs are unpaused, so every 15 minutes
  ``crm_order_sync`` pulls the new orders and ``sap_order_posting`` runs on its Asset event.
- **Airflow sized to the machine**: the API server listens on 127.0.0.1 (``HUB_UP_HOST`` to choose
  another address, e.g. 0.0.0.0) with one worker; the LocalExecutor runs two task processes per CPU.
  The components are started as ``airflow standalone`` starts them, except that the scheduler waits
  until the API server answers: tasks talk to Airflow through it, and on a busy 2-core machine it
  needs 20-40 s, during which standalone's scheduler already ran (and failed) the first tasks.

Connections point at the sandbox; tasks use the ``hub_db`` Connection, as in production. Stop with
Ctrl-C: Airflow, the receiver and the sandbox stop together.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from devtools import local_airflow
from hub.settings import get_settings

SEED, ORDERS = 7, 600  # the demo's business
API_PORT = 8080
LIVE_ORDERS_EVERY = 180  # seconds between new CRM orders in the sandbox
PREVIOUS = "hub.previous.sqlite"
GMT8 = timezone(timedelta(hours=8))  # the warehouse's clock (Qimen)
# Plant 2010's count sheets (HUB__INVENTORY__COUNT_DIR of the trial)
COUNT_DIR = get_settings().output_dir / "sandbox" / "counts"
# What `airflow standalone` runs; the API server first (see the module docstring).
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
API_READY_TIMEOUT = 300  # seconds


def executor_slots(cpus: int | None) -> int:
    """Task processes the LocalExecutor runs at once: two per CPU (tasks mostly wait on HTTP and the
    database), at least 2, at most 16. Airflow's default of 32 starts 32 workers on a 2-core laptop."""
    return max(2, min(16, 2 * (cpus or 1)))


def api_host(environ: Mapping[str, str]) -> str:
    return environ.get("HUB_UP_HOST", "").strip() or "127.0.0.1"


def live_orders_every(environ: Mapping[str, str]) -> float:
    text = environ.get("HUB_UP_LIVE_ORDERS_EVERY", "").strip()
    if not text:
        return LIVE_ORDERS_EVERY
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"HUB_UP_LIVE_ORDERS_EVERY={text!r}: give seconds (0 turns live orders off)") from None
    if value < 0:
        raise SystemExit(f"HUB_UP_LIVE_ORDERS_EVERY={text!r}: give seconds (0 turns live orders off)")
    return value


def local_url(host: str, port: int = API_PORT) -> str:
    """Where processes on this machine reach the API server (a wildcard address is not one to call)."""
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host  # noqa: S104 - compared, not bound
    return f"http://{reachable}:{port}"


def up_env(extract_dir: Path, *, cpus: int | None, host: str) -> dict[str, str]:
    """What ``make up`` adds to the local Airflow environment (:func:`local_airflow.airflow_env`)."""
    slots = executor_slots(cpus)
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        # A trial shows flow from the start; the metadata database is new, so every DAG is created.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": str(slots),  # the LocalExecutor starts this many workers
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(slots),
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(API_PORT),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": str(max(1, min(2, (cpus or 1) // 2))),
        # Operators read what each task did in its log: the hub's steps say it at INFO (the demo's
        # console stays at WARNING, local_airflow.airflow_env).
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "HUB__MASTERDATA__EXTRACT_DIR": str(extract_dir),
        "HUB__INVENTORY__COUNT_DIR": str(COUNT_DIR),
    }


def set_aside(hub_db_path: Path) -> Path | None:
    """Move an existing hub database (and its SQLite side files) to ``hub.previous.sqlite``; returns
    where it went, or None when there was none."""
    if not hub_db_path.exists():
        return None
    previous = hub_db_path.with_name(PREVIOUS)
    for suffix in ("", "-wal", "-shm", "-journal"):
        stale = Path(f"{previous}{suffix}")
        stale.unlink(missing_ok=True)
        side = Path(f"{hub_db_path}{suffix}")
        if side.exists():
            side.rename(stale)
    return previous


def _say(text: str = "") -> None:
    print(text, flush=True)


def main() -> int:
    from flows.master_data_sync import import_extract
    from hub.db import make_engine, upgrade
    from sandbox.erp_extract import write_extract
    from sandbox.seed_data import generate
    from sandbox.testing import running_sandbox

    signal.signal(signal.SIGTERM, _interrupt)  # `timeout make up`, `kill`: stop as Ctrl-C does, cleaning up
    out = get_settings().output_dir
    out.mkdir(parents=True, exist_ok=True)
    hub_db_path = out / "hub.sqlite"
    extract_dir = out / "sandbox" / "masterdata"
    host, every = api_host(os.environ), live_orders_every(os.environ)

    previous = set_aside(hub_db_path)
    url = f"sqlite:///{hub_db_path}"
    upgrade(url)
    _say(f"▶ hub database: a fresh {hub_db_path}, in step with the fresh sandbox (its SAP numbers start over)")
    if previous is not None:
        _say(f"    the previous one (make demo or an earlier make up) is kept as {previous}")
    with running_sandbox(SEED, ORDERS, now=datetime.now(UTC), live_orders_every=every) as sandbox:
        now = datetime.fromisoformat(sandbox["now"])
        write_extract(generate(SEED, ORDERS, now), extract_dir)
        engine = make_engine(url)
        try:
            counts = import_extract(engine, extract_dir, "make-up")
        finally:
            engine.dispose()
        _say(f"▶ ERP master-data extract → {extract_dir}, imported: {_counts(counts)}")
        _say(
            f"▶ sandbox clock at the wall clock ({sandbox['now']}); "
            + (f"a new CRM order every {every:g} s" if every else "no live orders (HUB_UP_LIVE_ORDERS_EVERY=0)")
        )
        with _receiver(sandbox, hub_db_path, local_url(host)) as receiver_url:
            _say(
                "▶ preparing Airflow in .airflow/ (a fresh metadata DB: run history starts over; Connections, pools) …"
            )
            env = {**os.environ, **local_airflow.prepare(sandbox, hub_db_path, fresh=True)}
            env.update(up_env(extract_dir, cpus=os.cpu_count(), host=host))
            env.pop("HUB_DATABASE_URL", None)  # tasks use the hub_db Connection, as in production
            # standalone starts its components as `airflow …`: the venv's bin must be on PATH.
            env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
            _say(
                f"Airflow UI: {local_url(host)}  (user {local_airflow.UI_USER}, password {local_airflow.UI_PASSWORD})"
                f"   executor: {env['AIRFLOW__CORE__PARALLELISM']} task slots\n"
                f"Sandbox:    {sandbox['base_url']} (control: {sandbox['control_url']})   Hub database: {hub_db_path}\n"
                f"Receiver:   {receiver_url}/qimen (the sandbox warehouse pushes its confirmations here)\n"
                "DAGs are unpaused: crm_order_sync runs every 15 minutes (the first at once, over the seeded\n"
                "six weeks), sap_order_posting follows each of its runs. The warehouse counts at 18:30 GMT+8\n"
                '(or now: POST <control>/qimen_wms/counts {"warehouse": "WH-SH01"}, then .../qimen_wms/push);\n'
                "trigger inventory_reconciliation (param day: today) and approve its adjustments under\n"
                "Browse → Required Actions. Ctrl-C stops everything.",
            )
            return run_airflow(env, local_url(host))


def run_airflow(env: Mapping[str, str], api_url: str, *, ready_timeout: float = API_READY_TIMEOUT) -> int:
    """Run Airflow's components until Ctrl-C or until one of them stops; the API server first, the
    others once it answers. Output lines carry the component's name, as under standalone."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    print_lock = threading.Lock()

    def start(name: str) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", name], env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        processes[name] = process

        def pump() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                with print_lock:
                    print(f"{name:<13} | {raw.decode('utf-8', 'replace').rstrip()}", flush=True)

        threading.Thread(target=pump, daemon=True).start()

    started = time.monotonic()
    try:
        start("api-server")
        if not _wait_for_api(api_url, processes["api-server"], ready_timeout):
            _say(f"✗ the Airflow API server did not answer at {api_url} within {ready_timeout:.0f} s")
            return 1
        _say(f"▶ Airflow API server answers after {time.monotonic() - started:.0f} s; starting the other components")
        for name in COMPONENTS[1:]:
            start(name)
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    _say(f"✗ airflow {name} stopped (exit {process.returncode}); stopping the others")
                    return process.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)


def _wait_for_api(api_url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{api_url}/api/v2/monitor/health", timeout=5).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(1)
    return False


def _stop(processes: Mapping[str, subprocess.Popen[bytes]]) -> None:
    # A second Ctrl-C, or `timeout` signalling the whole group again, must not cut the cleanup short.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # The API server last: tasks still finishing report to Airflow through it.
    for name in reversed(COMPONENTS):
        process = processes.get(name)
        if process is None or process.poll() is not None:
            continue
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _counts(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


@contextmanager
def _receiver(sandbox: dict[str, Any], hub_db_path: Path, airflow_url: str) -> Iterator[str]:
    """The receiver on a free loopback port, verifying with the sandbox warehouse's secret, storing into
    the hub database; the sandbox warehouse is told to push to it."""
    import requests

    from devtools.servers import serving
    from hub.db import make_engine
    from receiver.app import create_app
    from receiver.asset_events import AirflowAssetNotifier

    wms = sandbox["systems"]["qimen_wms"]
    engine = make_engine(f"sqlite:///{hub_db_path}")
    notifier = AirflowAssetNotifier(airflow_url, local_airflow.UI_USER, local_airflow.UI_PASSWORD)
    app = create_app(lambda: engine, wms["secret"], wms["app_key"], wms["customer_id"], asset_notifier=notifier)
    try:
        with serving(app) as url:
            control = sandbox["control_url"]
            requests.post(f"{control}/qimen_wms/receiver", json={"url": f"{url}/qimen"}, timeout=10).raise_for_status()
            # The warehouse counts every day at 18:30 GMT+8 (inventory_reconciliation reconciles them at
            # 23:30), and plant 2010's count sheets of today are in the count folder from the start.
            requests.post(f"{control}/qimen_wms/counts/schedule", json={"enabled": True}, timeout=10).raise_for_status()
            for stale in COUNT_DIR.glob("*.csv"):  # a demo's sheets are not this trial's counts
                stale.unlink()
            today = datetime.fromisoformat(sandbox["now"]).astimezone(GMT8).date()
            sheets = {"folder": str(COUNT_DIR), "day": today.isoformat()}
            requests.post(f"{control}/qimen_wms/count_sheets", json=sheets, timeout=30).raise_for_status()
            yield url
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
