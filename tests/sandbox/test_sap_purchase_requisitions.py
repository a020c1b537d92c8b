"""The SAP emulator's purchase-requisition service (API_PURCHASEREQ_PROCESS_SRV, issue 14) over HTTP.

A deep insert of header and items gets a number from NB's range and items 10, 20, ...; refusals
are SAP's error body with every faulty field in ``errordetails`` and save nothing; requisitions
are read by key (item keys with or without leading zeros), by ``$filter`` on the items (external
reference, material, plant) and with ``$expand``; the control API lists them; a ``$batch``
changeset that fails gives its number back; pyodata creates and reads through the emulator's
metadata; hypothesis throws malformed bodies at the deep insert and never gets a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fuzzing
import pyodata
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.sap.services import SERVICES
from sandbox.seed_data import generate

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 14, 40
SRV = "API_PURCHASEREQ_PROCESS_SRV"
JSON = {"Content-Type": "application/json"}
HEADER_SET, ITEM_SET = "A_PurchaseRequisitionHeader", "A_PurchaseRequisitionItem"
INVALID = "/IWBEP/CM_MGW_RT/021"


def sap_date(day: date) -> str:
    return f"/Date({int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)})/"


class Sap:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info["systems"]["sap_s4"]
        self.control = info["control_url"]
        self.root = self.info["service_root"]
        self.session = requests.Session()
        self.session.auth = (self.info["user"], self.info["password"])
        self.session.headers["Accept"] = "application/json"
        r = self.session.head(f"{self.root}/{SRV}/", headers={"x-csrf-token": "Fetch"}, timeout=10)
        self.session.headers["x-csrf-token"] = r.headers["x-csrf-token"]

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.root}/{SRV}/{path}", **kwargs)

    def create(self, body: Any) -> requests.Response:
        return self.request("POST", HEADER_SET, data=json.dumps(body), headers=JSON)

    def results(self, path: str, **params: str) -> list[dict[str, Any]]:
        r = self.request("GET", path, params=params)
        assert r.status_code == 200, r.text
        return r.json()["d"]["results"]

    def count(self) -> int:
        return int(self.request("GET", f"{HEADER_SET}/$count").text)

    def records(self, record_id: str = "all") -> requests.Response:
        """``GET /_sandbox/records/sap_s4/purchase_requisitions/<all | number>``: ``{"record": ...}``."""
        return requests.get(f"{self.control}/records/sap_s4/purchase_requisitions/{record_id}", timeout=10)


def assert_sap_error(r: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    error = r.json()["error"]
    assert error["message"]["lang"] == "en" and error["message"]["value"]
    assert error["innererror"]["application"]["service_id"] == SRV
    assert error["innererror"]["errordetails"]
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    yield from fuzzing.module_sandbox(SEED, ORDERS)


@pytest.fixture(scope="module")
def sap(sandbox: dict[str, Any]) -> Sap:
    return Sap(sandbox)


@pytest.fixture(scope="module")
def parts() -> dict[str, list[str]]:
    """Materials by plant, from the same seed the sandbox runs."""
    data = generate(SEED, ORDERS)
    by_plant: dict[str, list[str]] = {"1010": [], "1020": [], "2010": []}
    for m in data.materials:
        for plant in m.plants:
            by_plant[plant].append(m.number)
    return by_plant


def item(material: str, plant: str = "1010", quantity: str = "10", **extra: Any) -> dict[str, Any]:
    return {
        "Material": material,
        "Plant": plant,
        "RequestedQuantity": quantity,
        "DeliveryDate": sap_date(date(2026, 3, 2)),
        **extra,
    }


# -- create and read -------------------------------------------------------------------------------


def test_deep_insert_numbers_the_document_and_items(sap: Sap, parts: dict[str, list[str]]) -> None:
    a, b = parts["1010"][:2]
    r = sap.create(
        {
            "PurchaseRequisitionType": "NB",
            "PurReqnDescription": "Replenishment 2026-W10 1010",
            "to_PurchaseReqnItem": {
                "results": [
                    item(a, PurReqnExternalReference="HUB-T1-A", PurchaseRequisitionItemText="brake pads"),
                    item(b, quantity="24", PurReqnExternalReference="hub-t1-b", PurchasingGroup="002"),
                ]
            },
        }
    )
    assert r.status_code == 201, r.text
    d = r.json()["d"]
    number = d["PurchaseRequisition"]
    assert len(number) == 10 and number.startswith("00100000")
    assert d["PurchaseRequisitionType"] == "NB" and d["PurReqnDescription"] == "Replenishment 2026-W10 1010"
    assert r.headers["Location"].endswith(f"{HEADER_SET}('{number}')")
    items = d["to_PurchaseReqnItem"]["results"]
    assert [i["PurchaseRequisitionItem"] for i in items] == ["10", "20"]
    first, second = items
    assert first["Material"] == a and first["Plant"] == "1010" and first["RequestedQuantity"] == "10.000"
    assert first["BaseUnit"] == "PC" and first["PurchasingOrganization"] == "1000"
    assert first["PurchasingGroup"] == "001" and second["PurchasingGroup"] == "002"
    assert first["DeliveryDate"] == sap_date(date(2026, 3, 2))
    assert first["PurReqnExternalReference"] == "HUB-T1-A"
    assert second["PurReqnExternalReference"] == "HUB-T1-B"  # SAP's domain is upper case
    assert first["PurReqnItemCurrency"] == "CNY" and Decimal(first["ItemNetAmount"]) > 0
    assert first["IsDeleted"] == "" and first["ProcessingStatus"] == "N"
    # Read back by key, with and without leading zeros on the item.
    header = sap.request("GET", f"{HEADER_SET}('{number}')", params={"$expand": "to_PurchaseReqnItem"}).json()["d"]
    assert [i["Material"] for i in header["to_PurchaseReqnItem"]["results"]] == [a, b]
    for key in ("10", "00010"):
        got = sap.request("GET", f"{ITEM_SET}(PurchaseRequisition='{number}',PurchaseRequisitionItem='{key}')")
        assert got.status_code == 200 and got.json()["d"]["Material"] == a


def test_items_numbered_by_the_client_and_bare_lists(sap: Sap, parts: dict[str, list[str]]) -> None:
    a, b = parts["2010"][:2]
    r = sap.create(
        {
            "to_PurchaseReqnItem": [
                item(a, "2010", PurchaseRequisitionItem="00030"),
                item(b, "2010", PurchaseRequisitionPrice="12.5", PurReqnItemCurrency="EUR"),
            ]
        }
    )
    assert r.status_code == 201, r.text
    items = r.json()["d"]["to_PurchaseReqnItem"]["results"]
    assert [i["PurchaseRequisitionItem"] for i in items] == ["30", "40"]
    assert items[1]["PurchasingOrganization"] == "2000"
    assert items[1]["ItemNetAmount"] == "125.00" and items[1]["PurReqnItemCurrency"] == "EUR"


def test_filter_items_by_external_reference_material_and_plant(sap: Sap, parts: dict[str, list[str]]) -> None:
    a, b = parts["1010"][2:4]
    numbers = []
    for ref in ("HUB-FILTER-1", "HUB-FILTER-2"):
        r = sap.create({"to_PurchaseReqnItem": [item(a, PurReqnExternalReference=ref), item(b)]})
        assert r.status_code == 201, r.text
        numbers.append(r.json()["d"]["PurchaseRequisition"])
    found = sap.results(ITEM_SET, **{"$filter": "PurReqnExternalReference eq 'HUB-FILTER-2'"})
    assert [(i["PurchaseRequisition"], i["Material"]) for i in found] == [(numbers[1], a)]
    by_material = sap.results(
        ITEM_SET, **{"$filter": f"Material eq '{b}' and Plant eq '1010'", "$orderby": "PurchaseRequisition"}
    )
    assert [i["PurchaseRequisition"] for i in by_material] == numbers
    expanded = sap.results(
        ITEM_SET, **{"$filter": "startswith(PurReqnExternalReference,'HUB-FILTER')", "$expand": "to_PurchaseReqn"}
    )
    assert {i["to_PurchaseReqn"]["PurchaseRequisition"] for i in expanded} == set(numbers)
    assert sap.results(ITEM_SET, **{"$filter": "PurReqnExternalReference eq 'NOBODY'"}) == []


def test_records_route_lists_what_was_created(sap: Sap, parts: dict[str, list[str]]) -> None:
    (a,) = parts["1020"][:1]
    r = sap.create({"PurReqnDescription": "records", "to_PurchaseReqnItem": [item(a, "1020", "5")]})
    number = r.json()["d"]["PurchaseRequisition"]
    listing = sap.records().json()["record"]
    assert listing["count"] == len(listing["records"]) == sap.count()
    one = sap.records(number).json()["record"]
    assert one["PurchaseRequisition"] == number and one["PurReqnDescription"] == "records"
    assert one["items"][0]["Material"] == a and Decimal(one["items"][0]["RequestedQuantity"]) == 5
    assert one["items"][0]["DeliveryDate"] == "2026-03-02"
    assert sap.records("0019999999").status_code == 404


def test_validation_only_saves_nothing(sap: Sap, parts: dict[str, list[str]]) -> None:
    before = sap.count()
    r = sap.create({"PurReqnDoOnlyValidation": True, "to_PurchaseReqnItem": [item(parts["1010"][0])]})
    assert r.status_code == 201 and r.json()["d"]["PurchaseRequisition"] == ""
    assert "Location" not in r.headers and sap.count() == before


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "target"),
    [
        ({"Material": "SP-00000"}, "M3/305", "to_PurchaseReqnItem(1)/Material"),
        ({"Material": ""}, "06/026", "to_PurchaseReqnItem(1)/Material"),
        ({"Plant": "9999"}, "06/211", "to_PurchaseReqnItem(1)/Plant"),
        ({"RequestedQuantity": "0"}, "06/202", "to_PurchaseReqnItem(1)/RequestedQuantity"),
        ({"RequestedQuantity": "-3"}, "06/202", "to_PurchaseReqnItem(1)/RequestedQuantity"),
        ({"RequestedQuantity": "1.5"}, "06/202", "to_PurchaseReqnItem(1)/RequestedQuantity"),
        ({"DeliveryDate": None}, "06/203", "to_PurchaseReqnItem(1)/DeliveryDate"),
        ({"BaseUnit": "KG"}, "06/204", "to_PurchaseReqnItem(1)/BaseUnit"),
        ({"PurchasingOrganization": "2000"}, "06/205", "to_PurchaseReqnItem(1)/PurchasingOrganization"),
        ({"PurchasingGroup": "999"}, "06/206", "to_PurchaseReqnItem(1)/PurchasingGroup"),
        ({"StorageLocation": "0002"}, "06/207", "to_PurchaseReqnItem(1)/StorageLocation"),
        ({"PurchaseRequisitionPrice": "5"}, "06/208", "to_PurchaseReqnItem(1)/PurReqnItemCurrency"),
        ({"PurchaseRequisitionType": "FO"}, "06/201", "to_PurchaseReqnItem(1)/PurchaseRequisitionType"),
        ({"AccountAssignmentCategory": "K"}, "06/210", "to_PurchaseReqnItem(1)/AccountAssignmentCategory"),
        ({"PurReqnExternalReference": "X" * 36}, INVALID, "to_PurchaseReqnItem(1)/PurReqnExternalReference"),
        ({"PurchaseRequisitionItemText": "x" * 41}, INVALID, "to_PurchaseReqnItem(1)/PurchaseRequisitionItemText"),
        ({"Bogus": 1}, "/IWBEP/CM_MGW_RT/022", "to_PurchaseReqnItem(1)/Bogus"),
    ],
)  # fmt: skip
def test_item_errors(sap: Sap, parts: dict[str, list[str]], change: dict[str, Any], code: str, target: str) -> None:
    before = sap.count()
    body_item = {**item(parts["1010"][0]), **change}
    if change == {"DeliveryDate": None}:
        del body_item["DeliveryDate"]
    error = assert_sap_error(sap.create({"to_PurchaseReqnItem": [body_item]}), 400, code)
    assert target in [d["target"] for d in error["innererror"]["errordetails"]]
    assert sap.count() == before


def test_material_not_in_plant(sap: Sap, parts: dict[str, list[str]]) -> None:
    only_1010 = next(m for m in parts["1010"] if m not in parts["2010"])
    error = assert_sap_error(sap.create({"to_PurchaseReqnItem": [item(only_1010, "2010")]}), 400, "M3/305")
    assert "not maintained in plant 2010" in error["message"]["value"]


def test_header_errors_and_all_errors_together(sap: Sap, parts: dict[str, list[str]]) -> None:
    assert_sap_error(sap.create({"to_PurchaseReqnItem": []}), 400, "06/010")
    assert_sap_error(sap.create({"PurReqnDescription": "no items"}), 400, "06/010")
    assert_sap_error(
        sap.create({"PurchaseRequisitionType": "ZX", "to_PurchaseReqnItem": [item(parts["1010"][0])]}), 400, "06/201"
    )
    assert_sap_error(sap.create({"PurReqnDescription": "x" * 41, "to_PurchaseReqnItem": [item(parts["1010"][0])]}), 400)
    a = parts["1010"][0]
    twice = [item(a, PurchaseRequisitionItem="10"), item(a, PurchaseRequisitionItem="10")]
    assert_sap_error(sap.create({"to_PurchaseReqnItem": twice}), 400, "06/012")
    bad = [item("SP-00000"), item(a, quantity="0"), item(a, PurchasingGroup="999")]
    error = assert_sap_error(sap.create({"to_PurchaseReqnItem": bad}), 400, "M3/305")
    targets = [d["target"] for d in error["innererror"]["errordetails"]]
    assert targets == [
        "to_PurchaseReqnItem(1)/Material",
        "to_PurchaseReqnItem(2)/RequestedQuantity",
        "to_PurchaseReqnItem(3)/PurchasingGroup",
    ]  # fmt: skip


def test_not_found_and_unsupported_methods(sap: Sap, parts: dict[str, list[str]]) -> None:
    number = sap.create({"to_PurchaseReqnItem": [item(parts["1010"][6])]}).json()["d"]["PurchaseRequisition"]
    assert_sap_error(sap.request("GET", f"{HEADER_SET}('0019999999')"), 404)
    assert_sap_error(
        sap.request("GET", f"{ITEM_SET}(PurchaseRequisition='0019999999',PurchaseRequisitionItem='10')"), 404
    )
    assert sap.request("DELETE", f"{HEADER_SET}('{number}')").status_code == 405
    assert sap.request("POST", ITEM_SET, data="{}", headers=JSON).status_code == 501


def test_failed_changeset_gives_its_number_back(sap: Sap, parts: dict[str, list[str]]) -> None:
    a = parts["1010"][5]
    good = json.dumps({"to_PurchaseReqnItem": [item(a)]})
    bad = json.dumps({"to_PurchaseReqnItem": [item("SP-00000")]})

    def part(body: str) -> str:
        return (
            "--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"POST {HEADER_SET} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
        )

    batch = (
        "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n"
        + part(good) + part(bad) + "--changeset_1--\r\n--batch_1--\r\n"
    )  # fmt: skip
    before = sap.count()
    r = sap.request("POST", "$batch", data=batch, headers={"Content-Type": "multipart/mixed; boundary=batch_1"})
    assert r.status_code == 202 and "400" in r.text
    assert sap.count() == before
    created = sap.create({"to_PurchaseReqnItem": [item(a)]}).json()["d"]["PurchaseRequisition"]
    numbers = sorted(rec["PurchaseRequisition"] for rec in sap.records().json()["record"]["records"])
    assert numbers[-1] == created and numbers == [f"{n:010d}" for n in range(10000001, 10000001 + len(numbers))]


# -- a standard client ------------------------------------------------------------------------------


def test_pyodata_creates_and_finds_by_external_reference(sandbox: dict[str, Any], parts: dict[str, list[str]]) -> None:
    info = sandbox["systems"]["sap_s4"]
    session = requests.Session()
    session.auth = (info["user"], info["password"])
    session.params = {"sap-client": "100"}
    url = f"{info['service_root']}/{SRV}/"
    token = session.head(url, headers={"x-csrf-token": "fetch"}, timeout=10).headers["x-csrf-token"]
    session.headers["x-csrf-token"] = token
    client = pyodata.Client(url, session)
    a = parts["1010"][7]
    created = (
        client.entity_sets.A_PurchaseRequisitionHeader.create_entity()
        .set(
            PurchaseRequisitionType="NB",
            PurReqnDescription="pyodata",
            to_PurchaseReqnItem=[
                {
                    "Material": a,
                    "Plant": "1010",
                    "RequestedQuantity": "7",
                    "BaseUnit": "PC",
                    "DeliveryDate": datetime(2026, 4, 1, tzinfo=UTC),
                    "PurReqnExternalReference": "HUB-PYODATA",
                }
            ],
        )
        .execute()
    )
    number = created.PurchaseRequisition
    assert number.startswith("00100000")
    items = (
        client.entity_sets.A_PurchaseRequisitionItem.get_entities()
        .filter("PurReqnExternalReference eq 'HUB-PYODATA'")
        .execute()
    )
    assert [(i.PurchaseRequisition, i.PurchaseRequisitionItem, i.Material) for i in items] == [(number, "10", a)]
    assert items[0].DeliveryDate.date() == date(2026, 4, 1)
    assert isinstance(items[0].LastChangeDateTime, datetime)
    header = client.entity_sets.A_PurchaseRequisitionHeader.get_entity(number).expand("to_PurchaseReqnItem").execute()
    assert header.PurReqnDescription == "pyodata" and len(header.to_PurchaseReqnItem) == 1


# -- never a 500 ------------------------------------------------------------------------------------

SAP_TEXT = ["-0", "1" * 14 + ".999", "/Date(99999999999999999999)/", "9999-12-31T23:59:59Z", "'", "PC", "NB", "1010"]
json_values = fuzzing.json_values(SAP_TEXT)
ITEM_FIELDS = [p.name for p in SERVICES[SRV].set_by_name[ITEM_SET].type.props]
HEADER_FIELDS = [p.name for p in SERVICES[SRV].set_by_name[HEADER_SET].type.props]


@fuzzing.FUZZ
@given(
    header=st.dictionaries(st.sampled_from([*HEADER_FIELDS, "Bogus"]), json_values, max_size=3),
    items=st.lists(
        st.fixed_dictionaries({}, optional={"Material": st.just("VALID"), "Plant": st.just("1010")}).flatmap(
            lambda base: st.dictionaries(st.sampled_from([*ITEM_FIELDS, "Bogus"]), json_values, max_size=3).map(
                lambda extra: {**base, **extra}
            )
        )
        | json_values,
        max_size=3,
    )
    | json_values,
    wrap=st.booleans(),
)
def test_deep_insert_bodies_never_500(
    sap: Sap, parts: dict[str, list[str]], header: dict[str, Any], items: Any, wrap: bool
) -> None:
    if isinstance(items, list):
        items = [
            {**i, "Material": parts["1010"][0]} if isinstance(i, dict) and i.get("Material") == "VALID" else i
            for i in items
        ]
    body = {**header, "to_PurchaseReqnItem": {"results": items} if wrap else items}
    before = sap.count()
    r = sap.create(body)
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        assert_sap_error(r, r.status_code)
        assert "Traceback" not in r.text
    saved = r.status_code == 201 and r.json()["d"]["PurchaseRequisition"] != ""
    assert sap.count() == before + (1 if saved else 0)


@fuzzing.FUZZ
@given(body=json_values)
def test_any_json_body_never_500(sap: Sap, body: Any) -> None:
    r = sap.request("POST", HEADER_SET, data=fuzzing.dumps(body), headers=JSON)
    assert r.status_code < 500, (r.status_code, r.text[:500])


@fuzzing.FUZZ
@given(value=st.text(max_size=40) | st.sampled_from(["'", "''", "x' or 1 eq 1 or 'a", "\x00"]))
def test_filter_literals_never_500(sap: Sap, value: str) -> None:
    literal = value.replace("'", "''")
    r = sap.request("GET", ITEM_SET, params={"$filter": f"PurReqnExternalReference eq '{literal}'"})
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
