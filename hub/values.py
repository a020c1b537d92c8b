"""How the hub reads a value it receives from an outside system: numbers, instants, dates, text.

Tolerant by design: a value that cannot be read becomes ``None`` (missing), so the gate that
follows names the field instead of a mapper failing the batch. Shared by the CRM adapters
(``connectors/crm/``), which read the wire, and by the transforms, which compute with the result.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any


def to_decimal(value: object) -> Decimal | None:
    """Parse an amount or quantity; ``None`` when absent or not a finite number.

    bool is refused (JSON ``true`` is not a price); float goes through its repr, never binary.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            result = Decimal(text)
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 with offset (Zoho) or epoch milliseconds (Fxiaoke) → aware UTC datetime."""
    if value is None or value == "":
        return None
    try:
        return _parse_time(value)
    except (OverflowError, OSError, ValueError):
        return None  # out of datetime's range (epoch 1e20): the not-null rule quarantines it


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else None
    return None


def parse_date(value: Any, zone: tzinfo | None = None) -> date | None:
    """A calendar date: ``YYYY-MM-DD`` as written, or the day an instant (epoch ms, ISO with offset)
    falls on in ``zone`` (UTC when none): a CRM that sends a date as the instant of its midnight
    means the day of that midnight in its own zone."""
    moment = parse_time(value) if not (isinstance(value, str) and len(value) == 10) else None
    if moment is not None:
        return moment.astimezone(zone).date() if zone is not None else moment.date()
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def as_text(value: Any) -> Any:
    """A text field as text, so every gate rule can judge it (quality/limits.py): a number as
    written, any other JSON value (object, list, boolean) as compact JSON; None stays missing."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
