"""New orders arriving in the CRMs while the sandbox runs (``python -m sandbox up --live-orders-every S``).

One order every ``every`` seconds of sandbox time, from the instant the sandbox started: order *k* is
created at ``start + k·every`` and shows in Zoho CRM or Fxiaoke (55 / 45 %, as the seeded book) as
soon as the sandbox clock passes that instant, with created and modified time = that instant. So
``make up`` shows live flow: each 15-minute ``crm_order_sync`` run finds the orders of its interval.

Deterministic: order *k* is drawn from its own random stream of (seed, k), so the same seed gives the
same orders at the same instants whenever they are looked at. Off by default (tests and the demo
move a frozen clock by days).

Live orders are clean, as most real ones are (the seeded book already carries the bad records): a
customer of that CRM who is not blocked, one to three lines of parts the plant 1010 has on the
shelf and the seeded book never asked for (so no older backorder queues before them), minimum
order quantity or a multiple of it, list price in the customer's currency, sometimes 2 % off.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from sandbox import seed_vocab as vocab
from sandbox.ids import ObjectIds
from sandbox.seed_data import CN_TZ, FXIAOKE, ZOHO, ZOHO_SHARE, OrderLine, SalesOrder, SeedData
from sandbox.system import EmulatedSystem, SandboxContext

log = logging.getLogger("sandbox.live_orders")

LIVE_PLANT = "1010"  # the hub's default plant (config/hub.toml plants.default)


def _rng(seed: int, k: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}:live-orders:{k}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class _Stores:
    zoho: Any  # sandbox.zoho_records.ZohoStore
    fxiaoke: Any  # sandbox.fxiaoke_records.FxiaokeStore


class LiveOrders:
    """Adds the orders whose instant the sandbox clock has passed; :meth:`catch_up` does the work."""

    def __init__(self, ctx: SandboxContext, systems: list[EmulatedSystem], every: float) -> None:
        if every <= 0:
            raise ValueError(f"live orders every {every} s: give a positive number of seconds")
        by_name = {s.name: s for s in systems}
        self.ctx = ctx
        self.data: SeedData = ctx.data
        self.stores = _Stores(by_name[ZOHO].store, by_name[FXIAOKE].store)  # type: ignore[attr-defined]
        self.every = timedelta(seconds=every)
        self.start = ctx.clock.now()
        self.added = 0
        self.fxiaoke_ids = ObjectIds(ctx.seed, "live-orders")
        self.fxiaoke_seq = sum(1 for o in self.data.orders if o.crm == FXIAOKE)
        blocked = {c.number for c in self.data.customers if c.blocked}
        self.pools = {
            crm: [c for c in self.data.customers_of(crm) if c.number not in blocked] for crm in (ZOHO, FXIAOKE)
        }
        self.weights = {crm: list(accumulate(c.weight for c in pool)) for crm, pool in self.pools.items()}
        ordered = {line.material_number for o in self.data.orders for line in o.lines}
        shelf = {s.material: s.unrestricted for s in self.data.stock if s.plant == LIVE_PLANT}
        self.materials = [
            m for m in self.data.materials if m.number not in ordered and shelf.get(m.number, 0) >= 3 * m.moq
        ]
        if not self.materials:
            raise ValueError("no material on the shelf for live orders")

    def due(self, now: datetime) -> int:
        """How many live orders exist by ``now``."""
        return max(0, int((now - self.start) / self.every))

    def catch_up(self, now: datetime | None = None) -> list[SalesOrder]:
        """Create every order due by ``now`` (default: the sandbox clock) not created yet; returns them."""
        now = now or self.ctx.clock.now()
        made = []
        while self.added < self.due(now):
            self.added += 1
            made.append(self._add(self.added, self.start + self.added * self.every))
        return made

    def status(self) -> dict[str, Any]:
        return {"every_seconds": self.every.total_seconds(), "since": self.start.isoformat(), "added": self.added}

    async def run(self, tick: float = 1.0) -> None:
        """Catch up once a ``tick`` (real seconds) for as long as the server runs."""
        while True:
            try:
                self.catch_up()
            except Exception:  # a bug here must not stop the emulators; it shows in the server log
                log.exception("live orders: catching up failed")
            await asyncio.sleep(tick)

    # -- one order -----------------------------------------------------------------------------------
    def _add(self, k: int, at: datetime) -> SalesOrder:
        rng = _rng(self.ctx.seed, k)
        crm = ZOHO if rng.random() < ZOHO_SHARE else FXIAOKE
        customer = rng.choices(self.pools[crm], cum_weights=self.weights[crm])[0]
        if crm == ZOHO:
            crm_id = self.stores.zoho.new_id("Sales_Orders")
            number = f"SO-{100000 + int(crm_id[-8:])}"
        else:
            self.fxiaoke_seq += 1
            crm_id = self.fxiaoke_ids.next(at)
            number = f"{at.astimezone(CN_TZ):%Y%m%d}-{self.fxiaoke_seq:06d}"
        zh = customer.language == "zh"
        order = SalesOrder(
            number=number,
            crm=crm,
            crm_id=crm_id,
            customer_number=customer.number,
            currency=customer.currency,
            vat_rate=customer.vat_rate,
            order_time=at,
            modified_time=at,
            status="Created",
            requested_delivery_date=at.date() + timedelta(days=rng.choice([7, 10, 14])),
            purchase_order=f"CG{rng.randint(2026000, 2026999)}-L{k:03d}"
            if zh
            else f"46{rng.randint(10**7, 10**8 - 1)}",
            ship_to=customer.address,
            carrier=rng.choice(vocab.CARRIERS_CN if customer.currency == "CNY" else vocab.CARRIERS_INTL),
            description=rng.choice(vocab.ORDER_NOTES_CN if zh else vocab.ORDER_NOTES_EN) or None,
            sales_rep=customer.sales_rep,
            lines=[],
        )
        for line_no, material in enumerate(rng.sample(self.materials, rng.choice([1, 1, 2, 3])), start=1):
            line_id = self.stores.zoho.new_id("Ordered_Items") if crm == ZOHO else self.fxiaoke_ids.next(at)
            order.lines.append(
                OrderLine(
                    line_number=line_no,
                    material_number=material.number,
                    quantity=Decimal(material.moq * rng.choice([1, 1, 2])),
                    unit_price=material.list_prices[order.currency],
                    currency=order.currency,
                    discount_percent=Decimal(2) if rng.random() < 0.2 else Decimal(0),
                    description=None,
                    crm_id=line_id,
                )
            )
        (self.stores.zoho if crm == ZOHO else self.stores.fxiaoke).add_sales_order(order)
        self.data.orders.append(order)
        self.data.__dict__.pop("order_by_number", None)  # a cached lookup would miss the new order
        return order
