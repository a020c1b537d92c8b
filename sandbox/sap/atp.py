"""Available-to-promise: unrestricted stock, open confirmations, backorders and the delivery queue.

Available = unrestricted stock (type 01, storage location 0001) − quantities confirmed on items not
yet goods-issued, per material and plant; quality-inspection and blocked stock never count.
Confirmations are first come, first served. An item confirmed only in part keeps its remainder as a
backorder; a goods receipt re-confirms backorders at once in creation order (the nightly
rescheduling run, done immediately), each re-confirmation as a new schedule line (order quantity 0,
confirmed quantity and date set), the way SAP adds schedule lines — so the confirmed quantity of an
item is the sum over its schedule lines (also in ``ConfdDelivQtyInOrderQtyUnit`` on the item).
A confirmed schedule line puts its order in the delivery queue for confirmed date − 1 day.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.sap.masterdata import STORAGE_LOCATION, UNRESTRICTED, stock_row
from sandbox.sap.services import SALES_ORDER_ITEM
from sandbox.sap.store import Row, Store, later

CONFIRMATION_DAYS = 2
DELIVERY_LEAD = timedelta(days=1)  # delivery and goods issue this long before the confirmed date

MaterialPlant = tuple[str, str]


def day_of(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def confirmed_date(now: datetime) -> datetime:
    return day_of(now) + timedelta(days=CONFIRMATION_DAYS)


class Atp:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.stock = store.table("A_MatlStkInAcctMod")
        self.committed: dict[MaterialPlant, Decimal] = {}
        # Open backorder items per material and plant, oldest first (a dict keeps insertion order).
        self.backorders: dict[MaterialPlant, dict[tuple[str, str], None]] = {}
        self.queue: list[list[Any]] = []  # heap of [due, seq, order number, alive]
        self._seq = 0

    # -- stock --------------------------------------------------------------------------------------

    def unrestricted_row(self, material: str, plant: str) -> Row | None:
        return self.stock.get((material, plant, STORAGE_LOCATION, "", "", "", "", "", "", "", UNRESTRICTED))

    def maintained(self, material: str, plant: str) -> bool:
        return self.unrestricted_row(material, plant) is not None

    def available(self, material: str, plant: str) -> Decimal:
        row = self.unrestricted_row(material, plant)
        if row is None:
            return Decimal(0)
        return row["MatlWrhsStkQtyInMatlBaseUnit"] - self.committed.get((material, plant), Decimal(0))

    def _commit(self, key: MaterialPlant, quantity: Decimal) -> None:
        self.committed[key] = self.committed.get(key, Decimal(0)) + quantity

        def undo() -> None:
            self.committed[key] -= quantity

        self.store.journal.record(undo)

    def _backorder(self, key: MaterialPlant, item_key: tuple[str, str], add: bool) -> None:
        bucket = self.backorders.setdefault(key, {})
        if add:
            bucket[item_key] = None
            self.store.journal.record(lambda: bucket.pop(item_key, None))
        elif item_key in bucket:
            bucket.pop(item_key)
            # Re-inserting after an undo would move it to the end; backorders only shrink outside
            # transactions (receipts, deliveries), so the position is kept where it matters.
            self.store.journal.record(lambda: bucket.__setitem__(item_key, None))

    def schedule(self, due: datetime, order: str) -> None:
        self._seq += 1
        entry = [due, self._seq, order, True]
        heapq.heappush(self.queue, entry)
        self.store.journal.record(lambda: entry.__setitem__(3, False))

    def due(self, now: datetime) -> tuple[datetime, str] | None:
        """The next queued order whose delivery is due by ``now`` (removed from the queue)."""
        while self.queue and (not self.queue[0][3] or self.queue[0][0] <= now):
            due, _, order, alive = heapq.heappop(self.queue)
            if alive:
                return due, order
        return None

    def next_due(self) -> datetime | None:
        while self.queue and not self.queue[0][3]:
            heapq.heappop(self.queue)
        return self.queue[0][0] if self.queue else None

    # -- confirmations ------------------------------------------------------------------------------

    def confirm_new_item(self, order: Row, item: Row, requested: datetime, now: datetime) -> None:
        key = (item["Material"], item["ProductionPlant"])
        quantity = item["RequestedQuantity"]
        confirmed = min(quantity, max(Decimal(0), self.available(*key)))
        date = confirmed_date(now) if confirmed > 0 else requested
        self._add_line(item, "1", requested, date, quantity, confirmed)
        self.store.table("A_SalesOrderItem").update(item, {"ConfdDelivQtyInOrderQtyUnit": confirmed})
        if confirmed > 0:
            self._commit(key, confirmed)
            self.schedule(date - DELIVERY_LEAD, order["SalesOrder"])
        if confirmed < quantity:
            self._backorder(key, (item["SalesOrder"], item["SalesOrderItem"]), add=True)

    def _add_line(
        self, item: Row, number: str, requested: datetime, date: datetime, quantity: Decimal, confirmed: Decimal
    ) -> None:
        table = self.store.table("A_SalesOrderScheduleLine")
        unit = item["OrderQuantityUnit"]
        table.insert(
            table.new_row(
                SalesOrder=item["SalesOrder"],
                SalesOrderItem=item["SalesOrderItem"],
                ScheduleLine=number,
                RequestedDeliveryDate=requested,
                ConfirmedDeliveryDate=date,
                OrderQuantityUnit=unit,
                OrderQuantitySAPUnit=unit,
                OrderQuantityISOUnit=item["OrderQuantityISOUnit"],
                ScheduleLineOrderQuantity=quantity,
                ConfdOrderQtyByMatlAvailCheck=confirmed,
                OpenConfdDelivQtyInOrdQtyUnit=confirmed,
                CorrectedQtyInOrderQtyUnit=quantity,
            )
        )

    def release_item(self, item: Row) -> None:
        """Give back what an item holds (it is being deleted)."""
        key = (item["Material"], item["ProductionPlant"])
        open_confirmed = sum(
            (line["OpenConfdDelivQtyInOrdQtyUnit"] for line in self.lines_of(item)),
            Decimal(0),
        )
        if open_confirmed:
            self._commit(key, -open_confirmed)
        self._backorder(key, (item["SalesOrder"], item["SalesOrderItem"]), add=False)

    def lines_of(self, item: Row) -> list[Row]:
        return self.store.children(SALES_ORDER_ITEM, "to_ScheduleLine", item)

    def receive(self, material: str, plant: str, quantity: Decimal, now: datetime, unit: str) -> list[dict[str, Any]]:
        """Post a goods receipt into unrestricted stock, then re-confirm backorders FCFS."""
        row = self.unrestricted_row(material, plant)
        if row is None:
            self.stock.insert(stock_row(self.store, material, plant, UNRESTRICTED, quantity, unit))
        else:
            self.stock.update(row, {"MatlWrhsStkQtyInMatlBaseUnit": row["MatlWrhsStkQtyInMatlBaseUnit"] + quantity})
        return self.reconfirm(material, plant, now)

    def reconfirm(self, material: str, plant: str, now: datetime) -> list[dict[str, Any]]:
        key = (material, plant)
        items = self.store.table("A_SalesOrderItem")
        orders = self.store.table("A_SalesOrder")
        done = []
        for item_key in list(self.backorders.get(key, {})):
            available = self.available(material, plant)
            if available <= 0:
                break
            item = items.get(item_key)
            if item is None:
                self._backorder(key, item_key, add=False)
                continue
            lines = self.lines_of(item)
            confirmed = sum((line["ConfdOrderQtyByMatlAvailCheck"] for line in lines), Decimal(0))
            take = min(item["RequestedQuantity"] - confirmed, available)
            date = confirmed_date(now)
            number = str(max(int(line["ScheduleLine"]) for line in lines) + 1)
            self._add_line(item, number, lines[0]["RequestedDeliveryDate"], date, Decimal(0), take)
            items.update(item, {"ConfdDelivQtyInOrderQtyUnit": confirmed + take})
            self._commit(key, take)
            order = orders.get((item["SalesOrder"],))
            if order is not None:
                orders.update(
                    order,
                    {"LastChangeDateTime": later(order["LastChangeDateTime"], now), "LastChangeDate": day_of(now)},
                )
            self.schedule(date - DELIVERY_LEAD, item["SalesOrder"])
            if confirmed + take >= item["RequestedQuantity"]:
                self._backorder(key, item_key, add=False)
            done.append(
                {
                    "SalesOrder": item["SalesOrder"],
                    "SalesOrderItem": item["SalesOrderItem"],
                    "ScheduleLine": number,
                    "ConfdOrderQtyByMatlAvailCheck": str(take),
                }
            )
        return done

    def issue(self, material: str, plant: str, quantity: Decimal) -> None:
        """Goods issue of confirmed quantity: stock and open confirmations both go down."""
        row = self.unrestricted_row(material, plant)
        if row is not None:
            remaining = max(Decimal(0), row["MatlWrhsStkQtyInMatlBaseUnit"] - quantity)
            self.stock.update(row, {"MatlWrhsStkQtyInMatlBaseUnit": remaining})
        self._commit((material, plant), -quantity)

    def unissue(self, material: str, plant: str, quantity: Decimal) -> None:
        """A reversed goods issue: the stock is back, and confirmed but not issued again."""
        row = self.unrestricted_row(material, plant)
        if row is not None:
            self.stock.update(row, {"MatlWrhsStkQtyInMatlBaseUnit": row["MatlWrhsStkQtyInMatlBaseUnit"] + quantity})
        self._commit((material, plant), quantity)

    def release_quantity(self, material: str, plant: str, quantity: Decimal) -> None:
        """A confirmed quantity nobody will deliver any more (its item is rejected)."""
        self._commit((material, plant), -quantity)
