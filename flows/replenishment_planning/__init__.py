"""replenishment_planning, step by step (DESIGN §2), weekly for the planning week (its Monday):

1. ``prepare``: the demand history of every material x plant as a forecasting job (``history``);
2. ``forecast``: runs in the forecasting environment (``forecast_env``, statsforecast), one model
   chosen per series by rolling-origin RMSSE with a bias check;
3. ``store``: the forecasts kept (``proposals``);
4. ``propose``: safety stock from the forecast error over the lead time, reorder point, min/max with
   MOQ and multiple, proposals against the inventory position, each plant's budget spent by priority
   (``proposals``); the DAG asks in the Airflow UI (Required Actions), or ``hub planning approve WEEK``
   decides (``decide``);
5. ``remind``: reorder reminders to the customers' CRMs (``reminders``);
6. ``request``: approved proposals to SAP as purchase requisitions (``requisitions``);
7. ``report``: CSV, XLSX and HTML with charts in ``<output>/planning/`` (``reporting``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # the DAG file imports this package at parse time: keep it light
    from sqlalchemy import Engine

    from hub.ledger import Ledger


def planning_week(instant: datetime | date, timezone: str) -> date:
    """The Monday of the week ``instant`` falls in (local to ``timezone``)."""
    day = instant.astimezone(ZoneInfo(timezone)).date() if isinstance(instant, datetime) else instant
    return day - timedelta(days=day.weekday())


def _settings() -> Any:
    from hub.settings import get_settings

    return get_settings()


def prepare(engine: Engine, week: date) -> dict[str, Any]:
    """Write the week's forecasting job, or none when its proposals are already frozen."""
    from flows.replenishment_planning.history import write_job
    from flows.replenishment_planning.proposals import FROZEN, PlanningError, run_row
    from hub.db import utcnow

    settings = _settings()
    with engine.connect() as conn:
        run = run_row(conn, week)
    if run is not None and run.status in FROZEN:
        return {"job": None, "status": run.status}
    today = utcnow().astimezone(ZoneInfo(settings.hub.timezone)).date()
    if week > planning_week(today, settings.hub.timezone) + timedelta(days=7):
        raise PlanningError(f"the week of {week} is more than a week ahead of today ({today}): plan it nearer the time")
    return write_job(engine, settings.planning_dir / week.isoformat(), week, today, settings)


def store(engine: Engine, run_id: str, week: date, result_path: str | None) -> dict[str, Any]:
    from flows.replenishment_planning.proposals import store_forecasts

    return store_forecasts(engine, run_id, week, result_path)


def propose(engine: Engine, run_id: str, week: date) -> dict[str, Any]:
    from flows.replenishment_planning.proposals import propose as propose_week

    return propose_week(engine, run_id, week, _settings())


def decide(engine: Engine, week: date, approved: bool, by: str, note: str | None = None) -> dict[str, Any]:
    from flows.replenishment_planning.proposals import decide as decide_week

    return decide_week(engine, week, approved, by, note)


def record_ui_decision(engine: Engine, week: date, answer: dict[str, Any] | None) -> dict[str, Any]:
    """Record what the approval task was answered (or defaulted to on timeout); no answer: the
    request was not made (nothing to decide, or decided with ``hub planning approve``)."""
    import logging

    from flows.approvals import UI_NOTE, answered
    from flows.replenishment_planning.proposals import PlanningError

    log = logging.getLogger(__name__)
    got = answered(answer)
    if got is None:
        log.info("no approval asked in the UI for %s: the recorded decision stands", week)
        return {"decided": None}
    approved, by = got
    try:
        return decide(engine, week, approved, by, UI_NOTE)
    except PlanningError as exc:
        # Someone decided first (hub planning approve/reject while the request was open): that stands.
        log.warning("the answer in the Airflow UI by %s is not applied: %s", by, exc)
        return {"decided": None, "not_applied": str(exc)}


def request(engine: Engine, ledger: Ledger, run_id: str, week: date) -> dict[str, Any]:
    from connectors.sap_purchase_req import PurchaseRequisitionClient
    from flows.connections import sap_client
    from flows.replenishment_planning.requisitions import request_approved

    with sap_client() as sap:
        return request_approved(engine, PurchaseRequisitionClient(sap), ledger, run_id, week, _settings())


def remind(engine: Engine, ledger: Ledger, run_id: str, week: date) -> dict[str, Any]:
    from flows.crms import crm_clients
    from flows.replenishment_planning.reminders import write_reminders

    settings = _settings()
    with crm_clients(engine, settings) as clients:
        return write_reminders(engine, ledger, clients, run_id, week, settings)


def report(engine: Engine, week: date) -> dict[str, Any]:
    from flows.replenishment_planning.reporting import write_report

    settings = _settings()
    return write_report(engine, week, settings.planning_dir, settings.hub.language)
