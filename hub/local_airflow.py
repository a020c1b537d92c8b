"""A project-local Airflow for the demo and ``make up``: AIRFLOW_HOME, Connections to the sandbox, pools.

Everything lands in ``.airflow/`` (gitignored). Connections are imported into Airflow's metadata
database, so they show in the UI under Admin → Connections exactly as a customer's real ones
would; pointing them at real systems is the only change a customer makes.
"""

from __future__ import annotations

import json
import os
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

# One pool per outside system, sized to what its rate limit tolerates in parallel.
POOLS = {
    "crm_api": (4, "Zoho CRM and Fxiaoke API calls (Zoho allows 10-25 concurrent per org)"),
    "sap_api": (4, "SAP S/4HANA OData calls"),
    "logistics_api": (2, "3PL API calls"),
}


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
    """Airflow Connections pointing at the sandbox systems (Airflow's JSON connection format)."""
    systems = sandbox["systems"]
    zoho, fx = systems["zoho_crm"], systems["fxiaoke"]
    conns: dict[str, dict[str, Any]] = {
        "crm_zoho": {
            "conn_type": "http",
            "description": "Zoho CRM v8 (sandbox)",
            "host": zoho["accounts_url"],
            "login": zoho["client_id"],
            "password": zoho["client_secret"],
            "extra": json.dumps({"refresh_token": zoho["refresh_token"]}),
        },
        "crm_fxiaoke": {
            "conn_type": "http",
            "description": "Fxiaoke OpenAPI (sandbox)",
            "host": fx["base_url"],
            "login": fx["app_id"],
            "password": fx["app_secret"],
            "extra": json.dumps(
                {"permanent_code": fx["permanent_code"], "current_open_user_id": fx["current_open_user_id"]}
            ),
        },
        "hub_db": {"conn_type": "sqlite", "description": "Hub database (embedded SQLite)", "host": str(hub_db_path)},
    }
    sap = systems["sap_s4"]
    url = urlsplit(sap["base_url"])
    conns["sap_s4"] = {
        "conn_type": "http",
        "description": "SAP S/4HANA OData V2 (sandbox)",
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
        "description": "Mail submission (sandbox; plain SMTP with AUTH on loopback)",
        "host": smtp["host"],
        "port": smtp["port"],
        "login": smtp["user"],
        "password": smtp["password"],
        "extra": json.dumps({"from_email": smtp["from_address"], "disable_ssl": True, "disable_tls": True}),
    }
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
    (home / "passwords.json").write_text(json.dumps({UI_USER: UI_PASSWORD}))
    env = airflow_env(home)
    _airflow(["db", "migrate"], env)
    conn_file = home / "connections.json"
    conn_file.write_text(json.dumps(connections_for(sandbox, hub_db_path), indent=2))
    conn_file.chmod(0o600)  # it holds the sandbox credentials
    _airflow(["connections", "import", "--overwrite", str(conn_file)], env)
    pool_file = home / "pools.json"
    pool_file.write_text(json.dumps({k: {"slots": s, "description": d} for k, (s, d) in POOLS.items()}))
    _airflow(["pools", "import", str(pool_file)], env)
    return env
