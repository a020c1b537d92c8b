"""The session's Airflow home is isolated, configured before Airflow is imported, and migrated."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from devtools.testrun import PROJECT_ROOT

# Read while pytest imports this module, i.e. when any test module could `import airflow`.
AIRFLOW_HOME_AT_COLLECTION = os.environ.get("AIRFLOW_HOME")


def test_airflow_environment_is_isolated(airflow_home: Path) -> None:
    assert AIRFLOW_HOME_AT_COLLECTION == os.environ["AIRFLOW_HOME"] == str(airflow_home)
    assert airflow_home.name.startswith("hub-airflow-home-")
    assert airflow_home != Path.home() / "airflow"
    assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] == "True"


def test_airflow_configuration_sees_the_test_settings(airflow_home: Path) -> None:
    from airflow.configuration import conf

    assert conf.get("core", "dags_folder") == str(PROJECT_ROOT / "dags")
    assert conf.getboolean("core", "load_examples") is False
    assert conf.getboolean("core", "unit_test_mode") is True
    assert conf.get("database", "sql_alchemy_conn") == f"sqlite:///{airflow_home / 'airflow.db'}"
    # Airflow 3's production default, not unit-test mode's.
    assert conf.getboolean("scheduler", "create_cron_data_intervals") is False


def test_airflow_metadata_database_is_migrated(airflow_home: Path) -> None:
    with sqlite3.connect(airflow_home / "airflow.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"dag", "dag_run", "task_instance", "connection", "alembic_version"} <= tables
    assert revision is not None
