"""The facts of one report day, read with the named queries ``include/sql/kpi_*.sql``.

The queries bind instants and dates typed (so SQLite compares them as it stores them) and read
money, quantities and timestamps typed (exact Decimals; datetimes on both databases).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Date, Engine, bindparam
from sqlalchemy.types import TypeEngine

from hub import sql
from hub.lifecycle import REFRESHABLE, OrderState
from hub.schema import MONEY, QUANTITY, TS
from transforms.kpis import LineFact, OrderFact, Span

# Orders whose unconfirmed quantities are still owed: backordered in the hub, or in SAP with quantities
# SAP may still confirm (hub/lifecycle.py REFRESHABLE: posted, partial).
BACKORDER_STATES: tuple[str, ...] = (OrderState.BACKORDERED.value, *REFRESHABLE)
INSTANTS = ("day_start", "day_end", "week_start", "month_start")
DATES = ("first_day", "last_day")
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

ORDER_TYPES: Mapping[str, TypeEngine] = {
    "gross_amount": MONEY,
    "ordered_at": TS,
    "posted_at": TS,
    "confirmed_at": TS,
    "shipped_at": TS,
    "delivered_at": TS,
    "ordered_qty": QUANTITY,
    "confirmed_qty": QUANTITY,
}
LINE_TYPES: Mapping[str, TypeEngine] = {
    "ordered_at": TS,
    "requested_date": Date(),
    "ordered_qty": QUANTITY,
    "net_amount": MONEY,
    "confirmed_qty": QUANTITY,
    "confirmed_date": Date(),
    "shipped_qty": QUANTITY,
    "delivered_qty": QUANTITY,
    "delivered_at": TS,
}
TYPES: Mapping[str, Mapping[str, TypeEngine]] = {
    "kpi_order_events": ORDER_TYPES,
    "kpi_order_lines": LINE_TYPES,
    "kpi_ledger_backlog": {"oldest_open": TS},
    "kpi_stock_health": {"short_qty": QUANTITY, "taken_at": TS},
}
LISTS = ("confirmation_targets", "backorder_states")


def parameters(name: str) -> set[str]:
    """The parameters the statement of a named query binds (its header comment left out)."""
    statement = "\n".join(ln for ln in sql.source(name).splitlines() if not ln.lstrip().startswith("--"))
    return set(_PARAM.findall(statement))


def kpi_query(name: str) -> Any:
    """The named query with its list parameters expanding, instants and dates typed, results typed."""
    used = parameters(name)
    stmt = sql.query(name, lists=[p for p in LISTS if p in used], types=TYPES.get(name))
    binds = [bindparam(p, type_=TS) for p in INSTANTS if p in used]
    binds += [bindparam(p, type_=Date()) for p in DATES if p in used]
    return stmt.bindparams(*binds) if binds else stmt


def confirmation_targets(sources: Sequence[str]) -> list[str]:
    """The ledger targets of the CRM confirmations (flows/sap_order_posting/confirming.py crm_target)."""
    return [f"crm.{s}.confirmation" for s in sources]


def values_for(name: str, span: Span, sources: Sequence[str]) -> dict[str, Any]:
    given = {
        **span.params(),
        "confirmation_targets": confirmation_targets(sources),
        "backorder_states": list(BACKORDER_STATES),
    }
    return {p: given[p] for p in parameters(name)}


def rows(conn: Any, name: str, span: Span, sources: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(kpi_query(name), values_for(name, span, sources))]


def load(engine: Engine, span: Span, *, sources: Sequence[str]) -> dict[str, Any]:
    """Everything :func:`transforms.kpis.build_report` takes from the database, in one transaction."""
    with engine.connect() as conn, conn.begin():
        orders = [OrderFact(**r) for r in rows(conn, "kpi_order_events", span, sources)]
        lines = [LineFact(**r) for r in rows(conn, "kpi_order_lines", span, sources)]
        return {
            "orders": orders,
            "lines": lines,
            "gate_rows": rows(conn, "kpi_gate_rates", span, sources),
            "quarantine_rows": rows(conn, "kpi_quarantine", span, sources),
            "ledger_rows": rows(conn, "kpi_ledger_backlog", span, sources),
            "stock_rows": rows(conn, "kpi_stock_health", span, sources),
        }
