"""Exact money: Decimal end to end, quantised to the currency's minor unit (DESIGN §3.3).

Floats never touch money. Values from outside systems arrive as JSON numbers or strings; they are
parsed from their text so that 0.1 stays 0.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext

from hub.values import to_decimal  # noqa: F401 - re-exported: the one reader of received numbers

# ISO 4217 minor units of the currencies the hub trades in; anything else is refused upstream.
MINOR_UNITS: dict[str, int] = {"CNY": 2, "EUR": 2, "USD": 2, "GBP": 2, "HKD": 2, "SGD": 2, "JPY": 0}


class MoneyError(ValueError):
    pass


def minor_unit(currency: str) -> Decimal:
    try:
        return Decimal(1).scaleb(-MINOR_UNITS[currency])
    except KeyError:
        raise MoneyError(f"currency {currency!r} is not supported") from None


def quantize(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round ``amount`` to the minor unit of ``currency`` with the stated rounding mode."""
    return amount.quantize(minor_unit(currency), rounding=rounding)


# settings tax.rounding_scope (hub/settings.py TaxSection), recorded as orders.tax_rounding_scope.
TAX_ROUNDING_SCOPES = ("per_line", "per_document")
_EXACT_DIGITS = 100


def line_taxes(
    lines: Sequence[tuple[Decimal, Decimal]],
    currency: str,
    scope: str = "per_line",
    rounding: str = ROUND_HALF_UP,
) -> list[Decimal]:
    """The tax of each line of one document, given its ``(net amount, rate)``, in the currency's
    minor unit; the document's tax is their sum under either scope.

    - ``per_line``: each line's tax ``net × rate`` is rounded on its own (``rounding``), and the
      document's tax is the sum of the rounded line taxes.
    - ``per_document``: the exact (unrounded) line taxes of all rates are summed and rounded once,
      so the document's tax is ``round(Σ net × rate)``. The lines then share that total by the
      largest-remainder method: each line gets its exact tax rounded down to the minor unit, and the
      units still missing go one each to the lines with the largest remainders (ties: the earlier
      line). Lines always add up to the document's tax, and each is within one minor unit of its
      exact tax.
    """
    if scope not in TAX_ROUNDING_SCOPES:
        raise MoneyError(f"tax rounding scope {scope!r} is not one of {', '.join(TAX_ROUNDING_SCOPES)}")
    unit = minor_unit(currency)
    with localcontext() as ctx:
        ctx.prec = _EXACT_DIGITS  # products and sums stay exact, whatever digits the rates carry
        exact = [net * rate for net, rate in lines]
        if scope == "per_line":
            return [quantize(tax, currency, rounding) for tax in exact]
        total = quantize(sum(exact, Decimal(0)), currency, rounding)
        shares = [tax.quantize(unit, rounding=ROUND_FLOOR) for tax in exact]
        missing = int((total - sum(shares, Decimal(0))) / unit)  # 0 ≤ missing ≤ number of lines
        by_remainder = sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))
        for i in by_remainder[:missing]:
            shares[i] += unit
        return shares
