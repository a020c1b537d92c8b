"""The approval of replenishment proposals: Airflow's ApprovalOperator as declared in the DAG (dag.test()
cannot wait for a person), and the decision recorded from the UI's answer, a timeout, or
``hub planning approve``; nothing reaches SAP without an approval."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from flows.replenishment_planning import decide, record_ui_decision
from flows.replenishment_planning.proposals import PlanningError
from flows.replenishment_planning.requisitions import request_approved
from hub.schema import planning_runs
from hub.settings import load_settings

WEEK = date(2026, 12, 7)


@pytest.fixture(scope="module")
def dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    from hub.settings import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "replenishment_planning.py"))
    assert bag.import_errors == {}
    return bag.get_dag("replenishment_planning")


def test_the_approval_task_is_airflows_approval_operator_and_rejects_on_timeout(dag) -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from hub.settings import get_settings

    approve = dag.get_task("approve")
    assert isinstance(approve, ApprovalOperator)
    assert approve.options == ["Approve", "Reject"] and approve.defaults == ["Reject"]
    assert approve.response_timeout == timedelta(hours=get_settings().planning.approval_timeout_hours)
    assert "xcom_pull(task_ids='propose')['request']" in approve.body
    assert "xcom_pull(task_ids='propose')['planning_week']" in approve.subject
    assert approve.downstream_task_ids == {"approved"}
    record = dag.get_task("record_decision")
    assert record.trigger_rule == "none_failed_min_one_success"
    assert record.upstream_task_ids == {"approved", "ask"}
    assert dag.get_task("request").upstream_task_ids == {"record_decision"}
    # the reminders do not wait for purchasing's decision
    assert dag.get_task("remind").upstream_task_ids == {"store"}


def test_the_forecast_runs_in_the_forecasting_environment(dag) -> None:
    from flows.replenishment_planning.forecast_env import forecast_python

    forecast = dag.get_task("forecast")
    assert type(forecast).__name__ == "_PythonExternalDecoratedOperator"
    assert forecast.python == forecast_python() and forecast.expect_airflow is False


def test_the_branch_asks_only_when_there_is_something_to_decide(dag, monkeypatch) -> None:
    from hub.settings import get_settings

    call = dag.get_task("ask").python_callable
    monkeypatch.setenv("HUB__PLANNING__APPROVAL", "airflow_ui")
    get_settings.cache_clear()
    try:
        assert call({"needs_decision": True}) == "approve"
        assert call({"needs_decision": False}) == "record_decision"
        monkeypatch.setenv("HUB__PLANNING__APPROVAL", "cli")
        get_settings.cache_clear()
        assert call({"needs_decision": True}) == "record_decision"
    finally:
        get_settings.cache_clear()


def _proposed(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(
            insert(planning_runs).values(
                planning_week=WEEK, status="proposed", bucket="month", history_to=date(2026, 12, 1),
                updated_at=datetime.now(UTC),
            )
        )  # fmt: skip


def _status(engine) -> tuple[str, str | None]:  # noqa: ANN001
    with engine.connect() as conn:
        row = conn.execute(select(planning_runs)).one()
    return row.status, row.decided_by


BUYER = {"id": "7", "name": "buyer.wang"}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"chosen_options": ["Approve"], "responded_by_user": BUYER}, ("approved", "airflow:buyer.wang")),
        ({"chosen_options": ["Reject"], "responded_by_user": BUYER}, ("rejected", "airflow:buyer.wang")),
        (
            {"chosen_options": ["Reject"], "responded_by_user": None, "timed_out": True},
            ("rejected", "timeout (no answer)"),
        ),
    ],
)
def test_an_answer_in_the_ui_is_recorded_with_who_gave_it(hub_db, answer, expected) -> None:
    _proposed(hub_db)
    assert record_ui_decision(hub_db, WEEK, answer)["status"] == expected[0]
    assert _status(hub_db) == expected


def test_a_rejected_or_undecided_week_requests_nothing(hub_db) -> None:
    class NoSap:
        def __getattr__(self, name):  # any call to SAP would be a defect
            raise AssertionError(f"SAP called: {name}")

    settings = load_settings(environ={})
    _proposed(hub_db)
    assert record_ui_decision(hub_db, WEEK, None) == {"decided": None}
    assert request_approved(hub_db, NoSap(), None, "run", WEEK, settings)["status"] == "proposed"
    decide(hub_db, WEEK, False, "cli:buyer")
    assert request_approved(hub_db, NoSap(), None, "run", WEEK, settings)["status"] == "rejected"


def test_a_decision_is_made_once(hub_db) -> None:
    _proposed(hub_db)
    decide(hub_db, WEEK, True, "cli:buyer")
    assert decide(hub_db, WEEK, True, "cli:other")["decided_by"] == "cli:buyer"  # the same answer: kept
    with pytest.raises(PlanningError, match="approved .by cli:buyer., not waiting"):
        decide(hub_db, WEEK, False, "cli:other")
    with pytest.raises(PlanningError, match="not planned"):
        decide(hub_db, WEEK + timedelta(days=7), True, "cli:buyer")


def test_an_answer_in_the_ui_after_a_cli_decision_leaves_that_decision(hub_db) -> None:
    """The request stayed open in the UI while someone decided with `hub planning`: the UI's later
    answer is logged and not applied, and the task does not fail."""
    _proposed(hub_db)
    decide(hub_db, WEEK, True, "cli:buyer")
    got = record_ui_decision(hub_db, WEEK, {"chosen_options": ["Reject"], "responded_by_user": BUYER})
    assert got["decided"] is None and "not waiting for a decision" in got["not_applied"]
    assert _status(hub_db) == ("approved", "cli:buyer")
