"""The SAP emulator's physical-inventory service (API_PHYSICAL_INVENTORY_DOC_SRV, issue 11) over HTTP.

A document with deep-inserted items freezes the book stock; counts go in by PATCH under If-Match;
PostDifferences books counted − book as a material document and moves A_MatlStkInAcctMod; every
refusal is SAP's error body with the right status, never a 500 (hypothesis fuzz of the bodies);
pyodata reads the service through the emulator's $metadata. The metadata is checked against SAP's
OpenAPI description when the reference is at hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fuzzing
import pyodata
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.sap.services import SERVICES
from sandbox.seed_data import generate
from sandbox.valuation import Valuation

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 13, 40
SRV = "API_PHYSICAL_INVENTORY_DOC_SRV"
JSON = {"Content-Type": "application/json"}
OPENAPI = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sap" / "openapi" / f"{SRV}.json"


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

    def request(self, method: str, path: str, service: str = SRV, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.root}/{service}/{path}", **kwargs)

    def results(self, path: str, service: str = SRV, **params: str) -> list[dict[str, Any]]:
        r = self.request("GET", path, service, params=params)
        assert r.status_code == 200, r.text
        return r.json()["d"]["results"]

    def stock(self, material: str, plant: str, stock_type: str = "01") -> Decimal:
        rows = self.results(
            "A_MatlStkInAcctMod",
            "API_MATERIAL_STOCK_SRV",
            **{"$filter": f"Material eq '{material}' and Plant eq '{plant}' and InventoryStockType eq '{stock_type}'"},
        )
        return sum((Decimal(r["MatlWrhsStkQtyInMatlBaseUnit"]) for r in rows), Decimal(0))

    def create(self, body: dict[str, Any]) -> requests.Response:
        return self.request("POST", "A_PhysInventoryDocHeader", data=json.dumps(body), headers=JSON)

    def document(self, year: str, number: str) -> dict[str, Any]:
        r = self.request(
            "GET",
            f"A_PhysInventoryDocHeader(FiscalYear='{year}',PhysicalInventoryDocument='{number}')",
            params={"$expand": "to_PhysicalInventoryDocumentItem"},
        )
        assert r.status_code == 200, r.text
        return r.json()["d"]

    def count(self, item: dict[str, Any], body: dict[str, Any], etag: str | None = "item") -> requests.Response:
        headers = dict(JSON)
        if etag is not None:
            headers["If-Match"] = item["__metadata"]["etag"] if etag == "item" else etag
        return self.request("PATCH", _item_path(item), data=json.dumps(body), headers=headers)

    def function(self, name: str, **params: str) -> requests.Response:
        return self.request("POST", name, params=params)


def _item_path(item: dict[str, Any]) -> str:
    return (
        f"A_PhysInventoryDocItem(FiscalYear='{item['FiscalYear']}',PhysicalInventoryDocument="
        f"'{item['PhysicalInventoryDocument']}',PhysicalInventoryDocumentItem='{item['PhysicalInventoryDocumentItem']}')"
    )


def assert_sap_error(r: requests.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text[:500])
    error = r.json()["error"]
    assert error["message"]["lang"] == "en" and error["message"]["value"]
    assert error["innererror"]["application"]["service_id"] == SRV
    assert error["innererror"]["errordetails"]
    if code is not None:
        assert error["code"] == code, error


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    yield from fuzzing.module_sandbox(SEED, ORDERS)


@pytest.fixture(scope="module")
def sap(sandbox: dict[str, Any]) -> Sap:
    return Sap(sandbox)


class Materials:
    """Hands out stocked materials of a plant that no other test counts, so stock checks hold."""

    def __init__(self, sap: Sap) -> None:
        rows = sap.results(
            "A_MatlStkInAcctMod",
            "API_MATERIAL_STOCK_SRV",
            **{"$filter": "Plant eq '1010' and InventoryStockType eq '01'", "$orderby": "Material", "$top": "400"},
        )
        self.free = [r["Material"] for r in rows if Decimal(r["MatlWrhsStkQtyInMatlBaseUnit"]) >= 10]

    def take(self, n: int) -> list[str]:
        taken, self.free = self.free[:n], self.free[n:]
        assert len(taken) == n, "the seed stocks enough materials in plant 1010"
        return taken


@pytest.fixture(scope="module")
def materials(sap: Sap) -> Materials:
    return Materials(sap)


def new_document(sap: Sap, materials: list[str], reference: str = "", **header: Any) -> dict[str, Any]:
    body = {
        "Plant": "1010",
        "StorageLocation": "0001",
        "PhysInventoryReferenceNumber": reference,
        "PhysicalInventoryDocumentDesc": "cycle count",
        "to_PhysicalInventoryDocumentItem": {"results": [{"Material": m} for m in materials]},
        **header,
    }
    r = sap.create(body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(
        f"A_PhysInventoryDocHeader(FiscalYear='{r.json()['d']['FiscalYear']}',"
        f"PhysicalInventoryDocument='{r.json()['d']['PhysicalInventoryDocument']}')"
    )
    return r.json()["d"]


# -- the whole flow --------------------------------------------------------------------------------


def test_count_and_post_moves_book_stock_at_the_standard_price(sap: Sap, materials: Materials) -> None:
    loss, same, gain = materials.take(3)
    books = {m: sap.stock(m, "1010") for m in (loss, same, gain)}
    doc = new_document(sap, [loss, same, gain], "HUB-T1")
    items = doc["to_PhysicalInventoryDocumentItem"]["results"]
    assert [i["PhysicalInventoryDocumentItem"] for i in items] == ["001", "002", "003"]
    assert len(doc["PhysicalInventoryDocument"]) == 10 and doc["FiscalYear"].isdigit()
    assert {i["Material"]: Decimal(i["BookQtyBfrCountInMatlBaseUnit"]) for i in items} == books
    assert doc["PhysicalInventoryCountStatus"] == "" and doc["PhysInvtryAdjustmentPostingSts"] == ""
    year, number = doc["FiscalYear"], doc["PhysicalInventoryDocument"]

    # Nothing counted yet: posting is refused, naming every item.
    r = sap.function("PostDifferences", PhysicalInventoryDocument=f"'{number}'", FiscalYear=f"'{year}'")
    assert_sap_error(r, 400)
    assert len(r.json()["error"]["innererror"]["errordetails"]) == 3

    counted = {loss: books[loss] - 2, same: books[same], gain: books[gain] + 3}
    for item in items[:2]:
        r = sap.count(item, {"Quantity": str(counted[item["Material"]]), "UnitOfEntry": "PC"})
        assert r.status_code == 204, r.text
        assert r.headers["ETag"] != item["__metadata"]["etag"]
    assert sap.document(year, number)["PhysicalInventoryCountStatus"] == "A"

    # A goods movement between creation and count does not move the frozen book quantity.
    r = requests.post(
        f"{sap.control}/records/sap_s4",
        json={"module": "goods_receipt", "fields": {"Material": gain, "Plant": "1010", "Quantity": "5"}},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    r = sap.count(items[2], {"Quantity": str(counted[gain]), "ReasonForPhysInvtryDifference": "0001"})
    assert r.status_code == 204, r.text
    assert sap.document(year, number)["PhysicalInventoryCountStatus"] == "X"

    r = sap.function(
        "PostDifferences",
        PhysicalInventoryDocument=f"'{number}'",
        FiscalYear=f"'{year}'",
        PostingDate="datetime'2026-03-02T00:00'",
    )
    assert r.status_code == 200, r.text
    header = r.json()["d"]
    assert header["PhysInvtryAdjustmentPostingSts"] == "X" and header["PostingDate"] == "/Date(1772409600000)/"

    posted = {i["Material"]: i for i in sap.document(year, number)["to_PhysicalInventoryDocumentItem"]["results"]}
    valuation = Valuation(generate(SEED, ORDERS))
    for material, item in posted.items():
        difference = counted[material] - books[material]
        price = valuation.standard_price(material, "1010")
        assert item["PhysInvtryDifferenceIsPosted"] is True and item["Currency"] == "CNY"
        assert Decimal(item["DifferenceAmountInCoCodeCrcy"]) == (difference * price).quantize(Decimal("0.01"))
        assert Decimal(item["Quantity"]) == counted[material]
    assert posted[same]["MaterialDocument"] == ""  # nothing to move
    assert posted[loss]["MaterialDocument"] == posted[gain]["MaterialDocument"] != ""
    assert posted[gain]["ReasonForPhysInvtryDifference"] == "0001"
    # The book now: counted − frozen book on top of what the stock was at posting (the receipt stays).
    assert sap.stock(loss, "1010") == books[loss] - 2
    assert sap.stock(same, "1010") == books[same]
    assert sap.stock(gain, "1010") == books[gain] + 5 + 3

    document = requests.get(
        f"{sap.control}/records/sap_s4/MaterialDocument/{posted[loss]['MaterialDocument']}", timeout=10
    )
    assert document.status_code == 200, document.text
    lines = {line["Material"]: line for line in document.json()["record"]["lines"]}
    assert (lines[loss]["GoodsMovementType"], lines[loss]["QuantityInBaseUnit"]) == ("702", "2.000")
    assert (lines[gain]["GoodsMovementType"], lines[gain]["QuantityInBaseUnit"]) == ("701", "3.000")

    # Posting twice, and counting a posted item, are refused; the stock stays.
    again = sap.function("PostDifferences", PhysicalInventoryDocument=f"'{number}'", FiscalYear=f"'{year}'")
    assert_sap_error(again, 400, "MI/013")
    item = posted[loss]
    assert_sap_error(sap.count(item, {"Quantity": "1"}), 400, "MI/007")
    assert sap.stock(loss, "1010") == books[loss] - 2


def test_found_again_by_reference_and_change_time(sap: Sap, materials: Materials) -> None:
    (material,) = materials.take(1)
    doc = new_document(sap, [material], "HUB-FIND-1")
    found = sap.results(
        "A_PhysInventoryDocHeader",
        **{"$filter": "PhysInventoryReferenceNumber eq 'HUB-FIND-1'", "$expand": "to_PhysicalInventoryDocumentItem"},
    )
    assert [d["PhysicalInventoryDocument"] for d in found] == [doc["PhysicalInventoryDocument"]]
    assert found[0]["to_PhysicalInventoryDocumentItem"]["results"][0]["PhysInventoryReferenceNumber"] == "HUB-FIND-1"
    assert sap.results("A_PhysInventoryDocHeader", **{"$filter": "PhysInventoryReferenceNumber eq 'NOPE'"}) == []
    in_plant = sap.results("A_PhysInventoryDocHeader", **{"$filter": "Plant eq '1010'"})
    assert doc["PhysicalInventoryDocument"] in {d["PhysicalInventoryDocument"] for d in in_plant}
    changed = sap.results(
        "A_PhysInventoryDocItem",
        **{"$filter": "LastChangeDateTime ge datetimeoffset'2000-01-01T00:00:00Z' and Material eq '" + material + "'"},
    )
    assert [i["PhysicalInventoryDocument"] for i in changed] == [doc["PhysicalInventoryDocument"]]


def test_count_entry_errors(sap: Sap, materials: Materials) -> None:
    (material,) = materials.take(1)
    doc = new_document(sap, [material])
    item = doc["to_PhysicalInventoryDocumentItem"]["results"][0]
    assert_sap_error(sap.count(item, {"Quantity": "3"}, etag=None), 428)
    stale = "W/\"datetimeoffset'2000-01-01T00%3A00%3A00.0000000Z'\""
    assert_sap_error(sap.count(item, {"Quantity": "3"}, etag=stale), 412)
    assert_sap_error(sap.count(item, {"Quantity": "-1"}), 400, "MI/009")
    assert_sap_error(sap.count(item, {"Quantity": "abc"}), 400, "/IWBEP/CM_MGW_RT/021")
    assert_sap_error(sap.count(item, {"Quantity": "1.0001"}), 400, "/IWBEP/CM_MGW_RT/021")
    assert_sap_error(sap.count(item, {"Quantity": "0"}), 400, "MI/010")
    assert_sap_error(sap.count(item, {"Quantity": "2", "UnitOfEntry": "KAR"}), 400, "MI/011")
    assert_sap_error(sap.count(item, {"NoSuchField": "1"}), 400, "/IWBEP/CM_MGW_RT/022")
    # A zero count needs the flag; it then counts as 0.
    r = sap.count(item, {"Quantity": "0", "PhysicalInventoryItemIsZero": True})
    assert r.status_code == 204, r.text
    after = sap.document(doc["FiscalYear"], doc["PhysicalInventoryDocument"])
    counted = after["to_PhysicalInventoryDocumentItem"]["results"][0]
    assert counted["PhysicalInventoryItemIsCounted"] is True and Decimal(counted["Quantity"]) == 0
    # The old ETag is stale now.
    assert_sap_error(sap.count(item, {"Quantity": "3"}), 412)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"Plant": "9999"}, 400, "MI/002"),
        ({"Plant": ""}, 400, "MI/001"),
        ({"StorageLocation": "0002"}, 400, "MI/003"),
        ({"to_PhysicalInventoryDocumentItem": {"results": [{"Material": "NO-SUCH-PART"}]}}, 400, "M3/305"),
        ({"to_PhysicalInventoryDocumentItem": {"results": [{"Material": "SP-1", "Quantity": 1}]}}, 400, "M3/305"),
        ({"to_PhysicalInventoryDocumentItem": []}, 400, "MI/006"),
        ({"PhysInventoryReferenceNumber": "R" * 17}, 400, "/IWBEP/CM_MGW_RT/021"),
        ({"PhysicalInventoryDocumentDesc": 5}, 400, "/IWBEP/CM_MGW_RT/021"),
        ({"Bogus": "1"}, 400, "/IWBEP/CM_MGW_RT/022"),
    ],
)
def test_create_errors_leave_nothing(
    sap: Sap, materials: Materials, change: dict[str, Any], status: int, code: str
) -> None:
    before = sap.request("GET", "A_PhysInventoryDocHeader/$count").text
    body = {
        "Plant": "1010",
        "StorageLocation": "0001",
        "to_PhysicalInventoryDocumentItem": {"results": [{"Material": materials.free[0]}]},
        **change,
    }
    assert_sap_error(sap.create(body), status, code)
    assert sap.request("GET", "A_PhysInventoryDocHeader/$count").text == before


def test_material_not_in_plant_and_stock_types(sap: Sap) -> None:
    data = generate(SEED, ORDERS)
    outside = next(m.number for m in data.materials if "2010" not in m.plants)
    body = {"Plant": "2010", "StorageLocation": "0001", "to_PhysicalInventoryDocumentItem": [{"Material": outside}]}
    assert_sap_error(sap.create(body), 400, "M3/305")
    held = next(s for s in sap.results(
        "A_MatlStkInAcctMod", "API_MATERIAL_STOCK_SRV", **{"$filter": "InventoryStockType eq '07'", "$top": "1"}
    ))  # fmt: skip
    body = {
        "Plant": held["Plant"],
        "StorageLocation": "0001",
        "to_PhysicalInventoryDocumentItem": [{"Material": held["Material"], "PhysicalInventoryStockType": "S"}],
    }
    r = sap.create(body)
    assert r.status_code == 201, r.text
    item = r.json()["d"]["to_PhysicalInventoryDocumentItem"]["results"][0]
    assert Decimal(item["BookQtyBfrCountInMatlBaseUnit"]) == Decimal(held["MatlWrhsStkQtyInMatlBaseUnit"])
    body["to_PhysicalInventoryDocumentItem"] = [{"Material": held["Material"], "PhysicalInventoryStockType": "Q"}]
    assert_sap_error(sap.create(body), 400, "MI/004")


def test_post_on_item_and_recount(sap: Sap, materials: Materials) -> None:
    first, second = materials.take(2)
    doc = new_document(sap, [first, second], "HUB-RECOUNT")
    year, number = doc["FiscalYear"], doc["PhysicalInventoryDocument"]
    items = doc["to_PhysicalInventoryDocumentItem"]["results"]
    for item in items:
        book = Decimal(item["BookQtyBfrCountInMatlBaseUnit"])
        assert sap.count(item, {"Quantity": str(book + 1)}).status_code == 204
    params = {"PhysicalInventoryDocument": f"'{number}'", "FiscalYear": f"'{year}'"}
    wrong = sap.function("PostDifferencesOnItem", PhysicalInventoryDocumentItem="'1'", Material=f"'{second}'", **params)
    assert_sap_error(wrong, 400, "MI/016")
    missing = sap.function("PostDifferencesOnItem", PhysicalInventoryDocumentItem="'1'", **params)
    assert_sap_error(missing, 400, "/IWBEP/CM_MGW_RT/016")
    r = sap.function("PostDifferencesOnItem", PhysicalInventoryDocumentItem="'1'", Material=f"'{first}'", **params)
    assert r.status_code == 200, r.text
    assert r.json()["d"]["PhysInvtryDifferenceIsPosted"] is True and r.json()["d"]["MaterialDocument"]
    assert sap.document(year, number)["PhysInvtryAdjustmentPostingSts"] == "A"

    r = sap.function("InitiateRecount", **params)
    assert r.status_code == 200, r.text
    recount = r.json()["d"]
    assert recount["PhysicalInventoryDocument"] != number and recount["PhysInventoryReferenceNumber"] == "HUB-RECOUNT"
    new_items = sap.document(recount["FiscalYear"], recount["PhysicalInventoryDocument"])[
        "to_PhysicalInventoryDocumentItem"
    ]["results"]
    assert [i["Material"] for i in new_items] == [second] and new_items[0]["PhysicalInventoryItemIsCounted"] is False
    old = sap.document(year, number)["to_PhysicalInventoryDocumentItem"]["results"][1]
    assert old["PhysInvtryItemIsRecounted"] is True
    assert old["PhysInvtryRecountDocument"] == recount["PhysicalInventoryDocument"]
    assert_sap_error(sap.count(old, {"Quantity": "1"}), 400, "MI/008")
    # Every item of the first document is now posted or recounted: nothing left to post.
    assert_sap_error(sap.function("PostDifferences", **params), 400, "MI/013")
    unknown = sap.function("PostDifferences", PhysicalInventoryDocument="'0999999999'", FiscalYear=f"'{year}'")
    assert_sap_error(unknown, 404, "MI/014")


# -- a standard client ------------------------------------------------------------------------------


def test_pyodata_reads_counts_and_posts_through_the_metadata(sandbox: dict[str, Any], materials: Materials) -> None:
    sap = sandbox["systems"]["sap_s4"]
    session = requests.Session()
    session.auth = (sap["user"], sap["password"])
    session.params = {"sap-client": "100"}
    url = f"{sap['service_root']}/{SRV}/"
    session.headers["x-csrf-token"] = session.head(url, headers={"x-csrf-token": "fetch"}, timeout=10).headers[
        "x-csrf-token"
    ]
    client = pyodata.Client(url, session)
    (material,) = materials.take(1)
    created = (
        client.entity_sets.A_PhysInventoryDocHeader.create_entity()
        .set(
            Plant="1010",
            StorageLocation="0001",
            PhysInventoryReferenceNumber="HUB-PYODATA",
            to_PhysicalInventoryDocumentItem=[{"Material": material}],
        )
        .execute()
    )
    year, number = created.FiscalYear, created.PhysicalInventoryDocument
    docs = (
        client.entity_sets.A_PhysInventoryDocHeader.get_entities()
        .filter("PhysInventoryReferenceNumber eq 'HUB-PYODATA'")
        .expand("to_PhysicalInventoryDocumentItem")
        .execute()
    )
    assert [d.PhysicalInventoryDocument for d in docs] == [number]
    item = docs[0].to_PhysicalInventoryDocumentItem[0]
    book = Decimal(str(item.BookQtyBfrCountInMatlBaseUnit))  # pyodata leaves expanded values as sent
    assert book >= 10
    assert isinstance(docs[0].LastChangeDateTime, datetime)
    key = {"FiscalYear": year, "PhysicalInventoryDocument": number, "PhysicalInventoryDocumentItem": "001"}
    etag = session.get(f"{url}{_item_path(key)}", timeout=10).headers["ETag"]
    update = client.entity_sets.A_PhysInventoryDocItem.update_entity(**key).set(Quantity=str(book - 1))
    update.add_headers({"If-Match": etag})
    update.execute()
    header = (
        client.functions.PostDifferences.parameter("PhysicalInventoryDocument", number)
        .parameter("FiscalYear", year)
        .execute()
    )
    assert header.PhysInvtryAdjustmentPostingSts == "X"
    posted = client.entity_sets.A_PhysInventoryDocItem.get_entity(**key).execute()
    assert posted.PhysInvtryDifferenceIsPosted is True and posted.MaterialDocument


# -- never a 500 ------------------------------------------------------------------------------------

SAP_TEXT = ["-0", "1" * 14 + ".999", "/Date(99999999999999999999)/", "9999-12-31T23:59:59Z", "'", "PC", "X", "S"]
json_values = fuzzing.json_values(SAP_TEXT)
ITEM_FIELDS = [p.name for p in SERVICES[SRV].set_by_name["A_PhysInventoryDocItem"].type.props]
HEADER_FIELDS = [p.name for p in SERVICES[SRV].set_by_name["A_PhysInventoryDocHeader"].type.props]


def assert_sap_answer(r: requests.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        assert_sap_error(r, r.status_code)
        assert "Traceback" not in r.text


@pytest.fixture(scope="module")
def open_item(sap: Sap, materials: Materials) -> dict[str, Any]:
    return new_document(sap, materials.take(1), "HUB-FUZZ")["to_PhysicalInventoryDocumentItem"]["results"][0]


@fuzzing.FUZZ
@given(
    body=st.dictionaries(st.sampled_from([*ITEM_FIELDS, "Bogus"]), json_values, max_size=4)
    | st.sampled_from([[], None, "text", 5]),
    etag=st.sampled_from(["item", None, "*", 'W/"x"']),
)
def test_patch_bodies_never_500(sap: Sap, open_item: dict[str, Any], body: Any, etag: str | None) -> None:
    current = sap.request("GET", _item_path(open_item))
    r = sap.count(open_item, body, etag=current.headers["ETag"] if etag == "item" else etag)
    assert_sap_answer(r)
    after = sap.request("GET", _item_path(open_item)).json()["d"]
    if r.status_code >= 400:  # a refused count changes nothing
        assert after == current.json()["d"]
    elif isinstance(body, dict) and {"Quantity", "UnitOfEntry", "PhysicalInventoryItemIsZero"} & set(body):
        assert after["PhysicalInventoryItemIsCounted"] is True and Decimal(after["Quantity"]) >= 0
    else:  # nothing to count in it: the count stays what it was
        assert after["Quantity"] == current.json()["d"]["Quantity"]


@fuzzing.FUZZ
@given(
    header=st.dictionaries(st.sampled_from([*HEADER_FIELDS, "Bogus"]), json_values, max_size=4),
    items=st.lists(st.dictionaries(st.sampled_from([*ITEM_FIELDS, "Bogus"]), json_values, max_size=3), max_size=3)
    | json_values,
    wrap=st.booleans(),
)
def test_deep_insert_bodies_never_500(
    sap: Sap, materials: Materials, header: dict[str, Any], items: Any, wrap: bool
) -> None:
    body = {"Plant": "1010", "StorageLocation": "0001", **header}
    body["to_PhysicalInventoryDocumentItem"] = {"results": items} if wrap else items
    before = sap.request("GET", "A_PhysInventoryDocHeader/$count").text
    r = sap.create(body)
    assert_sap_answer(r)
    after = sap.request("GET", "A_PhysInventoryDocHeader/$count").text
    assert int(after) == int(before) + (1 if r.status_code == 201 else 0)


# -- metadata against SAP's OpenAPI description ----------------------------------------------------


@pytest.mark.skipif(not OPENAPI.is_file(), reason="SAP's OpenAPI description is not at hand")
def test_metadata_agrees_with_the_openapi_description() -> None:
    spec = json.loads(OPENAPI.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    service = SERVICES[SRV]
    for es in service.entity_sets:
        theirs = schemas[es.name]["properties"]
        required = schemas[f"Create{es.name}"].get("required", [])
        assert list(es.type.keys) == required, es.name
        for p in es.type.props:
            spec_prop = theirs[p.name]
            if p.type == "Edm.String":
                assert spec_prop["type"] == "string" and spec_prop.get("maxLength") == p.max_length, p.name
            elif p.type == "Edm.Decimal":
                assert (spec_prop["x-sap-precision"], spec_prop["x-sap-scale"]) == (p.precision, p.scale), p.name
            elif p.type == "Edm.Boolean":
                assert spec_prop["type"] == "boolean", p.name
            else:  # dates and timestamps: /Date(…)/ strings
                assert spec_prop["example"].startswith("/Date("), p.name
        for nav in es.type.navs:
            assert nav.name in theirs
    for fn in service.functions:
        operation = spec["paths"][f"/{fn.name}"]["post"]
        params = operation["parameters"]
        assert [p.name for p in fn.params] == [p["name"] for p in params], fn.name
        for mine, theirs_param in zip(fn.params, params, strict=True):
            assert (not mine.nullable) == bool(theirs_param.get("required")), (fn.name, mine.name)
            if mine.max_length is not None:  # the OpenAPI counts the literal's quotes
                assert theirs_param["schema"]["maxLength"] == mine.max_length + 2, (fn.name, mine.name)
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["title"]
        assert fn.entity_set == answer and fn.return_type == f"{answer}Type"
