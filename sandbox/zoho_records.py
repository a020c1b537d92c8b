"""The Zoho CRM org's records, built from the seed data in Zoho's own shapes.

Amounts follow Zoho's inventory arithmetic: per line ``Total = Quantity × List_Price``, ``Discount`` is
an amount, ``Total_After_Discount``, ``Tax`` from the line's ``Line_Tax`` percentages, ``Net_Total``;
per order ``Sub_Total = Σ Net_Total`` and ``Grand_Total = Sub_Total − Discount + Tax + Adjustment``
(the order-level ``Discount``, ``Tax`` and ``Adjustment`` are 0 in the seed; tax is charged per line).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox import seed_vocab as vocab
from sandbox.ids import zoho_id
from sandbox.seed_data import (
    FX_FROM_CNY,
    ZOHO,
    Customer,
    SalesOrder,
    SeedData,
    money,
)
from sandbox.zoho_schema import CURRENCY_SYMBOLS, number, zoho_date, zoho_time

COUNTRY_NAMES = {
    "CN": "China",
    "DE": "Germany",
    "FR": "France",
    "IT": "Italy",
    "NL": "Netherlands",
    "PL": "Poland",
    "ES": "Spain",
    "US": "United States",
    "BR": "Brazil",
    "AE": "United Arab Emirates",
    "MX": "Mexico",
}
ADMIN = ("Hub Integration", "hub.integration")


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def price_line(row: dict[str, Any]) -> None:
    """(Re)compute a line's amounts from Quantity, List_Price, Discount and its Line_Tax percentages.

    A line whose quantity or price is not a number, or whose amounts are beyond any currency amount
    (a planted 1e30), keeps null amounts, as a CRM that accepted a bad import would show.
    """
    qty, price = _decimal(row.get("Quantity")), _decimal(row.get("List_Price"))
    try:
        amounts = None if qty is None or price is None else _line_amounts(row, qty, price)
    except InvalidOperation:
        amounts = None
    row.update(amounts or dict.fromkeys(("Total", "Total_After_Discount", "Tax", "Net_Total")))


def _line_amounts(row: dict[str, Any], qty: Decimal, price: Decimal) -> dict[str, Any]:
    total = money(qty * price)
    discount = money(_decimal(row.get("Discount")) or Decimal(0))
    after = total - discount
    tax = Decimal(0)
    for entry in row.get("Line_Tax") or []:
        value = money(after * Decimal(str(entry["percentage"])) / 100)
        entry["value"] = number(value)
        tax += value
    return {
        "Total": number(total),
        "Discount": number(discount),
        "Total_After_Discount": number(after),
        "Tax": number(tax),
        "Net_Total": number(after + tax),
    }


def total_order(record: dict[str, Any]) -> None:
    sub_total = sum(
        (_decimal(row.get("Net_Total")) or Decimal(0) for row in record.get("Ordered_Items") or []), Decimal(0)
    )
    extra = sum((_decimal(record.get(k)) or Decimal(0) for k in ("Tax", "Adjustment")), Decimal(0)) - (
        _decimal(record.get("Discount")) or Decimal(0)
    )
    try:
        record["Sub_Total"] = number(money(sub_total))
        record["Grand_Total"] = number(money(sub_total + extra))
    except InvalidOperation:
        record["Sub_Total"] = record["Grand_Total"] = None


class ZohoStore:
    """Every record of the org, by module and id."""

    def __init__(self, data: SeedData) -> None:
        self.data = data
        self.now = data.now
        self.rng = random.Random(f"{data.seed}:zoho-records")
        self.users = [self._user(i + 1, name, login) for i, (name, login) in enumerate(vocab.SALES_REPS)]
        self.admin = self._user(len(self.users) + 1, *ADMIN)
        self.modules: dict[str, dict[str, dict[str, Any]]] = {
            "Accounts": {},
            "Products": {},
            "Price_Books": {},
            "Sales_Orders": {},
            "Tasks": {},  # none seeded: the hub's reorder reminders create them
        }
        self._next_ids = {
            "Accounts": 0,
            "Products": 0,
            "Price_Books": 0,
            "Sales_Orders": 0,
            "Ordered_Items": 0,
            "Tasks": 0,
        }
        self.account_ids: dict[str, str] = {}  # customer number → account id
        self.product_ids: dict[str, str] = {}  # product code → product id
        self.price_book_ids: dict[str, str] = {}  # currency → price book id
        self._build()

    # -- ids -------------------------------------------------------------------------------------

    def new_id(self, module: str) -> str:
        self._next_ids[module] += 1
        return zoho_id(module, self._next_ids[module])

    def get(self, module: str, record_id: str) -> dict[str, Any] | None:
        return self.modules.get(module, {}).get(record_id)

    # -- building ----------------------------------------------------------------------------------

    def _user(self, n: int, name: str, login: str) -> dict[str, Any]:
        return {"name": name, "id": zoho_id("users", n), "email": f"{login}@sparehub.example.com"}

    def _owner(self, index: int) -> dict[str, Any]:
        return dict(self.users[index % len(self.users)])

    def _admin_ref(self) -> dict[str, Any]:
        return {"name": self.admin["name"], "id": self.admin["id"], "email": self.admin["email"]}

    def _system(self, owner: dict[str, Any], created: datetime, modified: datetime) -> dict[str, Any]:
        return {
            "Owner": owner,
            "Created_Time": zoho_time(created),
            "Modified_Time": zoho_time(modified),
            "Created_By": self._admin_ref(),
            "Modified_By": self._admin_ref(),
            "Tag": [],
            "Locked__s": False,
            "Record_Status__s": "Available",
        }

    def _master_times(self, n: int) -> tuple[datetime, datetime]:
        # Master data predates the order book: created a year back, last touched at least 7 weeks ago.
        created = self.now - timedelta(days=400) + timedelta(minutes=17 * n)
        modified = created + timedelta(days=self.rng.randint(0, 300))
        return created, min(modified, self.now - timedelta(weeks=7))

    def _build(self) -> None:
        for n, currency in enumerate(("CNY", "EUR", "USD"), start=1):
            self._add_price_book(n, currency)
        for n, customer in enumerate(self.data.customers_of(ZOHO), start=1):
            self._add_account(n, customer)
        n = 0
        for n, m in enumerate(self.data.materials, start=1):
            self._add_product(n, m.number, m.description_en, m.description_zh, m.category, m.list_prices["CNY"])
        for k, u in enumerate(self.data.unknown_products, start=n + 1):
            self._add_product(k, u.code, u.description_en, u.description_zh, "LEGACY", u.list_prices["CNY"])
        for order in self.data.orders_of(ZOHO):
            self.add_sales_order(order)

    def _add_price_book(self, n: int, currency: str) -> None:
        record_id = self.new_id("Price_Books")
        created, modified = self._master_times(n)
        year = self.now.year
        self.modules["Price_Books"][record_id] = {
            "id": record_id,
            **self._system(self._admin_ref(), created, modified),
            "Price_Book_Name": f"Spare parts {currency} {year}",
            "Active": True,
            "Pricing_Model": "Flat",
            "Pricing_Details": [],
            "Description": f"List prices {year} in {currency}",
            "Currency": currency,
            "Exchange_Rate": number(FX_FROM_CNY[currency]),
        }
        self.price_book_ids[currency] = record_id

    def _add_account(self, n: int, c: Customer) -> None:
        record_id = self.new_id("Accounts")
        created, modified = self._master_times(n)
        address = {
            f"{kind}_{part}": value
            for kind in ("Billing", "Shipping")
            for part, value in (
                ("Street", c.address.street),
                ("City", c.address.city),
                ("State", c.address.region or None),
                ("Code", c.address.postal_code),
                ("Country", COUNTRY_NAMES.get(c.address.country, c.address.country)),
            )
        }
        self.modules["Accounts"][record_id] = {
            "id": record_id,
            **self._system(self._owner(c.sales_rep), created, modified),
            "Account_Name": c.name,
            "Account_Number": c.number,
            "Account_Type": "Customer",
            "Account_Site": None,
            "Industry": "Automotive Aftermarket",
            "Phone": c.phone,
            "Fax": None,
            "Website": None,
            "Annual_Revenue": None,
            "Employees": None,
            "Ownership": "Private",
            "Rating": None,
            "SIC_Code": None,
            "Ticker_Symbol": None,
            "Parent_Account": None,
            **address,
            "Description": None,
            "Currency": c.currency,
            "Exchange_Rate": number(FX_FROM_CNY[c.currency]),
        }
        self.account_ids[c.number] = record_id

    def _add_product(self, n: int, code: str, name: str, name_zh: str, category: str, price: Decimal) -> None:
        record_id = self.new_id("Products")
        created, modified = self._master_times(n)
        self.modules["Products"][record_id] = {
            "id": record_id,
            **self._system(self._admin_ref(), created, modified),
            "Product_Name": name,
            "Product_Code": code,
            "Product_Active": True,
            "Product_Category": category,
            "Unit_Price": number(price),
            "Qty_in_Stock": None,
            "Qty_Ordered": None,
            "Qty_in_Demand": None,
            "Reorder_Level": None,
            "Usage_Unit": "Pcs",
            "Taxable": True,
            "Tax": [],
            "Vendor_Name": None,
            "Manufacturer": "SparePro",
            "Commission_Rate": None,
            "Handler": None,
            "Description": name_zh,
            "Sales_Start_Date": None,
            "Sales_End_Date": None,
            "Support_Start_Date": None,
            "Support_Expiry_Date": None,
            "Currency": "CNY",
            "Exchange_Rate": 1,
        }
        self.product_ids[code] = record_id

    def product_ref(self, code: str) -> dict[str, Any]:
        product = self.modules["Products"][self.product_ids[code]]
        return {"id": product["id"], "name": product["Product_Name"]}

    def price_book_ref(self, currency: str) -> dict[str, Any]:
        book = self.modules["Price_Books"][self.price_book_ids[currency]]
        return {"id": book["id"], "name": book["Price_Book_Name"]}

    def add_sales_order(self, o: SalesOrder) -> dict[str, Any]:
        customer = self.data.customer_by_number.get(o.customer_number or "")
        subject = f"Spare parts order {o.purchase_order}" if o.purchase_order else f"Spare parts order {o.number}"
        self._next_ids["Sales_Orders"] = max(self._next_ids["Sales_Orders"], int(o.crm_id[-8:]))
        record: dict[str, Any] = {
            "id": o.crm_id,
            **self._system(self._owner(o.sales_rep), o.order_time, o.modified_time),
            "Subject": subject,
            "SO_Number": o.number,
            "Account_Name": ({"id": self.account_ids[customer.number], "name": customer.name} if customer else None),
            "Contact_Name": None,
            "Deal_Name": None,
            "Quote_Name": None,
            "Status": o.status,
            "Due_Date": zoho_date(o.requested_delivery_date),
            "Purchase_Order": o.purchase_order,
            "Customer_No": None,
            "Carrier": o.carrier,
            "Sub_Total": 0,
            "Discount": 0,
            "Tax": 0,
            "Adjustment": 0,
            "Excise_Duty": None,
            "Sales_Commission": None,
            "Pending": None,
            "Grand_Total": 0,
            "Currency": o.currency,
            "Exchange_Rate": number(FX_FROM_CNY[o.currency]),
            "$currency_symbol": CURRENCY_SYMBOLS[o.currency],
            "Terms_and_Conditions": "Ex works; payment 30 days net." if o.ship_to else None,
            "Description": o.description,
            "SAP_Order_No__c": None,
            "Confirmed_Delivery_Date__c": None,
            "Tracking_Number__c": None,
            "Hub_Message__c": None,
        }
        record.update(self._address("Billing", customer.address if customer else None))
        record.update(self._address("Shipping", o.ship_to))
        if o.extra_fields:
            record["Legacy_Channel__c"] = o.extra_fields.get("legacy_channel")
            record["Promo_Code__c"] = o.extra_fields.get("promo_code")
        record["Ordered_Items"] = [self._item(o, record, line) for line in o.lines]
        total_order(record)
        self.modules["Sales_Orders"][record["id"]] = record
        return record

    def _address(self, kind: str, address: Any) -> dict[str, Any]:
        if address is None:
            return {f"{kind}_{part}": None for part in ("Street", "City", "State", "Code", "Country")}
        return {
            f"{kind}_Street": address.street,
            f"{kind}_City": address.city,
            f"{kind}_State": address.region or None,
            f"{kind}_Code": address.postal_code,
            f"{kind}_Country": COUNTRY_NAMES.get(address.country, address.country),
        }

    def _item(self, o: SalesOrder, record: dict[str, Any], line: Any) -> dict[str, Any]:
        self._next_ids["Ordered_Items"] = max(self._next_ids["Ordered_Items"], int(line.crm_id[-8:]))
        price: Any = line.unit_price if isinstance(line.unit_price, str) else number(line.unit_price)
        row: dict[str, Any] = {
            "id": line.crm_id,
            "Product_Name": self.product_ref(line.material_number),
            "Price_Book_Name": self.price_book_ref(line.currency),
            "Quantity": number(line.quantity),
            "List_Price": price,
            "Discount": 0,
            "Line_Tax": [{"name": "VAT", "percentage": number(o.vat_rate), "value": 0}] if o.vat_rate else [],
            "Sequence_Number": line.line_number,
            "Description": line.description,
            "Parent_Id": {"id": record["id"], "name": record["Subject"]},
            "Created_Time": record["Created_Time"],
            "Modified_Time": record["Modified_Time"],
            "Confirmed_Quantity__c": None,
            "Confirmed_Date__c": None,
            "Shipped_Quantity__c": None,
            "Line_Tracking__c": None,
        }
        if isinstance(line.unit_price, Decimal):
            gross = money(line.quantity * line.unit_price)
            row["Discount"] = number(money(gross * line.discount_percent / 100))
        if line.extra_fields:
            row["Old_Part_Ref__c"] = line.extra_fields.get("old_part_ref")
        price_line(row)
        return row
