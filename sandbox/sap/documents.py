"""Subsequent documents: outbound deliveries with goods issue, then billing documents.

Worked out lazily: every request first runs :meth:`Documents.advance` up to the sandbox clock. When
an order's confirmed schedule lines come within a day of their confirmed date, one delivery per
order and shipping point is created for the due quantities and goods issue is posted at once
(OverallGoodsMovementStatus C, movement type 601, stock reduced). A day later the delivery is billed
(invoice F2): net from the order's price condition, tax per item at the customer's VAT rate,
gross = net + tax. Document times are the due times, not the moment a request noticed them, so the
result does not depend on how often clients poll. Numbers: deliveries 80000001…, billing documents
90000001…, accounting documents 9400000001….
"""

from __future__ import annotations

import base64
import heapq
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.sap.atp import DELIVERY_LEAD, Atp, day_of
from sandbox.sap.errors import SapError
from sandbox.sap.masterdata import STORAGE_LOCATION
from sandbox.sap.odata_json import currency_decimals, quantize
from sandbox.sap.services import DELIVERY_HEADER, SALES_ORDER, SALES_ORDER_ITEM
from sandbox.sap.store import Row, Store, later
from sandbox.seed_data import SeedData

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
        self.billing_queue: list[tuple[datetime, int, str]] = []
        self._seq = 0

    def advance(self, now: datetime) -> None:
        """Create every delivery and billing document due by ``now``, in due-time order."""
        while True:
            delivery_due = self.atp.next_due()
            billing_due = self.billing_queue[0][0] if self.billing_queue else None
            candidates = [t for t in (delivery_due, billing_due) if t is not None and t <= now]
            if not candidates:
                return
            if billing_due is not None and billing_due == min(candidates):
                due, _, delivery = heapq.heappop(self.billing_queue)
                self._bill(delivery, due)
            else:
                found = self.atp.due(now)
                if found is not None:
                    self._deliver(found[1], found[0])

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
                    GoodsMovementStatus="C",
                    GoodsMovementType="601",
                    PickingStatus="C",
                    SDProcessStatus="C",
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
            delivered = sum((line["DeliveredQtyInOrderQtyUnit"] for line in self.atp.lines_of(item)), Decimal(0))
            status = "C" if delivered >= item["RequestedQuantity"] else "B"
            self.store.table("A_SalesOrderItem").update(item, {"DeliveryStatus": status, "SDProcessStatus": "B"})
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
                ActualGoodsMovementDate=day,
                ActualGoodsMovementTime=due.time(),
                LastChangeDate=day,
                OverallGoodsMovementStatus="C",
                OverallPickingStatus="C",
                OverallPickingConfStatus="C",
                OverallSDProcessStatus="C",
                OverallDelivReltdBillgStatus="A",
                HeaderGrossWeight=weight,
                HeaderNetWeight=weight,
                HeaderWeightUnit="KG",
                TransactionCurrency=order["TransactionCurrency"],
                DeliveryVersion="0001",
            )
        )
        self._seq += 1
        heapq.heappush(self.billing_queue, (due + BILLING_LEAD, self._seq, number))

    def _order_status(self, order: Row, moment: datetime) -> None:
        items = self.store.children(SALES_ORDER, "to_Item", order)
        statuses = {item["DeliveryStatus"] for item in items}
        delivery = "C" if statuses == {"C"} else "A" if statuses == {"A"} else "B"
        billed = all(item["SDProcessStatus"] == "C" for item in items)
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

    def post_goods_issue(self, delivery: str) -> list[dict[str, Any]]:
        header = self.store.table("A_OutbDeliveryHeader").get((delivery,))
        if header is None:
            raise SapError(404, "VL/001", f"Delivery {delivery} does not exist")
        if header["OverallGoodsMovementStatus"] == "C":
            raise SapError(400, "VL/609", f"Goods movement for delivery {delivery} has already been posted")
        return []  # every emulated delivery is issued when it is created

    def _existing_delivery(self, delivery: str) -> Row:
        header = self.store.table("A_OutbDeliveryHeader").get((delivery,))
        if header is None:
            raise SapError(404, "VL/001", f"Delivery {delivery[:10]} does not exist")
        return header

    def pick(self, delivery: str, item: str | None) -> list[dict[str, Any]]:
        """Picking and its confirmation: every emulated delivery is created picked, confirmed and
        issued, so SAP's answer is the error that goods issue is already posted."""
        header = self._existing_delivery(delivery)
        if item is not None:
            items = self.store.children(DELIVERY_HEADER, "to_DeliveryDocumentItem", header)
            if not any(int(i["DeliveryDocumentItem"]) == int(item) for i in items if item.isdigit()):
                raise SapError(404, "VL/002", f"Item {item[:6]} does not exist in delivery {delivery}")
        raise SapError(400, "VL/609", f"Goods movement for delivery {delivery} has already been posted; no picking")

    def reverse_goods_issue(self, delivery: str) -> list[dict[str, Any]]:
        """Reversal needs an unbilled delivery; the emulator bills every delivery a day after goods
        issue and does not reverse goods issue before that [emulator], so it refuses either way."""
        header = self._existing_delivery(delivery)
        if header["OverallDelivReltdBillgStatus"] == "C":
            raise SapError(
                400, "VL/656", f"Delivery {delivery} has been billed: cancel the billing document before reversing"
            )
        raise SapError(501, "/IWBEP/CM_MGW_RT/001", "ReverseGoodsIssue of an unbilled delivery is not emulated")

    # -- billing ------------------------------------------------------------------------------------

    def cancel_billing(self, billing_document: str, now: datetime) -> list[dict[str, Any]]:
        """``Cancel``: a cancellation document S1 (the next billing number) with the original's items,
        ``CancelledBillingDocument`` pointing back; the original is marked cancelled."""
        table = self.store.table("A_BillingDocument")
        original = table.get((billing_document,))
        if original is None:
            raise SapError(404, "VF/001", f"Billing document {billing_document[:10]} does not exist")
        if original["BillingDocumentIsCancelled"] or original["BillingDocumentType"] == "S1":
            raise SapError(400, "VF/037", f"Billing document {billing_document} is already cancelled")
        number = str(self.next_billing)
        self.next_billing += 1
        self.store.journal.record(lambda: setattr(self, "next_billing", self.next_billing - 1))
        day = day_of(now)
        table.insert(
            dict(
                original,
                BillingDocument=number,
                BillingDocumentType="S1",
                SDDocumentCategory="N",
                CancelledBillingDocument=billing_document,
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
        currency = order["TransactionCurrency"]
        customer = self.data.customer_by_number.get(order["SoldToParty"])
        vat = customer.vat_rate if customer else Decimal(0)
        number = str(self.next_billing)
        self.next_billing += 1
        accounting = str(self.next_accounting)
        self.next_accounting += 1
        day = day_of(due)
        order_items = self.store.table("A_SalesOrderItem")
        billing_items = self.store.table("A_BillingDocumentItem")
        total_net = total_tax = Decimal(0)
        for position, d_item in enumerate(delivery_items, start=1):
            item = order_items.get((order_id, str(int(d_item["ReferenceSDDocumentItem"]))))
            assert item is not None
            condition = self.store.children(SALES_ORDER_ITEM, "to_PricingElement", item)[0]
            quantity = d_item["ActualDeliveryQuantity"]
            net = _money(condition["ConditionRateValue"] * quantity / condition["ConditionQuantity"], currency)
            tax = _money(net * vat / 100, currency)
            total_net += net
            total_tax += tax
            billing_items.insert(
                billing_items.new_row(
                    BillingDocument=number,
                    BillingDocumentItem=str(position * 10),
                    SalesDocumentItemCategory=item["SalesOrderItemCategory"],
                    CreationDate=day,
                    Material=d_item["Material"],
                    Plant=d_item["Plant"],
                    BillingDocumentItemText=d_item["DeliveryDocumentItemText"],
                    BillingQuantity=quantity,
                    BillingQuantityUnit=d_item["DeliveryQuantityUnit"],
                    BillingQuantityInBaseUnit=quantity,
                    BaseUnit=d_item["BaseUnit"],
                    NetAmount=net,
                    TransactionCurrency=currency,
                    GrossAmount=net,
                    PricingDate=item["PricingDate"],
                    TaxAmount=tax,
                    ReferenceSDDocument=delivery_id,
                    ReferenceSDDocumentItem=str(int(d_item["DeliveryDocumentItem"])),
                    ReferenceSDDocumentCategory="J",
                    SalesDocument=order_id,
                    SalesDocumentItem=item["SalesOrderItem"],
                    SalesSDDocumentCategory="C",
                )
            )
            self.store.table("A_OutbDeliveryItem").update(d_item, {"DeliveryRelatedBillingStatus": "C"})
            delivered_all = item["DeliveryStatus"] == "C"
            if delivered_all and self._fully_billed(item, delivery_id):
                order_items.update(item, {"SDProcessStatus": "C"})
        self.store.table("A_BillingDocument").insert(
            self.store.table("A_BillingDocument").new_row(
                BillingDocument=number,
                SDDocumentCategory="M",
                BillingDocumentCategory="L",
                BillingDocumentType="F2",
                CreationDate=day,
                CreationTime=due.time(),
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
            )
        )
        headers.update(delivery, {"OverallDelivReltdBillgStatus": "C"})
        self._order_status(order, due)

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
