"""SAP emulator, issue 10: deliveries of 3PL plants wait for the hub's goods issue.

Over loopback against a sandbox with a frozen clock: a 3PL delivery is created unpicked and not
issued; picking quantities and ``PostGoodsIssue`` issue it (stock down, billing a day later for the
issued quantity); a second ``PostGoodsIssue`` is refused; a short issue leaves the rest open on the
order item; ``ReverseGoodsIssue``; ``DELETE`` of an un-issued delivery and rejection of the open
items; plant 2010 unchanged; SAP's own pyodata client on the delivery service. A property test runs
the emulator's documents in-process with random picks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyodata
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyodata.v2.model import Config

from sandbox.sap.backend import SapBackend
from sandbox.sap.errors import SapError
from sandbox.seed_data import generate
from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

SEED = 29
DELIVERY = "API_OUTBOUND_DELIVERY_SRV;v=0002"
ORDERS = "API_SALES_ORDER_SRV"
DAY = 86400


class Sap:
    """Plain HTTP against the emulator: one session, its CSRF token, the control API."""

    def __init__(self, info: dict[str, Any]) -> None:
        s = info["systems"]["sap_s4"]
        self.root = s["service_root"]
        self.control = info["control_url"]
        self.session = requests.Session()
        self.session.auth = (s["user"], s["password"])
        self.session.headers["Accept"] = "application/json"
        head = self.session.head(f"{self.root}/{DELIVERY}/", headers={"x-csrf-token": "Fetch"}, timeout=10)
        self.session.headers["x-csrf-token"] = head.headers["x-csrf-token"]

    def url(self, service: str, path: str) -> str:
        return f"{self.root}/{service}/{path}"

    def get(self, service: str, path: str, **params: str) -> requests.Response:
        return self.session.get(self.url(service, path), params=params, timeout=10)

    def d(self, service: str, path: str, **params: str) -> Any:
        r = self.get(service, path, **params)
        assert r.status_code == 200, r.text
        return r.json()["d"]

    def results(self, service: str, path: str, **params: str) -> list[dict[str, Any]]:
        return self.d(service, path, **params)["results"]

    def action(self, name: str, **params: str) -> requests.Response:
        return self.session.post(self.url(DELIVERY, name), params=params, timeout=10)

    def advance(self, days: float) -> None:
        requests.post(f"{self.control}/clock", json={"advance_seconds": days * DAY}, timeout=10).raise_for_status()

    def now(self) -> datetime:
        r = requests.get(f"{self.control}/clock", timeout=10)
        return datetime.fromisoformat(r.json()["now"].replace("Z", "+00:00"))

    def order(self, customer: dict[str, Any], po: str, plant: str, material: str, qty: int | str) -> str:
        body = {
            "SalesOrderType": "OR",
            "SalesOrganization": customer["SalesOrganization"],
            "DistributionChannel": customer["DistributionChannel"],
            "OrganizationDivision": customer["Division"],
            "SoldToParty": customer["Customer"],
            "PurchaseOrderByCustomer": po,
            "to_Item": {"results": [{"Material": material, "RequestedQuantity": str(qty), "ProductionPlant": plant}]},
        }
        r = self.session.post(self.url(ORDERS, "A_SalesOrder"), json=body, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["d"]["SalesOrder"]

    def delivery_of(self, order: str) -> dict[str, Any]:
        items = self.results(DELIVERY, "A_OutbDeliveryItem", **{"$filter": f"ReferenceSDDocument eq '{order}'"})
        (number,) = {i["DeliveryDocument"] for i in items}
        return self.delivery(number)

    def delivery(self, number: str) -> dict[str, Any]:
        return self.d(DELIVERY, f"A_OutbDeliveryHeader('{number}')", **{"$expand": "to_DeliveryDocumentItem"})

    def stock(self, material: str, plant: str) -> Decimal:
        rows = self.results(
            "API_MATERIAL_STOCK_SRV",
            "A_MatlStkInAcctMod",
            **{"$filter": f"Material eq '{material}' and Plant eq '{plant}' and InventoryStockType eq '01'"},
        )
        return sum((Decimal(r["MatlWrhsStkQtyInMatlBaseUnit"]) for r in rows), Decimal(0))

    def available(self, material: str, plant: str) -> Decimal:
        params = {"Material": f"'{material}'", "SupplyingPlant": f"'{plant}'", "ATPCheckingRule": "'A'"}
        record = self.d(
            "API_PRODUCT_AVAILY_INFO_BASIC", "DetermineAvailabilityOf", RequestedQuantityInBaseUnit="0M", **params
        )
        return Decimal(record["DetermineAvailabilityOf"]["AvailableQuantityInBaseUnit"])

    def order_item(self, order: str) -> dict[str, Any]:
        return self.results(ORDERS, f"A_SalesOrder('{order}')/to_Item", **{"$expand": "to_ScheduleLine"})[0]

    def bills(self, po: str) -> list[dict[str, Any]]:
        return self.results(
            "API_BILLING_DOCUMENT_SRV",
            "A_BillingDocument",
            **{"$filter": f"PurchaseOrderByCustomer eq '{po}'", "$expand": "to_Item"},
        )


def pick(sap: Sap, delivery: str, qty: str, item: str = "000010", unit: str = "PC") -> requests.Response:
    return sap.action(
        "SetPickingQuantityWithBaseQuantity",
        DeliveryDocument=f"'{delivery}'",
        DeliveryDocumentItem=f"'{item}'",
        ActualDeliveredQtyInBaseUnit=f"{qty}M",
        BaseUnit=f"'{unit}'",
    )


def post_gi(sap: Sap, delivery: str) -> requests.Response:
    return sap.action("PostGoodsIssue", DeliveryDocument=f"'{delivery}'")


def error_code(r: requests.Response) -> str:
    return r.json()["error"]["code"]


def midnight_ms(moment: datetime) -> str:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return f"/Date({int(day.timestamp() * 1000)})/"


@pytest.fixture(scope="module")
def sap() -> Iterator[Sap]:
    with running_sandbox(seed=SEED, orders=20, frozen=True) as info:
        yield Sap(info)


class Stocked:
    """Materials with stock in a plant, each handed out once so tests do not share availability."""

    def __init__(self, sap: Sap) -> None:
        self.sap = sap
        self.used: set[str] = set()

    def take(self, plant: str) -> tuple[str, str]:
        rows = self.sap.results(
            "API_MATERIAL_STOCK_SRV",
            "A_MatlStkInAcctMod",
            **{
                "$filter": f"Plant eq '{plant}' and InventoryStockType eq '01' and MatlWrhsStkQtyInMatlBaseUnit ge 30M",
                "$orderby": "Material",
            },
        )
        for row in rows:
            if row["Material"] not in self.used:
                self.used.add(row["Material"])
                return row["Material"], row["MaterialBaseUnit"]
        raise AssertionError(f"no stocked material left in {plant}")


@pytest.fixture(scope="module")
def stocked(sap: Sap) -> Stocked:
    return Stocked(sap)


def _customer(sap: Sap, sales_org: str) -> dict[str, Any]:
    return sap.results(
        "API_BUSINESS_PARTNER",
        "A_CustomerSalesArea",
        **{"$filter": f"SalesOrganization eq '{sales_org}' and OrderIsBlockedForCustomer eq ''", "$top": "1"},
    )[0]


@pytest.fixture(scope="module")
def cn(sap: Sap) -> dict[str, Any]:
    return _customer(sap, "1000")


@pytest.fixture(scope="module")
def de(sap: Sap) -> dict[str, Any]:
    return _customer(sap, "2000")


# -- a 3PL delivery waits ----------------------------------------------------------------------------


@pytest.mark.parametrize("plant", ["1010", "1020"])
def test_a_3pl_delivery_waits_for_the_hub(sap: Sap, stocked: Stocked, cn: dict[str, Any], plant: str) -> None:
    material, _ = stocked.take(plant)
    stock = sap.stock(material, plant)
    order = sap.order(cn, f"WAIT-{plant}", plant, material, 4)
    sap.advance(1)
    delivery = sap.delivery_of(order)
    assert (delivery["OverallGoodsMovementStatus"], delivery["OverallPickingStatus"]) == ("A", "A")
    assert delivery["ActualGoodsMovementDate"] is None and delivery["DeliveryVersion"] == "0001"
    (item,) = delivery["to_DeliveryDocumentItem"]["results"]
    assert (item["GoodsMovementStatus"], item["PickingStatus"], item["ActualDeliveryQuantity"]) == ("A", "A", "4.000")
    assert sap.stock(material, plant) == stock  # not issued: stock untouched
    assert sap.available(material, plant) == stock - 4  # but still promised to the order
    assert sap.order_item(order)["DeliveryStatus"] == "C"  # in a delivery, as SAP counts it
    sap.advance(2)
    assert sap.delivery(delivery["DeliveryDocument"])["OverallGoodsMovementStatus"] == "A"
    assert sap.bills(f"WAIT-{plant}") == []  # no billing without goods issue


# -- picking and goods issue -------------------------------------------------------------------------


def test_picking_and_goods_issue_then_billing_a_day_later(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, unit = stocked.take("1010")
    stock = sap.stock(material, "1010")
    order = sap.order(cn, "GI-FULL", "1010", material, 4)
    sap.advance(1)
    number = sap.delivery_of(order)["DeliveryDocument"]
    r = pick(sap, number, "4", unit=unit)
    assert r.status_code == 200 and r.json() == {"d": {"results": []}}, r.text
    picked = sap.delivery(number)
    assert picked["OverallPickingStatus"] == "C" and picked["OverallGoodsMovementStatus"] == "A"
    assert picked["DeliveryVersion"] == "0002"
    now = sap.now()
    r = post_gi(sap, number)
    assert r.status_code == 200, r.text
    issued = sap.delivery(number)
    assert issued["OverallGoodsMovementStatus"] == "C" and issued["ActualGoodsMovementDate"] == midnight_ms(now)
    assert issued["ActualGoodsMovementTime"] == f"PT{now.hour:02d}H{now.minute:02d}M{now.second:02d}S"
    assert issued["LastChangeDate"] == midnight_ms(now)
    assert [i["GoodsMovementStatus"] for i in issued["to_DeliveryDocumentItem"]["results"]] == ["C"]
    assert sap.stock(material, "1010") == stock - 4
    again = post_gi(sap, number)
    assert again.status_code == 400 and error_code(again) == "VL/609"
    assert error_code(pick(sap, number, "1", unit=unit)) == "VL/609"  # no picking after goods issue
    sap.advance(0.9)
    assert sap.bills("GI-FULL") == []  # billing follows goods issue by a day, not delivery creation
    sap.advance(0.2)
    (bill,) = sap.bills("GI-FULL")
    assert [(i["BillingQuantity"], i["ReferenceSDDocument"]) for i in bill["to_Item"]["results"]] == [("4.000", number)]
    assert sap.delivery(number)["OverallDelivReltdBillgStatus"] == "C"
    refused = sap.action(
        "ReverseGoodsIssue", DeliveryDocument=f"'{number}'", ActualGoodsMovementDate="datetime'2030-01-01T00:00:00'"
    )
    assert refused.status_code == 400 and error_code(refused) == "VL/656"


def test_a_short_issue_leaves_the_rest_open(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, unit = stocked.take("1010")
    stock = sap.stock(material, "1010")
    order = sap.order(cn, "GI-SHORT", "1010", material, 5)
    sap.advance(1)
    number = sap.delivery_of(order)["DeliveryDocument"]
    for qty in ("2", "1"):  # PickOneItemWithBaseQuantity adds to what is picked
        r = sap.action(
            "PickOneItemWithBaseQuantity",
            DeliveryDocument=f"'{number}'",
            DeliveryDocumentItem="'10'",
            ActualDeliveredQtyInBaseUnit=f"{qty}M",
            BaseUnit=f"'{unit}'",
        )
        assert r.status_code == 200, r.text
    assert sap.delivery(number)["OverallPickingStatus"] == "B"
    assert post_gi(sap, number).status_code == 200
    delivery = sap.delivery(number)
    (item,) = delivery["to_DeliveryDocumentItem"]["results"]
    assert (item["ActualDeliveryQuantity"], item["OriginalDeliveryQuantity"]) == ("3.000", "5.000")
    assert sap.stock(material, "1010") == stock - 3
    order_item = sap.order_item(order)
    assert order_item["DeliveryStatus"] == "B"
    lines = order_item["to_ScheduleLine"]["results"]
    assert sum(Decimal(x["DeliveredQtyInOrderQtyUnit"]) for x in lines) == 3
    assert sum(Decimal(x["OpenConfdDelivQtyInOrdQtyUnit"]) for x in lines) == 2
    assert sap.available(material, "1010") == stock - 3 - 2  # the rest is still confirmed to the order
    sap.advance(1.1)
    (bill,) = sap.bills("GI-SHORT")
    assert [i["BillingQuantity"] for i in bill["to_Item"]["results"]] == ["3.000"]
    # The hub closes the rest: a reason for rejection on the partly delivered item.
    url = sap.url(ORDERS, f"A_SalesOrderItem(SalesOrder='{order}',SalesOrderItem='10')")
    r = sap.session.patch(url, json={"SalesDocumentRjcnReason": "02"}, timeout=10)
    assert r.status_code == 204, r.text
    closed = sap.order_item(order)
    assert (closed["DeliveryStatus"], closed["ConfdDelivQtyInOrderQtyUnit"]) == ("C", "3.000")
    assert sap.available(material, "1010") == stock - 3


def test_picking_and_quantity_refusals(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, unit = stocked.take("1010")
    order = sap.order(cn, "GI-REFUSE", "1010", material, 4)
    sap.advance(1)
    delivery = sap.delivery_of(order)
    number = delivery["DeliveryDocument"]
    too_many = pick(sap, number, "5", unit=unit)
    assert too_many.status_code == 400 and error_code(too_many) == "VL/367"
    assert "exceeds the delivery quantity" in too_many.json()["error"]["message"]["value"]
    assert pick(sap, number, "1", unit="KG").status_code == 400
    assert pick(sap, number, "1", item="000090", unit=unit).status_code == 404
    assert pick(sap, "0000000001", "1", unit=unit).status_code == 404
    # The delivery quantity itself: PATCH of ActualDeliveryQuantity under the DeliveryVersion ETag.
    url = sap.url(DELIVERY, f"A_OutbDeliveryItem(DeliveryDocument='{number}',DeliveryDocumentItem='000010')")
    item = sap.session.get(url, timeout=10)
    etag = item.headers["etag"]
    change = {"ActualDeliveryQuantity": "3"}
    assert sap.session.patch(url, json=change, timeout=10).status_code == 428
    assert sap.session.patch(url, json=change, headers={"If-Match": "W/\"'0000'\""}, timeout=10).status_code == 412
    above = sap.session.patch(url, json={"ActualDeliveryQuantity": "9"}, headers={"If-Match": etag}, timeout=10)
    assert above.status_code == 400 and error_code(above) == "VL/370"
    ok = sap.session.patch(url, json=change, headers={"If-Match": etag}, timeout=10)
    assert ok.status_code == 204 and ok.headers["etag"] != etag
    assert sap.delivery(number)["DeliveryVersion"] == "0002"  # header and items share the version
    assert sap.order_item(order)["DeliveryStatus"] == "B"  # one back to the order item
    # Never picked: goods issue posts the (changed) delivery quantity.
    assert post_gi(sap, number).status_code == 200
    (issued,) = sap.delivery(number)["to_DeliveryDocumentItem"]["results"]
    assert (issued["ActualDeliveryQuantity"], issued["GoodsMovementStatus"]) == ("3.000", "C")
    late = sap.session.patch(
        url, json=change, headers={"If-Match": sap.session.get(url, timeout=10).headers["etag"]}, timeout=10
    )
    assert late.status_code == 400 and error_code(late) == "VL/609"


def test_nothing_picked_is_refused(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, unit = stocked.take("1020")
    order = sap.order(cn, "GI-ZERO", "1020", material, 2)
    sap.advance(1)
    number = sap.delivery_of(order)["DeliveryDocument"]
    assert pick(sap, number, "0", unit=unit).status_code == 200
    r = post_gi(sap, number)
    assert r.status_code == 400 and error_code(r) == "VL/373"
    assert sap.delivery(number)["OverallGoodsMovementStatus"] == "A"  # the failed request left nothing behind


# -- reversal ----------------------------------------------------------------------------------------


def test_reverse_goods_issue_and_reading_by_change_date(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, _ = stocked.take("1010")
    stock = sap.stock(material, "1010")
    order = sap.order(cn, "GI-REVERSE", "1010", material, 3)
    sap.advance(1)
    delivery = sap.delivery_of(order)
    number, created = delivery["DeliveryDocument"], delivery["CreationDate"]
    not_yet = sap.action(
        "ReverseGoodsIssue", DeliveryDocument=f"'{number}'", ActualGoodsMovementDate="datetime'2030-01-01T00:00:00'"
    )
    assert not_yet.status_code == 400 and error_code(not_yet) == "VL/611"
    sap.advance(1)  # a day later: the change date moves, the creation date stays
    assert post_gi(sap, number).status_code == 200
    assert sap.stock(material, "1010") == stock - 3
    r = sap.action(
        "ReverseGoodsIssue", DeliveryDocument=f"'{number}'", ActualGoodsMovementDate="datetime'2030-01-01T00:00:00'"
    )
    assert r.status_code == 200, r.text
    assert [(m["SystemMessageType"], m["DeliveryDocument"]) for m in r.json()["d"]["results"]] == [("S", number)]
    reversed_ = sap.delivery(number)
    assert reversed_["OverallGoodsMovementStatus"] == "A" and reversed_["ActualGoodsMovementDate"] is None
    assert reversed_["OverallPickingStatus"] == "C"  # still picked
    assert sap.stock(material, "1010") == stock
    assert sap.available(material, "1010") == stock - 3
    today = reversed_["LastChangeDate"]
    assert today != created
    day_literal = datetime.fromtimestamp(int(today[6:-2]) / 1000, UTC).strftime("datetime'%Y-%m-%dT%H:%M:%S'")
    changed = sap.results(DELIVERY, "A_OutbDeliveryHeader", **{"$filter": f"LastChangeDate eq {day_literal}"})
    assert number in {d["DeliveryDocument"] for d in changed}
    sap.advance(1.5)
    assert sap.bills("GI-REVERSE") == []  # the billing that goods issue queued went with it
    assert post_gi(sap, number).status_code == 200  # issued anew
    sap.advance(1.1)
    assert len(sap.bills("GI-REVERSE")) == 1


# -- cancellation ------------------------------------------------------------------------------------


def test_delete_an_unissued_delivery_and_reject_the_order_item(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, _ = stocked.take("1020")
    stock = sap.stock(material, "1020")
    order = sap.order(cn, "GI-CANCEL", "1020", material, 6)
    sap.advance(1)
    delivery = sap.delivery_of(order)
    number = delivery["DeliveryDocument"]
    url = sap.url(DELIVERY, f"A_OutbDeliveryHeader('{number}')")
    etag = delivery["__metadata"]["etag"]
    assert sap.session.delete(url, timeout=10).status_code == 428
    assert sap.session.delete(url, headers={"If-Match": "W/\"'0009'\""}, timeout=10).status_code == 412
    # Rejecting while the quantity sits in a delivery is refused: the delivery goes first.
    item_url = sap.url(ORDERS, f"A_SalesOrderItem(SalesOrder='{order}',SalesOrderItem='10')")
    blocked = sap.session.patch(item_url, json={"SalesDocumentRjcnReason": "02"}, timeout=10)
    assert blocked.status_code == 400 and error_code(blocked) == "V1/059"
    assert sap.session.delete(url, headers={"If-Match": etag}, timeout=10).status_code == 204
    assert sap.get(DELIVERY, f"A_OutbDeliveryHeader('{number}')").status_code == 404
    assert sap.results(DELIVERY, "A_OutbDeliveryItem", **{"$filter": f"DeliveryDocument eq '{number}'"}) == []
    item = sap.order_item(order)
    assert item["DeliveryStatus"] == "A"
    assert sum(Decimal(x["OpenConfdDelivQtyInOrdQtyUnit"]) for x in item["to_ScheduleLine"]["results"]) == 6
    assert sap.available(material, "1020") == stock - 6
    assert sap.session.patch(item_url, json={"SalesDocumentRjcnReason": "02"}, timeout=10).status_code == 204
    assert sap.available(material, "1020") == stock
    sap.advance(2)
    assert sap.results(DELIVERY, "A_OutbDeliveryItem", **{"$filter": f"ReferenceSDDocument eq '{order}'"}) == []


def test_an_issued_delivery_cannot_be_deleted(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, _ = stocked.take("1010")
    order = sap.order(cn, "GI-NODELETE", "1010", material, 1)
    sap.advance(1)
    number = sap.delivery_of(order)["DeliveryDocument"]
    assert post_gi(sap, number).status_code == 200
    url = sap.url(DELIVERY, f"A_OutbDeliveryHeader('{number}')")
    etag = sap.get(DELIVERY, f"A_OutbDeliveryHeader('{number}')").headers["etag"]
    r = sap.session.delete(url, headers={"If-Match": etag}, timeout=10)
    assert r.status_code == 400 and error_code(r) == "VL/610"


# -- the own warehouse -------------------------------------------------------------------------------


def test_plant_2010_issues_at_creation_as_before(sap: Sap, stocked: Stocked, de: dict[str, Any]) -> None:
    material, _ = stocked.take("2010")
    stock = sap.stock(material, "2010")
    order = sap.order(de, "OWN-2010", "2010", material, 2)
    sap.advance(1)
    delivery = sap.delivery_of(order)
    assert delivery["OverallGoodsMovementStatus"] == "C" and delivery["ActualGoodsMovementDate"] is not None
    assert sap.stock(material, "2010") == stock - 2
    r = post_gi(sap, delivery["DeliveryDocument"])
    assert r.status_code == 400 and error_code(r) == "VL/609"
    sap.advance(1)
    assert len(sap.bills("OWN-2010")) == 1


def test_the_control_api_switches_plants(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    url = f"{sap.control}/records/sap_s4"
    r = requests.post(url, json={"module": "config", "fields": {"hub_goods_issue_plants": ["1020"]}}, timeout=10)
    assert r.status_code == 200 and r.json()["record"]["hub_goods_issue_plants"] == ["1020"]
    try:
        material, _ = stocked.take("1010")
        order = sap.order(cn, "SWITCH-1010", "1010", material, 1)
        sap.advance(1)
        assert sap.delivery_of(order)["OverallGoodsMovementStatus"] == "C"
        bad = requests.post(url, json={"module": "config", "fields": {"hub_goods_issue_plants": ["9999"]}}, timeout=10)
        assert bad.status_code == 400
    finally:
        back = {"module": "config", "fields": {"hub_goods_issue_plants": ["1010", "1020"]}}
        requests.post(url, json=back, timeout=10).raise_for_status()


# -- SAP's own client --------------------------------------------------------------------------------


def test_pyodata_reads_deliveries_and_calls_the_actions(sap: Sap, stocked: Stocked, cn: dict[str, Any]) -> None:
    material, unit = stocked.take("1010")
    order = sap.order(cn, "PYODATA-GI", "1010", material, 2)
    sap.advance(1)
    # retain_null: pyodata would otherwise read the null goods-issue date as 1753-01-01.
    client = pyodata.Client(f"{sap.root}/{DELIVERY}/", sap.session, config=Config(retain_null=True))
    items = client.entity_sets.A_OutbDeliveryItem.get_entities().filter(f"ReferenceSDDocument eq '{order}'").execute()
    (item,) = items
    header = client.entity_sets.A_OutbDeliveryHeader.get_entity(item.DeliveryDocument)
    header = header.expand("to_DeliveryDocumentItem").execute()
    assert header.OverallGoodsMovementStatus == "A" and header.ActualGoodsMovementDate is None
    assert [i.DeliveryDocumentItem for i in header.to_DeliveryDocumentItem] == ["000010"]
    # pyodata sends the actions as SAP's metadata says (POST, URL-literal parameters) and the
    # emulator runs them, but pyodata 1.12.1 cannot read a Collection(ComplexType) answer: it looks
    # for an entity set of that name (sap_report.md §6) and raises KeyError after the call.
    picking = client.functions.SetPickingQuantityWithBaseQuantity
    picking = picking.parameter("DeliveryDocument", item.DeliveryDocument).parameter("DeliveryDocumentItem", "000010")
    with pytest.raises(KeyError, match="EntitySet None"):
        picking.parameter("ActualDeliveredQtyInBaseUnit", Decimal(1)).parameter("BaseUnit", unit).execute()
    picked = client.entity_sets.A_OutbDeliveryItem.get_entity(
        DeliveryDocument=item.DeliveryDocument, DeliveryDocumentItem="000010"
    ).execute()
    assert picked.PickingStatus == "B"
    with pytest.raises(KeyError, match="EntitySet None"):
        client.functions.PostGoodsIssue.parameter("DeliveryDocument", item.DeliveryDocument).execute()
    issued = client.entity_sets.A_OutbDeliveryHeader.get_entity(item.DeliveryDocument).execute()
    assert issued.OverallGoodsMovementStatus == "C" and issued.ActualGoodsMovementDate is not None


# -- property: random picks, in-process --------------------------------------------------------------

_DATA = generate(SEED, 1, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
_PICKS = st.lists(
    st.tuples(st.sampled_from(["set", "add", "full"]), st.integers(min_value=0, max_value=12)), max_size=5
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ordered=st.integers(min_value=1, max_value=10), picks=_PICKS, reverse=st.booleans())
def test_goods_issue_books_what_was_picked(ordered: int, picks: list[tuple[str, int]], reverse: bool) -> None:
    """Whatever the picks: stock falls by what was issued, the order item holds the rest open, the
    confirmation is still promised, and a refused step changes nothing."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    backend = SapBackend(_DATA, "TEST")
    area = next(
        a
        for a in backend.store.table("A_CustomerSalesArea").all()
        if a["SalesOrganization"] == "1000" and not a["OrderIsBlockedForCustomer"]
    )
    row = next(
        r
        for r in backend.store.table("A_MatlStkInAcctMod").all()
        if r["Plant"] == "1010" and r["InventoryStockType"] == "01" and r["MatlWrhsStkQtyInMatlBaseUnit"] >= 10
    )
    material, stock = row["Material"], row["MatlWrhsStkQtyInMatlBaseUnit"]
    payload = {
        "SalesOrderType": "OR",
        "SalesOrganization": "1000",
        "DistributionChannel": area["DistributionChannel"],
        "OrganizationDivision": area["Division"],
        "SoldToParty": area["Customer"],
        "PurchaseOrderByCustomer": "PROP",
        "to_Item": [{"Material": material, "RequestedQuantity": str(ordered), "ProductionPlant": "1010"}],
    }
    backend.orders.create(payload, now)
    now += timedelta(days=1)
    backend.advance(now)
    (header,) = backend.store.table("A_OutbDeliveryHeader").all()
    number = header["DeliveryDocument"]
    documents = backend.documents
    expected: Decimal | None = None
    names = {"set": "SetPickingQuantityWithBaseQuantity", "add": "PickOneItemWithBaseQuantity", "full": "PickOneItem"}
    for kind, qty in picks:
        args = {"DeliveryDocument": number, "DeliveryDocumentItem": "10"}
        if kind != "full":
            args |= {"ActualDeliveredQtyInBaseUnit": Decimal(qty), "BaseUnit": row["MaterialBaseUnit"]}
        target = Decimal(ordered) if kind == "full" else Decimal(qty) + ((expected or 0) if kind == "add" else 0)
        with backend.store.journal.transaction():
            try:
                documents.pick(names[kind], args, now)
            except SapError as exc:
                assert exc.code == "VL/367" and target > ordered
                continue
        expected = target
    issued = Decimal(ordered) if expected is None else expected
    try:
        with backend.store.journal.transaction():
            documents.post_goods_issue(number, now)
    except SapError as exc:
        assert exc.code == "VL/373" and issued == 0
        issued = Decimal(0)
    if reverse and issued:
        with backend.store.journal.transaction():
            documents.reverse_goods_issue(number, now)
    stock_now = backend.atp.unrestricted_row(material, "1010")["MatlWrhsStkQtyInMatlBaseUnit"]
    assert stock_now == stock - (0 if reverse else issued)
    (item,) = backend.store.table("A_SalesOrderItem").all()
    lines = backend.atp.lines_of(item)
    delivered = sum((x["DeliveredQtyInOrderQtyUnit"] for x in lines), Decimal(0))
    still_open = sum((x["OpenConfdDelivQtyInOrdQtyUnit"] for x in lines), Decimal(0))
    (delivery_item,) = backend.store.table("A_OutbDeliveryItem").all()
    in_delivery = delivery_item["ActualDeliveryQuantity"]
    assert delivered == in_delivery and delivered + still_open == ordered
    assert item["DeliveryStatus"] == ("C" if delivered == ordered else "B" if delivered else "A")
    promised = ordered - (0 if reverse or not issued else issued)
    assert backend.atp.available(material, "1010") == stock_now - promised
    now += timedelta(days=1, hours=1)
    backend.advance(now)
    bills = backend.store.table("A_BillingDocumentItem").all()
    assert [b["BillingQuantity"] for b in bills] == ([] if reverse or not issued else [issued])
