"""The emulated S/4HANA system's state: one store, master data, ATP, orders, follow-on documents and
physical inventory and purchase requisitions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.sap.atp import Atp
from sandbox.sap.documents import Documents
from sandbox.sap.masterdata import load_customers, load_stock
from sandbox.sap.orders import OrderService
from sandbox.sap.physinv import PhysicalInventory
from sandbox.sap.purchase_req import PurchaseRequisitions
from sandbox.sap.services import SERVICES
from sandbox.sap.store import Store
from sandbox.seed_data import SeedData
from sandbox.system import RecordError

INDEXED = {
    "A_SalesOrder": ("PurchaseOrderByCustomer", "SoldToParty"),
    "A_SalesOrderItem": ("SalesOrder", "Material"),
    "A_SalesOrderScheduleLine": ("SalesOrder",),
    "A_SalesOrderHeaderPartner": ("SalesOrder",),
    "A_SalesOrderItemPrElement": ("SalesOrder",),
    "A_MatlStkInAcctMod": ("Material", "Plant"),
    "A_OutbDeliveryHeader": ("SoldToParty",),
    "A_OutbDeliveryItem": ("DeliveryDocument", "ReferenceSDDocument"),
    "A_BillingDocument": ("PurchaseOrderByCustomer", "SoldToParty"),
    "A_BillingDocumentItem": ("BillingDocument", "SalesDocument"),
    "A_CustomerSalesArea": ("Customer",),
    "A_PhysInventoryDocHeader": ("PhysInventoryReferenceNumber", "Plant"),
    "A_PhysInventoryDocItem": ("PhysicalInventoryDocument", "Material"),
    "A_PurchaseRequisitionItem": ("PurchaseRequisition", "PurReqnExternalReference", "Material"),
}


class SapBackend:
    def __init__(self, data: SeedData, user: str) -> None:
        self.data = data
        self.store = Store(SERVICES.values(), INDEXED)
        load_customers(self.store, data)
        load_stock(self.store, data)
        self.atp = Atp(self.store)
        self.orders = OrderService(self.store, data, self.atp, user)
        self.documents = Documents(self.store, self.atp, data)
        self.physinv = PhysicalInventory(self.store, data, self.atp, user)
        self.purchase_reqs = PurchaseRequisitions(self.store, data, user)

    def advance(self, now: datetime) -> None:
        self.documents.advance(now)

    def goods_receipt(self, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
        material = str(fields.get("Material", ""))
        plant = str(fields.get("Plant", ""))
        try:
            quantity = Decimal(str(fields.get("Quantity")))
        except InvalidOperation:
            raise RecordError("Quantity must be a number") from None
        if material not in self.data.material_by_number:
            raise RecordError(f"unknown material {material!r}")
        if plant not in {p.code for p in self.data.plants}:
            raise RecordError(f"unknown plant {plant!r}")
        if quantity <= 0:
            raise RecordError("Quantity must be positive")
        self.advance(now)
        unit = self.data.material_by_number[material].base_unit
        reconfirmed = self.atp.receive(material, plant, quantity, now, unit)
        row = self.atp.unrestricted_row(material, plant)
        assert row is not None
        return {
            "record": {
                "Material": material,
                "Plant": plant,
                "MatlWrhsStkQtyInMatlBaseUnit": str(row["MatlWrhsStkQtyInMatlBaseUnit"]),
                "available": str(self.atp.available(material, plant)),
            },
            "reconfirmed": reconfirmed,
        }

    def edit_customer(self, customer: str, fields: dict[str, Any]) -> dict[str, Any]:
        table = self.store.table("A_Customer")
        row = table.get((customer,))
        if row is None:
            raise RecordError(f"no customer {customer!r}")
        props = table.entity_set.type.by_name
        unknown = sorted(set(fields) - set(props) - {"Customer"})
        if unknown:
            raise RecordError(f"unknown A_Customer fields: {', '.join(unknown)}")
        table.update(row, {k: v for k, v in fields.items() if k != "Customer"})
        return {"record": {k: v for k, v in row.items() if isinstance(v, str | bool)}}
