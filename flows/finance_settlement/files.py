"""Steps 3–5: the day's settlement file as the next version (or nothing when unchanged), the gate on the
file itself, the exceptions report, and the delivery to finance through the ledger.

The gate re-reads what was written (CSV and XLSX) and recomputes every control of the manifest from
the file (``transforms.settlement_file.verify``); nothing is delivered unless it passes. Delivery goes
file by file through the ledger target ``file.settlement`` (key = the file name): the drop is asked for
the name first, the same SHA-256 there counts as delivered, other bytes under the name are refused,
never overwritten; the manifest goes last, so finance never sees a manifest without its files.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from flows.finance_settlement.matching import DaySettlement
from hub import gate_results
from hub.bulk import upsert
from hub.db import utcnow
from hub.ledger import Delivered, Ledger
from hub.schema import settlements
from quality.errors import GateBreach
from transforms.report_files import csv_bytes, replace_file
from transforms.settlement_file import latest_manifest, verify, write_settlement
from transforms.settlement_money import MoneyRules

log = logging.getLogger(__name__)

TARGET = "file.settlement"
GATE = "settlement_file"


def write_day(
    engine: Engine,
    day: DaySettlement,
    folder: Path,
    business_day: date,
    run_id: str,
    rules: MoneyRules,
    interval: tuple[datetime, datetime],
    created_at: datetime,
) -> dict[str, Any]:
    """Write the company's file of the day (a new version only when its content changed) and gate it."""
    company_folder = folder / day.company_code
    written = write_settlement(
        company_folder,
        day.company_code,
        business_day,
        day.lines,
        None,
        run_id,
        rules,
        data_interval=interval,
        created_at=created_at,
    )
    manifest = written.data if written else latest_manifest(company_folder, day.company_code, business_day)
    if manifest is None:
        raise LookupError(f"no settlement of {day.company_code} {business_day} written and none found")
    files = {kind: company_folder / f["name"] for kind, f in manifest["files"].items()}
    problems = [p for path in files.values() for p in verify(path)]
    _record_gate(engine, run_id, day.company_code, manifest, problems)
    if problems:
        raise GateBreach(GATE, problems, {"company_code": day.company_code, "version": manifest["version"]})
    manifest_path = company_folder / Path(files["csv"].name).name.replace(".csv", ".manifest.json")
    exceptions = _write_exceptions(company_folder, day, business_day)
    with engine.begin() as conn:
        upsert(
            conn,
            settlements,
            [
                {
                    "company_code": day.company_code,
                    "business_day": business_day,
                    "status": "written" if written else "unchanged",
                    "version": manifest["version"],
                    "file": files["csv"].name,
                    "sha256": manifest["files"]["csv"]["sha256"],
                    "records": manifest["record_count"],
                    "exceptions": len(day.exceptions),
                    "totals": manifest["control_totals"],
                    "billing_totals": day.totals,
                    "run_id": run_id,
                    "updated_at": utcnow(),
                }
            ],
            key=("company_code", "business_day"),
        )
    what = f"version {manifest['version']}" + (" written" if written else " unchanged, nothing written")
    if written and written.supersedes:
        what += f", supersedes {written.supersedes}"
    log.info(
        "settlement %s %s: %s (%d records, %d exceptions; files pass the gate)",
        day.company_code,
        business_day,
        what,
        manifest["record_count"],
        len(day.exceptions),
    )
    return {
        "company_code": day.company_code,
        "version": manifest["version"],
        "written": bool(written),
        "records": manifest["record_count"],
        "exceptions": len(day.exceptions),
        "files": [str(p) for p in (*files.values(), manifest_path)],
        "exceptions_report": str(exceptions),
        "day_totals": day.totals,
    }


def _record_gate(engine: Engine, run_id: str, company: str, manifest: dict, problems: list[str]) -> None:
    records = int(manifest.get("record_count", 0))
    with engine.begin() as conn:
        gate_results.record(
            conn,
            gate_results.GateResult(
                gate=GATE,
                run_id=run_id,
                evaluated=records,
                passed=records,
                quarantined=0,
                success=not problems,
                blocking_breach=bool(problems),
                source=company,
                summary={"version": manifest.get("version"), "problems": problems[:50]},
            ),
        )


EXCEPTION_COLUMNS = ["company_code", "business_day", "subject", "reason", "currency", "amount", "detail"]


def _write_exceptions(folder: Path, day: DaySettlement, business_day: date) -> Path:
    """The exceptions report of the day, named by its content (the first 8 hex digits of its SHA-256):
    like the settlement file it is never overwritten at finance, and the same exceptions are the same file."""
    import hashlib

    rows = [EXCEPTION_COLUMNS] + [
        [
            day.company_code,
            business_day.isoformat(),
            e["subject"],
            e["reason"],
            e["currency"] or "",
            "" if e["amount"] is None else str(e["amount"]),
            e["detail"],
        ]
        for e in sorted(day.exceptions, key=lambda e: (e["reason"], e["subject"]))
    ]
    content = csv_bytes(rows)
    path = folder / f"{day.company_code}_exceptions_{business_day:%Y%m%d}_{hashlib.sha256(content).hexdigest()[:8]}.csv"
    if not path.exists():
        replace_file(path, content)
    return path


def deliver(engine: Engine, drop: Any, ledger: Ledger, written: dict[str, Any]) -> dict[str, Any]:
    """Deliver the files of one written settlement (CSV, XLSX, exceptions report, manifest last)."""
    import hashlib

    paths = [Path(p) for p in written["files"]] + [Path(written["exceptions_report"])]
    manifest = [p for p in paths if p.name.endswith(".manifest.json")]
    ordered = [p for p in paths if p not in manifest] + manifest
    sent = 0
    for path in ordered:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        payload = {"name": path.name, "sha256": sha}

        def call(p: dict, path: Path = path) -> Delivered:
            receipt = drop.deliver(path, p["name"])
            return Delivered(ref=receipt.remote_path, response={"sha256": receipt.sha256, "size": receipt.size})

        def lookup(p: dict) -> Delivered | None:
            return (
                Delivered(ref=p["name"], response={"sha256": p["sha256"]})
                if drop.exists(p["name"]) == p["sha256"]
                else None
            )

        # The exceptions report is rewritten by later runs: its key carries its content.
        key = (
            path.name
            if path.name.endswith(".manifest.json") or "_settlement_" in path.name
            else f"{path.name}@{sha[:16]}"
        )
        result = ledger.send(TARGET, key, payload, call=call, lookup=lookup)
        sent += int(result.called)
    with engine.begin() as conn:
        conn.execute(
            settlements.update()
            .where(settlements.c.company_code == written["company_code"])
            .where(settlements.c.file == Path(written["files"][0]).name)
            .values(status="delivered", delivered_at=utcnow())
        )
    log.info(
        "settlement %s v%02d delivered: %d files sent now, %d already there",
        written["company_code"],
        written["version"],
        sent,
        len(ordered) - sent,
    )
    return {"files": len(ordered), "sent_now": sent}
