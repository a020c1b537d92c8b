"""finance_settlement, step by step (DESIGN §2):

1. ``extract``: SAP billing changed since the last read, and the goods issues it bills (``billing``);
2. ``settle``: the three-way match of the business day per company code, exact money, totals against
   SAP's, exceptions (``matching``); the file as the next version, gated on the file itself
   (``files``);
3. ``deliver``: to finance through the ledger, SFTP (``finance_drop``) or the local outbox (``files``).

The business day is the start of the run's data interval (02:00 to 02:00, ``hub.timezone``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from flows.finance_settlement.deadline import DAY_CLOSES


@dataclass(frozen=True)
class Day:
    business_day: date
    start: datetime
    end: datetime


def day_of(start: datetime, end: datetime, timezone: str) -> Day:
    """The business day of a scheduled run whose data interval is [start, end)."""
    return Day(start.astimezone(ZoneInfo(timezone)).date(), start, end)


def named_day(day: date, timezone: str) -> Day:
    """A business day named by hand (a re-run): 02:00 that day to 02:00 the next, local time."""
    start = datetime.combine(day, DAY_CLOSES, ZoneInfo(timezone))
    return Day(day, start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC))


def _settings() -> Any:
    from hub.settings import get_settings

    return get_settings()


def _rules() -> Any:
    from transforms.settlement_money import MoneyRules

    s = _settings()
    return MoneyRules(s.tax.rounding_mode, s.tax.rounding_scope, s.settlement.tax_country)


def extract(engine: Engine, run_id: str, day: Day) -> dict[str, Any]:
    from flows.connections import sap_client
    from flows.finance_settlement.billing import read_billing, read_goods_issues

    s = _settings().settlement
    with sap_client() as sap:
        billing = read_billing(
            engine, sap, run_id, day.start, timedelta(seconds=s.overlap_seconds), timedelta(days=s.initial_read_days)
        )
        issues = read_goods_issues(engine, sap)
    return {"billing": billing, "goods_issues": issues}


def settle(engine: Engine, run_id: str, day: Day) -> dict[str, Any]:
    from flows.finance_settlement.files import write_day
    from flows.finance_settlement.matching import settle_day
    from hub.db import utcnow
    from transforms.settlement_match import Tolerances

    settings = _settings()
    s = settings.settlement
    rules = _rules()
    tolerances = Tolerances(s.qty_tolerance, s.amount_tolerance, settings.tolerances.price_pct)
    days = settle_day(engine, run_id, day.business_day, rules, tolerances)
    written = [
        write_day(engine, d, settings.settlement_dir, day.business_day, run_id, rules, (day.start, day.end), utcnow())
        for d in days
    ]
    return {"business_day": day.business_day.isoformat(), "companies": written}


def deliver(engine: Engine, ledger: Any, settled: dict[str, Any]) -> dict[str, Any]:
    from connectors.finance_drop import FinanceDrop, default_outbox
    from flows.connections import get_connection
    from flows.finance_settlement.files import deliver as deliver_files

    settings = _settings()
    drop = FinanceDrop.from_connection(
        get_connection("finance_drop", required=False), default_outbox(settings.output_dir)
    )
    with drop:
        return {c["company_code"]: deliver_files(engine, drop, ledger, c) for c in settled["companies"]}
