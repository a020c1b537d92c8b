"""Purchase requisitions (API_PURCHASEREQ_PROCESS_SRV): creation by deep insert, read back.

What the service does, as SAP's published metadata and its Purchase Requisition OData API blog
series (community.sap.com, "Purchase Requisition ODATA API", episodes 1-4) describe it:

* **Create** ``POST A_PurchaseRequisitionHeader`` with the items deep-inserted in
  ``to_PurchaseReqnItem`` (``{"results": [...]}`` or a bare list); the answer is 201 with the header
  and its items. SAP assigns ``PurchaseRequisition`` from the internal number range of document
  type NB (0010000000-0019999999; the sandbox starts at 0010000001) whatever the body says, and
  numbers the items 10, 20, ... unless the body numbers them itself. Item keys are rendered
  without leading zeros (``'10'``); a key predicate also finds them with them (``'00010'``), as
  the blog's examples use both.
* Only the standard type ``NB`` is offered (on the header, or on the items, which must agree) and
  only stock items (no ``AccountAssignmentCategory``) [emulator].
* Each item needs a material known to the seed and maintained in its ``Plant``, a
  ``RequestedQuantity`` above zero (at most 3 decimals; PC, the seed's only unit, allows whole
  pieces only) and a ``DeliveryDate``. ``BaseUnit`` defaults to the material's; another unit is
  refused. ``PurchasingOrganization`` defaults to the plant's company code (1000 for 1010/1020,
  2000 for 2010) and must be it; ``PurchasingGroup`` defaults to 001 and must be one of 001-003;
  ``StorageLocation`` is blank or 0001. Without a price the item is valued at the material's
  standard price (:mod:`sandbox.valuation`) in the plant's currency; with one,
  ``PurReqnItemCurrency`` must be CNY, EUR or USD. ``ItemNetAmount`` = quantity x price / price
  unit. ``MaterialPlannedDeliveryDurn`` is the material's lead time.
* ``PurReqnExternalReference`` (35 characters, upper case in SAP's domain, so the emulator stores
  it upper-cased [verify]) is kept on the item, so a client finds its requisition again with
  ``A_PurchaseRequisitionItem?$filter=PurReqnExternalReference eq '…'``.
* ``PurReqnDoOnlyValidation`` true checks the document and answers it with an empty number;
  nothing is saved [verify: SAP documents the flag, not its answer].
* Everything is checked before anything is saved; all errors come back together (the first as
  the main message, each in ``innererror.errordetails`` with ``target``/``propertyref`` such as
  ``to_PurchaseReqnItem(2)/Material``). Never a 500: bodies of the wrong shape are 400s.

Statuses of a new item [emulator, from the EBAN values]: ``ProcessingStatus`` N (not edited),
``PurReqnReleaseStatus`` 03 (release not required), ``PurchasingDocumentCategory`` B,
``PurReqnOrigin`` R (realtime, via the API), ``IsDeleted`` blank, ``IsClosed`` false.
Not emulated: changes (PATCH), item notes, account assignments, delivery addresses, source
determination, release strategies, conversion into purchase orders.

Message numbers: class 06 (purchasing documents) where its published texts fit - 06/010 "Document
contains no items", 06/012 "Item & already exists", 06/019 "Document & does not exist", 06/026
"Please enter material number or account assignment category" - the rest are the emulator's own
in that class [verify]: 06/201 document type, 06/202 quantity, 06/203 delivery date, 06/204 unit,
06/205 purchasing organization, 06/206 purchasing group, 06/207 storage location, 06/208 currency,
06/209 item number, 06/210 account assignment, 06/211 plant; M3/305 material unknown or not in the
plant (as the sales-order and availability services answer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.sap.errors import SapError
from sandbox.sap.odata_json import currency_decimals, quantize
from sandbox.sap.orders import _Errors, _fields, _results
from sandbox.sap.services import PURCHASE_REQ_HEADER, PURCHASE_REQ_ITEM
from sandbox.sap.store import Row, Store, later
from sandbox.seed_data import SeedData
from sandbox.valuation import Valuation

HEADERS, ITEMS = PURCHASE_REQ_HEADER.name, PURCHASE_REQ_ITEM.name
ITEM_NAV = "to_PurchaseReqnItem"
FIRST_NUMBER = 10000001  # internal number range 01 of NB: 0010000000-0019999999
PR_TYPES = frozenset({"NB"})
PURCHASING_GROUPS = ("001", "002", "003")
STORAGE_LOCATION = "0001"
CURRENCIES = frozenset({"CNY", "EUR", "USD"})
ITEM_STEP = 10


def item_key(value: str) -> str:
    """The stored item number: digits without leading zeros ('00010' → '10')."""
    return str(int(value)) if value.isdigit() else value


def _day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class PurchaseRequisitions:
    def __init__(self, store: Store, data: SeedData, user: str) -> None:
        self.store = store
        self.data = data
        self.user = user
        self.valuation = Valuation(data)
        self.headers = store.table(HEADERS)
        self.items = store.table(ITEMS)
        self.plants = {p.code: p for p in data.plants}
        self.next_number = FIRST_NUMBER

    def plant_day(self, plant: str, now: datetime) -> datetime:
        """Today in the plant's time zone, as SAP stores a date (midnight UTC of that day)."""
        local = now.astimezone(UTC) + timedelta(hours=self.plants[plant].utc_offset_hours)
        return datetime(local.year, local.month, local.day, tzinfo=UTC)

    def items_of(self, header: Row) -> list[Row]:
        return sorted(
            self.items.lookup("PurchaseRequisition", header["PurchaseRequisition"]),
            key=lambda r: int(r["PurchaseRequisitionItem"]),
        )

    # -- create -------------------------------------------------------------------------------------

    def create(self, payload: Any, now: datetime) -> tuple[Row, list[Row]]:
        """The requisition of a deep insert (see the module docstring): (header, items). With
        ``PurReqnDoOnlyValidation`` the rows are built but not saved and the number is empty."""
        if not isinstance(payload, dict):
            raise SapError(400, "/IWBEP/CM_MGW_RT/021", "The request body is not a valid JSON object")
        errors = _Errors()
        header = _fields(PURCHASE_REQ_HEADER, payload, "", errors, {ITEM_NAV})
        raw_items = _results(payload.get(ITEM_NAV))
        header_type = header.get("PurchaseRequisitionType") or ""
        if header_type and header_type not in PR_TYPES:
            errors.add(
                "06/201", f"Document type {header_type} not allowed for purchase requisitions (allowed: NB)",
                "PurchaseRequisitionType",
            )  # fmt: skip
        if not raw_items:
            errors.add("06/010", "Document contains no items", ITEM_NAV)
        checked: list[dict[str, Any]] = []
        used: set[int] = set()
        for position, raw in enumerate(raw_items, start=1):
            prefix = f"{ITEM_NAV}({position})/"
            if not isinstance(raw, dict):
                errors.add("/IWBEP/CM_MGW_RT/021", f"Item {position} is not a JSON object", prefix.rstrip("/"))
                continue
            values = _fields(PURCHASE_REQ_ITEM, raw, prefix, errors, {"to_PurchaseReqn"})
            number = self._item_number(values, position, used, prefix, errors)
            values["PurchaseRequisitionItem"] = str(number)
            self._check_item(values, header_type, prefix, errors)
            checked.append(values)
        errors.raise_if_any()
        validate_only = bool(header.get("PurReqnDoOnlyValidation"))
        number = "" if validate_only else f"{self.next_number:010d}"
        head = self.headers.new_row(
            PurchaseRequisition=number,
            PurchaseRequisitionType="NB",
            PurReqnDescription=header.get("PurReqnDescription") or "",
            SourceDetermination=bool(header.get("SourceDetermination")),
            PurReqnDoOnlyValidation=validate_only,
        )
        rows = [self._item_row(number, values, now) for values in checked]
        if not validate_only:
            self.next_number += 1
            self.store.journal.record(self._rewind)
            self.headers.insert(head)
            for row in rows:
                self.items.insert(row)
        return head, rows

    def _rewind(self) -> None:
        self.next_number -= 1  # a failing $batch changeset gives its number back

    @staticmethod
    def _item_number(values: dict[str, Any], position: int, used: set[int], prefix: str, errors: _Errors) -> int:
        given = values.get("PurchaseRequisitionItem") or ""
        if given:
            if not given.isdigit() or int(given) == 0:
                errors.add("06/209", f"Item number {given} is not a number above 0", prefix + "PurchaseRequisitionItem")
                number = (max(used) if used else 0) + ITEM_STEP
            else:
                number = int(given)
                if number in used:
                    errors.add("06/012", f"Item {number} already exists", prefix + "PurchaseRequisitionItem")
        else:
            number = (max(used) // ITEM_STEP + 1) * ITEM_STEP if used else ITEM_STEP
        used.add(number)
        return number

    def _check_item(self, values: dict[str, Any], header_type: str, prefix: str, errors: _Errors) -> None:
        item_type = values.get("PurchaseRequisitionType") or ""
        if item_type and item_type not in PR_TYPES:
            errors.add(
                "06/201", f"Document type {item_type} not allowed for purchase requisitions (allowed: NB)",
                prefix + "PurchaseRequisitionType",
            )  # fmt: skip
        elif item_type and header_type and item_type != header_type:
            errors.add(
                "06/201", f"Item document type {item_type} differs from the header's {header_type}",
                prefix + "PurchaseRequisitionType",
            )  # fmt: skip
        if values.get("AccountAssignmentCategory"):
            errors.add(
                "06/210", "Only stock items without account assignment are supported",
                prefix + "AccountAssignmentCategory",
            )  # fmt: skip
        plant = values.get("Plant") or ""
        if not plant:
            errors.add("06/211", "Enter a plant", prefix + "Plant")
        elif plant not in self.plants:
            errors.add("06/211", f"Plant {plant} does not exist", prefix + "Plant")
            plant = ""
        material_number = values.get("Material") or ""
        material = self.data.material_by_number.get(material_number)
        if not material_number:
            errors.add("06/026", "Please enter material number or account assignment category", prefix + "Material")
        elif material is None:
            errors.add("M3/305", f"Material {material_number} does not exist", prefix + "Material")
        elif plant and plant not in material.plants:
            errors.add("M3/305", f"Material {material_number} not maintained in plant {plant}", prefix + "Material")
        quantity = values.get("RequestedQuantity")
        if quantity is None or quantity <= 0:
            errors.add("06/202", "Enter a quantity greater than zero", prefix + "RequestedQuantity")
        elif quantity != quantity.to_integral_value():
            errors.add(
                "06/202", f"Quantity {quantity} has decimal places; unit PC allows whole pieces only",
                prefix + "RequestedQuantity",
            )  # fmt: skip
        if values.get("DeliveryDate") is None:
            errors.add("06/203", "Enter a delivery date", prefix + "DeliveryDate")
        unit = values.get("BaseUnit") or ""
        if material is not None and unit and unit != material.base_unit:
            errors.add(
                "06/204", f"Unit {unit} is not defined for material {material_number} (base unit "
                f"{material.base_unit})", prefix + "BaseUnit",
            )  # fmt: skip
        if plant:
            organization = values.get("PurchasingOrganization") or ""
            expected = self.plants[plant].sales_org
            if organization and organization != expected:
                errors.add(
                    "06/205", f"Plant {plant} is not assigned to purchasing organization {organization}",
                    prefix + "PurchasingOrganization",
                )  # fmt: skip
        group = values.get("PurchasingGroup") or ""
        if group and group not in PURCHASING_GROUPS:
            errors.add("06/206", f"Purchasing group {group} does not exist", prefix + "PurchasingGroup")
        location = values.get("StorageLocation") or ""
        if location and location != STORAGE_LOCATION:
            errors.add(
                "06/207", f"Storage location {location} does not exist in plant {plant}", prefix + "StorageLocation"
            )
        price = values.get("PurchaseRequisitionPrice")
        currency = values.get("PurReqnItemCurrency") or ""
        if currency and currency not in CURRENCIES:
            errors.add("06/208", f"Currency {currency} is not allowed", prefix + "PurReqnItemCurrency")
        elif price is not None and price < 0:
            errors.add("06/208", "Enter a price of 0 or more", prefix + "PurchaseRequisitionPrice")
        elif price and not currency:
            errors.add("06/208", "Enter the currency of the price", prefix + "PurReqnItemCurrency")
        price_unit = values.get("PurReqnPriceQuantity")
        if price_unit is not None and price_unit < 0:
            errors.add("06/208", "Enter a price unit of 1 or more", prefix + "PurReqnPriceQuantity")

    def _item_row(self, number: str, values: dict[str, Any], now: datetime) -> Row:
        material = self.data.material_by_number[values["Material"]]
        plant = values["Plant"]
        currency = values.get("PurReqnItemCurrency") or self.valuation.currency(plant)
        price = values.get("PurchaseRequisitionPrice")
        if not price:
            price = self.valuation.standard_price(material.number, plant)
            if currency != self.valuation.currency(plant):
                currency = self.valuation.currency(plant)  # no price sent: the standard price's currency
        price_unit = values.get("PurReqnPriceQuantity") or Decimal(1)
        quantity = values["RequestedQuantity"]
        today = self.plant_day(plant, now)
        given = {k: v for k, v in values.items() if v is not None and PURCHASE_REQ_ITEM.type.by_name[k].creatable}
        reference = (values.get("PurReqnExternalReference") or "").upper()
        row = self.items.new_row(**given)
        row.update(
            PurchaseRequisition=number,
            PurchaseRequisitionType="NB",
            PurchasingDocumentCategory="B",
            PurReqnReleaseStatus="03",
            ProcessingStatus="N",
            PurReqnOrigin="R",
            BaseUnit=material.base_unit,
            MaterialGroup=material.category.upper()[:9],
            PurchasingOrganization=self.plants[plant].sales_org,
            PurchasingGroup=values.get("PurchasingGroup") or PURCHASING_GROUPS[0],
            CompanyCode=self.plants[plant].sales_org,
            StorageLocation=values.get("StorageLocation") or "",
            DeliveryDate=_day(values["DeliveryDate"]),
            PurchaseRequisitionPrice=quantize(price, 3),
            PurReqnPriceQuantity=price_unit,
            PurReqnItemCurrency=currency,
            ItemNetAmount=quantize(quantity * price / price_unit, currency_decimals(currency)),
            MaterialPlannedDeliveryDurn=Decimal(material.lead_time_days),
            PurReqnExternalReference=reference,
            GoodsReceiptIsExpected=True,
            InvoiceIsExpected=True,
            CreatedByUser=self.user,
            CreationDate=today,
            PurReqCreationDate=today,
            LastChangeDateTime=later(None, now),
        )
        return row

    # -- records ------------------------------------------------------------------------------------

    def describe(self, number: str | None) -> dict[str, Any] | None:
        """For the control API: one requisition (``number``) or all (None), items inline, plain JSON."""
        headers = sorted(self.headers.all(), key=lambda h: h["PurchaseRequisition"])
        if number is not None:
            headers = [h for h in headers if h["PurchaseRequisition"] == number.zfill(10)]
            if not headers:
                return None
        records = [
            {
                "PurchaseRequisition": h["PurchaseRequisition"],
                "PurchaseRequisitionType": h["PurchaseRequisitionType"],
                "PurReqnDescription": h["PurReqnDescription"],
                "items": [_plain(i) for i in self.items_of(h)],
            }
            for h in headers
        ]
        return records[0] if number is not None else {"count": len(records), "records": records}


def _plain(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "PurchaseRequisitionItem", "Material", "Plant", "RequestedQuantity", "BaseUnit", "DeliveryDate",
        "PurReqnExternalReference", "PurchaseRequisitionItemText", "PurchasingOrganization", "PurchasingGroup",
        "StorageLocation", "PurchaseRequisitionPrice", "PurReqnPriceQuantity", "PurReqnItemCurrency",
        "ItemNetAmount", "IsDeleted", "ProcessingStatus", "CreationDate",
    ):  # fmt: skip
        value = row[name]
        if isinstance(value, datetime):
            value = value.date().isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return out
