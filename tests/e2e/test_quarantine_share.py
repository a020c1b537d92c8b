"""crm_order_sync's quarantine share with ``dag.test()`` (issue 13): a run that quarantines a CRM's
orders wholesale (here: the ERP master data was never imported, as in the first ``make up``) fails
with an operator message and an alert; the seeded book's usual share of bad orders only alerts; a
quiet interval with a few bad orders neither fails nor alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dagruns import deploy, run_dag, sync
from sqlalchemy import select

from hub.schema import alerts

SEED, ORDERS = 11, 120  # 69 Zoho and 60 Fxiaoke orders (with the regular buyers'): both above gates.min_rows_for_rate

pytestmark = [pytest.mark.dagtest, pytest.mark.sandbox]
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def hub_env(crm_sandbox, seed, hub_db, tmp_path, monkeypatch, airflow_home):
    from hub.settings import get_settings

    deploy(crm_sandbox, seed, hub_db, tmp_path, monkeypatch)
    yield hub_db
    get_settings.cache_clear()


def share_alerts(engine) -> list[Any]:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(alerts).where(alerts.c.kind == "quarantine_share").order_by(alerts.c.id)).all()


def failing_sync(now: datetime) -> Any:
    """One crm_order_sync run over the seeded history, expected to fail; returns the run."""
    from airflow.dag_processing.dagbag import DagBag

    from hub.settings import PROJECT_ROOT

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "crm_order_sync.py")).get_dag("crm_order_sync")
    for task in dag.tasks:
        task.retries = 0
    conf = {"window_start": (now - timedelta(days=42)).isoformat(), "window_end": now.isoformat()}
    return dag.test(logical_date=datetime(2026, 11, 21, tzinfo=UTC), run_conf=conf)


@SQLITE_ONLY
def test_a_run_that_quarantines_everything_fails_with_an_operator_message(crm_sandbox, hub_env):
    now = datetime.fromisoformat(crm_sandbox["now"])
    run = failing_sync(now)  # no master_data_sync: no customer is known

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "failed"
    assert states["publish"] == "success"  # what was accepted still goes on to SAP posting
    assert states["quarantine_share"] == "failed"
    recorded = share_alerts(hub_env)
    # The operator's sentence is the alert's first line; the numbers and what to do follow it.
    firsts = [a.message.splitlines()[0] for a in recorded]
    assert sorted(f.split(":")[0] for f in firsts) == ["fxiaoke", "zoho_crm"]
    zoho = next(f for f in firsts if f.startswith("zoho_crm"))
    assert zoho.startswith("zoho_crm: 69 of 69 orders quarantined (100 %, limit 50 %): most common reason ")
    assert "order_review · BusinessRule(customer_number)" in zoho, zoho  # the cause, with an example
    assert zoho.endswith("; see hub quarantine list --source zoho_crm")
    assert all(a.run_id == run.run_id and a.task_id == "quarantine_share" for a in recorded)


@SQLITE_ONLY
def test_the_seeded_share_of_bad_orders_alerts_but_does_not_fail(crm_sandbox, seed, hub_env):
    now = datetime.fromisoformat(crm_sandbox["now"])
    run_dag("master_data_sync")
    sync(now)  # asserts the run and every task succeeded

    recorded = share_alerts(hub_env)
    # One order of each defect kind per CRM: 10 of 69 and 10 of 60 (the random orders and the regular
    # buyers' clean ones), above alerts.quarantine_rate_pct.
    assert sorted(a.message.split(" (")[0] for a in recorded) == [
        "fxiaoke: 10 of 60 orders quarantined",
        "zoho_crm: 10 of 69 orders quarantined",
    ]
    assert all("limit 5 %" in a.message for a in recorded)


@SQLITE_ONLY
def test_a_few_bad_orders_in_a_quiet_interval_neither_fail_nor_alert(crm_sandbox, seed, hub_env):
    now = datetime.fromisoformat(crm_sandbox["now"])
    start = now - timedelta(days=4)
    assert 0 < sum(1 for o in seed.orders if start <= o.modified_time < now) < 50
    sync(now, start)  # no master data: every order of the interval is quarantined, and the run is green
    assert share_alerts(hub_env) == []
