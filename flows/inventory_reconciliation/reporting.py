"""Step 6: the day's reconciliation report (CSV, XLSX, HTML with the largest value differences) and the
numbers of the run's summary."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from flows.inventory_reconciliation.book import day_row
from hub.schema import count_results, stock_policies
from transforms.inventory_report import write_reconciliation_report

log = logging.getLogger(__name__)


def summary_of(engine: Engine, business_day: date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with engine.connect() as conn:
        day = day_row(conn, business_day)
        lines = [
            dict(r._mapping)
            for r in conn.execute(
                select(count_results)
                .where(count_results.c.business_day == business_day)
                .order_by(count_results.c.plant, count_results.c.material, count_results.c.stock_type)
            )
        ]
        assessments = dict(
            conn.execute(select(stock_policies.c.assessment, func.count()).group_by(stock_policies.c.assessment)).all()
        )
    by_status = defaultdict(int)
    net: dict[str, Decimal] = defaultdict(Decimal)
    absolute: dict[str, Decimal] = defaultdict(Decimal)
    gain = loss = Decimal(0)
    for r in lines:
        by_status[r["status"]] += 1
        if r["status"] == "adjust":
            currency = r["currency"] or "?"
            net[currency] += r["difference_value"]
            absolute[currency] += abs(r["difference_value"])
            if r["difference_qty"] > 0:
                gain += r["difference_qty"]
            else:
                loss += -r["difference_qty"]
    counted = len(lines)
    accurate = by_status["matched"] + by_status["explained"]
    summary = {
        "business_day": business_day,
        "status": day.status if day is not None else None,
        "decided_by": day.decided_by if day is not None else None,
        "decided_at": day.decided_at if day is not None else None,
        "decision_note": day.decision_note if day is not None else None,
        "lines": counted,
        "matched": by_status["matched"],
        "explained": by_status["explained"],
        "recount": by_status["recount"],
        "adjust": by_status["adjust"],
        "adjust_qty_gain": gain,
        "adjust_qty_loss": loss,
        "adjust_value_net": dict(net),
        "adjust_value_abs": dict(absolute),
        # Inventory record accuracy (domain_report §5): items within tolerance / items counted.
        "record_accuracy": (Decimal(accurate) / Decimal(counted)).quantize(Decimal("0.0001"))
        if counted
        else Decimal(1),
        "approved": sum(1 for r in lines if r["decision"] in ("approved", "posted")),
        "posted": sum(1 for r in lines if r["decision"] == "posted"),
        "low_stock": int(assessments.get("low", 0)),
        "over_stock": int(assessments.get("over", 0)),
    }
    return summary, lines


def write_report(engine: Engine, business_day: date, folder: Path, language: str) -> dict[str, Any]:
    summary, lines = summary_of(engine, business_day)
    files = write_reconciliation_report(folder, business_day, language, summary, lines)
    log.info("reconciliation report of %s: %s", business_day, ", ".join(str(p) for p in files.values()))
    return {
        "files": {k: str(v) for k, v in files.items()},
        **{k: summary[k] for k in ("lines", "matched", "explained", "recount", "adjust", "posted")},
    }
