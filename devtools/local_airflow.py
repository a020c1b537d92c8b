"""A project-local Airflow for the demo and ``make up``: AIRFLOW_HOME, Connections to the sandbox, pools.

Pools and the list of Connections are declared once, as data, in ``config/airflow_pools.json`` and
``config/airflow_connections.json``: ``airflow-init`` in docker-compose.yaml imports the same pools
file, and ``tests/infra/test_airflow_declarations.py`` checks compose, ``.env.example`` and this
module against both.

Everything lands in ``.airflow/`` (gitignored). Connections are imported into Airflow's metadata
database, so they show in the UI under Admin → Connections exactly as a customer's real ones
would; pointing them at real systems is the only change a customer makes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub.settings import PROJECT_ROOT

AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
UI_USER = "admin"
# Local sandbox login only, documented in the README; set HUB_UI_PASSWORD to choose another.
UI_PASSWORD = os.environ.get("HUB_UI_PASSWORD", "admin")  # noqa: S105

# One pool per outside system, sized to its rate limit (the reason is in each description); the file
# is in the format `airflow pools import` reads.
POOLS_FILE = PROJECT_ROOT / "config" / "airflow_pools.json"
# Every Connection the hub reads: id → conn_type and description.
CONNECTIONS_FILE = PROJECT_ROOT / "config" / "airflow_connections.json"


def declared_pools() -> dict[str, dict[str, Any]]:
    return json.loads(POOLS_FILE.read_text())


def declared_connections() -> dict[str, dict[str, str]]:
    return json.loads(CONNECTIONS_FILE.read_text())


def fernet_key(home: Path = AIRFLOW_HOME) -> str:
    """The local Fernet key, made once: Airflow encrypts Connections with it, the hub its token cache."""
    path = home / "fernet.key"
    if not path.exists():
        from cryptography.fernet import Fernet

        home.mkdir(parents=True, exist_ok=True)
        # A metadata database from before the key holds Connections nobody can decrypt any more.
        (home / "airflow.db").unlink(missing_ok=True)
        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_env(home: Path = AIRFLOW_HOME) -> dict[str, str]:
    """Environment for every Airflow process of the local setup."""
    return {
        "AIRFLOW__CORE__FERNET_KEY": fernet_key(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore",
    }


def connections_for(sandbox: dict[str, Any], hub_db_path: Path) -> dict[str, dict[str, Any]]:
    """Airflow Connections pointing at the sandbox systems (Airflow's JSON connection format), one for
    each declared in ``config/airflow_connections.json``."""
    systems = sandbox["systems"]
    zoho, fx = systems["zoho_crm"], systems["fxiaoke"]
    conns: dict[str, dict[str, Any]] = {
        "crm_zoho": {
            "conn_type": "http",
            "host": zoho["accounts_url"],
            "login": zoho["client_id"],
            "password": zoho["client_secret"],
            "extra": json.dumps({"refresh_token": zoho["refresh_token"]}),
        },
        "crm_fxiaoke": {
            "conn_type": "http",
            "host": fx["base_url"],
            "login": fx["app_id"],
            "password": fx["app_secret"],
            "extra": json.dumps(
                {"permanent_code": fx["permanent_code"], "current_open_user_id": fx["current_open_user_id"]}
            ),
        },
        "hub_db": {"conn_type": "sqlite", "host": str(hub_db_path)},  # embedded SQLite
    }
    sap = systems["sap_s4"]
    url = urlsplit(sap["base_url"])
    conns["sap_s4"] = {
        "conn_type": "http",
        "schema": url.scheme,
        "host": url.hostname,
        "port": url.port,
        "login": sap["user"],
        "password": sap["password"],
        "extra": json.dumps({"sap_client": sap["client"], "service_root": urlsplit(sap["service_root"]).path}),
    }
    smtp = systems["smtp"]
    conns["smtp_default"] = {
        "conn_type": "smtp",
        "host": smtp["host"],
        "port": smtp["port"],
        "login": smtp["user"],
        "password": smtp["password"],
        # The sandbox speaks plain SMTP with AUTH on loopback.
        "extra": json.dumps({"from_email": smtp["from_address"], "disable_ssl": True, "disable_tls": True}),
    }
    wms, sf = systems["qimen_wms"], systems["sf_express"]
    conns["logistics_3pl"] = {
        "conn_type": "http",
        "host": wms["url"],
        "login": wms["app_key"],
        "password": wms["secret"],
        "extra": json.dumps({"customer_id": wms["customer_id"], "owner_code": wms["owner_code"]}),
    }
    conns["carrier_sf"] = {
        "conn_type": "http",
        "host": sf["url"],
        "login": sf["partner_id"],
        "password": sf["check_word"],
    }
    drop = systems["sftp"]
    conns["finance_drop"] = {
        "conn_type": "sftp",
        "host": drop["host"],
        "port": drop["port"],
        "login": drop["user"],
        "password": drop["password"],
        # The sandbox on loopback: any host key (its key is in the ready line as host_key).
        "extra": json.dumps({"remote_dir": drop["remote_dir"], "no_host_key_check": True}),
    }
    wecom, dingtalk, hook = systems["wecom"], systems["dingtalk"], systems["alert_webhook"]
    conns["alert_wecom"] = {"conn_type": "http", "host": wecom["url"], "password": wecom["key"]}
    conns["alert_dingtalk"] = {
        "conn_type": "http",
        "host": dingtalk["url"],
        "password": dingtalk["access_token"],
        "extra": json.dumps({"secret": dingtalk["secret"]}),
    }
    conns["alert_webhook"] = {"conn_type": "http", "host": hook["url"], "password": hook["secret"]}
    declared = declared_connections()
    if conns.keys() != declared.keys():
        raise RuntimeError(f"{CONNECTIONS_FILE.name} and connections_for() differ: {sorted(conns.keys() ^ declared)}")
    for conn_id, conn in conns.items():
        conn["description"] = f"{declared[conn_id]['description']} (sandbox)"
    return conns


def _airflow(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def prepare(
    sandbox: dict[str, Any], hub_db_path: Path, home: Path = AIRFLOW_HOME, *, fresh: bool = False
) -> dict[str, str]:
    """Migrate Airflow's metadata database, import Connections and pools; return the environment.

    ``fresh`` starts from an empty metadata database (the demo); ``make up`` keeps run history.
    """
    home.mkdir(parents=True, exist_ok=True)
    if fresh:
        for stale in home.glob("airflow.db*"):
            stale.unlink()
        # The run history starts over: task logs of the old runs would mix with new runs of the same id.
        shutil.rmtree(home / "logs", ignore_errors=True)
    (home / "passwords.json").write_text(json.dumps({UI_USER: UI_PASSWORD}))
    env = airflow_env(home)
    _airflow(["db", "migrate"], env)
    conn_file = home / "connections.json"
    conn_file.write_text(json.dumps(connections_for(sandbox, hub_db_path), indent=2))
    conn_file.chmod(0o600)  # it holds the sandbox credentials
    _airflow(["connections", "import", "--overwrite", str(conn_file)], env)
    _airflow(["pools", "import", str(POOLS_FILE)], env)
    return env
