"""The small conversions every part of alerting shares: instants as the database returns them,
quantities and errors as an alert shows them, the business day the checks count in, the settings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

DETAIL_LINES = 10  # example lines per alert (orders, materials, ...)


def current_settings(settings: Any = None) -> Any:
    """The settings given, else the deployment's (read late: importing alerting needs no settings)."""
    if settings:
        return settings
    from hub.settings import get_settings

    return get_settings()


def business_today(now: datetime, settings: Any) -> date:
    from transforms.business_day import business_date

    return business_date(now, settings.hub.timezone)


def aware(value: datetime | None) -> datetime | None:
    """An instant read back from the database; SQLite drops the zone, and the hub writes UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def qty(value: Decimal | None) -> str:
    return "0" if value is None else format(value.normalize(), "f")


def short_error(text: str | None, limit: int = 300) -> str | None:
    """An error for an alert: first line, credentials masked, no SQL statement."""
    if not text:
        return None
    from connectors.redaction import redact

    first = str(text).split("\n[SQL:", 1)[0].splitlines()[0] if str(text).strip() else ""
    return redact(first)[:limit]
