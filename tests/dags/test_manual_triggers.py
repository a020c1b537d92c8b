"""A run triggered without a logical date (Airflow 3's REST default, or the date cleared in the trigger
form) has no data interval: the DAGs that read their business day from it fall back to the run's time."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from types import ModuleType, SimpleNamespace

import pytest

from hub.settings import PROJECT_ROOT


def _dag_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"manual_{name}", PROJECT_ROOT / "dags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context(run_after: datetime) -> dict:
    # what Airflow hands a task of such a run: no data_interval_* keys (or None), params empty
    return {"params": {}, "data_interval_start": None, "data_interval_end": None,
            "dag_run": SimpleNamespace(run_after=run_after)}  # fmt: skip


@pytest.mark.parametrize(
    ("dag", "function", "run_after", "expected"),
    [
        # Wednesday 10:00 in Shanghai: the week that started on Monday
        ("replenishment_planning", "_week", datetime(2026, 12, 9, 2, tzinfo=UTC), date(2026, 12, 7)),
        # 10:00 in Shanghai: the business day of today (its counts up to 23:30)
        ("inventory_reconciliation", "_window", datetime(2026, 12, 9, 2, tzinfo=UTC), date(2026, 12, 9)),
        # after 02:00 in Shanghai: the day that closed at 02:00 this morning; before it, the one before
        ("finance_settlement", "_day", datetime(2026, 12, 9, 2, tzinfo=UTC), date(2026, 12, 8)),
        ("finance_settlement", "_day", datetime(2026, 12, 8, 17, tzinfo=UTC), date(2026, 12, 7)),
    ],
)
def test_a_run_without_a_logical_date_takes_its_day_from_the_run_time(
    airflow_home, monkeypatch, dag, function, run_after, expected
) -> None:
    module = _dag_module(dag)
    monkeypatch.setattr(module, "get_current_context", lambda: _context(run_after))
    got = getattr(module, function)()
    day = got if isinstance(got, date) else getattr(got, "business_day", None) or got.day
    assert day == expected
