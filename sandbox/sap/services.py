"""The eight SAP services the hub calls, as compact descriptions (notation in :mod:`sandbox.sap.edm`).

Only the properties the hub reads or writes, or the emulator fills, are listed; each one matches the
published metadata (sap_report.md §4) in name, type, length, precision/scale, nullability and the
sap:creatable/updatable/filterable flags. Deliveries follow the on-premise edition of
API_OUTBOUND_DELIVERY_SRV;v=0002, whose properties are filterable (the 2020 cloud edition marks them
all ``sap:filterable="false"``); the hub filters deliveries by goods-movement status and date.

API_PHYSICAL_INVENTORY_DOC_SRV has no published EDMX at hand, only SAP's OpenAPI description
(openapi/API_PHYSICAL_INVENTORY_DOC_SRV.json): names, lengths, decimal precision/scale and the
function imports' parameters follow it (tests/sandbox/test_sap_physical_inventory.py compares them);
Edm types it does not state are chosen as SAP's other services type such fields (dates
``DateTime`` display-format Date, ``LastChangeDateTime`` ``DateTimeOffset`` and the ETag) [verify].
Fields SAP computes (book quantity, amounts, statuses, material document) are read-only here.
"""

from __future__ import annotations

from sandbox.sap.edm import ComplexType, EntitySet, EntityType, FunctionImport, Nav, Service, prop


def _props(*specs: str) -> list:
    return [prop(s) for s in specs]


def _set(name: str, props: list, navs: list[Nav] | None = None, **flags: bool) -> EntitySet:
    return EntitySet(name=name, type=EntityType(name + "Type", props, navs or []), **flags)


def _many(name: str, target: str, *link: str) -> Nav:
    return Nav(name, target, True, tuple((k, k) for k in link))


def _one(name: str, target: str, *link: str) -> Nav:
    return Nav(name, target, False, tuple((k, k) for k in link))


# -- API_SALES_ORDER_SRV --------------------------------------------------------------------------

SALES_ORDER = _set(
    "A_SalesOrder",
    _props(
        "SalesOrder S10 K U",
        "SalesOrderType S4 U",
        "SalesOrganization S4 U",
        "DistributionChannel S2 U",
        "OrganizationDivision S2 U",
        "SalesGroup S3 U",
        "SalesOffice S4 U",
        "SalesDistrict S6 U",
        "SoldToParty S10 U",
        "CreationDate DT RO",
        "CreatedByUser S12 U RO",
        "LastChangeDate DT RO",
        "LastChangeDateTime DTO7 ETAG RO",
        "PurchaseOrderByCustomer S35",
        "CustomerPurchaseOrderType S4 U",
        "CustomerPurchaseOrderDate DT",
        "SalesOrderDate DT",
        "TotalNetAmount D16.3 u:TransactionCurrency RO",
        "OverallDeliveryStatus S1 U RO",
        "TotalBlockStatus S1 U RO",
        "OverallOrdReltdBillgStatus S1 U RO",
        "TransactionCurrency S5 U cur",
        "SDDocumentReason S3 U",
        "PricingDate DT",
        "RequestedDeliveryDate DT",
        "ShippingCondition S2 U",
        "CompleteDeliveryIsDefined B",
        "HeaderBillingBlockReason S2 U",
        "DeliveryBlockReason S2 U",
        "IncotermsClassification S3 U",
        "IncotermsLocation1 S70",
        "CustomerPaymentTerms S4 U",
        "OverallSDProcessStatus S1 U RO",
        "TotalCreditCheckStatus S1 U RO",
        "OverallTotalDeliveryStatus S1 U RO",
        "OverallSDDocumentRejectionSts S1 U RO",
    ),
    [
        _many("to_Item", "A_SalesOrderItem", "SalesOrder"),
        _many("to_Partner", "A_SalesOrderHeaderPartner", "SalesOrder"),
    ],
)

SALES_ORDER_ITEM = _set(
    "A_SalesOrderItem",
    _props(
        "SalesOrder S10 K U RO",
        "SalesOrderItem S6 K N",
        "HigherLevelItem S6 N",
        "SalesOrderItemCategory S4 U",
        "SalesOrderItemText S40",
        "PurchaseOrderByCustomer S35",
        "Material S40 U",
        "MaterialByCustomer S35 U",
        "PricingDate DT",
        "RequestedQuantity D15.3 u:RequestedQuantitySAPUnit",
        "RequestedQuantityUnit S3 uom",
        "RequestedQuantitySAPUnit S3 uom",
        "RequestedQuantityISOUnit S3 U",
        "OrderQuantityUnit S3 RO uom",
        "OrderQuantitySAPUnit S3 RO uom",
        "OrderQuantityISOUnit S3 U RO",
        "ConfdDelivQtyInOrderQtyUnit D15.3 u:OrderQuantitySAPUnit RO",
        "ItemGrossWeight D15.3 u:ItemWeightSAPUnit RO",
        "ItemNetWeight D15.3 u:ItemWeightSAPUnit RO",
        "ItemWeightUnit S3 RO uom",
        "ItemWeightSAPUnit S3 uom",
        "ItemWeightISOUnit S3 U",
        "TransactionCurrency S5 U RO cur",
        "NetAmount D16.3 u:TransactionCurrency RO",
        "MaterialGroup S9 U",
        "Batch S10 U",
        "ProductionPlant S4 U",
        "StorageLocation S4 U",
        "ShippingPoint S4 U",
        "DeliveryPriority S2 N",
        "TaxAmount D14.3 u:TransactionCurrency",
        "SalesDocumentRjcnReason S2 U",
        "ItemBillingBlockReason S2 U",
        "SDProcessStatus S1 U RO",
        "DeliveryStatus S1 U RO",
        "OrderRelatedBillingStatus S1 U RO",
    ),
    [
        _one("to_SalesOrder", "A_SalesOrder", "SalesOrder"),
        _many("to_ScheduleLine", "A_SalesOrderScheduleLine", "SalesOrder", "SalesOrderItem"),
        _many("to_PricingElement", "A_SalesOrderItemPrElement", "SalesOrder", "SalesOrderItem"),
    ],
)

SCHEDULE_LINE = _set(
    "A_SalesOrderScheduleLine",
    _props(
        "SalesOrder S10 K U RO",
        "SalesOrderItem S6 K N RO",
        "ScheduleLine S4 K N",
        "RequestedDeliveryDate DT",
        "ConfirmedDeliveryDate DT",
        "OrderQuantityUnit S3 uom",
        "OrderQuantitySAPUnit S3 uom",
        "OrderQuantityISOUnit S3 U",
        "ScheduleLineOrderQuantity D13.3 u:OrderQuantitySAPUnit",
        "ConfdOrderQtyByMatlAvailCheck D13.3 u:OrderQuantitySAPUnit",
        "DeliveredQtyInOrderQtyUnit D13.3 u:OrderQuantitySAPUnit",
        "OpenConfdDelivQtyInOrdQtyUnit D13.3 u:OrderQuantitySAPUnit",
        "CorrectedQtyInOrderQtyUnit D13.3 u:OrderQuantitySAPUnit",
        "DelivBlockReasonForSchedLine S2 U",
    ),
)

HEADER_PARTNER = _set(
    "A_SalesOrderHeaderPartner",
    _props(
        "SalesOrder S10 K U RO",
        "PartnerFunction S2 K U",
        "Customer S10 U",
        "Supplier S10 U",
        "Personnel S8 N",
        "ContactPerson S10 N",
        "AddressID S10 U",
        "VATRegistration S20 U",
    ),
)

ITEM_PRICING = _set(
    "A_SalesOrderItemPrElement",
    _props(
        "SalesOrder S10 K U RO",
        "SalesOrderItem S6 K N RO",
        "PricingProcedureStep S3 K N",
        "PricingProcedureCounter S3 K N",
        "ConditionType S4 U",
        "PriceConditionDeterminationDte DT RO",
        "ConditionCalculationType S3 U RO",
        "ConditionBaseValue D24.9 RO",
        "ConditionRateValue D24.9",
        "ConditionCurrency S5 U cur",
        "ConditionQuantity D5.0 u:ConditionQuantitySAPUnit",
        "ConditionQuantityUnit S3 uom",
        "ConditionQuantitySAPUnit S3 uom",
        "ConditionQuantityISOUnit S3 U",
        "ConditionCategory S1 RO",
        "ConditionIsForStatistics B RO",
        "ConditionOrigin S1 U RO",
        "ConditionAmount D16.3 u:TransactionCurrency RO",
        "TransactionCurrency S5 U cur",
        "ConditionInactiveReason S1 U RO",
        "ConditionClass S1 U RO",
    ),
)

FUNCTION_RESULT = ComplexType("FunctionResult", _props("Boolean B NN"))

SALES_ORDER_SRV = Service(
    name="API_SALES_ORDER_SRV",
    path="API_SALES_ORDER_SRV",
    component_id="SD-SLS-API",
    entity_sets=[SALES_ORDER, SALES_ORDER_ITEM, SCHEDULE_LINE, HEADER_PARTNER, ITEM_PRICING],
    complex_types=[FUNCTION_RESULT],
    functions=[
        FunctionImport("rejectApprovalRequest", "FunctionResult", "POST", _props("SalesOrder S11000")),
        FunctionImport("releaseApprovalRequest", "FunctionResult", "POST", _props("SalesOrder S11000")),
    ],
)

# -- API_MATERIAL_STOCK_SRV -----------------------------------------------------------------------

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
READ_ONLY = {"creatable": False, "updatable": False, "deletable": False}

MATERIAL_STOCK = _set(
    "A_MaterialStock",
    _props("Material S40 K U", "MaterialBaseUnit S3 uom"),
    [_many("to_MatlStkInAcctMod", "A_MatlStkInAcctMod", "Material")],
    **READ_ONLY,
)

MATL_STK_IN_ACCT_MOD = _set(
    "A_MatlStkInAcctMod",
    _props(
        "Material S40 K U",
        "Plant S4 K U",
        "StorageLocation S4 K U",
        "Batch S10 K U",
        "Supplier S10 K U",
        "Customer S10 K U",
        "WBSElementInternalID S8 K N",
        "SDDocument S10 K U",
        "SDDocumentItem S6 K N",
        "InventorySpecialStockType S1 K U",
        "InventoryStockType S2 K U",
        "WBSElementExternalID S24 U",
        "MaterialBaseUnit S3 uom",
        "MatlWrhsStkQtyInMatlBaseUnit D31.14 u:MaterialBaseUnit",
    ),
    [_one("to_MaterialStock", "A_MaterialStock", "Material")],
    **READ_ONLY,
)

MATERIAL_STOCK_SRV = Service(
    name="API_MATERIAL_STOCK_SRV",
    path="API_MATERIAL_STOCK_SRV",
    component_id="MM-IM-VDM-SGM",
    entity_sets=[MATERIAL_STOCK, MATL_STK_IN_ACCT_MOD],
)

# -- API_PRODUCT_AVAILY_INFO_BASIC ----------------------------------------------------------------

AVAILABILITY_RECORD = ComplexType(
    "AvailabilityRecord",
    _props(
        "PeriodStartUTCDateTime DT0 NN",
        "PeriodStartTimeZone S6 NN",
        "PeriodEndUTCDateTime DT0 NN",
        "PeriodEndTimeZone S6 NN",
        "AvailableQuantityInBaseUnit D16.3 NN u:BaseUnit",
        "BaseUnit S3 NN uom",
    ),
)
_AVAIL = "AvailabilityRecord"

PRODUCT_AVAILABILITY_SRV = Service(
    name="API_PRODUCT_AVAILY_INFO_BASIC",
    path="API_PRODUCT_AVAILY_INFO_BASIC",
    component_id="CA-ATP-PAC",
    entity_sets=[],
    complex_types=[AVAILABILITY_RECORD],
    functions=[
        FunctionImport(
            "DetermineAvailabilityAt",
            _AVAIL,
            "GET",
            _props("SupplyingPlant S4", "Material S40", "ATPCheckingRule S2", "RequestedUTCDateTime DTO7"),
        ),
        FunctionImport(
            "DetermineAvailabilityOf",
            _AVAIL,
            "GET",
            _props("RequestedQuantityInBaseUnit D3.3", "Material S40", "SupplyingPlant S4", "ATPCheckingRule S2"),
        ),
        FunctionImport(
            "CalculateAvailabilityTimeseries",
            f"Collection({_AVAIL})",
            "GET",
            _props("ATPCheckingRule S2", "Material S40", "SupplyingPlant S4"),
        ),
    ],
)

# -- API_OUTBOUND_DELIVERY_SRV;v=0002 --------------------------------------------------------------

DELIVERY_HEADER = _set(
    "A_OutbDeliveryHeader",
    _props(
        "ActualGoodsMovementDate DT7 NC",
        "ActualGoodsMovementTime T0 RO",
        "BillOfLading S35 NC",
        "CreatedByUser S12 RO",
        "CreationDate DT7 RO",
        "CreationTime T0 RO",
        "DeliveryDate DT7 NC",
        "DeliveryDocument S10 K RO",
        "DeliveryDocumentType S4 RO",
        "DeliveryPriority S2 NC",
        "DeliveryVersion S4 ETAG RO",
        "DocumentDate DT7 RO",
        "HeaderGrossWeight D15.3 NC",
        "HeaderNetWeight D15.3 NC",
        "HeaderVolume D15.3 NC",
        "HeaderVolumeUnit S3 NC uom",
        "HeaderWeightUnit S3 NC uom",
        "IncotermsClassification S3 NC",
        "LastChangeDate DT7 RO",
        "LoadingDate DT7 NC",
        "MeansOfTransport S20 NC",
        "MeansOfTransportType S4 NC",
        "OverallDelivReltdBillgStatus S1 RO",
        "OverallGoodsMovementStatus S1 RO",
        "OverallPackingStatus S1 RO",
        "OverallPickingConfStatus S1 RO",
        "OverallPickingStatus S1 RO",
        "OverallProofOfDeliveryStatus S1 RO",
        "OverallSDProcessStatus S1 RO",
        "PickingDate DT7 NC",
        "PlannedGoodsIssueDate DT7 NC",
        "SalesOrganization S4 RO",
        "SDDocumentCategory S4 RO",
        "ShippingCondition S2 RO",
        "ShippingPoint S4 NU",
        "ShipToParty S10 RO",
        "SoldToParty S10 RO",
        "TotalBlockStatus S1 RO",
        "TransactionCurrency S5 RO cur",
    ),
    [_many("to_DeliveryDocumentItem", "A_OutbDeliveryItem", "DeliveryDocument")],
    content_version="2",
)

DELIVERY_ITEM = _set(
    "A_OutbDeliveryItem",
    _props(
        "ActualDeliveredQtyInBaseUnit D13.3 NC",
        "ActualDeliveryQuantity D13.3",
        "BaseUnit S3 RO uom",
        "Batch S10 NC",
        "CreationDate DT7 RO",
        "DeliveryDocument S10 K NU",
        "DeliveryDocumentItem S6 K RO",
        "DeliveryDocumentItemCategory S4 RO",
        "DeliveryDocumentItemText S40 NC",
        "DeliveryQuantityUnit S3 NU uom",
        "DeliveryRelatedBillingStatus S1 RO",
        "DeliveryVersion S4 ETAG RO",
        "DistributionChannel S2 RO",
        "Division S2 RO",
        "GoodsMovementStatus S1 RO",
        "GoodsMovementType S3 RO",
        "ItemGrossWeight D15.3 NC",
        "ItemNetWeight D15.3 NC",
        "ItemWeightUnit S3 NC uom",
        "LastChangeDate DT7 RO",
        "Material S40 RO",
        "OriginalDeliveryQuantity D13.3 RO",
        "PickingStatus S1 RO",
        "Plant S4 RO",
        "ReferenceSDDocument S10 NU",
        "ReferenceSDDocumentCategory S4 RO",
        "ReferenceSDDocumentItem S6 NU",
        "SDProcessStatus S1 RO",
        "StorageLocation S4 NC",
    ),
    creatable=False,
    content_version="2",
)

PICKING_REPORT = ComplexType(
    "PickingReport",
    _props(
        "SystemMessageIdentification S20",
        "SystemMessageNumber S3",
        "SystemMessageType S1",
        "SystemMessageVariable1 S50",
        "SystemMessageVariable2 S50",
        "SystemMessageVariable3 S50",
        "SystemMessageVariable4 S50",
        "Batch S10",
        "DeliveryQuantityUnit S3 uom",
        "DeliveryDocumentItemText S40",
        "Material S40",
        "DeliveryDocumentItem S6",
        "DeliveryDocument S10",
    ),
)

RETURN = ComplexType(
    "Return",
    _props(
        "CollectiveProcessing S10",
        "DeliveryDocument S10",
        "DeliveryDocumentItem S6",
        "ScheduleLine S4",
        "CollectiveProcessingMsgCounter S2",
        "SystemMessageIdentification S20",
        "SystemMessageNumber S3",
        "SystemMessageType S1",
        "SystemMessageVariable1 S50",
        "SystemMessageVariable2 S50",
        "SystemMessageVariable3 S50",
        "SystemMessageVariable4 S50",
        "CollectiveProcessingType S1",
    ),
)
_DELIVERY_ACTIONS = {  # name → parameters, as SAP's metadata orders them; all POST, Collection(PickingReport)
    "PostGoodsIssue": ("DeliveryDocument S10",),
    "PickAllItems": ("DeliveryDocument S10",),
    "ConfirmPickingAllItems": ("DeliveryDocument S10",),
    "PickOneItem": ("DeliveryDocument S10", "DeliveryDocumentItem S6"),
    "ConfirmPickingOneItem": ("DeliveryDocumentItem S6", "DeliveryDocument S10"),
    "PickOneItemWithSalesQuantity": (
        "ActualDeliveryQuantity D3.3",
        "DeliveryDocument S10",
        "DeliveryDocumentItem S6",
        "DeliveryQuantityUnit S3",
    ),
    "PickOneItemWithBaseQuantity": (
        "DeliveryDocument S10",
        "DeliveryDocumentItem S6",
        "ActualDeliveredQtyInBaseUnit D3.3",
        "BaseUnit S3",
    ),
    "SetPickingQuantityWithBaseQuantity": (
        "ActualDeliveredQtyInBaseUnit D3.3",
        "BaseUnit S3",
        "DeliveryDocument S10",
        "DeliveryDocumentItem S6",
    ),
}

OUTBOUND_DELIVERY_SRV = Service(
    name="API_OUTBOUND_DELIVERY_SRV",
    path="API_OUTBOUND_DELIVERY_SRV;v=0002",
    component_id="LE-SHP-API",
    version="0002",
    entity_sets=[DELIVERY_HEADER, DELIVERY_ITEM],
    complex_types=[PICKING_REPORT, RETURN],
    functions=[
        *(
            FunctionImport(
                name, "Collection(PickingReport)", "POST", _props(*params), action_for="A_OutbDeliveryHeaderType"
            )
            for name, params in _DELIVERY_ACTIONS.items()
        ),
        FunctionImport(
            "ReverseGoodsIssue",
            "Collection(Return)",
            "POST",
            _props("DeliveryDocument S10", "ActualGoodsMovementDate DT7"),
            action_for="A_OutbDeliveryHeaderType",
        ),
    ],
)

# -- API_BILLING_DOCUMENT_SRV ---------------------------------------------------------------------

BILLING_DOCUMENT = _set(
    "A_BillingDocument",
    _props(
        "BillingDocument S10 K U",
        "SDDocumentCategory S4",
        "BillingDocumentCategory S1 U",
        "BillingDocumentType S4 U",
        "CreationDate DT",
        "CreationTime T0",
        "LastChangeDate DT",
        "LastChangeDateTime DTO7 ETAG",
        "SalesOrganization S4 U",
        "DistributionChannel S2 U",
        "Division S2 U",
        "BillingDocumentDate DT",
        "BillingDocumentIsCancelled B",
        "CancelledBillingDocument S10 U",
        "TotalNetAmount D16.3 u:TransactionCurrency",
        "TransactionCurrency S5 U cur",
        "TaxAmount D14.3 u:TransactionCurrency",
        "TotalGrossAmount D17.3 u:TransactionCurrency",
        "PayerParty S10 U",
        "CustomerPaymentTerms S4 U",
        "CompanyCode S4 U",
        "FiscalYear S4 N",
        "AccountingDocument S10 U",
        "SoldToParty S10 U",
        "PurchaseOrderByCustomer S35",
        "Country S3 U",
        "OverallSDProcessStatus S1 U",
        "OverallBillingStatus S1 U",
        "AccountingPostingStatus S1 U",
        "AccountingTransferStatus S1 U",
        "InvoiceClearingStatus S1 U",
    ),
    [_many("to_Item", "A_BillingDocumentItem", "BillingDocument")],
    **READ_ONLY,
)

BILLING_DOCUMENT_ITEM = _set(
    "A_BillingDocumentItem",
    _props(
        "BillingDocument S10 K U",
        "BillingDocumentItem S6 K N",
        "SalesDocumentItemCategory S4 U",
        "CreationDate DT",
        "Material S40 U",
        "Plant S4 U",
        "BillingDocumentItemText S40",
        "BillingQuantity D13.3 u:BillingQuantityUnit",
        "BillingQuantityUnit S3 uom",
        "BillingQuantityInBaseUnit D13.3 u:BaseUnit",
        "BaseUnit S3 uom",
        "NetAmount D16.3 u:TransactionCurrency",
        "TransactionCurrency S5 U cur",
        "GrossAmount D16.3 u:TransactionCurrency",
        "PricingDate DT",
        "TaxAmount D14.3 u:TransactionCurrency",
        "ReferenceSDDocument S10 U",
        "ReferenceSDDocumentItem S6 N",
        "ReferenceSDDocumentCategory S4",
        "SalesDocument S10 U",
        "SalesDocumentItem S6 N",
        "SalesSDDocumentCategory S4",
        "SDDocumentReason S3 U",
    ),
    [_one("to_BillingDocument", "A_BillingDocument", "BillingDocument")],
    **READ_ONLY,
)

GET_PDF_RESULT = ComplexType("GetPDFResult", _props("BillingDocumentBinary S NN"))
CANCEL_RESULT = ComplexType(
    "CancelResult",
    _props(
        "BillingDocument S10 NN",
        "CancellationBillingDocument S10 NN",
        "SystemMessageType S1 NN",
        "SystemMessageIdentification S20 NN",
        "SystemMessageNumber S3 NN",
        "SystemMessageText S256 NN",
        "SystemMessageVariable1 S50 NN",
        "SystemMessageVariable2 S50 NN",
        "SystemMessageVariable3 S50 NN",
        "SystemMessageVariable4 S50 NN",
    ),
)

BILLING_DOCUMENT_SRV = Service(
    name="API_BILLING_DOCUMENT_SRV",
    path="API_BILLING_DOCUMENT_SRV",
    component_id="SD-BIL-IV-API",
    entity_sets=[BILLING_DOCUMENT, BILLING_DOCUMENT_ITEM],
    complex_types=[GET_PDF_RESULT, CANCEL_RESULT],
    functions=[
        FunctionImport(
            "Cancel",
            "Collection(CancelResult)",
            "POST",
            _props("BillingDocument S11000"),
            action_for="A_BillingDocumentType",
        ),
        FunctionImport(
            "GetPDF", "GetPDFResult", "GET", _props("BillingDocument S11000"), action_for="A_BillingDocumentType"
        ),
    ],
)

# -- API_BUSINESS_PARTNER -------------------------------------------------------------------------

CUSTOMER = _set(
    "A_Customer",
    _props(
        "Customer S10 K U",
        "BillingIsBlockedForCustomer S2 U",
        "CreatedByUser S12 U RO",
        "CreationDate DT RO",
        "CustomerAccountGroup S4 U",
        "CustomerClassification S2 U",
        "CustomerFullName S220 U RO",
        "CustomerName S80 RO",
        "DeliveryIsBlocked S2 U",
        "OrderIsBlockedForCustomer S2 U",
        "PostingIsBlocked B U",
        "VATRegistration S20 U",
        "DeletionIndicator B U",
    ),
    [_many("to_CustomerSalesArea", "A_CustomerSalesArea", "Customer")],
    creatable=False,
    deletable=False,
)

CUSTOMER_SALES_AREA = _set(
    "A_CustomerSalesArea",
    _props(
        "Customer S10 K U",
        "SalesOrganization S4 K U",
        "DistributionChannel S2 K U",
        "Division S2 K U",
        "BillingIsBlockedForCustomer S2 U",
        "CompleteDeliveryIsDefined B U",
        "Currency S5 cur",
        "CustomerABCClassification S2 U",
        "CustomerGroup S2 U",
        "CustomerPaymentTerms S4 U",
        "CustomerPriceGroup S2 U",
        "CustomerPricingProcedure S2 U",
        "DeliveryIsBlockedForCustomer S2 U",
        "DeliveryPriority S2 N",
        "IncotermsClassification S3 U",
        "IncotermsLocation1 S70",
        "DeletionIndicator B U",
        "OrderIsBlockedForCustomer S2 U",
        "PartialDeliveryIsAllowed S1 U",
        "PriceListType S2 U",
        "SalesGroup S3 U",
        "SalesOffice S4 U",
        "ShippingCondition S2 U",
        "SupplyingPlant S4 U",
        "SalesDistrict S6 U",
        "CustomerAccountGroup S4 U",
    ),
    deletable=False,
)

BUSINESS_PARTNER_SRV = Service(
    name="API_BUSINESS_PARTNER",
    path="API_BUSINESS_PARTNER",
    component_id="LO-MD-BP-WS",
    entity_sets=[CUSTOMER, CUSTOMER_SALES_AREA],
)

# -- API_PHYSICAL_INVENTORY_DOC_SRV -----------------------------------------------------------------

PHYS_INV_HEADER = _set(
    "A_PhysInventoryDocHeader",
    _props(
        "FiscalYear S4 K",
        "PhysicalInventoryDocument S10 K",
        "InventoryTransactionType S2 RO",
        "Plant S4 U NU",
        "StorageLocation S4 U NU",
        "InventorySpecialStockType S1 U NU",
        "DocumentDate DT",
        "PhysInventoryPlannedCountDate DT",
        "PhysicalInventoryLastCountDate DT RO",
        "PostingDate DT RO",
        "FiscalPeriod S2 RO",
        "CreatedByUser S12 RO",
        "PostingIsBlockedForPhysInvtry B",
        "PhysicalInventoryCountStatus S1 RO",
        "PhysInvtryAdjustmentPostingSts S1 RO",
        "PhysInvtryDeletionStatus S1 RO",
        "PhysInvtryDocHasQtySnapshot B",
        "PhysicalInventoryGroupType S2",
        "PhysicalInventoryGroup S10",
        "PhysicalInventoryNumber S16",
        "PhysInventoryReferenceNumber S16",
        "PhysicalInventoryDocumentDesc S40",
        "PhysicalInventoryType S1 RO",
        "LastChangeDateTime DTO7 ETAG RO",
    ),
    [_many("to_PhysicalInventoryDocumentItem", "A_PhysInventoryDocItem", "FiscalYear", "PhysicalInventoryDocument")],
    updatable=False,
    deletable=False,
)

PHYS_INV_ITEM = _set(
    "A_PhysInventoryDocItem",
    _props(
        "FiscalYear S4 K",
        "PhysicalInventoryDocument S10 K",
        "PhysicalInventoryDocumentItem S3 K N",
        "Plant S4 U NU",
        "StorageLocation S4 U NU",
        "Material S40 U NU",
        "Batch S10 U NU",
        "InventorySpecialStockType S1 U NU",
        "PhysicalInventoryStockType S1 U NU",
        "LastChangeUser S12 RO",
        "LastChangeDate DT RO",
        "CountedByUser S12",
        "PhysicalInventoryLastCountDate DT",
        "AdjustmentPostingMadeByUser S12 RO",
        "PostingDate DT RO",
        "PhysicalInventoryItemIsCounted B RO",
        "PhysInvtryDifferenceIsPosted B RO",
        "PhysInvtryItemIsRecounted B RO",
        "PhysInvtryItemIsDeleted B RO",
        "PhysInventoryReferenceNumber S16 RO",
        "MaterialDocument S10 RO",
        "MaterialDocumentYear S4 RO",
        "MaterialDocumentItem S4 RO",
        "PhysInvtryRecountDocument S10 RO",
        "PhysicalInventoryItemIsZero B",
        "ReasonForPhysInvtryDifference S4",
        "MaterialBaseUnit S3 RO uom",
        "BookQtyBfrCountInMatlBaseUnit D13.3 u:MaterialBaseUnit RO",
        "Quantity D13.3 u:UnitOfEntry",
        "UnitOfEntry S3 uom",
        "QuantityInUnitOfEntry D13.3 u:UnitOfEntry RO",
        "Currency S5 RO cur",
        "DifferenceAmountInCoCodeCrcy D14.3 u:Currency RO",
        "PhysInvtryCtAmtInCoCodeCrcy D14.3 u:Currency RO",
        "BookQtyAmountInCoCodeCrcy D14.3 u:Currency RO",
        "LastChangeDateTime DTO7 ETAG RO",
    ),
    [_one("to_PhysicalInventoryDocument", "A_PhysInventoryDocHeader", "FiscalYear", "PhysicalInventoryDocument")],
    creatable=False,  # only inside a document's deep insert, as the OpenAPI description offers no POST
    deletable=False,
)

_PI_HEADER_TYPE = "A_PhysInventoryDocHeaderType"
_PI_ITEM_TYPE = "A_PhysInventoryDocItemType"
# Parameters as SAP's OpenAPI lists them, in its order; NN marks the required ones. Lengths are the
# values' own (the OpenAPI counts the two quotes of a URL literal too).
_RECOUNT_PARAMS = (
    "PhysInventoryPlannedCountDate DT0",
    "DocumentDate DT0",
    "PhysicalInventoryNumber S16",
    "PhysInventoryReferenceNumber S16",
    "PhysicalInventoryDocumentDesc S40",
)

PHYSICAL_INVENTORY_SRV = Service(
    name="API_PHYSICAL_INVENTORY_DOC_SRV",
    path="API_PHYSICAL_INVENTORY_DOC_SRV",
    component_id="MM-IM-PI-API",
    entity_sets=[PHYS_INV_HEADER, PHYS_INV_ITEM],
    functions=[
        FunctionImport(
            "PostDifferences",
            _PI_HEADER_TYPE,
            "POST",
            _props(
                "PostingThresholdValue D14.3", "PostingDate DT0", "PhysicalInventoryDocument S10 NN", "FiscalYear S4 NN"
            ),
            entity_set="A_PhysInventoryDocHeader",
        ),  # fmt: skip
        FunctionImport(
            "PostDifferencesOnItem",
            _PI_ITEM_TYPE,
            "POST",
            _props(
                "PhysicalInventoryDocumentItem S3 NN",
                "Material S40 NN",
                "PhysicalInventoryDocument S10 NN",
                "FiscalYear S4 NN",
                "Batch S10",
                "ReasonForPhysInvtryDifference S4",
                "PostingDate DT0",
            ),
            entity_set="A_PhysInventoryDocItem",
        ),  # fmt: skip
        FunctionImport(
            "InitiateRecount",
            _PI_HEADER_TYPE,
            "POST",
            _props(
                "PhysicalInventoryDocument S10 NN",
                "FiscalYear S4 NN",
                *_RECOUNT_PARAMS,
                "PostingThresholdValue D14.3",
                "PhysInvtryDocHasQtySnapshot B",
                "PostingIsBlockedForPhysInvtry B",
            ),
            entity_set="A_PhysInventoryDocHeader",
        ),  # fmt: skip
        FunctionImport(
            "InitiateRecountOnItem",
            _PI_ITEM_TYPE,
            "POST",
            _props(
                "PhysicalInventoryDocument S10 NN",
                "FiscalYear S4 NN",
                "PhysicalInventoryDocumentItem S3 NN",
                *_RECOUNT_PARAMS,
                "PhysInvtryDocHasQtySnapshot B",
                "PostingIsBlockedForPhysInvtry B",
            ),
            entity_set="A_PhysInventoryDocItem",
        ),  # fmt: skip
    ],
)

# -- API_PURCHASEREQ_PROCESS_SRV ------------------------------------------------------------------
# Header and item as SAP's published EDMX declares them (on-premise edition); the item lists the
# properties the hub writes or reads and those the emulator fills. The other entity sets (account
# assignment, delivery address, item notes) and the function imports (Validate,
# EnableForPurchasing, DiscardFromPurchasing) are not served [emulator].

PURCHASE_REQ_HEADER = _set(
    "A_PurchaseRequisitionHeader",
    _props(
        "PurchaseRequisition S10 K U",
        "PurchaseRequisitionType S4 U",
        "PurReqnDescription S40",
        "SourceDetermination B U",
        "PurReqnDoOnlyValidation B U",
    ),
    [_many("to_PurchaseReqnItem", "A_PurchaseRequisitionItem", "PurchaseRequisition")],
    deletable=False,
)

PURCHASE_REQ_ITEM = _set(
    "A_PurchaseRequisitionItem",
    _props(
        "PurchaseRequisition S10 K U",
        "PurchaseRequisitionItem S5 K N",
        "PurchasingDocument S10 U",
        "PurchasingDocumentItem S5 N",
        "PurReqnReleaseStatus S2 U",
        "PurchaseRequisitionType S4 U",
        "PurchasingDocumentItemCategory S1 U",
        "PurchaseRequisitionItemText S40",
        "AccountAssignmentCategory S1 U",
        "Material S40 U",
        "MaterialGroup S9 U",
        "PurchasingDocumentCategory S1 U RO",
        "RequestedQuantity D13.3 u:BaseUnit",
        "BaseUnit S3 uom",
        "PurchaseRequisitionPrice D12.3 u:PurReqnItemCurrency",
        "PurReqnPriceQuantity D5.0 u:BaseUnit",
        "MaterialGoodsReceiptDuration D3.0",
        "PurchasingOrganization S4 U",
        "PurchasingGroup S3 U",
        "Plant S4 U",
        "CompanyCode S4 U",
        "SupplyingPlant S4 U",
        "OrderedQuantity D13.3 u:BaseUnit",
        "DeliveryDate DT",
        "CreationDate DT RO",
        "ProcessingStatus S1 U",
        "Supplier S10 U",
        "IsDeleted S1 U",
        "FixedSupplier S10 U",
        "RequisitionerName S12",
        "CreatedByUser S12 U RO",
        "PurReqCreationDate DT RO",
        "PurReqnItemCurrency S5 U cur",
        "MaterialPlannedDeliveryDurn D3.0",
        "StorageLocation S4 U",
        "PurReqnOrigin S1 U",
        "IsClosed B U",
        "ItemNetAmount D16.3 u:PurReqnItemCurrency",
        "GoodsReceiptIsExpected B U",
        "InvoiceIsExpected B U",
        "LastChangeDateTime DTO7 RO",
        "PurReqnExternalReference S35 U",
        "PurReqnItemExternalReference S10 U",
        "PurReqnExternalSystemId S60",
    ),
    [_one("to_PurchaseReqn", "A_PurchaseRequisitionHeader", "PurchaseRequisition")],
    deletable=False,
)

PURCHASE_REQUISITION_SRV = Service(
    name="API_PURCHASEREQ_PROCESS_SRV",
    path="API_PURCHASEREQ_PROCESS_SRV",
    component_id="MM-PUR-REQ",
    entity_sets=[PURCHASE_REQ_HEADER, PURCHASE_REQ_ITEM],
)

SERVICES: dict[str, Service] = {
    s.path: s
    for s in (
        SALES_ORDER_SRV,
        MATERIAL_STOCK_SRV,
        PRODUCT_AVAILABILITY_SRV,
        OUTBOUND_DELIVERY_SRV,
        BILLING_DOCUMENT_SRV,
        BUSINESS_PARTNER_SRV,
        PHYSICAL_INVENTORY_SRV,
        PURCHASE_REQUISITION_SRV,
    )
}
