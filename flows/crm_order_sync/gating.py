"""Step 2, the raw gate (``raw_crm_orders``): an order with any bad line is quarantined whole."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from flows.crm_order_sync.stages import RAW_GATE, UNREADABLE, inbox_rows, set_stage
from flows.crms import adapter as get_source
from hub import quarantine
from hub.keys import crm_order_id_of, record_key
from transforms import crm_orders


def _unreadable(source_name: str, key: str, payload: Any, exc: Exception) -> quarantine.QuarantineRecord:
    return quarantine.QuarantineRecord(
        RAW_GATE,
        source_name,
        key,
        "Unreadable",
        f"order {crm_order_id_of(key)}: the CRM record cannot be read ({type(exc).__name__}: {exc})",
        payload if isinstance(payload, Mapping) else {"payload": payload},
        field="payload",
    )


def raw_gate(engine: Engine, source_name: str, run_id: str) -> dict[str, Any]:
    """Run the raw gate on the pulled orders; an order with any bad line is quarantined whole."""
    import pandas as pd

    from quality.gate import run_gate

    source = get_source(source_name)
    with engine.begin() as conn:
        inbox = inbox_rows(conn, source_name, run_id, "pulled")
        lines, unreadable = [], []
        for oid, payload in inbox:
            key = record_key(source_name, oid)
            try:
                # Keyed by the inbox's order id: a record whose own id is junk stays this record.
                lines += [{**line, "record_key": key, "payload": payload} for line in source.raw_lines(payload)]
            except UNREADABLE as exc:
                unreadable.append(_unreadable(source_name, key, payload, exc))
        quarantine.add(conn, unreadable, run_id)
        frame = pd.DataFrame(lines, columns=[*crm_orders.RAW_COLUMNS, "payload"])
        outcome = run_gate(RAW_GATE, frame, conn=conn, run_id=run_id, source=source_name)
        passed_keys = set(outcome.passed["record_key"]) if len(outcome.passed) else set()
        failed_keys = set(frame["record_key"]) - passed_keys if len(frame) else set()
        failed_keys |= {r.record_key for r in unreadable}
        # A passing line of a failing order must not slip through on its own.
        ok = [oid for oid, _ in inbox if record_key(source_name, oid) not in failed_keys]
        bad = [oid for oid, _ in inbox if record_key(source_name, oid) in failed_keys]
        set_stage(conn, source_name, ok, "raw_passed")
        set_stage(conn, source_name, bad, "quarantined")
    return {"source": source_name, "evaluated": len(inbox), "passed": len(ok), "quarantined": len(bad)}
