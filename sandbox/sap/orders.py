"""Sales order creation (deep insert): validation, pricing, ATP confirmation and number assignment.

Rules (sap_contract.md): required header fields, the sold-to party must exist in the sales area and
carry no order block, every item needs a known material maintained in its plant and a positive
quantity. Errors come back together, the first one as the main message, each with ``target`` /
``propertyref`` naming the field (``to_Item(2)/Material`` = the second item of the payload).
Items are numbered 10, 20, … unless the client numbers them. Price: the item's PPR0 condition when
sent, else the seeded price list of the document currency. Tax: the customer's VAT rate, per item.
ATP: first come, first served against unrestricted stock minus open confirmations (see
:mod:`sandbox.sap.atp`); the confirmed date is the creation date + 2 days, an unconfirmed remainder
stays open as a backorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.sap.atp import Atp, day_of
from sandbox.sap.edm import EntitySet
from sandbox.sap.errors import ErrorDetail, SapError
from sandbox.sap.odata_json import currency_decimals, parse_value, quantize
from sandbox.sap.services import HEADER_PARTNER, ITEM_PRICING, SALES_ORDER, SALES_ORDER_ITEM
from sandbox.sap.store import Row, Store, later
from sandbox.seed_data import SeedData

ORDER_TYPES = frozenset({"OR", "TA", "ZOR"})
PIECE_UNITS = {"PC": "PC", "ST": "PC", "PCE": "PC", "EA": "PC"}
PRICE_CONDITIONS = frozenset({"PPR0", "PR00"})
# Partner functions in English (SP sold-to, SH ship-to, BP bill-to, PY payer); German codes accepted.
PARTNER_FUNCTIONS = {"SP": "SP", "SH": "SH", "BP": "BP", "PY": "PY", "AG": "SP", "WE": "SH", "RE": "BP", "RG": "PY"}
REQUIRED_HEADER = {
    "SalesOrderType": "Sales document type",
    "SalesOrganization": "Sales organization",
    "DistributionChannel": "Distribution channel",
    "OrganizationDivision": "Division",
    "SoldToParty": "Sold-to party",
}
FIRST_ORDER_NUMBER = 1000001


def money(value: Decimal, currency: str) -> Decimal:
    return quantize(value, currency_decimals(currency))


class _Errors:
    def __init__(self) -> None:
        self.details: list[ErrorDetail] = []

    def add(self, code: str, message: str, target: str) -> None:
        self.details.append(ErrorDetail(code, message, target=target, propertyref=target))

    def raise_if_any(self) -> None:
        if self.details:
            first = self.details[0]
            raise SapError(400, first.code, first.message, list(self.details))


def _fields(es: EntitySet, payload: dict[str, Any], prefix: str, errors: _Errors, navs: set[str]) -> dict[str, Any]:
    """The payload's creatable properties, parsed; unknown names and bad values are errors, read-only
    properties are ignored (as Gateway does)."""
    values: dict[str, Any] = {}
    et = es.type
    for name, raw in payload.items():
        if name == "__metadata" or name in navs:
            continue
        p = et.by_name.get(name)
        if p is None:
            errors.add(
                "/IWBEP/CM_MGW_RT/022",
                f"Property '{name}' is invalid for type '{et.name}'",
                prefix + name,
            )
            continue
        if not p.creatable:
            continue
        try:
            values[name] = parse_value(p, raw)
        except ValueError as exc:
            errors.add("/IWBEP/CM_MGW_RT/021", f"Invalid value for property '{name}': {exc}", prefix + name)
    return values


def _results(raw: Any) -> list[Any]:
    """A deep-insert child list: ``{"results": [...]}`` or a bare list (both are accepted)."""
    if raw is None:
        return []
    if isinstance(raw, dict) and isinstance(raw.get("results"), list):
        return raw["results"]
    if isinstance(raw, list):
        return raw
    raise SapError(400, "/IWBEP/CM_MGW_RT/021", "Invalid format of navigation property content")


@dataclass
class OrderNumbers:
    next_order: int = FIRST_ORDER_NUMBER


class OrderService:
    def __init__(self, store: Store, data: SeedData, atp: Atp, user: str) -> None:
        self.store = store
        self.data = data
        self.atp = atp
        self.user = user[:12]
        self.numbers = OrderNumbers()
        self.prices = {pl.currency: pl.prices for pl in data.price_lists}
        self.vat = {c.number: c.vat_rate for c in data.customers}

    # -- validation ---------------------------------------------------------------------------------

    def _sales_area(self, header: dict[str, Any], errors: _Errors) -> Row | None:
        customer = header.get("SoldToParty")
        if not customer:
            return None
        area = self.store.table("A_CustomerSalesArea").get(
            (
                customer,
                header.get("SalesOrganization"),
                header.get("DistributionChannel"),
                header.get("OrganizationDivision"),
            )
        )
        central = self.store.table("A_Customer").get((customer,))
        if area is None or central is None:
            errors.add(
                "V1/302",
                f"Sold-to party {customer} not maintained for sales area {header.get('SalesOrganization')} "
                f"{header.get('DistributionChannel')} {header.get('OrganizationDivision')}",
                "SoldToParty",
            )
            return None
        block = central["OrderIsBlockedForCustomer"] or area["OrderIsBlockedForCustomer"]
        if block:
            errors.add("V1/462", f"Sold-to party {customer} is blocked for sales orders (block {block})", "SoldToParty")
        return area

    def _item(
        self, raw: Any, position: int, currency: str, plant: str, org: str, errors: _Errors
    ) -> dict[str, Any] | None:
        prefix = f"to_Item({position})/"
        if not isinstance(raw, dict):
            errors.add("/IWBEP/CM_MGW_RT/021", "Invalid format of navigation property content", f"to_Item({position})")
            return None
        values = _fields(SALES_ORDER_ITEM, raw, prefix, errors, {"to_PricingElement", "to_ScheduleLine"})
        material = values.get("Material")
        if not material:
            errors.add("V1/361", f"Enter a material for item {position}", prefix + "Material")
        elif material not in self.data.material_by_number:
            errors.add(
                "V1/382",
                f"Material {material} is not defined for sales org.{org}, distr.chan.10, language EN",
                prefix + "Material",
            )
        quantity = values.get("RequestedQuantity")
        if quantity is None or quantity <= 0:
            errors.add("V1/343", "Enter a quantity greater than zero", prefix + "RequestedQuantity")
        unit = values.get("RequestedQuantityUnit") or values.get("RequestedQuantitySAPUnit") or "PC"
        if unit not in PIECE_UNITS:
            errors.add(
                "V1/157",
                f"Unit of measure {unit} is not defined for material {material}",
                prefix + "RequestedQuantityUnit",
            )
        values["_unit"] = PIECE_UNITS.get(unit, "PC")
        item_plant = values.get("ProductionPlant") or plant
        values["ProductionPlant"] = item_plant
        if material in self.data.material_by_number and not self.atp.maintained(material, item_plant):
            errors.add(
                "M3/305", f"Material {material} not maintained in plant {item_plant}", prefix + "ProductionPlant"
            )
        values["_price"] = None
        for i, element in enumerate(_results(raw.get("to_PricingElement")), start=1):
            target = f"{prefix}to_PricingElement({i})/"
            if not isinstance(element, dict):
                errors.add("/IWBEP/CM_MGW_RT/021", "Invalid format of navigation property content", target[:-1])
                continue
            condition = _fields(ITEM_PRICING, element, target, errors, set())
            if condition.get("ConditionType") not in PRICE_CONDITIONS:
                errors.add(
                    "V1/801",
                    f"Condition type {condition.get('ConditionType')} is not allowed",
                    target + "ConditionType",
                )
                continue
            rate = condition.get("ConditionRateValue")
            per = condition.get("ConditionQuantity") or Decimal(1)
            cond_currency = condition.get("ConditionCurrency") or currency
            if rate is None or rate < 0:
                errors.add("V1/802", "Enter a condition amount", target + "ConditionRateValue")
            elif cond_currency != currency:
                errors.add(
                    "V1/803",
                    f"Condition currency {cond_currency} differs from document currency {currency}",
                    target + "ConditionCurrency",
                )
            elif per <= 0:
                errors.add("V1/804", "Enter a pricing unit greater than zero", target + "ConditionQuantity")
            else:
                values["_price"] = (rate, per)
        if values["_price"] is None and material in self.data.material_by_number:
            price = self.prices.get(currency, {}).get(material)
            if price is None:
                errors.add("V1/805", f"No price found for material {material} in {currency}", prefix + "Material")
            else:
                values["_price"] = (price, Decimal(1))
        return values

    # -- creation -----------------------------------------------------------------------------------

    def create(self, payload: Any, now: datetime) -> Row:
        if not isinstance(payload, dict):
            raise SapError(400, "/IWBEP/CM_MGW_RT/021", "The request body is not a valid JSON object")
        errors = _Errors()
        header = _fields(SALES_ORDER, payload, "", errors, {"to_Item", "to_Partner"})
        for name, label in REQUIRED_HEADER.items():
            if not header.get(name):
                errors.add("V1/320", f"Enter a value for field {label} ({name})", name)
        if header.get("SalesOrderType") and header["SalesOrderType"] not in ORDER_TYPES:
            errors.add("V1/005", f"Sales document type {header['SalesOrderType']} is not defined", "SalesOrderType")
        org = header.get("SalesOrganization", "")
        area = self._sales_area(header, errors)
        currency = header.get("TransactionCurrency") or (area["Currency"] if area else "")
        if area is not None and currency not in self.prices:
            errors.add("V1/806", f"Currency {currency} is not defined", "TransactionCurrency")
        plant = area["SupplyingPlant"] if area else ""
        raw_items = _results(payload.get("to_Item"))
        if not raw_items:
            errors.add("V1/555", "The sales document is not yet complete: enter at least one item", "to_Item")
        items = [self._item(raw, i, currency, plant, org, errors) for i, raw in enumerate(raw_items, start=1)]
        numbers = self._item_numbers(items, errors)
        partners = self._partners(payload.get("to_Partner"), header.get("SoldToParty"), errors)
        errors.raise_if_any()
        assert area is not None
        return self._commit(header, area, currency, items, numbers, partners, now)

    def _item_numbers(self, items: list[dict[str, Any] | None], errors: _Errors) -> list[str]:
        numbers, seen = [], set()
        for position, item in enumerate(items, start=1):
            given = (item or {}).get("SalesOrderItem")
            number = str(int(given)) if given and given.isdigit() else str(position * 10)
            if given and not given.isdigit():
                errors.add("V1/807", f"Item number {given} is not numeric", f"to_Item({position})/SalesOrderItem")
            if number in seen:
                errors.add("V1/808", f"Item number {number} is used twice", f"to_Item({position})/SalesOrderItem")
            seen.add(number)
            numbers.append(number)
        return numbers

    def _partners(self, raw: Any, sold_to: str | None, errors: _Errors) -> dict[str, str]:
        partners = {}
        for i, element in enumerate(_results(raw), start=1):
            target = f"to_Partner({i})/"
            if not isinstance(element, dict):
                errors.add("/IWBEP/CM_MGW_RT/021", "Invalid format of navigation property content", target[:-1])
                continue
            values = _fields(HEADER_PARTNER, element, target, errors, set())
            function = PARTNER_FUNCTIONS.get(values.get("PartnerFunction", ""))
            customer = values.get("Customer", "")
            if function is None:
                errors.add(
                    "V1/809",
                    f"Partner function {values.get('PartnerFunction')} is not defined",
                    target + "PartnerFunction",
                )
            elif self.store.table("A_Customer").get((customer,)) is None:
                errors.add("V1/302", f"Customer {customer} does not exist", target + "Customer")
            else:
                partners[function] = customer
        for function in ("SP", "SH", "BP", "PY"):
            partners.setdefault(function, sold_to or "")
        partners["SP"] = sold_to or ""
        return partners

    def _commit(
        self,
        header: dict[str, Any],
        area: Row,
        currency: str,
        items: list[dict[str, Any] | None],
        numbers: list[str],
        partners: dict[str, str],
        now: datetime,
    ) -> Row:
        today = day_of(now)
        order_id = str(self.numbers.next_order)
        self.numbers.next_order += 1
        self.store.journal.record(lambda: setattr(self.numbers, "next_order", self.numbers.next_order - 1))
        customer = header["SoldToParty"]
        vat = self.vat.get(customer, Decimal(0))
        requested = header.get("RequestedDeliveryDate") or today
        order_table = self.store.table("A_SalesOrder")
        order = order_table.new_row(
            # Computed values win over what the client sent (dict() lets later keywords override).
            **dict(
                header,
                SalesOrder=order_id,
                TransactionCurrency=currency,
                CreationDate=today,
                CreatedByUser=self.user,
                LastChangeDate=today,
                LastChangeDateTime=now,
                SalesOrderDate=header.get("SalesOrderDate") or today,
                PricingDate=header.get("PricingDate") or today,
                RequestedDeliveryDate=requested,
                CustomerPaymentTerms=header.get("CustomerPaymentTerms") or area["CustomerPaymentTerms"],
                ShippingCondition=header.get("ShippingCondition") or area["ShippingCondition"],
                IncotermsClassification=header.get("IncotermsClassification") or area["IncotermsClassification"],
                IncotermsLocation1=header.get("IncotermsLocation1") or area["IncotermsLocation1"],
                OverallSDProcessStatus="A",
                OverallDeliveryStatus="A",
                OverallTotalDeliveryStatus="A",
                OverallSDDocumentRejectionSts="A",
                TotalCreditCheckStatus="A",
            )
        )
        order_table.insert(order)
        total = Decimal(0)
        for number, item in zip(numbers, items, strict=True):
            assert item is not None
            row = self._insert_item(order, area, currency, vat, number, item, requested, now)
            total += row["NetAmount"]
        order_table.update(order, {"TotalNetAmount": total})
        partner_table = self.store.table("A_SalesOrderHeaderPartner")
        for function, customer in partners.items():
            partner_table.insert(
                partner_table.new_row(SalesOrder=order_id, PartnerFunction=function, Customer=customer)
            )
        return order

    def _insert_item(
        self,
        order: Row,
        area: Row,
        currency: str,
        vat: Decimal,
        number: str,
        item: dict[str, Any],
        requested: datetime,
        now: datetime,
    ) -> Row:
        today = day_of(now)
        material = self.data.material_by_number[item["Material"]]
        quantity = item["RequestedQuantity"]
        rate, per = item["_price"]
        net = money(rate * quantity / per, currency)
        weight = quantize(material.weight_kg * quantity, 3)
        given = {k: v for k, v in item.items() if not k.startswith("_")}
        item_table = self.store.table("A_SalesOrderItem")
        row = item_table.new_row(
            **dict(
                given,
                SalesOrder=order["SalesOrder"],
                SalesOrderItem=number,
                SalesOrderItemCategory=item.get("SalesOrderItemCategory") or "TAN",
                SalesOrderItemText=item.get("SalesOrderItemText") or material.description_en[:40],
                PurchaseOrderByCustomer=item.get("PurchaseOrderByCustomer") or order["PurchaseOrderByCustomer"],
                RequestedQuantityUnit=item["_unit"],
                RequestedQuantitySAPUnit=item["_unit"],
                RequestedQuantityISOUnit="PCE",
                OrderQuantityUnit=item["_unit"],
                OrderQuantitySAPUnit=item["_unit"],
                OrderQuantityISOUnit="PCE",
                ItemGrossWeight=weight,
                ItemNetWeight=weight,
                ItemWeightUnit="KG",
                ItemWeightSAPUnit="KG",
                ItemWeightISOUnit="KGM",
                TransactionCurrency=currency,
                NetAmount=net,
                TaxAmount=money(net * vat / 100, currency),
                ShippingPoint=item.get("ShippingPoint") or item["ProductionPlant"],
                DeliveryPriority=item.get("DeliveryPriority") or area["DeliveryPriority"],
                SDProcessStatus="A",
                DeliveryStatus="A",
                PricingDate=today,
            )
        )
        item_table.insert(row)
        self._pricing_element(row, rate, per, quantity, net, currency, today, item["_unit"])
        self.atp.confirm_new_item(order, row, requested, now)
        return row

    def _pricing_element(
        self,
        item: Row,
        rate: Decimal,
        per: Decimal,
        quantity: Decimal,
        net: Decimal,
        currency: str,
        today: datetime,
        unit: str,
    ) -> None:
        table = self.store.table("A_SalesOrderItemPrElement")
        table.insert(
            table.new_row(
                SalesOrder=item["SalesOrder"],
                SalesOrderItem=item["SalesOrderItem"],
                PricingProcedureStep="10",
                PricingProcedureCounter="1",
                ConditionType="PPR0",
                PriceConditionDeterminationDte=today,
                ConditionCalculationType="C",
                ConditionBaseValue=quantity,
                ConditionRateValue=rate,
                ConditionCurrency=currency,
                ConditionQuantity=per,
                ConditionQuantityUnit=unit,
                ConditionQuantitySAPUnit=unit,
                ConditionQuantityISOUnit="PCE",
                ConditionCategory="B",
                ConditionOrigin="A",
                ConditionAmount=net,
                TransactionCurrency=currency,
            )
        )

    # -- item writes on an existing order ------------------------------------------------------------

    def _area_of(self, order: Row) -> Row:
        area = self.store.table("A_CustomerSalesArea").get(
            (
                order["SoldToParty"],
                order["SalesOrganization"],
                order["DistributionChannel"],
                order["OrganizationDivision"],
            )
        )
        if area is None:
            raise SapError(400, "V1/302", f"Sold-to party {order['SoldToParty']} not maintained for the sales area")
        return area

    def _touch(self, order: Row, now: datetime) -> None:
        """A changed item changes its order: new total, new ``LastChangeDateTime`` (the order's ETag)."""
        items = self.store.children(SALES_ORDER, "to_Item", order)
        total = sum((i["NetAmount"] for i in items if not i["SalesDocumentRjcnReason"]), Decimal(0))
        self.store.table("A_SalesOrder").update(
            order,
            {"TotalNetAmount": total, "LastChangeDateTime": later(order["LastChangeDateTime"], now),
             "LastChangeDate": day_of(now)},
        )  # fmt: skip

    def create_item(self, order: Row, payload: Any, now: datetime) -> Row:
        """``POST A_SalesOrder('…')/to_Item`` (or ``A_SalesOrderItem`` naming its ``SalesOrder``): one
        more item, validated, priced and ATP-checked as in a deep insert; numbered after the last one."""
        if not isinstance(payload, dict):
            raise SapError(400, "/IWBEP/CM_MGW_RT/021", "The request body is not a valid JSON object")
        area = self._area_of(order)
        currency = order["TransactionCurrency"]
        errors = _Errors()
        values = self._item(payload, 1, currency, area["SupplyingPlant"], order["SalesOrganization"], errors)
        for detail in errors.details:  # a single item: targets name the property itself
            detail.target = detail.propertyref = detail.target.removeprefix("to_Item(1)/")
        existing = {int(i["SalesOrderItem"]) for i in self.store.children(SALES_ORDER, "to_Item", order)}
        given = (values or {}).get("SalesOrderItem")
        number = str(int(given)) if given and given.isdigit() else str((max(existing, default=0) // 10 + 1) * 10)
        if given and not given.isdigit():
            errors.add("V1/807", f"Item number {given} is not numeric", "SalesOrderItem")
        elif int(number) in existing or int(number) == 0:
            errors.add(
                "V1/808", f"Item number {number} already exists in order {order['SalesOrder']}", "SalesOrderItem"
            )
        errors.raise_if_any()
        assert values is not None
        vat = self.vat.get(order["SoldToParty"], Decimal(0))
        row = self._insert_item(order, area, currency, vat, number, values, order["RequestedDeliveryDate"], now)
        self._touch(order, now)
        return row

    def update_item(self, item: Row, changes: dict[str, Any], now: datetime) -> None:
        """PATCH/MERGE on ``A_SalesOrderItem``: a new quantity is re-priced and re-checked (ATP); a
        rejection reason gives the confirmed quantity back and takes the item out of the total; texts
        and the other descriptive fields are stored as sent. Material, plant and units cannot be
        changed here (create a new item and reject this one) [emulator's choice]."""
        order = self.store.table("A_SalesOrder").get((item["SalesOrder"],))
        assert order is not None
        frozen = {"Material", "ProductionPlant", "RequestedQuantityUnit", "RequestedQuantitySAPUnit",
                  "RequestedQuantityISOUnit", "ItemWeightSAPUnit", "ItemWeightISOUnit"}  # fmt: skip
        for name in sorted(frozen & set(changes)):
            if changes[name] != item[name]:
                raise SapError(
                    400,
                    "V1/093",
                    f"Field {name} of item {int(item['SalesOrderItem'])} cannot be changed; "
                    "create a new item and reject this one",
                    [ErrorDetail("V1/093", f"Field {name} cannot be changed", name, name)],
                )
        lines = self.atp.lines_of(item)
        delivered = sum((line["DeliveredQtyInOrderQtyUnit"] for line in lines), Decimal(0))
        quantity = changes.get("RequestedQuantity", item["RequestedQuantity"])
        rejection = changes.get("SalesDocumentRjcnReason", item["SalesDocumentRjcnReason"])
        newly_rejected = bool(rejection and not item["SalesDocumentRjcnReason"])
        replan = quantity != item["RequestedQuantity"] or newly_rejected
        # A partly delivered item can still be rejected: that closes its open rest (SAP's way to end
        # a backorder); everything else about it is fixed by its deliveries.
        closes_rest = newly_rejected and quantity == item["RequestedQuantity"] and 0 < delivered < quantity
        if replan and delivered > 0 and not closes_rest:
            raise SapError(
                400, "V1/059", f"Item {int(item['SalesOrderItem'])} cannot be changed: subsequent documents exist"
            )
        if quantity is None or quantity <= 0:
            raise SapError(
                400, "V1/343", "Enter a quantity greater than zero",
                [ErrorDetail("V1/343", "Enter a quantity greater than zero", "RequestedQuantity", "RequestedQuantity")],
            )  # fmt: skip
        if item["SalesDocumentRjcnReason"] and not rejection:
            raise SapError(400, "V1/094", "A rejected item cannot be reopened [emulator]", [])
        item_table = self.store.table("A_SalesOrderItem")
        plain = {k: v for k, v in changes.items() if k not in ("RequestedQuantity",)}
        if closes_rest:
            self.atp.release_item(item)
            for line in lines:
                self.store.table("A_SalesOrderScheduleLine").update(line, {"OpenConfdDelivQtyInOrdQtyUnit": Decimal(0)})
            item_table.update(item, {**plain, "ConfdDelivQtyInOrderQtyUnit": delivered, "DeliveryStatus": "C"})
            self._touch(order, now)
            return
        if replan:
            self.atp.release_item(item)
            for line in lines:
                self.store.table("A_SalesOrderScheduleLine").delete(line)
        item_table.update(item, plain)
        if quantity != item["RequestedQuantity"]:
            self._reprice(order, item, quantity)
        if replan and not rejection:
            self.atp.confirm_new_item(order, item, order["RequestedDeliveryDate"], now)
        elif replan:
            item_table.update(item, {"ConfdDelivQtyInOrderQtyUnit": Decimal(0)})
        self._touch(order, now)

    def _reprice(self, order: Row, item: Row, quantity: Decimal) -> None:
        currency = order["TransactionCurrency"]
        conditions = self.store.children(SALES_ORDER_ITEM, "to_PricingElement", item)
        condition = conditions[0]
        net = money(condition["ConditionRateValue"] * quantity / condition["ConditionQuantity"], currency)
        vat = self.vat.get(order["SoldToParty"], Decimal(0))
        material = self.data.material_by_number[item["Material"]]
        weight = quantize(material.weight_kg * quantity, 3)
        self.store.table("A_SalesOrderItem").update(
            item,
            {"RequestedQuantity": quantity, "NetAmount": net, "TaxAmount": money(net * vat / 100, currency),
             "ItemGrossWeight": weight, "ItemNetWeight": weight},
        )  # fmt: skip
        self.store.table("A_SalesOrderItemPrElement").update(
            condition, {"ConditionBaseValue": quantity, "ConditionAmount": net}
        )

    # -- deletion -----------------------------------------------------------------------------------

    def delete(self, order: Row) -> None:
        order_id = order["SalesOrder"]
        items = self.store.children(SALES_ORDER, "to_Item", order)
        lines = [line for item in items for line in self.store.children(SALES_ORDER_ITEM, "to_ScheduleLine", item)]
        if any(line["DeliveredQtyInOrderQtyUnit"] > 0 for line in lines):
            raise SapError(400, "V1/059", f"Sales document {order_id} cannot be deleted: subsequent documents exist")
        for item in items:
            self.atp.release_item(item)
            for child in ("to_ScheduleLine", "to_PricingElement"):
                for row in self.store.children(SALES_ORDER_ITEM, child, item):
                    self.store.table(SALES_ORDER_ITEM.type.nav_by_name[child].target).delete(row)
            self.store.table("A_SalesOrderItem").delete(item)
        for partner in self.store.children(SALES_ORDER, "to_Partner", order):
            self.store.table("A_SalesOrderHeaderPartner").delete(partner)
        self.store.table("A_SalesOrder").delete(order)
