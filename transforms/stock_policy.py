"""Stock policies per material × plant: safety stock, reorder point, (s,S) min/max with MOQ, order
multiple and a maximum-stock cap, EOQ, the newsvendor level, and the daily low/over-stock verdict.
Formulas and test vectors: domain report §4.1. Pure functions, Decimal in and out.

Quantities are in the material's base unit, per day for demand and in days for lead times. The
normal quantile comes from :class:`statistics.NormalDist` (a float, good to ~1e-15, turned into a
Decimal through its repr); every other step is Decimal arithmetic, so the same inputs give the same
policy on every machine.

Rounding, and why:

- **Safety stock**: to 0.01 base unit, ROUND_HALF_UP. It is an intermediate the reader checks
  against the formula (16.45 in the reference vector); two places show it without false precision.
- **Reorder point**: ``d̄·L + SS`` (SS as shown, so the printed sum adds up) rounded **up** to a whole
  base unit: rounding down would give less cover than the service level asks for (52.45 → 53).
- **EOQ** (``Policy.eoq``): to a whole base unit, ROUND_HALF_UP: the cost curve is flat near its
  minimum, so the nearest unit costs least; :func:`eoq` itself returns the unrounded value.
- **Order quantities**: whole multiples of the order multiple, by the rule in :func:`round_order`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from statistics import NormalDist
from typing import Literal

Number = Decimal | int

CENT = Decimal("0.01")
ONE = Decimal(1)
ZERO = Decimal(0)
_PRECISION = 34  # digits for the square roots and products; far beyond any stock quantity

Verdict = Literal["low", "over", "ok"]


class PolicyError(ValueError):
    """An input a policy cannot be computed from (negative, missing, service level outside (0, 1))."""


def _dec(value: Number | None, name: str, *, allow_none: bool = False) -> Decimal | None:
    # Floats are refused: a quantity that went through binary floating point is not the one sent.
    if value is None:
        if allow_none:
            return None
        raise PolicyError(f"{name} is missing")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise PolicyError(f"{name} must be a Decimal or an int, not {type(value).__name__}")
    d = Decimal(value)
    if not d.is_finite() or d < 0:
        raise PolicyError(f"{name} must be a finite number ≥ 0, not {value}")
    return d


def _req(value: Number | None, name: str) -> Decimal:
    d = _dec(value, name)
    assert d is not None  # _dec raises on None unless allow_none
    return d


def _level(service_level: Number | str) -> Decimal:
    # Settings may write a service level as text ("0.95"); it is read exactly, never as a float.
    if isinstance(service_level, str):
        try:
            return _req(Decimal(service_level.strip()), "service_level")
        except InvalidOperation:
            raise PolicyError(f"service_level {service_level!r} is not a number") from None
    return _req(service_level, "service_level")


def _sqrt(value: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return value.sqrt()


def z_score(service_level: Number | str) -> Decimal:
    """The standard normal quantile Φ⁻¹(service level) for a cycle service level in (0, 1):
    0.95 → 1.6448536269514715 (tables print 1.6449)."""
    p = _level(service_level)
    if not (ZERO < p < ONE):
        raise PolicyError(f"service_level must lie strictly between 0 and 1, not {service_level}")
    return Decimal(repr(NormalDist().inv_cdf(float(p))))


def safety_stock(
    z: Decimal,
    demand_mean: Number,
    demand_sd: Number,
    lead_time: Number,
    lead_time_sd: Number | None = None,
) -> Decimal:
    """SS = z·√(L·σd² + d̄²·σL²): demand and lead-time variability (σL = 0 or None gives the
    demand-only formula). Rounded to 0.01 base unit, ROUND_HALF_UP; a negative z (service level
    below 50 %) gives no safety stock rather than a negative one."""
    d, sd, lt = _req(demand_mean, "demand_mean"), _req(demand_sd, "demand_sd"), _req(lead_time, "lead_time")
    lt_sd = _dec(lead_time_sd, "lead_time_sd", allow_none=True) or ZERO
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        raw = z * _sqrt(lt * sd * sd + d * d * lt_sd * lt_sd)
    return max(raw, ZERO).quantize(CENT, rounding=ROUND_HALF_UP)


def safety_stock_demand_only(z: Decimal, demand_sd: Number, lead_time: Number) -> Decimal:
    """SS = z·σd·√L (lead time taken as certain). Rounded as :func:`safety_stock`."""
    sd, lt = _req(demand_sd, "demand_sd"), _req(lead_time, "lead_time")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        raw = z * sd * _sqrt(lt)
    return max(raw, ZERO).quantize(CENT, rounding=ROUND_HALF_UP)


def reorder_point(demand_mean: Number, lead_time: Number, safety: Number) -> Decimal:
    """ROP = d̄·L + SS, rounded UP to a whole base unit (52.45 → 53)."""
    raw = _req(demand_mean, "demand_mean") * _req(lead_time, "lead_time") + _req(safety, "safety_stock")
    return raw.to_integral_value(rounding=ROUND_CEILING)


def eoq(annual_demand: Number, order_cost: Number, holding_cost: Number) -> Decimal:
    """Economic order quantity Q* = √(2·K·D / h), unrounded (34 digits): D per year, K per order,
    h per unit and year, K and h in the same currency. h must be positive."""
    d, k, h = _req(annual_demand, "annual_demand"), _req(order_cost, "order_cost"), _req(holding_cost, "holding_cost")
    if h == 0:
        raise PolicyError("holding_cost must be positive for an EOQ")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _sqrt(2 * k * d / h)


def newsvendor(mean: Number, sd: Number, underage_cost: Number, overage_cost: Number) -> Decimal:
    """The newsvendor order-up-to level S = μ + σ·Φ⁻¹(p / (p + h)) for normal demand N(μ, σ²), with p
    the cost of a unit short (underage) and h of a unit left over (overage). Unrounded."""
    mu, sigma = _req(mean, "mean"), _req(sd, "sd")
    p, h = _req(underage_cost, "underage_cost"), _req(overage_cost, "overage_cost")
    if p + h == 0:
        raise PolicyError("underage_cost + overage_cost must be positive")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return mu + sigma * z_score(p / (p + h))


def inventory_position(on_hand: Number, on_order: Number, reserved: Number, backorders: Number) -> Decimal:
    """IP = on hand + on order − reserved − backorders (may be negative: more owed than held)."""
    return (
        _req(on_hand, "on_hand")
        + _req(on_order, "on_order")
        - _req(reserved, "reserved")
        - _req(backorders, "backorders")
    )


def smallest_order(moq: Number | None, multiple: Number | None) -> Decimal:
    """The smallest quantity that may be ordered: the MOQ rounded up to the order multiple (an MOQ
    of 25 with a multiple of 10 means 30)."""
    m = _multiple(multiple)
    q = _dec(moq, "moq", allow_none=True) or ZERO
    return (q / m).to_integral_value(rounding=ROUND_CEILING) * m


def _multiple(multiple: Number | None) -> Decimal:
    m = _dec(multiple, "multiple", allow_none=True)
    return ONE if m is None or m == 0 else m


def round_order(
    need: Number,
    moq: Number | None,
    multiple: Number | None,
    room: Number | None = None,
) -> Decimal:
    """The quantity to order for a ``need`` (> 0), by this rule, in this order:

    1. raise the need to the MOQ;
    2. round UP to the order multiple (so the need is covered);
    3. if ``room`` is given (max-stock cap − inventory position) and the result exceeds it, cut it to
       the largest multiple that fits, but **never below the MOQ**: when the MOQ (rounded up to the
       multiple) does not fit under the cap, the MOQ wins and the order goes above the cap, because
       the supplier will not sell less and a shortage costs more than one over-stocked lot.

    A need ≤ 0 orders nothing.
    """
    n = Decimal(need)
    if n <= 0:
        return ZERO
    m = _multiple(multiple)
    floor_q = smallest_order(moq, m)
    q = (max(n, floor_q) / m).to_integral_value(rounding=ROUND_CEILING) * m
    if room is not None:
        cap_room = Decimal(room)
        if q > cap_room:
            fitting = (cap_room / m).to_integral_value(rounding=ROUND_FLOOR) * m
            q = max(fitting, floor_q)
    return q


@dataclass(frozen=True)
class Policy:
    """One material × plant's stock policy, in base units (the caller keys it by material and plant).

    ``min`` is s (= the reorder point) and ``max`` is S, the order-up-to level:
    S = s + max(EOQ, smallest order), capped by ``max_stock`` but never below s. The smallest order
    (MOQ rounded up to the multiple) keeps S − s at least one orderable lot, so an order at s does
    not overshoot S by construction. ``over_limit`` is where :func:`assess` calls the stock over:
    the max-stock cap when there is one (an order goes above it only when the MOQ forces it, see
    :func:`round_order`, and then the over-stock alert is right to say so), otherwise S plus the
    largest overshoot this policy's own order rounding can cause (max(smallest order, multiple)), so
    that without a cap ordering by the policy never raises an over-stock alert by itself.
    """

    safety_stock: Decimal
    reorder_point: Decimal
    min: Decimal
    max: Decimal
    moq: Decimal
    multiple: Decimal
    eoq: Decimal
    max_stock: Decimal | None
    over_limit: Decimal
    capped: bool  # S was cut by max_stock
    service_level: Decimal
    z: Decimal
    lead_time_demand: Decimal  # d̄·L

    def explain(self) -> str:
        """The numbers behind the policy, for an alert or a report line."""
        cap = f", capped by max stock {self.max_stock}" if self.capped else ""
        return (
            f"service level {self.service_level} (z {self.z.quantize(Decimal('0.0001'))}): "
            f"SS {self.safety_stock}; ROP = {self.lead_time_demand} + {self.safety_stock} → {self.reorder_point}; "
            f"EOQ {self.eoq}; s {self.min}, S {self.max}{cap}; MOQ {self.moq}, multiple {self.multiple}"
        )


def policy_for(
    demand_mean_per_day: Number,
    demand_sd_per_day: Number,
    lead_time_days: Number,
    lead_time_sd_days: Number | None,
    service_level: Number | str,
    moq: Number | None,
    multiple: Number | None,
    max_stock: Number | None,
    annual_demand: Number,
    order_cost: Number,
    holding_cost: Number,
) -> Policy:
    """The (s,S) policy of one material × plant: SS by the demand-and-lead-time formula, s = ROP, S =
    s + max(EOQ, smallest order) capped by ``max_stock`` (never below s). ``holding_cost`` is per unit
    and year, ``order_cost`` per order, ``annual_demand`` per year."""
    level = _level(service_level)
    z = z_score(level)
    d, lt = _req(demand_mean_per_day, "demand_mean_per_day"), _req(lead_time_days, "lead_time_days")
    ss = safety_stock(z, d, demand_sd_per_day, lt, lead_time_sd_days)
    rop = reorder_point(d, lt, ss)
    m = _multiple(multiple)
    q_min = smallest_order(moq, m)
    lot = eoq(annual_demand, order_cost, holding_cost).quantize(ONE, rounding=ROUND_HALF_UP)
    cap = _dec(max_stock, "max_stock", allow_none=True)
    up_to = rop + max(lot, q_min)
    capped = cap is not None and up_to > cap
    if capped:
        up_to = max(cap, rop)  # type: ignore[type-var]
    over = cap if cap is not None else up_to + max(q_min, m)
    return Policy(
        safety_stock=ss,
        reorder_point=rop,
        min=rop,
        max=up_to,
        moq=_dec(moq, "moq", allow_none=True) or ZERO,
        multiple=m,
        eoq=lot,
        max_stock=cap,
        over_limit=over,
        capped=capped,
        service_level=level,
        z=z,
        lead_time_demand=d * lt,
    )


def order_quantity(policy: Policy, position: Number) -> Decimal:
    """(s,S): when the inventory position is at or below s, order Q = S − IP, then apply MOQ, the
    order multiple and the max-stock cap by :func:`round_order`; otherwise nothing."""
    ip = Decimal(position)
    if ip > policy.min:
        return ZERO
    room = None if policy.max_stock is None else policy.max_stock - ip
    return round_order(max(policy.max - ip, ZERO) or policy.multiple, policy.moq, policy.multiple, room)


def assess(policy: Policy, position: Number) -> Verdict:
    """``low`` when the inventory position is at or below the reorder point, ``over`` when it is above
    the policy's ``over_limit`` (the max-stock cap, see :class:`Policy`), else ``ok``."""
    ip = Decimal(position)
    if ip <= policy.reorder_point:
        return "low"
    if ip > policy.over_limit:
        return "over"
    return "ok"
