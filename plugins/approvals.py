"""Airflow's ApprovalOperator, keeping its answer where the next task can read it.

On Reject (a person's, or the default a timeout applies) Airflow's operator skips its downstream
tasks by raising before it returns, so its answer never reaches XCom and a task reading
``xcom_pull(task_ids=...)`` sees nothing. This subclass pushes the answer (chosen options, who,
when, timed out or not) under the XCom key ``answer`` first; everything else is Airflow's.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

ANSWER_KEY = "answer"


class RecordedApprovalOperator(ApprovalOperator):
    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" not in event:
            responded_at = event.get("responded_at")
            context["ti"].xcom_push(
                key=ANSWER_KEY,
                value={
                    "chosen_options": list(event.get("chosen_options") or []),
                    "responded_by_user": event.get("responded_by_user"),
                    "responded_at": responded_at.isoformat() if hasattr(responded_at, "isoformat") else responded_at,
                    "timed_out": bool(event.get("timedout")),
                },
            )
        return super().execute_complete(context, event)
