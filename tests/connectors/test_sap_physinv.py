"""The physical-inventory client (:mod:`connectors.sap_physinv`, issue 11) against the sandbox's SAP
emulator over loopback: the paged book-stock snapshot, a document created, found again by its
reference, counted (a repeated count after a lost answer is accepted, a conflicting one is not) and
posted exactly once, the book stock moving by the differences; plus the local refusals and parsing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.http import RetryPolicy
from connectors.sap_odata import SapBusinessError, SapRequestError
from connectors.sap_physinv import (
    PhysicalInventoryClient,
    PiDocument,
    PiItemIn,
    pi_document_from,
)
from connectors.sap_s4 import SapClient, SapConfig

pytestmark = pytest.mark.sandbox

SYSTEM = "sap_s4"
FAST = RetryPolicy(max_attempts=5, base=0.01, cap=0.05)
COUNT_DAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def env(start_sandbox: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    with start_sandbox(seed=37, orders=20, frozen=True) as started:
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
        page_size=700,  # several pages per plant
    )
    with SapClient(config) as client:
        yield client


@pytest.fixture(scope="module")
def pi(sap: SapClient) -> PhysicalInventoryClient:
    return PhysicalInventoryClient(sap)


@pytest.fixture(scope="module")
def snapshot(sap: SapClient) -> list[dict[str, Any]]:
    # The book snapshot as the inventory flow reads it (SapClient.stock, paged in the full key order).
    return [
        {
            "plant": r.plant,
            "storage_location": r.storage_location,
            "material": r.material,
            "stock_type": r.stock_type,
            "quantity": r.quantity,
            "unit": r.unit,
        }
        for plant in ("1010", "2010")
        for r in sap.stock(plant)
    ]


class Free:
    """Materials of plant 1010 with stock, each handed to one test only."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [r for r in rows if r["plant"] == "1010" and r["quantity"] >= 10]

    def take(self, stock_type: str = "01") -> dict[str, Any]:
        row = next(r for r in self.rows if r["stock_type"] == stock_type)
        self.rows = [r for r in self.rows if r["material"] != row["material"]]
        return row


@pytest.fixture(scope="module")
def free(snapshot: list[dict[str, Any]]) -> Free:
    return Free(snapshot)


def _book(sap: SapClient, material: str, stock_type: str = "01") -> Decimal:
    return sum((r.quantity for r in sap.stock("1010", [material]) if r.stock_type == stock_type), Decimal(0))


def test_the_book_snapshot_pages_every_row_once(sap: SapClient, snapshot: list[dict[str, Any]]) -> None:
    for plant in ("1010", "2010"):
        count = sap.odata.get(
            sap.odata.url("API_MATERIAL_STOCK_SRV", "A_MatlStkInAcctMod/$count", {"$filter": f"Plant eq '{plant}'"})
        ).text
        rows = [r for r in snapshot if r["plant"] == plant]
        assert len(rows) == int(count) > 700  # more than one page, each plant once
    keys = [(r["plant"], r["material"], r["stock_type"]) for r in snapshot]
    assert len(keys) == len(set(keys))
    assert {r["stock_type"] for r in snapshot} >= {"01"} and {r["storage_location"] for r in snapshot} == {"0001"}
    assert all(isinstance(r["quantity"], Decimal) and r["unit"] == "PC" for r in snapshot)


def test_create_count_post_exactly_once(
    sap: SapClient, pi: PhysicalInventoryClient, free: Free, caplog: pytest.LogCaptureFixture
) -> None:
    loss, zero, gain = free.take(), free.take(), free.take()
    blocked = free.take("07") if any(r["stock_type"] == "07" for r in free.rows) else None
    assert blocked is not None, "the seed holds blocked stock in plant 1010"
    wanted = [PiItemIn(loss["material"]), PiItemIn(zero["material"]), PiItemIn(gain["material"])]
    if blocked is not None:
        wanted.append(PiItemIn(blocked["material"], stock_type="07"))
    doc = pi.create_document("1010", "0001", "HUB-CX-0001", "cycle count 2026-03-02", wanted, COUNT_DAY)
    assert doc.reference == "HUB-CX-0001" and doc.plant == "1010" and doc.document_date == COUNT_DAY
    assert [i.item for i in doc.items] == [f"{n:03d}" for n in range(1, len(wanted) + 1)]
    assert [i.book_quantity for i in doc.items[:3]] == [loss["quantity"], zero["quantity"], gain["quantity"]]
    assert all(not i.counted and i.counted_quantity is None and i.etag for i in doc.items)
    assert [d.document for d in pi.find_by_reference("HUB-CX-0001")] == [doc.document]

    # Posting before counting is refused by SAP.
    with pytest.raises(SapBusinessError) as refused:
        pi.post_differences(doc.fiscal_year, doc.document, COUNT_DAY)
    assert refused.value.status == 400

    counts = {
        "1": (loss["quantity"] - 3, "PC", "0001"),
        "002": (Decimal(0), "PC", None),
        "3": (gain["quantity"] + 2, "PC", None),
    }
    if blocked is not None:
        counts["4"] = (blocked["quantity"] + 1, "PC", None)
    counted = pi.enter_counts(doc, counts)
    assert counted.count_status == "X"
    assert counted.item("1").difference_quantity == -3 and counted.item("1").reason == "0001"
    assert counted.item("2").zero_count and counted.item("2").counted_quantity == 0
    assert counted.item("3").difference_amount > 0 and counted.item("3").currency == "CNY"
    # The same counts again under the old ETags (a retry after a lost answer): accepted, no change.
    with caplog.at_level("INFO", logger="connectors.sap_physinv"):
        assert pi.enter_counts(doc, counts).items == pi.read_document(doc.fiscal_year, doc.document).items
    assert sum("already holds count" in r.getMessage() for r in caplog.records) == len(counts)
    # A different count under a stale ETag is someone else's change: refused.
    with pytest.raises(SapRequestError) as stale:
        pi.enter_counts(doc, {"1": (Decimal(1), "PC", None)})
    assert stale.value.status == 412

    posted = pi.post_differences(doc.fiscal_year, doc.document, COUNT_DAY)
    assert posted.posted and posted.posting_status == "X" and posted.posting_date == COUNT_DAY
    documents = {i.material_document for i in posted.items}
    assert len(documents) == 1 and documents != {""}
    assert all(i.posted and i.material_document_year == "2026" for i in posted.items)
    assert _book(sap, loss["material"]) == loss["quantity"] - 3
    assert _book(sap, zero["material"]) == 0
    assert _book(sap, gain["material"]) == gain["quantity"] + 2
    if blocked is not None:
        assert _book(sap, blocked["material"], "07") == blocked["quantity"] + 1

    # A re-run posts nothing twice: the posted document comes back, the book stays.
    again = pi.post_differences(doc.fiscal_year, doc.document, COUNT_DAY)
    assert again.items == posted.items
    assert _book(sap, loss["material"]) == loss["quantity"] - 3
    # And its counts are already there.
    assert pi.enter_counts(posted, {"1": counts["1"]}).items == posted.items


def test_local_refusals_send_nothing(pi: PhysicalInventoryClient, free: Free) -> None:
    item = [PiItemIn(free.rows[0]["material"])]
    with pytest.raises(ValueError, match="reference"):
        pi.create_document("1010", "0001", "R" * 17, "x", item, COUNT_DAY)
    with pytest.raises(ValueError, match="reference"):
        pi.find_by_reference("")
    with pytest.raises(ValueError, match="stock type"):
        pi.create_document("1010", "0001", "HUB-BAD", "x", [PiItemIn("SP-1", stock_type="03")], COUNT_DAY)
    with pytest.raises(ValueError, match="twice"):
        pi.create_document("1010", "0001", "HUB-BAD", "x", item * 2, COUNT_DAY)
    with pytest.raises(ValueError, match="at least one"):
        pi.create_document("1010", "0001", "HUB-BAD", "x", [], COUNT_DAY)
    assert pi.find_by_reference("HUB-BAD") == []


def test_sap_refusals(pi: PhysicalInventoryClient, free: Free) -> None:
    with pytest.raises(SapBusinessError) as unknown:
        pi.create_document("1010", "0001", "HUB-ERR", "x", [PiItemIn("NO-SUCH-PART")], COUNT_DAY)
    assert unknown.value.code == "M3/305"
    with pytest.raises(SapRequestError) as missing:
        pi.read_document("2026", "0999999999")
    assert missing.value.status == 404
    doc = pi.create_document("1010", "0001", "HUB-ERR", "x", [PiItemIn(free.take()["material"])], COUNT_DAY)
    with pytest.raises(ValueError, match="no item 002"):
        pi.enter_counts(doc, {"2": (Decimal(1), "PC", None)})
    with pytest.raises(ValueError, match="0 or more"):
        pi.enter_counts(doc, {"1": (Decimal(-1), "PC", None)})
    with pytest.raises(SapBusinessError):
        pi.enter_counts(doc, {"1": (Decimal(1), "KAR", None)})  # a unit the material does not have


def test_document_parsing() -> None:
    row = {
        "FiscalYear": "2026",
        "PhysicalInventoryDocument": "0100000007",
        "Plant": "2010",
        "StorageLocation": "0001",
        "PhysInventoryReferenceNumber": "REF",
        "PhysInvtryAdjustmentPostingSts": "A",
        "to_PhysicalInventoryDocumentItem": [
            {"PhysicalInventoryDocumentItem": "2", "Material": "M", "PhysicalInventoryStockType": "X",
             "BookQtyBfrCountInMatlBaseUnit": Decimal("5"), "Quantity": Decimal("0"),
             "PhysicalInventoryItemIsCounted": False, "MaterialBaseUnit": "PC", "PhysInvtryItemIsRecounted": True},
            {"PhysicalInventoryDocumentItem": "001", "Material": "N", "PhysicalInventoryStockType": "",
             "BookQtyBfrCountInMatlBaseUnit": Decimal("5"), "Quantity": Decimal("4"),
             "PhysicalInventoryItemIsCounted": True, "PhysInvtryDifferenceIsPosted": True,
             "DifferenceAmountInCoCodeCrcy": Decimal("-1.50"), "Currency": "EUR"},
        ],
    }  # fmt: skip
    doc = pi_document_from(row)
    assert isinstance(doc, PiDocument) and [i.item for i in doc.items] == ["001", "002"]
    first, second = doc.items
    assert (first.stock_type, first.difference_quantity, first.difference_amount) == ("01", -1, Decimal("-1.50"))
    assert (second.stock_type, second.counted_quantity, second.difference_quantity) == ("02", None, None)
    assert doc.posted  # the recounted item no longer counts
    with pytest.raises(KeyError):
        doc.item("9")
