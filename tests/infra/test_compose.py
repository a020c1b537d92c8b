"""docker-compose.yaml, Dockerfile and .env.example, checked by structure (no Docker engine here)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from devtools.local_airflow import declared_connections
from devtools.testrun import PROJECT_ROOT

AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
]
LONG_RUNNING = [name for name in AIRFLOW_SERVICES if name != "airflow-init"]
CONNECTIONS = list(declared_connections())  # config/airflow_connections.json
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY")
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; `$${...}` is an escape.
COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])[^}]*)?\}")
ONLY_A_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (PROJECT_ROOT / "docker-compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env_example() -> dict[str, str]:
    values = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=value: {line!r}"
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def _environments(services: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (service, key, str(value))
        for service, spec in services.items()
        for key, value in (spec.get("environment") or {}).items()
    ]


def test_every_service_of_the_stack_exists(services: dict[str, Any]) -> None:
    assert set(services) >= {"postgres", "redis", "sandbox", *AIRFLOW_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:")


def test_airflow_services_share_one_image_executor_and_jwt_secret(services: dict[str, Any]) -> None:
    first = services[AIRFLOW_SERVICES[0]]
    for name in AIRFLOW_SERVICES:
        spec, env = services[name], services[name]["environment"]
        assert spec["build"] == ".", name
        assert spec["image"] == first["image"], name
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "${AIRFLOW__API_AUTH__JWT_SECRET}", name
        assert env["AIRFLOW__API_AUTH__JWT_ISSUER"] == "${AIRFLOW__API_AUTH__JWT_ISSUER}", name
        assert env["AIRFLOW__CORE__FERNET_KEY"] == "${AIRFLOW__CORE__FERNET_KEY}", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false", name
        assert env["PYTHONPATH"] == "/opt/airflow/project", name
        assert re.fullmatch(r"postgresql\+psycopg://[^@]+@postgres:5432/hub", env["HUB_DATABASE_URL"]), name
        for conn_id in CONNECTIONS:
            assert f"AIRFLOW_CONN_{conn_id.upper()}" in env, (name, conn_id)


def test_airflow_services_mount_dags_plugins_logs_and_output(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        targets = {volume.split(":")[1] for volume in services[name]["volumes"]}
        assert targets >= {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/logs", "/opt/airflow/output"}


def test_commands_of_each_component(services: dict[str, Any]) -> None:
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-worker"]["command"] == "celery worker"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    script = "\n".join(services["airflow-init"]["command"])
    assert "pipefail" in script
    assert script.index("airflow db migrate") < script.index("hub db upgrade")


def test_no_literal_secret_in_the_compose_file(services: dict[str, Any]) -> None:
    for service, key, value in _environments(services):
        if SECRET_NAME.search(key) and not key.endswith("_FILE"):
            assert ONLY_A_REFERENCE.fullmatch(value), f"{service}: {key} must come from .env, not {value!r}"
        if key.startswith("AIRFLOW_CONN_"):
            assert ONLY_A_REFERENCE.fullmatch(value), f"{service}: {key} carries credentials: take it from .env"
        # Passwords inside URLs (database, broker) are references too.
        for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", value):
            assert ONLY_A_REFERENCE.fullmatch(password), f"{service}: {key} embeds a literal password"


def test_the_check_for_literal_secrets_can_fail() -> None:
    leaky = {"svc": {"environment": {"SOME_PASSWORD": "hunter2", "URL": "redis://:hunter2@redis:6379/0"}}}
    with pytest.raises(AssertionError):
        test_no_literal_secret_in_the_compose_file(leaky)


def test_healthchecks_and_start_order(services: dict[str, Any]) -> None:
    for name in ["postgres", "redis", "sandbox", *LONG_RUNNING]:
        assert services[name]["healthcheck"]["test"], name
    assert "/api/v2/version" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name in LONG_RUNNING:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_sandbox_runs_under_its_own_profile(services: dict[str, Any]) -> None:
    sandbox = services["sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert " ".join(sandbox["command"]) == "hub sandbox up --port 8900 --smtp-port 2525 --sftp-port 2222 --host 0.0.0.0"
    assert all("profiles" not in services[name] for name in ["postgres", "redis", *AIRFLOW_SERVICES])


def test_postgres_creates_the_separate_hub_database(compose: dict[str, Any]) -> None:
    mounted = {config["source"] for config in compose["services"]["postgres"]["configs"]}
    scripts = "\n".join(compose["configs"][name]["content"] for name in mounted)
    assert "CREATE DATABASE hub" in scripts


def test_env_example_defines_every_variable_the_compose_file_needs(compose_text: str) -> None:
    defined = _env_example()
    used = {match.group(1): match.group(2) for match in COMPOSE_VAR.finditer(compose_text)}
    required = {name for name, operator in used.items() if operator is None or "?" in operator}
    assert required, "the compose file should take its secrets from .env"
    assert required <= defined.keys(), f"missing from .env.example: {sorted(required - defined.keys())}"
    # Variables with a default are documented there too.
    assert set(used) <= defined.keys(), f"undocumented: {sorted(set(used) - defined.keys())}"


def test_env_example_has_safe_placeholders_and_comments() -> None:
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    for number, line in enumerate(lines):
        if not line.strip() or line.startswith("#"):
            continue
        above = next(prev for prev in reversed(lines[:number]) if not re.match(r"[A-Z_]+=", prev))
        assert above.startswith("#"), f"no comment above {line.split('=')[0]}"
    for key, value in _env_example().items():
        if SECRET_NAME.search(key) and key != "AIRFLOW__API_AUTH__JWT_ISSUER":
            assert "change-me" in value, f"{key} must hold a placeholder"
        if key.startswith("AIRFLOW_CONN_") and value.startswith("{"):
            conn = json.loads(value)
            assert conn["conn_type"], key
            assert "password" not in conn or "change-me" in conn["password"], key
        elif key.startswith("AIRFLOW_CONN_"):
            for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", value):
                assert ONLY_A_REFERENCE.fullmatch(password), f"{key} must take its password from a variable"


def test_dockerfile_pins_airflow_and_installs_with_the_constraints() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.replace("\\\n", " ").splitlines() if line.strip()]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM apache/airflow:3.3.2-python3.11"]
    pinned = re.search(r"^apache-airflow==(\S+)$", (PROJECT_ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == "3.3.2", "image and requirements.txt must name the same Airflow"
    installs = [line for line in lines if line.startswith("RUN pip install")]
    assert any(
        "--no-cache-dir" in line and "requirements.txt" in line and "-c /opt/airflow/project/constraints.txt" in line
        for line in installs
    ), installs
    assert any("--no-deps -e /opt/airflow/project" in line for line in installs), installs
    assert any(line.startswith("COPY") and line.endswith("/opt/airflow/project/") for line in lines)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = set((PROJECT_ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git", "output"} <= ignored


def test_receiver_service_serves_the_qimen_callback(services: dict[str, Any]) -> None:
    receiver = services["receiver"]
    assert "profiles" not in receiver, "the receiver is part of the production stack"
    assert receiver["image"] == services["airflow-apiserver"]["image"]
    assert " ".join(receiver["command"]) == "hub receiver --host 0.0.0.0 --port 8090"
    assert any(str(port).endswith(":8090") for port in receiver["ports"])
    env = receiver["environment"]
    assert env["AIRFLOW_CONN_LOGISTICS_3PL"] == "${AIRFLOW_CONN_LOGISTICS_3PL}", "the Qimen secret comes from .env"
    assert re.fullmatch(r"postgresql\+psycopg://[^@]+@postgres:5432/hub", env["HUB_DATABASE_URL"])
    assert env["HUB_RECEIVER_AIRFLOW_URL"] == "http://airflow-apiserver:8080"
    assert ONLY_A_REFERENCE.fullmatch(env["HUB_RECEIVER_AIRFLOW_PASSWORD"])
    assert "/health" in " ".join(receiver["healthcheck"]["test"])
    assert receiver["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The inbox table is created by `hub db upgrade` in airflow-init.
    assert receiver["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_the_image_has_the_forecasting_environment_the_planning_dag_runs_in() -> None:
    """replenishment_planning's forecast task runs in a second virtualenv (statsforecast needs pandas < 3):
    the image builds it from the pinned files and tells the hub where its interpreter is."""
    from flows.replenishment_planning.forecast_env import ENV_VAR

    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.replace("\\\n", " ").splitlines() if line.strip()]
    venv = next(line for line in lines if "-m venv" in line)
    assert "requirements-forecast.txt" in venv and "-c /opt/airflow/project/constraints-forecast.txt" in venv
    python = next(line for line in lines if line.startswith(f"ENV {ENV_VAR}="))
    assert python.split("=", 1)[1] == venv.split("-m venv ")[1].split()[0] + "/bin/python"
    assert ".venv-forecast" in set((PROJECT_ROOT / ".dockerignore").read_text().split())
