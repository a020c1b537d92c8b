"""JSON for the hub's JSON columns, hashes and logs: Decimals and datetimes kept exact as text."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact; a float would not be
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def dumps(value: Any, *, canonical: bool = False) -> str:
    """JSON text; ``canonical`` sorts keys and drops spaces so equal content hashes equally."""
    if canonical:
        return json.dumps(value, default=default, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return json.dumps(value, default=default, ensure_ascii=False)


def plain(value: Any) -> Any:
    """``value`` with Decimals and datetimes turned into the text JSON would store."""
    return json.loads(dumps(value))
