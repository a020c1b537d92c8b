"""The SAP S/4HANA OData V2 client against the sandbox emulator: real HTTP, CSRF sessions, $batch
changesets, ETags, paging and injected faults. Each test leaves no fault behind (``sandbox_env``)
and restores any master data it changes; the orders it creates use purchase orders of its own."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest

from connectors.http import AuthError, RetryPolicy, TransientError
from connectors.sap_oauth import ClientCredentials, ClientCredentialsAuth
from connectors.sap_odata import (
    ODataClient,
    SapBusinessError,
    SapError,
    SapRequestError,
    SapTransientError,
    eq,
    maybe_applied,
)
from connectors.sap_s4 import OrderLine, SalesOrderDoc, SapClient, SapConfig, sales_order_payload

pytestmark = pytest.mark.sandbox

SYSTEM = "sap_s4"
FAST = RetryPolicy(max_attempts=5, base=0.01, cap=0.05)
PLANT = "1010"  # sales organisation 1000, CNY customers
SO_SRV = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
TOKEN_PATH = "/sap/bc/sec/oauth2/token"


def make_client(info: dict[str, Any], **overrides: Any) -> SapClient:
    s = info["systems"][SYSTEM]
    root = s.get("service_root", s["base_url"] + "/sap/opu/odata/sap")
    settings: dict[str, Any] = {
        "base_url": s["base_url"],
        "service_root": root.removeprefix(s["base_url"]) or "/sap/opu/odata/sap",
        "user": s["user"],
        "password": s["password"],
        "client": s.get("client", "100"),
        "timeout": (5.0, 30.0),
        "retry": FAST,
    }
    return SapClient(SapConfig(**(settings | overrides)))


def make_oauth_client(info: dict[str, Any], **overrides: Any) -> SapClient:
    """A client on OAuth client credentials: the client id and secret go where user and password do."""
    s = info["systems"][SYSTEM]
    oauth = {
        "user": s["oauth_client_id"],
        "password": s["oauth_client_secret"],
        "oauth_token_url": s["oauth_token_url"],
    }
    return make_client(info, **(oauth | overrides))


def token_requests(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if c["path"] == TOKEN_PATH]


_po_numbers = itertools.count(1)


def new_po(prefix: str = "T") -> str:
    """A purchase order number no other test (or seed order) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}-{next(_po_numbers)}"


@dataclass(frozen=True)
class World:
    """What the seeded SAP offers the tests: orderable CNY customers of sales org 1000 and materials
    with plenty of unrestricted stock in plant 1010."""

    customers: tuple[str, ...]
    materials: tuple[str, ...]
    units: dict[str, str]


@pytest.fixture(scope="module")
def world(shared_sandbox: tuple[dict[str, Any], Any]) -> World:
    info, _ = shared_sandbox
    with make_client(info) as sap:
        areas = sap.odata.iter_entities(
            "API_BUSINESS_PARTNER",
            "A_CustomerSalesArea",
            filter="SalesOrganization eq '1000'",
            orderby=("Customer", "SalesOrganization", "DistributionChannel", "Division"),
        )
        customers = [a["Customer"] for a in areas if not a.get("OrderIsBlockedForCustomer")]
        stock = [r for r in sap.stock(PLANT) if r.stock_type == "01" and r.quantity >= 200]
    assert len(customers) >= 4 and len(stock) >= 6, "the seed has orderable customers and stocked materials"
    stock.sort(key=lambda r: -r.quantity)
    return World(tuple(customers[:6]), tuple(r.material for r in stock[:12]), {r.material: r.unit for r in stock})


def order(world: World, *, customer: int = 0, materials: tuple[int, ...] = (0,), qty: str = "3", **kw: Any) -> dict:
    return sales_order_payload(
        sold_to=world.customers[customer],
        purchase_order=kw.pop("purchase_order", None) or new_po(),
        sales_organization="1000",
        distribution_channel="10",
        division="00",
        currency="CNY",
        lines=[OrderLine(world.materials[m], Decimal(qty), world.units[world.materials[m]], PLANT) for m in materials],
        **kw,
    )


def calls_since(control: Any, seq: int) -> list[dict[str, Any]]:
    return control.calls(SYSTEM, seq)


def orders_with_po(sap: SapClient, po: str) -> list[str]:
    """Every sales order SAP holds for a purchase order (find_sales_orders keeps only one)."""
    rows = sap.odata.iter_entities(
        "API_SALES_ORDER_SRV", "A_SalesOrder", filter=eq("PurchaseOrderByCustomer", po), orderby="SalesOrder"
    )
    return [r["SalesOrder"] for r in rows]


def sandbox_today(control: Any) -> datetime:
    now = control.http.get(f"{control.url}/clock", timeout=10).json()["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00"))


@pytest.fixture
def blocked_customer(sandbox_env: tuple[dict[str, Any], Any], world: World) -> Iterator[str]:
    """One orderable customer blocked for orders for the test, unblocked afterwards."""
    _, control = sandbox_env
    customer = world.customers[-1]

    def set_block(value: str) -> None:
        body = {"module": "A_Customer", "id": customer, "fields": {"OrderIsBlockedForCustomer": value}}
        response = control.http.post(f"{control.url}/records/{SYSTEM}", json=body, timeout=10)
        assert response.ok, response.text

    set_block("01")
    try:
        yield customer
    finally:
        set_block("")


# ------------------------------------------------------------------------------------------------
# Reads
# ------------------------------------------------------------------------------------------------


def test_stock_rows_and_unrestricted_totals(sandbox_env, world: World) -> None:
    info, _ = sandbox_env
    materials = list(world.materials[:5]) + ["NO-SUCH-MATERIAL"]
    with make_client(info) as sap:
        rows = list(sap.stock(PLANT, materials))
        totals = sap.unrestricted_stock(PLANT, materials)
    assert {r.plant for r in rows} == {PLANT}
    assert all(isinstance(r.quantity, Decimal) for r in rows)
    for material in materials:
        expected = sum((r.quantity for r in rows if r.material == material and r.stock_type == "01"), Decimal(0))
        assert totals[material] == expected
    assert totals["NO-SUCH-MATERIAL"] == 0


def test_bearer_token_and_an_unknown_sap_client(sandbox_env, world: World) -> None:
    info, _ = sandbox_env
    token = info["systems"][SYSTEM].get("bearer_token")
    if token:
        with make_client(info, user=None, password=None, bearer_token=token) as sap:
            assert sap.unrestricted_stock(PLANT, world.materials[:1])[world.materials[0]] > 0
    with make_client(info, client="999") as sap, pytest.raises(AuthError) as refused:
        sap.unrestricted_stock(PLANT, world.materials[:1])
    assert refused.value.status == 401


def test_oauth_connection_extras_make_an_oauth_config() -> None:
    conn = SimpleNamespace(
        host="sap.example.com",
        port=None,
        schema=None,
        login="CLIENT_ID",
        password="SECRET",
        extra_dejson={"oauth_token_url": "https://sap.example.com/sap/bc/sec/oauth2/token", "oauth_scope": "S_0001"},
    )
    config = SapConfig.from_connection(conn)
    assert config.oauth_token_url == "https://sap.example.com/sap/bc/sec/oauth2/token"
    assert (config.user, config.password, config.oauth_scope) == ("CLIENT_ID", "SECRET", "S_0001")
    assert "SECRET" not in repr(config)
    with pytest.raises(ValueError, match="bearer_token"):
        SapConfig(base_url="https://x", user="a", password="b", bearer_token="t", oauth_token_url="https://x/t")


def test_oauth_read_and_create_with_one_token(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    since = control.last_seq(SYSTEM)
    with make_oauth_client(info) as sap:
        assert sap.unrestricted_stock(PLANT, world.materials[:1])[world.materials[0]] > 0
        created = sap.create_sales_orders([order(world, customer=0, qty="1")])
        assert sap.oauth is not None and sap.oauth.token_refreshes == 1
    assert isinstance(created[0], SalesOrderDoc)
    calls = calls_since(control, since)
    assert [(c["method"], c["status"]) for c in token_requests(calls)] == [("POST", 200)]
    assert calls[0]["path"] == TOKEN_PATH, "the token comes before the first call"
    assert all(c["status"] < 400 for c in calls), calls


def test_oauth_token_expiry_costs_exactly_one_new_token(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    with make_oauth_client(info) as sap:
        sap.create_sales_orders([order(world, customer=0, qty="1")])
        control.expire_tokens(SYSTEM)  # kills the bearer token and the CSRF session together
        since = control.last_seq(SYSTEM)
        second = sap.create_sales_orders([order(world, customer=1, qty="1")])
        after_fault = calls_since(control, since)
        control.advance_clock(3601)  # past the token's life on the server; the client's clock has not moved
        since = control.last_seq(SYSTEM)
        assert sap.unrestricted_stock(PLANT, world.materials[:1])[world.materials[0]] > 0
        after_clock = calls_since(control, since)
        assert sap.oauth is not None and sap.oauth.token_refreshes == 3
    assert isinstance(second[0], SalesOrderDoc)
    assert len(token_requests(after_fault)) == 1, after_fault
    batches = [c["status"] for c in after_fault if c["path"] == f"{SO_SRV}/$batch"]
    assert batches == [401, 403, 202], "bearer refused, new token; CSRF refused, new CSRF token; then processed"
    assert len(token_requests(after_clock)) == 1, after_clock
    assert [c["status"] for c in after_clock if c["path"] != TOKEN_PATH] == [401, 200]


def test_oauth_token_is_renewed_before_its_expiry(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    s = info["systems"][SYSTEM]
    now = [0.0]
    credentials = ClientCredentials(
        token_url=s["oauth_token_url"], client_id=s["oauth_client_id"], client_secret=s["oauth_client_secret"]
    )
    oauth = ClientCredentialsAuth(credentials, clock=lambda: now[0])
    root = s["service_root"].removeprefix(s["base_url"])
    with ODataClient(s["base_url"], oauth=oauth, client="100", service_root=root, retry=FAST) as odata:
        odata.read_entity("API_BUSINESS_PARTNER", "A_Customer", world.customers[0])
        now[0] = 3600 - credentials.refresh_margin - 1  # still outside the margin: the same token
        odata.read_entity("API_BUSINESS_PARTNER", "A_Customer", world.customers[0])
        assert oauth.token_refreshes == 1
        since = control.last_seq(SYSTEM)
        now[0] += 2  # inside the margin: renewed before the call, not after a 401
        odata.read_entity("API_BUSINESS_PARTNER", "A_Customer", world.customers[0])
        assert oauth.token_refreshes == 2
    calls = calls_since(control, since)
    assert [(c["path"] == TOKEN_PATH, c["status"]) for c in calls] == [(True, 200), (False, 200)]


def test_oauth_wrong_client_secret_is_an_auth_error_without_retries(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    since = control.last_seq(SYSTEM)
    with make_oauth_client(info, password="wrong-secret") as sap, pytest.raises(AuthError) as refused:
        sap.unrestricted_stock(PLANT, world.materials[:1])
    assert refused.value.status == 401 and refused.value.code == "invalid_client"
    calls = calls_since(control, since)
    assert [(c["path"], c["status"]) for c in calls] == [(TOKEN_PATH, 401)], "one token request, no OData call"


def test_quality_and_blocked_stock_is_not_unrestricted(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info) as sap:
        rows = [r for plant in ("1010", "1020", "2010") for r in sap.stock(plant)]
        held = [r for r in rows if r.stock_type in ("02", "07")]
        assert held, "the seed has some quality-inspection or blocked stock"
        sample = held[0]
        totals = sap.unrestricted_stock(sample.plant, [sample.material])
    unrestricted = sum(
        (r.quantity for r in rows if (r.material, r.plant, r.stock_type) == (sample.material, sample.plant, "01")),
        Decimal(0),
    )
    assert totals[sample.material] == unrestricted


AREA_KEY = ("Customer", "SalesOrganization", "DistributionChannel", "Division")


def sales_areas(sap: SapClient, page_size: int) -> list[dict[str, Any]]:
    return list(
        sap.odata.iter_entities("API_BUSINESS_PARTNER", "A_CustomerSalesArea", orderby=AREA_KEY, page_size=page_size)
    )


def test_paging_to_the_end_with_a_small_page_size(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as sap:
        everything = sales_areas(sap, 1000)
        since = control.last_seq(SYSTEM)
        paged = sales_areas(sap, 7)
    assert paged == everything and len(everything) > 20
    keys = [tuple(row[k] for k in AREA_KEY) for row in paged]
    assert len(keys) == len(set(keys)), "no row twice, none skipped under the stable $orderby"
    reads = [parse_qs(c["query"]) for c in calls_since(control, since)]
    assert len(reads) == -(-len(everything) // 7)  # exactly the pages needed: the count ends the paging
    assert [q["$skip"] for q in reads] == [[str(n)] for n in range(0, len(everything), 7)]
    assert reads[0]["$top"] == ["7"] and reads[0]["$inlinecount"] == ["allpages"]
    assert reads[0]["$orderby"] == [",".join(AREA_KEY)]


def test_server_driven_paging_follows_next(sandbox_env) -> None:
    info, control = sandbox_env

    def server_page_size(size: int) -> None:
        body = {"module": "config", "fields": {"page_size": size}}
        assert control.http.post(f"{control.url}/records/{SYSTEM}", json=body, timeout=10).ok

    with make_client(info) as sap:
        everything = sales_areas(sap, 1000)
        server_page_size(9)
        try:
            since = control.last_seq(SYSTEM)
            paged = sales_areas(sap, 20)
        finally:
            server_page_size(1000)
    assert paged == everything
    reads = [parse_qs(c["query"]) for c in calls_since(control, since)]
    # Each $top window of 20 rows arrives in server pages of 9 linked by __next (9, 9, 2); the next
    # window starts with $skip once a window's last page carries no __next.
    windows = [min(20, len(everything) - start) for start in range(0, len(everything), 20)]
    assert len(reads) == sum(-(-w // 9) for w in windows)
    assert sum("$skiptoken" in q for q in reads) == len(reads) - len(windows)


def test_short_stock_is_confirmed_in_part_and_the_rest_after_a_goods_receipt(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    material = world.materials[8]
    with make_client(info) as sap:
        available = sap.availability(material, PLANT)
        doc = sap.create_sales_order(order(world, materials=(8,), qty=str(available + 3)))
        (item,) = doc.items
        assert item.confirmed_quantity == available and item.open_quantity == 3 and not doc.fully_confirmed
        assert sap.availability(material, PLANT) == 0
        receipt = {"module": "goods_receipt", "fields": {"Material": material, "Plant": PLANT, "Quantity": "10"}}
        assert control.http.post(f"{control.url}/records/{SYSTEM}", json=receipt, timeout=10).ok
        again = sap.sales_order(doc.number)
        assert again.items[0].confirmed_quantity == available + 3 and again.fully_confirmed
        assert sap.availability(material, PLANT) == 7


def test_availability_is_what_can_still_be_promised(sandbox_env, world: World) -> None:
    info, _ = sandbox_env
    material = world.materials[6]
    with make_client(info) as sap:
        before = sap.availability(material, PLANT, Decimal(5))
        unrestricted = sap.unrestricted_stock(PLANT, [material])[material]
        assert Decimal(0) <= before <= unrestricted
        doc = sap.create_sales_order(order(world, materials=(6,), qty="5"))
        after = sap.availability(material, PLANT)
    assert doc.items[0].confirmed_quantity == min(Decimal(5), before)
    assert after == before - doc.items[0].confirmed_quantity


def test_customer_sales_areas(sandbox_env, world: World) -> None:
    info, _ = sandbox_env
    with make_client(info) as sap:
        areas = sap.customer_sales_areas([*world.customers[:3], "9999999999"])
    assert areas["9999999999"] == []
    for customer in world.customers[:3]:
        (area,) = areas[customer]
        assert (area["SalesOrganization"], area["DistributionChannel"], area["Division"]) == ("1000", "10", "00")
        assert area["Currency"] == "CNY" and area["SupplyingPlant"] == PLANT
        assert area["DeliveryPriority"] in ("01", "02", "03")
        assert not area["OrderIsBlockedForCustomer"]


# ------------------------------------------------------------------------------------------------
# Creating orders
# ------------------------------------------------------------------------------------------------


def test_create_one_order_by_deep_insert(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    po = new_po("O'Brien")  # a quote in the purchase order: literal escaping end to end
    payload = order(world, materials=(0, 1), qty="2", purchase_order=po)
    with make_client(info) as sap:
        doc = sap.create_sales_order(payload)
        found = sap.find_sales_orders([po, new_po()])
    assert doc.number and doc.purchase_order == po and doc.sold_to == world.customers[0]
    assert [i.item for i in doc.items] == ["10", "20"]
    assert [i.material for i in doc.items] == [world.materials[0], world.materials[1]]
    assert all(i.requested_quantity == Decimal(2) and i.plant == PLANT for i in doc.items)
    assert all(i.confirmed_quantity == Decimal(2) for i in doc.items), "plenty of stock: fully confirmed"
    confirmed_on = (sandbox_today(control) + timedelta(days=2)).date()
    assert all(i.confirmed_date == confirmed_on for i in doc.items)
    assert doc.etag and doc.currency == "CNY" and isinstance(doc.net_amount, Decimal) and doc.net_amount > 0
    assert list(found) == [po]
    assert found[po].number == doc.number and found[po].items == doc.items
    stored = control.record(SYSTEM, "A_SalesOrder", doc.number)
    assert stored["PurchaseOrderByCustomer"] == po


def test_agreed_net_price_becomes_the_net_amount(sandbox_env, world: World) -> None:
    info, _ = sandbox_env
    payload = sales_order_payload(
        sold_to=world.customers[1],
        purchase_order=new_po(),
        sales_organization="1000",
        distribution_channel="10",
        division="00",
        currency="CNY",
        lines=[
            OrderLine(world.materials[2], Decimal(4), world.units[world.materials[2]], PLANT, Decimal("12.34")),
        ],
    )
    with make_client(info) as sap:
        doc = sap.create_sales_order(payload)
    assert doc.items[0].net_amount == Decimal("49.36") and doc.net_amount == Decimal("49.36")


def test_business_refusal_names_the_field(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    payload = order(world)
    payload["to_Item"]["results"][0]["Material"] = "NO-SUCH-MATERIAL"
    since = control.last_seq(SYSTEM)
    with make_client(info) as sap, pytest.raises(SapBusinessError) as caught:
        sap.create_sales_order(payload)
    error = caught.value
    assert error.status == 400 and error.code and error.errordetails
    assert error.field is not None and "Material" in error.field
    assert error.record_key == payload["PurchaseOrderByCustomer"]
    assert len([c for c in calls_since(control, since) if c["method"] == "POST"]) == 1, "a refusal is not retried"


def test_batch_with_one_failing_changeset(sandbox_env, world: World, blocked_customer: str) -> None:
    info, control = sandbox_env
    blocked = world.customers.index(blocked_customer)
    payloads = [order(world, customer=0), order(world, customer=blocked), order(world, customer=1)]
    since = control.last_seq(SYSTEM)
    with make_client(info) as sap:
        results = sap.create_sales_orders(payloads)
        found = sap.find_sales_orders([p["PurchaseOrderByCustomer"] for p in payloads])
    first, refused, third = results
    assert isinstance(first, SalesOrderDoc) and isinstance(third, SalesOrderDoc)
    assert first.purchase_order == payloads[0]["PurchaseOrderByCustomer"]
    assert third.purchase_order == payloads[2]["PurchaseOrderByCustomer"]
    assert isinstance(refused, SapBusinessError) and refused.status == 400
    assert refused.record_key == payloads[1]["PurchaseOrderByCustomer"]
    assert set(found) == {payloads[0]["PurchaseOrderByCustomer"], payloads[2]["PurchaseOrderByCustomer"]}
    batches = [c for c in calls_since(control, since) if c["path"] == f"{SO_SRV}/$batch"]
    assert len(batches) == 1 and batches[0]["status"] == 202


def test_batches_hold_at_most_batch_size_changesets(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    payloads = [order(world, customer=n % 3, materials=(n % 4,), qty="1") for n in range(5)]
    since = control.last_seq(SYSTEM)
    with make_client(info, batch_size=2) as sap:
        results = sap.create_sales_orders(payloads)
    assert [r.purchase_order for r in results if isinstance(r, SalesOrderDoc)] == [
        p["PurchaseOrderByCustomer"] for p in payloads
    ]
    assert len({r.number for r in results if isinstance(r, SalesOrderDoc)}) == 5
    batches = [c for c in calls_since(control, since) if c["path"] == f"{SO_SRV}/$batch"]
    assert len(batches) == 3


def test_find_sales_orders_in_chunks(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    with make_client(info) as sap:
        created = sap.create_sales_orders([order(world, customer=2, qty="1") for _ in range(3)])
        wanted = [d.purchase_order for d in created if isinstance(d, SalesOrderDoc)]
        unknown = [new_po("NONE") for _ in range(150)]
        since = control.last_seq(SYSTEM)
        found = sap.find_sales_orders(unknown[:75] + wanted + unknown[75:])
    assert {po: d.number for po, d in found.items()} == {
        d.purchase_order: d.number for d in created if isinstance(d, SalesOrderDoc)
    }
    headers = [c for c in calls_since(control, since) if c["path"].endswith("/A_SalesOrder")]
    assert len(headers) > 1, "153 purchase orders do not fit one URL: the filter is split"


# ------------------------------------------------------------------------------------------------
# CSRF, faults and the no-duplicate rule
# ------------------------------------------------------------------------------------------------


def test_csrf_expiry_between_two_writes_costs_one_refetch(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    with make_client(info) as sap:
        first = sap.create_sales_orders([order(world, customer=0, qty="1")])
        control.expire_tokens(SYSTEM)
        since = control.last_seq(SYSTEM)
        second = sap.create_sales_orders([order(world, customer=1, qty="1"), order(world, customer=2, qty="1")])
        assert sap.odata.csrf_fetches == 2
    assert all(isinstance(r, SalesOrderDoc) for r in [*first, *second])
    calls = calls_since(control, since)
    fetches = [c for c in calls if c["method"] in ("HEAD", "GET") and c["path"] == f"{SO_SRV}/"]
    batches = [c["status"] for c in calls if c["path"] == f"{SO_SRV}/$batch"]
    assert len(fetches) == 1, calls
    assert batches == [403, 202], "refused once for the expired token, then sent again and processed"


def test_a_5xx_burst_on_reads_is_retried(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    with make_client(info) as sap:
        expected = sap.unrestricted_stock(PLANT, world.materials[:3])
        control.faults(SYSTEM, burst_5xx=3)
        since = control.last_seq(SYSTEM)
        assert sap.unrestricted_stock(PLANT, world.materials[:3]) == expected
    statuses = [c["status"] for c in calls_since(control, since)]
    assert statuses[:3] == [500, 500, 500] and statuses[3] == 200


def test_a_5xx_storm_on_a_create_is_not_resent_and_leaves_no_duplicate(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    payload = order(world, customer=1, qty="1")
    po = payload["PurchaseOrderByCustomer"]
    with make_client(info) as sap:
        sap.create_sales_orders([order(world, customer=0, qty="1")])  # the session holds a CSRF token
        control.faults(SYSTEM, rate_5xx=1.0)
        since = control.last_seq(SYSTEM)
        with pytest.raises(TransientError) as caught:
            sap.create_sales_order(payload)
        assert maybe_applied(caught.value)
        posts = [c for c in calls_since(control, since) if c["method"] == "POST"]
        assert len(posts) == 1, "a create that may have been applied is never blindly resent"
        batch = sap.create_sales_orders([order(world, customer=2, qty="1")])
        assert isinstance(batch[0], SapTransientError) and batch[0].maybe_applied
        control.clear_faults()
        # What the ledger does next: look the order up, create it only if SAP has none.
        if po not in sap.find_sales_orders([po]):
            sap.create_sales_order(payload)
        assert len(orders_with_po(sap, po)) == 1


def test_a_create_whose_answer_is_lost_is_found_not_duplicated(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    payload = order(world, customer=2, qty="1")
    po = payload["PurchaseOrderByCustomer"]
    with make_client(info) as sap:
        sap.create_sales_orders([order(world, customer=0, qty="1")])
        control.faults(SYSTEM, rate_truncate=1.0)  # SAP commits, the answer breaks off half-way
        with pytest.raises(TransientError) as caught:
            sap.create_sales_order(payload)
        assert maybe_applied(caught.value)
        control.clear_faults()
        assert len(orders_with_po(sap, po)) == 1, "committed although the client never saw the answer"
        if po not in sap.find_sales_orders([po]):  # the ledger's lookup: found, so not sent again
            sap.create_sales_order(payload)
        assert len(orders_with_po(sap, po)) == 1


def test_429_on_a_create_is_sent_again(sandbox_env, world: World) -> None:
    info, control = sandbox_env
    payload = order(world, customer=0, qty="1")
    with make_client(info) as sap:
        sap.create_sales_orders([order(world, customer=1, qty="1")])
        control.faults(SYSTEM, burst_429=2, retry_after=0)
        since = control.last_seq(SYSTEM)
        doc = sap.create_sales_order(payload)
    assert doc.purchase_order == payload["PurchaseOrderByCustomer"]
    posts = [c["status"] for c in calls_since(control, since) if c["method"] == "POST"]
    assert posts == [429, 429, 201]


# ------------------------------------------------------------------------------------------------
# ETag
# ------------------------------------------------------------------------------------------------


def test_patch_with_the_etag_and_refusal_of_a_stale_one(sandbox_env, world: World) -> None:
    info, _ = sandbox_env
    with make_client(info) as sap:
        doc = sap.create_sales_order(order(world, customer=1, qty="1"))
        read = sap.sales_order(doc.number)
        assert read.etag and read.items == doc.items
        new_date = (read.requested_delivery_date or datetime.now(UTC).date()) + timedelta(days=7)
        new_etag = sap.patch_sales_order(doc.number, {"RequestedDeliveryDate": new_date}, read.etag)
        assert new_etag and new_etag != read.etag
        assert sap.sales_order(doc.number).requested_delivery_date == new_date
        with pytest.raises(SapRequestError) as stale:
            sap.patch_sales_order(doc.number, {"RequestedDeliveryDate": new_date}, read.etag)
        assert stale.value.status == 412
        with pytest.raises(SapRequestError) as missing:
            sap.sales_order("9999999999")
        assert missing.value.status == 404 and isinstance(missing.value, SapError)


# ------------------------------------------------------------------------------------------------
# Deliveries and billing (the sandbox clock moves; kept last in the module)
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def sap_issues_deliveries(sandbox_env: tuple[dict[str, Any], Any]) -> Iterator[None]:
    """SAP posts goods issue of every new delivery itself while the test runs, then the seed's
    setting (3PL plants 1010 and 1020 wait for the hub) is back."""
    # These tests are about SAP issuing deliveries itself; 3PL plants wait for the hub, see
    # tests/sandbox/test_sap_goods_issue.py.
    _, control = sandbox_env
    url = f"{control.url}/records/{SYSTEM}"
    body = {"module": "config", "fields": {"hub_goods_issue_plants": []}}
    response = control.http.post(url, json=body, timeout=10)
    assert response.ok and response.json()["record"]["hub_goods_issue_plants"] == [], response.text
    try:
        yield
    finally:
        back = {"module": "config", "fields": {"hub_goods_issue_plants": ["1010", "1020"]}}
        control.http.post(url, json=back, timeout=10).raise_for_status()


def test_deliveries_and_billing_documents_follow_the_order(
    sandbox_env, world: World, sap_issues_deliveries: None
) -> None:
    info, control = sandbox_env
    start = sandbox_today(control)
    with make_client(info) as sap:
        doc = sap.create_sales_order(order(world, customer=0, materials=(3,), qty="2"))
        control.advance_clock(4 * 86_400)
        shipped = [d for d in sap.deliveries(start.date(), "C") if doc.number in {i.sales_order for i in d.items}]
        billed = [
            b for b in sap.billing_documents(start - timedelta(hours=1)) if b.purchase_order == doc.purchase_order
        ]
    (delivery,) = shipped
    assert delivery.goods_movement_status == "C" and delivery.goods_issue_date is not None
    assert [(i.material, i.quantity) for i in delivery.items] == [(world.materials[3], Decimal(2))]
    (bill,) = billed
    assert bill.net_amount == doc.net_amount and bill.gross_amount == bill.net_amount + bill.tax_amount
    assert bill.items and bill.items[0].sales_order == doc.number and bill.items[0].delivery == delivery.number
