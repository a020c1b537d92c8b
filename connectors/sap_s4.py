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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import requests

from connectors.base import (
    ConnectionLike,
    TokenStore,
    base_url_of,
    chunked,
    extra_bool,
    extra_retry,
    extra_timeout,
    require_aware,
    to_decimal,
)
from connectors.http import DEFAULT_TIMEOUT, AuthError, ConnectorError, PermanentError, RetryPolicy, TransientError
from connectors.sap_deliveries import (
    DeliveryMessage,
    GoodsIssueAlreadyPosted,
    already_posted,
    created_or_changed_on,
    messages_from,
    raise_for_messages,
)
from connectors.sap_documents import (
    BillingDoc,
    BillingItemDoc,
    DeliveryDoc,
    DeliveryItemDoc,
    OrderLine,
    SalesOrderDoc,
    SalesOrderItemDoc,
    ScheduleLine,
    StockRow,
    billing_document_from,
    delivery_from,
    field_decimal,
    field_text,
    item_number,
    sales_order_from,
    sales_order_payload,
    stock_row_from,
)
from connectors.sap_oauth import ClientCredentials, ClientCredentialsAuth
from connectors.sap_odata import (
    DEFAULT_SERVICE_ROOT,
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
    entity_path,
    eq,
    literal,
    maybe_applied,
    property_name,
)

__all__ = [  # the documents and the payload builder are part of this client's API
    "BillingDoc",
    "BillingItemDoc",
    "DeliveryDoc",
    "DeliveryItemDoc",
    "DeliveryMessage",
    "GoodsIssueAlreadyPosted",
    "OrderLine",
    "SalesOrderDoc",
    "SalesOrderItemDoc",
    "SapClient",
    "SapConfig",
    "ScheduleLine",
    "StockRow",
    "billing_document_from",
    "delivery_from",
    "sales_order_from",
    "sales_order_payload",
]

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
    oauth_token_url: str | None = None  # set: user/password are the OAuth client id and secret
    oauth_scope: str | None = None
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
        if self.oauth_token_url and self.bearer_token:
            raise ValueError("SapConfig: oauth_token_url fetches the bearer token; drop the static bearer_token")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH_SIZE}")
        if self.page_size < 1:
            raise ValueError("page_size must be positive")

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> SapConfig:
        """conn_type ``http``: host/port/schema = the system, login/password = the communication user;
        extras ``sap_client``, ``sap_language``, ``service_root``, ``verify`` (or ``verify_tls``),
        ``bearer_token``, ``timeout``, ``batch_size``, ``page_size`` and the retry extras.

        OAuth 2.0 client credentials: with extra ``oauth_token_url`` (e.g.
        ``https://host/sap/bc/sec/oauth2/token``; optional ``oauth_scope``), login/password are the
        OAuth client id and secret, and every call carries the bearer token fetched with them."""
        extra = dict(conn.extra_dejson or {})
        verify_key = "verify" if "verify" in extra else "verify_tls"
        return cls(
            base_url=base_url_of(conn),
            user=conn.login or None,
            password=conn.password or None,
            client=str(extra.get("sap_client") or "100"),
            language=str(extra.get("sap_language") or "EN"),
            bearer_token=extra.get("bearer_token") or None,
            oauth_token_url=extra.get("oauth_token_url") or None,
            oauth_scope=extra.get("oauth_scope") or None,
            service_root=str(extra.get("service_root") or DEFAULT_SERVICE_ROOT),
            verify=extra_bool(extra, verify_key, True),
            timeout=extra_timeout(extra, DEFAULT_TIMEOUT),
            retry=extra_retry(extra),
            batch_size=int(extra.get("batch_size", 20)),
            page_size=int(extra.get("page_size", 1000)),
        )


# ---------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------


class SapClient:
    """The SAP services the hub calls. One client per task (one session, its own CSRF tokens).
    With OAuth, pass a ``token_store`` to share the access token across tasks."""

    def __init__(
        self,
        config: SapConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        self.config = config
        extra = {"sleep": sleep} if sleep is not None else {}
        self.oauth = (
            ClientCredentialsAuth(
                ClientCredentials(
                    token_url=config.oauth_token_url,
                    client_id=config.user or "",
                    client_secret=config.password or "",
                    scope=config.oauth_scope,
                    timeout=config.timeout,
                    verify_tls=config.verify,
                    retry=config.retry,
                ),
                token_store=token_store,
            )
            if config.oauth_token_url
            else None
        )
        basic = self.oauth is None
        self.odata = ODataClient(
            config.base_url,
            user=config.user if basic else None,
            password=config.password if basic else None,
            bearer_token=config.bearer_token,
            oauth=self.oauth,
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
                yield stock_row_from(row)

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
        """``DetermineAvailabilityOf``: the quantity available to promise now (base unit).

        SAP Gateway requires every parameter of the function import; without a ``quantity`` the
        request asks for 0, i.e. "what is available at once", which is what allocation needs."""
        result = self.odata.call_function(
            AVAILABILITY_SRV,
            "DetermineAvailabilityOf",
            {
                "Material": material,
                "SupplyingPlant": plant,
                "ATPCheckingRule": checking_rule,
                "RequestedQuantityInBaseUnit": to_decimal(quantity) if quantity is not None else Decimal(0),
            },
        )
        record = result[0] if isinstance(result, list) and result else result
        if not isinstance(record, Mapping) or "AvailableQuantityInBaseUnit" not in record:
            raise PermanentError("sap_s4", f"DetermineAvailabilityOf({material}, {plant}): no AvailabilityRecord")
        return field_decimal(record["AvailableQuantityInBaseUnit"])

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
                found.setdefault(field_text(row, "Customer"), []).append(row)
        return found

    def customers(self, customers: Iterable[str]) -> dict[str, dict[str, Any]]:
        """A_Customer per number (order, delivery and billing blocks, name); absent when unknown."""
        found: dict[str, dict[str, Any]] = {}
        for flt in any_of_chunks("Customer", customers):
            for row in self.odata.iter_entities(
                BUSINESS_PARTNER_SRV, "A_Customer", filter=flt, orderby="Customer", page_size=self.config.page_size
            ):
                found[field_text(row, "Customer")] = row
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
                po = field_text(row, "PurchaseOrderByCustomer")
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
                lines.setdefault((field_text(row, "SalesOrder"), item_number(row, "SalesOrderItem")), []).append(row)
        return lines

    def _with_schedule_lines(self, headers: Sequence[dict[str, Any]]) -> list[SalesOrderDoc]:
        """Documents of just-created orders. Their schedule lines (the confirmation) are read at once;
        if that read fails the orders still exist, so the documents come back without them."""
        try:
            lines = self._schedule_lines(h["SalesOrder"] for h in headers)
        except ConnectorError as exc:  # never let a failed follow-up read pass for a failed create
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

    # -- outbound deliveries of 3PL plants: picking, goods issue, reversal, cancellation --------------

    def deliveries_on(self, day: date, plants: Iterable[str] | None = None) -> Iterator[DeliveryDoc]:
        """Outbound deliveries (with items) created or last changed on ``day``, of ``plants`` (any
        item in one of them) or of every plant. Both dates are date-only, so re-read the previous day
        too and de-duplicate by delivery number (see :mod:`connectors.sap_deliveries`)."""
        wanted = frozenset(plants) if plants is not None else None
        for row in self.odata.iter_entities(
            DELIVERY_SRV,
            "A_OutbDeliveryHeader",
            filter=created_or_changed_on(day),
            orderby="DeliveryDocument",
            expand="to_DeliveryDocumentItem",
            page_size=self.config.page_size,
        ):
            doc = delivery_from(row)
            if wanted is None or doc.plants & wanted:
                yield doc

    def delivery(self, number: str) -> DeliveryDoc:
        """One delivery with its items and its ETag in ``version`` (SapRequestError 404 if unknown)."""
        header = self.odata.read_entity(
            DELIVERY_SRV, "A_OutbDeliveryHeader", number, expand=["to_DeliveryDocumentItem"]
        )
        return delivery_from(header)

    def set_picked_quantity(
        self, delivery: str, item: str, quantity: Decimal, base_unit: str
    ) -> tuple[DeliveryMessage, ...]:
        """``SetPickingQuantityWithBaseQuantity``: the item's picked quantity becomes ``quantity`` (in
        its base unit). Setting, not adding: a repeat is harmless, so it is retried like a PATCH. More
        than the delivery quantity, or after goods issue, raises ``SapBusinessError``."""
        amount = to_decimal(quantity)
        if amount is None or amount < 0:
            raise ValueError(f"picked quantity must be a non-negative number, got {quantity!r}")
        params = {
            "ActualDeliveredQtyInBaseUnit": amount,
            "BaseUnit": base_unit,
            "DeliveryDocument": delivery,
            "DeliveryDocumentItem": item.zfill(6) if item.isdigit() else item,
        }
        return self._delivery_action("SetPickingQuantityWithBaseQuantity", delivery, params, idempotent=True)

    def pick_delivery(self, delivery: DeliveryDoc, quantities: Mapping[str, Decimal]) -> None:
        """Set the picked quantity of every item of ``delivery`` (as read): ``quantities`` by item
        number ("10" or "000010"); an item missing there was not shipped and is set to 0. An item
        number the delivery does not have raises ValueError before anything is sent."""
        by_item = {item_number({"i": k}, "i"): to_decimal(v) for k, v in quantities.items()}
        unknown = sorted(set(by_item) - {i.item for i in delivery.items})
        if unknown:
            raise ValueError(f"delivery {delivery.number} has no item {', '.join(unknown)}")
        for item in delivery.items:
            self.set_picked_quantity(
                delivery.number, item.item, by_item.get(item.item) or Decimal(0), item.base_unit or item.unit
            )

    def post_goods_issue(self, delivery: str) -> tuple[DeliveryMessage, ...]:
        """``PostGoodsIssue``: posts the picked quantities (the full delivery where none was set).
        Already posted raises :class:`GoodsIssueAlreadyPosted`. Like a create it is sent again only
        when SAP cannot have received it; a ``TransientError`` with ``maybe_applied`` means: read the
        delivery (``goods_movement_status``) before sending it again."""
        try:
            return self._delivery_action("PostGoodsIssue", delivery, {"DeliveryDocument": delivery}, idempotent=False)
        except SapError as exc:
            posted = already_posted(exc, delivery)
            if posted is not None:
                raise posted from exc
            raise

    def reverse_goods_issue(self, delivery: str, posting_date: date) -> tuple[DeliveryMessage, ...]:
        """``ReverseGoodsIssue`` of an issued, unbilled delivery, posted on ``posting_date``. A billed
        delivery is refused (SapBusinessError): cancel its billing document first."""
        params = {"DeliveryDocument": delivery, "ActualGoodsMovementDate": posting_date}
        return self._delivery_action("ReverseGoodsIssue", delivery, params, idempotent=False)

    def delete_delivery(self, delivery: str, etag: str) -> None:
        """Delete an un-issued delivery under ``If-Match: etag`` (its ``version``); its quantities go
        back to the order items, open again. Issued: SapBusinessError; stale ETag: SapRequestError 412."""
        if not etag:
            raise ValueError("SAP requires the delivery's ETag (DeliveryVersion) to delete it")
        self.odata.delete(DELIVERY_SRV, "A_OutbDeliveryHeader", delivery, etag)

    def reject_open_items(self, sales_order: str, reason: str) -> tuple[str, ...]:
        """Set ``SalesDocumentRjcnReason`` = ``reason`` on every item of ``sales_order`` with something
        still open (not fully delivered, not yet rejected), in one $batch changeset: all or none. The
        item numbers rejected; () when nothing was open. Quantities in an existing delivery are not
        open: delete the (un-issued) delivery first. Repeating is harmless."""
        if not reason or len(reason) > 2:
            raise ValueError(f"a reason for rejection is a code of 1-2 characters, got {reason!r}")
        order = self.sales_order(sales_order)
        items = tuple(i.item for i in order.items if not i.rejection_reason and i.delivery_status != "C")
        if not items:
            return ()
        changeset = [
            BatchRequest(
                "PATCH",
                entity_path("A_SalesOrderItem", {"SalesOrder": sales_order, "SalesOrderItem": item}),
                body={"SalesDocumentRjcnReason": reason},
            )
            for item in items
        ]
        (answer,) = self.odata.batch(SALES_ORDER_SRV, [changeset])
        assert isinstance(answer, ChangesetResult)
        if answer.error is not None:
            answer.error.record_key = sales_order
            raise answer.error
        return items

    def _delivery_action(
        self, name: str, delivery: str, params: Mapping[str, Any], *, idempotent: bool
    ) -> tuple[DeliveryMessage, ...]:
        """POST a function import of the delivery service with URL-literal parameters. ODataClient has
        no public POST for function imports, so this goes through its write path (CSRF token and its
        refetch, retries, SAP error parsing): retried like a PATCH when ``idempotent``, else like a
        create (only when SAP cannot have received it)."""
        query = {property_name(k): literal(v) for k, v in params.items()}
        url = self.odata.url(DELIVERY_SRV, property_name(name), query)
        response = self.odata._write("POST", DELIVERY_SRV, url, None, None, create=not idempotent)
        try:  # 200/204 means done; a body that is not JSON only loses the messages
            body = response.json() if response.content.strip() else None
        except ValueError:
            body = None
        d = body.get("d") if isinstance(body, Mapping) else None
        rows = d.get("results") if isinstance(d, Mapping) else d
        messages = messages_from(
            [clean_entity(r) for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else None
        )
        raise_for_messages(name, delivery, messages)
        return messages


def _order_key(row: Mapping[str, Any]) -> tuple[int, str]:
    number = field_text(row, "SalesOrder")
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
