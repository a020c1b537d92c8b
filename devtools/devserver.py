"""``make up``: the sandbox plus ``airflow standalone`` with the UI on http://localhost:8080, and the
hub's receiver taking the sandbox warehouse's pushes (it emits the inbox Asset event through
Airflow's REST API, so ``shipment_notices`` starts at once).

Connections point at the sandbox; the hub database is the embedded SQLite file in the output
folder. The sandbox clock starts at the wall clock, so the receiver's timestamp check and Airflow's
schedule agree with it. Stop with Ctrl-C: Airflow, the receiver and the sandbox stop together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools import local_airflow
from hub.settings import get_settings


def main() -> int:
    from hub.db import upgrade
    from sandbox.testing import running_sandbox

    hub_db_path = get_settings().output_dir / "hub.sqlite"
    hub_db_path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(f"sqlite:///{hub_db_path}")
    with running_sandbox(now=datetime.now(UTC)) as sandbox, _receiver(sandbox, hub_db_path) as receiver_url:
        env = {**os.environ, **local_airflow.prepare(sandbox, hub_db_path)}
        env.pop("HUB_DATABASE_URL", None)  # tasks use the hub_db Connection, as in production
        # standalone starts its components as `airflow …`: the venv's bin must be on PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        print(
            f"Airflow UI: http://localhost:8080  (user {local_airflow.UI_USER}, password {local_airflow.UI_PASSWORD})\n"
            f"Sandbox:    {sandbox['base_url']}   Hub database: {hub_db_path}\n"
            f"Receiver:   {receiver_url}/qimen (the sandbox warehouse pushes its confirmations here)\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        try:
            return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)
        except KeyboardInterrupt:
            return 0


@contextmanager
def _receiver(sandbox: dict[str, Any], hub_db_path: Path) -> Iterator[str]:
    """The receiver on a free loopback port, verifying with the sandbox warehouse's secret, storing into
    the hub database; the sandbox warehouse is told to push to it."""
    import requests

    from devtools.servers import serving
    from hub.db import make_engine
    from receiver.app import create_app
    from receiver.asset_events import AirflowAssetNotifier

    wms = sandbox["systems"]["qimen_wms"]
    engine = make_engine(f"sqlite:///{hub_db_path}")
    notifier = AirflowAssetNotifier("http://localhost:8080", local_airflow.UI_USER, local_airflow.UI_PASSWORD)
    app = create_app(lambda: engine, wms["secret"], wms["app_key"], wms["customer_id"], asset_notifier=notifier)
    try:
        with serving(app) as url:
            control = sandbox["control_url"]
            requests.post(f"{control}/qimen_wms/receiver", json={"url": f"{url}/qimen"}, timeout=10).raise_for_status()
            yield url
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
