"""The limits of every field an order carries, from every system it reaches (issue 8 point 4).

One table, :data:`FIELD_LIMITS`: field → its limits, each with the place it comes from. The raw and
accepted gates (quality/suites.py) check each field against it, so a value that SAP, the hub's
columns or an e-mail header cannot hold is quarantined at the gate, naming the order, the line and
the limit, instead of failing a later step for the whole batch.

- Text: at most ``max_len`` characters; never NUL (PostgreSQL TEXT and JSONB cannot hold it) nor a
  lone surrogate (not UTF-8); ``single_line`` fields (identifiers, which SAP matches on or which go
  into e-mail headers) hold no control character at all (C0 incl. TAB/CR/LF, DEL, C1) and no U+FFFD
  (what the landing table stores for a NUL, hub/bulk.py); ``trimmed`` fields do not start or end
  with white space (SAP strips keys, so the duplicate lookup by the stored value would miss).
  Free texts (descriptions) have no length limit here: the SAP posting cuts them to
  ``SalesOrderItemText``'s 40 characters (README).
- Numbers: ``low`` (``low_strict``: excluded) ≤ value < ``below``, at most ``scale`` decimals,
  ``integer`` when the target is an integer. The lower bounds are checked by the GX ``between``
  rules of the suites (built from this table), the rest by :func:`row_violations`.

Nothing here imports pandas or GX: the property tests use :func:`violation` as their oracle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Text:
    max_len: int | None
    source: str
    single_line: bool = True
    trimmed: bool = False


@dataclass(frozen=True)
class Number:
    below: Decimal  # exclusive upper bound
    source: str
    low: Decimal = Decimal(0)
    low_strict: bool = False
    scale: int | None = None
    integer: bool = False


Limit = Text | Number

_E = Decimal(10)
# NUMERIC(18,4) money and NUMERIC(18,3) quantities of the hub (hub/schema.py MONEY, QUANTITY)
# hold |x| < 10^14 and < 10^15; SAP's Edm.Decimal(p,s) holds |x| < 10^(p-s) with s decimals.
FIELD_LIMITS: dict[str, Limit] = {
    # -- raw CRM order lines (gate raw_crm_orders) ------------------------------------------------
    "crm_order_id": Text(64, "hub crm_inbox/orders/order_lines.crm_order_id String(64)"),
    "order_number": Text(
        35,
        "SAP A_SalesOrder.PurchaseOrderByCustomer Edm.String MaxLength 35 (API_SALES_ORDER_SRV), "
        "the key of the duplicate lookup, so never cut; orders.order_number String(64); "
        "e-mail subject and headers (no CR/LF)",
        trimmed=True,
    ),
    "crm_account_id": Text(64, "hub orders.crm_account_id and customer_map.crm_account_id String(64)"),
    "product_ref": Text(64, "hub order_lines.crm_product_id and material_map.crm_product_id String(64)"),
    "crm_line_id": Text(64, "hub order_lines.crm_line_id String(64)"),
    "crm_status": Text(64, "hub orders.crm_status String(64)"),
    "unit": Text(
        3,
        "SAP A_SalesOrderItem.RequestedQuantityUnit MaxLength 3 (sent when the material has no base "
        "unit); hub order_lines.unit String(8)",
        trimmed=True,
    ),
    "description": Text(
        None,
        "free text: hub order_lines.description TEXT; SAP SalesOrderItemText MaxLength 40 is cut by "
        "the posting, not refused; only NUL (PostgreSQL) is refused",
        single_line=False,
    ),
    "line_no": Number(
        Decimal(100_000),
        "SAP A_SalesOrderItem.SalesOrderItem MaxLength 6 holds line_no × 10; hub order_lines.line_no Integer",
        low=Decimal(1),
        integer=True,
    ),
    "quantity": Number(
        _E**12,
        "SAP RequestedQuantity Edm.Decimal(15,3); hub QUANTITY NUMERIC(18,3)",
        low_strict=True,
        scale=3,
    ),
    "unit_price": Number(
        _E**14,
        "hub MONEY NUMERIC(18,4) (order_lines.unit_price); SAP ConditionRateValue Edm.Decimal(24,9) "
        "gets the net unit price",
        scale=4,
    ),
    "discount": Number(
        _E**14,
        "hub MONEY NUMERIC(18,4) (order_lines.discount; the net amount is quantised to the currency)",
    ),
    "tax_rate": Number(
        Decimal(1),
        "hub TAX_RATE NUMERIC(7,4), a fraction (0.13 = 13 %); a rate of 100 % or more is no VAT",
        scale=4,
    ),
    # -- canonical order lines (gate accepted_orders), from the master data ------------------------
    "customer_number": Text(
        10, "SAP A_SalesOrder.SoldToParty MaxLength 10; hub orders.customer_number String(32)", trimmed=True
    ),
    "material": Text(
        40, "SAP A_SalesOrderItem.Material MaxLength 40; hub order_lines.material String(40)", trimmed=True
    ),
}

# The amounts computed from the fields must fit the hub's MONEY columns too: a line's
# quantity × unit_price (order_lines.net_amount) and an order's gross amount (orders.gross_amount).
AMOUNT_BELOW = _E**14
AMOUNT_SOURCE = "hub MONEY NUMERIC(18,4) (order_lines.net_amount, orders.net_amount/gross_amount)"

RAW_TEXT_FIELDS = tuple(
    f
    for f in (
        "crm_order_id",
        "order_number",
        "crm_account_id",
        "product_ref",
        "crm_line_id",
        "crm_status",
        "unit",
        "description",
    )
)
RAW_NUMBER_FIELDS = ("line_no", "quantity", "unit_price", "discount", "tax_rate")
ACCEPTED_TEXT_FIELDS = ("customer_number", "material")

# C0 controls (TAB, CR, LF, NUL…), DEL, C1 controls, U+FFFD (a NUL replaced at landing), surrogates.
_SINGLE_LINE_BAD = re.compile("[\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")
_ANY_TEXT_BAD = re.compile("[\x00\ud800-\udfff]")
_NAMES = {"\x00": "NUL", "\r": "CR", "\n": "LF", "\t": "TAB", "\ufffd": "U+FFFD (a NUL replaced at landing)"}


def _char_name(ch: str) -> str:
    return _NAMES.get(ch, f"U+{ord(ch):04X}")


def _number(value: Any) -> Decimal | None:
    """``value`` as a finite Decimal; None when it is missing (the not-null rules judge that)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return None if not math.isfinite(value) else Decimal(repr(value))
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | Decimal):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType")


def _decimals(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def plain(number: Decimal) -> str:
    """A bound as people write it: 1E+12 → 10^12."""
    if number >= 10_000 and number == _E ** (len(str(int(number))) - 1):
        return f"10^{len(str(int(number))) - 1}"
    return str(number)


def describe(field: str, *, lower: bool = True) -> str:
    """The limits of ``field`` in words: the rule half of a quarantine sentence."""
    limit = FIELD_LIMITS[field]
    if isinstance(limit, Text):
        parts = [f"at most {limit.max_len} characters"] if limit.max_len is not None else []
        parts.append("on one line without control characters" if limit.single_line else "without NUL")
        if limit.trimmed:
            parts.append("without leading or trailing white space")
        return (
            f"{field} must be text of " + ", ".join(parts)
            if limit.max_len
            else f"{field} must be text " + ", ".join(parts)
        )
    parts = []
    if lower:
        parts.append(f"{'>' if limit.low_strict else '≥'} {limit.low}")
    parts.append(f"< {plain(limit.below)}")
    if limit.integer:
        parts.append("a whole number")
    elif limit.scale is not None:
        parts.append(f"with at most {limit.scale} decimals")
    return f"{field} must be " + ", ".join(parts)


def violation(field: str, value: Any, *, lower: bool = True) -> str | None:
    """What breaks ``field``'s limits in ``value`` (the observation, e.g. ``36 characters: 'SO-…'``),
    or None when it fits.

    A missing value fits (required fields have their not-null rule). ``lower=False`` leaves the
    lower bound of a number to the suite's GX ``between`` rule, so a record is not told twice.
    Never raises, whatever ``value`` is.
    """
    limit = FIELD_LIMITS[field]
    if _missing(value):
        return None
    if isinstance(limit, Text):
        return _text_violation(limit, value)
    return _number_violation(limit, value, lower=lower)


def _text_violation(limit: Text, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not text"
    if limit.max_len is not None and len(value) > limit.max_len:
        return f"{len(value)} characters: {value[:40]!r}…"
    bad = (_SINGLE_LINE_BAD if limit.single_line else _ANY_TEXT_BAD).search(value)
    if bad:
        return f"{_char_name(bad.group())} at position {bad.start() + 1}"
    if limit.trimmed and value != value.strip():
        return repr(value)
    return None


def _number_violation(limit: Number, value: Any, *, lower: bool) -> str | None:
    number = _number(value)
    if number is None:
        if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
            return f"{str(value)[:40]!r}, not a finite number"
        return f"a {type(value).__name__}, not a number"
    if lower and (number < limit.low or (limit.low_strict and number == limit.low)):
        return str(number)
    if abs(number) >= limit.below:
        return f"{number:.6g}"
    if limit.integer and number != number.to_integral_value():
        return str(number)
    if limit.scale is not None and _decimals(number) > limit.scale:
        return f"{_decimals(number)} decimals: {number}"
    return None


def row_violations(field: str, frame: pd.DataFrame, *, lower: bool = False) -> Mapping[int, str]:
    """{row position: what is wrong} for the rows whose ``field`` breaks its limits (a RowCheck)."""
    if field not in frame.columns:
        return {}
    found: dict[int, str] = {}
    for pos, value in zip(frame.index, frame[field].tolist(), strict=True):
        problem = violation(field, value, lower=lower)
        if problem:
            found[int(pos)] = problem
    return found


def amount_violations(frame: pd.DataFrame) -> Mapping[int, str]:
    """Rows whose line amount (quantity × unit_price) or whose order's gross amount (Σ lines ×
    (1 + tax rate, 100 % when unknown)) does not fit the hub's money columns. Rows with an
    unreadable or out-of-limit quantity or price are left to their own field checks."""
    if not {"quantity", "unit_price"} <= set(frame.columns):
        return {}
    n = len(frame)
    keys = frame["record_key"].tolist() if "record_key" in frame.columns else [None] * n
    rates = frame["tax_rate"].tolist() if "tax_rate" in frame.columns else [None] * n
    found: dict[int, str] = {}
    gross: dict[Any, Decimal] = {}
    rows_of: dict[Any, list[int]] = {}
    for pos, key, qty, price, rate in zip(
        frame.index, keys, frame["quantity"].tolist(), frame["unit_price"].tolist(), rates, strict=True
    ):
        q, p = _number(qty), _number(price)
        if q is None or p is None or violation("quantity", q) or violation("unit_price", p):
            continue
        amount = q * p
        if amount >= AMOUNT_BELOW:
            found[int(pos)] = f"quantity × unit_price = {amount:.6g}"
            continue
        r = _number(rate)
        r = r if r is not None and violation("tax_rate", r) is None else Decimal(1)
        if not _missing(key):
            gross[key] = gross.get(key, Decimal(0)) + amount * (1 + r)
            rows_of.setdefault(key, []).append(int(pos))
    for key, total in gross.items():
        if total >= AMOUNT_BELOW:
            for pos in rows_of[key]:
                found[pos] = f"the order's gross amount is about {total:.6g}"
    return found
