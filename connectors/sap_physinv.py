"""SAP physical inventory (API_PHYSICAL_INVENTORY_DOC_SRV), on top of
:class:`connectors.sap_s4.SapClient` (its session, CSRF tokens, ETags, retries and SAP errors).

The flow (reference/sap_report.md §4.6): :meth:`PhysicalInventoryClient.create_document` (header and
items in one deep insert; SAP freezes the book quantity per item), :meth:`~PhysicalInventoryClient.enter_counts`
(one PATCH per item under its ETag), :meth:`~PhysicalInventoryClient.post_differences` (one material
document; 701/702, 703/704, 707/708 by stock type; book stock moves).

Exactly once. The hub gives every document a ``PhysInventoryReferenceNumber`` of its own (at most
16 characters) and looks it up with :meth:`~PhysicalInventoryClient.find_by_reference` before creating
one, and again after a create failed with a ``TransientError`` that :func:`maybe_applied` says SAP
may have committed: creates and the posting are sent again only when SAP cannot have received them.
A count is a PATCH under ``If-Match``, so a repeat after an applied first attempt is refused (412)
rather than applied twice; :meth:`~PhysicalInventoryClient.enter_counts` then reads the item and
accepts it when it already holds the count. :meth:`~PhysicalInventoryClient.post_differences`
reads the document first and posts nothing when every item is already posted, so a re-run returns
the posted document instead of a second material document.

Stock types are the hub's (A_MatlStkInAcctMod ``InventoryStockType``): "01" unrestricted, "02"
quality inspection, "07" blocked; on the document SAP writes them as ISEG stock types '', 'X', 'S'.
Quantities and amounts are ``Decimal``, dates ``date``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.base import to_decimal
from connectors.http import TransientError
from connectors.sap_documents import field_decimal, field_text
from connectors.sap_odata import (
    ETAG,
    SapError,
    SapRequestError,
    eq,
    literal,
    maybe_applied,
    property_name,
)
from connectors.sap_s4 import SapClient

log = logging.getLogger(__name__)

PHYSINV_SRV = "API_PHYSICAL_INVENTORY_DOC_SRV"
HEADER_SET = "A_PhysInventoryDocHeader"
ITEM_SET = "A_PhysInventoryDocItem"
ITEMS_NAV = "to_PhysicalInventoryDocumentItem"
MAX_REFERENCE = 16
MAX_DESCRIPTION = 40
# Hub stock type (InventoryStockType) ↔ the document's PhysicalInventoryStockType.
TO_PI_STOCK_TYPE = {"01": "", "02": "X", "07": "S"}
FROM_PI_STOCK_TYPE = {v: k for k, v in TO_PI_STOCK_TYPE.items()}
_DECIMALS = (
    "BookQtyBfrCountInMatlBaseUnit",
    "Quantity",
    "QuantityInUnitOfEntry",
    "DifferenceAmountInCoCodeCrcy",
    "BookQtyAmountInCoCodeCrcy",
    "PhysInvtryCtAmtInCoCodeCrcy",
)
_HEADER_KEY = ("FiscalYear", "PhysicalInventoryDocument")


@dataclass(frozen=True)
class PiItemIn:
    """An item to count: a material (and batch) in one stock type of the document's plant."""

    material: str
    batch: str = ""
    stock_type: str = "01"  # hub stock type: 01, 02 or 07


@dataclass(frozen=True)
class PiItem:
    item: str  # "001"
    material: str
    batch: str
    stock_type: str  # hub stock type: 01, 02 or 07
    book_quantity: Decimal  # frozen when the document was created (base unit)
    counted_quantity: Decimal | None  # None until counted
    unit: str  # base unit
    counted: bool
    zero_count: bool
    posted: bool
    recounted: bool
    recount_document: str
    reason: str
    material_document: str  # "" until a difference is posted (none for a zero difference)
    material_document_year: str
    material_document_item: str
    difference_amount: Decimal  # (counted − book) × standard price, company-code currency
    currency: str
    posting_date: date | None
    etag: str | None

    @property
    def difference_quantity(self) -> Decimal | None:
        """Counted − book, once counted."""
        return None if self.counted_quantity is None else self.counted_quantity - self.book_quantity


@dataclass(frozen=True)
class PiDocument:
    fiscal_year: str
    document: str
    plant: str
    storage_location: str
    reference: str  # PhysInventoryReferenceNumber
    description: str
    count_status: str  # "" none, "A" some, "X" all items counted
    posting_status: str  # "" none, "A" some, "X" all differences posted
    document_date: date | None
    planned_count_date: date | None
    posting_date: date | None
    last_change: datetime | None
    etag: str | None
    items: tuple[PiItem, ...]

    @property
    def posted(self) -> bool:
        """Every open (not recounted) item's difference is posted."""
        open_items = [i for i in self.items if not i.recounted]
        return bool(open_items) and all(i.posted for i in open_items)

    def item(self, number: str) -> PiItem:
        key = _item_no(number)
        for item in self.items:
            if item.item == key:
                return item
        raise KeyError(f"document {self.document} has no item {number}")


def _item_no(number: str | int) -> str:
    text = str(number).strip()
    return text.zfill(3) if text.isdigit() else text


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def pi_item_from(row: Mapping[str, Any]) -> PiItem:
    counted = bool(row.get("PhysicalInventoryItemIsCounted"))
    pi_type = field_text(row, "PhysicalInventoryStockType").strip()
    return PiItem(
        item=_item_no(field_text(row, "PhysicalInventoryDocumentItem")),
        material=field_text(row, "Material"),
        batch=field_text(row, "Batch"),
        stock_type=FROM_PI_STOCK_TYPE.get(pi_type, pi_type),
        book_quantity=field_decimal(row.get("BookQtyBfrCountInMatlBaseUnit")),
        counted_quantity=field_decimal(row.get("Quantity")) if counted else None,
        unit=field_text(row, "MaterialBaseUnit") or field_text(row, "UnitOfEntry"),
        counted=counted,
        zero_count=bool(row.get("PhysicalInventoryItemIsZero")),
        posted=bool(row.get("PhysInvtryDifferenceIsPosted")),
        recounted=bool(row.get("PhysInvtryItemIsRecounted")),
        recount_document=field_text(row, "PhysInvtryRecountDocument"),
        reason=field_text(row, "ReasonForPhysInvtryDifference"),
        material_document=field_text(row, "MaterialDocument"),
        material_document_year=field_text(row, "MaterialDocumentYear"),
        material_document_item=field_text(row, "MaterialDocumentItem"),
        difference_amount=field_decimal(row.get("DifferenceAmountInCoCodeCrcy")),
        currency=field_text(row, "Currency"),
        posting_date=_date(row.get("PostingDate")),
        etag=row.get(ETAG),
    )


def pi_document_from(row: Mapping[str, Any]) -> PiDocument:
    """A header as cleaned by :func:`clean_entity`, its items expanded (or none)."""
    items = row.get(ITEMS_NAV)
    last_change = row.get("LastChangeDateTime")
    return PiDocument(
        fiscal_year=field_text(row, "FiscalYear"),
        document=field_text(row, "PhysicalInventoryDocument"),
        plant=field_text(row, "Plant"),
        storage_location=field_text(row, "StorageLocation"),
        reference=field_text(row, "PhysInventoryReferenceNumber"),
        description=field_text(row, "PhysicalInventoryDocumentDesc"),
        count_status=field_text(row, "PhysicalInventoryCountStatus"),
        posting_status=field_text(row, "PhysInvtryAdjustmentPostingSts"),
        document_date=_date(row.get("DocumentDate")),
        planned_count_date=_date(row.get("PhysInventoryPlannedCountDate")),
        posting_date=_date(row.get("PostingDate")),
        last_change=last_change if isinstance(last_change, datetime) else None,
        etag=row.get(ETAG),
        items=tuple(
            sorted((pi_item_from(i) for i in items if isinstance(i, Mapping)), key=lambda i: i.item)
            if isinstance(items, list)
            else ()
        ),
    )


class PhysicalInventoryClient:
    """Physical-inventory documents through ``sap`` (which the caller owns and closes)."""

    def __init__(self, sap: SapClient) -> None:
        self.sap = sap
        self.odata = sap.odata

    # -- reads --------------------------------------------------------------------------------------

    def find_by_reference(self, reference: str) -> list[PiDocument]:
        """Every document carrying ``reference`` (oldest first), with its items."""
        _check_reference(reference)
        rows = self.odata.iter_entities(
            PHYSINV_SRV,
            HEADER_SET,
            filter=eq("PhysInventoryReferenceNumber", reference),
            orderby=_HEADER_KEY,
            expand=ITEMS_NAV,
            page_size=self.sap.config.page_size,
            decimals=_DECIMALS,
        )
        return [pi_document_from(r) for r in rows]

    def read_document(self, fiscal_year: str, document: str) -> PiDocument:
        """One document with its items (SapRequestError 404 when SAP has none)."""
        row = self.odata.read_entity(
            PHYSINV_SRV, HEADER_SET, _key(fiscal_year, document), expand=[ITEMS_NAV], decimals=_DECIMALS
        )
        return pi_document_from(row)

    # -- writes -------------------------------------------------------------------------------------

    def create_document(
        self,
        plant: str,
        storage_location: str,
        reference: str,
        description: str,
        items: Sequence[PiItemIn],
        count_date: date,
    ) -> PiDocument:
        """One document for ``items`` (deep insert). SAP numbers it and freezes each item's book
        quantity now. A ``TransientError`` for which :func:`maybe_applied` holds may have created it:
        call :meth:`find_by_reference` before creating again."""
        _check_reference(reference)
        if len(description) > MAX_DESCRIPTION:
            raise ValueError(f"a description has at most {MAX_DESCRIPTION} characters, got {len(description)}")
        if not items:
            raise ValueError("a physical-inventory document needs at least one item")
        seen: set[tuple[str, str, str]] = set()
        lines = []
        for item in items:
            if item.stock_type not in TO_PI_STOCK_TYPE:
                raise ValueError(f"stock type {item.stock_type!r} is not one of {sorted(TO_PI_STOCK_TYPE)}")
            identity = (item.material, item.batch, item.stock_type)
            if identity in seen:
                raise ValueError(f"{identity} is twice in the document")
            seen.add(identity)
            line = {"Material": item.material, "PhysicalInventoryStockType": TO_PI_STOCK_TYPE[item.stock_type]}
            if item.batch:
                line["Batch"] = item.batch
            lines.append(line)
        body = {
            "Plant": plant,
            "StorageLocation": storage_location,
            "DocumentDate": count_date,
            "PhysInventoryPlannedCountDate": count_date,
            "PhysInventoryReferenceNumber": reference,
            "PhysicalInventoryDocumentDesc": description,
            "PhysInvtryDocHasQtySnapshot": True,  # the book quantity of the cut-off, not of the count entry
            ITEMS_NAV: {"results": lines},
        }
        created = self.odata.create(PHYSINV_SRV, HEADER_SET, body)
        return self.read_document(field_text(created, "FiscalYear"), field_text(created, "PhysicalInventoryDocument"))

    def enter_counts(self, doc: PiDocument, counts: Mapping[str, tuple[Decimal, str, str | None]]) -> PiDocument:
        """Enter the count of each item: ``counts`` by item number ("1" or "001") → (counted
        quantity, unit of entry, difference reason or None). A quantity of 0 is sent as a zero count.
        Items are PATCHed one by one under the ETags of ``doc`` (as read); the document as it is
        afterwards. An unknown item or a negative quantity raises ValueError before anything is sent."""
        by_item: dict[str, tuple[Decimal, str, str | None]] = {}
        for number, (quantity, unit, reason) in counts.items():
            amount = to_decimal(quantity)
            if amount is None or amount < 0:
                raise ValueError(f"item {number}: a counted quantity is 0 or more, got {quantity!r}")
            if reason is not None and len(reason) > 4:
                raise ValueError(f"item {number}: a difference reason has at most 4 characters, got {reason!r}")
            by_item[_item_no(number)] = (amount, unit, reason)
        known = {i.item: i for i in doc.items}
        unknown = sorted(set(by_item) - set(known))
        if unknown:
            raise ValueError(f"document {doc.document} has no item {', '.join(unknown)}")
        for number, (quantity, unit, reason) in sorted(by_item.items()):
            item = known[number]
            if item.posted and item.counted_quantity == quantity:
                continue  # a re-run: this count is already posted
            if not item.etag:
                raise SapRequestError(f"item {number} of document {doc.document} came without an ETag", code="ETAG")
            changes: dict[str, Any] = {
                "Quantity": quantity,
                "UnitOfEntry": unit,
                "PhysicalInventoryItemIsZero": quantity == 0,
            }
            if reason is not None:
                changes["ReasonForPhysInvtryDifference"] = reason
            key = _key(doc.fiscal_year, doc.document, number)
            try:
                self.odata.patch(PHYSINV_SRV, ITEM_SET, key, changes, item.etag)
            except SapError as exc:
                if exc.status != 412:
                    raise
                # The ETag moved: our own earlier attempt (a retry after a lost answer), or someone else.
                current = pi_item_from(self.odata.read_entity(PHYSINV_SRV, ITEM_SET, key, decimals=_DECIMALS))
                if not (current.counted and current.counted_quantity == quantity):
                    raise
                log.info("SAP: item %s of %s already holds count %s", number, doc.document, quantity)
        return self.read_document(doc.fiscal_year, doc.document)

    def post_differences(
        self, fiscal_year: str, document: str, posting_date: date, threshold: Decimal | None = None
    ) -> PiDocument:
        """``PostDifferences``: book every counted difference (within ``threshold``, a value in the
        company-code currency, when given) on ``posting_date``; the document afterwards. A document
        already posted is returned as it is, nothing posted twice. Uncounted items: SapBusinessError.
        Like a create, the POST is sent again only when SAP cannot have received it; a TransientError
        for which :func:`maybe_applied` holds is checked by reading the document."""
        before = self.read_document(fiscal_year, document)
        if before.posted:
            return before
        params: dict[str, Any] = {
            "PhysicalInventoryDocument": document,
            "FiscalYear": fiscal_year,
            "PostingDate": posting_date,
        }
        if threshold is not None:
            params["PostingThresholdValue"] = to_decimal(threshold)
        query = {property_name(k): literal(v) for k, v in params.items()}
        url = self.odata.url(PHYSINV_SRV, "PostDifferences", query)
        try:
            # ODataClient has no public POST for function imports; its write path brings the CSRF
            # token (and its refetch), the SAP error parsing and the create-style retry rule.
            self.odata._write("POST", PHYSINV_SRV, url, None, None, create=True)
        except TransientError as exc:
            if not maybe_applied(exc):
                raise
            after = self.read_document(fiscal_year, document)
            if after.posting_status == before.posting_status and not after.posted:
                raise
            return after
        return self.read_document(fiscal_year, document)


def _key(fiscal_year: str, document: str, item: str | None = None) -> dict[str, str]:
    key = {"FiscalYear": fiscal_year, "PhysicalInventoryDocument": document}
    if item is not None:
        key["PhysicalInventoryDocumentItem"] = _item_no(item)
    return key


def _check_reference(reference: str) -> None:
    if not reference or len(reference) > MAX_REFERENCE:
        raise ValueError(f"a physical-inventory reference has 1 to {MAX_REFERENCE} characters, got {reference!r}")


__all__ = [
    "PHYSINV_SRV",
    "PhysicalInventoryClient",
    "PiDocument",
    "PiItem",
    "PiItemIn",
    "pi_document_from",
    "pi_item_from",
]
