"""A standard OData V2 client (SAP's own pyodata 1.12) against the SAP emulator over HTTP.

pyodata loads the emulator's ``$metadata``, so this also proves the generated metadata is valid for a
real client: reads with filter/select/expand/top/skip/inline count, ``__next`` paging, a deep insert,
a function import, a ``$batch`` with changesets and an update guarded by ``If-Match``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyodata
import pytest
import requests
from pyodata.exceptions import HttpError

from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 5, 200


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        yield info


def _session(sandbox: dict[str, Any]) -> requests.Session:
    sap = sandbox["systems"]["sap_s4"]
    session = requests.Session()
    session.auth = (sap["user"], sap["password"])
    session.params = {"sap-client": "100"}
    return session


def _client(sandbox: dict[str, Any], service: str, *, csrf: bool = False) -> pyodata.Client:
    url = f"{sandbox['systems']['sap_s4']['service_root']}/{service}/"
    session = _session(sandbox)
    if csrf:
        # pyodata leaves CSRF to the caller: fetch with the same session, which keeps the cookie.
        token = session.head(url, headers={"x-csrf-token": "fetch"}, timeout=10).headers["x-csrf-token"]
        session.headers["x-csrf-token"] = token
    return pyodata.Client(url, session)


@pytest.fixture(scope="module")
def orders(sandbox: dict[str, Any]) -> pyodata.Client:
    return _client(sandbox, "API_SALES_ORDER_SRV", csrf=True)


@pytest.fixture(scope="module")
def customer(sandbox: dict[str, Any]) -> Any:
    partners = _client(sandbox, "API_BUSINESS_PARTNER")
    areas = (
        partners.entity_sets.A_CustomerSalesArea.get_entities()
        .filter("SalesOrganization eq '1000' and OrderIsBlockedForCustomer eq ''")
        .top(1)
        .execute()
    )
    return areas[0]


@pytest.fixture(scope="module")
def materials(sandbox: dict[str, Any]) -> list[str]:
    stock = _client(sandbox, "API_MATERIAL_STOCK_SRV")
    rows = (
        stock.entity_sets.A_MatlStkInAcctMod.get_entities()
        .filter("Plant eq '1010' and InventoryStockType eq '01' and MatlWrhsStkQtyInMatlBaseUnit ge 40M")
        .select("Material,MatlWrhsStkQtyInMatlBaseUnit")
        .top(5)
        .execute()
    )
    return [r.Material for r in rows]


def _order(customer: Any, material: str, po: str, quantity: str = "2") -> dict[str, Any]:
    return {
        "SalesOrderType": "OR",
        "SalesOrganization": customer.SalesOrganization,
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": customer.Customer,
        "PurchaseOrderByCustomer": po,
        "to_Item": [{"Material": material, "RequestedQuantity": quantity, "ProductionPlant": "1010"}],
    }


def test_metadata_loads_and_reads_with_query_options(sandbox: dict[str, Any]) -> None:
    client = _client(sandbox, "API_BUSINESS_PARTNER")
    assert {"A_Customer", "A_CustomerSalesArea"} <= {es.name for es in client.schema.entity_sets}
    result = (
        client.entity_sets.A_Customer.get_entities()
        .filter("Customer ge '1000110'")
        .select("Customer,CustomerName,OrderIsBlockedForCustomer")
        .expand("to_CustomerSalesArea")
        .top(5)
        .skip(2)
        .count(inline=True)
        .execute()
    )
    assert result.total_count == 110
    assert [c.Customer for c in result] == [str(n) for n in range(1000112, 1000117)]
    assert result[0].to_CustomerSalesArea[0].DistributionChannel == "10"


def test_next_links_are_followed(sandbox: dict[str, Any]) -> None:
    r = requests.post(
        sandbox["control_url"] + "/records/sap_s4", json={"module": "config", "fields": {"page_size": 40}}, timeout=10
    )
    assert r.status_code == 200, r.text
    try:
        client = _client(sandbox, "API_BUSINESS_PARTNER")
        seen = []
        page = client.entity_sets.A_Customer.get_entities().select("Customer").execute()
        seen += [c.Customer for c in page]
        while page.next_url:
            page = client.entity_sets.A_Customer.get_entities().next_url(page.next_url).execute()
            seen += [c.Customer for c in page]
        assert seen == sorted(set(seen)) and len(seen) == 120
    finally:
        requests.post(
            sandbox["control_url"] + "/records/sap_s4",
            json={"module": "config", "fields": {"page_size": 1000}},
            timeout=10,
        ).raise_for_status()


def test_deep_insert_and_update_with_if_match(orders: pyodata.Client, customer: Any, materials: list[str]) -> None:
    created = (
        orders.entity_sets.A_SalesOrder.create_entity().set(**_order(customer, materials[0], "PYODATA-1")).execute()
    )
    assert created.SalesOrder.isdigit()
    assert created.to_Item[0].SalesOrderItem == "10"
    fetched = orders.entity_sets.A_SalesOrder.get_entity(created.SalesOrder).expand("to_Item/to_ScheduleLine").execute()
    line = fetched.to_Item[0].to_ScheduleLine[0]
    assert Decimal(line.ConfdOrderQtyByMatlAvailCheck) == 2  # pyodata leaves decimals as strings
    etag = fetched.etag
    assert etag.startswith("W/\"datetimeoffset'")
    update = orders.entity_sets.A_SalesOrder.update_entity(created.SalesOrder).set(PurchaseOrderByCustomer="PYODATA-1B")
    update.add_headers({"If-Match": etag})  # pyodata never adds If-Match itself
    update.execute()
    again = orders.entity_sets.A_SalesOrder.get_entity(created.SalesOrder).execute()
    assert again.PurchaseOrderByCustomer == "PYODATA-1B"
    assert again.etag != etag
    stale = orders.entity_sets.A_SalesOrder.update_entity(created.SalesOrder).set(PurchaseOrderByCustomer="PYODATA-1C")
    stale.add_headers({"If-Match": etag})
    with pytest.raises(HttpError) as refused:
        stale.execute()
    assert refused.value.response.status_code == 412


def test_function_import(sandbox: dict[str, Any], materials: list[str]) -> None:
    client = _client(sandbox, "API_PRODUCT_AVAILY_INFO_BASIC")
    result = (
        client.functions.DetermineAvailabilityOf.parameter("Material", materials[1])
        .parameter("SupplyingPlant", "1010")
        .parameter("ATPCheckingRule", "A")
        .parameter("RequestedQuantityInBaseUnit", Decimal("1"))
        .execute()
    )
    record = result["DetermineAvailabilityOf"]
    assert Decimal(record["AvailableQuantityInBaseUnit"]) >= 40
    assert record["BaseUnit"] == "PC"


def test_batch_with_changesets(orders: pyodata.Client, customer: Any, materials: list[str]) -> None:
    batch = orders.create_batch()
    for n, material in enumerate(materials[2:4]):
        changeset = orders.create_changeset()
        changeset.add_request(
            orders.entity_sets.A_SalesOrder.create_entity().set(**_order(customer, material, f"PYODATA-B{n}"))
        )
        batch.add_request(changeset)
    batch.add_request(orders.entity_sets.A_SalesOrder.get_entities().filter("PurchaseOrderByCustomer eq 'PYODATA-B0'"))
    first, second, query = batch.execute()
    assert first[0].PurchaseOrderByCustomer == "PYODATA-B0"
    assert second[0].PurchaseOrderByCustomer == "PYODATA-B1"
    assert [o.SalesOrder for o in query] == [first[0].SalesOrder]


def test_batch_failed_changeset_is_one_error(orders: pyodata.Client, customer: Any) -> None:
    batch = orders.create_batch()
    changeset = orders.create_changeset()
    changeset.add_request(
        orders.entity_sets.A_SalesOrder.create_entity().set(**_order(customer, "NO-SUCH-PART", "PYO-X"))
    )
    batch.add_request(changeset)
    with pytest.raises(HttpError) as failed:
        batch.execute()
    assert failed.value.response.status_code == 400
    assert orders.entity_sets.A_SalesOrder.get_entities().filter("PurchaseOrderByCustomer eq 'PYO-X'").execute() == []
