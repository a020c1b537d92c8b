"""The route scans of one SF waybill, worked out on the sandbox clock and seeded by the waybill number.

From the moment the warehouse hands the parcel over (its shipping time): 50 收件 10–40 minutes
later, 30 装车 at the origin hub 1–3 h after that, 31 到达 at the destination hub 8–14 h before
delivery, 44 派件 1–4 h before, and 80 签收 1–3 days after pickup. Only scans at or before ``now``
are returned, oldest first.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Any

from sandbox.qimen_xml import gmt8
from sandbox.waybills import Waybill

FALLBACK_DESTINATIONS = ("苏州市", "杭州市", "南京市", "广州市", "成都市", "武汉市")
HUBS = {"上海市": "上海青浦集散中心", "深圳市": "深圳华南集散中心", "广州市": "广州白云中转场"}


def _hub(city: str) -> str:
    return HUBS.get(city, f"{city.removesuffix('市')}中转场")


def scans(waybill: Waybill, seed: int) -> list[tuple[datetime, str, str, str]]:
    """Every scan the parcel will get: (time, opCode, acceptAddress, remark)."""
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}:sf:{waybill.number}".encode()).digest()[:8], "big"))
    origin = waybill.origin_city
    destination = waybill.destination_city or rng.choice(FALLBACK_DESTINATIONS)
    pickup = waybill.picked_up + timedelta(minutes=rng.uniform(10, 40))
    signed = pickup + timedelta(days=rng.uniform(1, 3))
    return [
        (pickup, "50", origin, "顺丰速运 已收取快件"),
        (
            pickup + timedelta(hours=rng.uniform(1, 3)),
            "30",
            _hub(origin),
            f"快件在【{_hub(origin)}】已装车,准备发往 【{_hub(destination)}】",
        ),
        (signed - timedelta(hours=rng.uniform(8, 14)), "31", _hub(destination), f"快件到达 【{_hub(destination)}】"),
        (signed - timedelta(hours=rng.uniform(1, 4)), "44", destination, "快件交给派件员，正在派送途中"),
        (signed, "80", destination, "已签收,感谢使用顺丰,期待再次为您服务"),
    ]


def routes(waybill: Waybill, seed: int, now: datetime) -> list[dict[str, Any]]:
    """The scans so far, as routeResps[].routes[] entries."""
    return [
        {"acceptTime": gmt8(at), "acceptAddress": address, "remark": remark, "opCode": op}
        for at, op, address, remark in scans(waybill, seed)
        if at <= now
    ]
