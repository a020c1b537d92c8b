"""Subsequent documents: outbound deliveries with goods issue, then billing documents.

Worked out lazily: every request first runs :meth:`Documents.advance` up to the sandbox clock. When
an order's confirmed schedule lines come within a day of their confirmed date, one delivery per
order and shipping point is created for the due quantities. Document times are the due times, not
the moment a request noticed them, so the result does not depend on how often clients poll.
Numbers: deliveries 80000001…, billing documents 90000001…, accounting documents 9400000001….

Goods issue depends on who runs the plant (``Plant.warehouse`` in the seed, changeable through the
control API, module ``config``, field ``hub_goods_issue_plants``):

* **Own warehouse** (2010): goods issue is posted when the delivery is created (OverallGoodsMovement-
  Status C, movement type 601, stock reduced) and the delivery is billed a day later.
* **3PL warehouse** (1010, 1020): the delivery is created unpicked and not issued (picking and goods
  movement status A, ``ActualGoodsMovementDate`` null, stock untouched, no billing) and waits for
  the hub, which works it through API_OUTBOUND_DELIVERY_SRV;v=0002 as the metadata allows:

  - **Picked quantity**: ``SetPickingQuantityWithBaseQuantity(DeliveryDocument, DeliveryDocumentItem,
    ActualDeliveredQtyInBaseUnit, BaseUnit)`` sets (replaces) an item's picked quantity;
    ``PickOneItemWithBaseQuantity`` / ``PickOneItemWithSalesQuantity`` add to it [verify: SAP
    documents the first as "set", the others as "pick"]; ``PickOneItem`` / ``PickAllItems`` pick the
    full delivery quantity; ``ConfirmPicking…`` only confirm. The picked quantity never exceeds the
    delivery quantity (400 VL/367 [emulator's message number]); the unit must be the item's base unit
    (sales and base unit are the same for every seed material). The picked quantity is not a property
    of A_OutbDeliveryItem: it shows as ``PickingStatus`` (A none, B part, C all) per item and
    ``OverallPickingStatus`` on the header.
  - **Delivery quantity**: PATCH/MERGE of ``A_OutbDeliveryItem`` ``ActualDeliveryQuantity`` (updatable
    in the metadata; ``ActualDeliveredQtyInBaseUnit`` is taken as the same number) under
    ``If-Match`` = the ``DeliveryVersion`` ETag, before goods issue, between the picked quantity and
    the quantity the delivery was created with.
  - ``PostGoodsIssue(DeliveryDocument)`` posts goods issue for the picked quantity of every item, or
    the full delivery quantity where no picked quantity was ever set (the delivery quantity is adapted
    to the picked one, as SAP's "adopt picking quantity" does). ``ActualGoodsMovementDate``/``Time``
    from the sandbox clock, statuses C, stock reduced by what was issued, billing queued a day later
    for the issued quantity. What was not issued goes back to the order item: its schedule lines show
    it open again (``OpenConfdDelivQtyInOrdQtyUnit``, still confirmed) and its ``DeliveryStatus`` is
    B (or A). The emulator runs no delivery due list again for it [emulator]: the rest waits until the
    item is rejected. A delivery with nothing picked at all is refused (delete it instead). A second
    ``PostGoodsIssue`` answers 400 VL/609.
  - ``ReverseGoodsIssue(DeliveryDocument, ActualGoodsMovementDate)`` on an issued, unbilled delivery
    (of any plant) undoes the goods issue: statuses back to A (picking stays), stock back, billing
    dequeued. On a billed delivery: 400 VL/656; on one not issued: 400 VL/611 [emulator's number].
  - **Cancellation**: ``DELETE A_OutbDeliveryHeader('…')`` (the entity set is deletable in both
    editions of the metadata) with ``If-Match`` = ``DeliveryVersion``; only before goods issue
    (else 400 VL/610 [emulator's number]). The delivered quantities go back to the order items
    (open and confirmed again, as after a short issue); then ``SalesDocumentRjcnReason`` on the
    order items (PATCH A_SalesOrderItem) closes them and releases their confirmation.

Every change of a delivery moves its ``DeliveryVersion`` (the ETag, on header and items) and its
``LastChangeDate``, which is date-only as SAP's is: a reader by day sees the change that day.

Billing: an invoice F2 (BillingDocumentCategory L, SDDocumentCategory M) per issued delivery a day
after goods issue, one item per delivery item with the issued quantity, the order's price
(``ConditionRateValue`` / ``ConditionQuantity`` × quantity, to the currency's minor unit), tax at
the customer's rate per item; header totals are the sums of the items (TotalGrossAmount = net +
tax). ``Cancel`` adds a cancellation S1 (SDDocumentCategory N, ``CancelledBillingDocument``) with the
original's items and amounts (positive, as SAP sends them) and marks the original
``BillingDocumentIsCancelled``, moving its ``LastChangeDateTime``. With the control switch
``billing_anomalies`` on, a seeded few billings carry anomalies: price difference, over-billing,
currency mismatch, an order-related invoice without delivery (F1), a partial credit memo (G2) and
automatic cancellations; see :mod:`sandbox.sap.billing_anomalies`.
"""

from __future__ import annotations

import base64
import heapq
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.sap.atp import DELIVERY_LEAD, Atp, day_of
from sandbox.sap.billing_anomalies import CREDIT_MEMO_REASON, BillingAnomalies
from sandbox.sap.errors import ErrorDetail, SapError
from sandbox.sap.masterdata import STORAGE_LOCATION
from sandbox.sap.odata_json import currency_decimals, quantize
from sandbox.sap.services import DELIVERY_HEADER, SALES_ORDER, SALES_ORDER_ITEM
from sandbox.sap.store import Row, Store, later
from sandbox.seed_data import FX_FROM_CNY, SeedData

BILLING_LEAD = timedelta(days=1)
COMPANY_CODE = {"1000": "1000", "2000": "2000"}
DELIVERY_USER = "BATCH_SHP"
BILLING_USER = "BATCH_BIL"


def _money(value: Decimal, currency: str) -> Decimal:
    return quantize(value, currency_decimals(currency))


class Documents:
    def __init__(self, store: Store, atp: Atp, data: SeedData) -> None:
        self.store = store
        self.atp = atp
        self.data = data
        self.next_delivery = 80000001
        self.next_billing = 90000001
        self.next_accounting = 9400000001
        # Heap of [due, seq, delivery, alive]: a reversed goods issue takes its billing back.
        self.billing_queue: list[list[Any]] = []
        self.billing_entry: dict[str, list[Any]] = {}
        self._seq = 0
        # Plants whose goods issue waits for the hub (run by a 3PL warehouse).
        self.hub_plants: set[str] = {p.code for p in data.plants if p.warehouse}
        self.anomalies = BillingAnomalies(data.seed)
        # Follow-ups of seeded anomalies: heap of (due, seq, kind, billing document, ordinal, detail).
        self.followups: list[tuple[datetime, int, str, str, int, dict[str, Any]]] = []

    def advance(self, now: datetime) -> None:
        """Create every delivery and billing document due by ``now``, in due-time order."""
        while True:
            delivery_due = self.atp.next_due()
            billing_due = self._next_billing()
            followup_due = self.followups[0][0] if self.followups else None
            candidates = [t for t in (delivery_due, billing_due, followup_due) if t is not None and t <= now]
            if not candidates:
                return
            if followup_due is not None and followup_due == min(candidates) and followup_due != billing_due:
                self._follow_up(*heapq.heappop(self.followups))
            elif billing_due is not None and billing_due == min(candidates):
                due, _, delivery, _ = heapq.heappop(self.billing_queue)
                self.billing_entry.pop(delivery, None)
                self._bill(delivery, due)
            else:
                found = self.atp.due(now)
                if found is not None:
                    self._deliver(found[1], found[0])

    def _next_billing(self) -> datetime | None:
        while self.billing_queue and not self.billing_queue[0][3]:
            heapq.heappop(self.billing_queue)
        return self.billing_queue[0][0] if self.billing_queue else None

    def _queue_billing(self, delivery: str, due: datetime) -> None:
        self._seq += 1
        entry = [due, self._seq, delivery, True]
        heapq.heappush(self.billing_queue, entry)
        self.billing_entry[delivery] = entry

        def undo() -> None:
            entry[3] = False
            self.billing_entry.pop(delivery, None)

        self.store.journal.record(undo)

    def _dequeue_billing(self, delivery: str) -> None:
        entry = self.billing_entry.pop(delivery, None)
        if entry is None:
            return
        entry[3] = False

        def undo() -> None:
            entry[3] = True
            self.billing_entry[delivery] = entry

        self.store.journal.record(undo)

    # -- deliveries ---------------------------------------------------------------------------------

    def _deliver(self, order_id: str, due: datetime) -> None:
        orders = self.store.table("A_SalesOrder")
        order = orders.get((order_id,))
        if order is None:
            return
        by_plant: dict[str, list[tuple[Row, Decimal, list[Row]]]] = {}
        for item in self.store.children(SALES_ORDER, "to_Item", order):
            lines = [
                line
                for line in self.atp.lines_of(item)
                if line["OpenConfdDelivQtyInOrdQtyUnit"] > 0 and line["ConfirmedDeliveryDate"] - DELIVERY_LEAD <= due
            ]
            quantity = sum((line["OpenConfdDelivQtyInOrdQtyUnit"] for line in lines), Decimal(0))
            if quantity > 0:
                by_plant.setdefault(item["ProductionPlant"], []).append((item, quantity, lines))
        for plant, entries in sorted(by_plant.items()):
            self._delivery(order, plant, entries, due)
        self._order_status(order, due)

    def _delivery(self, order: Row, plant: str, entries: list[tuple[Row, Decimal, list[Row]]], due: datetime) -> None:
        headers = self.store.table("A_OutbDeliveryHeader")
        items = self.store.table("A_OutbDeliveryItem")
        lines_table = self.store.table("A_SalesOrderScheduleLine")
        number = str(self.next_delivery)
        self.next_delivery += 1
        day = day_of(due)
        # A 3PL plant's delivery waits for the hub's goods issue; the own warehouse issues at once.
        issued = plant not in self.hub_plants
        status = "C" if issued else "A"
        partners = {p["PartnerFunction"]: p["Customer"] for p in self.store.children(SALES_ORDER, "to_Partner", order)}
        weight = Decimal(0)
        for position, (item, quantity, lines) in enumerate(entries, start=1):
            material = self.data.material_by_number[item["Material"]]
            item_weight = quantize(material.weight_kg * quantity, 3)
            weight += item_weight
            items.insert(
                items.new_row(
                    DeliveryDocument=number,
                    DeliveryDocumentItem=f"{position * 10:06d}",
                    DeliveryDocumentItemCategory="TAN",
                    DeliveryDocumentItemText=item["SalesOrderItemText"],
                    Material=item["Material"],
                    Plant=plant,
                    StorageLocation=STORAGE_LOCATION,
                    ActualDeliveryQuantity=quantity,
                    DeliveryQuantityUnit=item["OrderQuantityUnit"],
                    ActualDeliveredQtyInBaseUnit=quantity,
                    BaseUnit=material.base_unit,
                    OriginalDeliveryQuantity=quantity,
                    ReferenceSDDocument=order["SalesOrder"],
                    ReferenceSDDocumentItem=f"{int(item['SalesOrderItem']):06d}",
                    ReferenceSDDocumentCategory="C",
                    GoodsMovementStatus=status,
                    GoodsMovementType="601",
                    PickingStatus=status,
                    SDProcessStatus=status,
                    DeliveryRelatedBillingStatus="A",
                    DistributionChannel=order["DistributionChannel"],
                    Division=order["OrganizationDivision"],
                    ItemGrossWeight=item_weight,
                    ItemNetWeight=item_weight,
                    ItemWeightUnit="KG",
                    CreationDate=day,
                    LastChangeDate=day,
                    DeliveryVersion="0001",
                )
            )
            if issued:
                self.atp.issue(item["Material"], plant, quantity)
            for line in lines:
                open_qty = line["OpenConfdDelivQtyInOrdQtyUnit"]
                lines_table.update(
                    line,
                    {
                        "DeliveredQtyInOrderQtyUnit": line["DeliveredQtyInOrderQtyUnit"] + open_qty,
                        "OpenConfdDelivQtyInOrdQtyUnit": Decimal(0),
                    },
                )
            self._item_delivery_status(item)
        headers.insert(
            headers.new_row(
                DeliveryDocument=number,
                DeliveryDocumentType="LF",
                SDDocumentCategory="J",
                ShippingPoint=plant,
                SoldToParty=order["SoldToParty"],
                ShipToParty=partners.get("SH", order["SoldToParty"]),
                SalesOrganization=order["SalesOrganization"],
                ShippingCondition=order["ShippingCondition"],
                IncotermsClassification=order["IncotermsClassification"],
                DeliveryPriority=entries[0][0]["DeliveryPriority"],
                CreatedByUser=DELIVERY_USER,
                CreationDate=day,
                CreationTime=due.time(),
                DocumentDate=day,
                DeliveryDate=day + DELIVERY_LEAD,
                PickingDate=day,
                LoadingDate=day,
                PlannedGoodsIssueDate=day,
                ActualGoodsMovementDate=day if issued else None,
                ActualGoodsMovementTime=due.time() if issued else None,
                LastChangeDate=day,
                OverallGoodsMovementStatus=status,
                OverallPickingStatus=status,
                OverallPickingConfStatus=status,
                OverallSDProcessStatus=status,
                OverallDelivReltdBillgStatus="A",
                HeaderGrossWeight=weight,
                HeaderNetWeight=weight,
                HeaderWeightUnit="KG",
                TransactionCurrency=order["TransactionCurrency"],
                DeliveryVersion="0001",
            )
        )
        if issued:
            self._queue_billing(number, due + BILLING_LEAD)

    def _item_delivery_status(self, item: Row) -> None:
        """An order item's DeliveryStatus from what its deliveries hold: A none, B part, C all (or the
        rest rejected)."""
        delivered = sum((line["DeliveredQtyInOrderQtyUnit"] for line in self.atp.lines_of(item)), Decimal(0))
        if delivered >= item["RequestedQuantity"] or (item["SalesDocumentRjcnReason"] and delivered > 0):
            status = "C"
        else:
            status = "B" if delivered > 0 else "A"
        self.store.table("A_SalesOrderItem").update(
            item, {"DeliveryStatus": status, "SDProcessStatus": "B" if delivered > 0 else "A"}
        )

    def _order_status(self, order: Row, moment: datetime) -> None:
        items = self.store.children(SALES_ORDER, "to_Item", order)
        # Rejected items without deliveries no longer count, as in SAP.
        counted = [i for i in items if not (i["SalesDocumentRjcnReason"] and i["DeliveryStatus"] == "A")] or items
        statuses = {item["DeliveryStatus"] for item in counted}
        delivery = "C" if statuses == {"C"} else "A" if statuses == {"A"} else "B"
        billed = all(item["SDProcessStatus"] == "C" for item in counted)
        self.store.table("A_SalesOrder").update(
            order,
            {
                "OverallDeliveryStatus": delivery,
                "OverallTotalDeliveryStatus": delivery,
                "OverallSDProcessStatus": "C" if billed else "B",
                "LastChangeDateTime": later(order["LastChangeDateTime"], moment),
                "LastChangeDate": day_of(moment),
            },
        )

    # -- the hub's work on a delivery ---------------------------------------------------------------

    def _existing_delivery(self, delivery: str) -> Row:
        header = self.store.table("A_OutbDeliveryHeader").get((delivery,))
        if header is None:
            raise SapError(404, "VL/001", f"Delivery {delivery[:10]} does not exist")
        return header

    def _items(self, header: Row) -> list[Row]:
        return self.store.children(DELIVERY_HEADER, "to_DeliveryDocumentItem", header)

    def _item(self, header: Row, item: str) -> Row:
        for row in self._items(header):
            if item.isdigit() and int(row["DeliveryDocumentItem"]) == int(item):
                return row
        raise SapError(404, "VL/002", f"Item {item[:6]} does not exist in delivery {header['DeliveryDocument']}")

    @staticmethod
    def _not_issued(header: Row, what: str) -> None:
        if header["OverallGoodsMovementStatus"] == "C":
            delivery = header["DeliveryDocument"]
            raise SapError(400, "VL/609", f"Goods movement for delivery {delivery} has already been posted; {what}")

    def _touch(self, header: Row, now: datetime, header_changes: dict[str, Any] | None = None) -> None:
        """A changed delivery: a new DeliveryVersion (its ETag, on header and items) and LastChangeDate."""
        version = f"{int(header['DeliveryVersion'] or 0) + 1:04d}"
        day = day_of(now)
        items = self.store.table("A_OutbDeliveryItem")
        for row in self._items(header):
            items.update(row, {"DeliveryVersion": version, "LastChangeDate": day})
        self.store.table("A_OutbDeliveryHeader").update(
            header, {**(header_changes or {}), "DeliveryVersion": version, "LastChangeDate": day}
        )

    @staticmethod
    def picked_of(row: Row) -> Decimal | None:
        """The picked quantity of a delivery item, None while nobody set one (not an API property)."""
        return row.get("_Picked")

    def _picking_statuses(self, header: Row) -> str:
        items = self.store.table("A_OutbDeliveryItem")
        statuses = set()
        for row in self._items(header):
            picked = self.picked_of(row) or Decimal(0)
            quantity = row["ActualDeliveryQuantity"]
            status = "C" if quantity > 0 and picked >= quantity else "B" if picked > 0 else "A"
            if quantity == 0:
                status = ""
            items.update(row, {"PickingStatus": status})
            if status:
                statuses.add(status)
        return "C" if statuses == {"C"} else "A" if statuses <= {"A"} else "B"

    def pick(self, function: str, args: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
        """The picking function imports (see the module docstring)."""
        header = self._existing_delivery(args["DeliveryDocument"])
        item_arg = args.get("DeliveryDocumentItem")
        rows = [self._item(header, item_arg)] if item_arg is not None else self._items(header)
        self._not_issued(header, "no picking")
        if function.startswith("ConfirmPicking"):
            self._touch(header, now, {"OverallPickingConfStatus": "C"})
            return []
        table = self.store.table("A_OutbDeliveryItem")
        for row in rows:
            current = self.picked_of(row) or Decimal(0)
            if function in ("PickOneItem", "PickAllItems"):
                target = row["ActualDeliveryQuantity"]
            else:
                if function == "PickOneItemWithSalesQuantity":
                    quantity, unit, unit_name = (
                        args["ActualDeliveryQuantity"], args["DeliveryQuantityUnit"], "DeliveryQuantityUnit"
                    )  # fmt: skip
                else:
                    quantity, unit, unit_name = args["ActualDeliveredQtyInBaseUnit"], args["BaseUnit"], "BaseUnit"
                if unit.upper() != row[unit_name].upper():
                    raise SapError(
                        400, "VL/369", f"Unit {unit[:3]} is not the unit {row[unit_name]} of item "
                        f"{int(row['DeliveryDocumentItem'])} [emulator: no unit conversion]",
                    )  # fmt: skip
                if quantity < 0:
                    raise SapError(400, "VL/368", "The picked quantity must not be negative")
                target = quantity if function == "SetPickingQuantityWithBaseQuantity" else current + quantity
            if target > row["ActualDeliveryQuantity"]:
                raise SapError(
                    400,
                    "VL/367",
                    f"Picked quantity {target.normalize():f} exceeds the delivery quantity "
                    f"{row['ActualDeliveryQuantity'].normalize():f} of item {int(row['DeliveryDocumentItem'])}",
                )
            table.update(row, {"_Picked": target})
        status = self._picking_statuses(header)
        self._touch(header, now, {"OverallPickingStatus": status})
        return []

    def change_item(self, row: Row, changes: dict[str, Any], now: datetime) -> None:
        """PATCH/MERGE of A_OutbDeliveryItem: a new delivery quantity moves the difference between the
        delivery and its order item; the other updatable fields are stored as sent."""
        header = self._existing_delivery(row["DeliveryDocument"])
        self._not_issued(header, "the delivery cannot be changed")
        quantity = changes.pop("ActualDeliveryQuantity", None)
        base = changes.pop("ActualDeliveredQtyInBaseUnit", None)
        if quantity is not None and base is not None and quantity != base:
            raise SapError(400, "VL/369", "ActualDeliveryQuantity and ActualDeliveredQtyInBaseUnit differ")
        quantity = quantity if quantity is not None else base
        table = self.store.table("A_OutbDeliveryItem")
        if quantity is not None and quantity != row["ActualDeliveryQuantity"]:
            item_no = int(row["DeliveryDocumentItem"])
            if quantity < 0 or quantity > row["OriginalDeliveryQuantity"]:
                raise SapError(
                    400, "VL/370", f"Delivery quantity of item {item_no} must be between 0 and "
                    f"{row['OriginalDeliveryQuantity'].normalize():f} [emulator: no increase beyond the original]",
                    [ErrorDetail("VL/370", "Delivery quantity out of range", "ActualDeliveryQuantity",
                                 "ActualDeliveryQuantity")],
                )  # fmt: skip
            if (self.picked_of(row) or Decimal(0)) > quantity:
                raise SapError(400, "VL/367", f"Item {item_no} is picked beyond {quantity.normalize():f}")
            self._move_to_order(row, row["ActualDeliveryQuantity"] - quantity, now)
            material = self.data.material_by_number[row["Material"]]
            weight = quantize(material.weight_kg * quantity, 3)
            changes.update(
                ActualDeliveryQuantity=quantity,
                ActualDeliveredQtyInBaseUnit=quantity,
                ItemGrossWeight=weight,
                ItemNetWeight=weight,
            )
        table.update(row, changes)
        status = self._picking_statuses(header)
        self._touch(header, now, {"OverallPickingStatus": status, **self._weights(header)})

    def change_header(self, header: Row, changes: dict[str, Any], now: datetime) -> None:
        """PATCH/MERGE of A_OutbDeliveryHeader: the updatable fields (dates, bill of lading, means of
        transport, weights) stored as sent, before goods issue and after it alike."""
        self._touch(header, now, changes)

    def _weights(self, header: Row) -> dict[str, Decimal]:
        weight = sum((row["ItemGrossWeight"] for row in self._items(header)), Decimal(0))
        return {"HeaderGrossWeight": weight, "HeaderNetWeight": weight}

    def _order_item(self, row: Row) -> Row:
        item = self.store.table("A_SalesOrderItem").get(
            (row["ReferenceSDDocument"], str(int(row["ReferenceSDDocumentItem"])))
        )
        if item is None:
            raise SapError(400, "VL/371", f"Sales order item of delivery item {row['DeliveryDocumentItem']} is gone")
        return item

    def _move_to_order(self, row: Row, quantity: Decimal, now: datetime) -> None:
        """``quantity`` (negative: back) leaves the delivery item for its order item's schedule lines:
        delivered there goes down, the open confirmed quantity up (still committed), so the order item
        shows the rest open; on a rejected item the confirmation is released instead."""
        if quantity == 0:
            return
        item = self._order_item(row)
        lines_table = self.store.table("A_SalesOrderScheduleLine")
        lines = self.atp.lines_of(item)
        rejected = bool(item["SalesDocumentRjcnReason"])
        if quantity > 0:
            rest = quantity
            for line in reversed(lines):  # the last delivered first
                back = min(rest, line["DeliveredQtyInOrderQtyUnit"])
                if back <= 0:
                    continue
                lines_table.update(
                    line,
                    {
                        "DeliveredQtyInOrderQtyUnit": line["DeliveredQtyInOrderQtyUnit"] - back,
                        "OpenConfdDelivQtyInOrdQtyUnit": line["OpenConfdDelivQtyInOrdQtyUnit"]
                        + (0 if rejected else back),
                    },
                )
                rest -= back
            if rejected:
                self.atp.release_quantity(item["Material"], row["Plant"], quantity)
        else:
            rest = -quantity
            for line in lines:  # take back what is open and confirmed, oldest first
                take = min(rest, line["OpenConfdDelivQtyInOrdQtyUnit"])
                if take <= 0:
                    continue
                lines_table.update(
                    line,
                    {
                        "DeliveredQtyInOrderQtyUnit": line["DeliveredQtyInOrderQtyUnit"] + take,
                        "OpenConfdDelivQtyInOrdQtyUnit": line["OpenConfdDelivQtyInOrdQtyUnit"] - take,
                    },
                )
                rest -= take
            if rest > 0:
                raise SapError(
                    400,
                    "VL/372",
                    f"Only {(-quantity - rest).normalize():f} more of order item {int(item['SalesOrderItem'])} "
                    "is confirmed and open",
                )
        self._item_delivery_status(item)
        order = self.store.table("A_SalesOrder").get((item["SalesOrder"],))
        if order is not None:
            self._order_status(order, now)

    def post_goods_issue(self, delivery: str, now: datetime) -> list[dict[str, Any]]:
        header = self._existing_delivery(delivery)
        if header["OverallGoodsMovementStatus"] == "C":
            raise SapError(400, "VL/609", f"Goods movement for delivery {delivery} has already been posted")
        rows = self._items(header)
        issue = {}
        for row in rows:
            picked = self.picked_of(row)
            issue[row["DeliveryDocumentItem"]] = row["ActualDeliveryQuantity"] if picked is None else picked
        if not any(quantity > 0 for quantity in issue.values()):
            raise SapError(
                400, "VL/373", f"Delivery {delivery} has nothing picked to post; delete the delivery instead"
            )
        table = self.store.table("A_OutbDeliveryItem")
        day = day_of(now)
        for row in rows:
            quantity = issue[row["DeliveryDocumentItem"]]
            self._move_to_order(row, row["ActualDeliveryQuantity"] - quantity, now)
            material = self.data.material_by_number[row["Material"]]
            weight = quantize(material.weight_kg * quantity, 3)
            status = "C" if quantity > 0 else ""  # an item with nothing in it is not relevant
            table.update(
                row,
                {
                    "ActualDeliveryQuantity": quantity,
                    "ActualDeliveredQtyInBaseUnit": quantity,
                    "ItemGrossWeight": weight,
                    "ItemNetWeight": weight,
                    "_Picked": quantity,
                    "GoodsMovementStatus": status,
                    "PickingStatus": status,
                    "SDProcessStatus": status or "C",
                    "DeliveryRelatedBillingStatus": "A" if quantity > 0 else "",
                },
            )
            if quantity > 0:
                self.atp.issue(row["Material"], row["Plant"], quantity)
        self._touch(
            header,
            now,
            {
                "ActualGoodsMovementDate": day,
                "ActualGoodsMovementTime": now.time().replace(microsecond=0),
                "OverallGoodsMovementStatus": "C",
                "OverallPickingStatus": "C",
                "OverallPickingConfStatus": "C",
                "OverallSDProcessStatus": "C",
                **self._weights(header),
            },
        )
        self._queue_billing(delivery, now + BILLING_LEAD)
        order = self.store.table("A_SalesOrder").get((rows[0]["ReferenceSDDocument"],))
        if order is not None:
            self._order_status(order, now)
        return []

    def reverse_goods_issue(self, delivery: str, now: datetime) -> list[dict[str, Any]]:
        """Reversal of an issued, unbilled delivery: stock back, statuses A, billing taken back."""
        header = self._existing_delivery(delivery)
        if header["OverallDelivReltdBillgStatus"] == "C":
            raise SapError(
                400, "VL/656", f"Delivery {delivery} has been billed: cancel the billing document before reversing"
            )
        if header["OverallGoodsMovementStatus"] != "C":
            raise SapError(
                400, "VL/611", f"Goods movement for delivery {delivery} has not been posted; nothing to reverse"
            )
        table = self.store.table("A_OutbDeliveryItem")
        for row in self._items(header):
            if row["GoodsMovementStatus"] != "C":
                continue
            self.atp.unissue(row["Material"], row["Plant"], row["ActualDeliveryQuantity"])
            table.update(row, {"GoodsMovementStatus": "A", "SDProcessStatus": "A"})
        self._touch(
            header,
            now,
            {
                "ActualGoodsMovementDate": None,
                "ActualGoodsMovementTime": None,
                "OverallGoodsMovementStatus": "A",
                "OverallSDProcessStatus": "A",
            },
        )
        self._dequeue_billing(delivery)
        return [
            {
                "DeliveryDocument": delivery,
                "SystemMessageType": "S",
                "SystemMessageIdentification": "VL",
                "SystemMessageNumber": "311",
                "SystemMessageVariable1": delivery,
            }
        ]

    def delete_delivery(self, header: Row, now: datetime) -> None:
        """DELETE of an un-issued delivery: its quantities go back to the order items."""
        delivery = header["DeliveryDocument"]
        if header["OverallGoodsMovementStatus"] != "A":
            raise SapError(400, "VL/610", f"Delivery {delivery} cannot be deleted: goods movement has been posted")
        items = self.store.table("A_OutbDeliveryItem")
        for row in self._items(header):
            self._move_to_order(row, row["ActualDeliveryQuantity"], now)
            items.delete(row)
        self.store.table("A_OutbDeliveryHeader").delete(header)

    # -- billing ------------------------------------------------------------------------------------

    def cancel_billing(self, billing_document: str, now: datetime) -> list[dict[str, Any]]:
        """``Cancel``: a cancellation document S1 (of a credit memo: S2) with the next billing number,
        the original's items and amounts and its own accounting document, ``CancelledBillingDocument``
        pointing back; the original is marked cancelled and its LastChangeDateTime moves."""
        table = self.store.table("A_BillingDocument")
        original = table.get((billing_document,))
        if original is None:
            raise SapError(404, "VF/001", f"Billing document {billing_document[:10]} does not exist")
        if original["BillingDocumentIsCancelled"] or original["BillingDocumentType"] in ("S1", "S2"):
            raise SapError(400, "VF/037", f"Billing document {billing_document} is already cancelled")
        number = str(self.next_billing)
        self.next_billing += 1
        self.store.journal.record(lambda: setattr(self, "next_billing", self.next_billing - 1))
        accounting = str(self.next_accounting)  # the cancellation posts its own accounting document
        self.next_accounting += 1
        self.store.journal.record(lambda: setattr(self, "next_accounting", self.next_accounting - 1))
        day = day_of(now)
        table.insert(
            dict(
                original,
                BillingDocument=number,
                # a credit memo's cancellation is S2 (category S), an invoice's S1 (N)
                BillingDocumentType="S2" if original["SDDocumentCategory"] == "O" else "S1",
                SDDocumentCategory="S" if original["SDDocumentCategory"] == "O" else "N",
                CancelledBillingDocument=billing_document,
                AccountingDocument=accounting,
                FiscalYear=str(day.year),
                BillingDocumentDate=day,
                CreationDate=day,
                CreationTime=now.time().replace(microsecond=0),
                LastChangeDate=day,
                LastChangeDateTime=now,
            )
        )
        items = self.store.table("A_BillingDocumentItem")
        for item in items.lookup("BillingDocument", billing_document):
            items.insert(dict(item, BillingDocument=number, CreationDate=day))
        table.update(
            original,
            {
                "BillingDocumentIsCancelled": True,
                "LastChangeDate": day,
                "LastChangeDateTime": later(original["LastChangeDateTime"], now),
            },
        )
        return [
            {
                "BillingDocument": billing_document,
                "CancellationBillingDocument": number,
                "SystemMessageType": "S",
                "SystemMessageIdentification": "VF",
                "SystemMessageNumber": "311",
                "SystemMessageText": f"Document {number} has been saved",
                "SystemMessageVariable1": number,
            }
        ]

    def _bill(self, delivery_id: str, due: datetime) -> None:
        headers = self.store.table("A_OutbDeliveryHeader")
        delivery = headers.get((delivery_id,))
        if delivery is None:
            return
        delivery_items = self.store.children(DELIVERY_HEADER, "to_DeliveryDocumentItem", delivery)
        order_id = delivery_items[0]["ReferenceSDDocument"]
        order = self.store.table("A_SalesOrder").get((order_id,))
        if order is None:
            return
        order_items = self.store.table("A_SalesOrderItem")
        # (delivery item, order item, quantity to bill): what an order-related invoice billed already
        # is not billed again [emulator].
        lines: list[tuple[Row, Row, Decimal]] = []
        for d_item in delivery_items:
            item = order_items.get((order_id, str(int(d_item["ReferenceSDDocumentItem"]))))
            assert item is not None
            quantity = d_item["ActualDeliveryQuantity"]
            ahead = item.get("_OrderBilled") or Decimal(0)
            if ahead > 0:
                used = min(ahead, quantity)
                order_items.update(item, {"_OrderBilled": ahead - used})
                quantity -= used
            lines.append((d_item, item, quantity))
        kinds = self.anomalies.next_kinds()
        billable = [line for line in lines if line[2] > 0]
        kind = None
        if billable:
            for candidate in kinds:
                if self._anomaly_applies(candidate, billable):
                    kind = candidate
                    break
        if kind is not None:
            kinds.remove(kind)
        self.anomalies.keep_waiting(kinds)
        number = ""
        if billable:
            number = self._invoice(order, delivery_id, billable, due, kind)
        for d_item, item, _ in lines:
            self.store.table("A_OutbDeliveryItem").update(d_item, {"DeliveryRelatedBillingStatus": "C"})
            if item["DeliveryStatus"] == "C" and self._fully_billed(item, delivery_id):
                order_items.update(item, {"SDProcessStatus": "C"})
        headers.update(delivery, {"OverallDelivReltdBillgStatus": "C"})
        self._order_status(order, due)
        if kind == "billing_without_delivery":
            self._bill_without_delivery(due)
        elif kind in ("credit_memo", "cancellation"):
            self._follow(due + BILLING_LEAD, kind, number)

    def _price(self, item: Row, quantity: Decimal, currency: str) -> Decimal:
        condition = self.store.children(SALES_ORDER_ITEM, "to_PricingElement", item)[0]
        return _money(condition["ConditionRateValue"] * quantity / condition["ConditionQuantity"], currency)

    def _vat(self, order: Row) -> Decimal:
        customer = self.data.customer_by_number.get(order["SoldToParty"])
        return customer.vat_rate if customer else Decimal(0)

    def _anomaly_applies(self, kind: str, billable: list[tuple[Row, Row, Decimal]]) -> bool:
        if kind == "credit_memo":
            return any(quantity >= 2 for _, _, quantity in billable)
        if kind == "billing_without_delivery":
            return self._unissued_order_item() is not None
        return True

    def _invoice(
        self, order: Row, delivery_id: str, billable: list[tuple[Row, Row, Decimal]], due: datetime, kind: str | None
    ) -> str:
        """The F2 of a delivery's billable items, with the seeded anomaly ``kind`` if any."""
        order_currency = order["TransactionCurrency"]
        currency = order_currency
        if kind == "currency_mismatch":
            currency = next(c for c in sorted(FX_FROM_CNY) if c != order_currency)
        vat = self._vat(order)
        items: list[dict[str, Any]] = []
        anomaly: dict[str, Any] = {}
        for position, (d_item, item, quantity) in enumerate(billable, start=1):
            billed = quantity
            if kind == "over_billing" and position == 1:
                billed = quantity + self.anomalies.extra_quantity
            net = self._price(item, billed, order_currency)
            expected_net = net
            if kind == "price_difference" and position == 1:
                step = max(abs(_money(net * self.anomalies.price_factor, currency) - net), Decimal(1))
                net = net + step if self.anomalies.price_factor > 1 else max(net - step, Decimal(0))
            if currency != order_currency:
                rate = FX_FROM_CNY[currency] / FX_FROM_CNY[order_currency]
                net = _money(net * rate, currency)
            items.append(
                {
                    "SalesDocumentItemCategory": item["SalesOrderItemCategory"],
                    "Material": d_item["Material"],
                    "Plant": d_item["Plant"],
                    "BillingDocumentItemText": d_item["DeliveryDocumentItemText"],
                    "BillingQuantity": billed,
                    "BillingQuantityUnit": d_item["DeliveryQuantityUnit"],
                    "BillingQuantityInBaseUnit": billed,
                    "BaseUnit": d_item["BaseUnit"],
                    "NetAmount": net,
                    "TaxAmount": _money(net * vat / 100, currency),
                    "PricingDate": item["PricingDate"],
                    "ReferenceSDDocument": delivery_id,
                    "ReferenceSDDocumentItem": str(int(d_item["DeliveryDocumentItem"])),
                    "ReferenceSDDocumentCategory": "J",
                    "SalesDocument": order["SalesOrder"],
                    "SalesDocumentItem": item["SalesOrderItem"],
                    "SalesSDDocumentCategory": "C",
                }
            )
            if position == 1 and kind in ("price_difference", "over_billing"):
                anomaly = {
                    "billing_document_item": str(position * 10),
                    "sales_order": order["SalesOrder"],
                    "sales_order_item": item["SalesOrderItem"],
                    "delivery": delivery_id,
                    "delivery_item": str(int(d_item["DeliveryDocumentItem"])),
                    "detail": {
                        "issued_quantity": quantity,
                        "billed_quantity": billed,
                        "ordered_quantity": item["RequestedQuantity"],
                        "expected_net_amount": expected_net,
                        "billed_net_amount": net,
                    },
                }
                if kind == "over_billing":
                    before = self._billed_so_far(order["SalesOrder"], item["SalesOrderItem"])
                    over = before + billed > item["RequestedQuantity"]
                    anomaly["expected_reason"] = "over_billed" if over else "under_delivered"
        number = self._billing_document(order, currency, due, "F2", "L", "M", items)
        if kind in ("price_difference", "over_billing"):
            self.anomalies.record(
                kind, due, billing_document=number, billing_document_type="F2", currency=currency, **anomaly
            )
        elif kind == "currency_mismatch":
            first = items[0]
            self.anomalies.record(
                kind,
                due,
                billing_document=number,
                billing_document_type="F2",
                billing_document_item="10",
                sales_order=order["SalesOrder"],
                sales_order_item=first["SalesDocumentItem"],
                delivery=delivery_id,
                delivery_item=first["ReferenceSDDocumentItem"],
                currency=currency,
                detail={"order_currency": order_currency, "billing_currency": currency},
            )
        return number

    def _billing_document(
        self,
        order: Row,
        currency: str,
        due: datetime,
        billing_type: str,
        category: str,
        sd_category: str,
        items: list[dict[str, Any]],
        **header: Any,
    ) -> str:
        """Insert a billing document (header and items, numbered 10, 20, …); header totals are the
        sums of the items, TotalGrossAmount = net + tax. Returns its number."""
        number = str(self.next_billing)
        self.next_billing += 1
        accounting = str(self.next_accounting)
        self.next_accounting += 1
        day = day_of(due)
        table = self.store.table("A_BillingDocumentItem")
        total_net = total_tax = Decimal(0)
        for position, fields in enumerate(items, start=1):
            total_net += fields["NetAmount"]
            total_tax += fields["TaxAmount"]
            table.insert(
                table.new_row(
                    BillingDocument=number,
                    BillingDocumentItem=str(position * 10),
                    CreationDate=day,
                    TransactionCurrency=currency,
                    GrossAmount=fields["NetAmount"],
                    **fields,
                )
            )
        customer = self.data.customer_by_number.get(order["SoldToParty"])
        headers = self.store.table("A_BillingDocument")
        headers.insert(
            headers.new_row(
                BillingDocument=number,
                SDDocumentCategory=sd_category,
                BillingDocumentCategory=category,
                BillingDocumentType=billing_type,
                CreationDate=day,
                CreationTime=due.time().replace(microsecond=0),
                LastChangeDate=day,
                LastChangeDateTime=due,
                SalesOrganization=order["SalesOrganization"],
                DistributionChannel=order["DistributionChannel"],
                Division=order["OrganizationDivision"],
                BillingDocumentDate=day,
                TotalNetAmount=total_net,
                TransactionCurrency=currency,
                TaxAmount=total_tax,
                TotalGrossAmount=total_net + total_tax,
                PayerParty=order["SoldToParty"],
                CustomerPaymentTerms=order["CustomerPaymentTerms"],
                CompanyCode=COMPANY_CODE.get(order["SalesOrganization"], order["SalesOrganization"]),
                FiscalYear=str(day.year),
                AccountingDocument=accounting,
                SoldToParty=order["SoldToParty"],
                PurchaseOrderByCustomer=order["PurchaseOrderByCustomer"],
                Country=customer.address.country if customer else "",
                OverallSDProcessStatus="C",
                OverallBillingStatus="C",
                AccountingPostingStatus="C",
                AccountingTransferStatus="C",
                InvoiceClearingStatus="A",
                **header,
            )
        )
        return number

    def _billed_so_far(self, order: str, item: str) -> Decimal:
        """The quantity billed of an order item: invoices add, credit memos and cancellations take."""
        total = Decimal(0)
        headers = self.store.table("A_BillingDocument")
        for row in self.store.table("A_BillingDocumentItem").lookup("SalesDocument", order):
            if row["SalesDocumentItem"] != item:
                continue
            header = headers.get((row["BillingDocument"],))
            sign = -1 if header is not None and header["SDDocumentCategory"] in ("N", "O") else 1
            total += sign * row["BillingQuantity"]
        return total

    def _unissued_order_item(self) -> Row | None:
        """The first order item (by order and item number) not rejected, nothing of which is issued
        or billed: one for a billing without delivery."""
        delivery_items = self.store.table("A_OutbDeliveryItem")
        billed = self.store.table("A_BillingDocumentItem")
        for order in sorted(self.store.table("A_SalesOrder").all(), key=lambda o: o["SalesOrder"]):
            number = order["SalesOrder"]
            issued = {
                int(d["ReferenceSDDocumentItem"])
                for d in delivery_items.lookup("ReferenceSDDocument", number)
                if d["GoodsMovementStatus"] == "C"
            }
            billed_items = {int(b["SalesDocumentItem"]) for b in billed.lookup("SalesDocument", number)}
            items = sorted(self.store.children(SALES_ORDER, "to_Item", order), key=lambda i: int(i["SalesOrderItem"]))
            for item in items:
                position = int(item["SalesOrderItem"])
                if item["SalesDocumentRjcnReason"] or item["RequestedQuantity"] <= 0:
                    continue
                if position not in issued and position not in billed_items:
                    return item
        return None

    def _bill_without_delivery(self, due: datetime) -> None:
        """An order-related invoice F1 of an open order item's ordered quantity, no delivery."""
        item = self._unissued_order_item()
        if item is None:  # gone since the check: wait for the next billing
            self.anomalies.keep_waiting(["billing_without_delivery"])
            return
        order = self.store.table("A_SalesOrder").get((item["SalesOrder"],))
        assert order is not None
        currency = order["TransactionCurrency"]
        material = self.data.material_by_number[item["Material"]]
        quantity = item["RequestedQuantity"]
        net = self._price(item, quantity, currency)
        fields = {
            "SalesDocumentItemCategory": item["SalesOrderItemCategory"],
            "Material": item["Material"],
            "Plant": item["ProductionPlant"],
            "BillingDocumentItemText": item["SalesOrderItemText"],
            "BillingQuantity": quantity,
            "BillingQuantityUnit": item["OrderQuantityUnit"],
            "BillingQuantityInBaseUnit": quantity,
            "BaseUnit": material.base_unit,
            "NetAmount": net,
            "TaxAmount": _money(net * self._vat(order) / 100, currency),
            "PricingDate": item["PricingDate"],
            "ReferenceSDDocument": order["SalesOrder"],
            "ReferenceSDDocumentItem": item["SalesOrderItem"],
            "ReferenceSDDocumentCategory": "C",
            "SalesDocument": order["SalesOrder"],
            "SalesDocumentItem": item["SalesOrderItem"],
            "SalesSDDocumentCategory": "C",
        }
        number = self._billing_document(order, currency, due, "F1", "A", "M", [fields])
        self.store.table("A_SalesOrderItem").update(item, {"_OrderBilled": quantity, "OrderRelatedBillingStatus": "C"})
        self.anomalies.record(
            "billing_without_delivery",
            due,
            billing_document=number,
            billing_document_type="F1",
            billing_document_item="10",
            sales_order=order["SalesOrder"],
            sales_order_item=item["SalesOrderItem"],
            currency=currency,
            detail={"billed_quantity": quantity, "issued_quantity": Decimal(0), "billed_net_amount": net},
        )

    def _follow(self, due: datetime, kind: str, billing_document: str) -> None:
        self._seq += 1
        heapq.heappush(self.followups, (due, self._seq, kind, billing_document, self.anomalies.counted, {}))

    def _follow_up(
        self, due: datetime, _seq: int, kind: str, billing_document: str, ordinal: int, _detail: dict[str, Any]
    ) -> None:
        original = self.store.table("A_BillingDocument").get((billing_document,))
        if original is None or original["BillingDocumentIsCancelled"]:
            return  # cancelled by someone else meanwhile: nothing left to credit or cancel
        if kind == "cancellation":
            result = self.cancel_billing(billing_document, due)[0]
            items = self.store.table("A_BillingDocumentItem").lookup("BillingDocument", billing_document)
            first = min(items, key=lambda i: int(i["BillingDocumentItem"]))
            self.anomalies.record(
                kind,
                due,
                ordinal=ordinal,
                billing_document=result["CancellationBillingDocument"],
                billing_document_type="S1",
                original_billing_document=billing_document,
                sales_order=first["SalesDocument"],
                sales_order_item=first["SalesDocumentItem"],
                delivery=first["ReferenceSDDocument"],
                delivery_item=first["ReferenceSDDocumentItem"],
                currency=original["TransactionCurrency"],
                detail={"cancelled_net_amount": original["TotalNetAmount"]},
            )
        elif kind == "credit_memo":
            self._credit_memo(original, due, ordinal)

    def _credit_memo(self, invoice: Row, due: datetime, ordinal: int) -> None:
        """A G2 for half (rounded down) of the invoice item with the largest quantity."""
        items = self.store.table("A_BillingDocumentItem").lookup("BillingDocument", invoice["BillingDocument"])
        source = max(items, key=lambda i: (i["BillingQuantity"], -int(i["BillingDocumentItem"])))
        quantity = (source["BillingQuantity"] / 2).to_integral_value(rounding="ROUND_FLOOR")
        currency = invoice["TransactionCurrency"]
        net = _money(source["NetAmount"] * quantity / source["BillingQuantity"], currency)
        order = self.store.table("A_SalesOrder").get((source["SalesDocument"],))
        if order is None:
            return
        fields = {
            k: source[k]
            for k in (
                "SalesDocumentItemCategory", "Material", "Plant", "BillingDocumentItemText", "BillingQuantityUnit",
                "BaseUnit", "PricingDate", "SalesDocument", "SalesDocumentItem", "SalesSDDocumentCategory",
            )
        }  # fmt: skip
        fields.update(
            BillingQuantity=quantity,
            BillingQuantityInBaseUnit=quantity,
            NetAmount=net,
            TaxAmount=_money(net * self._vat(order) / 100, currency),
            ReferenceSDDocument=invoice["BillingDocument"],
            ReferenceSDDocumentItem=source["BillingDocumentItem"],
            ReferenceSDDocumentCategory="M",
            SDDocumentReason=CREDIT_MEMO_REASON,
        )
        number = self._billing_document(order, currency, due, "G2", "A", "O", [fields])
        self.anomalies.record(
            "credit_memo",
            due,
            ordinal=ordinal,
            billing_document=number,
            billing_document_type="G2",
            billing_document_item="10",
            original_billing_document=invoice["BillingDocument"],
            sales_order=source["SalesDocument"],
            sales_order_item=source["SalesDocumentItem"],
            currency=currency,
            detail={
                "invoiced_quantity": source["BillingQuantity"],
                "credited_quantity": quantity,
                "credited_net_amount": net,
                "invoice_item": source["BillingDocumentItem"],
            },
        )

    def _fully_billed(self, item: Row, billing_now: str) -> bool:
        """Every delivery item of this order item is billed (the one being billed counts)."""
        d_items = self.store.table("A_OutbDeliveryItem").lookup("ReferenceSDDocument", item["SalesOrder"])
        return all(
            d["DeliveryRelatedBillingStatus"] == "C" or d["DeliveryDocument"] == billing_now
            for d in d_items
            if int(d["ReferenceSDDocumentItem"]) == int(item["SalesOrderItem"])
        )

    def pdf(self, billing_document: str) -> str:
        header = self.store.table("A_BillingDocument").get((billing_document,))
        if header is None:
            raise SapError(404, "VF/001", f"Billing document {billing_document} does not exist")
        text = f"Invoice {billing_document} {header['TotalGrossAmount']} {header['TransactionCurrency']}"
        pdf = (
            "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>endobj\n"
            f"4 0 obj<</Length {len(text) + 24}>>stream\nBT /F1 12 Tf 72 770 Td ({text}) Tj ET\nendstream endobj\n"
            "trailer<</Root 1 0 R>>\n%%EOF\n"
        )
        return base64.b64encode(pdf.encode("latin-1", "replace")).decode()
