"""``make up`` (devtools/devserver.py): the environment it gives Airflow, and how it keeps the hub
database in step with the fresh sandbox. The live trial itself is measured by hand (README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import devserver


@pytest.mark.parametrize(("cpus", "slots"), [(None, 2), (1, 2), (2, 4), (4, 8), (64, 16)])
def test_the_executor_is_sized_to_the_machine(cpus, slots):
    env = devserver.up_env(Path("/x"), cpus=cpus, host="127.0.0.1")
    assert env["AIRFLOW__CORE__PARALLELISM"] == str(slots)
    assert env["AIRFLOW__API__WORKERS"] == "1"


def test_the_trial_listens_on_loopback_unless_told_otherwise():
    assert devserver.api_host({}) == "127.0.0.1"
    assert devserver.api_host({"HUB_UP_HOST": " "}) == "127.0.0.1"
    assert devserver.api_host({"HUB_UP_HOST": "0.0.0.0"}) == "0.0.0.0"  # noqa: S104
    env = devserver.up_env(Path("/x"), cpus=2, host=devserver.api_host({}))
    assert (env["AIRFLOW__API__HOST"], env["AIRFLOW__API__PORT"]) == ("127.0.0.1", "8080")
    # The receiver calls Airflow's API from this machine: a wildcard address is not one to call.
    assert devserver.local_url("0.0.0.0") == "http://127.0.0.1:8080"  # noqa: S104
    assert devserver.local_url("10.1.2.3") == "http://10.1.2.3:8080"


def test_dags_start_unpaused_and_tasks_read_the_sandbox_extract(tmp_path):
    env = devserver.up_env(tmp_path / "masterdata", cpus=2, host="127.0.0.1")
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["HUB__MASTERDATA__EXTRACT_DIR"] == str(tmp_path / "masterdata")
    # the steps tell operators what they did at INFO, in each task's log
    assert env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "INFO"


def test_every_airflow_setting_it_sets_exists(airflow_home):
    from airflow.configuration import conf

    for name in devserver.up_env(Path("/x"), cpus=2, host="127.0.0.1"):
        if name.startswith("AIRFLOW__"):
            section, key = name.removeprefix("AIRFLOW__").lower().split("__")
            assert conf.has_option(section, key), name


def test_live_orders_default_on_and_can_be_turned_off():
    assert devserver.live_orders_every({}) == devserver.LIVE_ORDERS_EVERY == 180
    assert devserver.live_orders_every({"HUB_UP_LIVE_ORDERS_EVERY": "0"}) == 0
    assert devserver.live_orders_every({"HUB_UP_LIVE_ORDERS_EVERY": "30"}) == 30
    for bad in ("soon", "-5"):
        with pytest.raises(SystemExit, match="HUB_UP_LIVE_ORDERS_EVERY"):
            devserver.live_orders_every({"HUB_UP_LIVE_ORDERS_EVERY": bad})


def test_a_kept_hub_database_is_set_aside_not_reused(tmp_path):
    db = tmp_path / "hub.sqlite"
    assert devserver.set_aside(db) is None  # nothing to keep
    db.write_text("demo")
    Path(f"{db}-wal").write_text("demo wal")
    (tmp_path / "hub.previous.sqlite").write_text("older")
    Path(tmp_path / "hub.previous.sqlite-shm").write_text("older shm")

    previous = devserver.set_aside(db)

    assert previous == tmp_path / "hub.previous.sqlite"
    assert previous.read_text() == "demo" and Path(f"{previous}-wal").read_text() == "demo wal"
    assert not Path(f"{previous}-shm").exists()  # the older file's side files go with it
    assert not db.exists() and not Path(f"{db}-wal").exists()
