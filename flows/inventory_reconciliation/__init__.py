"""inventory_reconciliation, step by step (DESIGN §2), each with what a deployment has:

1. ``snapshot``: SAP's book stock of the business day, read once (``book``), gate ``book_stock``;
2. ``collect``: the warehouses' counts and stock, gate ``warehouse_counts`` (``counts``);
3. ``reconcile``: book against physical, timing explained, tolerances, gate ``count_results``
   (``reconciling``);
4. ``propose``: the adjustments wait for a person (``reconciling``); the DAG asks in the Airflow UI
   (Required Actions), or ``hub inventory approve DAY`` decides (``decide``);
5. ``post``: approved adjustments to SAP as physical-inventory documents (``posting``);
6. ``report``: CSV, XLSX and HTML in the output folder (``reporting``);
7. ``policies``: stock policies and positions, low / over stock for the alerts (``stock_levels``).

The business day is the end of the run's data interval in ``hub.timezone``; the counts reconciled
are those taken in the data interval (and the warehouses' stock read for the day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from hub.ledger import Ledger

# The daily cut-off: counts up to 23:30 local belong to the day; the DAG runs at that time.
CUTOFF = time(23, 30)


@dataclass(frozen=True)
class Window:
    business_day: date
    counts_from: datetime
    counts_to: datetime


def window(start: datetime, end: datetime, timezone: str) -> Window:
    """The business day of a scheduled run whose data interval is [start, end)."""
    return Window(end.astimezone(ZoneInfo(timezone)).date(), start, end)


def day_window(day: date, timezone: str) -> Window:
    """The window of a business day named by hand (a re-run of a day): the cut-off before it to its own."""
    zone = ZoneInfo(timezone)
    end = datetime.combine(day, CUTOFF, zone)
    return Window(day, (end - timedelta(days=1)).astimezone(UTC), end.astimezone(UTC))


def business_day_of(instant: datetime, timezone: str) -> date:
    """The business day whose window holds ``instant``."""
    local = instant.astimezone(ZoneInfo(timezone))
    return local.date() + timedelta(days=1) if local.time() >= CUTOFF else local.date()


def _settings() -> Any:
    from hub.settings import get_settings

    return get_settings()


def snapshot(engine: Engine, run_id: str, win: Window) -> dict[str, Any]:
    from flows.connections import hub_database_url, sap_client
    from flows.inventory_reconciliation.book import take_book
    from quality.sql_gate import run_table_gate

    settings = _settings()
    with sap_client() as sap:
        result = take_book(
            engine, sap, run_id, win.business_day, list(settings.plants.codes), win.counts_from, win.counts_to
        )
    with engine.begin() as conn:
        gate = run_table_gate("book_stock", hub_database_url(), "book_stock", conn=conn, run_id=run_id)
    return {**result, "gate_rows": gate.evaluated}


def collect(engine: Engine, run_id: str, win: Window) -> dict[str, Any]:
    from flows.connections import qimen_client
    from flows.inventory_reconciliation import counts
    from hub.db import utcnow

    settings = _settings()
    warehouses = dict(settings.logistics.warehouses)
    sloc = settings.inventory.storage_location
    now = utcnow()
    reports = counts.collect_reports(engine, run_id, warehouses, sloc, now)
    changes = counts.collect_changes(engine, run_id, warehouses)
    sheets = counts.collect_sheets(engine, run_id, settings.count_dir, sloc, now)
    query: dict[str, int] = {}
    if warehouses:
        with qimen_client() as qimen:
            query = counts.query_stock(
                engine, qimen, run_id, win.business_day, warehouses, sloc, settings.logistics.owner_code
            )
    return {"reports": reports, "changes": changes, "sheets": sheets, "query": query}


def _rules() -> tuple[Any, Any]:
    from transforms.count_reconciliation import ReasonCodes, Tolerances

    settings = _settings()
    inv = settings.inventory
    return (
        Tolerances(settings.tolerances.count_qty, settings.tolerances.count_value, inv.document_value),
        ReasonCodes(inv.reason_loss, inv.reason_gain, inv.reason_wms_adjust),
    )


def reconcile(engine: Engine, run_id: str, win: Window) -> dict[str, Any]:
    from flows.connections import hub_database_url
    from flows.inventory_reconciliation.reconciling import reconcile as reconcile_day

    tolerances, reasons = _rules()
    return reconcile_day(
        engine,
        hub_database_url(),
        run_id,
        win.business_day,
        tolerances,
        reasons,
        _settings().inventory.receipt_days,
    )


def propose(engine: Engine, run_id: str, win: Window) -> dict[str, Any]:
    from flows.inventory_reconciliation.reconciling import propose as propose_day

    return propose_day(engine, run_id, win.business_day)


def decide(engine: Engine, business_day: date, approved: bool, by: str, note: str | None = None) -> dict[str, Any]:
    from flows.inventory_reconciliation.reconciling import decide as decide_day

    return decide_day(engine, business_day, approved, by, note)


def post(engine: Engine, ledger: Ledger, run_id: str, win: Window) -> dict[str, Any]:
    from connectors.sap_physinv import PhysicalInventoryClient
    from flows.connections import sap_client
    from flows.inventory_reconciliation.posting import post_approved

    with sap_client() as sap:
        return post_approved(engine, PhysicalInventoryClient(sap), ledger, run_id, win.business_day)


def report(engine: Engine, win: Window) -> dict[str, Any]:
    from flows.inventory_reconciliation.reporting import write_report

    settings = _settings()
    return write_report(engine, win.business_day, settings.output_dir / "inventory", settings.hub.language)


def policies(engine: Engine, run_id: str, win: Window) -> dict[str, Any]:
    from flows.inventory_reconciliation.stock_levels import update_policies

    return update_policies(engine, run_id, win.business_day, _settings())


def record_ui_decision(engine: Engine, win: Window, answer: dict[str, Any] | None) -> dict[str, Any]:
    """Record what the approval task was answered (or defaulted to on timeout); no answer: the
    request was not made (nothing to decide, or decided with ``hub inventory approve``)."""
    import logging

    from flows.approvals import UI_NOTE, answered
    from flows.inventory_reconciliation.reconciling import DecisionError

    log = logging.getLogger(__name__)
    got = answered(answer)
    if got is None:
        log.info("no approval asked in the UI for %s: the recorded decision (if any) stands", win.business_day)
        return {"decided": None}
    approved, by = got
    try:
        return decide(engine, win.business_day, approved, by, UI_NOTE)
    except DecisionError as exc:
        # Someone decided first (hub inventory approve/reject while the request was open): that stands.
        log.warning("the answer in the Airflow UI by %s is not applied: %s", by, exc)
        return {"decided": None, "not_applied": str(exc)}
