"""Reorder reminders: which parts a customer buys at a steady rhythm, and when the next purchase is due.

A rhythm needs ``min_purchases`` purchase days (several orders on one day count once, their
quantities summed) whose gaps are regular: the coefficient of variation of the gaps (population sd
over mean) at most ``max_cv``. The interval is the median gap, the typical quantity the (lower)
median quantity, one the customer really bought, the next purchase due one interval after the last.

A reminder is due when that date falls within ``lead_days`` from today, or has passed by less than
one interval (the customer is late, not gone); a customer two intervals late has stopped buying
the part and is not chased. One reminder per purchase cycle: its key names the last purchase, so
a new purchase starts a new cycle and a re-run of the same week finds the reminder already written.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

KEY_PREFIX = "RR"
MAX_KEY = 100


@dataclass(frozen=True)
class Rhythm:
    purchases: int
    interval_days: int
    interval_cv: Decimal
    last_purchase: date
    typical_qty: Decimal
    due_date: date


def rhythm(purchases: Iterable[tuple[date, Decimal]], min_purchases: int, max_cv: Decimal) -> Rhythm | None:
    """The customer x part's rhythm, or None when it has too few purchases or none regular enough."""
    by_day: dict[date, Decimal] = {}
    for day, qty in purchases:
        if qty > 0:
            by_day[day] = by_day.get(day, Decimal(0)) + qty
    days = sorted(by_day)
    if len(days) < max(2, min_purchases):
        return None
    gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
    mean = statistics.fmean(gaps)
    cv = Decimal(str(round(statistics.pstdev(gaps) / mean, 4)))
    if cv > max_cv:
        return None
    interval = max(1, round(statistics.median(gaps)))
    typical = statistics.median_low(by_day[d] for d in days)  # a quantity the customer really bought
    return Rhythm(len(days), interval, cv, days[-1], Decimal(typical), days[-1] + timedelta(days=interval))


def is_due(r: Rhythm, today: date, lead_days: int) -> bool:
    """Due within ``lead_days``, or late by less than one interval."""
    return r.due_date - timedelta(days=lead_days) <= today < r.due_date + timedelta(days=r.interval_days)


def reminder_key(customer: str, material: str, last_purchase: date) -> str:
    """The reminder's key in the CRM (looked up before a reminder is created): customer, part, cycle."""
    key = f"{KEY_PREFIX}-{customer}-{material}-{last_purchase:%Y%m%d}"
    if len(key) > MAX_KEY:
        raise ValueError(f"reminder key longer than {MAX_KEY} characters: {key!r}")
    return key
