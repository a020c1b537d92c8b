"""SAP S/4HANA: the services the hub uses, on top of the OData V2 layer (:mod:`connectors.sap_odata`).

Stock (API_MATERIAL_STOCK_SRV), availability (API_PRODUCT_AVAILY_INFO_BASIC), customers' sales areas
(API_BUSINESS_PARTNER), sales orders (API_SALES_ORDER_SRV: deep insert, one order per $batch
changeset, lookup by ``PurchaseOrderByCustomer``, ETag-guarded PATCH), outbound deliveries
(API_OUTBOUND_DELIVERY_SRV;v=0002) and billing documents (API_BILLING_DOCUMENT_SRV).

Quantities and amounts are ``Decimal``; dates are ``date``; timestamps are aware ``datetime``.
A create that fails with :class:`~connectors.http.TransientError` may have been committed: look the
order up with :meth:`SapClient.find_sales_orders` before sending it again (see :mod:`connectors.sap_odata`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import requests

from connectors.base import (
    ConnectionLike,
    base_url_of,
    chunked,
    extra_bool,
    extra_retry,
    extra_timeout,
    require_aware,
    to_decimal,
)
from connectors.http import DEFAULT_TIMEOUT, AuthError, PermanentError, RetryPolicy, TransientError
from connectors.sap_odata import (
    DEFAULT_SERVICE_ROOT,
    ETAG,
    BatchRequest,
    ChangesetResult,
    ODataClient,
    RawLiteral,
    SapError,
    SapRequestError,
    SapTransientError,
    all_of,
    any_of_chunks,
    clean_entity,
    compare,
    datetime_literal,
    edm_decimal,
    eq,
    maybe_applied,
    to_odata_date,
)

log = logging.getLogger(__name__)

SALES_ORDER_SRV = "API_SALES_ORDER_SRV"
STOCK_SRV = "API_MATERIAL_STOCK_SRV"
AVAILABILITY_SRV = "API_PRODUCT_AVAILY_INFO_BASIC"
DELIVERY_SRV = "API_OUTBOUND_DELIVERY_SRV;v=0002"
BILLING_SRV = "API_BILLING_DOCUMENT_SRV"
BUSINESS_PARTNER_SRV = "API_BUSINESS_PARTNER"

UNRESTRICTED = "01"  # InventoryStockType: unrestricted-use stock; 02 quality inspection, 07 blocked
MAX_BATCH_SIZE = 100

# The full key of A_MatlStkInAcctMod: nothing shorter orders its rows stably for $skip paging.
_STOCK_KEY = (
    "Material",
    "Plant",
    "StorageLocation",
    "Batch",
    "Supplier",
    "Customer",
    "WBSElementInternalID",
    "SDDocument",
    "SDDocumentItem",
    "InventorySpecialStockType",
    "InventoryStockType",
)


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SapConfig:
    """One SAP system and client. Secrets are kept out of ``repr``."""

    base_url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    client: str = "100"
    language: str = "EN"
    bearer_token: str | None = field(default=None, repr=False)
    service_root: str = DEFAULT_SERVICE_ROOT
    verify: bool = True
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 20  # changesets (orders) per $batch request
    page_size: int = 1000

    def __post_init__(self) -> None:
        if not self.base_url:
            raise ValueError("SapConfig.base_url is required")
        if not self.bearer_token and not (self.user and self.password):
            raise ValueError("SapConfig needs user and password, or a bearer_token")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH_SIZE}")
        if self.page_size < 1:
            raise ValueError("page_size must be positive")

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> SapConfig:
        """conn_type ``http``: host/port/schema = the system, login/password = the communication user;
        extras ``sap_client``, ``sap_language``, ``service_root``, ``verify`` (or ``verify_tls``),
        ``bearer_token``, ``timeout``, ``batch_size``, ``page_size`` and the retry extras."""
        extra = dict(conn.extra_dejson or {})
        verify_key = "verify" if "verify" in extra else "verify_tls"
        return cls(
            base_url=base_url_of(conn),
            user=conn.login or None,
            password=conn.password or None,
            client=str(extra.get("sap_client") or "100"),
            language=str(extra.get("sap_language") or "EN"),
            bearer_token=extra.get("bearer_token") or None,
            service_root=str(extra.get("service_root") or DEFAULT_SERVICE_ROOT),
            verify=extra_bool(extra, verify_key, True),
            timeout=extra_timeout(extra, DEFAULT_TIMEOUT),
            retry=extra_retry(extra),
            batch_size=int(extra.get("batch_size", 20)),
            page_size=int(extra.get("page_size", 1000)),
        )


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
    delivery: str  # ReferenceSDDocument
    delivery_item: str
    sales_order: str  # SalesDocument
    sales_order_item: str


@dataclass(frozen=True)
class BillingDoc:
    number: str
    billing_type: str
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


def _dec(value: Any) -> Decimal:
    return to_decimal(value) or Decimal(0)


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _str(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value)


def schedule_line_from(row: Mapping[str, Any]) -> ScheduleLine:
    return ScheduleLine(
        schedule_line=_str(row, "ScheduleLine"),
        requested_date=_date(row.get("RequestedDeliveryDate")),
        confirmed_date=_date(row.get("ConfirmedDeliveryDate")),
        order_quantity=_dec(row.get("ScheduleLineOrderQuantity")),
        confirmed_quantity=_dec(row.get("ConfdOrderQtyByMatlAvailCheck")),
        delivered_quantity=_dec(row.get("DeliveredQtyInOrderQtyUnit")),
        unit=_str(row, "OrderQuantityUnit"),
    )


def sales_order_from(
    header: Mapping[str, Any], schedule_lines: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]] | None = None
) -> SalesOrderDoc:
    """A cleaned A_SalesOrder (with ``to_Item`` expanded) and its schedule lines keyed by
    (SalesOrder, SalesOrderItem) as a document. Without schedule lines, an item's confirmed quantity
    is its own ``ConfdDelivQtyInOrderQtyUnit``."""
    number = _str(header, "SalesOrder")
    items = []
    for row in header.get("to_Item") or []:
        item = _str(row, "SalesOrderItem")
        lines = [schedule_line_from(s) for s in (schedule_lines or {}).get((number, item), [])]
        # A schedule line's own navigation may be expanded too.
        lines += [schedule_line_from(s) for s in row.get("to_ScheduleLine") or []]
        if lines:
            confirmed = sum((s.confirmed_quantity for s in lines), Decimal(0))
        else:
            confirmed = _dec(row.get("ConfdDelivQtyInOrderQtyUnit"))
        dates = [s.confirmed_date for s in lines if s.confirmed_quantity > 0 and s.confirmed_date]
        items.append(
            SalesOrderItemDoc(
                item=item,
                material=_str(row, "Material"),
                requested_quantity=_dec(row.get("RequestedQuantity")),
                unit=_str(row, "RequestedQuantityUnit") or _str(row, "OrderQuantityUnit"),
                plant=_str(row, "ProductionPlant"),
                net_amount=to_decimal(row.get("NetAmount")),
                confirmed_quantity=confirmed,
                confirmed_date=max(dates) if dates else None,
                delivery_status=_str(row, "DeliveryStatus"),
                rejection_reason=_str(row, "SalesDocumentRjcnReason"),
                schedule_lines=tuple(sorted(lines, key=lambda s: s.schedule_line.zfill(4))),
            )
        )
    changed = header.get("LastChangeDateTime")
    return SalesOrderDoc(
        number=number,
        purchase_order=_str(header, "PurchaseOrderByCustomer"),
        order_type=_str(header, "SalesOrderType"),
        sold_to=_str(header, "SoldToParty"),
        sales_organization=_str(header, "SalesOrganization"),
        distribution_channel=_str(header, "DistributionChannel"),
        division=_str(header, "OrganizationDivision"),
        currency=_str(header, "TransactionCurrency"),
        net_amount=to_decimal(header.get("TotalNetAmount")),
        requested_delivery_date=_date(header.get("RequestedDeliveryDate")),
        created_on=_date(header.get("CreationDate")),
        last_changed_at=changed if isinstance(changed, datetime) else None,
        etag=header.get(ETAG),
        overall_status=_str(header, "OverallSDProcessStatus"),
        delivery_status=_str(header, "OverallDeliveryStatus"),
        rejection_status=_str(header, "OverallSDDocumentRejectionSts"),
        credit_status=_str(header, "TotalCreditCheckStatus"),
        block_status=_str(header, "TotalBlockStatus"),
        items=tuple(sorted(items, key=lambda i: i.item.zfill(6))),
    )


def delivery_from(header: Mapping[str, Any]) -> DeliveryDoc:
    items = tuple(
        DeliveryItemDoc(
            item=_str(row, "DeliveryDocumentItem"),
            material=_str(row, "Material"),
            plant=_str(row, "Plant"),
            storage_location=_str(row, "StorageLocation"),
            batch=_str(row, "Batch"),
            quantity=_dec(row.get("ActualDeliveryQuantity")),
            unit=_str(row, "DeliveryQuantityUnit"),
            sales_order=_str(row, "ReferenceSDDocument"),
            sales_order_item=_str(row, "ReferenceSDDocumentItem"),
            goods_movement_status=_str(row, "GoodsMovementStatus"),
        )
        for row in header.get("to_DeliveryDocumentItem") or []
    )
    return DeliveryDoc(
        number=_str(header, "DeliveryDocument"),
        delivery_type=_str(header, "DeliveryDocumentType"),
        shipping_point=_str(header, "ShippingPoint"),
        sold_to=_str(header, "SoldToParty"),
        ship_to=_str(header, "ShipToParty"),
        goods_movement_status=_str(header, "OverallGoodsMovementStatus"),
        goods_issue_date=_date(header.get("ActualGoodsMovementDate")),
        planned_goods_issue_date=_date(header.get("PlannedGoodsIssueDate")),
        delivery_date=_date(header.get("DeliveryDate")),
        last_change_date=_date(header.get("LastChangeDate")),
        bill_of_lading=_str(header, "BillOfLading"),
        version=header.get(ETAG) or (_str(header, "DeliveryVersion") or None),
        items=tuple(sorted(items, key=lambda i: i.item.zfill(6))),
    )


def billing_document_from(header: Mapping[str, Any]) -> BillingDoc:
    items = tuple(
        BillingItemDoc(
            item=_str(row, "BillingDocumentItem"),
            material=_str(row, "Material"),
            plant=_str(row, "Plant"),
            quantity=_dec(row.get("BillingQuantity")),
            unit=_str(row, "BillingQuantityUnit"),
            net_amount=_dec(row.get("NetAmount")),
            tax_amount=_dec(row.get("TaxAmount")),
            gross_amount=_dec(row.get("GrossAmount")),
            delivery=_str(row, "ReferenceSDDocument"),
            delivery_item=_str(row, "ReferenceSDDocumentItem"),
            sales_order=_str(row, "SalesDocument"),
            sales_order_item=_str(row, "SalesDocumentItem"),
        )
        for row in header.get("to_Item") or []
    )
    changed = header.get("LastChangeDateTime")
    return BillingDoc(
        number=_str(header, "BillingDocument"),
        billing_type=_str(header, "BillingDocumentType"),
        category=_str(header, "BillingDocumentCategory"),
        billing_date=_date(header.get("BillingDocumentDate")),
        sold_to=_str(header, "SoldToParty"),
        payer=_str(header, "PayerParty"),
        purchase_order=_str(header, "PurchaseOrderByCustomer"),
        currency=_str(header, "TransactionCurrency"),
        net_amount=_dec(header.get("TotalNetAmount")),
        tax_amount=_dec(header.get("TaxAmount")),
        gross_amount=_dec(header.get("TotalGrossAmount")),
        is_cancelled=bool(header.get("BillingDocumentIsCancelled")),
        cancelled_document=_str(header, "CancelledBillingDocument"),
        accounting_posting_status=_str(header, "AccountingPostingStatus"),
        overall_billing_status=_str(header, "OverallBillingStatus"),
        last_changed_at=changed if isinstance(changed, datetime) else None,
        items=tuple(sorted(items, key=lambda i: i.item.zfill(6))),
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


# ---------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------


class SapClient:
    """The SAP services the hub calls. One client per task (one session, its own CSRF tokens)."""

    def __init__(self, config: SapConfig, *, session: requests.Session | None = None, sleep: Any = None) -> None:
        self.config = config
        extra = {"sleep": sleep} if sleep is not None else {}
        self.odata = ODataClient(
            config.base_url,
            user=config.user,
            password=config.password,
            bearer_token=config.bearer_token,
            client=config.client,
            language=config.language,
            service_root=config.service_root,
            timeout=config.timeout,
            verify=config.verify,
            retry=config.retry,
            session=session,
            **extra,
        )

    @classmethod
    def from_connection(cls, conn: ConnectionLike, **kwargs: Any) -> SapClient:
        return cls(SapConfig.from_connection(conn), **kwargs)

    def close(self) -> None:
        self.odata.close()

    def __enter__(self) -> SapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- stock and availability ---------------------------------------------------------------------

    def stock(self, plant: str, materials: Iterable[str] | None = None) -> Iterator[StockRow]:
        """Stock rows of ``plant`` (every material, or only ``materials``), every stock type."""
        base = eq("Plant", plant)
        filters = any_of_chunks("Material", materials, base=base) if materials is not None else [base]
        for flt in filters:
            for row in self.odata.iter_entities(
                STOCK_SRV,
                "A_MatlStkInAcctMod",
                filter=flt,
                orderby=_STOCK_KEY,
                page_size=self.config.page_size,
                decimals=("MatlWrhsStkQtyInMatlBaseUnit",),
            ):
                yield StockRow(
                    material=_str(row, "Material"),
                    plant=_str(row, "Plant"),
                    storage_location=_str(row, "StorageLocation"),
                    batch=_str(row, "Batch"),
                    stock_type=_str(row, "InventoryStockType"),
                    special_stock_type=_str(row, "InventorySpecialStockType"),
                    quantity=_dec(row.get("MatlWrhsStkQtyInMatlBaseUnit")),
                    unit=_str(row, "MaterialBaseUnit"),
                )

    def unrestricted_stock(self, plant: str, materials: Iterable[str]) -> dict[str, Decimal]:
        """Unrestricted-use stock (type 01) per material, summed over storage locations and batches;
        0 for a material SAP has no stock row of. Quality-inspection and blocked stock never count."""
        wanted = list(dict.fromkeys(materials))
        totals = dict.fromkeys(wanted, Decimal(0))
        if not wanted:
            return totals
        for row in self.stock(plant, wanted):
            if row.stock_type == UNRESTRICTED and row.material in totals:
                totals[row.material] += row.quantity
        return totals

    def availability(
        self, material: str, plant: str, quantity: Decimal | None = None, checking_rule: str = "A"
    ) -> Decimal:
        """``DetermineAvailabilityOf``: the quantity available to promise now (base unit)."""
        result = self.odata.call_function(
            AVAILABILITY_SRV,
            "DetermineAvailabilityOf",
            {
                "Material": material,
                "SupplyingPlant": plant,
                "ATPCheckingRule": checking_rule,
                "RequestedQuantityInBaseUnit": to_decimal(quantity) if quantity is not None else None,
            },
        )
        record = result[0] if isinstance(result, list) and result else result
        if not isinstance(record, Mapping) or "AvailableQuantityInBaseUnit" not in record:
            raise PermanentError("sap_s4", f"DetermineAvailabilityOf({material}, {plant}): no AvailabilityRecord")
        return _dec(record["AvailableQuantityInBaseUnit"])

    # -- customers ------------------------------------------------------------------------------------

    def customer_sales_areas(self, customers: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """A_CustomerSalesArea rows per customer (sales org, channel, division, currency, delivery
        priority, order block, supplying plant, payment terms, …); [] for a customer without any."""
        wanted = list(dict.fromkeys(customers))
        found: dict[str, list[dict[str, Any]]] = {c: [] for c in wanted}
        for flt in any_of_chunks("Customer", wanted):
            for row in self.odata.iter_entities(
                BUSINESS_PARTNER_SRV,
                "A_CustomerSalesArea",
                filter=flt,
                orderby=("Customer", "SalesOrganization", "DistributionChannel", "Division"),
                page_size=self.config.page_size,
            ):
                found.setdefault(_str(row, "Customer"), []).append(row)
        return found

    def customers(self, customers: Iterable[str]) -> dict[str, dict[str, Any]]:
        """A_Customer per number (order, delivery and billing blocks, name); absent when unknown."""
        found: dict[str, dict[str, Any]] = {}
        for flt in any_of_chunks("Customer", customers):
            for row in self.odata.iter_entities(
                BUSINESS_PARTNER_SRV, "A_Customer", filter=flt, orderby="Customer", page_size=self.config.page_size
            ):
                found[_str(row, "Customer")] = row
        return found

    # -- sales orders: reads --------------------------------------------------------------------------

    def find_sales_orders(self, purchase_orders: Iterable[str]) -> dict[str, SalesOrderDoc]:
        """The sales order of each ``PurchaseOrderByCustomer`` that has one (with items and schedule
        lines). Should SAP hold two for one purchase order, the lowest number wins and a warning is
        logged: the hub never creates the second, so a human made it."""
        headers: dict[str, dict[str, Any]] = {}
        for flt in any_of_chunks("PurchaseOrderByCustomer", purchase_orders):
            for row in self.odata.iter_entities(
                SALES_ORDER_SRV,
                "A_SalesOrder",
                filter=flt,
                orderby="SalesOrder",
                expand="to_Item",
                page_size=self.config.page_size,
            ):
                po = _str(row, "PurchaseOrderByCustomer")
                if po in headers:
                    log.warning(
                        "sap_s4: purchase order %s has sales orders %s and %s",
                        po,
                        headers[po]["SalesOrder"],
                        row["SalesOrder"],
                    )
                    if _order_key(row) > _order_key(headers[po]):
                        continue
                headers[po] = row
        lines = self._schedule_lines(h["SalesOrder"] for h in headers.values())
        return {po: sales_order_from(h, lines) for po, h in headers.items()}

    def sales_order(self, number: str) -> SalesOrderDoc:
        """One sales order with items, schedule lines and its ETag (SapRequestError 404 if unknown)."""
        header = self.odata.read_entity(SALES_ORDER_SRV, "A_SalesOrder", number, expand=["to_Item"])
        return sales_order_from(header, self._schedule_lines([number]))

    def _schedule_lines(self, numbers: Iterable[str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
        lines: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for flt in any_of_chunks("SalesOrder", numbers):
            for row in self.odata.iter_entities(
                SALES_ORDER_SRV,
                "A_SalesOrderScheduleLine",
                filter=flt,
                orderby=("SalesOrder", "SalesOrderItem", "ScheduleLine"),
                page_size=self.config.page_size,
            ):
                lines.setdefault((_str(row, "SalesOrder"), _str(row, "SalesOrderItem")), []).append(row)
        return lines

    def _with_schedule_lines(self, headers: Sequence[dict[str, Any]]) -> list[SalesOrderDoc]:
        """Documents of just-created orders. Their schedule lines (the confirmation) are read at once;
        if that read fails the orders still exist, so the documents come back without them."""
        try:
            lines = self._schedule_lines(h["SalesOrder"] for h in headers)
        except TransientError as exc:
            log.warning("sap_s4: schedule lines of new orders not read (%s); confirmations follow later", exc)
            lines = {}
        return [sales_order_from(h, lines) for h in headers]

    # -- sales orders: writes -------------------------------------------------------------------------

    def create_sales_order(self, payload: Mapping[str, Any]) -> SalesOrderDoc:
        """One order by deep insert (``POST A_SalesOrder``). Raises :class:`SapError` (business
        refusal: ``SapBusinessError`` with ``field``) or ``TransientError`` — then the order may exist:
        look it up with :meth:`find_sales_orders` before sending it again."""
        try:
            header = self.odata.create(SALES_ORDER_SRV, "A_SalesOrder", payload)
        except SapError as exc:
            exc.record_key = exc.record_key or payload.get("PurchaseOrderByCustomer")
            raise
        return self._with_schedule_lines([header])[0]

    def create_sales_orders(self, payloads: Sequence[Mapping[str, Any]]) -> list[SalesOrderDoc | SapError]:
        """Many orders through ``$batch``, one changeset per order, ``batch_size`` changesets per
        request. One result per payload, in input order: the created order, or the SapError of its
        changeset (``SapBusinessError`` for a refusal; ``SapTransientError`` when its batch failed,
        with ``maybe_applied`` saying whether to look it up before resending). A changeset that fails
        never affects the others. Credentials refused raise ``AuthError`` for the whole call."""
        results: list[SalesOrderDoc | SapError | None] = [None] * len(payloads)
        outage: TransientError | None = None
        for indexes in chunked(range(len(payloads)), self.config.batch_size):
            keys = {i: payloads[i].get("PurchaseOrderByCustomer") for i in indexes}
            if outage is not None:  # SAP is down: don't hammer it with the remaining batches
                for i in indexes:
                    results[i] = SapTransientError(f"not sent: {outage.message}", code="NOT_SENT", record_key=keys[i])
                continue
            parts = [[BatchRequest("POST", "A_SalesOrder", body=payloads[i])] for i in indexes]
            try:
                answers = self.odata.batch(SALES_ORDER_SRV, parts)
            except AuthError:
                raise
            except TransientError as exc:
                outage, applied = exc, maybe_applied(exc)
                for i in indexes:
                    results[i] = SapTransientError(
                        exc.message, status=exc.status, code=exc.code, record_key=keys[i], maybe_applied=applied
                    )
                continue
            except PermanentError as exc:  # the batch as a whole was refused: nothing of it applied
                for i in indexes:
                    results[i] = _as_sap_error(exc, keys[i])
                continue
            created: list[tuple[int, dict[str, Any]]] = []
            for i, answer in zip(indexes, answers, strict=True):
                assert isinstance(answer, ChangesetResult)
                if answer.error is not None:
                    answer.error.record_key = keys[i]
                    results[i] = answer.error
                    continue
                body = answer.responses[0].json()
                raw = body.get("d") if isinstance(body, Mapping) else None
                if not isinstance(raw, Mapping):
                    results[i] = SapTransientError(
                        "created, but the answer holds no order",
                        code="NO_ENTITY",
                        record_key=keys[i],
                        maybe_applied=True,
                    )
                    continue
                created.append((i, clean_entity(raw)))
            for (i, _), doc in zip(created, self._with_schedule_lines([h for _, h in created]), strict=True):
                results[i] = doc
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def patch_sales_order(self, number: str, changes: Mapping[str, Any], etag: str) -> str | None:
        """Change header fields under ``If-Match: etag``; the new ETag. A stale ETag raises
        ``SapRequestError`` with status 412: read the order again and decide anew."""
        if not etag:
            raise ValueError("SAP requires the order's ETag (If-Match) to change it")
        return self.odata.patch(SALES_ORDER_SRV, "A_SalesOrder", number, changes, etag)

    # -- deliveries and billing -----------------------------------------------------------------------

    def deliveries(
        self, changed_since: date | None = None, goods_movement_status: str | None = None
    ) -> Iterator[DeliveryDoc]:
        """Outbound deliveries with items, changed on or after ``changed_since`` (LastChangeDate has day
        granularity: re-read the last day), optionally only those with OverallGoodsMovementStatus."""
        flt = all_of(
            compare("LastChangeDate", "ge", RawLiteral(datetime_literal(changed_since))) if changed_since else None,
            eq("OverallGoodsMovementStatus", goods_movement_status) if goods_movement_status else None,
        )
        for row in self.odata.iter_entities(
            DELIVERY_SRV,
            "A_OutbDeliveryHeader",
            filter=flt,
            orderby="DeliveryDocument",
            expand="to_DeliveryDocumentItem",
            page_size=self.config.page_size,
        ):
            yield delivery_from(row)

    def billing_documents(self, changed_since: datetime | None = None) -> Iterator[BillingDoc]:
        """Billing documents with items whose LastChangeDateTime is at or after ``changed_since``,
        oldest change first. Keep the largest ``last_changed_at`` as the watermark and query from it
        minus an overlap (clock skew, 7-digit precision), de-duplicating on (number, last_changed_at)."""
        flt = compare("LastChangeDateTime", "ge", require_aware(changed_since)) if changed_since else None
        for row in self.odata.iter_entities(
            BILLING_SRV,
            "A_BillingDocument",
            filter=flt,
            orderby=("LastChangeDateTime", "BillingDocument"),
            expand="to_Item",
            page_size=self.config.page_size,
        ):
            yield billing_document_from(row)


def _order_key(row: Mapping[str, Any]) -> tuple[int, str]:
    number = _str(row, "SalesOrder")
    return (len(number.lstrip("0")), number.lstrip("0"))


def _as_sap_error(exc: PermanentError, record_key: str | None) -> SapError:
    if isinstance(exc, SapError):
        return type(exc)(
            exc.message,
            status=exc.status,
            code=exc.code,
            details=exc.details,
            field=exc.field,
            transaction_id=exc.transaction_id,
            record_key=record_key,
        )
    return SapRequestError(exc.message, status=exc.status, code=exc.code, record_key=record_key)
