"""The words of a reorder reminder, in the customer's language (zh or en), for every CRM adapter.

Sales reads the reminder on the account: what the customer buys, how often, when last and how much,
and when the next purchase is expected, so the call can be made before the customer runs out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def subject(r: Any) -> str:
    """One line: the part and the expected date."""
    due = r.due_date.isoformat()
    if r.language == "zh":
        return f"补货提醒：{r.customer_name} 预计 {due} 再次采购 {r.material_name}（{r.material}）"
    return f"Reorder reminder: {r.customer_name} expected to buy {r.material_name} ({r.material}) by {due}"


def description(r: Any) -> str:
    """The rhythm the reminder rests on: interval, last purchase, typical quantity."""
    qty = f"{_qty(r.typical_qty)} {r.unit}".strip()
    if r.language == "zh":
        return (
            f"客户 {r.customer_name} 约每 {r.interval_days} 天采购一次 {r.material_name}（{r.material}）。\n"
            f"上次采购：{r.last_purchase.isoformat()}；常规数量：{qty}；预计下次采购：{r.due_date.isoformat()}。\n"
            "请在客户缺货前联系。"
        )
    return (
        f"{r.customer_name} buys {r.material_name} ({r.material}) about every {r.interval_days} days.\n"
        f"Last purchase: {r.last_purchase.isoformat()}; typical quantity: {qty}; "
        f"next purchase expected: {r.due_date.isoformat()}.\n"
        "Please call before the customer runs out."
    )
