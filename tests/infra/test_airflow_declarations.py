"""Pools and Connections are declared once, as data (issue 8 point 10), and every setup uses them.

``config/airflow_pools.json`` (the format ``airflow pools import`` reads) and
``config/airflow_connections.json`` (id → conn_type, description) are read by ``airflow-init`` in
docker-compose.yaml, by ``make up`` and the demo (``devtools.local_airflow``), and by nothing else.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import local_airflow
from devtools.local_airflow import CONNECTIONS_FILE, POOLS_FILE, declared_connections, declared_pools
from devtools.testrun import PROJECT_ROOT

IMAGE_PROJECT = "/opt/airflow/project"  # where the Dockerfile copies the project (test_compose checks it)
SANDBOX = {
    "base_url": "http://127.0.0.1:8900",
    "systems": {
        "zoho_crm": {
            "accounts_url": "http://127.0.0.1:8900/zoho/accounts",
            "client_id": "id",
            "client_secret": "secret",
            "refresh_token": "refresh",
        },
        "fxiaoke": {
            "base_url": "http://127.0.0.1:8900/fxiaoke",
            "app_id": "app",
            "app_secret": "secret",
            "permanent_code": "code",
            "current_open_user_id": "user",
        },
        "sap_s4": {
            "base_url": "http://127.0.0.1:8900",
            "service_root": "http://127.0.0.1:8900/sap/opu/odata/sap",
            "user": "u",
            "password": "p",
            "client": "100",
        },
        "smtp": {"host": "127.0.0.1", "port": 2525, "user": "u", "password": "p", "from_address": "a@example.com"},
        "sftp": {"host": "127.0.0.1", "port": 2222, "user": "u", "password": "p", "remote_dir": "/inbox"},
        "qimen_wms": {
            "url": "http://127.0.0.1:8900/qimen/router/qimen/service",
            "app_key": "k",
            "secret": "s",
            "customer_id": "c",
            "owner_code": "PARTSHUB",
        },
        "sf_express": {"url": "http://127.0.0.1:8900/sf/std/service", "partner_id": "p", "check_word": "w"},
        "wecom": {"url": "http://127.0.0.1:8900/wecom/cgi-bin/webhook/send", "key": "k"},
        "dingtalk": {"url": "http://127.0.0.1:8900/dingtalk/robot/send", "access_token": "t", "secret": "SECs"},
        "alert_webhook": {"url": "http://127.0.0.1:8900/hooks/alerts", "secret": "s"},
    },
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())["services"]


def _init_script(services: dict[str, Any]) -> str:
    return "\n".join(services["airflow-init"]["command"])


def _in_image(path: str) -> Path:
    assert path.startswith(f"{IMAGE_PROJECT}/"), f"{path} is not a project file inside the image"
    return PROJECT_ROOT / path.removeprefix(f"{IMAGE_PROJECT}/")


def _dag_pools() -> dict[str, set[str]]:
    """Every ``pool="…"`` keyword in the DAG files' source → the files using it."""
    used: dict[str, set[str]] = {}
    for path in sorted((PROJECT_ROOT / "dags").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for kw in node.keywords if isinstance(node, ast.Call) else []:
                if kw.arg == "pool":
                    assert isinstance(kw.value, ast.Constant), f"{path.name}: pool= must be a literal name"
                    used.setdefault(kw.value.value, set()).add(path.name)
    return used


def _code_connections() -> set[str]:
    """Connection ids the hub's code reads: ``get_connection("…")`` and ``conn_id="…"`` literals."""
    ids = set()
    for folder in ("dags", "flows", "hub", "connectors", "plugins", "cli"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name == "get_connection" and node.args and isinstance(node.args[0], ast.Constant):
                    ids.add(node.args[0].value)
                ids |= {
                    kw.value.value for kw in node.keywords if kw.arg == "conn_id" and isinstance(kw.value, ast.Constant)
                }
    return ids


def _env_example_connections() -> dict[str, str]:
    """AIRFLOW_CONN_<ID> in .env.example → its conn_type (JSON form, or a URI's scheme as Airflow reads it)."""
    types = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        if match := re.match(r"AIRFLOW_CONN_([A-Z0-9_]+)=(.*)$", line):
            value = shlex.split(match.group(2))[0]
            if value.startswith("{"):
                conn_type = json.loads(value)["conn_type"]
            else:  # Airflow normalises the URI scheme: postgresql → postgres, '-' → '_'
                conn_type = value.split("://", 1)[0].replace("postgresql", "postgres").replace("-", "_")
            types[match.group(1).lower()] = conn_type
    return types


# -- pools -----------------------------------------------------------------------------------------
def test_the_pools_file_is_in_the_format_airflow_pools_import_reads() -> None:
    pools = declared_pools()
    assert pools
    for name, pool in pools.items():
        assert set(pool) == {"slots", "description", "include_deferred"}, name
        assert isinstance(pool["slots"], int) and pool["slots"] > 0, name
        assert isinstance(pool["include_deferred"], bool), name
        # Sized per system: the description says why.
        assert re.search(r"\d", pool["description"]) and len(pool["description"]) > 40, name


def test_airflow_itself_imports_the_pools_file(airflow_home: Path) -> None:
    from airflow.cli.commands.pool_command import pool_import_helper
    from airflow.models.pool import Pool

    imported, failed = pool_import_helper(str(POOLS_FILE))
    assert failed == [] and len(imported) == len(declared_pools())
    for name, pool in declared_pools().items():
        assert Pool.get_pool(name).slots == pool["slots"]


def test_every_pool_a_dag_uses_is_declared() -> None:
    used = _dag_pools()
    assert {"crm_api", "sap_api"} <= used.keys(), "the DAG files use these pools"
    undeclared = {pool: files for pool, files in used.items() if pool not in declared_pools()}
    assert not undeclared, f"used in dags/ but not in {POOLS_FILE.name}: {undeclared}"


def test_airflow_init_imports_that_very_pools_file_after_migrating(services: dict[str, Any]) -> None:
    script = _init_script(services)
    imports = re.findall(r"^\s*/entrypoint airflow pools import (\S+)\s*$", script, re.M)
    assert len(imports) == 1, f"airflow-init must import the pools file once, found {imports}"
    assert _in_image(imports[0]) == POOLS_FILE
    assert script.index("airflow db migrate") < script.index("airflow pools import")
    # The file reaches the image: the project is copied whole and config/ is not ignored.
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(rf"^COPY .* \. {IMAGE_PROJECT}/$", dockerfile, re.M)
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert not any(
        Path("config/airflow_pools.json").match(pattern) or pattern.startswith("config") for pattern in ignored
    )


def test_make_up_and_the_demo_import_that_very_pools_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(local_airflow, "_airflow", lambda args, env: calls.append(args))
    local_airflow.prepare(SANDBOX, tmp_path / "hub.sqlite", home=tmp_path / "home")
    assert ["pools", "import", str(POOLS_FILE)] in calls
    assert calls.index(["db", "migrate"]) < calls.index(["pools", "import", str(POOLS_FILE)])


# -- connections -----------------------------------------------------------------------------------
def test_compose_env_example_and_the_local_setup_cover_exactly_the_declared_connections(
    services: dict[str, Any], tmp_path: Path
) -> None:
    declared = declared_connections()
    for name, spec in services.items():
        if name.startswith("airflow-"):
            in_compose = {
                k.removeprefix("AIRFLOW_CONN_").lower() for k in spec["environment"] if k.startswith("AIRFLOW_CONN_")
            }
            assert in_compose == declared.keys(), name

    in_env_example = _env_example_connections()
    assert in_env_example == {conn_id: c["conn_type"] for conn_id, c in declared.items()}

    local = local_airflow.connections_for(SANDBOX, tmp_path / "hub.sqlite")
    assert {conn_id: c["conn_type"] for conn_id, c in local.items()} == {
        conn_id: c.get("sandbox_conn_type", c["conn_type"]) for conn_id, c in declared.items()
    }
    for conn_id, conn in local.items():
        assert conn["description"].startswith(declared[conn_id]["description"]), conn_id


def test_the_code_reads_only_declared_connections() -> None:
    used = _code_connections()
    assert {"crm_zoho", "crm_fxiaoke", "sap_s4", "smtp_default", "hub_db"} <= used
    assert used <= declared_connections().keys(), (
        f"not in {CONNECTIONS_FILE.name}: {sorted(used - declared_connections().keys())}"
    )
