"""The named SQL of this flow (include/sql/), bound with its instants, dates and lists typed, so the
same statements run on SQLite and PostgreSQL and read money and quantities back exactly."""

from __future__ import annotations

from collections.abc import Mapping
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
}
_INSTANTS = ("counts_from", "counts_to", "book_taken_at", "receipts_from", "history_from", "history_to")
_DATES = ("business_day", "previous_day")
_LISTS = ("excluded_states", "reserving_states", "short_states")


def rows(conn: Connection, name: str, **values: Any) -> list[dict[str, Any]]:
    """The rows of the named query ``name`` for ``values`` (every parameter it binds)."""
    used = set(values)
    stmt = sql.query(name, lists=[p for p in _LISTS if p in used], types=_TYPES.get(name))
    binds = [bindparam(p, type_=TS) for p in _INSTANTS if p in used]
    binds += [bindparam(p, type_=Date()) for p in _DATES if p in used]
    if binds:
        stmt = stmt.bindparams(*binds)
    return [dict(r._mapping) for r in conn.execute(stmt, values)]
