"""The Fxiaoke tenant's records, built from the seed data in Fxiaoke's own shapes.

Prices are VAT-exclusive: ``product_price`` is the price-book price, ``discount`` the percentage of it
charged (100 = none), ``sales_price`` the unit price charged, ``subtotal = quantity × sales_price``;
``tax_amount__c`` adds 13 % VAT. On the order, ``product_amount = Σ subtotal``, ``tax_amount__c =
Σ line tax`` and ``order_amount = product_amount + tax_amount__c``. Empty fields are left out.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.fxiaoke_schema import fx_number, to_decimal
from sandbox.ids import ObjectIds
from sandbox.seed_data import FX_FROM_CNY, FXIAOKE, Customer, OrderLine, SalesOrder, SeedData, money

ADMIN_USER = "1000"
SALES_USERS = ("1001", "1002", "1003", "1004", "1005")
ROOT_DEPARTMENT = "999999"
COUNTRY_NAMES_ZH = {"CN": "中国"}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    # The API leaves empty fields out unless asked for them (includeNull).
    return {k: v for k, v in record.items() if v is not None and v != "" and v != []}


def price_line(row: dict[str, Any]) -> None:
    """Recompute a line's sales price, subtotal and tax from quantity, product price and discount."""
    qty, price = to_decimal(row.get("quantity")), to_decimal(row.get("product_price"))
    if qty is None or price is None:
        for key in ("sales_price", "subtotal", "tax_amount__c"):
            row.pop(key, None)
        if isinstance(row.get("product_price"), str) and price is None:
            row["sales_price"] = row["product_price"]  # the bad value travels on, as a CRM shows it
        return
    discount = to_decimal(row.get("discount")) or Decimal(100)
    rate = to_decimal(row.get("tax_rate__c")) or Decimal(0)
    sales_price = money(price * discount / 100)
    subtotal = money(qty * sales_price)
    row["sales_price"] = fx_number(sales_price)
    row["subtotal"] = fx_number(subtotal)
    row["tax_amount__c"] = fx_number(money(subtotal * rate / 100))


def total_order(order: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    net = sum((to_decimal(r.get("subtotal")) or Decimal(0) for r in lines), Decimal(0))
    tax = sum((to_decimal(r.get("tax_amount__c")) or Decimal(0) for r in lines), Decimal(0))
    order["product_amount"] = fx_number(net)
    order["tax_amount__c"] = fx_number(tax)
    order["order_amount"] = fx_number(net + tax)


class FxiaokeStore:
    """Every record of the tenant, by object API name and ``_id``."""

    def __init__(self, data: SeedData) -> None:
        self.data = data
        self.now = data.now
        self.rng = random.Random(f"{data.seed}:fxiaoke-records")
        self.ids = ObjectIds(data.seed, "master")
        self.runtime_ids = ObjectIds(data.seed, "runtime")
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "AccountObj": {},
            "ProductObj": {},
            "SalesOrderObj": {},
            "SalesOrderProductObj": {},
            "ActiveRecordObj": {},  # none seeded: the hub's reorder reminders create them
        }
        self.account_ids: dict[str, str] = {}
        self.product_ids: dict[str, str] = {}
        self._build()

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        return self.objects.get(object_name, {}).get(record_id)

    def lines_of(self, order_id: str) -> list[dict[str, Any]]:
        return [r for r in self.objects["SalesOrderProductObj"].values() if r.get("order_id") == order_id]

    def system_fields(
        self, record_id: str, name: str, owner: str, created: datetime, modified: datetime
    ) -> dict[str, Any]:
        return {
            "_id": record_id,
            "name": name,
            "owner": [owner],
            "created_by": [ADMIN_USER],
            "last_modified_by": [ADMIN_USER],
            "create_time": ms(created),
            "last_modified_time": ms(modified),
            "life_status": "normal",
            "lock_status": "0",
            "is_deleted": False,
            "record_type": "default__c",
            "version": "1",
            "data_own_department": [ROOT_DEPARTMENT],
            "mc_currency": "CNY",
            "mc_exchange_rate": "1.000000",
        }

    def _master_times(self, n: int) -> tuple[datetime, datetime]:
        created = self.now - timedelta(days=380) + timedelta(minutes=13 * n)
        modified = created + timedelta(days=self.rng.randint(0, 300))
        return created, min(modified, self.now - timedelta(weeks=7))

    def _build(self) -> None:
        for n, customer in enumerate(self.data.customers_of(FXIAOKE), start=1):
            self._add_account(n, customer)
        n = 0
        for n, m in enumerate(self.data.materials, start=1):
            spec = m.description_en
            self._add_product(n, m.number, m.description_zh, spec, m.category, m.list_prices["CNY"])
        for k, u in enumerate(self.data.unknown_products, start=n + 1):
            self._add_product(k, u.code, u.description_zh, u.description_en, "LEGACY", u.list_prices["CNY"])
        for order in self.data.orders_of(FXIAOKE):
            self.add_sales_order(order)

    def _add_account(self, n: int, c: Customer) -> None:
        created, modified = self._master_times(n)
        record_id = self.ids.next(created)
        owner = SALES_USERS[c.sales_rep % len(SALES_USERS)]
        self.objects["AccountObj"][record_id] = _compact(
            {
                **self.system_fields(record_id, c.name, owner, created, modified),
                "account_no": c.number,
                "tel": c.phone,
                "email": c.email,
                "country": COUNTRY_NAMES_ZH.get(c.address.country, c.address.country),
                "province": c.address.region,
                "city": c.address.city,
                "address": c.address.street,
                "account_status": "2",  # 成交客户 (customer with deals)
            }
        )
        self.account_ids[c.number] = record_id

    def _add_product(self, n: int, code: str, name: str, spec: str, category: str, price: Decimal) -> None:
        created, modified = self._master_times(n)
        record_id = self.ids.next(created)
        self.objects["ProductObj"][record_id] = _compact(
            {
                **self.system_fields(record_id, name, ADMIN_USER, created, modified),
                "product_code": code,
                "product_spec": spec,
                "unit": "个",
                "price": fx_number(price),
                "category": category,
                "product_status": "1",  # 上架 (on sale)
                "is_saleable": True,
            }
        )
        self.product_ids[code] = record_id

    def add_sales_order(self, o: SalesOrder) -> dict[str, Any]:
        customer = self.data.customer_by_number.get(o.customer_number or "")
        owner = SALES_USERS[o.sales_rep % len(SALES_USERS)]
        order = {
            **self.system_fields(o.crm_id, o.number, owner, o.order_time, o.modified_time),
            "account_id": self.account_ids[customer.number] if customer else None,
            "account_id__r": customer.name if customer else None,
            "order_time": ms(o.order_time),
            "discount": "100",
            "delivery_date": (
                ms(datetime.combine(o.requested_delivery_date, datetime.min.time(), tzinfo=o.order_time.tzinfo))
                if o.requested_delivery_date
                else None
            ),
            "ship_to_add": o.ship_to.street if o.ship_to else None,
            "ship_to_tel": customer.phone if customer and o.ship_to else None,
            "remark": o.description,
            "customer_po__c": o.purchase_order,
            "carrier__c": o.carrier,
            "tax_rate__c": fx_number(o.vat_rate, 0),
            "mc_currency": o.currency,
            "mc_exchange_rate": f"{FX_FROM_CNY[o.currency]:.6f}",
            "legacy_channel__c": o.extra_fields.get("legacy_channel"),
            "promo_code__c": o.extra_fields.get("promo_code"),
        }
        lines = [self._line(o, line) for line in o.lines]
        total_order(order, lines)
        order = _compact(order)
        self.objects["SalesOrderObj"][order["_id"]] = order
        for line in lines:
            self.objects["SalesOrderProductObj"][line["_id"]] = line
        return order

    def _line(self, o: SalesOrder, line: OrderLine) -> dict[str, Any]:
        product_id = self.product_ids[line.material_number]
        product = self.objects["ProductObj"][product_id]
        price = line.unit_price if isinstance(line.unit_price, str) else fx_number(line.unit_price)
        row = {
            **self.system_fields(
                line.crm_id, f"{o.number}-{line.line_number}", ADMIN_USER, o.order_time, o.modified_time
            ),
            "order_id": o.crm_id,
            "order_id__r": o.number,
            "product_id": product_id,
            "product_id__r": product["name"],
            "quantity": fx_number(line.quantity, 0),
            "product_price": price,
            "discount": fx_number(100 - line.discount_percent, 0),
            "unit": "个",
            "remark": line.description,
            "line_no__c": str(line.line_number),
            "tax_rate__c": fx_number(o.vat_rate, 0),
            "mc_currency": line.currency,
            "mc_exchange_rate": f"{FX_FROM_CNY[line.currency]:.6f}",
            "old_part_ref__c": line.extra_fields.get("old_part_ref"),
        }
        price_line(row)
        return _compact(row)
