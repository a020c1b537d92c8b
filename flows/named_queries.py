"""Named SQL of the inventory and planning flows (include/sql/), bound with their instants, dates and
lists typed, so the same statements run on SQLite and PostgreSQL and read money and quantities back
exactly."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, Date, bindparam

from hub import sql
from hub.schema import MONEY, QUANTITY, TS

_TYPES: Mapping[str, Mapping[str, Any]] = {
    "count_reconciliation_lines": {
        "book_qty": QUANTITY,
        "physical_qty": QUANTITY,
        "timing_shipped": QUANTITY,
        "timing_received": QUANTITY,
        "counted_at": TS,
        "unit_cost": MONEY,
        "pack_size": QUANTITY,
    },
    "timing_documents": {"quantity": QUANTITY},
    "demand_history": {"order_time": TS, "quantity": QUANTITY},
    "stock_position": {"on_hand": QUANTITY, "reserved": QUANTITY, "backordered": QUANTITY},
    "reorder_history": {"order_time": TS, "quantity": QUANTITY},
    "open_requisitions": {"quantity": QUANTITY},
}
_INSTANTS = ("counts_from", "counts_to", "book_taken_at", "receipts_from", "history_from", "history_to")
_DATES = ("business_day", "previous_day", "planned_before", "due_after")
_LISTS = ("excluded_states", "reserving_states", "short_states")


def _statement(name: str, used: set[str]) -> Any:
    stmt = sql.query(name, lists=[p for p in _LISTS if p in used], types=_TYPES.get(name))
    binds = [bindparam(p, type_=TS) for p in _INSTANTS if p in used]
    binds += [bindparam(p, type_=Date()) for p in _DATES if p in used]
    return stmt.bindparams(*binds) if binds else stmt


def rows(conn: Connection, name: str, **values: Any) -> list[dict[str, Any]]:
    """The rows of the named query ``name`` for ``values`` (every parameter it binds)."""
    return [dict(r._mapping) for r in conn.execute(_statement(name, set(values)), values)]


def chunks(conn: Connection, name: str, size: int, **values: Any) -> Iterator[list[dict[str, Any]]]:
    """The rows of the named query ``size`` at a time, streamed (a server-side cursor on PostgreSQL)."""
    # Per statement: the connection's own options would stream the writes in between too.
    options = {"stream_results": True, "max_row_buffer": size}
    result = conn.execute(_statement(name, set(values)), values, execution_options=options)
    for part in result.partitions(size):
        yield [dict(r._mapping) for r in part]
