"""The approval of inventory adjustments: Airflow's ApprovalOperator as declared in the DAG (dag.test()
cannot wait for a person, so the declaration and what its answers do are tested here), and the
decision recorded from the UI's answer, a timeout, or ``hub inventory approve``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from flows.inventory_reconciliation import Window, decide, record_ui_decision
from flows.inventory_reconciliation.posting import post_approved
from flows.inventory_reconciliation.reconciling import DecisionError
from hub.schema import reconciliations

DAY = date(2026, 12, 1)
WIN = Window(DAY, datetime(2026, 11, 30, 15, 30, tzinfo=UTC), datetime(2026, 12, 1, 15, 30, tzinfo=UTC))


@pytest.fixture(scope="module")
def dag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    from hub.settings import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "inventory_reconciliation.py"))
    assert bag.import_errors == {}
    return bag.get_dag("inventory_reconciliation")


def test_the_approval_task_is_airflows_approval_operator_and_rejects_on_timeout(dag) -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from hub.settings import get_settings

    approve = dag.get_task("approve")
    assert isinstance(approve, ApprovalOperator)
    assert approve.options == ["Approve", "Reject"] and approve.defaults == ["Reject"]
    assert approve.response_timeout == timedelta(hours=get_settings().inventory.approval_timeout_hours)
    assert "propose" in approve.body  # the request shows the proposal the propose task wrote
    # The subject names the business day the propose task settled on: a run triggered without a
    # logical date (the param day) has no data interval to render.
    assert "xcom_pull(task_ids='propose')['business_day']" in approve.subject
    # A Reject skips only its direct downstream ("approved"); the decision is recorded either way.
    assert approve.downstream_task_ids == {"approved"}
    record = dag.get_task("record_decision")
    assert record.trigger_rule == "none_failed_min_one_success"
    assert record.upstream_task_ids == {"approved", "ask"}
    assert dag.get_task("post").upstream_task_ids == {"record_decision"}


class _TaskInstance:
    """What execute_complete touches of the task instance: XCom, and the skip of the downstream tasks."""

    map_index = -1

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (  # a person rejects in Required Actions
            {
                "chosen_options": ["Reject"],
                "params_input": {},
                "responded_at": datetime(2026, 12, 2, 1, tzinfo=UTC),
                "responded_by_user": {"id": "7", "name": "ops.li"},
                "timedout": False,
            },
            ("rejected", "airflow:ops.li"),
        ),
        (  # nobody answers: Airflow's scheduler applies the default when the response timeout passes
            {
                "chosen_options": ["Reject"],
                "params_input": {},
                "responded_at": datetime(2026, 12, 3, 1, tzinfo=UTC),
                "responded_by_user": None,
                "timedout": True,
            },
            ("rejected", "timeout (no answer)"),
        ),
    ],
)
def test_a_reject_reaches_the_recorded_decision(dag, hub_db, event, expected) -> None:
    """Airflow's ApprovalOperator skips its downstream tasks on Reject before returning, so its answer
    never lands in XCom: the hub's operator keeps it under the key record_decision reads."""
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from plugins.approvals import ANSWER_KEY

    ti = _TaskInstance()
    approve = dag.get_task("approve")
    context = {"ti": ti, "task_instance": ti, "task": approve}
    with pytest.raises(DownstreamTasksSkipped):
        approve.execute_complete(context, event)
    answer = ti.pushed[ANSWER_KEY]
    assert answer["chosen_options"] == ["Reject"] and answer["timed_out"] is event["timedout"]
    _proposed(hub_db)
    assert record_ui_decision(hub_db, WIN, answer)["status"] == expected[0]
    assert _status(hub_db) == expected


def test_the_branch_asks_only_when_there_is_something_to_decide(dag, monkeypatch) -> None:
    from hub.settings import get_settings

    ask = dag.get_task("ask")
    call = ask.python_callable
    monkeypatch.setenv("HUB__INVENTORY__APPROVAL", "airflow_ui")
    get_settings.cache_clear()
    try:
        assert call({"needs_decision": True}) == "approve"
        assert call({"needs_decision": False}) == "record_decision"
        monkeypatch.setenv("HUB__INVENTORY__APPROVAL", "cli")
        get_settings.cache_clear()
        assert call({"needs_decision": True}) == "record_decision"
    finally:
        get_settings.cache_clear()


def _proposed(engine, status: str = "proposed") -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(reconciliations).values(
                business_day=DAY,
                status=status,
                book_taken_at=now,
                counts_from=WIN.counts_from,
                counts_to=WIN.counts_to,
                proposal={"lines": 0, "plants": {}},
                updated_at=now,
            )
        )


def _status(engine) -> tuple[str, str | None]:  # noqa: ANN001
    with engine.connect() as conn:
        row = conn.execute(select(reconciliations)).one()
    return row.status, row.decided_by


def test_an_answer_in_the_ui_is_recorded_with_who_gave_it(hub_db) -> None:
    _proposed(hub_db)
    answer = {"chosen_options": ["Approve"], "responded_by_user": {"id": "7", "name": "ops.li"}}
    assert record_ui_decision(hub_db, WIN, answer)["status"] == "approved"
    assert _status(hub_db) == ("approved", "airflow:ops.li")


def test_a_timeout_rejects_and_nothing_is_posted(hub_db) -> None:
    _proposed(hub_db)
    # What Airflow's scheduler resumes the task with when the response timeout passes: the defaults.
    answer = {"chosen_options": ["Reject"], "responded_by_user": None}
    assert record_ui_decision(hub_db, WIN, answer)["status"] == "rejected"
    assert _status(hub_db) == ("rejected", "timeout (no answer)")

    class NoSap:
        def __getattr__(self, name):  # any call to SAP would be a defect
            raise AssertionError(f"SAP called: {name}")

    assert post_approved(hub_db, NoSap(), None, "run", DAY) == {"status": "rejected", "documents": 0, "lines": 0}


def test_no_request_made_leaves_the_decision_alone(hub_db) -> None:
    _proposed(hub_db)
    assert record_ui_decision(hub_db, WIN, None) == {"decided": None}
    assert _status(hub_db) == ("proposed", None)


def test_a_decision_is_made_once(hub_db) -> None:
    _proposed(hub_db)
    decide(hub_db, DAY, True, "cli:ops")
    with pytest.raises(DecisionError, match="approved, not waiting"):
        decide(hub_db, DAY, False, "cli:other")
    with pytest.raises(DecisionError, match="no reconciliation"):
        decide(hub_db, DAY + timedelta(days=1), True, "cli:ops")


def test_an_answer_in_the_ui_after_a_cli_decision_leaves_that_decision(hub_db) -> None:
    _proposed(hub_db)
    decide(hub_db, DAY, True, "cli:ops")
    got = record_ui_decision(hub_db, WIN, {"chosen_options": ["Reject"], "responded_by_user": {"name": "ops.li"}})
    assert got["decided"] is None and "not waiting for a decision" in got["not_applied"]
    assert _status(hub_db) == ("approved", "cli:ops")
