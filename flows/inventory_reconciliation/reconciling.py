"""Steps 2–4: judge the day's lines, gate the results, propose the adjustments, record the decision.

A day's results are recomputed by every run until its adjustments are proposed; from then on they
are frozen (what a person approves is what is posted), and a re-run only reports them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from flows.inventory_reconciliation.book import day_row
from flows.named_queries import chunks as named_chunks
from flows.named_queries import rows as named_rows
from hub.bulk import upsert
from hub.db import utcnow
from hub.schema import count_results, reconciliations
from quality.sql_gate import run_table_gate
from transforms.count_reconciliation import (
    Judgement,
    Line,
    ReasonCodes,
    Tolerances,
    judge,
    limit_note,
    plants_over_limit,
)

log = logging.getLogger(__name__)

FROZEN = ("proposed", "approved", "rejected", "posted", "nothing_to_post")
TOP_LINES = 20


class DecisionError(ValueError):
    """An approval or rejection that does not apply (no proposal, already decided)."""


def _documents(conn: Any, book_taken_at: Any, receipts_from: Any) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in named_rows(conn, "timing_documents", book_taken_at=book_taken_at, receipts_from=receipts_from):
        label = "delivery" if r["kind"] == "delivery" else "receipt"
        found[(r["plant"], r["material"])].append(f"{label} {r['document']} ({r['quantity'].normalize():f})")
    return found


CHUNK = 20_000  # lines judged and written at a time


def _judge(r: dict[str, Any], tolerances: Tolerances, reasons: ReasonCodes) -> Judgement:
    line = Line(
        plant=r["plant"],
        material=r["material"],
        stock_type=r["stock_type"],
        basis=r["basis"],
        book_qty=r["book_qty"],
        physical_qty=r["physical_qty"],
        timing_shipped=r["timing_shipped"],
        timing_received=r["timing_received"],
        unit_cost=r["unit_cost"],
        pack_size=r["pack_size"],
        previous_status=r["previous_status"],
    )
    return judge(line, tolerances, reasons)


def _result(
    r: dict[str, Any], j: Judgement, documents: dict[tuple[str, str], list[str]], business_day: date, run_id: str
) -> dict[str, Any]:
    explanation = j.explanation
    if j.status == "explained":
        docs = documents.get((r["plant"], r["material"]), [])
        explanation = f"{explanation}: {', '.join(docs[:5])}" if docs else explanation
    return {
        "business_day": business_day,
        "plant": r["plant"],
        "storage_location": r["storage_location"],
        "material": r["material"],
        "batch": r["batch"],
        "stock_type": r["stock_type"],
        "basis": r["basis"],
        "abc_class": r["abc_class"],
        "book_qty": r["book_qty"],
        "physical_qty": r["physical_qty"],
        "timing_qty": j.timing_qty,
        "difference_qty": j.difference_qty,
        "unit": r["unit"],
        "unit_cost": r["unit_cost"],
        "currency": r["currency"],
        "difference_value": j.difference_value,
        "status": j.status,
        "explanation": explanation[:1800],  # room for the document-limit note
        "movement_type": j.movement_type,
        "reason_code": j.reason_code,
        "source": r["source"],
        "count_document": r["count_document"],
        "counted_at": r["counted_at"],
        "decision": None,
        "run_id": run_id,
    }


def _write(conn: Any, out: list[dict[str, Any]]) -> None:
    if not out:
        return
    if conn.dialect.name == "postgresql":
        # COPY into a staging table + one INSERT (hub.bulk): executemany sends a statement per row,
        # most of the step's time at 1M lines (bench/reconciliation.py). The day's rows are gone.
        upsert(conn, count_results, out, key=[c.name for c in count_results.primary_key])
    else:
        conn.execute(insert(count_results), out)


def reconcile(
    engine: Engine,
    engine_url: str,
    run_id: str,
    business_day: date,
    tolerances: Tolerances,
    reasons: ReasonCodes,
    receipt_days: int,
) -> dict[str, Any]:
    """Judge every counted item of ``business_day`` and store the results (unless frozen)."""
    with engine.connect() as conn:
        day = day_row(conn, business_day)
    if day is None:
        raise LookupError(f"no book stock for {business_day}: the snapshot step must run first")
    if day.status in FROZEN:
        log.info("results of %s are %s: kept as they are, nothing recomputed", business_day, day.status)
        return {"frozen": True, "status": day.status, **_counts(engine, business_day)}
    receipts_from = day.counts_from - timedelta(days=receipt_days)
    adjust_value: dict[str, Decimal] = defaultdict(Decimal)
    with engine.begin() as conn:
        documents = _documents(conn, day.book_taken_at, receipts_from)
        conn.execute(delete(count_results).where(count_results.c.business_day == business_day))
        # Streamed: the lines are judged and written a chunk at a time, so memory stays flat however
        # many items the warehouses counted (bench/reconciliation.py measures 1M).
        for chunk in named_chunks(
            conn,
            "count_reconciliation_lines",
            CHUNK,
            business_day=business_day,
            previous_day=business_day - timedelta(days=1),
            counts_from=day.counts_from,
            counts_to=day.counts_to,
            book_taken_at=day.book_taken_at,
            receipts_from=receipts_from,
            query_document=f"query:{business_day.isoformat()}",
        ):
            out = [_result(r, _judge(r, tolerances, reasons), documents, business_day, run_id) for r in chunk]
            for row in out:
                if row["status"] == "adjust":
                    adjust_value[row["plant"]] += abs(row["difference_value"])
            _write(conn, out)
        # SAP's per-document tolerance: a plant whose adjustments together are worth too much posts none.
        over = plants_over_limit(adjust_value, tolerances.document_value)
        for plant, total in sorted(over.items()):
            log.warning(
                "plant %s: adjustments worth %s exceed the per-document limit %s: all to recount",
                plant,
                total,
                tolerances.document_value,
            )
            conn.execute(
                update(count_results)
                .where(
                    count_results.c.business_day == business_day,
                    count_results.c.plant == plant,
                    count_results.c.status == "adjust",
                )
                .values(
                    status="recount",
                    movement_type=None,
                    reason_code=None,
                    explanation=count_results.c.explanation + limit_note(plant, total, tolerances.document_value),
                )
            )
        conn.execute(
            update(reconciliations)
            .where(reconciliations.c.business_day == business_day)
            .values(status="reconciled", run_id=run_id, updated_at=utcnow())
        )
    with engine.begin() as conn:
        gate = run_table_gate("count_results", engine_url, "count_results", conn=conn, run_id=run_id)
    summary = _counts(engine, business_day)
    log.info(
        "%s reconciled: %d lines, %d matched, %d explained, %d to recount, %d to adjust (gate: %d rows checked)",
        business_day,
        summary["lines"],
        summary["matched"],
        summary["explained"],
        summary["recount"],
        summary["adjust"],
        gate.evaluated,
    )
    return {"frozen": False, "status": "reconciled", "over_document_limit": sorted(over), **summary}


def _counts(engine: Engine, business_day: date) -> dict[str, int]:
    with engine.connect() as conn:
        by_status = dict(
            conn.execute(
                select(count_results.c.status, func.count())
                .where(count_results.c.business_day == business_day)
                .group_by(count_results.c.status)
            ).all()
        )
    counts = {s: int(by_status.get(s, 0)) for s in ("matched", "explained", "recount", "adjust")}
    return {"lines": sum(counts.values()), **counts}


def proposal_of(conn: Any, business_day: date) -> dict[str, Any]:
    """The adjustments of the day per plant: lines, units gained and lost, value (net and absolute)."""
    rows = conn.execute(
        select(count_results)
        .where(count_results.c.business_day == business_day, count_results.c.status == "adjust")
        .order_by(count_results.c.plant, count_results.c.material)
    ).all()
    plants: dict[str, dict[str, Any]] = {}
    for r in rows:
        p = plants.setdefault(
            r.plant,
            {
                "lines": 0,
                "gain_qty": Decimal(0),
                "loss_qty": Decimal(0),
                "net_value": Decimal(0),
                "abs_value": Decimal(0),
                "currency": r.currency,
                "top": [],
            },
        )
        p["lines"] += 1
        if r.difference_qty > 0:
            p["gain_qty"] += r.difference_qty
        else:
            p["loss_qty"] += -r.difference_qty
        p["net_value"] += r.difference_value
        p["abs_value"] += abs(r.difference_value)
    for plant, p in plants.items():
        top = sorted((r for r in rows if r.plant == plant), key=lambda r: (-abs(r.difference_value), r.material))
        p["top"] = [
            {
                "material": r.material,
                "batch": r.batch,
                "stock_type": r.stock_type,
                "difference_qty": str(r.difference_qty.normalize()),
                "difference_value": str(r.difference_value),
                "movement_type": r.movement_type,
                "why": r.explanation,
            }
            for r in top[:TOP_LINES]
        ]
        for key in ("gain_qty", "loss_qty", "net_value", "abs_value"):
            p[key] = str(p[key])
    return {"business_day": business_day.isoformat(), "lines": len(rows), "plants": plants}


def propose(engine: Engine, run_id: str, business_day: date) -> dict[str, Any]:
    """Put the day's adjustments up for approval (once); nothing to adjust → ``nothing_to_post``."""
    with engine.begin() as conn:
        day = day_row(conn, business_day)
        if day is None:
            raise LookupError(f"no reconciliation of {business_day}")
        if day.status in FROZEN:
            proposal = day.proposal or {}
            log.info("adjustments of %s are already %s", business_day, day.status)
            return {
                "business_day": business_day.isoformat(),
                "status": day.status,
                "lines": proposal.get("lines", 0),
                "needs_decision": day.status == "proposed",
                "request": approval_request(proposal) if proposal else "",
            }
        proposal = proposal_of(conn, business_day)
        status = "proposed" if proposal["lines"] else "nothing_to_post"
        conn.execute(
            update(count_results)
            .where(count_results.c.business_day == business_day, count_results.c.status == "adjust")
            .values(decision="proposed")
        )
        conn.execute(
            update(reconciliations)
            .where(reconciliations.c.business_day == business_day)
            .values(status=status, proposal=proposal, run_id=run_id, updated_at=utcnow())
        )
    for plant, p in proposal["plants"].items():
        log.info(
            "proposed for plant %s: %d adjustments, +%s / -%s units, net %s %s (absolute %s)",
            plant,
            p["lines"],
            p["gain_qty"],
            p["loss_qty"],
            p["net_value"],
            p["currency"],
            p["abs_value"],
        )
    return {
        "business_day": business_day.isoformat(),
        "status": status,
        "lines": proposal["lines"],
        "needs_decision": status == "proposed",
        "request": approval_request(proposal),
    }


def approval_request(proposal: dict[str, Any]) -> str:
    """The proposal as the approver reads it under Required Actions (Markdown)."""
    out = [f"**{proposal['lines']} adjustments** of {proposal['business_day']}, per plant:", ""]
    for plant, p in sorted(proposal["plants"].items()):
        out.append(
            f"- **{plant}**: {p['lines']} lines, +{p['gain_qty']} / -{p['loss_qty']} units, net {p['net_value']} "
            f"{p['currency']} (absolute {p['abs_value']})"
        )
    out += [
        "",
        "| plant | material | stock type | difference | value | movement | why |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for plant, p in sorted(proposal["plants"].items()):
        for t in p["top"]:
            out.append(
                f"| {plant} | {t['material']} | {t['stock_type']} | {t['difference_qty']} | {t['difference_value']} "
                f"| {t['movement_type']} | {t['why']} |"
            )
    out += [
        "",
        "Approve: SAP physical-inventory documents are created and their differences posted. "
        "Reject: nothing is posted; the items stay on the report.",
    ]
    return "\n".join(out)


def decide(engine: Engine, business_day: date, approved: bool, by: str, note: str | None = None) -> dict[str, Any]:
    """Approve or reject the day's proposal; only a proposal waiting for a decision can be decided."""
    status = "approved" if approved else "rejected"
    with engine.begin() as conn:
        day = day_row(conn, business_day)
        if day is None:
            raise DecisionError(f"no reconciliation of {business_day}")
        if day.status != "proposed":
            raise DecisionError(f"the adjustments of {business_day} are {day.status}, not waiting for a decision")
        now = utcnow()
        conn.execute(
            update(reconciliations)
            .where(reconciliations.c.business_day == business_day, reconciliations.c.status == "proposed")
            .values(status=status, decided_by=by[:200], decided_at=now, decision_note=note, updated_at=now)
        )
        conn.execute(
            update(count_results)
            .where(count_results.c.business_day == business_day, count_results.c.decision == "proposed")
            .values(decision=status)
        )
    log.info("adjustments of %s %s by %s%s", business_day, status, by, f" ({note})" if note else "")
    return {"business_day": business_day.isoformat(), "status": status, "by": by}
