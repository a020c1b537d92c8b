"""Python checks for rules GX cannot express: cross-column arithmetic and control totals.

Money is compared as ``Decimal`` (DESIGN §3.3): each value goes through ``str`` first, so a float
from a frame is taken at its printed value rather than its binary approximation. Rows whose
amounts are missing or unparseable are skipped here: the not-null rules quarantine them already,
and one record should not be charged twice for the same fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

CENT = Decimal("0.01")


def to_decimal(value: Any) -> Decimal | None:
    """``value`` as a finite Decimal, or None when it is missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _column(frame: pd.DataFrame, name: str, default: Any = None) -> list[Any]:
    return frame[name].tolist() if name in frame.columns else [default] * len(frame)


def net_amount_mismatches(frame: pd.DataFrame, tolerance: Decimal = CENT) -> Mapping[int, str]:
    """Rows whose ``net_amount`` is not ``quantity × unit_price − discount`` within ``tolerance``."""
    found: dict[int, str] = {}
    columns = zip(
        frame.index,
        _column(frame, "quantity"),
        _column(frame, "unit_price"),
        _column(frame, "discount", 0),
        _column(frame, "net_amount"),
        strict=True,
    )
    for pos, qty, price, discount, net in columns:
        q, p, n = to_decimal(qty), to_decimal(price), to_decimal(net)
        # No discount column, or an empty cell, means no discount.
        d = to_decimal(discount) or Decimal(0)
        if q is None or p is None or n is None:
            continue
        expected = q * p - d
        if abs(n - expected) > tolerance:
            found[int(pos)] = f"{n}, expected {q} × {p} − {d} = {expected}"
    return found


def control_total_mismatches(frame: pd.DataFrame, key: str) -> list[str]:
    """Orders (rows grouped by ``key``) whose line ``net_amount`` do not add up to ``order_net_amount``.

    Exact comparison: a header total is the sum of its lines, so any difference means a line was
    lost, doubled or altered between the CRM and here.
    """
    lines: dict[Any, list[Decimal | None]] = {}
    headers: dict[Any, set[Decimal | None]] = {}
    for k, net, header in zip(
        _column(frame, key), _column(frame, "net_amount"), _column(frame, "order_net_amount"), strict=True
    ):
        if k is None or (isinstance(k, float) and math.isnan(k)):
            continue  # a row without a key is quarantined by the not-null rule on the key
        lines.setdefault(k, []).append(to_decimal(net))
        headers.setdefault(k, set()).add(to_decimal(header))
    problems = []
    for k, amounts in lines.items():
        totals = headers[k]
        if None in amounts or None in totals:
            continue  # quarantined by the not-null rules; the total cannot be judged
        if len(totals) > 1:
            shown = ", ".join(str(t) for t in sorted(totals))
            problems.append(f"order {k}: lines disagree on the order net amount ({shown})")
            continue
        (header,) = totals
        total = sum(amounts, Decimal(0))
        if total != header:
            problems.append(f"order {k}: lines sum to {total} but the order header says {header}")
    return problems


def over_confirmed(
    frame: pd.DataFrame, ordered: str = "ordered_qty", confirmed: str = "confirmed_qty", verb: str = "confirmed"
) -> Mapping[int, str]:
    """Rows where column ``confirmed`` exceeds column ``ordered`` (SAP confirmed more than was ordered,
    a delivery carries more than SAP confirmed, a warehouse shipped more than the delivery holds)."""
    found: dict[int, str] = {}
    for pos, o_value, c_value in zip(frame.index, _column(frame, ordered), _column(frame, confirmed), strict=True):
        o, c = to_decimal(o_value), to_decimal(c_value)
        if o is not None and c is not None and c > o:
            found[int(pos)] = f"{verb} {c} of {o}"
    return found


def other_carrier_unnamed(frame: pd.DataFrame) -> Mapping[int, str]:
    """Rows whose carrier code is OTHER without a carrier name."""
    return {
        int(pos): "logisticsCode OTHER without logisticsName"
        for pos, code, name in zip(
            frame.index, _column(frame, "carrier_code"), _column(frame, "carrier_name"), strict=True
        )
        if code == "OTHER" and not (isinstance(name, str) and name.strip())
    }


def tracking_missing(frame: pd.DataFrame) -> Mapping[int, str]:
    """Rows that need a tracking number (a carrier's parcel, not a customer pickup) and have none."""
    return {
        int(pos): "no expressCode"
        for pos, needed, number in zip(
            frame.index, _column(frame, "needs_tracking"), _column(frame, "tracking_number"), strict=True
        )
        if bool(needed) and not (isinstance(number, str) and number.strip())
    }


def sap_net_deviations(frame: pd.DataFrame, tolerance_pct: Decimal = Decimal("2")) -> Mapping[int, str]:
    """Rows whose SAP order net amount is more than ``tolerance_pct`` off the hub's order net amount.

    SAP prices the order itself; a bigger gap means the agreed price did not reach SAP (a condition
    record overrode it), which finance would only find at billing.
    """
    found: dict[int, str] = {}
    for pos, hub_net, sap_net in zip(
        frame.index, _column(frame, "order_net_amount"), _column(frame, "sap_net_amount"), strict=True
    ):
        h, s = to_decimal(hub_net), to_decimal(sap_net)
        if h is None or s is None:
            continue
        if abs(s - h) > abs(h) * tolerance_pct / 100:
            found[int(pos)] = f"SAP net {s}, hub net {h}"
    return found


def unit_not_base(frame: pd.DataFrame) -> Mapping[int, str]:
    """Count lines in a unit other than the material's base unit (a sheet counted in packs)."""
    return {
        int(pos): f"counted in {unit}, the base unit is {base}"
        for pos, unit, base in zip(frame.index, _column(frame, "unit"), _column(frame, "base_unit"), strict=True)
        if isinstance(unit, str) and unit.strip() and isinstance(base, str) and base and unit.strip() != base
    }


def no_quantity(frame: pd.DataFrame) -> Mapping[int, str]:
    """Count lines with neither an absolute quantity nor a difference."""
    return {
        int(pos): "neither a counted quantity nor a difference"
        for pos, physical, difference in zip(
            frame.index, _column(frame, "physical"), _column(frame, "difference"), strict=True
        )
        if to_decimal(physical) is None and to_decimal(difference) is None
    }
