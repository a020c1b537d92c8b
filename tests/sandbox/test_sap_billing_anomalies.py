"""SAP emulator, issue 12: the seeded billing anomalies a three-way match must report.

Over loopback against a sandbox with a frozen clock, the control switch ``billing_anomalies`` on:
enough own-warehouse (2010) orders are billed for every seeded anomaly to show, and one 3PL (1010)
order waits un-issued for the billing without delivery. Every anomaly the control route lists is in
SAP's documents as described, header totals equal the items', decimals are strings; cancellations
mark the original and move its LastChangeDateTime; the credit memo credits part of an invoice item;
SAP's pyodata client reads them through the sandbox's $metadata; the hub's SapClient parses them;
random billing query options never answer 500. In-process: the anomalies follow from the seed, and
the switch is off by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyodata
import pytest
import requests
from fuzzing import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from pyodata.v2.model import Config

from connectors.http import RetryPolicy
from connectors.sap_s4 import SapClient, SapConfig
from sandbox.sap.backend import SapBackend
from sandbox.sap.billing_anomalies import KINDS
from sandbox.seed_data import generate
from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

SEED = 43
ORDERS = "API_SALES_ORDER_SRV"
BILLING = "API_BILLING_DOCUMENT_SRV"
DELIVERY = "API_OUTBOUND_DELIVERY_SRV;v=0002"
DAY = 86_400
OWN_ORDERS = 18  # delivery billings: more than the anomaly window (ordinals 2 … 15)


class Sap:
    def __init__(self, info: dict[str, Any]) -> None:
        s = info["systems"]["sap_s4"]
        self.info = info
        self.root = s["service_root"]
        self.control = info["control_url"]
        self.session = requests.Session()
        self.session.auth = (s["user"], s["password"])
        self.session.headers["Accept"] = "application/json"
        head = self.session.head(f"{self.root}/{ORDERS}/", headers={"x-csrf-token": "Fetch"}, timeout=10)
        self.session.headers["x-csrf-token"] = head.headers["x-csrf-token"]

    def get(self, service: str, path: str, **params: str) -> requests.Response:
        return self.session.get(f"{self.root}/{service}/{path}", params=params, timeout=30)

    def results(self, service: str, path: str, **params: str) -> list[dict[str, Any]]:
        r = self.get(service, path, **params)
        assert r.status_code == 200, r.text
        return r.json()["d"]["results"]

    def advance(self, days: float) -> None:
        requests.post(f"{self.control}/clock", json={"advance_seconds": days * DAY}, timeout=10).raise_for_status()

    def configure(self, **fields: Any) -> dict[str, Any]:
        r = requests.post(f"{self.control}/records/sap_s4", json={"module": "config", "fields": fields}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["record"]

    def anomalies(self, record: str = "all") -> dict[str, Any]:
        r = requests.get(f"{self.control}/records/sap_s4/billing_anomalies/{record}", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["record"]

    def order(self, area: dict[str, Any], po: str, lines: list[tuple[str, str, int]]) -> str:
        body = {
            "SalesOrderType": "OR",
            "SalesOrganization": area["SalesOrganization"],
            "DistributionChannel": area["DistributionChannel"],
            "OrganizationDivision": area["Division"],
            "SoldToParty": area["Customer"],
            "PurchaseOrderByCustomer": po,
            "to_Item": {
                "results": [{"Material": m, "RequestedQuantity": str(q), "ProductionPlant": p} for m, p, q in lines]
            },
        }
        r = self.session.post(f"{self.root}/{ORDERS}/A_SalesOrder", json=body, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["d"]["SalesOrder"]


def _stocked(sap: Sap, plant: str) -> list[str]:
    rows = sap.results(
        "API_MATERIAL_STOCK_SRV",
        "A_MatlStkInAcctMod",
        **{
            "$filter": f"Plant eq '{plant}' and InventoryStockType eq '01' and MatlWrhsStkQtyInMatlBaseUnit ge 30M",
            "$orderby": "Material",
        },
    )
    return sorted({r["Material"] for r in rows})


def _area(sap: Sap, org: str) -> dict[str, Any]:
    return sap.results(
        "API_BUSINESS_PARTNER",
        "A_CustomerSalesArea",
        **{"$filter": f"SalesOrganization eq '{org}' and OrderIsBlockedForCustomer eq ''", "$top": "1"},
    )[0]


@pytest.fixture(scope="module")
def sap() -> Iterator[Sap]:
    with running_sandbox(seed=SEED, orders=20, frozen=True) as info:
        client = Sap(info)
        assert client.anomalies()["enabled"] is False  # off by default
        assert client.configure(billing_anomalies=True)["billing_anomalies"] is True
        own, waiting = _stocked(client, "2010"), _stocked(client, "1010")
        de, cn = _area(client, "2000"), _area(client, "1000")
        client.order(cn, "BA-3PL", [(waiting[0], "1010", 3)])  # waits for the hub: never issued here
        for i in range(OWN_ORDERS):
            lines = [(own[2 * i], "2010", 2 + i % 5), (own[2 * i + 1], "2010", 3)]
            client.order(de, f"BA-{i:02d}", lines[: 1 + i % 2])
            client.advance(0.25)
        client.advance(4)  # deliveries, billing a day later, credit memo and cancellations a day after
        yield client


@pytest.fixture(scope="module")
def billing(sap: Sap) -> dict[str, dict[str, Any]]:
    docs = sap.results(BILLING, "A_BillingDocument", **{"$expand": "to_Item", "$orderby": "BillingDocument"})
    return {d["BillingDocument"]: d for d in docs}


@pytest.fixture(scope="module")
def seeded(sap: Sap, billing: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for a in sap.anomalies()["anomalies"]:
        by_kind.setdefault(a["kind"], []).append(a)
    return by_kind


def _item(doc: dict[str, Any], number: str) -> dict[str, Any]:
    return next(i for i in doc["to_Item"]["results"] if i["BillingDocumentItem"] == number)


def _order_item(sap: Sap, order: str, item: str) -> dict[str, Any]:
    (row,) = sap.results(
        ORDERS, "A_SalesOrderItem", **{"$filter": f"SalesOrder eq '{order}' and SalesOrderItem eq '{item}'"}
    )
    return row


def test_every_anomaly_is_seeded_once_and_listed(sap: Sap, seeded: dict[str, list[dict[str, Any]]]) -> None:
    record = sap.anomalies()
    assert record["enabled"] is True and record["waiting"] == []
    assert sorted(k for k, v in seeded.items() for _ in v) == sorted(KINDS)
    assert {p["kind"] for p in record["plan"]} == set(KINDS) and len(record["plan"]) == len(KINDS)
    reasons = {a["expected_reason"] for v in seeded.values() for a in v}
    assert reasons >= {
        "price_difference",
        "currency_mismatch",
        "billing_without_delivery",
        "missing_billing",
        "cancelled",
    }
    assert reasons & {"over_billed", "under_delivered"}
    for anomalies in seeded.values():
        for a in anomalies:
            assert set(a) >= {"kind", "expected_reason", "ordinal", "at", "billing_document", "sales_order", "detail"}
            only = sap.anomalies(a["billing_document"])["anomalies"]
            assert a in only


def test_header_totals_equal_items_and_decimals_are_strings(billing: dict[str, dict[str, Any]]) -> None:
    assert len(billing) >= OWN_ORDERS
    for doc in billing.values():
        items = doc["to_Item"]["results"]
        assert items
        places = 0 if doc["TransactionCurrency"] == "JPY" else 2
        for name in ("TotalNetAmount", "TaxAmount", "TotalGrossAmount"):
            assert isinstance(doc[name], str)
        net = sum((Decimal(i["NetAmount"]) for i in items), Decimal(0))
        tax = sum((Decimal(i["TaxAmount"]) for i in items), Decimal(0))
        assert Decimal(doc["TotalNetAmount"]) == net and Decimal(doc["TaxAmount"]) == tax, doc["BillingDocument"]
        assert Decimal(doc["TotalGrossAmount"]) == net + tax
        for i in items:
            assert isinstance(i["NetAmount"], str) and isinstance(i["BillingQuantity"], str)
            assert -Decimal(i["NetAmount"]).as_tuple().exponent <= 3
            assert Decimal(i["NetAmount"]) == Decimal(i["NetAmount"]).quantize(Decimal(1).scaleb(-places))
            assert i["TransactionCurrency"] == doc["TransactionCurrency"]


def test_price_difference(sap: Sap, seeded: dict[str, Any], billing: dict[str, dict[str, Any]]) -> None:
    (a,) = seeded["price_difference"]
    item = _item(billing[a["billing_document"]], a["billing_document_item"])
    order_item = _order_item(sap, a["sales_order"], a["sales_order_item"])
    expected = (
        Decimal(order_item["NetAmount"]) * Decimal(item["BillingQuantity"]) / Decimal(order_item["RequestedQuantity"])
    )
    assert Decimal(item["NetAmount"]) == Decimal(a["detail"]["billed_net_amount"])
    assert Decimal(a["detail"]["expected_net_amount"]) == expected.quantize(Decimal("0.01"))
    assert abs(Decimal(item["NetAmount"]) - expected) >= 1  # beyond any rounding


def test_over_billing(sap: Sap, seeded: dict[str, Any], billing: dict[str, dict[str, Any]]) -> None:
    (a,) = seeded["over_billing"]
    item = _item(billing[a["billing_document"]], a["billing_document_item"])
    delivery = sap.results(DELIVERY, "A_OutbDeliveryItem", **{"$filter": f"DeliveryDocument eq '{a['delivery']}'"})
    issued = next(d for d in delivery if int(d["DeliveryDocumentItem"]) == int(a["delivery_item"]))
    assert issued["GoodsMovementStatus"] == "C"
    assert Decimal(item["BillingQuantity"]) > Decimal(issued["ActualDeliveredQtyInBaseUnit"])
    assert Decimal(item["BillingQuantity"]) == Decimal(a["detail"]["billed_quantity"])
    ordered = Decimal(_order_item(sap, a["sales_order"], a["sales_order_item"])["RequestedQuantity"])
    assert a["expected_reason"] == ("over_billed" if Decimal(item["BillingQuantity"]) > ordered else "under_delivered")


def test_currency_mismatch(sap: Sap, seeded: dict[str, Any], billing: dict[str, dict[str, Any]]) -> None:
    (a,) = seeded["currency_mismatch"]
    doc = billing[a["billing_document"]]
    (order,) = sap.results(ORDERS, "A_SalesOrder", **{"$filter": f"SalesOrder eq '{a['sales_order']}'"})
    assert doc["TransactionCurrency"] == a["detail"]["billing_currency"] != order["TransactionCurrency"]


def test_billing_without_delivery(sap: Sap, seeded: dict[str, Any], billing: dict[str, dict[str, Any]]) -> None:
    (a,) = seeded["billing_without_delivery"]
    doc = billing[a["billing_document"]]
    assert (doc["BillingDocumentType"], doc["BillingDocumentCategory"], doc["SDDocumentCategory"]) == ("F1", "A", "M")
    (item,) = doc["to_Item"]["results"]
    assert item["ReferenceSDDocumentCategory"] == "C" and item["ReferenceSDDocument"] == item["SalesDocument"]
    deliveries = sap.results(
        DELIVERY, "A_OutbDeliveryItem", **{"$filter": f"ReferenceSDDocument eq '{a['sales_order']}'"}
    )
    issued = [
        d for d in deliveries
        if int(d["ReferenceSDDocumentItem"]) == int(a["sales_order_item"]) and d["GoodsMovementStatus"] == "C"
    ]  # fmt: skip
    assert issued == []
    assert _order_item(sap, a["sales_order"], a["sales_order_item"])["OrderRelatedBillingStatus"] == "C"


def test_credit_memo(seeded: dict[str, Any], billing: dict[str, dict[str, Any]]) -> None:
    (a,) = seeded["credit_memo"]
    memo, invoice = billing[a["billing_document"]], billing[a["original_billing_document"]]
    assert (memo["BillingDocumentType"], memo["SDDocumentCategory"]) == ("G2", "O")
    assert Decimal(memo["TotalNetAmount"]) > 0  # SAP's amounts are positive; the category credits them
    (item,) = memo["to_Item"]["results"]
    assert (item["ReferenceSDDocument"], item["ReferenceSDDocumentCategory"]) == (invoice["BillingDocument"], "M")
    source = _item(invoice, item["ReferenceSDDocumentItem"])
    assert (item["SalesDocument"], item["SalesDocumentItem"]) == (source["SalesDocument"], source["SalesDocumentItem"])
    assert 0 < Decimal(item["BillingQuantity"]) < Decimal(source["BillingQuantity"])
    assert item["SDDocumentReason"] == "002"
    assert memo["PurchaseOrderByCustomer"] == invoice["PurchaseOrderByCustomer"]
    assert (
        memo["BillingDocumentDate"] > invoice["BillingDocumentDate"]
        or memo["LastChangeDateTime"] > invoice["LastChangeDateTime"]
    )


def test_automatic_cancellations(seeded: dict[str, Any], billing: dict[str, dict[str, Any]]) -> None:
    assert len(seeded["cancellation"]) == 2
    for a in seeded["cancellation"]:
        s1, original = billing[a["billing_document"]], billing[a["original_billing_document"]]
        assert (s1["BillingDocumentType"], s1["SDDocumentCategory"]) == ("S1", "N")
        assert s1["CancelledBillingDocument"] == original["BillingDocument"]
        assert original["BillingDocumentIsCancelled"] is True and original["BillingDocumentType"] == "F2"
        for name in ("TotalNetAmount", "TaxAmount", "TotalGrossAmount", "TransactionCurrency"):
            assert s1[name] == original[name]
        # the original changed when it was cancelled, a day after it was created
        assert (
            original["LastChangeDateTime"]
            == s1["LastChangeDateTime"]
            != f"/Date({original['CreationDate'][6:-2]}+0000)/"
        )
        assert s1["AccountingDocument"] != original["AccountingDocument"]
        assert [i["BillingQuantity"] for i in s1["to_Item"]["results"]] == [
            i["BillingQuantity"] for i in original["to_Item"]["results"]
        ]


def test_pyodata_reads_them_through_the_sandbox_metadata(sap: Sap, seeded: dict[str, Any]) -> None:
    client = pyodata.Client(f"{sap.root}/{BILLING}", sap.session, config=Config(retain_null=True))
    docs = client.entity_sets.A_BillingDocument.get_entities().expand("to_Item").execute()
    by_number = {d.BillingDocument: d for d in docs}
    memo = by_number[seeded["credit_memo"][0]["billing_document"]]
    assert memo.BillingDocumentType == "G2" and Decimal(str(memo.TotalNetAmount)) == sum(
        Decimal(str(i.NetAmount)) for i in memo.to_Item
    )
    assert memo.to_Item[0].SDDocumentReason == "002"
    for a in seeded["cancellation"]:
        assert by_number[a["original_billing_document"]].BillingDocumentIsCancelled is True
        assert by_number[a["billing_document"]].CancelledBillingDocument == a["original_billing_document"]
    f1 = by_number[seeded["billing_without_delivery"][0]["billing_document"]]
    assert f1.to_Item[0].ReferenceSDDocumentCategory == "C"
    cancelled = (
        client.entity_sets.A_BillingDocument.get_entities().filter("BillingDocumentIsCancelled eq true").execute()
    )
    assert {d.BillingDocument for d in cancelled} == {a["original_billing_document"] for a in seeded["cancellation"]}


def test_the_hub_client_parses_them(sap: Sap, seeded: dict[str, Any]) -> None:
    s = sap.info["systems"]["sap_s4"]
    config = SapConfig(
        base_url=s["base_url"],
        service_root=s["service_root"].removeprefix(s["base_url"]),
        user=s["user"],
        password=s["password"],
        timeout=(5.0, 30.0),
        retry=RetryPolicy(max_attempts=3, base=0.01, cap=0.05),
        page_size=7,
    )
    with SapClient(config) as client:
        docs = {d.number: d for d in client.billing_documents(datetime(2000, 1, 1, tzinfo=UTC))}
    memo = docs[seeded["credit_memo"][0]["billing_document"]]
    assert (memo.billing_type, memo.sd_category, memo.is_credit, memo.is_cancellation) == ("G2", "O", True, False)
    (item,) = memo.items
    assert item.reference_category == "M" and item.delivery_reference is None and item.reason == "002"
    assert memo.company_code and memo.billing_date and memo.last_changed_at and memo.purchase_order
    for a in seeded["cancellation"]:
        s1 = docs[a["billing_document"]]
        assert s1.is_cancellation and s1.is_credit and s1.cancelled_document == a["original_billing_document"]
        assert docs[a["original_billing_document"]].is_cancelled
    f1 = docs[seeded["billing_without_delivery"][0]["billing_document"]]
    assert (f1.billing_category, f1.category) == ("A", "M") and f1.items[0].delivery_reference is None
    price = seeded["price_difference"][0]
    f2 = docs[price["billing_document"]]
    (billed,) = [i for i in f2.items if i.item == price["billing_document_item"]]
    assert billed.delivery_reference == (price["delivery"], price["delivery_item"])
    assert billed.net_amount == Decimal(price["detail"]["billed_net_amount"]) and billed.currency == f2.currency
    assert sum(i.net_amount for i in f2.items) == f2.net_amount and f2.net_amount + f2.tax_amount == f2.gross_amount
    over = seeded["over_billing"][0]
    with SapClient(config) as client:
        delivery = client.delivery(over["delivery"])
    (d_item,) = [i for i in delivery.items if i.item == over["delivery_item"]]
    assert (
        d_item.issued_quantity
        == Decimal(over["detail"]["issued_quantity"])
        < Decimal(over["detail"]["billed_quantity"])
    )


_FIELDS = ["BillingDocument", "BillingDocumentType", "SDDocumentCategory", "TotalNetAmount", "LastChangeDateTime",
           "BillingDocumentIsCancelled", "CancelledBillingDocument", "TransactionCurrency", "Nope",
           "to_Item"]  # fmt: skip
_VALUES = ["'F2'", "'S1'", "true", "false", "0M", "12.5M", "datetimeoffset'2026-01-01T00:00:00Z'",
           "datetime'2026-01-01T00:00:00'", "null", "'", "''", "1e999", "'\u00e9'", "x"]  # fmt: skip
_OPS = ["eq", "ne", "gt", "ge", "lt", "le", "and", "or", "substringof", "("]

_options = st.fixed_dictionaries(
    {},
    optional={
        "$filter": st.builds(
            lambda f, o, v: f"{f} {o} {v}", st.sampled_from(_FIELDS), st.sampled_from(_OPS), st.sampled_from(_VALUES)
        )
        | st.text(max_size=30),
        "$orderby": st.lists(st.sampled_from(_FIELDS + ["LastChangeDateTime desc", "x asc"]), max_size=3).map(",".join),
        "$top": st.integers(-5, 10_000).map(str) | st.text(max_size=5),
        "$skip": st.integers(-5, 10_000).map(str) | st.text(max_size=5),
        "$select": st.lists(st.sampled_from(_FIELDS + ["to_Item/NetAmount", "*"]), max_size=4).map(",".join),
        "$expand": st.sampled_from(["to_Item", "to_Item/to_BillingDocument", "nope", "", "to_Item,to_Item"]),
        "$inlinecount": st.sampled_from(["allpages", "none", "x"]),
        "$format": st.sampled_from(["json", "xml", "atom", "x"]),
    },
)


@FUZZ
@given(
    options=_options, entity=st.sampled_from(["A_BillingDocument", "A_BillingDocumentItem", "A_BillingDocument/$count"])
)
def test_billing_query_options_never_answer_500(sap: Sap, options: dict[str, str], entity: str) -> None:
    r = sap.get(BILLING, entity, **options)
    assert r.status_code < 500, (entity, options, r.text[:300])


# -- in-process ----------------------------------------------------------------------------------------

_DATA = generate(SEED, orders=20)


def _run(enable: bool) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    backend = SapBackend(_DATA, "TEST")
    backend.documents.anomalies.enabled = enable
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    area = next(
        a
        for a in backend.store.table("A_CustomerSalesArea").all()
        if a["SalesOrganization"] == "2000" and not a["OrderIsBlockedForCustomer"]
    )
    rows = sorted(
        r["Material"]
        for r in backend.store.table("A_MatlStkInAcctMod").all()
        if r["Plant"] == "2010" and r["InventoryStockType"] == "01" and r["MatlWrhsStkQtyInMatlBaseUnit"] >= 30
    )
    for i in range(OWN_ORDERS):
        payload = {
            "SalesOrderType": "OR",
            "SalesOrganization": "2000",
            "DistributionChannel": area["DistributionChannel"],
            "OrganizationDivision": area["Division"],
            "SoldToParty": area["Customer"],
            "PurchaseOrderByCustomer": f"P{i}",
            "to_Item": [{"Material": rows[i], "RequestedQuantity": str(2 + i % 5), "ProductionPlant": "2010"}],
        }
        backend.orders.create(payload, now)
        now += timedelta(hours=6)
        backend.advance(now)
    backend.advance(now + timedelta(days=4))
    docs = [
        (h["BillingDocument"], h["BillingDocumentType"], h["TotalNetAmount"], h["BillingDocumentIsCancelled"])
        for h in backend.store.table("A_BillingDocument").all()
    ]
    return backend.documents.anomalies.describe()["anomalies"], docs


def test_anomalies_follow_from_the_seed_and_are_off_by_default() -> None:
    first, second = _run(True), _run(True)
    assert first == second and first[0]
    assert {a["kind"] for a in first[0]} >= {"price_difference", "over_billing", "credit_memo", "cancellation"}
    clean_anomalies, clean_docs = _run(False)
    assert clean_anomalies == []
    assert {t for _, t, _, _ in clean_docs} == {"F2"} and not any(c for *_, c in clean_docs)
