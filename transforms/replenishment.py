"""Replenishment proposals: the forecast turned into a stock policy, an order quantity, and the
plant's budget deciding what is bought first.

Safety stock comes from the forecast's own error, not the demand's spread: the chosen model's
one-bucket-ahead error sd (rolling origins) spread over the bucket's days, then over the lead time
with its variability (``transforms.stock_policy.safety_stock``). The order quantity is the (s,S)
policy's with MOQ and order multiple.

The budget is spent by priority: the fewest days of cover first (a part that will run out soonest),
then ABC class, then value. A proposal that does not fit whole is cut to the largest quantity that
still respects its MOQ and multiple; one that cannot be bought at all is cut to zero. Money left
after a cut goes on down the list, so a cheaper, less urgent part can still fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from transforms import stock_policy

ZERO = Decimal(0)
QTY = Decimal("0.001")
BUDGET_STATES = ("within", "partly_cut", "cut", "no_budget")
BudgetStatus = Literal["within", "partly_cut", "cut", "no_budget"]
ABC_RANK = {"A": 0, "B": 1, "C": 2}


def bucket_days(bucket: str) -> Decimal:
    """Days in one demand bucket (a month counts its mean 365.25 / 12 days)."""
    return Decimal(7) if bucket == "week" else Decimal("30.4375")


def per_day(forecast: Sequence[float], bucket: str, lead_time_days: Decimal, review_days: int = 7) -> Decimal:
    """Forecast demand per day over the lead time and one review period: the mean of the buckets that
    cover them (at least one, at most the horizon)."""
    if not forecast:
        return ZERO
    days = bucket_days(bucket)
    covering = max(1, min(len(forecast), math.ceil((lead_time_days + review_days) / days)))
    mean = sum(Decimal(str(v)) for v in forecast[:covering]) / covering
    return max(ZERO, mean / days)


def error_sd_per_day(error_sd_per_bucket: float, bucket: str) -> Decimal:
    """The forecast error sd of a bucket spread over its days, days taken as independent."""
    if error_sd_per_bucket <= 0:
        return ZERO
    days = bucket_days(bucket)
    return Decimal(str(error_sd_per_bucket)) / days.sqrt()


@dataclass(frozen=True)
class Candidate:
    """One material at one plant that the policy says to order."""

    material: str
    order_qty: Decimal
    unit_cost: Decimal
    moq: Decimal
    multiple: Decimal
    abc_class: str
    days_of_cover: Decimal | None  # None: no demand forecast (never runs out by forecast)


@dataclass(frozen=True)
class Allotment:
    candidate: Candidate
    priority: int  # 1 = first to be bought
    proposed_qty: Decimal
    value: Decimal
    status: BudgetStatus


def priority_key(c: Candidate) -> tuple:
    cover = c.days_of_cover if c.days_of_cover is not None else Decimal("Infinity")
    return (cover, ABC_RANK.get(c.abc_class, 3), -(c.order_qty * c.unit_cost), c.material)


def largest_fit(c: Candidate, money: Decimal) -> Decimal:
    """The largest quantity up to the candidate's whose cost is within ``money`` and that respects its
    MOQ and order multiple; zero when even the smallest lot costs more."""
    if c.unit_cost <= 0:
        return c.order_qty
    affordable = min(c.order_qty, money / c.unit_cost)
    multiple = c.multiple if c.multiple > 0 else Decimal(1)
    qty = (affordable / multiple).to_integral_value(rounding=ROUND_FLOOR) * multiple
    return qty if qty >= stock_policy.smallest_order(c.moq, c.multiple) and qty > 0 else ZERO


def allot(candidates: Iterable[Candidate], budget: Decimal | None) -> list[Allotment]:
    """Spend ``budget`` (None: no cap) on the candidates by priority; see the module docstring."""
    ranked = sorted(candidates, key=priority_key)
    left = budget
    out: list[Allotment] = []
    for rank, c in enumerate(ranked, start=1):
        value = (c.order_qty * c.unit_cost).quantize(Decimal("0.01"))
        if left is None:
            out.append(Allotment(c, rank, c.order_qty, value, "no_budget"))
            continue
        if value <= left:
            out.append(Allotment(c, rank, c.order_qty, value, "within"))
            left -= value
            continue
        qty = largest_fit(c, left)
        cut_value = (qty * c.unit_cost).quantize(Decimal("0.01"))
        out.append(Allotment(c, rank, qty, cut_value, "partly_cut" if qty > 0 else "cut"))
        left -= cut_value
    return out


@dataclass(frozen=True)
class Plan:
    policy: stock_policy.Policy
    position: Decimal
    order_qty: Decimal
    days_of_cover: Decimal | None


def plan(
    *,
    demand_per_day: Decimal,
    error_sd_per_day: Decimal,
    lead_time_days: Decimal,
    lead_time_sd_days: Decimal,
    service_level: Decimal,
    moq: Decimal,
    multiple: Decimal,
    max_stock: Decimal | None,
    order_cost: Decimal,
    holding_cost: Decimal,
    on_hand: Decimal,
    on_order: Decimal,
    reserved: Decimal,
    backordered: Decimal,
) -> Plan:
    """The policy from the forecast, the inventory position, and what to order now."""
    policy = stock_policy.policy_for(
        demand_mean_per_day=demand_per_day,
        demand_sd_per_day=error_sd_per_day,
        lead_time_days=lead_time_days,
        lead_time_sd_days=lead_time_sd_days,
        service_level=service_level,
        moq=moq,
        multiple=multiple,
        max_stock=max_stock,
        annual_demand=demand_per_day * 365,
        order_cost=order_cost,
        holding_cost=holding_cost,
    )
    position = stock_policy.inventory_position(on_hand, on_order, reserved, backordered)
    qty = stock_policy.order_quantity(policy, position) if demand_per_day > 0 else ZERO
    cover = (position / demand_per_day).quantize(QTY) if demand_per_day > 0 else None
    return Plan(policy, position, qty, cover)
