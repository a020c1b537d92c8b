"""Shared fixtures: real databases (SQLite and PostgreSQL), the sandbox, an isolated Airflow home.

PostgreSQL is required, never skipped: ``make test`` provides it through
``$HUB_TEST_DATABASE_URL`` (see ``devtools/testrun.py``), and plain ``pytest`` starts an embedded one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devtools.testrun import (
    ENV_VAR,
    PROJECT_ROOT,
    fresh_database,
    process_alive,
    server_version,
    start_embedded_postgres,
)

pytest_plugins = ["pytester"]  # tests/infra runs small pytest sessions to check the fixtures

# Property tests draw the same examples on every run, so CI's verdict is the code's, not the dice's.
# To hunt for new failures: HYPOTHESIS_PROFILE=hunt (random examples, ten times as many).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True)
_hypothesis_settings.register_profile("hunt", derandomize=False, max_examples=1000)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------------------------------------------
# Airflow isolation. Airflow reads its configuration once, on first import, so the environment is set
# here, when pytest imports this file, before any test module can import airflow. No test may touch
# a developer's ~/airflow or a real metadata database.
# ---------------------------------------------------------------------------------------------------


def _airflow_test_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # Unit-test mode turns these on; keep Airflow 3's defaults so tests see what production does
        # (cron schedules without data intervals unless a DAG asks for CronDataIntervalTimetable).
        "AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS": "False",
        "AIRFLOW__SCHEDULER__CREATE_DELTA_DATA_INTERVALS": "False",
    }


def _new_airflow_home() -> Path:
    # Named after this process, so that the homes of killed sessions are found and removed here.
    prefix = "hub-airflow-home-"
    for old in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = old.name.removeprefix(prefix).split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


_AIRFLOW_HOME = _new_airflow_home()
os.environ.update(_airflow_test_env(_AIRFLOW_HOME))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME with its SQLite metadata database migrated (``airflow db migrate``).

    Run in a subprocess: the CLI is the supported path, and the test process keeps no engine or
    half-initialised settings from it. About 5 s, paid once and only by sessions that need it.
    """
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **_airflow_test_env(_AIRFLOW_HOME)},
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"airflow db migrate failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return _AIRFLOW_HOME


# ---------------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of the session's PostgreSQL server (its maintenance database; a superuser or a
    role with CREATEDB). From ``$HUB_TEST_DATABASE_URL``, else an embedded server for this session."""
    if url := os.environ.get(ENV_VAR):
        server_version(url)  # fail here, clearly, if it does not accept connections
        yield url
        return
    url, stop = start_embedded_postgres()
    # Subprocesses started by tests (CLI, Airflow) find the same server.
    os.environ[ENV_VAR] = url
    try:
        yield url
    finally:
        os.environ.pop(ENV_VAR, None)
        stop()


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A brand-new empty PostgreSQL database for this test (``hub_test_<uuid>``), dropped afterwards."""
    with fresh_database(pg_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new SQLite database file for this test (created on first connect)."""
    return f"sqlite:///{tmp_path / 'hub.sqlite'}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh empty database URL of each supported kind: a test using it runs once per backend."""
    # getfixturevalue: the SQLite run must not start PostgreSQL.
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "fresh_pg_url")


@contextmanager
def _migrated(url: str) -> Iterator[Any]:
    from hub.db import make_engine, upgrade

    upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def hub_db(db_url: str) -> Iterator[Any]:
    """An Engine on a fresh hub database migrated to head, once on SQLite and once on PostgreSQL."""
    with _migrated(db_url) as engine:
        yield engine


@pytest.fixture
def pg_hub_db(fresh_pg_url: str) -> Iterator[Any]:
    """An Engine on a fresh hub database migrated to head, PostgreSQL only (COPY, SKIP LOCKED…)."""
    with _migrated(fresh_pg_url) as engine:
        yield engine


# ---------------------------------------------------------------------------------------------------
# Sandbox
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox() -> Iterator[dict[str, Any]]:
    """The sandbox servers with the default seed, once per session: ``base_url``, ``control_url``,
    ``systems``."""
    from sandbox.testing import running_sandbox

    with running_sandbox() as info:
        yield info


def _reset_faults(control_url: str) -> None:
    if not control_url.startswith(("http://", "https://")):
        raise ValueError(f"sandbox control_url is not an HTTP URL: {control_url!r}")
    request = urllib.request.Request(f"{control_url.rstrip('/')}/faults", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - checked just above
        if not 200 <= response.status < 300:
            raise RuntimeError(f"resetting sandbox faults failed: HTTP {response.status}")


@pytest.fixture
def sandbox_faults(sandbox: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The sandbox, for a test that injects faults: they are cleared before and after it, so a
    fault never leaks into another test."""
    _reset_faults(sandbox["control_url"])
    yield sandbox
    _reset_faults(sandbox["control_url"])
