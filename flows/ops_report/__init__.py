"""ops_report: the daily operations report (KPIs as HTML with charts, plus CSV) for one business day.

One step, :func:`run`: read the facts with the named queries ``include/sql/kpi_*.sql``
(:mod:`flows.ops_report.facts`), compute the KPIs (``transforms/kpis.py``), render
(``transforms/report_html.py``) and write both files to ``<output>/reports/`` under a temporary name,
then rename (:mod:`flows.ops_report.files`). The day comes from the run (the business day before
its ``run_after``, or the ``day`` param), never from the wall clock.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)


def run(
    engine: Engine,
    *,
    run_after: datetime,
    run_id: str,
    day: date | None = None,
    settings: Any | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Write the report of ``day`` (default: the business day before ``run_after``); its paths and headline."""
    from flows.ops_report.facts import BACKORDER_STATES, load
    from flows.ops_report.files import write_report
    from hub.settings import get_settings
    from transforms.kpis import Span, build_report, report_day
    from transforms.report_html import csv_rows, render_html

    settings = settings or get_settings()
    zone = settings.hub.timezone
    span = Span.of(day or report_day(run_after, zone), zone)
    facts = load(engine, span, sources=settings.crm.enabled)
    report = build_report(
        span,
        **facts,
        sources=settings.crm.enabled,
        plants=settings.plants.codes,
        tracked_plants=sorted(settings.logistics.warehouses),
        backorder_states=BACKORDER_STATES,
    )
    language = settings.hub.language
    html = render_html(report, language, run_id=run_id)
    paths = write_report(out_dir or settings.output_dir / "reports", span.day, html, csv_rows(report, language))
    headline = _headline(report)
    log.info(
        "ops report for %s (%s, as of %s): %s → %s and %s",
        span.day.isoformat(),
        language,
        span.day_end.isoformat(),
        ", ".join(f"{k} {v}" for k, v in headline.items()),
        paths["html"],
        paths["csv"],
    )
    return {"day": span.day.isoformat(), "language": language, **{k: str(v) for k, v in paths.items()}, **headline}


def _headline(report: Any) -> dict[str, Any]:
    """A few numbers of the day for the log line and the Asset event (XCom-sized, no payloads)."""
    day_in = report.intake[""]["day"]
    service = report.service[""]["day"]
    backlog = sum(int(r["pending"] or 0) + int(r["in_flight"] or 0) + int(r["failed"] or 0) for r in report.ledger)
    open_q = sum(int(r["open_records"] or 0) for r in report.quarantine)
    otif = service.otif_lines.pct()
    return {
        "orders_in": day_in.orders,
        "confirmed": report.confirmed[""]["day"].orders,
        "lines_due": service.lines,
        "otif_pct": None if otif is None else str(otif),
        "backorder_lines": sum(a.lines for a in report.aging[""].values()),
        "quarantine_open": open_q,
        "ledger_backlog": backlog,
    }
