"""The settlement deadline as declared on the DAG (``dag.test()`` never reaches a deadline, so the
declaration and its callback are tested directly): Airflow's DeadlineAlert 30 hours after the run's
logical date (the business day closes 24 h after it, finance expects the file 6 h later), and the
callback stores and sends a ``settlement_deadline`` alert once per run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.schema import alerts


@pytest.fixture(scope="module")
def dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    from hub.settings import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "finance_settlement.py"))
    assert bag.import_errors == {}
    return bag.get_dag("finance_settlement")


def test_the_deadline_is_declared_on_the_logical_date(dag) -> None:
    from airflow.sdk import DeadlineReference

    from hub.settings import get_settings

    deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    (alert,) = deadlines
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == timedelta(hours=24 + get_settings().settlement.deadline_hours)
    assert alert.callback.path == "flows.finance_settlement.deadline.deadline_missed"


def test_the_callback_raises_one_alert_per_run(hub_db, monkeypatch) -> None:
    from flows.finance_settlement.deadline import deadline_missed
    from hub.settings import get_settings

    monkeypatch.setenv("HUB_DATABASE_URL", hub_db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    context = {"dag_run": {"run_id": "scheduled__2026-12-01T18:00:00+00:00"}}
    asyncio.run(deadline_missed(context=context))
    asyncio.run(deadline_missed(context=context))  # Airflow may call it again: told once
    with hub_db.connect() as conn:
        rows = conn.execute(select(alerts).where(alerts.c.kind == "settlement_deadline")).all()
    assert len(rows) == 1
    assert rows[0].severity == "critical" and "missed its deadline" in rows[0].title
    assert rows[0].facts["run_id"] == "scheduled__2026-12-01T18:00:00+00:00"
