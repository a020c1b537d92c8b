"""Physical inventory (API_PHYSICAL_INVENTORY_DOC_SRV): documents, counts, posting of differences.

The flow SAP's OpenAPI description and sap_report.md §4.6 describe:

* **Create** ``POST A_PhysInventoryDocHeader`` with the items deep-inserted in
  ``to_PhysicalInventoryDocumentItem`` (``{"results": [...]}`` or a bare list). SAP assigns the
  document number (0100000001…, one range for every year) and ``FiscalYear`` (the calendar year of
  the document date: company codes 1000/2000 keep calendar fiscal years [emulator]) and numbers the
  items 001, 002, … whatever the body says. ``Plant`` must exist and ``StorageLocation`` be 0001 (the
  seed's only one); every item's material must be maintained in the plant. The book quantity
  ``BookQtyBfrCountInMatlBaseUnit`` is frozen at creation from A_MatlStkInAcctMod when
  ``PhysInvtryDocHasQtySnapshot`` is true (the default here [emulator]); when false it is taken at
  count entry. ``PhysInventoryReferenceNumber`` (16 characters) is stored on header and items, so a
  client finds its own document again with ``$filter=PhysInventoryReferenceNumber eq '…'``.
* **Count** ``PATCH A_PhysInventoryDocItem(...)`` under ``If-Match`` (the item's
  ``LastChangeDateTime`` ETag): ``Quantity`` in ``UnitOfEntry`` (only the base unit is defined for
  the seed's materials), or ``PhysicalInventoryItemIsZero`` true for a count of zero; a ``Quantity``
  of 0 without that flag is refused, as SAP does not take 0 for "counted" [emulator's error, SAP
  leaves such an item uncounted]. ``ReasonForPhysInvtryDifference`` may be set too. A count can be
  entered again until the difference is posted.
* **Post** ``PostDifferences(PhysicalInventoryDocument, FiscalYear, PostingDate, PostingThresholdValue)``
  posts every open item (all must be counted) whose |difference value| is within the threshold
  (none given, or 0: no limit), as one material document (4900000001…) with one line per item
  whose counted quantity differs from the frozen book quantity: movement type 701/702 (gain/loss,
  unrestricted), 703/704 (quality inspection), 707/708 (blocked). The stock row of that stock type
  moves by counted − book (a gain of unrestricted stock re-confirms backorders like a goods
  receipt), so a later A_MatlStkInAcctMod read shows the new book stock. The item gets
  ``PhysInvtryDifferenceIsPosted``, ``MaterialDocument``/``Year``/``Item``, ``PostingDate`` and
  ``DifferenceAmountInCoCodeCrcy`` = difference × standard price (:mod:`sandbox.valuation`) in the
  company-code ``Currency``; the header's adjustment status becomes X (all items) or A (some).
  ``PostDifferencesOnItem`` posts one item the same way.
* **Recount** ``InitiateRecount`` / ``InitiateRecountOnItem``: the counted, unposted items (above
  the threshold, when one is given) are closed (``PhysInvtryItemIsRecounted``,
  ``PhysInvtryRecountDocument``) and a new document with a fresh book snapshot is created for them;
  the answer is the new document's header (or its item).

Statuses (IKPF/ISEG values): ``PhysicalInventoryCountStatus`` and ``PhysInvtryAdjustmentPostingSts``
'' none, 'A' some, 'X' all active items. ``PhysicalInventoryStockType`` '' unrestricted, 'X' quality
inspection, 'S' blocked (ISEG-BSTAR values [verify]). Not emulated [emulator]: the posting block
(``PostingIsBlockedForPhysInvtry`` is stored, other goods movements go on), serial numbers, special
stocks, deleting documents or items, and SAP's refusal of a material already in another open
document.

Error messages and their numbers are the emulator's own where the reference names none [verify]:
MI/001 field missing, MI/002 plant, MI/003 storage location, MI/004 stock type, MI/005 item twice,
MI/006 no items, MI/007 item already posted, MI/008 item recounted, MI/009 negative quantity,
MI/010 zero without the zero-count flag, MI/011 unit of entry, MI/012 item not counted, MI/013
document already posted, MI/014 document not found (404), MI/015 item not found (404), MI/016
material or batch not the item's, MI/017 nothing to recount, MI/018 nothing within the threshold,
M3/305 material not in plant (as the availability service), M7/021 stock deficit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.sap.atp import Atp
from sandbox.sap.errors import ErrorDetail, SapError
from sandbox.sap.masterdata import BLOCKED, QUALITY, STORAGE_LOCATION, UNRESTRICTED, stock_row
from sandbox.sap.odata_json import currency_decimals, default_value, parse_value, quantize
from sandbox.sap.services import PHYS_INV_HEADER, PHYS_INV_ITEM
from sandbox.sap.store import Row, Store, later
from sandbox.seed_data import SeedData
from sandbox.valuation import Valuation

HEADERS, ITEMS = PHYS_INV_HEADER.name, PHYS_INV_ITEM.name
# PhysicalInventoryStockType → InventoryStockType of A_MatlStkInAcctMod.
STOCK_TYPES = {"": UNRESTRICTED, "X": QUALITY, "S": BLOCKED}
MOVEMENT_TYPES = {UNRESTRICTED: ("701", "702"), QUALITY: ("703", "704"), BLOCKED: ("707", "708")}  # gain, loss
ITEM_FIELDS = "to_PhysicalInventoryDocumentItem"
COUNT_FIELDS = frozenset({"Quantity", "UnitOfEntry", "PhysicalInventoryItemIsZero"})
INVALID = "/IWBEP/CM_MGW_RT/021"


@dataclass(frozen=True)
class MaterialDocumentLine:
    item: str
    material: str
    plant: str
    storage_location: str
    batch: str
    stock_type: str  # InventoryStockType
    movement_type: str
    quantity: Decimal  # positive, in the base unit
    unit: str
    amount: Decimal  # signed, company-code currency
    currency: str
    physical_inventory_document: str
    physical_inventory_item: str


def _error(status: int, number: str, message: str, target: str = "") -> SapError:
    code = number if "/" in number else f"MI/{number}"
    return SapError(status, code, message, [ErrorDetail(code, message, target, target)] if target else [])


def _day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class PhysicalInventory:
    def __init__(self, store: Store, data: SeedData, atp: Atp, user: str) -> None:
        self.store = store
        self.data = data
        self.atp = atp
        self.user = user
        self.valuation = Valuation(data)
        self.headers = store.table(HEADERS)
        self.items = store.table(ITEMS)
        self.stock = store.table("A_MatlStkInAcctMod")
        self.plants = {p.code: p for p in data.plants}
        self.next_document = 100000001
        self.next_material_document = 4900000001
        self.material_documents: dict[str, dict[str, Any]] = {}

    # -- helpers ------------------------------------------------------------------------------------

    def plant_day(self, plant: str, now: datetime) -> datetime:
        """Today in the plant's time zone, as SAP stores a date (midnight UTC of that day)."""
        local = now.astimezone(UTC) + timedelta(hours=self.plants[plant].utc_offset_hours)
        return datetime(local.year, local.month, local.day, tzinfo=UTC)

    def _stock_key(self, material: str, plant: str, batch: str, stock_type: str) -> tuple[str, ...]:
        return (material, plant, STORAGE_LOCATION, batch, "", "", "", "", "", "", stock_type)

    def book_quantity(self, item: Row) -> Decimal:
        key = self._stock_key(
            item["Material"], item["Plant"], item["Batch"], STOCK_TYPES[item["PhysicalInventoryStockType"]]
        )
        row = self.stock.get(key)
        return row["MatlWrhsStkQtyInMatlBaseUnit"] if row is not None else Decimal(0)

    def document(self, year: str, number: str) -> Row:
        row = self.headers.get((year, number))
        if row is None:
            raise _error(404, "014", f"Physical inventory document {number} does not exist in fiscal year {year}")
        return row

    def items_of(self, header: Row) -> list[Row]:
        rows = self.items.lookup("PhysicalInventoryDocument", header["PhysicalInventoryDocument"])
        return sorted(
            (r for r in rows if r["FiscalYear"] == header["FiscalYear"]),
            key=lambda r: r["PhysicalInventoryDocumentItem"],
        )

    def item(self, year: str, number: str, item: str) -> Row:
        self.document(year, number)
        key = item.zfill(3) if item.isdigit() else item
        row = self.items.get((year, number, key))
        if row is None:
            raise _error(404, "015", f"Item {item} does not exist in physical inventory document {number} {year}")
        return row

    @staticmethod
    def _active(item: Row) -> bool:
        return not item["PhysInvtryItemIsDeleted"] and not item["PhysInvtryItemIsRecounted"]

    def _touch(self, table_name: str, row: Row, now: datetime, changes: dict[str, Any]) -> None:
        changes["LastChangeDateTime"] = later(row["LastChangeDateTime"], now)
        if table_name == ITEMS:
            changes.setdefault("LastChangeDate", _day(now))
            changes.setdefault("LastChangeUser", self.user)
        self.store.table(table_name).update(row, changes)

    def _refresh_header(self, header: Row, now: datetime, extra: dict[str, Any] | None = None) -> None:
        active = [i for i in self.items_of(header) if self._active(i)]

        def status(flag: str) -> str:
            done = sum(1 for i in active if i[flag])
            return "" if not done else "X" if done == len(active) else "A"

        changes = {
            "PhysicalInventoryCountStatus": status("PhysicalInventoryItemIsCounted"),
            "PhysInvtryAdjustmentPostingSts": status("PhysInvtryDifferenceIsPosted"),
            **(extra or {}),
        }
        self._touch(HEADERS, header, now, changes)

    def _amounts(self, item: Row, counted: Decimal, book: Decimal) -> dict[str, Any]:
        price = self.valuation.standard_price(item["Material"], item["Plant"])
        places = currency_decimals(item["Currency"])
        return {
            "DifferenceAmountInCoCodeCrcy": quantize((counted - book) * price, places),
            "BookQtyAmountInCoCodeCrcy": quantize(book * price, places),
            "PhysInvtryCtAmtInCoCodeCrcy": quantize(counted * price, places),
        }

    # -- create -------------------------------------------------------------------------------------

    def _values(self, payload: Any, es_props: dict[str, Any], type_name: str, skip: Iterable[str]) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise SapError(400, INVALID, "The request body is not a valid JSON object")
        values: dict[str, Any] = {}
        for name, raw in payload.items():
            if name == "__metadata" or name in skip:
                continue
            p = es_props.get(name)
            if p is None:
                raise SapError(400, "/IWBEP/CM_MGW_RT/022", f"Property '{name}' is invalid for type '{type_name}'")
            try:
                values[name] = parse_value(p, raw)
            except ValueError as exc:
                raise SapError(400, INVALID, f"Invalid value for property '{name}': {exc}") from None
        return values

    def create(self, payload: Any, now: datetime) -> Row:
        """A document with its deep-inserted items (see the module docstring); the header row."""
        header_type = PHYS_INV_HEADER.type
        values = self._values(payload, header_type.by_name, header_type.name, (ITEM_FIELDS,))
        raw_items = payload.get(ITEM_FIELDS)
        if isinstance(raw_items, dict):
            raw_items = raw_items.get("results")
        if not isinstance(raw_items, list) or not raw_items:
            raise _error(400, "006", "Enter at least one item in to_PhysicalInventoryDocumentItem", ITEM_FIELDS)
        plant = values.get("Plant") or ""
        if not plant:
            raise _error(400, "001", "Enter a value for field Plant (Plant)", "Plant")
        if plant not in self.plants:
            raise _error(400, "002", f"Plant {plant} does not exist", "Plant")
        location = values.get("StorageLocation") or ""
        if location != STORAGE_LOCATION:
            raise _error(
                400, "003", f"Storage location {plant} {location or '(empty)'} does not exist", "StorageLocation"
            )
        if values.get("InventorySpecialStockType"):
            raise _error(
                400, "004", "Special stocks are not counted through this document", "InventorySpecialStockType"
            )
        today = self.plant_day(plant, now)
        document_date = _day(values.get("DocumentDate") or today)
        year = f"{document_date.year:04d}"
        number = f"{self.next_document:010d}"
        self.next_document += 1
        snapshot = values.get("PhysInvtryDocHasQtySnapshot")
        fixed = {
            "FiscalYear": year,
            "PhysicalInventoryDocument": number,
            "InventoryTransactionType": "IB",
            "Plant": plant,
            "StorageLocation": location,
            "DocumentDate": document_date,
            "PhysInventoryPlannedCountDate": _day(values.get("PhysInventoryPlannedCountDate") or document_date),
            "CreatedByUser": self.user,
            "PhysInvtryDocHasQtySnapshot": True if snapshot is None else snapshot,
            "PostingIsBlockedForPhysInvtry": bool(values.get("PostingIsBlockedForPhysInvtry")),
            "LastChangeDateTime": later(None, now),
        }
        given = {  # what the client may set; a null is the field's initial value, as ABAP has no nulls
            k: default_value(header_type.by_name[k]) if v is None else v
            for k, v in values.items()
            if header_type.by_name[k].creatable and k not in fixed
        }
        header = self.headers.new_row(**given, **fixed)
        self.headers.insert(header)
        seen: set[tuple[str, str, str]] = set()
        item_type = PHYS_INV_ITEM.type
        for position, raw in enumerate(raw_items, start=1):
            item_values = self._values(
                raw,
                item_type.by_name,
                item_type.name,
                ("FiscalYear", "PhysicalInventoryDocument", "to_PhysicalInventoryDocument"),
            )
            target = f"{ITEM_FIELDS}({position})"
            self._check_item(plant, item_values, target)
            identity = (
                item_values["Material"],
                item_values.get("Batch") or "",
                item_values.get("PhysicalInventoryStockType") or "",
            )
            if identity in seen:
                raise _error(
                    400, "005", f"Material {identity[0]} batch '{identity[1]}' stock type '{identity[2]}' is in the "
                    "document twice", target,
                )  # fmt: skip
            seen.add(identity)
            self._insert_item(header, position, item_values, now)
        self._refresh_header(header, now)
        return header

    def _check_item(self, plant: str, values: dict[str, Any], target: str) -> None:
        material = values.get("Material") or ""
        if not material:
            raise _error(400, "001", "Enter a value for field Material (Material)", target)
        if material not in self.data.material_by_number:
            raise _error(400, "M3/305", f"Material {material} does not exist", target)
        if plant not in self.data.material_by_number[material].plants:
            raise _error(400, "M3/305", f"Material {material} not maintained in plant {plant}", target)
        stock_type = values.get("PhysicalInventoryStockType") or ""
        if stock_type not in STOCK_TYPES:
            raise _error(
                400, "004", f"Stock type '{stock_type}' is not allowed: '' unrestricted, 'X' quality inspection, "
                "'S' blocked", target,
            )  # fmt: skip
        if values.get("InventorySpecialStockType"):
            raise _error(400, "004", "Special stocks are not counted through this document", target)
        for field in ("Plant", "StorageLocation"):
            if values.get(field) and values[field] != (plant if field == "Plant" else STORAGE_LOCATION):
                raise _error(400, "016", f"{field} of an item must be the document's", target)

    def _insert_item(self, header: Row, position: int, values: dict[str, Any], now: datetime) -> Row:
        plant = header["Plant"]
        material = self.data.material_by_number[values["Material"]]
        item = self.items.new_row(
            FiscalYear=header["FiscalYear"],
            PhysicalInventoryDocument=header["PhysicalInventoryDocument"],
            PhysicalInventoryDocumentItem=f"{position:03d}",
            Plant=plant,
            StorageLocation=header["StorageLocation"],
            Material=material.number,
            Batch=values.get("Batch") or "",
            PhysicalInventoryStockType=values.get("PhysicalInventoryStockType") or "",
            PhysInventoryReferenceNumber=header["PhysInventoryReferenceNumber"],
            MaterialBaseUnit=material.base_unit,
            UnitOfEntry=material.base_unit,
            Currency=self.valuation.currency(plant),
            LastChangeUser=self.user,
            LastChangeDate=_day(now),
            LastChangeDateTime=later(None, now),
        )
        if header["PhysInvtryDocHasQtySnapshot"]:
            item["BookQtyBfrCountInMatlBaseUnit"] = self.book_quantity(item)
        self.items.insert(item)
        counting = {
            k: values[k] for k in (*COUNT_FIELDS, "ReasonForPhysInvtryDifference", "CountedByUser") if k in values
        }
        if counting:
            self.change_item(item, counting, now, refresh=False)
        return item

    # -- count --------------------------------------------------------------------------------------

    def _check_open(self, item: Row) -> None:
        number = item["PhysicalInventoryDocumentItem"]
        if item["PhysInvtryDifferenceIsPosted"]:
            raise _error(400, "007", f"The difference of item {number} is already posted; it cannot be changed")
        if item["PhysInvtryItemIsRecounted"]:
            raise _error(
                400, "008", f"Item {number} is recounted in document {item['PhysInvtryRecountDocument']}; "
                "it cannot be changed",
            )  # fmt: skip

    def change_item(self, item: Row, changes: dict[str, Any], now: datetime, *, refresh: bool = True) -> None:
        """A PATCH of an item (``changes``: updatable properties, parsed): the count and its reason."""
        self._check_open(item)
        update: dict[str, Any] = {}
        if "ReasonForPhysInvtryDifference" in changes:
            update["ReasonForPhysInvtryDifference"] = changes["ReasonForPhysInvtryDifference"] or ""
        if COUNT_FIELDS & set(changes):
            update.update(self._count(item, changes, now))
        elif "CountedByUser" in changes or "PhysicalInventoryLastCountDate" in changes:
            if not item["PhysicalInventoryItemIsCounted"]:
                raise _error(400, "012", f"Item {item['PhysicalInventoryDocumentItem']} has not been counted")
        if "CountedByUser" in changes:
            update["CountedByUser"] = changes["CountedByUser"] or self.user
        if changes.get("PhysicalInventoryLastCountDate") is not None:
            update["PhysicalInventoryLastCountDate"] = _day(changes["PhysicalInventoryLastCountDate"])
        self._touch(ITEMS, item, now, update)
        if refresh:
            header = self.headers.get((item["FiscalYear"], item["PhysicalInventoryDocument"]))
            assert header is not None
            self._refresh_header(
                header, now, {"PhysicalInventoryLastCountDate": item["PhysicalInventoryLastCountDate"]}
            )

    def _count(self, item: Row, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
        number = item["PhysicalInventoryDocumentItem"]
        unit = changes.get("UnitOfEntry") or item["MaterialBaseUnit"]
        if unit != item["MaterialBaseUnit"]:
            raise _error(
                400, "011", f"Unit of entry {unit} is not defined for material {item['Material']}", "UnitOfEntry"
            )
        zero = changes.get("PhysicalInventoryItemIsZero")
        if zero is None:
            zero = item["PhysicalInventoryItemIsZero"] and "Quantity" not in changes
        quantity = changes.get("Quantity")
        if quantity is None and "Quantity" not in changes and item["PhysicalInventoryItemIsCounted"] and not zero:
            quantity = item["Quantity"]  # only the unit (or the reason) changes
        if quantity is not None and quantity < 0:
            raise _error(400, "009", f"Enter a counted quantity of 0 or more for item {number}", "Quantity")
        if zero:
            if quantity:
                raise _error(400, "010", f"Item {number}: a zero count has no quantity", "Quantity")
            quantity = Decimal(0)
        elif not quantity:
            raise _error(
                400, "010", f"Item {number}: enter a counted quantity, or set PhysicalInventoryItemIsZero for a "
                "count of 0", "Quantity",
            )  # fmt: skip
        header = self.headers.get((item["FiscalYear"], item["PhysicalInventoryDocument"]))
        assert header is not None
        book = item["BookQtyBfrCountInMatlBaseUnit"]
        update: dict[str, Any] = {}
        if not header["PhysInvtryDocHasQtySnapshot"]:
            book = self.book_quantity(item)  # no frozen book: the book at the count
            update["BookQtyBfrCountInMatlBaseUnit"] = book
        update.update(
            Quantity=quantity,
            QuantityInUnitOfEntry=quantity,
            UnitOfEntry=unit,
            PhysicalInventoryItemIsZero=bool(zero),
            PhysicalInventoryItemIsCounted=True,
            CountedByUser=self.user,
            PhysicalInventoryLastCountDate=self.plant_day(item["Plant"], now),
            **self._amounts(item, quantity, book),
        )
        return update

    # -- post ---------------------------------------------------------------------------------------

    def post(
        self,
        year: str,
        number: str,
        posting_date: datetime | None,
        threshold: Decimal | None,
        now: datetime,
        only_item: str | None = None,
        reason: str | None = None,
    ) -> tuple[Row, list[Row]]:
        """PostDifferences (``only_item`` None) or PostDifferencesOnItem; the header and posted items."""
        header = self.document(year, number)
        if only_item is not None:
            item = self.item(year, number, only_item)
            self._check_open(item)
            candidates = [item]
        else:
            candidates = [i for i in self.items_of(header) if self._active(i) and not i["PhysInvtryDifferenceIsPosted"]]
            if not candidates:
                raise _error(400, "013", f"The differences of physical inventory document {number} are already posted")
        uncounted = [i for i in candidates if not i["PhysicalInventoryItemIsCounted"]]
        if uncounted:
            items = ", ".join(i["PhysicalInventoryDocumentItem"] for i in uncounted)
            message = f"Items not yet counted in physical inventory document {number}: {items}"
            details = [
                ErrorDetail("MI/012", f"Item {i['PhysicalInventoryDocumentItem']} has not been counted",
                            f"A_PhysInventoryDocItem('{i['PhysicalInventoryDocumentItem']}')", "Quantity")
                for i in uncounted
            ]  # fmt: skip
            raise SapError(400, "MI/012", message, details)
        limit = threshold if threshold is not None and threshold > 0 else None
        to_post = [i for i in candidates if limit is None or abs(i["DifferenceAmountInCoCodeCrcy"]) <= limit]
        if not to_post:
            raise _error(400, "018", f"No difference of document {number} is within the threshold value {threshold}")
        day = _day(posting_date) if posting_date is not None else self.plant_day(header["Plant"], now)
        document = f"{self.next_material_document:010d}"
        self.next_material_document += 1
        lines: list[MaterialDocumentLine] = []
        for item in to_post:
            book = item["BookQtyBfrCountInMatlBaseUnit"]
            difference = item["Quantity"] - book
            update: dict[str, Any] = {
                "PhysInvtryDifferenceIsPosted": True,
                "PostingDate": day,
                "AdjustmentPostingMadeByUser": self.user,
                **self._amounts(item, item["Quantity"], book),
            }
            if reason:
                update["ReasonForPhysInvtryDifference"] = reason
            if difference:
                stock_type = STOCK_TYPES[item["PhysicalInventoryStockType"]]
                self._move(item, stock_type, difference, now)
                line_no = f"{len(lines) + 1:04d}"
                lines.append(
                    MaterialDocumentLine(
                        item=line_no,
                        material=item["Material"],
                        plant=item["Plant"],
                        storage_location=item["StorageLocation"],
                        batch=item["Batch"],
                        stock_type=stock_type,
                        movement_type=MOVEMENT_TYPES[stock_type][0 if difference > 0 else 1],
                        quantity=abs(difference),
                        unit=item["MaterialBaseUnit"],
                        amount=update["DifferenceAmountInCoCodeCrcy"],
                        currency=item["Currency"],
                        physical_inventory_document=number,
                        physical_inventory_item=item["PhysicalInventoryDocumentItem"],
                    )
                )
                update.update(
                    MaterialDocument=document, MaterialDocumentYear=f"{day.year:04d}", MaterialDocumentItem=line_no
                )
            self._touch(ITEMS, item, now, update)
        if lines:
            self._record_material_document(document, day, lines)
        self._refresh_header(header, now, {"PostingDate": day, "FiscalPeriod": f"{day.month:02d}"})
        return header, to_post

    def _move(self, item: Row, stock_type: str, difference: Decimal, now: datetime) -> None:
        material, plant, batch = item["Material"], item["Plant"], item["Batch"]
        unit = item["MaterialBaseUnit"]
        if stock_type == UNRESTRICTED and not batch and difference > 0:
            self.atp.receive(material, plant, difference, now, unit)  # a gain is a receipt: backorders first
            return
        key = self._stock_key(material, plant, batch, stock_type)
        row = self.stock.get(key)
        current = row["MatlWrhsStkQtyInMatlBaseUnit"] if row is not None else Decimal(0)
        if current + difference < 0:
            raise _error(
                400, "M7/021", f"Deficit of stock type {stock_type} {-(current + difference)} {unit}: {material} "
                f"{plant} {STORAGE_LOCATION} batch '{batch}'",
            )  # fmt: skip
        if row is None:
            new = stock_row(self.store, material, plant, stock_type, difference, unit)
            new["Batch"] = batch
            self.stock.insert(new)
        else:
            self.stock.update(row, {"MatlWrhsStkQtyInMatlBaseUnit": current + difference})

    def _record_material_document(self, number: str, day: datetime, lines: list[MaterialDocumentLine]) -> None:
        self.material_documents[number] = {
            "MaterialDocument": number,
            "MaterialDocumentYear": f"{day.year:04d}",
            "PostingDate": day.date().isoformat(),
            "GoodsMovementCode": "PI",
            "lines": [
                {
                    "MaterialDocumentItem": line.item,
                    "Material": line.material,
                    "Plant": line.plant,
                    "StorageLocation": line.storage_location,
                    "Batch": line.batch,
                    "InventoryStockType": line.stock_type,
                    "GoodsMovementType": line.movement_type,
                    "QuantityInBaseUnit": str(quantize(line.quantity, 3)),
                    "MaterialBaseUnit": line.unit,
                    "TotalGoodsMvtAmtInCCCrcy": str(line.amount),
                    "CompanyCodeCurrency": line.currency,
                    "PhysicalInventoryDocument": line.physical_inventory_document,
                    "PhysicalInventoryDocumentItem": line.physical_inventory_item,
                }
                for line in lines
            ],
        }
        self.store.journal.record(lambda: self.material_documents.pop(number, None))

    # -- recount ------------------------------------------------------------------------------------

    def recount(
        self, year: str, number: str, args: dict[str, Any], now: datetime, only_item: str | None = None
    ) -> tuple[Row, list[Row]]:
        """InitiateRecount(OnItem): a new document for the counted, unposted items; (new header, new items)."""
        header = self.document(year, number)
        if only_item is not None:
            item = self.item(year, number, only_item)
            self._check_open(item)
            if not item["PhysicalInventoryItemIsCounted"]:
                raise _error(400, "012", f"Item {item['PhysicalInventoryDocumentItem']} has not been counted")
            chosen = [item]
        else:
            threshold = args.get("PostingThresholdValue")
            limit = threshold if threshold is not None and threshold > 0 else None
            chosen = [
                i
                for i in self.items_of(header)
                if self._active(i)
                and not i["PhysInvtryDifferenceIsPosted"]
                and i["PhysicalInventoryItemIsCounted"]
                and (limit is None or abs(i["DifferenceAmountInCoCodeCrcy"]) > limit)
            ]
            if not chosen:
                raise _error(400, "017", f"No item of physical inventory document {number} can be recounted")
        snapshot = args.get("PhysInvtryDocHasQtySnapshot")
        block = args.get("PostingIsBlockedForPhysInvtry")
        payload_header = {
            "Plant": header["Plant"],
            "StorageLocation": header["StorageLocation"],
            "DocumentDate": args.get("DocumentDate") or self.plant_day(header["Plant"], now),
            "PhysInventoryPlannedCountDate": args.get("PhysInventoryPlannedCountDate"),
            "PhysicalInventoryNumber": args.get("PhysicalInventoryNumber") or header["PhysicalInventoryNumber"],
            "PhysInventoryReferenceNumber": args.get("PhysInventoryReferenceNumber")
            or header["PhysInventoryReferenceNumber"],
            "PhysicalInventoryDocumentDesc": args.get("PhysicalInventoryDocumentDesc")
            or header["PhysicalInventoryDocumentDesc"],
            "PhysInvtryDocHasQtySnapshot": header["PhysInvtryDocHasQtySnapshot"] if snapshot is None else snapshot,
            "PostingIsBlockedForPhysInvtry": header["PostingIsBlockedForPhysInvtry"] if block is None else block,
        }
        today = self.plant_day(header["Plant"], now)
        document_date = _day(payload_header["DocumentDate"])
        new_number = f"{self.next_document:010d}"
        self.next_document += 1
        new_header = self.headers.new_row(
            FiscalYear=f"{document_date.year:04d}",
            PhysicalInventoryDocument=new_number,
            InventoryTransactionType="IB",
            CreatedByUser=self.user,
            LastChangeDateTime=later(None, now),
            **{**payload_header, "DocumentDate": document_date,
               "PhysInventoryPlannedCountDate": _day(payload_header["PhysInventoryPlannedCountDate"] or today)},
        )  # fmt: skip
        self.headers.insert(new_header)
        new_items = []
        for position, old in enumerate(chosen, start=1):
            values = {
                "Material": old["Material"],
                "Batch": old["Batch"],
                "PhysicalInventoryStockType": old["PhysicalInventoryStockType"],
            }
            new_items.append(self._insert_item(new_header, position, values, now))
            self._touch(ITEMS, old, now, {"PhysInvtryItemIsRecounted": True, "PhysInvtryRecountDocument": new_number})
        self._refresh_header(new_header, now)
        self._refresh_header(header, now)
        return new_header, new_items

    # -- function imports ---------------------------------------------------------------------------

    def function(self, name: str, args: dict[str, Any], now: datetime) -> tuple[str, Row]:
        """One of the service's function imports with parsed ``args``; (entity set, row) to answer."""
        year, number = args["FiscalYear"], args["PhysicalInventoryDocument"]
        if name == "PostDifferences":
            header, _ = self.post(year, number, args.get("PostingDate"), args.get("PostingThresholdValue"), now)
            return HEADERS, header
        if name == "PostDifferencesOnItem":
            item = self.item(year, number, args["PhysicalInventoryDocumentItem"])
            if args["Material"] != item["Material"]:
                raise _error(
                    400, "016", f"Item {item['PhysicalInventoryDocumentItem']} of document {number} is material "
                    f"{item['Material']}, not {args['Material']}", "Material",
                )  # fmt: skip
            if args.get("Batch") is not None and args["Batch"] != item["Batch"]:
                raise _error(
                    400, "016", f"Item {item['PhysicalInventoryDocumentItem']} is batch '{item['Batch']}'", "Batch"
                )
            reason = args.get("ReasonForPhysInvtryDifference")
            _, posted = self.post(
                year, number, args.get("PostingDate"), None, now, item["PhysicalInventoryDocumentItem"], reason
            )
            return ITEMS, posted[0]
        if name == "InitiateRecount":
            new_header, _ = self.recount(year, number, args, now)
            return HEADERS, new_header
        if name == "InitiateRecountOnItem":
            _, new_items = self.recount(year, number, args, now, args["PhysicalInventoryDocumentItem"])
            return ITEMS, new_items[0]
        raise SapError(501, "/IWBEP/CM_MGW_RT/001", f"Function import {name} is not implemented")
