"""The canonical outbound order and its Qimen stockout.create request (logistics reference §3.1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.outbound_orders import (
    GMT8,
    PICKUP,
    OutboundLine,
    OutboundOrder,
    OutboundOrderError,
    Receiver,
    java_length,
    parse_qimen_time,
    qimen_time,
    to_stockout_create,
)

RECEIVER = Receiver(
    company="华东汽修有限公司",
    name="张工",
    mobile="13800000000",
    province="江苏省",
    city="苏州市",
    area="工业园区",
    detail_address="星湖街100号",
)


def _order(*lines: OutboundLine, **changes) -> OutboundOrder:
    base = OutboundOrder(
        delivery="80000017",
        sales_order="1000001",
        purchase_order="PO-88231",
        plant="1010",
        warehouse="WH-SH01",
        owner_code="PARTSHUB",
        created=datetime(2024, 5, 20, 2, 0, tzinfo=UTC),
        schedule_date=date(2024, 5, 21),
        receiver=RECEIVER,
        logistics_code="SF",
        lines=lines
        or (
            OutboundLine(10, "P-1001", "前刹车片", Decimal("5.000"), "PC"),
            OutboundLine(20, "P-2040", "机油滤清器", Decimal(20), "PC"),
        ),
    )
    return replace(base, **changes)


def test_request_matches_the_reference_sample() -> None:
    request = to_stockout_create(_order())
    assert request["deliveryOrder"] == {
        "totalOrderLines": "2",
        "deliveryOrderCode": "80000017",
        "orderType": "B2BCK",
        "warehouseCode": "WH-SH01",
        "createTime": "2024-05-20 10:00:00",  # 02:00 UTC is 10:00 in GMT+8
        "scheduleDate": "2024-05-21",
        "logisticsCode": "SF",
        "logisticsName": "顺丰速运",
        "transportMode": "快递",
        "receiverInfo": {
            "company": "华东汽修有限公司",
            "name": "张工",
            "mobile": "13800000000",
            "province": "江苏省",
            "city": "苏州市",
            "area": "工业园区",
            "detailAddress": "星湖街100号",
        },
    }
    assert request["orderLines"] == [
        {
            "orderLineNo": "10",
            "ownerCode": "PARTSHUB",
            "itemCode": "P-1001",
            "itemName": "前刹车片",
            "planQty": "5",
            "unit": "PC",
            "inventoryType": "ZP",
        },
        {
            "orderLineNo": "20",
            "ownerCode": "PARTSHUB",
            "itemCode": "P-2040",
            "itemName": "机油滤清器",
            "planQty": "20",
            "unit": "PC",
            "inventoryType": "ZP",
        },
    ]
    assert request["extendProps"] == {"customerPo": "PO-88231", "salesOrder": "1000001"}


def test_optional_fields_are_left_out_not_sent_empty() -> None:
    receiver = replace(RECEIVER, company=None, area="  ")
    order = _order(
        OutboundLine(10, "P-1", None, Decimal(1), "PC"),
        logistics_code=None,
        schedule_date=None,
        purchase_order=None,
        receiver=receiver,
        transport_mode=PICKUP,
    )
    request = to_stockout_create(order)
    head = request["deliveryOrder"]
    assert "logisticsCode" not in head and "logisticsName" not in head and "scheduleDate" not in head
    assert head["transportMode"] == "到仓自提"
    assert set(head["receiverInfo"]) == {"name", "mobile", "province", "city", "detailAddress"}
    assert "itemName" not in request["orderLines"][0]
    assert request["extendProps"] == {"salesOrder": "1000001"}
    assert order.pickup


def test_a_carrier_outside_the_standard_list_goes_without_a_name() -> None:
    head = to_stockout_create(_order(logistics_code="DBL"))["deliveryOrder"]
    assert head["logisticsCode"] == "DBL" and "logisticsName" not in head


def test_every_leaf_is_text() -> None:
    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    assert all(isinstance(v, str) for v in leaves(to_stockout_create(_order())))


@pytest.mark.parametrize("quantity", ["2.5", "0.001", "NaN", "Infinity"])
def test_fractional_quantity_names_delivery_line_and_field(quantity: str) -> None:
    order = _order(
        OutboundLine(10, "P-1", "x", Decimal(1), "PC"), OutboundLine(20, "P-2", "y", Decimal(quantity), "KG")
    )
    with pytest.raises(OutboundOrderError, match=r"delivery 80000017 line 20: planQty must be a whole number") as err:
        to_stockout_create(order)
    assert (err.value.delivery, err.value.line_no, err.value.field) == ("80000017", 20, "planQty")


@pytest.mark.parametrize("quantity", ["0", "-3"])
def test_non_positive_quantity_is_refused(quantity: str) -> None:
    with pytest.raises(OutboundOrderError, match="planQty must be positive"):
        to_stockout_create(_order(OutboundLine(10, "P-1", "x", Decimal(quantity), "PC")))


@pytest.mark.parametrize("field", ["name", "mobile", "province", "city", "detail_address"])
def test_missing_receiver_field_is_named(field: str) -> None:
    order = _order(receiver=replace(RECEIVER, **{field: ""}))
    wire = "detailAddress" if field == "detail_address" else field
    with pytest.raises(OutboundOrderError, match=f"receiverInfo.{wire} is required") as err:
        to_stockout_create(order)
    assert err.value.field == f"receiverInfo.{wire}"


@pytest.mark.parametrize(
    ("changes", "field", "limit"),
    [
        ({"delivery": "D" * 51}, "deliveryOrderCode", 50),
        ({"remark": "备" * 501}, "remark", 500),
        ({"receiver": replace(RECEIVER, detail_address="路" * 201)}, "receiverInfo.detailAddress", 200),
        ({"lines": (OutboundLine(10, "P-1", "名" * 201, Decimal(1), "PC"),)}, "itemName", 200),
    ],
)
def test_too_long_is_refused_not_truncated(changes, field, limit) -> None:
    with pytest.raises(OutboundOrderError, match=f"{field} is {limit + 1} characters long, more than the {limit}"):
        to_stockout_create(_order(**changes))


def test_length_counts_as_java_does() -> None:
    assert java_length("刹车片") == 3
    assert java_length("🚚") == 2  # outside the BMP: a surrogate pair in Java
    to_stockout_create(_order(delivery="🚚" * 25))
    with pytest.raises(OutboundOrderError, match="deliveryOrderCode is 52 characters"):
        to_stockout_create(_order(delivery="🚚" * 26))


def test_exactly_at_the_limit_passes() -> None:
    request = to_stockout_create(_order(remark="x" * 500, delivery="8" * 50))
    assert len(request["deliveryOrder"]["remark"]) == 500


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lines": ()}, "orderLines is empty"),
        ({"warehouse": "WH SH01"}, "warehouseCode must be letters"),
        ({"receiver": replace(RECEIVER, name="张\x00工")}, "receiverInfo.name holds a character XML cannot carry"),
        (
            {"lines": (OutboundLine(10, "A", "x", Decimal(1), "PC"), OutboundLine(10, "B", "y", Decimal(1), "PC"))},
            "orderLineNo repeats",
        ),
        ({"lines": (OutboundLine(0, "A", "x", Decimal(1), "PC"),)}, "orderLineNo must be a positive"),
        ({"lines": (OutboundLine(10, "", "x", Decimal(1), "PC"),)}, "line 10: itemCode is required"),
    ],
)
def test_other_refusals(changes, message) -> None:
    with pytest.raises(OutboundOrderError, match=message):
        to_stockout_create(_order(**changes))


def test_naive_creation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_stockout_create(_order(created=datetime(2024, 5, 20, 10, 0)))


@given(st.datetimes(max_value=datetime(9999, 12, 30), timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0)))
def test_qimen_time_round_trips(moment: datetime) -> None:
    text = qimen_time(moment)
    assert len(text) == 19
    parsed = parse_qimen_time(text)
    assert parsed == moment and parsed.tzinfo == GMT8


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=0, max_value=6))
def test_whole_quantities_pass_at_any_scale(qty: int, scale: int) -> None:
    value = Decimal(qty).quantize(Decimal(1).scaleb(-scale))
    line = to_stockout_create(_order(OutboundLine(10, "P-1", "x", value, "PC")))["orderLines"][0]
    assert line["planQty"] == str(qty)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=3).filter(lambda d: d != d.to_integral_value()))
def test_fractional_quantities_never_pass(value: Decimal) -> None:
    with pytest.raises(OutboundOrderError, match="planQty"):
        to_stockout_create(_order(OutboundLine(10, "P-1", "x", value, "PC")))
