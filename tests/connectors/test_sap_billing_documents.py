"""Parsing SAP billing documents for the three-way match (issue 12): what ``billing_document_from``
carries from A_BillingDocument with its items (document flow, categories, amounts as Decimal from
SAP's strings, company code, dates), the signs' helpers, an older payload without the new fields,
and the issued quantity of a delivery item."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.sap_documents import BillingItemDoc, DeliveryItemDoc, billing_document_from
from connectors.sap_values import clean_entity


def _header(**over: object) -> dict[str, object]:
    header: dict[str, object] = {
        "__metadata": {"etag": "W/\"datetimeoffset'2026-03-14T08%3A00%3A00.0000000Z'\""},
        "BillingDocument": "90000014",
        "SDDocumentCategory": "O",
        "BillingDocumentCategory": "A",
        "BillingDocumentType": "G2",
        "CreationDate": "/Date(1773446400000)/",
        "LastChangeDate": "/Date(1773446400000)/",
        "LastChangeDateTime": "/Date(1773475200000+0000)/",
        "SalesOrganization": "2000",
        "DistributionChannel": "10",
        "Division": "00",
        "BillingDocumentDate": "/Date(1773446400000)/",
        "BillingDocumentIsCancelled": False,
        "CancelledBillingDocument": "",
        "TotalNetAmount": "18.30",
        "TransactionCurrency": "EUR",
        "TaxAmount": "3.48",
        "TotalGrossAmount": "21.78",
        "PayerParty": "20000001",
        "CustomerPaymentTerms": "0001",
        "CompanyCode": "2000",
        "FiscalYear": "2026",
        "AccountingDocument": "9400000014",
        "SoldToParty": "20000001",
        "PurchaseOrderByCustomer": "CRM-4711",
        "Country": "DE",
        "AccountingPostingStatus": "C",
        "OverallBillingStatus": "C",
        "to_Item": {
            "results": [
                {
                    "BillingDocument": "90000014",
                    "BillingDocumentItem": "10",
                    "Material": "PX-1",
                    "Plant": "2010",
                    "BillingDocumentItemText": "Filter",
                    "BillingQuantity": "3.000",
                    "BillingQuantityUnit": "PC",
                    "BillingQuantityInBaseUnit": "3.000",
                    "BaseUnit": "PC",
                    "NetAmount": "18.30",
                    "TransactionCurrency": "EUR",
                    "GrossAmount": "18.30",
                    "PricingDate": "/Date(1773360000000)/",
                    "TaxAmount": "3.48",
                    "ReferenceSDDocument": "90000004",
                    "ReferenceSDDocumentItem": "10",
                    "ReferenceSDDocumentCategory": "M",
                    "SalesDocument": "1000004",
                    "SalesDocumentItem": "10",
                    "SalesSDDocumentCategory": "C",
                    "SDDocumentReason": "002",
                }
            ]
        },
    }
    header.update(over)
    return header


def test_a_credit_memo_carries_what_the_match_needs() -> None:
    doc = billing_document_from(clean_entity(_header()))
    assert (doc.number, doc.billing_type, doc.billing_category, doc.category) == ("90000014", "G2", "A", "O")
    assert doc.sd_category == "O"
    assert doc.is_credit and not doc.is_cancellation and not doc.is_cancelled
    assert (doc.currency, doc.company_code, doc.fiscal_year, doc.accounting_document) == (
        "EUR",
        "2000",
        "2026",
        "9400000014",
    )
    assert (doc.sales_organization, doc.distribution_channel, doc.division, doc.country) == ("2000", "10", "00", "DE")
    assert doc.billing_date == date(2026, 3, 14) == doc.created_on == doc.last_change_date
    assert doc.last_changed_at == datetime(2026, 3, 14, 8, tzinfo=UTC)
    assert (doc.net_amount, doc.tax_amount, doc.gross_amount) == (Decimal("18.30"), Decimal("3.48"), Decimal("21.78"))
    assert doc.purchase_order == "CRM-4711" and doc.payment_terms == "0001"
    (item,) = doc.items
    assert (item.sales_order, item.sales_order_item, item.delivery, item.delivery_item) == (
        "1000004",
        "10",
        "90000004",
        "10",
    )
    assert item.reference_category == "M" and item.delivery_reference is None
    assert (item.quantity, item.base_quantity, item.unit, item.base_unit) == (Decimal(3), Decimal(3), "PC", "PC")
    assert (item.net_amount, item.tax_amount, item.gross_amount, item.currency) == (
        Decimal("18.30"), Decimal("3.48"), Decimal("18.30"), "EUR",
    )  # fmt: skip
    assert (item.reason, item.text, item.pricing_date, item.sales_document_category) == (
        "002",
        "Filter",
        date(2026, 3, 13),
        "C",
    )


def test_invoices_cancellations_and_order_related_billing() -> None:
    f2 = billing_document_from(
        clean_entity(_header(SDDocumentCategory="M", BillingDocumentCategory="L", BillingDocumentType="F2"))
    )
    assert not f2.is_credit and not f2.is_cancellation
    s1 = billing_document_from(
        clean_entity(_header(SDDocumentCategory="N", BillingDocumentType="S1", CancelledBillingDocument="90000007"))
    )
    assert s1.is_cancellation and s1.is_credit and s1.cancelled_document == "90000007"
    s2 = billing_document_from(clean_entity(_header(SDDocumentCategory="S", BillingDocumentType="S2")))
    assert s2.is_cancellation and not s2.is_credit
    cancelled = billing_document_from(clean_entity(_header(BillingDocumentIsCancelled=True)))
    assert cancelled.is_cancelled
    delivery = BillingItemDoc(
        "10", "M", "2010", Decimal(1), "PC", Decimal(1), Decimal(0), Decimal(1), "80000001", "10", "1", "10"
    )
    assert delivery.delivery_reference == ("80000001", "10")  # an older payload without the category
    order_related = BillingItemDoc(
        "10", "M", "2010", Decimal(1), "PC", Decimal(1), Decimal(0), Decimal(1), "1000008", "10", "1000008", "10",
        reference_category="C",
    )  # fmt: skip
    assert order_related.delivery_reference is None


def test_a_minimal_payload_still_parses() -> None:
    doc = billing_document_from(
        clean_entity({"BillingDocument": "90000001", "to_Item": {"results": [{"BillingDocumentItem": "000010"}]}})
    )
    assert doc.sd_category == "" and doc.company_code == "" and doc.created_on is None
    assert doc.items[0].item == "10" and doc.items[0].currency == "" and doc.items[0].net_amount == 0


@given(
    quantity=st.decimals(min_value=0, max_value=10**6, places=3),
    base=st.decimals(min_value=0, max_value=10**6, places=3),
    status=st.sampled_from(["", "A", "B", "C"]),
)
def test_issued_quantity_counts_only_goods_issue(quantity: Decimal, base: Decimal, status: str) -> None:
    item = DeliveryItemDoc("10", "M", "2010", "0001", "", quantity, "PC", "1000001", "10", status, base_quantity=base)
    assert item.issued_quantity == ((base or quantity) if status == "C" else 0)
