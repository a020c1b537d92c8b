"""The emulated 3PL warehouse: the orders it holds, its stock, and the work it does on the sandbox clock.

Nothing happens by itself: :meth:`Warehouse.advance` works out everything due up to a given sandbox
instant (on every request and before every push round), in due-time order, as
``sandbox/sap/documents.py`` does for SAP. Each shipment leaving the warehouse becomes one
``taobao.qimen.stockout.confirm`` message in the outbox, built once (a retry resends the same bytes
and the same ``outBizCode``). ``actualQty`` in a confirm is the quantity of that shipment
(incremental), as the logistics contract decides; the final confirm (confirmType 0) closes the
order, and lists at 0 any line that never shipped.

Stock (:class:`Stock`) is held per warehouse, itemCode, inventoryType and batchCode, with a frozen
(冻结) part that inventory.query answers as ``lockQuantity``. It starts from SAP's seeded book
(:func:`seeded_book`): unrestricted (01) as ``ZP``, blocked (07) as ``CC``; SAP's quality-inspection
stock (02) sits in the plant's incoming inspection, not at the 3PL, so the WMS holds none. A shipment
takes its units from the line's inventoryType (batches in code order, frozen units last), never below
zero, exactly when it ships; shipping itself never depends on stock. Other work on the clock (the
counts of :mod:`sandbox.qimen_counts`) comes in through :attr:`Warehouse.jobs`, run between the
shipments in time order.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sandbox.clock import iso_z
from sandbox.qimen_orders import INVENTORY_TYPES, NewOrder
from sandbox.qimen_plan import CARRIERS, Plan, PlannedShipment, order_rng, plan_order, split_parcels, waybill_number
from sandbox.qimen_xml import GMT8, QimenError, document, gmt8
from sandbox.seed_data import SeedData
from sandbox.system import SandboxContext
from sandbox.waybills import Waybill, WaybillBook

OWNER_CODE = "PARTSHUB"
DUPLICATE_RATE = 0.1  # share of confirms the WMS pushes twice, as a real WMS occasionally does
CITY_ZH = {"Shanghai": "上海市", "Shenzhen": "深圳市"}
CONFIRM_METHOD = "taobao.qimen.stockout.confirm"
# SAP stock type → the WMS's inventoryType for the stock it holds (02 is not at the 3PL, see above).
WMS_TYPE = {"01": "ZP", "07": "CC"}


@dataclass
class Line:
    key: str
    order_line_no: str
    owner_code: str
    item_code: str
    item_name: str
    inventory_type: str
    plan_qty: int
    content: str
    shipped: int = 0


def seeded_book(data: SeedData) -> dict[tuple[str, str, str], int]:
    """SAP's seeded book stock: (plant, material, stock type) → quantity in base units.

    The same draws as ``sandbox.sap.masterdata.load_stock`` (its rng stream ``{seed}:sap:stock``):
    one unrestricted row per seeded level, and for about 4 % of them a quality (02) or blocked (07)
    row of 1–20 units. ``tests/sandbox/test_qimen_counts.py`` checks it against SAP's table."""
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{data.seed}:sap:stock".encode()).digest()[:8], "big"))
    book: dict[tuple[str, str, str], int] = {}
    for level in data.stock:
        book[(level.plant, level.material, "01")] = level.unrestricted
        draw = rng.random()
        if draw < 0.04:
            held = rng.randint(1, 20)
            key = (level.plant, level.material, "02" if draw < 0.025 else "07")
            book[key] = book.get(key, 0) + held
    return book


StockKey = tuple[str, str, str, str]  # warehouseCode, itemCode, inventoryType, batchCode ("" = none)


class Stock:
    """The WMS's system stock: quantities per :data:`StockKey`, and the frozen part of each."""

    def __init__(self) -> None:
        self.total: dict[StockKey, int] = {}
        self.frozen: dict[StockKey, int] = {}

    @classmethod
    def seeded(cls, data: SeedData) -> Stock:
        warehouses = {p.code: p.warehouse for p in data.plants if p.warehouse}
        stock = cls()
        for (plant, material, stock_type), quantity in seeded_book(data).items():
            if plant in warehouses and stock_type in WMS_TYPE and quantity > 0:
                stock.total[(warehouses[plant], material, WMS_TYPE[stock_type], "")] = quantity
        return stock

    def quantity(self, warehouse: str, item: str, inventory_type: str = "ZP") -> int:
        """All units of an item and type, over its batches, frozen ones included."""
        return sum(q for k, q in self.total.items() if k[:3] == (warehouse, item, inventory_type))

    def keys_of(self, warehouse: str, item: str) -> list[StockKey]:
        return sorted(k for k in self.total if k[:2] == (warehouse, item))

    def add(self, key: StockKey, delta: int) -> None:
        """Book ``delta`` units on ``key`` (never below zero; the frozen part never above the total)."""
        value = max(0, self.total.get(key, 0) + delta)
        self.total[key] = value
        if self.frozen.get(key, 0) > value:
            self.frozen[key] = value

    def take(self, warehouse: str, item: str, inventory_type: str, units: int) -> None:
        """Units leaving in a shipment: from the type's batches in code order, never below zero."""
        for key in [k for k in self.keys_of(warehouse, item) if k[2] == inventory_type] or [
            (warehouse, item, inventory_type, "")
        ]:
            if units <= 0:
                break
            moved = min(units, self.total.get(key, 0))
            self.add(key, -moved)
            units -= moved

    def rows(self) -> Iterator[tuple[StockKey, int, int]]:
        """(key, unfrozen, frozen) of every key, sorted."""
        for key in sorted(self.total):
            frozen = self.frozen.get(key, 0)
            yield key, self.total[key] - frozen, frozen


class Job(Protocol):
    """Scheduled work beside the shipments (the counts): what is due by ``now``, each run in time order."""

    def due(self, now: datetime) -> list[tuple[datetime, Callable[[], None]]]: ...


@dataclass
class Message:
    """One push: the body is fixed when it is built (a shipment leaving, a count page); attempts are
    counted on it. ``order_code`` is the document whose messages go out in order (delivery order,
    checkOrderCode, stock change document)."""

    seq: int
    order_code: str
    out_biz_code: str
    confirm_type: int | None
    body: bytes
    ready: datetime  # sandbox instant from which it may be pushed (shipping time + any late fault)
    duplicate: bool  # pushed a second time after its first success
    method: str = CONFIRM_METHOD
    delivered: bool = False
    duplicate_sent: bool = False
    attempts: int = 0
    next_try: float = 0.0  # monotonic seconds: the background pusher's backoff
    last_answer: dict[str, Any] | None = None


@dataclass
class Shipment:
    seq: int
    at: datetime
    confirm_type: int
    status: str
    quantities: dict[str, int]
    logistics_code: str
    logistics_name: str
    express_code: str | None
    packages: list[dict[str, Any]]
    message: Message


@dataclass
class Order:
    code: str
    wms_id: str
    warehouse: str
    order_type: str
    header: str
    total_lines: int | None
    created: datetime
    requested_carrier: str | None
    pickup: bool
    receiver_city: str
    receiver_mobile: str
    lines: dict[str, Line] = field(default_factory=dict)
    accepted: datetime | None = None
    canceled: datetime | None = None
    plan: Plan | None = None
    shipments: list[Shipment] = field(default_factory=list)

    def status(self, now: datetime) -> str:
        if self.canceled is not None:
            return "CANCELED"
        if self.shipments:
            return "DELIVERED" if self.shipments[-1].confirm_type == 0 else "PARTDELIVERED"
        if self.plan is None:
            return "NEW"
        return "PACKAGE" if self.plan.pack <= now else "PICK" if self.plan.pick <= now else "ACCEPT"


def _conflict(order: Order, why: str) -> QimenError:
    return QimenError("order-exists", f"单据已存在: {order.code} is held as {order.wms_id}; {why}")


class Warehouse:
    def __init__(self, ctx: SandboxContext, book: WaybillBook) -> None:
        self.ctx = ctx
        self.book = book
        self.plants = {p.warehouse: p for p in ctx.data.plants if p.warehouse}
        self.materials = {m.number: m for m in ctx.data.materials}
        self.stock = Stock.seeded(ctx.data)
        self.jobs: list[Job] = []
        self.orders: dict[str, Order] = {}
        self.outbox: list[Message] = []
        self.late_minutes = 0.0  # push fault: confirms held back this many sandbox minutes
        self._ids = 0

    # -- ERP → WMS --------------------------------------------------------------------------------

    def create(self, new: NewOrder, now: datetime) -> Order:
        """Take a stockout.create: a new order, a repeat (same order back), a continuation, or a conflict."""
        if new.warehouse not in self.plants:
            known = ", ".join(sorted(self.plants))
            raise QimenError(
                "warehouse-not-found", f"仓库不存在: warehouseCode {new.warehouse!r} (this WMS runs {known})"
            )
        for n, line in enumerate(new.lines, 1):
            if line.owner_code != OWNER_CODE:
                raise QimenError("owner-not-found", f"货主不存在: orderLines[{n}].ownerCode {line.owner_code!r}")
            if line.item_code not in self.materials:
                raise QimenError("item-not-found", f"货品不存在: orderLines[{n}].itemCode {line.item_code!r}")
        order = self.orders.get(new.code)
        if order is None:
            self._ids += 1
            order = Order(
                code=new.code,
                wms_id=f"WMSCK{now.astimezone(GMT8).strftime('%y%m%d')}{self._ids:05d}",
                warehouse=new.warehouse,
                order_type=new.order_type,
                header=new.header,
                total_lines=new.total_lines,
                created=now,
                requested_carrier=new.requested_carrier,
                pickup=new.pickup,
                receiver_city=new.receiver_city,
                receiver_mobile=new.receiver_mobile,
            )
            self.orders[new.code] = order
            added = list(new.lines)
        else:
            added = self._continuation(order, new)
        for line in added:
            order.lines[line.key] = Line(
                line.key,
                line.order_line_no,
                line.owner_code,
                line.item_code,
                line.item_name,
                line.inventory_type,
                line.plan_qty,
                line.content,
            )
        if order.plan is None and len(order.lines) >= (order.total_lines or 0):
            order.accepted = now
            order.plan = plan_order(
                self.ctx.seed,
                order.code,
                {key: line.plan_qty for key, line in order.lines.items()},
                now,
                requested=order.requested_carrier,
                pickup=order.pickup,
            )
        return order

    def _continuation(self, order: Order, new: NewOrder) -> list[Any]:
        if order.canceled is not None:
            raise QimenError("order-canceled", f"单据已取消: {order.code} ({order.wms_id}) was cancelled")
        if new.header != order.header:
            raise _conflict(order, "the deliveryOrder differs")
        added = []
        for line in new.lines:
            held = order.lines.get(line.key)
            if held is None:
                added.append(line)
            elif held.content != line.content:
                raise _conflict(order, f"line {line.key.split(':', 1)[-1][:60]} differs")
        if added and order.plan is not None:
            raise _conflict(order, "all its lines are in; new lines need a new order")
        if added and len(order.lines) + len(added) > (order.total_lines or 0):
            raise QimenError(
                "invalid-field",
                f"deliveryOrder.totalOrderLines: {order.total_lines} lines announced, "
                f"{len(order.lines) + len(added)} sent",
            )
        return added

    def cancel(self, warehouse: str, code: str, now: datetime) -> Order:
        order = self.orders.get(code)
        if order is None or order.warehouse != warehouse:
            raise QimenError("order-not-found", f"单据不存在: {code!r} in warehouse {warehouse!r}")
        if order.canceled is None:
            if order.shipments:
                raise QimenError(
                    "order-shipped",
                    f"单据已出库，不能取消: {code} ({order.wms_id}) left at {gmt8(order.shipments[0].at)}",
                )
            order.canceled = now
        return order

    def find(self, code: str, wms_id: str, warehouse: str) -> Order:
        order = self.orders.get(code) if code else next((o for o in self.orders.values() if o.wms_id == wms_id), None)
        if order is None or (wms_id and order.wms_id != wms_id) or (warehouse and order.warehouse != warehouse):
            raise QimenError("order-not-found", f"单据不存在: {code or wms_id!r}")
        return order

    # -- the warehouse's own work ----------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Do everything due by ``now`` in time order: shipments, and the jobs' work between them."""
        work = sorted((entry for job in self.jobs for entry in job.due(now)), key=lambda entry: entry[0])
        for at, run in work:
            self._ship_until(at)
            run()
        self._ship_until(now)

    def _ship_until(self, now: datetime) -> None:
        """Ship everything due by ``now``, oldest first."""
        due: list[tuple[datetime, int, Order, PlannedShipment]] = []
        for n, order in enumerate(self.orders.values()):
            if order.plan is None or order.canceled is not None:
                continue
            for planned in order.plan.shipments[len(order.shipments) :]:
                if planned.due > now:
                    break
                due.append((planned.due, n, order, planned))
        for _, _, order, planned in sorted(due, key=lambda d: (d[0], d[1])):
            self._ship(order, planned)

    def _ship(self, order: Order, planned: PlannedShipment) -> None:
        assert order.plan is not None
        seq = len(order.shipments) + 1
        rng = order_rng(self.ctx.seed, order.code, f"ship{seq}")
        code, name = CARRIERS[order.plan.carrier]
        pieces = [(key, line.item_code, planned.quantities.get(key, 0)) for key, line in order.lines.items()]
        packages: list[dict[str, Any]] = []
        for n, box in enumerate(split_parcels(pieces, order.plan.parcels), 1):
            express = None
            if order.plan.carrier != "PICKUP":
                express = waybill_number(rng, order.plan.carrier)
                while express in self.book:
                    express = waybill_number(rng, order.plan.carrier)
                self.book.add(
                    Waybill(
                        express,
                        order.plan.carrier,
                        order.code,
                        planned.due,
                        CITY_ZH.get(self.plants[order.warehouse].city, self.plants[order.warehouse].city),
                        order.receiver_city,
                        order.receiver_mobile,
                    )
                )
            weight = sum((self.materials[item].weight_kg * units for _, item, units in box), Decimal(0))
            packages.append(
                {
                    "logisticsName": name,
                    "expressCode": express,
                    "packageCode": f"{order.wms_id}-{seq}-{n}",
                    "weight": f"{max(weight, Decimal('0.1')):.2f}",
                    "items": [{"itemCode": item, "quantity": str(units)} for _, item, units in box],
                }
            )
        out_biz = f"{order.wms_id}-C{seq}"
        final = planned.confirm_type == 0
        rows = []
        for key, line in order.lines.items():
            qty = planned.quantities.get(key, 0)
            if qty == 0 and not (final and line.shipped == 0):
                continue
            line.shipped += qty
            self.stock.take(order.warehouse, line.item_code, line.inventory_type, qty)
            rows.append(
                {
                    "outBizCode": f"{out_biz}-{len(rows) + 1}",
                    "orderLineNo": line.order_line_no or None,
                    "itemCode": line.item_code,
                    "itemName": line.item_name or None,
                    "inventoryType": line.inventory_type,
                    "actualQty": str(qty),
                }
            )
        status = "DELIVERED" if final else "PARTDELIVERED"
        express_code = packages[0]["expressCode"] if packages else None
        body = document(
            "request",
            {
                "deliveryOrder": {
                    "totalOrderLines": str(len(rows)),
                    "deliveryOrderCode": order.code,
                    "deliveryOrderId": order.wms_id,
                    "warehouseCode": order.warehouse,
                    "orderType": order.order_type,
                    "status": status,
                    "outBizCode": out_biz,
                    "confirmType": str(planned.confirm_type),
                    "logisticsCode": code,
                    "logisticsName": name,
                    "expressCode": express_code,
                    "orderConfirmTime": gmt8(planned.due),
                },
                "packages": packages,
                "orderLines": rows,
            },
        )
        message = Message(
            seq=len(self.outbox) + 1,
            order_code=order.code,
            out_biz_code=out_biz,
            confirm_type=planned.confirm_type,
            body=body,
            ready=planned.due + timedelta(minutes=self.late_minutes),
            duplicate=rng.random() < DUPLICATE_RATE,
        )
        self.outbox.append(message)
        order.shipments.append(
            Shipment(
                seq,
                planned.due,
                planned.confirm_type,
                status,
                dict(planned.quantities),
                code,
                name,
                express_code,
                packages,
                message,
            )
        )

    # -- answers to the ERP's queries ---------------------------------------------------------------

    def stockout_view(self, order: Order, now: datetime) -> dict[str, Any]:
        """stockout.query: the order as it stands, actualQty summed over its shipments so far."""
        last = order.shipments[-1] if order.shipments else None
        return {
            "totalLines": str(len(order.lines)),
            "deliveryOrder": {
                "deliveryOrderCode": order.code,
                "deliveryOrderId": order.wms_id,
                "warehouseCode": order.warehouse,
                "orderType": order.order_type,
                "status": order.status(now),
                "logisticsCode": last.logistics_code if last else None,
                "logisticsName": last.logistics_name if last else None,
                "expressCode": last.express_code if last else None,
                "orderConfirmTime": gmt8(last.at) if last else None,
            },
            "packages": [package for shipment in order.shipments for package in shipment.packages],
            "orderLines": [
                {
                    "orderLineNo": line.order_line_no or None,
                    "itemCode": line.item_code,
                    "itemName": line.item_name or None,
                    "inventoryType": line.inventory_type,
                    "planQty": str(line.plan_qty),
                    "actualQty": str(line.shipped),
                }
                for line in order.lines.values()
            ],
        }

    def process_view(self, order: Order, now: datetime) -> dict[str, Any]:
        """orderprocess.query: the order's steps up to now."""
        steps: list[tuple[datetime, str, str]] = [(order.created, "NEW", "订单已接收")]
        if order.accepted is not None and order.plan is not None:
            steps.append((order.accepted, "ACCEPT", "仓库已接单"))
            steps.append((order.plan.pick, "PICK", "拣货"))
            steps.append((order.plan.pack, "PACKAGE", "打包"))
        steps += [(s.at, s.status, f"出库 {s.express_code or s.logistics_name}") for s in order.shipments]
        end = min(now, order.canceled) if order.canceled is not None else now
        processes = [
            {"processStatus": status, "operatorName": "WMS", "operateTime": gmt8(at), "operateInfo": info}
            for at, status, info in steps
            if at <= end
        ]
        if order.canceled is not None:
            processes.append({"processStatus": "CANCELED", "operatorName": "ERP", "operateTime": gmt8(order.canceled)})
        return {
            "orderProcess": {
                "orderCode": order.code,
                "orderId": order.wms_id,
                "orderType": order.order_type,
                "warehouseCode": order.warehouse,
                "processes": processes,
            }
        }

    def inventory(self, criteria: list[tuple[str, str, str]]) -> dict[str, Any]:
        """inventory.query (§3.7): per warehouse, item, inventoryType and batch, ``quantity`` the
        unfrozen units and ``lockQuantity`` the frozen ones; every type the item has when the criteria
        names none (a ZP row of 0 when it has nothing). An item SAP does not know is answered when the
        warehouse holds it (the WMS's own item master is wider)."""
        items = []
        for item, warehouse, inventory_type in criteria:
            if inventory_type and inventory_type not in INVENTORY_TYPES:
                continue
            for code in [warehouse] if warehouse else sorted(self.plants):
                if code not in self.plants:
                    continue
                keys = [k for k in self.stock.keys_of(code, item) if inventory_type in ("", k[2])]
                if not keys and (item in self.materials or self.stock.keys_of(code, item)):
                    keys = [(code, item, inventory_type or "ZP", "")]
                for key in sorted(keys, key=lambda k: (INVENTORY_TYPES.index(k[2]), k[3])):
                    frozen = self.stock.frozen.get(key, 0)
                    items.append(
                        {
                            "warehouseCode": code,
                            "itemCode": item,
                            "inventoryType": key[2],
                            "quantity": str(self.stock.total.get(key, 0) - frozen),
                            "lockQuantity": str(frozen),
                            "batchCode": key[3] or None,
                        }
                    )
        return {"items": items}

    # -- the control API's view ---------------------------------------------------------------------

    def order_json(self, order: Order, now: datetime) -> dict[str, Any]:
        plan = order.plan
        return {
            "deliveryOrderCode": order.code,
            "deliveryOrderId": order.wms_id,
            "warehouseCode": order.warehouse,
            "orderType": order.order_type,
            "status": order.status(now),
            "created": iso_z(order.created),
            "accepted": iso_z(order.accepted) if order.accepted else None,
            "canceled": iso_z(order.canceled) if order.canceled else None,
            "totalOrderLines": order.total_lines,
            "lines": [
                {
                    "orderLineNo": line.order_line_no,
                    "itemCode": line.item_code,
                    "planQty": line.plan_qty,
                    "shippedQty": line.shipped,
                }
                for line in order.lines.values()
            ],
            "plan": None
            if plan is None
            else {
                "kind": plan.kind,
                "carrier": plan.carrier,
                "parcels": plan.parcels,
                "pick": iso_z(plan.pick),
                "pack": iso_z(plan.pack),
                "shipments": [
                    {
                        "due": iso_z(s.due),
                        "confirmType": s.confirm_type,
                        "quantities": {order.lines[k].order_line_no or k: q for k, q in s.quantities.items()},
                    }
                    for s in plan.shipments
                ],
            },
            "shipments": [
                {
                    "outBizCode": s.message.out_biz_code,
                    "at": iso_z(s.at),
                    "confirmType": s.confirm_type,
                    "status": s.status,
                    "logisticsCode": s.logistics_code,
                    "logisticsName": s.logistics_name,
                    "expressCodes": [p["expressCode"] for p in s.packages if p["expressCode"]],
                    "quantities": {order.lines[k].order_line_no or k: q for k, q in s.quantities.items()},
                    "push": {
                        "ready": iso_z(s.message.ready),
                        "delivered": s.message.delivered,
                        "attempts": s.message.attempts,
                        "duplicate": s.message.duplicate,
                        "last_answer": s.message.last_answer,
                    },
                }
                for s in order.shipments
            ],
        }
