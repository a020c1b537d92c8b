"""The SAP client's outbound-delivery methods (issue 10) against the sandbox emulator over loopback:
reading by day, one delivery with its ETag, picked quantities, goods issue (and its refusal the second
time), reversal, deletion of an un-issued delivery, rejection of the open items; plus the pure
helpers of :mod:`connectors.sap_deliveries` and the new fields of the delivery document."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.http import RetryPolicy
from connectors.sap_deliveries import (
    DeliveryMessage,
    GoodsIssueAlreadyPosted,
    already_posted,
    created_or_changed_on,
    messages_from,
    raise_for_messages,
)
from connectors.sap_documents import delivery_from, edm_time
from connectors.sap_odata import SapBusinessError, SapRequestError
from connectors.sap_s4 import OrderLine, SapClient, SapConfig, sales_order_payload

pytestmark = pytest.mark.sandbox

SYSTEM = "sap_s4"
FAST = RetryPolicy(max_attempts=5, base=0.01, cap=0.05)
DAY = 86_400


@pytest.fixture(scope="module")
def env(start_sandbox: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    with start_sandbox(seed=31, orders=20, frozen=True) as started:
        yield started


def client(info: dict[str, Any]) -> SapClient:
    s = info["systems"][SYSTEM]
    return SapClient(
        SapConfig(
            base_url=s["base_url"],
            service_root=s["service_root"].removeprefix(s["base_url"]),
            user=s["user"],
            password=s["password"],
            timeout=(5.0, 30.0),
            retry=FAST,
            page_size=2,  # several pages even for a few deliveries
        )
    )


@pytest.fixture(scope="module")
def sap(env: tuple[dict[str, Any], Any]) -> Iterator[SapClient]:
    with client(env[0]) as c:
        yield c


class Shop:
    """Orders of plants 1010/1020 (sales org 1000) and 2010 (2000), each on a material of its own."""

    def __init__(self, sap: SapClient) -> None:
        self.sap = sap
        self.used: set[str] = set()
        rows = list(
            sap.odata.iter_entities(
                "API_BUSINESS_PARTNER",
                "A_CustomerSalesArea",
                filter="OrderIsBlockedForCustomer eq ''",
                orderby=("Customer", "SalesOrganization", "DistributionChannel", "Division"),
            )
        )
        self.customer = {org: next(r for r in rows if r["SalesOrganization"] == org) for org in ("1000", "2000")}

    def order(self, plant: str, qty: str) -> tuple[str, str]:
        material = next(
            r
            for r in self.sap.stock(plant)
            if r.stock_type == "01" and r.quantity >= 30 and r.material not in self.used
        )
        self.used.add(material.material)
        org = "2000" if plant == "2010" else "1000"
        area = self.customer[org]
        po = f"DLV-{uuid.uuid4().hex[:8]}"
        doc = self.sap.create_sales_order(
            sales_order_payload(
                sold_to=area["Customer"],
                purchase_order=po,
                sales_organization=org,
                distribution_channel=area["DistributionChannel"],
                division=area["Division"],
                currency="EUR" if org == "2000" else "CNY",
                lines=[OrderLine(material.material, Decimal(qty), material.unit, plant)],
            )
        )
        return doc.number, material.material


@pytest.fixture(scope="module")
def shop(sap: SapClient) -> Shop:
    return Shop(sap)


def today(control: Any) -> datetime:
    now = control.http.get(f"{control.url}/clock", timeout=10).json()["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00"))


def delivery_of(sap: SapClient, day: date, order: str) -> Any:
    (found,) = [d for d in sap.deliveries_on(day) if order in d.sales_orders]
    return found


# -- against the sandbox ------------------------------------------------------------------------------


def test_read_by_day_pick_and_post_goods_issue(env: tuple[dict[str, Any], Any], sap: SapClient, shop: Shop) -> None:
    _, control = env
    order, material = shop.order("1010", "4")
    other, _ = shop.order("1020", "1")
    control.advance_clock(DAY)
    day = today(control).date()
    on_day = list(sap.deliveries_on(day, plants=["1010"]))
    assert order in {o for d in on_day for o in d.sales_orders}
    assert other not in {o for d in on_day for o in d.sales_orders}  # plant 1020 filtered out
    assert len({d.number for d in on_day}) == len(on_day)
    assert list(sap.deliveries_on(day - timedelta(days=5))) == []
    delivery = delivery_of(sap, day, order)
    assert delivery.goods_movement_status == "A" and not delivery.is_issued and delivery.picking_status == "A"
    assert delivery.created_on == day and delivery.created_at is not None and delivery.created_at.tzinfo is UTC
    assert delivery.plants == frozenset({"1010"}) and delivery.goods_issued_at is None
    (item,) = delivery.items
    assert (item.item, item.material, item.quantity, item.original_quantity) == ("10", material, 4, 4)
    assert isinstance(item.quantity, Decimal) and item.base_unit and item.picking_status == "A"
    one = sap.delivery(delivery.number)
    assert one.version and one.items == delivery.items
    assert sap.set_picked_quantity(delivery.number, "10", Decimal(4), item.base_unit) == ()
    assert sap.delivery(delivery.number).picking_status == "C"
    assert sap.post_goods_issue(delivery.number) == ()
    issued = sap.delivery(delivery.number)
    assert issued.is_issued and issued.goods_issue_date == day and issued.goods_issued_at is not None
    assert issued.last_change_date == day and issued.version != one.version
    with pytest.raises(GoodsIssueAlreadyPosted) as again:
        sap.post_goods_issue(delivery.number)
    assert again.value.code == "VL/609" and again.value.record_key == delivery.number
    assert isinstance(again.value, SapBusinessError)
    with pytest.raises(SapBusinessError):
        sap.set_picked_quantity(delivery.number, "10", Decimal(1), item.base_unit)


def test_short_pick_then_reject_the_rest(env: tuple[dict[str, Any], Any], sap: SapClient, shop: Shop) -> None:
    _, control = env
    order, _ = shop.order("1020", "5")
    control.advance_clock(DAY)
    day = today(control).date()
    delivery = delivery_of(sap, day, order)
    with pytest.raises(ValueError, match="no item 90"):
        sap.pick_delivery(delivery, {"90": Decimal(1)})
    with pytest.raises(SapBusinessError) as too_many:
        sap.pick_delivery(delivery, {"10": Decimal(6)})
    assert too_many.value.code == "VL/367"
    sap.pick_delivery(delivery, {"000010": Decimal(2)})
    sap.post_goods_issue(delivery.number)
    (item,) = sap.delivery(delivery.number).items
    assert (item.quantity, item.goods_movement_status) == (2, "C")
    so = sap.sales_order(order)
    assert so.items[0].delivery_status == "B"
    assert sum(line.delivered_quantity for line in so.items[0].schedule_lines) == 2
    assert sap.reject_open_items(order, "02") == ("10",)
    closed = sap.sales_order(order).items[0]
    assert (closed.rejection_reason, closed.delivery_status) == ("02", "C")
    assert sap.reject_open_items(order, "02") == ()  # nothing open any more


def test_billing_follows_goods_issue_and_reversal(env: tuple[dict[str, Any], Any], sap: SapClient, shop: Shop) -> None:
    _, control = env
    order, _ = shop.order("1010", "3")
    control.advance_clock(DAY)
    start = today(control)
    delivery = delivery_of(sap, start.date(), order)
    with pytest.raises(SapBusinessError) as not_issued:
        sap.reverse_goods_issue(delivery.number, start.date())
    assert not_issued.value.code == "VL/611"
    sap.post_goods_issue(delivery.number)
    messages = sap.reverse_goods_issue(delivery.number, start.date())
    assert [(m.type, m.code) for m in messages] == [("S", "VL/311")]
    assert not sap.delivery(delivery.number).is_issued
    control.advance_clock(1.5 * DAY)
    assert [
        b for b in sap.billing_documents(start - timedelta(days=1)) if delivery.number in {i.delivery for i in b.items}
    ] == []
    sap.post_goods_issue(delivery.number)  # issued anew, a day and a half later
    reread = sap.delivery(delivery.number)
    assert reread.last_change_date == today(control).date() != reread.created_on
    assert delivery.number in {d.number for d in sap.deliveries_on(today(control).date())}  # by change date
    control.advance_clock(1.1 * DAY)
    billed = [b for b in sap.billing_documents(start) if delivery.number in {i.delivery for i in b.items}]
    assert [i.quantity for b in billed for i in b.items] == [Decimal(3)]
    with pytest.raises(SapBusinessError) as billed_refusal:
        sap.reverse_goods_issue(delivery.number, today(control).date())
    assert billed_refusal.value.code == "VL/656"


def test_cancel_delete_the_delivery_then_reject(env: tuple[dict[str, Any], Any], sap: SapClient, shop: Shop) -> None:
    _, control = env
    order, _ = shop.order("1010", "2")
    control.advance_clock(DAY)
    delivery = delivery_of(sap, today(control).date(), order)
    assert sap.reject_open_items(order, "02") == ()  # all of it sits in the delivery
    with pytest.raises(ValueError):
        sap.delete_delivery(delivery.number, "")
    with pytest.raises(SapRequestError) as stale:
        sap.delete_delivery(delivery.number, "W/\"'0042'\"")
    assert stale.value.status == 412
    sap.delete_delivery(delivery.number, sap.delivery(delivery.number).version or "")
    with pytest.raises(SapRequestError) as gone:
        sap.delivery(delivery.number)
    assert gone.value.status == 404
    assert sap.sales_order(order).items[0].delivery_status == "A"
    assert sap.reject_open_items(order, "02") == ("10",)
    with pytest.raises(ValueError):
        sap.reject_open_items(order, "TOO-LONG")


def test_plant_2010_is_issued_by_sap_itself(env: tuple[dict[str, Any], Any], sap: SapClient, shop: Shop) -> None:
    _, control = env
    order, _ = shop.order("2010", "1")
    control.advance_clock(DAY)
    delivery = delivery_of(sap, today(control).date(), order)
    assert delivery.is_issued and delivery.goods_issue_date == today(control).date()
    assert list(sap.deliveries_on(today(control).date(), plants=["1010", "1020"])) == [
        d for d in sap.deliveries_on(today(control).date()) if d.plants & {"1010", "1020"}
    ]
    with pytest.raises(SapBusinessError):
        sap.delete_delivery(delivery.number, delivery.version or "")
    with pytest.raises(GoodsIssueAlreadyPosted):
        sap.post_goods_issue(delivery.number)


# -- pure helpers ---------------------------------------------------------------------------------------


def test_messages_and_their_errors() -> None:
    rows = [
        {"SystemMessageType": "S", "SystemMessageIdentification": "VL", "SystemMessageNumber": "311",
         "SystemMessageVariable1": "80000001", "DeliveryDocumentItem": "000010"},
        "not a row",
    ]  # fmt: skip
    (message,) = messages_from(rows)
    assert message == DeliveryMessage("S", "VL", "311", "10", ("80000001",)) and not message.is_error
    assert messages_from(None) == ()
    raise_for_messages("PostGoodsIssue", "80000001", (message,))
    failing = DeliveryMessage("E", "VL", "602", "", ("Picking", "incomplete"))
    with pytest.raises(SapBusinessError, match="VL/602 Picking incomplete"):
        raise_for_messages("PostGoodsIssue", "80000001", (message, failing))


def test_already_posted_only_for_vl_609() -> None:
    posted = SapBusinessError("Goods movement already posted", status=400, code="VL/609")
    other = SapBusinessError("Something else", status=400, code="VL/001")
    converted = already_posted(posted, "80000007")
    assert isinstance(converted, GoodsIssueAlreadyPosted) and converted.record_key == "80000007"
    assert already_posted(other, "80000007") is None


def test_day_filter() -> None:
    assert created_or_changed_on(date(2026, 3, 4)) == (
        "(CreationDate eq datetime'2026-03-04T00:00:00' or LastChangeDate eq datetime'2026-03-04T00:00:00')"
    )


@given(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_edm_time_reads_sap_times(hours: int, minutes: int, seconds: int) -> None:
    assert edm_time(f"PT{hours:02d}H{minutes:02d}M{seconds:02d}S") == time(hours, minutes, seconds)


@given(st.text(max_size=12))
def test_edm_time_never_raises(text: str) -> None:
    assert edm_time(text) is None or isinstance(edm_time(text), time)


def test_delivery_document_reads_the_new_fields() -> None:
    doc = delivery_from(
        {
            "DeliveryDocument": "80000003",
            "OverallGoodsMovementStatus": "A",
            "OverallPickingStatus": "B",
            "CreationDate": date(2026, 3, 4),
            "CreationTime": "PT00H00M00S",
            "ActualGoodsMovementDate": None,
            "ActualGoodsMovementTime": None,
            "to_DeliveryDocumentItem": [
                {"DeliveryDocumentItem": "000020", "Plant": "1020", "ReferenceSDDocument": "1000007",
                 "ActualDeliveryQuantity": "2.000", "OriginalDeliveryQuantity": "3.000", "BaseUnit": "PC",
                 "PickingStatus": "B"},
                {"DeliveryDocumentItem": "000010", "Plant": "1010", "ReferenceSDDocument": "1000007"},
            ],
        }
    )  # fmt: skip
    assert doc.created_at == datetime(2026, 3, 4, tzinfo=UTC) and doc.goods_issued_at is None
    assert doc.plants == frozenset({"1010", "1020"}) and doc.sales_orders == frozenset({"1000007"})
    assert [i.item for i in doc.items] == ["10", "20"]
    assert (doc.items[1].quantity, doc.items[1].original_quantity, doc.items[1].picking_status) == (2, 3, "B")
