"""The settlement deadline check: a business day SAP billed whose settlement file is not delivered to
finance by its due time (flows/finance_settlement/deadline.py ``due_at``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, exists, select

from flows.alerting.types import Alert
from hub.schema import billing_documents, settlements


def check_settlement_deadline(conn: Connection, now: datetime, settings: Any) -> list[Alert]:
    """Critical while the latest billed business day past its deadline has no delivered file."""
    from flows.finance_settlement.deadline import due_at

    zone = settings.hub.timezone
    hours = settings.settlement.deadline_hours
    local = now.astimezone(ZoneInfo(zone))
    day = local.date() - timedelta(days=1)
    if now < due_at(day, zone, hours):
        day -= timedelta(days=1)
    billed = conn.execute(select(exists().where(billing_documents.c.billing_date == day))).scalar()
    if not billed:
        return []  # nothing billed that day: nothing for finance to wait for
    delivered = conn.execute(
        select(settlements.c.company_code, settlements.c.status, settlements.c.delivered_at).where(
            settlements.c.business_day == day
        )
    ).all()
    if delivered and all(r.status == "delivered" or r.status == "empty" for r in delivered):
        return []
    due = due_at(day, zone, hours)
    late_hours = (now - due).total_seconds() / 3600
    return [
        Alert(
            "settlement_deadline",
            day.isoformat(),
            "critical",
            f"finance's settlement file of {day} is not delivered, due {due:%Y-%m-%d %H:%M %Z} "
            f"({late_hours:.1f} h ago)",
            {
                "business_day": day.isoformat(),
                "due_at": due.isoformat(),
                "companies_delivered": sorted(r.company_code for r in delivered if r.status == "delivered"),
                "companies_waiting": sorted(r.company_code for r in delivered if r.status != "delivered"),
            },
            "Look at the finance_settlement run of the day (failed gate? SFTP down?) and re-run it; "
            "`hub settlement verify FILE` checks a file against its manifest.",
        )
    ]
