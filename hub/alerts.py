"""The alert history: what the failure notifier and the threshold checks raised, for operations and
the ops report. Sending alerts to people is ``flows.alerting``'s job."""

from __future__ import annotations

from sqlalchemy import Engine, insert

from hub.db import utcnow
from hub.schema import alerts


def record(
    engine: Engine, kind: str, dag_id: str | None, run_id: str | None, task_id: str | None, message: str
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(alerts).values(
                kind=kind, dag_id=dag_id, run_id=run_id, task_id=task_id, message=message[:4000], created_at=utcnow()
            )
        )
