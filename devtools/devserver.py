"""``make up``: the sandbox plus ``airflow standalone`` with the UI on http://localhost:8080.

Connections point at the sandbox; the hub database is the embedded SQLite file in the output
folder. Stop with Ctrl-C: Airflow and the sandbox stop together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools import local_airflow
from hub.settings import get_settings


def main() -> int:
    from hub.db import upgrade
    from sandbox.testing import running_sandbox

    hub_db_path = get_settings().output_dir / "hub.sqlite"
    hub_db_path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(f"sqlite:///{hub_db_path}")
    with running_sandbox() as sandbox:
        env = {**os.environ, **local_airflow.prepare(sandbox, hub_db_path)}
        env.pop("HUB_DATABASE_URL", None)  # tasks use the hub_db Connection, as in production
        # standalone starts its components as `airflow …`: the venv's bin must be on PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        print(
            f"Airflow UI: http://localhost:8080  (user {local_airflow.UI_USER}, password {local_airflow.UI_PASSWORD})\n"
            f"Sandbox:    {sandbox['base_url']}   Hub database: {hub_db_path}\nCtrl-C stops everything.",
            flush=True,
        )
        try:
            return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
