"""What the end-to-end tests share: deploying the hub against a sandbox, and one ``dag.test()`` run.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Runs share access tokens through the hub's token cache, as in production (vendor token limits).
TOKEN_CACHE_KEY = "f1_uDcSrBhZlTMhQOZcJ9xc5y9u8_LU3s7Q5fR0bQZc="


def deploy(sandbox: dict[str, Any], seed: Any, hub_db: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """Connections to the sandbox, the test's hub database and the ERP extract, as a deployment has."""
    from devtools.local_airflow import connections_for
    from hub.settings import get_settings
    from sandbox.erp_extract import write_extract

    for conn_id, conn in connections_for(sandbox, tmp_path / "unused.sqlite").items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    monkeypatch.setenv("HUB_DATABASE_URL", hub_db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("HUB_TOKEN_CACHE_KEY", TOKEN_CACHE_KEY)
    monkeypatch.setenv("HUB__MASTERDATA__EXTRACT_DIR", str(write_extract(seed, tmp_path / "extract")))
    get_settings.cache_clear()


_runs = iter(range(10**6))


def run_dag(
    dag_id: str, conf: dict[str, Any] | None = None, at: datetime | None = None, skipped: tuple[str, ...] = ()
) -> Any:
    """``dag.test()`` one run; each gets its own logical date (they are unique per DAG), ``at`` plus a
    few seconds when the flow reads its business day from it. ``skipped``: the tasks a branch skips."""
    from airflow.dag_processing.dagbag import DagBag

    from hub.settings import PROJECT_ROOT

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{dag_id}.py")).get_dag(dag_id)
    for task in dag.tasks:  # a failing task fails the test now, not after minutes of retry delays
        task.retries = 0
    without_deadline(dag)
    # After the DAGs' start_date, or dag.test() finds no task to run.
    n = next(_runs)
    logical = at + timedelta(seconds=n) if at else datetime(2026, 11, 20, tzinfo=UTC) + timedelta(minutes=n)
    run = dag.test(logical_date=logical, run_conf=conf or {})
    states = [(ti.task_id, str(ti.state)) for ti in run.get_task_instances()]
    assert str(run.state) == "success", states
    expected = {task: "skipped" for task in skipped}
    # every task really ran, except those the run's branch skips
    assert states and all(state == expected.get(task, "success") for task, state in states), states
    return run


def without_deadline(dag: Any) -> None:
    """dag.test() cannot finish a run of a DAG with a DeadlineAlert: it looks the alert up by the id
    only the DAG processor stores (Airflow 3.3.2). The deadline is tested by its declaration and
    callback (tests/dags/test_finance_deadline.py)."""
    dag.deadline = None


def task_result(run: Any, task_id: str) -> Any:
    """The return value (XCom) of one task of a finished run."""
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id)


def sync(now: datetime, start: datetime | None = None, **conf: Any) -> Any:
    start = start or now - timedelta(days=42)
    return run_dag("crm_order_sync", {"window_start": start.isoformat(), "window_end": now.isoformat(), **conf})
