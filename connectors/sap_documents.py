"""SAP S/4HANA documents as the hub reads them (sales orders with schedule lines, deliveries, billing
documents, stock rows) and the deep-insert body of a sales order, built from plain values.

Pure functions over cleaned entities (:func:`connectors.sap_values.clean_entity`): no HTTP here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from connectors.base import to_decimal
from connectors.sap_values import ETAG, edm_decimal, to_odata_date

# ---------------------------------------------------------------------------------------------------
# Documents as the hub reads them
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockRow:
    material: str
    plant: str
    storage_location: str
    batch: str
    stock_type: str  # InventoryStockType
    special_stock_type: str  # InventorySpecialStockType ("" = own stock)
    quantity: Decimal
    unit: str


@dataclass(frozen=True)
class ScheduleLine:
    schedule_line: str
    requested_date: date | None
    confirmed_date: date | None
    order_quantity: Decimal
    confirmed_quantity: Decimal  # ConfdOrderQtyByMatlAvailCheck
    delivered_quantity: Decimal
    unit: str


@dataclass(frozen=True)
class SalesOrderItemDoc:
    item: str
    material: str
    requested_quantity: Decimal
    unit: str
    plant: str
    net_amount: Decimal | None
    confirmed_quantity: Decimal
    confirmed_date: date | None  # latest ConfirmedDeliveryDate of a schedule line with a quantity
    delivery_status: str
    rejection_reason: str
    schedule_lines: tuple[ScheduleLine, ...] = ()

    @property
    def open_quantity(self) -> Decimal:
        """Requested but not confirmed: SAP's backorder for this item."""
        return max(self.requested_quantity - self.confirmed_quantity, Decimal(0))


@dataclass(frozen=True)
class SalesOrderDoc:
    number: str
    purchase_order: str  # PurchaseOrderByCustomer (the CRM order number)
    order_type: str
    sold_to: str
    sales_organization: str
    distribution_channel: str
    division: str
    currency: str
    net_amount: Decimal | None
    requested_delivery_date: date | None
    created_on: date | None
    last_changed_at: datetime | None
    etag: str | None
    overall_status: str  # OverallSDProcessStatus
    delivery_status: str  # OverallDeliveryStatus
    rejection_status: str  # OverallSDDocumentRejectionSts
    credit_status: str  # TotalCreditCheckStatus
    block_status: str  # TotalBlockStatus
    items: tuple[SalesOrderItemDoc, ...]

    @property
    def confirmed_quantity(self) -> Decimal:
        return sum((i.confirmed_quantity for i in self.items), Decimal(0))

    @property
    def fully_confirmed(self) -> bool:
        return all(i.confirmed_quantity >= i.requested_quantity for i in self.items)


@dataclass(frozen=True)
class DeliveryItemDoc:
    item: str
    material: str
    plant: str
    storage_location: str
    batch: str
    quantity: Decimal  # ActualDeliveryQuantity
    unit: str
    sales_order: str  # ReferenceSDDocument
    sales_order_item: str
    goods_movement_status: str
    # Added for the 3PL flow (issue 10); defaults keep older constructors working.
    text: str = ""  # DeliveryDocumentItemText
    base_quantity: Decimal = Decimal(0)  # ActualDeliveredQtyInBaseUnit
    base_unit: str = ""
    original_quantity: Decimal = Decimal(0)  # OriginalDeliveryQuantity: as the delivery was created
    picking_status: str = ""  # A not picked, B partly, C completely, "" not relevant
    billing_status: str = ""  # DeliveryRelatedBillingStatus

    @property
    def issued_quantity(self) -> Decimal:
        """What left the warehouse (goods issue posted, GoodsMovementStatus C): the delivered
        quantity in base unit (ActualDeliveredQtyInBaseUnit, else ActualDeliveryQuantity); 0 before
        goods issue. The three-way match's "delivered"."""
        if self.goods_movement_status != "C":
            return Decimal(0)
        return self.base_quantity or self.quantity


@dataclass(frozen=True)
class DeliveryDoc:
    number: str
    delivery_type: str
    shipping_point: str
    sold_to: str
    ship_to: str
    goods_movement_status: str  # OverallGoodsMovementStatus: A not yet, B partly, C completely
    goods_issue_date: date | None  # ActualGoodsMovementDate
    planned_goods_issue_date: date | None
    delivery_date: date | None
    last_change_date: date | None
    bill_of_lading: str
    version: str | None  # the ETag (DeliveryVersion)
    items: tuple[DeliveryItemDoc, ...]
    # Added for the 3PL flow (issue 10); defaults keep older constructors working.
    sales_organization: str = ""
    created_on: date | None = None  # CreationDate
    created_at: datetime | None = None  # CreationDate + CreationTime, aware UTC
    goods_issued_at: datetime | None = None  # ActualGoodsMovementDate + Time, aware UTC
    picking_status: str = ""  # OverallPickingStatus
    billing_status: str = ""  # OverallDelivReltdBillgStatus
    process_status: str = ""  # OverallSDProcessStatus

    @property
    def is_issued(self) -> bool:
        """Goods issue posted for the whole delivery (OverallGoodsMovementStatus C)."""
        return self.goods_movement_status == "C"

    @property
    def plants(self) -> frozenset[str]:
        return frozenset(i.plant for i in self.items if i.plant)

    @property
    def sales_orders(self) -> frozenset[str]:
        return frozenset(i.sales_order for i in self.items if i.sales_order)


@dataclass(frozen=True)
class BillingItemDoc:
    item: str
    material: str
    plant: str
    quantity: Decimal
    unit: str
    net_amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal
    delivery: str  # ReferenceSDDocument: the delivery (category J); see reference_category
    delivery_item: str
    sales_order: str  # SalesDocument
    sales_order_item: str
    # Added for the three-way match (issue 12); defaults keep older constructors working.
    # ReferenceSDDocumentCategory: J a delivery; C the order itself (order-related billing, no
    # delivery); M an invoice (a credit memo or correction made with reference to it).
    reference_category: str = ""
    sales_document_category: str = ""  # SalesSDDocumentCategory (C an order)
    currency: str = ""  # TransactionCurrency
    base_quantity: Decimal = Decimal(0)  # BillingQuantityInBaseUnit
    base_unit: str = ""
    text: str = ""  # BillingDocumentItemText
    pricing_date: date | None = None
    reason: str = ""  # SDDocumentReason (order reason, e.g. of a credit memo)

    @property
    def delivery_reference(self) -> tuple[str, str] | None:
        """(delivery, item) when the item references an outbound delivery, else None. An unknown
        category with a reference counts as a delivery, as older payloads carried no category."""
        if not self.delivery or self.reference_category not in ("", "J"):
            return None
        return (self.delivery, self.delivery_item)


@dataclass(frozen=True)
class BillingDoc:
    number: str
    billing_type: str  # BillingDocumentType: F2 invoice, F1 order-related invoice, G2 credit memo, S1/S2 …
    # SDDocumentCategory: M invoice, O credit memo, P debit memo, N invoice cancellation, S credit memo
    # cancellation (what transforms.settlement_money.document_sign reads); BillingDocumentCategory
    # (L delivery-related, A order-related) is billing_category.
    category: str
    billing_date: date | None
    sold_to: str
    payer: str
    purchase_order: str
    currency: str
    net_amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal
    is_cancelled: bool
    cancelled_document: str
    accounting_posting_status: str
    overall_billing_status: str
    last_changed_at: datetime | None
    items: tuple[BillingItemDoc, ...]
    # Added for the three-way match (issue 12); defaults keep older constructors working.
    billing_category: str = ""  # BillingDocumentCategory: L delivery-related, A order-related
    company_code: str = ""
    fiscal_year: str = ""
    accounting_document: str = ""
    sales_organization: str = ""
    distribution_channel: str = ""
    division: str = ""
    country: str = ""
    payment_terms: str = ""
    created_on: date | None = None
    last_change_date: date | None = None

    @property
    def sd_category(self) -> str:
        """SDDocumentCategory (the same as ``category``)."""
        return self.category

    @property
    def is_cancellation(self) -> bool:
        """A cancellation document (S1 of an invoice, S2 of a credit memo)."""
        return self.sd_category in ("N", "S") or self.billing_type in ("S1", "S2")

    @property
    def is_credit(self) -> bool:
        """A credit memo (or a cancelled invoice's cancellation): its positive amounts reduce what is
        billed."""
        return self.sd_category in ("O", "N") or self.billing_type in ("G2", "RE", "S1")


def field_decimal(value: Any) -> Decimal:
    """A quantity or amount; 0 when SAP leaves it empty."""
    return to_decimal(value) or Decimal(0)


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def field_text(row: Mapping[str, Any], key: str) -> str:
    """A string property; "" when absent or null (SAP's own blank)."""
    value = row.get(key)
    return "" if value is None else str(value)


def item_number(row: Mapping[str, Any], key: str) -> str:
    """An item or schedule-line number (NUMC) without leading zeros: one API renders "000010" where
    another renders "10", and the hub matches delivery and billing items to order items by it."""
    text = field_text(row, key)
    return str(int(text)) if text.isdigit() else text


def stock_row_from(row: Mapping[str, Any]) -> StockRow:
    return StockRow(
        material=field_text(row, "Material"),
        plant=field_text(row, "Plant"),
        storage_location=field_text(row, "StorageLocation"),
        batch=field_text(row, "Batch"),
        stock_type=field_text(row, "InventoryStockType"),
        special_stock_type=field_text(row, "InventorySpecialStockType"),
        quantity=field_decimal(row.get("MatlWrhsStkQtyInMatlBaseUnit")),
        unit=field_text(row, "MaterialBaseUnit"),
    )


def schedule_line_from(row: Mapping[str, Any]) -> ScheduleLine:
    return ScheduleLine(
        schedule_line=item_number(row, "ScheduleLine"),
        requested_date=_date(row.get("RequestedDeliveryDate")),
        confirmed_date=_date(row.get("ConfirmedDeliveryDate")),
        order_quantity=field_decimal(row.get("ScheduleLineOrderQuantity")),
        confirmed_quantity=field_decimal(row.get("ConfdOrderQtyByMatlAvailCheck")),
        delivered_quantity=field_decimal(row.get("DeliveredQtyInOrderQtyUnit")),
        unit=field_text(row, "OrderQuantityUnit"),
    )


def sales_order_from(
    header: Mapping[str, Any], schedule_lines: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]] | None = None
) -> SalesOrderDoc:
    """A cleaned A_SalesOrder (with ``to_Item`` expanded) and its schedule lines keyed by
    (SalesOrder, SalesOrderItem) as a document. Without schedule lines, an item's confirmed quantity
    is its own ``ConfdDelivQtyInOrderQtyUnit``."""
    number = field_text(header, "SalesOrder")
    items = []
    for row in header.get("to_Item") or []:
        item = item_number(row, "SalesOrderItem")
        lines = [schedule_line_from(s) for s in (schedule_lines or {}).get((number, item), [])]
        # A schedule line's own navigation may be expanded too.
        lines += [schedule_line_from(s) for s in row.get("to_ScheduleLine") or []]
        if lines:
            confirmed = sum((s.confirmed_quantity for s in lines), Decimal(0))
        else:
            confirmed = field_decimal(row.get("ConfdDelivQtyInOrderQtyUnit"))
        dates = [s.confirmed_date for s in lines if s.confirmed_quantity > 0 and s.confirmed_date]
        items.append(
            SalesOrderItemDoc(
                item=item,
                material=field_text(row, "Material"),
                requested_quantity=field_decimal(row.get("RequestedQuantity")),
                unit=field_text(row, "RequestedQuantityUnit") or field_text(row, "OrderQuantityUnit"),
                plant=field_text(row, "ProductionPlant"),
                net_amount=to_decimal(row.get("NetAmount")),
                confirmed_quantity=confirmed,
                confirmed_date=max(dates) if dates else None,
                delivery_status=field_text(row, "DeliveryStatus"),
                rejection_reason=field_text(row, "SalesDocumentRjcnReason"),
                schedule_lines=tuple(sorted(lines, key=lambda s: s.schedule_line.zfill(4))),
            )
        )
    changed = header.get("LastChangeDateTime")
    return SalesOrderDoc(
        number=number,
        purchase_order=field_text(header, "PurchaseOrderByCustomer"),
        order_type=field_text(header, "SalesOrderType"),
        sold_to=field_text(header, "SoldToParty"),
        sales_organization=field_text(header, "SalesOrganization"),
        distribution_channel=field_text(header, "DistributionChannel"),
        division=field_text(header, "OrganizationDivision"),
        currency=field_text(header, "TransactionCurrency"),
        net_amount=to_decimal(header.get("TotalNetAmount")),
        requested_delivery_date=_date(header.get("RequestedDeliveryDate")),
        created_on=_date(header.get("CreationDate")),
        last_changed_at=changed if isinstance(changed, datetime) else None,
        etag=header.get(ETAG),
        overall_status=field_text(header, "OverallSDProcessStatus"),
        delivery_status=field_text(header, "OverallDeliveryStatus"),
        rejection_status=field_text(header, "OverallSDDocumentRejectionSts"),
        credit_status=field_text(header, "TotalCreditCheckStatus"),
        block_status=field_text(header, "TotalBlockStatus"),
        items=tuple(sorted(items, key=lambda i: i.item.zfill(6))),
    )


_EDM_TIME = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$")


def edm_time(value: Any) -> time | None:
    """An Edm.Time (``PT14H30M05S``) as a time of day; None when absent or not that shape."""
    if isinstance(value, time):
        return value
    match = _EDM_TIME.match(value) if isinstance(value, str) and value else None
    if match is None:
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    return time(hours, minutes, seconds)


def _moment(day: Any, clock: Any) -> datetime | None:
    """A date field and its time field (SAP keeps them apart) as one aware UTC instant."""
    on = _date(day)
    if on is None:
        return None
    return datetime.combine(on, edm_time(clock) or time(0), tzinfo=UTC)


def delivery_from(header: Mapping[str, Any]) -> DeliveryDoc:
    items = tuple(
        DeliveryItemDoc(
            item=item_number(row, "DeliveryDocumentItem"),
            material=field_text(row, "Material"),
            plant=field_text(row, "Plant"),
            storage_location=field_text(row, "StorageLocation"),
            batch=field_text(row, "Batch"),
            quantity=field_decimal(row.get("ActualDeliveryQuantity")),
            unit=field_text(row, "DeliveryQuantityUnit"),
            sales_order=field_text(row, "ReferenceSDDocument"),
            sales_order_item=item_number(row, "ReferenceSDDocumentItem"),
            goods_movement_status=field_text(row, "GoodsMovementStatus"),
            text=field_text(row, "DeliveryDocumentItemText"),
            base_quantity=field_decimal(row.get("ActualDeliveredQtyInBaseUnit")),
            base_unit=field_text(row, "BaseUnit"),
            original_quantity=field_decimal(row.get("OriginalDeliveryQuantity")),
            picking_status=field_text(row, "PickingStatus"),
            billing_status=field_text(row, "DeliveryRelatedBillingStatus"),
        )
        for row in header.get("to_DeliveryDocumentItem") or []
    )
    return DeliveryDoc(
        number=field_text(header, "DeliveryDocument"),
        delivery_type=field_text(header, "DeliveryDocumentType"),
        shipping_point=field_text(header, "ShippingPoint"),
        sold_to=field_text(header, "SoldToParty"),
        ship_to=field_text(header, "ShipToParty"),
        goods_movement_status=field_text(header, "OverallGoodsMovementStatus"),
        goods_issue_date=_date(header.get("ActualGoodsMovementDate")),
        planned_goods_issue_date=_date(header.get("PlannedGoodsIssueDate")),
        delivery_date=_date(header.get("DeliveryDate")),
        last_change_date=_date(header.get("LastChangeDate")),
        bill_of_lading=field_text(header, "BillOfLading"),
        version=header.get(ETAG) or (field_text(header, "DeliveryVersion") or None),
        items=tuple(sorted(items, key=lambda i: i.item.zfill(6))),
        sales_organization=field_text(header, "SalesOrganization"),
        created_on=_date(header.get("CreationDate")),
        created_at=_moment(header.get("CreationDate"), header.get("CreationTime")),
        goods_issued_at=_moment(header.get("ActualGoodsMovementDate"), header.get("ActualGoodsMovementTime")),
        picking_status=field_text(header, "OverallPickingStatus"),
        billing_status=field_text(header, "OverallDelivReltdBillgStatus"),
        process_status=field_text(header, "OverallSDProcessStatus"),
    )


def billing_document_from(header: Mapping[str, Any]) -> BillingDoc:
    items = tuple(
        BillingItemDoc(
            item=item_number(row, "BillingDocumentItem"),
            material=field_text(row, "Material"),
            plant=field_text(row, "Plant"),
            quantity=field_decimal(row.get("BillingQuantity")),
            unit=field_text(row, "BillingQuantityUnit"),
            net_amount=field_decimal(row.get("NetAmount")),
            tax_amount=field_decimal(row.get("TaxAmount")),
            gross_amount=field_decimal(row.get("GrossAmount")),
            delivery=field_text(row, "ReferenceSDDocument"),
            delivery_item=item_number(row, "ReferenceSDDocumentItem"),
            sales_order=field_text(row, "SalesDocument"),
            sales_order_item=item_number(row, "SalesDocumentItem"),
            reference_category=field_text(row, "ReferenceSDDocumentCategory"),
            sales_document_category=field_text(row, "SalesSDDocumentCategory"),
            currency=field_text(row, "TransactionCurrency") or field_text(header, "TransactionCurrency"),
            base_quantity=field_decimal(row.get("BillingQuantityInBaseUnit")),
            base_unit=field_text(row, "BaseUnit"),
            text=field_text(row, "BillingDocumentItemText"),
            pricing_date=_date(row.get("PricingDate")),
            reason=field_text(row, "SDDocumentReason"),
        )
        for row in header.get("to_Item") or []
    )
    changed = header.get("LastChangeDateTime")
    return BillingDoc(
        number=field_text(header, "BillingDocument"),
        billing_type=field_text(header, "BillingDocumentType"),
        category=field_text(header, "SDDocumentCategory"),
        billing_date=_date(header.get("BillingDocumentDate")),
        sold_to=field_text(header, "SoldToParty"),
        payer=field_text(header, "PayerParty"),
        purchase_order=field_text(header, "PurchaseOrderByCustomer"),
        currency=field_text(header, "TransactionCurrency"),
        net_amount=field_decimal(header.get("TotalNetAmount")),
        tax_amount=field_decimal(header.get("TaxAmount")),
        gross_amount=field_decimal(header.get("TotalGrossAmount")),
        is_cancelled=bool(header.get("BillingDocumentIsCancelled")),
        cancelled_document=field_text(header, "CancelledBillingDocument"),
        accounting_posting_status=field_text(header, "AccountingPostingStatus"),
        overall_billing_status=field_text(header, "OverallBillingStatus"),
        last_changed_at=changed if isinstance(changed, datetime) else None,
        items=tuple(sorted(items, key=lambda i: i.item.zfill(6))),
        billing_category=field_text(header, "BillingDocumentCategory"),
        company_code=field_text(header, "CompanyCode"),
        fiscal_year=field_text(header, "FiscalYear"),
        accounting_document=field_text(header, "AccountingDocument"),
        sales_organization=field_text(header, "SalesOrganization"),
        distribution_channel=field_text(header, "DistributionChannel"),
        division=field_text(header, "Division"),
        country=field_text(header, "Country"),
        payment_terms=field_text(header, "CustomerPaymentTerms"),
        created_on=_date(header.get("CreationDate")),
        last_change_date=_date(header.get("LastChangeDate")),
    )


# ---------------------------------------------------------------------------------------------------
# The deep-insert body of a sales order
# ---------------------------------------------------------------------------------------------------

# MaxLength of the properties the hub writes (API_SALES_ORDER_SRV metadata).
_KEY_LENGTHS = {
    "SalesOrderType": 4,
    "SalesOrganization": 4,
    "DistributionChannel": 2,
    "OrganizationDivision": 2,
    "SoldToParty": 10,
    "PurchaseOrderByCustomer": 35,
    "TransactionCurrency": 5,
    "SalesOrderItem": 6,
    "Material": 40,
    "MaterialByCustomer": 35,
    "RequestedQuantityUnit": 3,
    "ProductionPlant": 4,
    "PartnerFunction": 2,
    "Customer": 10,
    "ConditionType": 4,
    "ConditionCurrency": 5,
}
_TEXT_LENGTHS = {"SalesOrderItemText": 40}
# Edm.Decimal(precision, scale) of the numbers the hub writes.
_DECIMALS = {"RequestedQuantity": (15, 3), "ConditionRateValue": (24, 9), "ConditionQuantity": (5, 0)}
PRICE_CONDITION = "PPR0"  # the customer's agreed net unit price


@dataclass(frozen=True)
class OrderLine:
    """One item of an order to create. ``item`` defaults to 10, 20, … by position."""

    material: str
    quantity: Decimal
    unit: str
    plant: str
    net_unit_price: Decimal | None = None
    item: str | None = None
    text: str | None = None
    customer_material: str | None = None


def _key(path: str, name: str, value: Any, *, required: bool = True) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise ValueError(f"{path}{name} is required")
        return None
    limit = _KEY_LENGTHS[name]
    if len(text) > limit:
        raise ValueError(f"{path}{name} {text!r} is {len(text)} characters; SAP allows {limit}")
    return text


def _number(path: str, name: str, value: Decimal | int | str) -> str:
    number = to_decimal(value)
    if number is None:
        raise ValueError(f"{path}{name} is required")
    precision, scale = _DECIMALS[name]
    if abs(number) >= Decimal(10) ** (precision - scale):
        raise ValueError(f"{path}{name} {number} exceeds Decimal({precision},{scale})")
    if number != number.quantize(Decimal(1).scaleb(-scale)):
        raise ValueError(f"{path}{name} {number} has more than {scale} decimals")
    return edm_decimal(number)


def sales_order_payload(
    *,
    sold_to: str,
    purchase_order: str,
    sales_organization: str,
    distribution_channel: str,
    division: str,
    lines: Sequence[OrderLine],
    currency: str | None = None,
    purchase_order_date: date | None = None,
    requested_delivery_date: date | None = None,
    order_type: str = "OR",
    ship_to: str | None = None,
) -> dict[str, Any]:
    """The deep-insert body of ``POST A_SalesOrder``: header, ``to_Item`` (and ``to_Partner`` for a
    ship-to), each item with ``to_PricingElement`` PPR0 when it carries an agreed net unit price.

    Keys that are too long are refused with a ValueError naming the field (truncating
    ``PurchaseOrderByCustomer`` would break the lookup that prevents duplicates); free texts are cut
    to their length. Quantities must be positive with at most 3 decimals.
    """
    if not lines:
        raise ValueError("an order needs at least one line")
    body: dict[str, Any] = {
        "SalesOrderType": _key("", "SalesOrderType", order_type),
        "SalesOrganization": _key("", "SalesOrganization", sales_organization),
        "DistributionChannel": _key("", "DistributionChannel", distribution_channel),
        "OrganizationDivision": _key("", "OrganizationDivision", division),
        "SoldToParty": _key("", "SoldToParty", sold_to),
        "PurchaseOrderByCustomer": _key("", "PurchaseOrderByCustomer", purchase_order),
    }
    if purchase_order_date is not None:
        body["CustomerPurchaseOrderDate"] = to_odata_date(purchase_order_date)
    if requested_delivery_date is not None:
        body["RequestedDeliveryDate"] = to_odata_date(requested_delivery_date)
    if currency_code := _key("", "TransactionCurrency", currency, required=False):
        body["TransactionCurrency"] = currency_code
    items = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        path = f"to_Item[{index}]."
        number = _key(path, "SalesOrderItem", line.item or str((index + 1) * 10))
        assert number is not None
        if number in seen:
            raise ValueError(f"{path}SalesOrderItem {number} appears twice")
        seen.add(number)
        quantity = to_decimal(line.quantity)
        if quantity is None or quantity <= 0:
            raise ValueError(f"{path}RequestedQuantity must be positive, got {line.quantity!r}")
        item: dict[str, Any] = {
            "SalesOrderItem": number,
            "Material": _key(path, "Material", line.material),
            "RequestedQuantity": _number(path, "RequestedQuantity", quantity),
            "RequestedQuantityUnit": _key(path, "RequestedQuantityUnit", line.unit),
            "ProductionPlant": _key(path, "ProductionPlant", line.plant),
        }
        if line.text:
            item["SalesOrderItemText"] = line.text.strip()[: _TEXT_LENGTHS["SalesOrderItemText"]]
        if customer_material := _key(path, "MaterialByCustomer", line.customer_material, required=False):
            item["MaterialByCustomer"] = customer_material
        if line.net_unit_price is not None:
            if not currency_code:
                raise ValueError(f"{path}net_unit_price needs the order currency")
            price = to_decimal(line.net_unit_price)
            if price is None or price < 0:
                raise ValueError(f"{path}ConditionRateValue must not be negative")
            # A unit price derived as amount / quantity may carry more decimals than SAP keeps (9);
            # the rounding moves the line amount by < 1e-9 per unit, far below any currency's minor unit.
            price = price.quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN).normalize()
            condition = {
                "ConditionType": PRICE_CONDITION,
                "ConditionRateValue": _number(path + "to_PricingElement[0].", "ConditionRateValue", price),
                "ConditionCurrency": currency_code,
                "ConditionQuantity": "1",
            }
            item["to_PricingElement"] = {"results": [condition]}
        items.append(item)
    body["to_Item"] = {"results": items}
    if ship_to_party := _key("", "Customer", ship_to, required=False):
        body["to_Partner"] = {"results": [{"PartnerFunction": "SH", "Customer": ship_to_party}]}
    return body
