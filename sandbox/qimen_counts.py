"""The warehouse's stock counts (盘点): seeded drift from SAP's book, count documents, the pushes.

What the WMS pushes (logistics_report.md §3.5, §3.6), through the same pusher and outbox as its
confirms (signed per §1.3, retried with the same bytes, one ``outBizCode`` per message):

- ``taobao.qimen.inventory.report``, a cycle count per warehouse: ``adjustType`` CHECK, paged
  (:data:`PAGE_SIZE` items a page, one ``outBizCode`` ``<checkOrderCode>-P<n>`` per page, currentPage
  from 1), item ``quantity`` = the difference (counted − the WMS's stock before the count, signed),
  ``totalQty`` = the counted quantity on most items, ``batchCode`` on batch-kept items. The WMS then
  books its stock to the count (``totalQty`` is "on hand after the count").
- one ``inventory.report`` with ``adjustType`` ADJUST (the WMS already adjusted its stock) in WH-SZ01.
- ``taobao.qimen.stockchange.report`` for a receipt the WMS booked that SAP never did (orderType CGRK,
  goods in transit at the cut-off) and for damaged goods moved from ZP to CC (QTCK −n ZP / CCRK +n CC,
  one orderCode).

**Schedule** (sandbox clock): when switched on (``POST /_sandbox/qimen_wms/counts/schedule
{"enabled": true}``; off by default so the confirm pushes of existing set-ups stay as they were), a
cycle count of each warehouse every day at **18:30 GMT+8** (10:30 UTC), the first one at the first
18:30 after switching on. The drift's events come before the first count of a warehouse: the damage
move at 11:00 GMT+8 that day and the receipt at 18:00 (never before the switch-on instant). ``POST
/_sandbox/qimen_wms/counts`` counts now instead (the events, if still due, happen at that instant).

**Count subset** of a day: every drifted item of the warehouse, the batch-kept and frozen items, and a
seeded sample (by seed, warehouse and day) of other stocked items: 40 in WH-SH01 (so its count has 3
pages of 20), 12 in WH-SZ01 (1 page). ``totalQty`` is left out on about one item in five among the
sampled ones and on the first shrinkage item of WH-SH01, but only while the item's WMS stock is still its
seeded stock (nothing shipped or booked), so SAP's book + the difference is the counted quantity there.
Page 2 of the first multi-page count is pushed twice (same bytes, same outBizCode).

**Drift** (deterministic from the seed; :meth:`CountBook.drift_json`, ``GET
/_sandbox/qimen_wms/drift``, lists the seed's materials): candidates are the warehouse's materials with
ZP stock ≥ 6, no CC stock, sorted by number; a rng stream ``{seed}:qimen:counts:drift`` picks them:

========================  =========  ===================================================================
kind                      warehouse  what the hub sees against SAP's book (stock type 01 unless said)
========================  =========  ===================================================================
shrinkage (3 items)       WH-SH01    CHECK difference −1..−3 each (lost)
shrinkage (1 item)        WH-SZ01    CHECK difference −1..−3
mis_pick (A, B)           WH-SH01    A −n, B +n (n 1..4): B is the material after A in number order
uom_mix_up                WH-SH01    an item with pack size ≥ 5 and stock a multiple of it, ≥ 2 packs,
                                     counted in packs: totalQty = book / pack (difference book/pack −
                                     book); not a real loss: a recount finds the book quantity
unknown_item              WH-SH01    an itemCode SAP does not know (the seed's first unknown product),
                                     counted +2..+6
in_transit                WH-SH01    stockchange.report CGRK +n (n 1..3 packs) before the count; the count
                                     shows difference 0 and totalQty = book + n; SAP never booked it
damage (ZP→CC)            WH-SZ01    stockchange.report: 01 −n, 07 (CC) +n (n 1..3); the count shows 0
adjust                    WH-SZ01    inventory.report ADJUST, difference −1..−2 (already adjusted)
========================  =========  ===================================================================

Not drift: 2 batch-kept items in WH-SH01 (their ZP stock under one lot code each; SAP books no batch, so
sum per material) and frozen stock on 3 items in WH-SH01 and 1 in WH-SZ01 (1–5 units each, answered as
``lockQuantity``; physical = quantity + lockQuantity = book). Differences are stated against the seed's
book; shipments before the count move WMS stock and SAP's (at goods issue) alike.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sandbox.clock import iso_z
from sandbox.qimen_warehouse import OWNER_CODE, Message, StockKey, Warehouse, seeded_book
from sandbox.qimen_xml import GMT8, QimenError, document, gmt8
from sandbox.system import SandboxContext

INVENTORY_REPORT = "taobao.qimen.inventory.report"
STOCKCHANGE_REPORT = "taobao.qimen.stockchange.report"
COUNT_TIME = time(18, 30)  # GMT+8, the daily cut-off of the cycle count
DAMAGE_TIME = time(11, 0)
RECEIPT_TIME = time(18, 0)
PAGE_SIZE = 20
SAMPLE = {"WH-SH01": 40, "WH-SZ01": 12}
NO_TOTAL_RATE = 0.2
STOCK_TYPE = {"ZP": "01", "CC": "07", "JS": "07", "XS": "07"}  # ZT is in transit: not on hand
ADJUST_TYPES = ("CHECK", "ADJUST")


def _rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256(":".join([str(seed), "qimen", "counts", *map(str, parts)]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class Drift:
    """One seeded difference between the WMS's physical stock and SAP's book (at the seed)."""

    kind: str
    warehouse: str
    plant: str
    material: str
    inventory_type: str
    difference: int  # what the hub should find: physical (as reported) − SAP's book, in base units
    book: int  # SAP's seeded book of that material, plant and stock type
    reported_by: str  # the message that shows it
    note: str
    batch: str = ""
    true_difference: int | None = None  # when the report is wrong (uom_mix_up): the real difference

    @property
    def stock_type(self) -> str:
        return STOCK_TYPE[self.inventory_type]

    def json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "warehouse": self.warehouse,
            "plant": self.plant,
            "material": self.material,
            "inventory_type": self.inventory_type,
            "stock_type": self.stock_type,
            "batch": self.batch,
            "sap_book": self.book,
            "physical": self.book + self.difference,
            "difference": self.difference,
            "true_difference": self.difference if self.true_difference is None else self.true_difference,
            "reported_by": self.reported_by,
            "note": self.note,
        }


@dataclass
class Plan:
    """The seed's drift and the stock set-up that is not drift (batches, frozen units)."""

    drift: list[Drift]
    hidden: dict[StockKey, int]  # found at the count: shrinkage, mis-pick, unknown item
    uom: dict[tuple[str, str], int]  # (warehouse, item) → pack size it is miscounted in
    receipt: tuple[str, str, int]  # warehouse, item, units
    damage: tuple[str, str, int]
    adjust: tuple[str, str, int]
    batches: dict[tuple[str, str], str]  # (warehouse, item) → lot code of its ZP stock
    frozen: dict[StockKey, int]
    always: dict[str, list[str]]  # warehouse → items every count includes
    no_total_first: str  # the shrinkage item of WH-SH01 reported without totalQty


def plan_drift(ctx: SandboxContext, warehouse: Warehouse) -> Plan:
    """The seeded drift (see the module docstring), drawn in a fixed order from one rng stream."""
    data = ctx.data
    rng = _rng(ctx.seed, "drift")
    book = seeded_book(data)
    plant_of = {p.warehouse: p.code for p in data.plants if p.warehouse}
    packs = {m.number: m.pack_size for m in data.materials}

    def zp(wh: str, item: str) -> int:
        return book.get((plant_of[wh], item, "01"), 0)

    def candidates(wh: str) -> list[str]:
        plant = plant_of[wh]
        return sorted(
            m
            for (p, m, t), q in book.items()
            if p == plant and t == "01" and q >= 6 and book.get((plant, m, "07"), 0) == 0
        )

    used: set[tuple[str, str]] = set()

    def pick(wh: str, fits: Any = None) -> str:
        pool = [m for m in candidates(wh) if (wh, m) not in used and (fits is None or fits(m))]
        item = rng.choice(pool)
        used.add((wh, item))
        return item

    drift: list[Drift] = []
    hidden: dict[StockKey, int] = {}
    sh, sz = "WH-SH01", "WH-SZ01"

    def lose(kind: str, wh: str, item: str, delta: int, note: str) -> None:
        hidden[(wh, item, "ZP", "")] = hidden.get((wh, item, "ZP", ""), 0) + delta
        drift.append(Drift(kind, wh, plant_of[wh], item, "ZP", delta, zp(wh, item), "inventory.report CHECK", note))

    shrunk = [pick(sh) for _ in range(3)]
    for item in shrunk:
        lose("shrinkage", sh, item, -rng.randint(1, 3), "lost in the warehouse (shrinkage)")
    lose("shrinkage", sz, pick(sz), -rng.randint(1, 3), "lost in the warehouse (shrinkage)")

    in_plant = sorted(m.number for m in data.materials if plant_of[sh] in m.plants)
    a = pick(sh, lambda m: in_plant.index(m) + 1 < len(in_plant) and (sh, in_plant[in_plant.index(m) + 1]) not in used)
    b = in_plant[in_plant.index(a) + 1]
    used.add((sh, b))
    n = rng.randint(1, 4)
    lose("mis_pick", sh, a, -n, f"picked instead of {b} (neighbouring bin)")
    lose("mis_pick", sh, b, n, f"shipped instead of it: {a} (neighbouring bin)")

    uom_item = pick(sh, lambda m: packs[m] >= 5 and zp(sh, m) % packs[m] == 0 and zp(sh, m) >= 2 * packs[m])
    pack = packs[uom_item]
    drift.append(
        Drift(
            "uom_mix_up",
            sh,
            plant_of[sh],
            uom_item,
            "ZP",
            zp(sh, uom_item) // pack - zp(sh, uom_item),
            zp(sh, uom_item),
            "inventory.report CHECK",
            f"counted in packs of {pack}: totalQty = book / {pack}; a recount finds the book quantity",
            true_difference=0,
        )
    )

    unknown = data.unknown_products[0].code
    found = rng.randint(2, 6)
    hidden[(sh, unknown, "ZP", "")] = found
    drift.append(
        Drift(
            "unknown_item",
            sh,
            plant_of[sh],
            unknown,
            "ZP",
            found,
            0,
            "inventory.report CHECK",
            "not in SAP's material master",
        )
    )

    receipt_item = pick(sh)
    receipt_units = packs[receipt_item] * rng.randint(1, 3)
    drift.append(
        Drift(
            "in_transit",
            sh,
            plant_of[sh],
            receipt_item,
            "ZP",
            receipt_units,
            zp(sh, receipt_item),
            "stockchange.report CGRK; inventory.report CHECK difference 0 with totalQty",
            "received by the WMS at the cut-off, goods receipt not booked in SAP",
        )
    )

    damage_item = pick(sz)
    damaged = rng.randint(1, 3)
    drift.append(
        Drift(
            "damage",
            sz,
            plant_of[sz],
            damage_item,
            "ZP",
            -damaged,
            zp(sz, damage_item),
            "stockchange.report QTCK",
            "damaged goods moved ZP → CC in the WMS, not in SAP",
        )
    )
    drift.append(
        Drift(
            "damage",
            sz,
            plant_of[sz],
            damage_item,
            "CC",
            damaged,
            book.get((plant_of[sz], damage_item, "07"), 0),
            "stockchange.report CCRK",
            "damaged goods moved ZP → CC in the WMS, not in SAP",
        )
    )

    adjust_item = pick(sz)
    adjusted = -rng.randint(1, 2)
    drift.append(
        Drift(
            "adjust",
            sz,
            plant_of[sz],
            adjust_item,
            "ZP",
            adjusted,
            zp(sz, adjust_item),
            "inventory.report ADJUST",
            "adjusted in the WMS already (破损报废)",
        )
    )

    batches = {(sh, pick(sh)): f"L2611{n:02d}" for n in range(1, 3)}
    frozen: dict[StockKey, int] = {}
    for wh, count in ((sh, 3), (sz, 1)):
        for _ in range(count):
            item = pick(wh)
            frozen[(wh, item, "ZP", "")] = rng.randint(1, min(5, zp(wh, item)))

    always: dict[str, list[str]] = {sh: [], sz: []}
    for d in drift:
        if d.kind != "adjust" and d.material not in always[d.warehouse]:
            always[d.warehouse].append(d.material)
    for wh, item in [*batches, *((k[0], k[1]) for k in frozen)]:
        always[wh].append(item)
    return Plan(
        drift=drift,
        hidden=hidden,
        uom={(sh, uom_item): pack},
        receipt=(sh, receipt_item, receipt_units),
        damage=(sz, damage_item, damaged),
        adjust=(sz, adjust_item, adjusted),
        batches=batches,
        frozen=frozen,
        always={wh: sorted(items) for wh, items in always.items()},
        no_total_first=shrunk[0],
    )


@dataclass
class CountLine:
    item: str
    inventory_type: str
    batch: str
    difference: int
    total: int | None  # None: totalQty left out


@dataclass
class Count:
    code: str
    wms_id: str
    warehouse: str
    adjust_type: str
    at: datetime
    trigger: str  # scheduled | manual | drift
    lines: list[CountLine]
    messages: list[Message] = field(default_factory=list)


@dataclass
class StockChange:
    code: str
    warehouse: str
    at: datetime
    items: list[dict[str, Any]]
    message: Message


def _push_json(message: Message) -> dict[str, Any]:
    return {
        "outBizCode": message.out_biz_code,
        "ready": iso_z(message.ready),
        "delivered": message.delivered,
        "attempts": message.attempts,
        "duplicate": message.duplicate,
        "duplicate_sent": message.duplicate_sent,
        "last_answer": message.last_answer,
    }


class CountBook:
    """The counts of one WMS: its drift plan, schedule, and every count and stock change it made."""

    def __init__(self, ctx: SandboxContext, warehouse: Warehouse) -> None:
        self.ctx = ctx
        self.warehouse = warehouse
        self.plan = plan_drift(ctx, warehouse)
        stock = warehouse.stock
        for (wh, item), lot in self.plan.batches.items():
            units = stock.total.pop((wh, item, "ZP", ""), 0)
            stock.total[(wh, item, "ZP", lot)] = units
        stock.frozen.update(self.plan.frozen)
        self.initial = dict(stock.total)
        self.enabled_at: datetime | None = None
        self.next_count: datetime | None = None
        self.events_done: set[str] = set()  # warehouses whose drift events have happened
        self.counts: list[Count] = []
        self.changes: list[StockChange] = []
        self.duplicated = False
        warehouse.jobs.append(self)

    # -- schedule ---------------------------------------------------------------------------------

    def set_schedule(self, enabled: bool, now: datetime) -> None:
        self.enabled_at = now if enabled else None
        self.next_count = _next_at(now, COUNT_TIME) if enabled else None

    def schedule_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled_at is not None,
            "count_time": f"{COUNT_TIME:%H:%M} GMT+8",
            "next_count": iso_z(self.next_count) if self.next_count else None,
            "page_size": PAGE_SIZE,
        }

    def due(self, now: datetime) -> list[tuple[datetime, Any]]:
        """Warehouse job hook: the drift events and the daily counts due by ``now`` (taken once)."""
        if self.next_count is None or self.enabled_at is None:
            return []
        work: list[tuple[datetime, Any]] = []
        while self.next_count <= now:
            at = self.next_count
            for wh in sorted(SAMPLE):
                if wh not in self.events_done:
                    self.events_done.add(wh)
                    day = at.astimezone(GMT8).date()
                    for event_at, event in self._events(wh, day):
                        when = max(self.enabled_at, event_at)
                        work.append((when, lambda e=event, t=when: e(t)))
                work.append((at, lambda w=wh, t=at: self.count(w, t, trigger="scheduled")))
            self.next_count = at + timedelta(days=1)
        return work

    def _events(self, wh: str, day: date) -> list[tuple[datetime, Any]]:
        def at(moment: time) -> datetime:
            return datetime.combine(day, moment, GMT8)

        events: list[tuple[datetime, Any]] = []
        if self.plan.damage[0] == wh:
            events.append((at(DAMAGE_TIME), self._damage))
        if self.plan.receipt[0] == wh:
            events.append((at(RECEIPT_TIME), self._receipt))
        if self.plan.adjust[0] == wh:
            events.append((at(COUNT_TIME), self._adjust))
        return events

    def _ensure_events(self, wh: str, now: datetime) -> None:
        if wh not in self.events_done:
            self.events_done.add(wh)
            for _, event in self._events(wh, now.astimezone(GMT8).date()):
                event(now)

    # -- the drift's events -----------------------------------------------------------------------

    def _code(self, prefix: str, wh: str, at: datetime) -> str:
        return f"{prefix}{wh[-4:]}{at.astimezone(GMT8):%y%m%d}{len(self.counts) + len(self.changes) + 1:03d}"

    def _receipt(self, at: datetime) -> None:
        wh, item, units = self.plan.receipt
        self.warehouse.stock.add((wh, item, "ZP", ""), units)
        self._change(wh, at, "CG", [(item, "ZP", units, "CGRK", "采购入库")])

    def _damage(self, at: datetime) -> None:
        wh, item, units = self.plan.damage
        self.warehouse.stock.add((wh, item, "ZP", ""), -units)
        self.warehouse.stock.add((wh, item, "CC", ""), units)
        self._change(
            wh, at, "ZC", [(item, "ZP", -units, "QTCK", "破损转残次"), (item, "CC", units, "CCRK", "破损转残次")]
        )

    def _adjust(self, at: datetime) -> None:
        wh, item, delta = self.plan.adjust
        key = (wh, item, "ZP", "")
        before = self.warehouse.stock.total.get(key, 0)
        self.warehouse.stock.add(key, delta)
        line = CountLine(item, "ZP", "", self.warehouse.stock.total[key] - before, self.warehouse.stock.total[key])
        self._report(wh, at, "ADJUST", [line], trigger="drift")

    def _change(self, wh: str, at: datetime, prefix: str, rows: list[tuple[str, str, int, str, str]]) -> None:
        code = self._code(prefix, wh, at)
        out_biz = f"{code}-1"
        items = [
            {
                "ownerCode": OWNER_CODE,
                "warehouseCode": wh,
                "orderCode": code,
                "orderType": order_type,
                "outBizCode": out_biz,
                "itemCode": item,
                "inventoryType": inventory_type,
                "quantity": str(units),
                "changeTime": gmt8(at),
                "remark": remark,
            }
            for item, inventory_type, units, order_type, remark in rows
        ]
        message = self._message(code, out_biz, STOCKCHANGE_REPORT, document("request", {"items": items}), at)
        self.changes.append(StockChange(code, wh, at, items, message))

    # -- counts -----------------------------------------------------------------------------------

    def count_now(self, wh: str, items: list[str] | None, adjust_type: str, now: datetime) -> Count:
        """A count made now from the control API (the drift's events first, if still due)."""
        if wh not in SAMPLE:
            raise QimenError("warehouse-not-found", f"仓库不存在: {wh!r} (this WMS runs {', '.join(sorted(SAMPLE))})")
        if adjust_type not in ADJUST_TYPES:
            raise QimenError("invalid-field", f"adjustType must be one of {', '.join(ADJUST_TYPES)}")
        self.warehouse.advance(now)
        self._ensure_events(wh, now)
        return self.count(wh, now, trigger="manual", items=items, adjust_type=adjust_type)

    def subset(self, wh: str, day: date) -> list[str]:
        stocked = sorted({k[1] for k, q in self.warehouse.stock.total.items() if k[0] == wh and q > 0})
        always = self.plan.always[wh]
        others = [i for i in stocked if i not in always]
        sample = _rng(self.ctx.seed, "subset", wh, day.isoformat()).sample(others, min(SAMPLE[wh], len(others)))
        return sorted({*always, *sample})

    def count(
        self, wh: str, at: datetime, *, trigger: str, items: list[str] | None = None, adjust_type: str = "CHECK"
    ) -> Count:
        stock = self.warehouse.stock
        day = at.astimezone(GMT8).date()
        chosen = items if items is not None else self.subset(wh, day)
        sampled = set(chosen) - set(self.plan.always[wh])
        rng = _rng(self.ctx.seed, "totals", wh, day.isoformat())
        lines: list[CountLine] = []
        for item in chosen:
            keys = stock.keys_of(wh, item) or [(wh, item, "ZP", "")]
            keys += [k for k in self.plan.hidden if k[:2] == (wh, item) and k not in keys]
            for key in sorted(keys):
                before = stock.total.get(key, 0)
                untouched = before == self.initial.get(key, 0)
                counted = before + self.plan.hidden.pop(key, 0)
                pack = self.plan.uom.pop((wh, item), None) if key[2] == "ZP" else None
                if pack:
                    counted = before // pack
                counted = max(0, counted)
                no_total = untouched and (
                    (item in sampled and rng.random() < NO_TOTAL_RATE) or item == self.plan.no_total_first
                )
                stock.add(key, counted - before)
                lines.append(CountLine(item, key[2], key[3], counted - before, None if no_total else counted))
        return self._report(wh, at, adjust_type, lines, trigger=trigger)

    def _report(self, wh: str, at: datetime, adjust_type: str, lines: list[CountLine], *, trigger: str) -> Count:
        code = self._code("PD" if adjust_type == "CHECK" else "TZ", wh, at)
        count = Count(code, f"WMS{code}", wh, adjust_type, at, trigger, lines)
        pages = [lines[i : i + PAGE_SIZE] for i in range(0, len(lines), PAGE_SIZE)] or [[]]
        for n, page in enumerate(pages, 1):
            out_biz = f"{code}-P{n}"
            body = document(
                "request",
                {
                    "totalPage": str(len(pages)),
                    "currentPage": str(n),
                    "pageSize": str(PAGE_SIZE),
                    "warehouseCode": wh,
                    "ownerCode": OWNER_CODE,
                    "checkOrderCode": code,
                    "checkOrderId": count.wms_id,
                    "checkTime": gmt8(at),
                    "outBizCode": out_biz,
                    "adjustType": adjust_type,
                    "remark": "循环盘点" if adjust_type == "CHECK" else "库存调整",
                    "items": [
                        {
                            "itemCode": line.item,
                            "inventoryType": line.inventory_type,
                            "batchCode": line.batch or None,
                            "quantity": str(line.difference),
                            "totalQty": None if line.total is None else str(line.total),
                        }
                        for line in page
                    ],
                },
            )
            duplicate = not self.duplicated and len(pages) > 1 and n == 2
            self.duplicated = self.duplicated or duplicate
            count.messages.append(self._message(code, out_biz, INVENTORY_REPORT, body, at, duplicate=duplicate))
        self.counts.append(count)
        return count

    def _message(
        self, code: str, out_biz: str, method: str, body: bytes, at: datetime, *, duplicate: bool = False
    ) -> Message:
        outbox = self.warehouse.outbox
        message = Message(len(outbox) + 1, code, out_biz, None, body, at, duplicate, method=method)
        outbox.append(message)
        return message

    # -- the control API's view -------------------------------------------------------------------

    def count_json(self, count: Count) -> dict[str, Any]:
        return {
            "checkOrderCode": count.code,
            "checkOrderId": count.wms_id,
            "warehouseCode": count.warehouse,
            "adjustType": count.adjust_type,
            "checkTime": gmt8(count.at),
            "at": iso_z(count.at),
            "trigger": count.trigger,
            "totalPage": len(count.messages),
            "pageSize": PAGE_SIZE,
            "items": [
                {
                    "itemCode": line.item,
                    "inventoryType": line.inventory_type,
                    "batchCode": line.batch,
                    "quantity": line.difference,
                    "totalQty": line.total,
                }
                for line in count.lines
            ],
            "pages": [_push_json(m) for m in count.messages],
        }

    def state_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule_json(),
            "counts": [self.count_json(c) for c in self.counts],
            "stock_changes": [
                {
                    "orderCode": c.code,
                    "warehouseCode": c.warehouse,
                    "at": iso_z(c.at),
                    "items": c.items,
                    "push": _push_json(c.message),
                }
                for c in self.changes
            ],
        }

    def drift_json(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "seed": self.ctx.seed,
            "count_time": f"{COUNT_TIME:%H:%M} GMT+8",
            "drift": [d.json() for d in plan.drift],
            "batches": [{"warehouse": wh, "material": item, "batch": lot} for (wh, item), lot in plan.batches.items()],
            "frozen": [{"warehouse": k[0], "material": k[1], "lock_quantity": q} for k, q in plan.frozen.items()],
            "always_counted": plan.always,
        }


def _next_at(now: datetime, at: time) -> datetime:
    local = now.astimezone(GMT8)
    moment = datetime.combine(local.date(), at, GMT8)
    return moment if moment >= now else moment + timedelta(days=1)
