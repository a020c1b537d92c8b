"""SAP master data built from the shared seed: customers with their sales areas, stock per plant.

Sales areas: organisation 1000 (plants 1010/1020, CNY) for Chinese customers, 2000 (plant 2010) for
EUR/USD customers; distribution channel 10, division 00. Delivery priorities are drawn per customer
(01 urgent ≈10 %, 02 normal ≈60 %, 03 low ≈30 %). Stock: one unrestricted row (type 01) per seeded
material and plant in storage location 0001, plus a few quality-inspection (02) and blocked (07)
rows, which are stock but not available to promise.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sandbox.sap.store import Store
from sandbox.seed_data import Customer, SeedData

DISTRIBUTION_CHANNEL = "10"
DIVISION = "00"
STORAGE_LOCATION = "0001"
UNRESTRICTED, QUALITY, BLOCKED = "01", "02", "07"
SALES_ORG_PLANT = {"1000": "1010", "2000": "2010"}


def sales_org_of(customer: Customer) -> str:
    return "1000" if customer.currency == "CNY" else "2000"


def _rng(seed: int, part: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:sap:{part}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def load_customers(store: Store, data: SeedData) -> None:
    rng = _rng(data.seed, "customers")
    customers = store.table("A_Customer")
    areas = store.table("A_CustomerSalesArea")
    for c in data.customers:
        block = "01" if c.blocked else ""
        created = datetime(2019, 1, 2, tzinfo=UTC) + timedelta(days=rng.randrange(2000))
        customers.insert(
            customers.new_row(
                Customer=c.number,
                CustomerName=c.name[:80],
                CustomerFullName=c.name.upper()[:220],
                CustomerAccountGroup="CUST",
                CreatedByUser="MIGRATION",
                CreationDate=created,
                OrderIsBlockedForCustomer=block,
            )
        )
        org = sales_org_of(c)
        draw = rng.random()
        areas.insert(
            areas.new_row(
                Customer=c.number,
                SalesOrganization=org,
                DistributionChannel=DISTRIBUTION_CHANNEL,
                Division=DIVISION,
                Currency=c.currency,
                CustomerPaymentTerms="0001" if c.currency == "CNY" else "0004",
                CustomerPricingProcedure="01",
                DeliveryPriority="01" if draw < 0.1 else "02" if draw < 0.7 else "03",
                IncotermsClassification="EXW" if c.currency == "CNY" else "FCA",
                IncotermsLocation1=c.address.city[:70],
                OrderIsBlockedForCustomer=block,
                ShippingCondition="01",
                SupplyingPlant=SALES_ORG_PLANT[org],
                CustomerAccountGroup="CUST",
            )
        )


def stock_row(store: Store, material: str, plant: str, stock_type: str, quantity: Decimal, unit: str) -> dict:
    table = store.table("A_MatlStkInAcctMod")
    return table.new_row(
        Material=material,
        Plant=plant,
        StorageLocation=STORAGE_LOCATION,
        InventoryStockType=stock_type,
        MaterialBaseUnit=unit,
        MatlWrhsStkQtyInMatlBaseUnit=quantity,
    )


def load_stock(store: Store, data: SeedData) -> None:
    rng = _rng(data.seed, "stock")
    materials = store.table("A_MaterialStock")
    for m in data.materials:
        materials.insert(materials.new_row(Material=m.number, MaterialBaseUnit=m.base_unit))
    table = store.table("A_MatlStkInAcctMod")
    units = {m.number: m.base_unit for m in data.materials}
    for level in data.stock:
        unit = units[level.material]
        table.insert(stock_row(store, level.material, level.plant, UNRESTRICTED, Decimal(level.unrestricted), unit))
        draw = rng.random()
        if draw < 0.04:
            held = Decimal(rng.randint(1, 20))
            table.insert(
                stock_row(store, level.material, level.plant, QUALITY if draw < 0.025 else BLOCKED, held, unit)
            )
