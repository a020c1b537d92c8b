"""What a person answered to an approval request in the Airflow UI (plugins/approvals.py keeps the
answer in XCom), as the flows record it."""

from __future__ import annotations

from typing import Any

UI_NOTE = "Required Actions in the Airflow UI"


def answered(answer: dict[str, Any] | None) -> tuple[bool, str] | None:
    """``(approved, who)`` of an approval task's answer; None when no request was made. An answer
    nobody gave (the response timeout applied the default, Reject) is ``timeout (no answer)``."""
    if not answer:
        return None
    chosen = (answer.get("chosen_options") or ["Reject"])[0]
    user = answer.get("responded_by_user") or {}
    timed_out = answer.get("timed_out") or not user
    return chosen == "Approve", "timeout (no answer)" if timed_out else f"airflow:{user.get('name') or user.get('id')}"
