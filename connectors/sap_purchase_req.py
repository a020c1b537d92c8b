"""SAP purchase requisitions (API_PURCHASEREQ_PROCESS_SRV), on top of
:class:`connectors.sap_s4.SapClient` (its session, CSRF tokens, retries and SAP errors).

The replenishment plan's approved proposals become requisitions: :meth:`PurchaseRequisitionClient.create`
sends one deep insert (header ``A_PurchaseRequisitionHeader`` with its items in
``to_PurchaseReqnItem``); SAP assigns the number (NB's internal range, 00100000xx) and the items are
numbered 10, 20, ... in the order given. :meth:`~PurchaseRequisitionClient.read` reads one back,
:meth:`~PurchaseRequisitionClient.find_by_external_reference` finds every requisition with an item
carrying a ``PurReqnExternalReference``.

Exactly once. The hub puts a reference of its own (at most 35 characters) on every item and looks
it up before creating, and again after a create failed with a ``TransientError`` for which
:func:`maybe_applied` holds (SAP may have committed it: the answer, not the request, was lost).
Creates are never retried blindly: :class:`~connectors.sap_odata.ODataClient` resends a POST only
when SAP cannot have received it (no connection, or 429 from API Management). The reference is
upper-cased before it is sent and before it is looked up, since SAP keeps the field in upper case
(``sap:display-format="UpperCase"``).

Quantities and prices are ``Decimal``, dates ``date``; item numbers without leading zeros ("10").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.base import to_decimal
from connectors.sap_documents import field_decimal, field_text, item_number
from connectors.sap_odata import eq, maybe_applied
from connectors.sap_s4 import SapClient

PURCHASE_REQ_SRV = "API_PURCHASEREQ_PROCESS_SRV"
HEADER_SET = "A_PurchaseRequisitionHeader"
ITEM_SET = "A_PurchaseRequisitionItem"
ITEMS_NAV = "to_PurchaseReqnItem"
MAX_EXTERNAL_REFERENCE = 35
MAX_TEXT = 40
MAX_DESCRIPTION = 40
ITEM_STEP = 10
_DECIMALS = ("RequestedQuantity", "PurchaseRequisitionPrice", "PurReqnPriceQuantity", "ItemNetAmount")


@dataclass(frozen=True)
class PrItemIn:
    """One item to request: ``quantity`` of ``material`` in ``unit`` for ``plant`` by ``delivery_date``.
    ``price``/``currency`` are optional (SAP values the item at the material's price otherwise), so
    are the purchasing group, organization (SAP derives it from the plant) and storage location."""

    material: str
    plant: str
    quantity: Decimal
    unit: str
    delivery_date: date
    external_reference: str  # PurReqnExternalReference, 1 to 35 characters, stored upper case
    price: Decimal | None = None
    currency: str | None = None
    purchasing_group: str | None = None
    purchasing_organization: str | None = None
    storage_location: str | None = None
    text: str = ""  # PurchaseRequisitionItemText, at most 40 characters


@dataclass(frozen=True)
class PrItem:
    item: str  # "10"
    material: str
    plant: str
    quantity: Decimal
    unit: str
    delivery_date: date | None
    external_reference: str
    is_deleted: bool


@dataclass(frozen=True)
class PurchaseRequisition:
    number: str  # "0010000001"
    type: str  # "NB"
    description: str
    items: tuple[PrItem, ...]


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def pr_item_from(row: Mapping[str, Any]) -> PrItem:
    """An item as cleaned by :func:`~connectors.sap_values.clean_entity`."""
    return PrItem(
        item=item_number(row, "PurchaseRequisitionItem"),
        material=field_text(row, "Material"),
        plant=field_text(row, "Plant"),
        quantity=field_decimal(row.get("RequestedQuantity")),
        unit=field_text(row, "BaseUnit"),
        delivery_date=_date(row.get("DeliveryDate")),
        external_reference=field_text(row, "PurReqnExternalReference"),
        is_deleted=bool(field_text(row, "IsDeleted").strip()),
    )


def purchase_requisition_from(row: Mapping[str, Any]) -> PurchaseRequisition:
    """A header as cleaned by ``clean_entity``, its items expanded (or none)."""
    items = row.get(ITEMS_NAV)
    parsed = [pr_item_from(i) for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []
    return PurchaseRequisition(
        number=field_text(row, "PurchaseRequisition"),
        type=field_text(row, "PurchaseRequisitionType"),
        description=field_text(row, "PurReqnDescription"),
        items=tuple(sorted(parsed, key=lambda i: (len(i.item), i.item))),
    )


def normalize_reference(reference: str) -> str:
    """The reference as SAP stores it (upper case); ValueError when empty or longer than 35."""
    text = reference.strip().upper()
    if not text or len(text) > MAX_EXTERNAL_REFERENCE:
        raise ValueError(f"an external reference has 1 to {MAX_EXTERNAL_REFERENCE} characters, got {reference!r}")
    return text


class PurchaseRequisitionClient:
    """Purchase requisitions through ``sap`` (which the caller owns and closes)."""

    def __init__(self, sap: SapClient) -> None:
        self.sap = sap
        self.odata = sap.odata

    # -- reads --------------------------------------------------------------------------------------

    def read(self, number: str) -> PurchaseRequisition:
        """One requisition with its items (SapRequestError 404 when SAP has none)."""
        row = self.odata.read_entity(
            PURCHASE_REQ_SRV, HEADER_SET, {"PurchaseRequisition": number}, expand=[ITEMS_NAV], decimals=_DECIMALS
        )
        return purchase_requisition_from(row)

    def find_by_external_reference(self, reference: str) -> list[PurchaseRequisition]:
        """Every requisition with an item carrying ``reference`` (lowest number first), each with all
        its items; [] when SAP has none."""
        rows = self.odata.iter_entities(
            PURCHASE_REQ_SRV,
            ITEM_SET,
            filter=eq("PurReqnExternalReference", normalize_reference(reference)),
            orderby=("PurchaseRequisition", "PurchaseRequisitionItem"),
            select=("PurchaseRequisition", "PurchaseRequisitionItem"),
            page_size=self.sap.config.page_size,
        )
        numbers = sorted({field_text(r, "PurchaseRequisition") for r in rows})
        return [self.read(n) for n in numbers]

    # -- writes -------------------------------------------------------------------------------------

    def create(self, description: str, items: Sequence[PrItemIn], pr_type: str = "NB") -> PurchaseRequisition:
        """One requisition for ``items`` (one deep insert); the requisition SAP created. Local checks
        raise ValueError before anything is sent; SAP's refusals raise SapBusinessError with every
        faulty field. A ``TransientError`` for which :func:`maybe_applied` holds may have created it:
        call :meth:`find_by_external_reference` before creating again."""
        if len(description) > MAX_DESCRIPTION:
            raise ValueError(f"a description has at most {MAX_DESCRIPTION} characters, got {len(description)}")
        if not items:
            raise ValueError("a purchase requisition needs at least one item")
        if not pr_type or len(pr_type) > 4:
            raise ValueError(f"a requisition type has 1 to 4 characters, got {pr_type!r}")
        lines = [_line(position, pr_type, item) for position, item in enumerate(items, start=1)]
        body = {"PurchaseRequisitionType": pr_type, "PurReqnDescription": description, ITEMS_NAV: {"results": lines}}
        created = self.odata.create(PURCHASE_REQ_SRV, HEADER_SET, body)
        if isinstance(created.get(ITEMS_NAV), list):
            created = {**created, ITEMS_NAV: [_decimals(i) for i in created[ITEMS_NAV]]}
            return purchase_requisition_from(created)
        return self.read(field_text(created, "PurchaseRequisition"))


def _decimals(row: Any) -> Any:
    if not isinstance(row, Mapping):
        return row
    return {k: (to_decimal(v) if k in _DECIMALS and isinstance(v, str) else v) for k, v in row.items()}


def _line(position: int, pr_type: str, item: PrItemIn) -> dict[str, Any]:
    where = f"item {position} ({item.material})"
    quantity = to_decimal(item.quantity)
    if quantity is None or quantity <= 0:
        raise ValueError(f"{where}: the quantity must be above 0, got {item.quantity!r}")
    if len(item.text) > MAX_TEXT:
        raise ValueError(f"{where}: an item text has at most {MAX_TEXT} characters, got {len(item.text)}")
    if not item.material or not item.plant or not item.unit:
        raise ValueError(f"{where}: material, plant and unit are required")
    line: dict[str, Any] = {
        "PurchaseRequisitionItem": str(position * ITEM_STEP),
        "PurchaseRequisitionType": pr_type,
        "Material": item.material,
        "Plant": item.plant,
        "RequestedQuantity": quantity,
        "BaseUnit": item.unit,
        "DeliveryDate": item.delivery_date,
        "PurReqnExternalReference": normalize_reference(item.external_reference),
    }
    if item.price is not None:
        price = to_decimal(item.price)
        if price is None or price < 0 or not item.currency:
            raise ValueError(f"{where}: a price is 0 or more and comes with its currency")
        line["PurchaseRequisitionPrice"] = price
        line["PurReqnItemCurrency"] = item.currency
    optional = {
        "PurchasingGroup": item.purchasing_group,
        "PurchasingOrganization": item.purchasing_organization,
        "StorageLocation": item.storage_location,
        "PurchaseRequisitionItemText": item.text or None,
    }
    line.update({k: v for k, v in optional.items() if v})
    return line


__all__ = [
    "PURCHASE_REQ_SRV",
    "PrItem",
    "PrItemIn",
    "PurchaseRequisition",
    "PurchaseRequisitionClient",
    "maybe_applied",
    "normalize_reference",
    "pr_item_from",
    "purchase_requisition_from",
]
