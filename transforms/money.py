"""Exact money: Decimal end to end, quantised to the currency's minor unit (DESIGN §3.3).

Floats never touch money. Values from outside systems arrive as JSON numbers or strings; they are
parsed from their text so that 0.1 stays 0.1.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units of the currencies the hub trades in; anything else is refused upstream.
MINOR_UNITS: dict[str, int] = {"CNY": 2, "EUR": 2, "USD": 2, "GBP": 2, "HKD": 2, "SGD": 2, "JPY": 0}


class MoneyError(ValueError):
    pass


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


def minor_unit(currency: str) -> Decimal:
    try:
        return Decimal(1).scaleb(-MINOR_UNITS[currency])
    except KeyError:
        raise MoneyError(f"currency {currency!r} is not supported") from None


def quantize(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round ``amount`` to the minor unit of ``currency`` with the stated rounding mode."""
    return amount.quantize(minor_unit(currency), rounding=rounding)
