"""The SAP S/4HANA emulator over real HTTP, against sap_contract.md and sap_report.md §3 and §8."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
import requests

from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 9, 200
EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"
SERVICES = {
    "API_SALES_ORDER_SRV": {
        "A_SalesOrder": ["SalesOrder"],
        "A_SalesOrderItem": ["SalesOrder", "SalesOrderItem"],
        "A_SalesOrderScheduleLine": ["SalesOrder", "SalesOrderItem", "ScheduleLine"],
    },
    "API_MATERIAL_STOCK_SRV": {"A_MaterialStock": ["Material"]},
    "API_PRODUCT_AVAILY_INFO_BASIC": {},
    "API_OUTBOUND_DELIVERY_SRV;v=0002": {
        "A_OutbDeliveryHeader": ["DeliveryDocument"],
        "A_OutbDeliveryItem": ["DeliveryDocument", "DeliveryDocumentItem"],
    },
    "API_BILLING_DOCUMENT_SRV": {"A_BillingDocument": ["BillingDocument"]},
    "API_BUSINESS_PARTNER": {
        "A_Customer": ["Customer"],
        "A_CustomerSalesArea": ["Customer", "SalesOrganization", "DistributionChannel", "Division"],
    },
    "API_PHYSICAL_INVENTORY_DOC_SRV": {
        "A_PhysInventoryDocHeader": ["FiscalYear", "PhysicalInventoryDocument"],
        "A_PhysInventoryDocItem": ["FiscalYear", "PhysicalInventoryDocument", "PhysicalInventoryDocumentItem"],
    },
}


class Sap:
    """Plain HTTP with one session (cookies) and one CSRF token, as a well-behaved client."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info["systems"]["sap_s4"]
        self.control = info["control_url"]
        self.root = self.info["service_root"]
        self.session = requests.Session()
        self.session.auth = (self.info["user"], self.info["password"])
        self.session.params = {"sap-client": "100"}
        self.session.headers["Accept"] = "application/json"

    def url(self, service: str, path: str = "") -> str:
        return f"{self.root}/{service}/{path}"

    def fetch_token(self) -> str:
        r = self.session.head(self.url("API_SALES_ORDER_SRV"), headers={"x-csrf-token": "Fetch"}, timeout=10)
        assert r.status_code == 200
        self.session.headers["x-csrf-token"] = r.headers["x-csrf-token"]
        return r.headers["x-csrf-token"]

    def get(self, service: str, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url(service, path), params=params, timeout=30)

    def d(self, service: str, path: str, **params: Any) -> Any:
        r = self.get(service, path, **params)
        assert r.status_code == 200, r.text
        return r.json()["d"]

    def results(self, service: str, path: str, **params: Any) -> list[dict[str, Any]]:
        return self.d(service, path, **params)["results"]

    def post_order(self, body: dict[str, Any]) -> requests.Response:
        if "x-csrf-token" not in self.session.headers:
            self.fetch_token()
        return self.session.post(self.url("API_SALES_ORDER_SRV", "A_SalesOrder"), json=body, timeout=30)

    def available(self, material: str, plant: str = "1010") -> Decimal:
        d = self.d(
            "API_PRODUCT_AVAILY_INFO_BASIC",
            "DetermineAvailabilityOf",
            Material=f"'{material}'",
            SupplyingPlant=f"'{plant}'",
            ATPCheckingRule="'A'",
            RequestedQuantityInBaseUnit="1M",
        )
        return Decimal(d["DetermineAvailabilityOf"]["AvailableQuantityInBaseUnit"])

    def control_post(self, path: str, body: Any) -> dict[str, Any]:
        r = requests.post(self.control + path, json=body, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        # These tests are about SAP issuing deliveries itself; 3PL plants wait for the hub, see
        # test_sap_goods_issue.py.
        body = {"module": "config", "fields": {"hub_goods_issue_plants": []}}
        r = requests.post(f"{info['control_url']}/records/sap_s4", json=body, timeout=10)
        assert r.status_code == 200 and r.json()["record"]["hub_goods_issue_plants"] == [], r.text
        yield info


@pytest.fixture(scope="module")
def sap(sandbox: dict[str, Any]) -> Sap:
    return Sap(sandbox)


@pytest.fixture(scope="module")
def customer(sap: Sap) -> dict[str, Any]:
    return sap.results(
        "API_BUSINESS_PARTNER",
        "A_CustomerSalesArea",
        **{"$filter": "SalesOrganization eq '1000' and OrderIsBlockedForCustomer eq ''", "$top": "1"},
    )[0]


class Materials:
    """Hands out materials not used by another test, so availability checks do not interfere."""

    def __init__(self, sap: Sap) -> None:
        self.sap = sap
        self.used: set[str] = set()

    def take(self, condition: str) -> tuple[str, Decimal]:
        rows = self.sap.results(
            "API_MATERIAL_STOCK_SRV",
            "A_MatlStkInAcctMod",
            **{"$filter": f"Plant eq '1010' and InventoryStockType eq '01' and {condition}", "$orderby": "Material"},
        )
        for row in rows:
            if row["Material"] not in self.used:
                self.used.add(row["Material"])
                return row["Material"], Decimal(row["MatlWrhsStkQtyInMatlBaseUnit"])
        raise AssertionError(f"no unused material with {condition}")


@pytest.fixture(scope="module")
def materials(sap: Sap) -> Materials:
    return Materials(sap)


def order_body(customer: dict[str, Any], po: str, *lines: tuple[str, int | str]) -> dict[str, Any]:
    return {
        "SalesOrderType": "OR",
        "SalesOrganization": customer["SalesOrganization"],
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": customer["Customer"],
        "PurchaseOrderByCustomer": po,
        "to_Item": {
            "results": [
                {"SalesOrderItem": str(10 * n), "Material": m, "RequestedQuantity": str(q), "ProductionPlant": "1010"}
                for n, (m, q) in enumerate(lines, start=1)
            ]
        },
    }


def schedule_lines(sap: Sap, order: str) -> list[dict[str, Any]]:
    return sap.results("API_SALES_ORDER_SRV", f"A_SalesOrder('{order}')/to_Item", **{"$expand": "to_ScheduleLine"})


# -- metadata, auth, CSRF ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", list(SERVICES))
def test_metadata_declares_the_contract(sap: Sap, service: str) -> None:
    r = sap.get(service, "$metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)  # noqa: S314 - our own emulator's answer
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None and schema.get("Namespace") == service.split(";")[0]
    types = {et.get("Name"): et for et in schema.findall(f"{EDM}EntityType")}
    sets = {es.get("Name"): es.get("EntityType") for es in schema.iter(f"{EDM}EntitySet")}
    for name, keys in SERVICES[service].items():
        et = types[sets[name].split(".")[-1]]
        assert [k.get("Name") for k in et.find(f"{EDM}Key")] == keys
    if service == "API_SALES_ORDER_SRV":
        props = {p.get("Name"): p.attrib for p in types["A_SalesOrderType"].findall(f"{EDM}Property")}
        assert props["LastChangeDateTime"]["ConcurrencyMode"] == "Fixed"
        assert props["TotalNetAmount"]["Type"] == "Edm.Decimal" and props["TotalNetAmount"]["Scale"] == "3"
        navs = {n.get("Name") for n in types["A_SalesOrderItemType"].findall(f"{EDM}NavigationProperty")}
        assert {"to_ScheduleLine", "to_PricingElement"} <= navs
    if service == "API_PRODUCT_AVAILY_INFO_BASIC":
        functions = {f.get("Name") for f in schema.iter(f"{EDM}FunctionImport")}
        assert functions == {"DetermineAvailabilityOf", "DetermineAvailabilityAt", "CalculateAvailabilityTimeseries"}


def test_service_document_and_unknown_service(sap: Sap) -> None:
    assert "A_SalesOrder" in sap.d("API_SALES_ORDER_SRV", "")["EntitySets"]
    r = sap.get("API_OUTBOUND_DELIVERY_SRV", "A_OutbDeliveryHeader")  # without ;v=0002
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "/IWFND/MED/170"


@pytest.mark.parametrize(
    ("auth", "client"),
    [(None, "100"), (("HUB_COMM_USER", "wrong"), "100"), ("good", "200")],
    ids=["no-credentials", "wrong-password", "unknown-client"],
)
def test_logon_failures_are_401(sap: Sap, auth: Any, client: str) -> None:
    credentials = (sap.info["user"], sap.info["password"]) if auth == "good" else auth
    r = requests.get(
        sap.url("API_SALES_ORDER_SRV", "A_SalesOrder"), auth=credentials, params={"sap-client": client}, timeout=10
    )
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="SAP NetWeaver Application Server [S4H/100]"'
    assert r.json()["error"]["message"]["lang"] == "en"


def test_bearer_token_is_accepted(sap: Sap) -> None:
    headers = {"Authorization": f"Bearer {sap.info['bearer_token']}", "Accept": "application/json"}
    r = requests.get(sap.url("API_BUSINESS_PARTNER", "A_Customer"), params={"$top": "1"}, headers=headers, timeout=10)
    assert r.status_code == 200


def test_csrf_fetch_required_and_expiry(sap: Sap, customer: dict[str, Any], materials: Materials) -> None:
    client = Sap({"systems": {"sap_s4": sap.info}, "control_url": sap.control})
    body = order_body(customer, "CSRF-1", (materials.take("MatlWrhsStkQtyInMatlBaseUnit ge 10M")[0], 1))
    url = client.url("API_SALES_ORDER_SRV", "A_SalesOrder")

    def refused(r: requests.Response) -> None:
        assert r.status_code == 403
        assert r.headers["x-csrf-token"] == "Required"
        assert r.headers["content-type"].startswith("text/plain")
        assert r.content == b"CSRF token validation failed"

    refused(client.session.post(url, json=body, timeout=10))  # no token at all
    r = client.session.get(
        client.url("API_SALES_ORDER_SRV", "$metadata"), headers={"x-csrf-token": "fetch"}, timeout=10
    )
    token = r.headers["x-csrf-token"]
    assert len(token) == 24 and "SAP_SESSIONID_S4H_100" in r.cookies
    again = client.session.head(client.url("API_SALES_ORDER_SRV"), headers={"x-csrf-token": "Fetch"}, timeout=10)
    assert again.headers["x-csrf-token"] == token  # stable within the session
    refused(
        requests.post(
            url,
            json=body,
            auth=client.session.auth,
            params={"sap-client": "100"},
            headers={"x-csrf-token": token},
            timeout=10,
        )
    )  # token without its session cookie
    client.session.headers["x-csrf-token"] = token
    assert client.session.post(url, json=body, timeout=10).status_code == 201
    expired = client.control_post("/faults", {"system": "sap_s4", "expire_tokens": True})
    assert expired["expired_tokens"]["sap_s4"] >= 1
    refused(client.session.post(url, json=body, timeout=10))
    client.fetch_token()
    assert client.session.post(url, json=body, timeout=10).status_code == 201


# -- orders and ATP ---------------------------------------------------------------------------------


def test_deep_insert_numbers_prices_and_confirms(sap: Sap, customer: dict[str, Any], materials: Materials) -> None:
    plenty, stock = materials.take("MatlWrhsStkQtyInMatlBaseUnit ge 30M")
    scarce, scarce_stock = materials.take("MatlWrhsStkQtyInMatlBaseUnit ge 2M and MatlWrhsStkQtyInMatlBaseUnit le 20M")
    body = order_body(customer, "DEEP-1", (plenty, 3), (scarce, int(scarce_stock) + 5))
    body["to_Item"]["results"][0]["to_PricingElement"] = {
        "results": [{"ConditionType": "PPR0", "ConditionRateValue": "12.345", "ConditionCurrency": "CNY"}]
    }
    r = sap.post_order(body)
    assert r.status_code == 201, r.text
    created = r.json()["d"]
    number = created["SalesOrder"]
    assert number.isdigit() and r.headers["location"].endswith(f"A_SalesOrder('{number}')")
    items = created["to_Item"]["results"]
    assert [i["SalesOrderItem"] for i in items] == ["10", "20"]
    assert items[0]["NetAmount"] == "37.04"  # 3 × 12.345, at the currency's two decimals
    assert items[0]["to_PricingElement"]["results"][0]["ConditionRateValue"] == "12.345000000"
    assert "__deferred" in items[0]["to_ScheduleLine"]
    assert created["TotalNetAmount"] == str(Decimal("37.04") + Decimal(items[1]["NetAmount"]))
    second = sap.post_order(order_body(customer, "DEEP-2", (plenty, 1)))
    assert int(second.json()["d"]["SalesOrder"]) == int(number) + 1
    lines = {i["SalesOrderItem"]: i["to_ScheduleLine"]["results"] for i in schedule_lines(sap, number)}
    assert lines["10"][0]["ConfdOrderQtyByMatlAvailCheck"] == "3.000"
    assert lines["20"][0]["ConfdOrderQtyByMatlAvailCheck"] == f"{scarce_stock:.3f}"  # the rest is backordered
    assert lines["20"][0]["ScheduleLineOrderQuantity"] == f"{scarce_stock + 5:.3f}"
    assert sap.available(plenty) == stock - 4
    assert sap.available(scarce) == 0


def test_validation_errors_name_the_field(sap: Sap, customer: dict[str, Any]) -> None:
    body = order_body(customer, "BAD-1", ("NO-SUCH-PART", 1))
    del body["SalesOrganization"]
    r = sap.post_order(body)
    assert r.status_code == 400
    error = r.json()["error"]
    targets = {d["target"]: d["code"] for d in error["innererror"]["errordetails"]}
    assert targets["SalesOrganization"] == "V1/320"
    assert targets["to_Item(1)/Material"] == "V1/382"
    assert error["innererror"]["application"]["service_id"] == "API_SALES_ORDER_SRV"
    assert sap.results("API_SALES_ORDER_SRV", "A_SalesOrder", **{"$filter": "PurchaseOrderByCustomer eq 'BAD-1'"}) == []


# -- queries and paging ------------------------------------------------------------------------------


def test_filter_orderby_top_skip_count(sap: Sap) -> None:
    where = "Plant eq '1010' and (InventoryStockType eq '02' or InventoryStockType eq '07')"
    d = sap.d(
        "API_MATERIAL_STOCK_SRV",
        "A_MatlStkInAcctMod",
        **{"$filter": where, "$orderby": "InventoryStockType desc,Material asc", "$inlinecount": "allpages"},
    )
    rows = d["results"]
    assert d["__count"] == str(len(rows)) and rows
    keys = [(r["InventoryStockType"], r["Material"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (-int(k[0]), k[1]))
    count = sap.get("API_MATERIAL_STOCK_SRV", "A_MatlStkInAcctMod/$count", **{"$filter": where})
    assert count.text == str(len(rows)) and count.headers["content-type"].startswith("text/plain")
    window = sap.results(
        "API_MATERIAL_STOCK_SRV",
        "A_MatlStkInAcctMod",
        **{
            "$filter": where,
            "$orderby": "InventoryStockType desc,Material asc",
            "$skip": "2",
            "$top": "3",
            "$select": "Material,InventoryStockType",
        },
    )
    assert [(r["InventoryStockType"], r["Material"]) for r in window] == keys[2:5]
    assert set(window[0]) == {"__metadata", "Material", "InventoryStockType"}
    starts = sap.results(
        "API_BUSINESS_PARTNER",
        "A_Customer",
        **{"$filter": "startswith(Customer,'100011') and not (Customer eq '1000110')"},
    )
    assert [c["Customer"] for c in starts] == [f"10001{n}" for n in range(11, 20)]
    bad = sap.get("API_BUSINESS_PARTNER", "A_Customer", **{"$filter": "NoSuchField eq 1"})
    assert bad.status_code == 400 and "NoSuchField" in bad.json()["error"]["message"]["value"]


def test_next_links_page_to_the_end(sap: Sap) -> None:
    sap.control_post("/records/sap_s4", {"module": "config", "fields": {"page_size": 250}})
    try:
        params = {
            "$filter": "Plant eq '1010' and InventoryStockType eq '01'",
            "$inlinecount": "allpages",
            "$select": "Material",
        }
        d = sap.d("API_MATERIAL_STOCK_SRV", "A_MatlStkInAcctMod", **params)
        total = int(d["__count"])
        seen = [r["Material"] for r in d["results"]]
        pages = 1
        while "__next" in d:
            assert d["__next"].startswith(sap.root)  # same origin as the request
            r = sap.session.get(d["__next"], params={}, timeout=30)
            d = r.json()["d"]
            seen += [r["Material"] for r in d["results"]]
            pages += 1
        assert len(seen) == total == len(set(seen)) and seen == sorted(seen)
        assert pages == -(-total // 250) and total > 1000
        skip_paged: list[str] = []
        while len(skip_paged) < total:
            page = sap.results(
                "API_MATERIAL_STOCK_SRV",
                "A_MatlStkInAcctMod",
                **{**params, "$orderby": "Material", "$top": "700", "$skip": str(len(skip_paged))},
            )
            skip_paged += [r["Material"] for r in page]
        assert skip_paged == seen
    finally:
        sap.control_post("/records/sap_s4", {"module": "config", "fields": {"page_size": 1000}})


def test_not_found_and_read_only(sap: Sap) -> None:
    r = sap.get("API_SALES_ORDER_SRV", "A_SalesOrder('9999999')")
    assert r.status_code == 404
    assert r.json()["error"]["message"]["value"] == "Resource not found for the segment 'A_SalesOrder'."
    r = sap.get("API_SALES_ORDER_SRV", "A_NoSuchSet")
    assert r.json()["error"]["message"]["value"] == "Resource not found for the segment 'A_NoSuchSet'."
    sap.fetch_token()
    r = sap.session.post(sap.url("API_MATERIAL_STOCK_SRV", "A_MaterialStock"), json={"Material": "X"}, timeout=10)
    assert r.status_code == 405


# -- $batch ------------------------------------------------------------------------------------------


def _batch_body(parts: list[str]) -> tuple[bytes, str]:
    lines: list[str] = []
    for n, part in enumerate(parts):
        lines.append("--batch_test")
        if part.startswith("GET "):
            lines += [
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                "",
                part,
                "Accept: application/json",
                "",
                "",
            ]
        else:
            lines += [
                f"Content-Type: multipart/mixed; boundary=changeset_{n}",
                "",
                f"--changeset_{n}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {n}",
                "",
                "POST A_SalesOrder HTTP/1.1",
                "Content-Type: application/json",
                "Accept: application/json",
                "",
                part,
                f"--changeset_{n}--",
            ]
    lines.append("--batch_test--")
    return "\r\n".join(lines).encode(), "multipart/mixed; boundary=batch_test"


def _parse_parts(r: requests.Response) -> list[Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + r.headers["content-type"].encode() + b"\r\n\r\n" + r.content
    )
    out: list[Any] = []
    for part in message.iter_parts():
        if part.get_content_type() == "multipart/mixed":
            out.append([int(p.get_payload().split()[1]) for p in part.iter_parts()])
        else:
            payload = part.get_payload()
            status = int(payload.split()[1])
            out.append((status, payload.split("\r\n\r\n", 1)[1]))
    return out


def test_batch_failed_changeset_is_isolated(sap: Sap, materials: Materials) -> None:
    areas = sap.results(
        "API_BUSINESS_PARTNER",
        "A_CustomerSalesArea",
        **{"$filter": "SalesOrganization eq '1000' and OrderIsBlockedForCustomer eq ''", "$top": "3"},
    )
    blocked = areas[2]
    sap.control_post(
        "/records/sap_s4",
        {"module": "A_Customer", "id": blocked["Customer"], "fields": {"OrderIsBlockedForCustomer": "01"}},
    )
    material = materials.take("MatlWrhsStkQtyInMatlBaseUnit ge 10M")[0]
    bodies = [
        json.dumps(order_body(c, f"BATCH-{n}", (material, 1))) for n, c in enumerate([areas[0], blocked, areas[1]])
    ]
    body, content_type = _batch_body(
        [*bodies, "GET A_SalesOrder?$filter=PurchaseOrderByCustomer%20eq%20'BATCH-0' HTTP/1.1"]
    )
    sap.fetch_token()
    r = sap.session.post(
        sap.url("API_SALES_ORDER_SRV", "$batch"), data=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert r.status_code == 202, r.text
    first, failed, third, read = _parse_parts(r)
    assert first == [201] and third == [201]
    status, error = failed
    assert status == 400
    assert json.loads(error)["error"]["code"] == "V1/462"
    assert len(json.loads(read[1])["d"]["results"]) == 1
    found = sap.results(
        "API_SALES_ORDER_SRV",
        "A_SalesOrder",
        **{
            "$filter": "PurchaseOrderByCustomer eq 'BATCH-0' or PurchaseOrderByCustomer eq 'BATCH-1' "
            "or PurchaseOrderByCustomer eq 'BATCH-2'"
        },
    )
    assert sorted(o["PurchaseOrderByCustomer"] for o in found) == ["BATCH-0", "BATCH-2"]
    assert sap.available(material) == materials_stock(sap, material) - 2


def materials_stock(sap: Sap, material: str) -> Decimal:
    row = sap.results(
        "API_MATERIAL_STOCK_SRV",
        f"A_MaterialStock('{material}')/to_MatlStkInAcctMod",
        **{"$filter": "Plant eq '1010' and InventoryStockType eq '01'"},
    )[0]
    return Decimal(row["MatlWrhsStkQtyInMatlBaseUnit"])


# -- ETags -------------------------------------------------------------------------------------------


def test_etag_precondition_codes(sap: Sap, customer: dict[str, Any], materials: Materials) -> None:
    material = materials.take("MatlWrhsStkQtyInMatlBaseUnit ge 10M")[0]
    number = sap.post_order(order_body(customer, "ETAG-1", (material, 1))).json()["d"]["SalesOrder"]
    url = sap.url("API_SALES_ORDER_SRV", f"A_SalesOrder('{number}')")
    r = sap.session.get(url, timeout=10)
    etag = r.headers["etag"]
    assert etag == r.json()["d"]["__metadata"]["etag"]
    change = {"PurchaseOrderByCustomer": "ETAG-1B"}
    assert sap.session.patch(url, json=change, timeout=10).status_code == 428
    assert sap.session.patch(url, json=change, headers={"If-Match": 'W/"x"'}, timeout=10).status_code == 412
    ok = sap.session.patch(url, json=change, headers={"If-Match": etag}, timeout=10)
    assert ok.status_code == 204 and ok.content == b""
    assert ok.headers["etag"] != etag
    assert sap.session.delete(url, headers={"If-Match": etag}, timeout=10).status_code == 412
    assert sap.session.delete(url, headers={"If-Match": ok.headers["etag"]}, timeout=10).status_code == 204
    assert sap.session.get(url, timeout=10).status_code == 404


# -- follow-on documents ----------------------------------------------------------------------------


def test_delivery_goods_issue_and_billing_as_the_clock_moves(
    sap: Sap, customer: dict[str, Any], materials: Materials
) -> None:
    material, stock = materials.take("MatlWrhsStkQtyInMatlBaseUnit ge 20M")
    created = sap.post_order(order_body(customer, "FLOW-1", (material, 4))).json()["d"]
    number = created["SalesOrder"]
    assert (
        sap.results(
            "API_OUTBOUND_DELIVERY_SRV;v=0002",
            "A_OutbDeliveryItem",
            **{"$filter": f"ReferenceSDDocument eq '{number}'"},
        )
        == []
    )
    sap.control_post("/clock", {"advance_seconds": 86400})
    items = sap.results(
        "API_OUTBOUND_DELIVERY_SRV;v=0002", "A_OutbDeliveryItem", **{"$filter": f"ReferenceSDDocument eq '{number}'"}
    )
    assert [(i["Material"], i["ActualDeliveryQuantity"], i["ReferenceSDDocumentItem"]) for i in items] == [
        (material, "4.000", "000010")
    ]
    delivery = sap.d(
        "API_OUTBOUND_DELIVERY_SRV;v=0002",
        f"A_OutbDeliveryHeader('{items[0]['DeliveryDocument']}')",
        **{"$expand": "to_DeliveryDocumentItem"},
    )
    assert delivery["OverallGoodsMovementStatus"] == "C" and delivery["ActualGoodsMovementDate"].startswith("/Date(")
    assert len(delivery["to_DeliveryDocumentItem"]["results"]) == 1
    assert materials_stock(sap, material) == stock - 4
    assert (
        sap.results(
            "API_BILLING_DOCUMENT_SRV", "A_BillingDocument", **{"$filter": "PurchaseOrderByCustomer eq 'FLOW-1'"}
        )
        == []
    )
    sap.control_post("/clock", {"advance_seconds": 86400})
    bills = sap.results(
        "API_BILLING_DOCUMENT_SRV",
        "A_BillingDocument",
        **{"$filter": "PurchaseOrderByCustomer eq 'FLOW-1'", "$expand": "to_Item"},
    )
    assert len(bills) == 1
    bill = bills[0]
    net = Decimal(created["TotalNetAmount"])
    tax = (net * Decimal("0.13")).quantize(Decimal("0.01"))
    assert (Decimal(bill["TotalNetAmount"]), Decimal(bill["TaxAmount"])) == (net, tax)
    assert Decimal(bill["TotalGrossAmount"]) == net + tax
    item = bill["to_Item"]["results"][0]
    assert (item["SalesDocument"], item["ReferenceSDDocument"]) == (number, delivery["DeliveryDocument"])
    order = sap.d("API_SALES_ORDER_SRV", f"A_SalesOrder('{number}')")
    assert (order["OverallDeliveryStatus"], order["OverallSDProcessStatus"]) == ("C", "C")
    r = requests.get(f"{sap.control}/records/sap_s4/A_SalesOrder/{number}", timeout=10)
    assert (
        r.json()["record"]["to_Item"]["results"][0]["to_ScheduleLine"]["results"][0]["DeliveredQtyInOrderQtyUnit"]
        == "4.000"
    )


def test_goods_receipt_reconfirms_backorders_first_come_first_served(
    sap: Sap, customer: dict[str, Any], materials: Materials
) -> None:
    material, _ = materials.take("MatlWrhsStkQtyInMatlBaseUnit eq 0M")
    first = sap.post_order(order_body(customer, "BACK-1", (material, 10))).json()["d"]["SalesOrder"]
    second = sap.post_order(order_body(customer, "BACK-2", (material, 5))).json()["d"]["SalesOrder"]
    assert schedule_lines(sap, first)[0]["to_ScheduleLine"]["results"][0]["ConfdOrderQtyByMatlAvailCheck"] == "0.000"
    receipt = sap.control_post(
        "/records/sap_s4",
        {"module": "goods_receipt", "fields": {"Material": material, "Plant": "1010", "Quantity": 12}},
    )
    assert [(r["SalesOrder"], r["ConfdOrderQtyByMatlAvailCheck"]) for r in receipt["reconfirmed"]] == [
        (first, "10"),
        (second, "2"),
    ]

    def confirmed(order: str) -> Decimal:
        lines = schedule_lines(sap, order)[0]["to_ScheduleLine"]["results"]
        return sum((Decimal(line["ConfdOrderQtyByMatlAvailCheck"]) for line in lines), Decimal(0))

    assert (confirmed(first), confirmed(second)) == (10, 2)
    assert sap.available(material) == 0
    lines = schedule_lines(sap, first)[0]["to_ScheduleLine"]["results"]
    assert [line["ScheduleLine"] for line in lines] == ["1", "2"] and lines[1]["ScheduleLineOrderQuantity"] == "0.000"


# -- faults ------------------------------------------------------------------------------------------


def test_injected_faults_have_the_sap_shapes(sap: Sap) -> None:
    sap.control_post("/faults", {"system": "sap_s4", "burst_5xx": 1, "status_5xx": 503})
    try:
        r = sap.get("API_BUSINESS_PARTNER", "A_Customer")
        assert r.status_code == 503
        assert r.json()["error"]["innererror"]["Error_Resolution"]["SAP_Note"].startswith("See SAP Note 1797736")
        sap.control_post("/faults", {"system": "sap_s4", "burst_429": 1, "retry_after": 3})
        r = sap.get("API_BUSINESS_PARTNER", "A_Customer")
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        assert r.json()["fault"]["detail"]["errorcode"] == "policies.ratelimit.QuotaViolation"
    finally:
        requests.delete(sap.control + "/faults", timeout=10).raise_for_status()


def test_other_function_imports(sap: Sap, customer: dict[str, Any], materials: Materials) -> None:
    material, stock = materials.take("MatlWrhsStkQtyInMatlBaseUnit ge 10M")
    params = {"Material": f"'{material}'", "SupplyingPlant": "'1010'", "ATPCheckingRule": "'A'"}
    at = sap.d(
        "API_PRODUCT_AVAILY_INFO_BASIC",
        "DetermineAvailabilityAt",
        **params,
        RequestedUTCDateTime="datetimeoffset'2026-12-24T00:00:00Z'",
    )["DetermineAvailabilityAt"]
    assert (
        Decimal(at["AvailableQuantityInBaseUnit"]) == stock and at["PeriodStartUTCDateTime"] == "/Date(1798070400000)/"
    )
    series = sap.results("API_PRODUCT_AVAILY_INFO_BASIC", "CalculateAvailabilityTimeseries", **params)
    assert [Decimal(r["AvailableQuantityInBaseUnit"]) for r in series] == [stock]
    missing = sap.get("API_PRODUCT_AVAILY_INFO_BASIC", "DetermineAvailabilityOf", Material=f"'{material}'")
    assert missing.status_code == 400
    sap.post_order(order_body(customer, "FN-1", (material, 1)))
    sap.control_post("/clock", {"advance_seconds": 2 * 86400})
    bill = sap.results(
        "API_BILLING_DOCUMENT_SRV",
        "A_BillingDocument",
        **{"$filter": "PurchaseOrderByCustomer eq 'FN-1'", "$expand": "to_Item"},
    )[0]
    pdf = sap.d("API_BILLING_DOCUMENT_SRV", "GetPDF", BillingDocument=f"'{bill['BillingDocument']}'")["GetPDF"]
    assert base64.b64decode(pdf["BillingDocumentBinary"]).startswith(b"%PDF-")
    delivery = bill["to_Item"]["results"][0]["ReferenceSDDocument"]
    sap.fetch_token()
    r = sap.session.post(
        sap.url("API_OUTBOUND_DELIVERY_SRV;v=0002", "PostGoodsIssue"),
        params={"DeliveryDocument": f"'{delivery}'"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "VL/609"


# -- OAuth 2.0 client credentials (last: these move the clock and expire every token) -----------------


def oauth_token(sap: Sap, auth: Any = "good", **form: str) -> requests.Response:
    credentials = (sap.info["oauth_client_id"], sap.info["oauth_client_secret"]) if auth == "good" else auth
    return requests.post(sap.info["oauth_token_url"], data=form, auth=credentials, timeout=10)


def read_with(sap: Sap, bearer: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/json"}
    return requests.get(
        sap.url("API_BUSINESS_PARTNER", "A_Customer"),
        params={"$top": "1", "sap-client": "100"},
        headers=headers,
        timeout=10,
    )


def test_oauth_token_endpoint_grants_client_credentials(sap: Sap) -> None:
    assert sap.info["oauth_token_url"].endswith("/sap/bc/sec/oauth2/token")
    r = oauth_token(sap, grant_type="client_credentials")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert "API_SALES_ORDER_SRV_0001" in body["scope"].split()
    assert read_with(sap, body["access_token"]).status_code == 200
    scoped = oauth_token(sap, grant_type="client_credentials", scope="API_SALES_ORDER_SRV_0001").json()
    assert scoped["scope"] == "API_SALES_ORDER_SRV_0001" and scoped["access_token"] != body["access_token"]


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        (("HUB_OAUTH_CLIENT", "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ("good", {"grant_type": "password", "username": "x", "password": "y"}, 400, "unsupported_grant_type"),
        ("good", {}, 400, "unsupported_grant_type"),
        ("good", {"grant_type": "client_credentials", "scope": "SOMETHING_ELSE"}, 400, "invalid_scope"),
    ],
    ids=["wrong-secret", "no-client-auth", "password-grant", "no-grant", "unknown-scope"],
)
def test_oauth_token_endpoint_errors(sap: Sap, auth: Any, form: dict[str, str], status: int, error: str) -> None:
    r = oauth_token(sap, auth, **form)
    assert r.status_code == status
    assert r.json()["error"] == error and r.json()["error_description"]
    assert "access_token" not in r.json()
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Basic realm=")


def test_oauth_tokens_expire_by_clock_and_by_fault(sap: Sap) -> None:
    def logon_failed(r: requests.Response) -> None:
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Basic realm="SAP NetWeaver Application Server [S4H/100]"'
        assert r.json()["error"]["code"] == "/IWFND/CM_CONSUMER/101"

    logon_failed(read_with(sap, "not-a-token-the-server-issued"))
    aging = oauth_token(sap, grant_type="client_credentials").json()["access_token"]
    sap.control_post("/clock", {"advance_seconds": 3599})
    assert read_with(sap, aging).status_code == 200
    sap.control_post("/clock", {"advance_seconds": 2})
    logon_failed(read_with(sap, aging))
    revoked = oauth_token(sap, grant_type="client_credentials").json()["access_token"]
    assert read_with(sap, revoked).status_code == 200
    expired = sap.control_post("/faults", {"system": "sap_s4", "expire_tokens": True})
    assert expired["expired_tokens"]["sap_s4"] >= 1
    logon_failed(read_with(sap, revoked))
    assert read_with(sap, sap.info["bearer_token"]).status_code == 200, "the static bearer is not an issued token"
