"""The business day: the one definition of which calendar day an instant belongs to.

An order placed at 23:30 UTC is placed on the next day in Shanghai. Price validity (which
price-list row applies), the SAP order date (``PurchaseOrderDate``) and the dates written back to a
CRM all take the day from here, in the zone of the settings (``hub.timezone``, default
Asia/Shanghai), so they always agree. Pure: the caller passes the zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo


def business_zone(zone: str | tzinfo) -> tzinfo:
    """``hub.timezone`` (an IANA name) as a tzinfo; a tzinfo passes through."""
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def business_date(instant: datetime, zone: str | tzinfo) -> date:
    """The business day ``instant`` falls on, in ``zone`` (the settings' ``hub.timezone``).

    A naive ``instant`` is UTC: the hub stores UTC everywhere and SQLite returns naive datetimes.
    """
    aware = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return aware.astimezone(business_zone(zone)).date()


def day_start(day: date, zone: str | tzinfo) -> datetime:
    """The instant a business day begins: midnight of ``day`` in ``zone``, aware.

    The inverse of :func:`business_date`: ``business_date(day_start(d, z), z) == d``.
    """
    return datetime.combine(day, time(0), tzinfo=business_zone(zone))
