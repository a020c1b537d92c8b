"""The purchase-requisition client (:mod:`connectors.sap_purchase_req`, issue 14) against the
sandbox's SAP emulator over loopback: a requisition created in one deep insert, read back and found
by its items' external reference; local refusals send nothing; SAP's refusals come back as
SapBusinessError; after a 5xx on the create (which SAP may have committed) the lookup decides, and
a 429 (never received) is resent by the client itself, so every proposal becomes one requisition."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.http import RetryPolicy, TransientError
from connectors.sap_odata import SapBusinessError, SapRequestError
from connectors.sap_purchase_req import (
    PrItemIn,
    PurchaseRequisitionClient,
    maybe_applied,
    purchase_requisition_from,
)
from connectors.sap_s4 import SapClient, SapConfig
from sandbox.seed_data import generate

pytestmark = pytest.mark.sandbox

SYSTEM = "sap_s4"
SEED, ORDERS = 41, 20
FAST = RetryPolicy(max_attempts=5, base=0.01, cap=0.05)
DAY = date(2026, 3, 16)


@pytest.fixture(scope="module")
def env(start_sandbox: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    with start_sandbox(seed=SEED, orders=ORDERS, frozen=True) as started:
        yield started


@pytest.fixture(scope="module")
def sap(env: tuple[dict[str, Any], Any]) -> Iterator[SapClient]:
    s = env[0]["systems"][SYSTEM]
    config = SapConfig(
        base_url=s["base_url"],
        service_root=s["service_root"].removeprefix(s["base_url"]),
        user=s["user"],
        password=s["password"],
        timeout=(5.0, 30.0),
        retry=FAST,
    )
    with SapClient(config) as client:
        yield client


@pytest.fixture(scope="module")
def prs(sap: SapClient) -> PurchaseRequisitionClient:
    return PurchaseRequisitionClient(sap)


@pytest.fixture(scope="module")
def parts() -> list[str]:
    """Materials of plant 1010 and 2010 alike, from the seed the sandbox runs."""
    return [m.number for m in generate(SEED, ORDERS).materials if {"1010", "2010"} <= set(m.plants)]


def _item(material: str, ref: str, quantity: str = "12", plant: str = "1010", **extra: Any) -> PrItemIn:
    return PrItemIn(material, plant, Decimal(quantity), "PC", DAY, ref, **extra)


def test_create_read_and_find(prs: PurchaseRequisitionClient, parts: list[str], env: Any) -> None:
    a, b = parts[:2]
    pr = prs.create(
        "Replenishment 2026-W12 1010",
        [
            _item(a, "hub-2026w12-1010-a", text="weekly plan"),
            _item(b, "HUB-2026W12-1010-B", "30", price=Decimal("4.5"), currency="CNY", purchasing_group="002"),
        ],
    )
    assert pr.number.startswith("00100000") and len(pr.number) == 10
    assert pr.type == "NB" and pr.description == "Replenishment 2026-W12 1010"
    assert [(i.item, i.material, i.quantity, i.unit) for i in pr.items] == [
        ("10", a, Decimal(12), "PC"),
        ("20", b, Decimal(30), "PC"),
    ]
    assert pr.items[0].external_reference == "HUB-2026W12-1010-A"  # SAP keeps it upper case
    assert pr.items[0].delivery_date == DAY and not pr.items[0].is_deleted
    assert prs.read(pr.number) == pr
    assert prs.find_by_external_reference("hub-2026w12-1010-b") == [pr]
    assert prs.find_by_external_reference("HUB-NOT-THERE") == []
    record = env[1].record(SYSTEM, "purchase_requisitions", pr.number)
    assert record["items"][1]["PurchaseRequisitionPrice"] == "4.500" and record["items"][1]["PurchasingGroup"] == "002"


def test_local_refusals_send_nothing(prs: PurchaseRequisitionClient, parts: list[str], env: Any) -> None:
    before = env[1].record(SYSTEM, "purchase_requisitions", "all")["count"]
    with pytest.raises(ValueError, match="at least one item"):
        prs.create("x", [])
    with pytest.raises(ValueError, match="external reference"):
        prs.create("x", [_item(parts[0], "R" * 36)])
    with pytest.raises(ValueError, match="external reference"):
        prs.create("x", [_item(parts[0], " ")])
    with pytest.raises(ValueError, match="above 0"):
        prs.create("x", [_item(parts[0], "HUB-BAD", "0")])
    with pytest.raises(ValueError, match="item text"):
        prs.create("x", [_item(parts[0], "HUB-BAD", text="t" * 41)])
    with pytest.raises(ValueError, match="description"):
        prs.create("d" * 41, [_item(parts[0], "HUB-BAD")])
    with pytest.raises(ValueError, match="currency"):
        prs.create("x", [_item(parts[0], "HUB-BAD", price=Decimal(1))])
    with pytest.raises(ValueError, match="external reference"):
        prs.find_by_external_reference("")
    assert env[1].record(SYSTEM, "purchase_requisitions", "all")["count"] == before


def test_sap_refusals(prs: PurchaseRequisitionClient, parts: list[str]) -> None:
    with pytest.raises(SapBusinessError) as unknown:
        prs.create("x", [_item("NO-SUCH-PART", "HUB-ERR-1")])
    assert unknown.value.code == "M3/305" and unknown.value.status == 400
    with pytest.raises(SapBusinessError) as pr_type:
        prs.create("x", [_item(parts[0], "HUB-ERR-2")], pr_type="FO")
    assert pr_type.value.code == "06/201"
    with pytest.raises(SapBusinessError) as org:
        prs.create("x", [_item(parts[0], "HUB-ERR-3", purchasing_organization="2000")])
    assert org.value.code == "06/205"
    with pytest.raises(SapRequestError) as missing:
        prs.read("0019999999")
    assert missing.value.status == 404
    assert prs.find_by_external_reference("HUB-ERR-1") == []


def test_transient_errors_after_a_create_are_settled_by_the_lookup(
    prs: PurchaseRequisitionClient, parts: list[str], env: Any
) -> None:
    control = env[1]
    ref = "HUB-2026W12-2010-C"
    wanted = [_item(parts[2], ref, plant="2010")]
    # A 5xx may come after SAP committed: the client does not resend, the caller looks it up.
    control.faults(SYSTEM, burst_5xx=1)
    try:
        with pytest.raises(TransientError) as failed:
            prs.create("plan 2010", wanted)
    finally:
        control.clear_faults()
    assert maybe_applied(failed.value)
    found = prs.find_by_external_reference(ref)
    assert found == []  # the fault answered before SAP saw it: safe to create now
    created = prs.create("plan 2010", wanted)
    assert prs.find_by_external_reference(ref) == [created]
    # 429 comes from API Management, before SAP: the client resends by itself, once created.
    control.faults(SYSTEM, burst_429=2)
    try:
        again = prs.create("plan 2010 b", [_item(parts[3], "HUB-2026W12-2010-D", plant="2010")])
    finally:
        control.clear_faults()
    assert prs.find_by_external_reference("HUB-2026W12-2010-D") == [again]


def test_parsing_without_items_and_with_leading_zeros() -> None:
    pr = purchase_requisition_from(
        {
            "PurchaseRequisition": "0010000009",
            "PurchaseRequisitionType": "NB",
            "PurReqnDescription": "d",
            "to_PurchaseReqnItem": [
                {
                    "PurchaseRequisitionItem": "00020",
                    "Material": "B",
                    "RequestedQuantity": Decimal(2),
                    "IsDeleted": "X",
                },
                {"PurchaseRequisitionItem": "00010", "Material": "A", "RequestedQuantity": None, "IsDeleted": ""},
            ],
        }
    )
    assert [(i.item, i.material, i.quantity, i.is_deleted) for i in pr.items] == [
        ("10", "A", Decimal(0), False),
        ("20", "B", Decimal(2), True),
    ]
    assert purchase_requisition_from({"PurchaseRequisition": "1"}).items == ()
