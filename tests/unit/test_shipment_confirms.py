"""Reading Qimen stockout.confirm messages and combining the confirms of a delivery (reference §3.3, §5)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.outbound_orders import GMT8
from transforms.shipment_confirms import (
    ConfirmProblem,
    ShipmentConfirm,
    combine,
    read_confirm,
)

PLANNED = {10: Decimal(5), 20: Decimal(20)}
MATERIALS = {10: "P-1001", 20: "P-2040"}


def _doc(**head: Any) -> dict[str, Any]:
    """The reference's sample final confirm (§3.3) as parse_request gives it; ``head`` overrides fields."""
    document: dict[str, Any] = {
        "deliveryOrder": {
            "totalOrderLines": "2",
            "deliveryOrderCode": "80000017",
            "deliveryOrderId": "WMSCK24052000017",
            "warehouseCode": "WH-SH01",
            "orderType": "B2BCK",
            "status": "DELIVERED",
            "outBizCode": "WMSCK24052000017-C1",
            "confirmType": "0",
            "logisticsCode": "SF",
            "logisticsName": "顺丰速运",
            "expressCode": "SF1234567890123",
            "orderConfirmTime": "2024-05-21 16:40:00",
        },
        "packages": [
            {
                "logisticsName": "顺丰速运",
                "expressCode": "SF1234567890123",
                "packageCode": "BOX-01",
                "weight": "12.5",
                "items": [{"itemCode": "P-1001", "quantity": "5"}, {"itemCode": "P-2040", "quantity": "18"}],
            }
        ],
        "orderLines": [
            {
                "orderLineNo": "10",
                "itemCode": "P-1001",
                "inventoryType": "ZP",
                "actualQty": "5",
                "batchCode": "B240301",
            },
            {"orderLineNo": "20", "itemCode": "P-2040", "inventoryType": "ZP", "actualQty": "18"},
        ],
    }
    for key, value in head.items():
        if value is None:
            document["deliveryOrder"].pop(key, None)
        else:
            document["deliveryOrder"][key] = value
    return document


def _read(document: dict[str, Any]) -> ShipmentConfirm:
    reading = read_confirm(document)
    assert reading.ok, reading.problems
    assert reading.confirm is not None
    return reading.confirm


def _fields(document: dict[str, Any]) -> list[str]:
    reading = read_confirm(document)
    assert reading.confirm is None
    return [p.field for p in reading.problems]


def test_reference_sample_reads() -> None:
    confirm = _read(_doc())
    assert confirm.delivery == "80000017" and confirm.wms_order_id == "WMSCK24052000017"
    assert confirm.final and confirm.status == "DELIVERED" and confirm.dedupe_key == "WMSCK24052000017-C1"
    assert confirm.confirmed_at is not None and confirm.confirmed_at.tzinfo == GMT8
    assert confirm.confirmed_at.isoformat() == "2024-05-21T16:40:00+08:00"
    assert [(ln.line_no, ln.item_code, ln.quantity) for ln in confirm.lines] == [
        (10, "P-1001", Decimal(5)),
        (20, "P-2040", Decimal(18)),
    ]
    assert confirm.lines[0].batches[0].batch_code == "B240301" and confirm.lines[0].batches[0].quantity == 5
    (parcel,) = confirm.parcels
    assert (parcel.package_code, parcel.carrier_code, parcel.carrier_name, parcel.tracking) == (
        "BOX-01",
        "SF",
        "顺丰速运",
        "SF1234567890123",
    )
    assert confirm.packages[0].weight_kg == Decimal("12.5")
    assert confirm.tracking_numbers == ("SF1234567890123",)
    assert not confirm.pickup


def test_short_final_confirm_closes_the_rest() -> None:
    summary = combine(PLANNED, [_read(_doc())], materials=MATERIALS)
    assert summary.final and summary.state == "shipped" and not summary.problems
    assert [(ln.line_no, ln.shipped, ln.open, ln.short) for ln in summary.lines] == [
        (10, 5, 0, 0),
        (20, 18, 0, 2),
    ]
    assert [ln.line_no for ln in summary.short_shipped] == [20]
    assert summary.goods_issue == {10: Decimal(5), 20: Decimal(18)}


def _partial(code: str, qty10: str, qty20: str, *, final: bool = False, tracking: str = "SF1") -> dict[str, Any]:
    document = _doc(
        outBizCode=code,
        confirmType="0" if final else "1",
        status="DELIVERED" if final else "PARTDELIVERED",
        expressCode=tracking,
    )
    document["packages"] = []
    lines = [("10", "P-1001", qty10), ("20", "P-2040", qty20)]
    document["orderLines"] = [
        {"orderLineNo": n, "itemCode": item, "actualQty": q} for n, item, q in lines if q is not None
    ]
    return document


def test_partial_confirms_add_up_per_shipment() -> None:
    first = _read(_partial("C1", "2", "10", tracking="SF100"))
    summary = combine(PLANNED, [first], materials=MATERIALS)
    assert summary.state == "partly_shipped" and not summary.final
    assert [(ln.shipped, ln.open, ln.short) for ln in summary.lines] == [(2, 3, 0), (10, 10, 0)]
    second = _read(_partial("C2", "3", "10", final=True, tracking="SF200"))
    summary = combine(PLANNED, [second, first, first], materials=MATERIALS)  # a duplicate push, out of order
    assert summary.state == "shipped" and not summary.problems and not summary.short_shipped
    assert summary.goods_issue == {10: Decimal(5), 20: Decimal(20)}
    assert summary.tracking_numbers == ("SF100", "SF200")
    assert [s.key for s in summary.shipments] == ["C1", "C2"]
    assert summary.shipments[0].quantities == ((10, Decimal(2)), (20, Decimal(10)))


def test_over_shipment_is_a_problem_not_clamped() -> None:
    summary = combine(PLANNED, [_read(_partial("C1", "4", "10")), _read(_partial("C2", "4", None, final=True))])
    assert summary.lines[0].shipped == 8 and summary.lines[0].over == 3
    assert [str(p) for p in summary.problems] == ["orderLines.actualQty: delivery item 10: 8 shipped, only 5 planned"]


def test_final_confirm_with_nothing_shipped() -> None:
    document = _partial("C9", None, None, final=True)
    summary = combine(PLANNED, [_read(document)])
    assert summary.state == "not_shipped" and [ln.short for ln in summary.lines] == [5, 20]


def test_two_final_confirms_are_a_problem() -> None:
    summary = combine(
        PLANNED, [_read(_partial("C1", "1", None, final=True)), _read(_partial("C2", "1", None, final=True))]
    )
    assert any("2 final confirms" in p.message for p in summary.problems)


def test_line_without_number_matches_by_item_code() -> None:
    document = _partial("C1", "2", "3")
    del document["orderLines"][1]["orderLineNo"]
    summary = combine(PLANNED, [_read(document)], materials=MATERIALS)
    assert [ln.shipped for ln in summary.lines] == [2, 3] and not summary.problems
    # Without the materials the line cannot be placed: a problem, not a guess.
    unmatched = combine(PLANNED, [_read(document)])
    assert [ln.shipped for ln in unmatched.lines] == [2, 0]
    assert unmatched.problems[0].field == "orderLines.itemCode"


def test_unknown_line_and_wrong_item_are_problems() -> None:
    document = _partial("C1", "2", "3")
    document["orderLines"][0]["orderLineNo"] = "30"
    document["orderLines"][1]["itemCode"] = "P-9999"
    summary = combine(PLANNED, [_read(document)], materials=MATERIALS)
    assert [p.field for p in summary.problems] == ["orderLines.orderLineNo", "orderLines.itemCode"]


def test_confirm_of_another_delivery_is_not_counted() -> None:
    other = _partial("C2", "5", None)
    other["deliveryOrder"]["deliveryOrderCode"] = "80000099"
    summary = combine(PLANNED, [_read(_partial("C1", "1", None)), _read(other)], delivery="80000017")
    assert summary.lines[0].shipped == 1 and "80000099 is not delivery 80000017" in summary.problems[0].message


def test_split_confirm_parts_share_an_out_biz_code() -> None:
    part1 = _partial("C1", "5", None, final=True)
    part2 = _partial("C1", None, "20", final=True)
    parts = [_read(part1), _read(part2)]
    summary = combine(PLANNED, [*parts, parts[1]])
    assert summary.goods_issue == {10: Decimal(5), 20: Decimal(20)} and not summary.problems
    assert len(summary.shipments) == 1


def test_lines_repeated_in_one_message_by_line_out_biz_code_count_once() -> None:
    document = _partial("C1", "2", None)
    line = document["orderLines"][0]
    line["outBizCode"] = "L1"
    document["orderLines"].append(dict(line))
    confirm = _read(document)
    assert len(confirm.lines) == 1
    document["orderLines"][1]["actualQty"] = "3"
    assert _fields(document) == ["orderLines[2].outBizCode"]


def test_one_line_per_batch_with_the_same_number_adds_up() -> None:
    document = _partial("C1", "2", None)
    document["orderLines"].append({"orderLineNo": "10", "itemCode": "P-1001", "actualQty": "3", "batchCode": "B2"})
    assert combine(PLANNED, [_read(document)]).lines[0].shipped == 5


def test_dedupe_key_without_out_biz_code_is_content() -> None:
    a = _read(_doc(outBizCode=None))
    restamped = _doc(outBizCode=None, orderConfirmTime="2024-05-21 17:00:00")
    restamped["orderLines"].reverse()
    b = _read(restamped)
    assert a.dedupe_key.startswith("sha256:") and a.dedupe_key == b.dedupe_key
    changed = _doc(outBizCode=None)
    changed["orderLines"][1]["actualQty"] = "17"
    changed["packages"][0]["items"][1]["quantity"] = "17"
    assert _read(changed).dedupe_key != a.dedupe_key
    assert _read(_doc(outBizCode=None, confirmType="1")).dedupe_key != a.dedupe_key
    assert combine(PLANNED, [a, b]).goods_issue == {10: Decimal(5), 20: Decimal(18)}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"deliveryOrderCode": None}, "deliveryOrder.deliveryOrderCode"),
        ({"confirmType": "2"}, "deliveryOrder.confirmType"),
        ({"confirmType": None, "status": None}, "deliveryOrder.confirmType"),
        ({"status": "EXCEPTION"}, "deliveryOrder.status"),
        ({"orderConfirmTime": "2024-05-21T16:40:00Z"}, "deliveryOrder.orderConfirmTime"),
        ({"orderConfirmTime": "2024-02-30 10:00:00"}, "deliveryOrder.orderConfirmTime"),
        ({"totalOrderLines": "two"}, "deliveryOrder.totalOrderLines"),
        ({"outBizCode": ["A", "B"]}, "deliveryOrder.outBizCode"),
        ({"expressCode": "SF 123"}, "deliveryOrder.expressCode"),
    ],
)
def test_header_problems_name_the_field(change: dict[str, Any], field: str) -> None:
    assert field in _fields(_doc(**change))


def test_confirm_type_from_status_when_absent() -> None:
    assert _read(_doc(confirmType=None)).final
    assert not _read(_doc(confirmType=None, status="PARTDELIVERED")).final


@pytest.mark.parametrize("qty", ["-1", "2.5", "", "abc", "1e3", "NaN"])
def test_actual_qty_must_be_a_whole_non_negative_number(qty: str) -> None:
    document = _doc()
    document["orderLines"][1]["actualQty"] = qty
    assert _fields(document) == ["orderLines[2].actualQty"]


def test_whole_quantities_with_decimals_pass() -> None:
    document = _doc()
    document["orderLines"][1]["actualQty"] = "18.000"
    assert _read(document).lines[1].quantity == 18


def test_batch_sums_must_equal_actual_qty() -> None:
    document = _doc()
    document["orderLines"][1]["batchs"] = [
        {"batchCode": "B1", "actualQty": "10", "productDate": "2024-01-02"},
        {"batchCode": "B2", "actualQty": "7", "expireDate": "2026-01-02"},
    ]
    reading = read_confirm(document)
    assert [str(p) for p in reading.problems] == [
        "orderLines[2].batchs: batch quantities add up to 17, the line's actualQty is 18"
    ]
    document["orderLines"][1]["batchs"][1]["actualQty"] = "8"
    batches = _read(document).lines[1].batches
    assert [b.quantity for b in batches] == [10, 8] and str(batches[0].product_date) == "2024-01-02"
    document["orderLines"][1]["batchs"][1]["expireDate"] = "2026-13-01"
    assert _fields(document) == ["orderLines[2].batchs[2].expireDate"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"logisticsCode": "DBL"}, "deliveryOrder.logisticsCode"),
        ({"logisticsCode": "OTHER", "logisticsName": None}, "deliveryOrder.logisticsCode"),
        ({"logisticsCode": None, "logisticsName": None}, "deliveryOrder.logisticsCode"),
    ],
)
def test_carrier_must_be_known_or_other_with_a_name(change: dict[str, Any], field: str) -> None:
    document = _doc(**change)
    document["packages"] = []
    assert _fields(document) == [field]


def test_other_carrier_with_a_name_passes() -> None:
    document = _doc(logisticsCode="OTHER", logisticsName="德邦物流", expressCode="DPK3000123")
    document["packages"] = []
    (parcel,) = _read(document).parcels
    assert (parcel.carrier_code, parcel.carrier_name, parcel.tracking) == ("OTHER", "德邦物流", "DPK3000123")


def test_carrier_code_is_read_case_insensitively() -> None:
    assert _read(_doc(logisticsCode="sf")).logistics_code == "SF"


def test_tracking_number_required_unless_pickup() -> None:
    document = _doc(expressCode=None)
    document["packages"][0].pop("expressCode")
    assert _fields(document) == ["packages[1].expressCode"]
    document["packages"] = []
    assert _fields(document) == ["deliveryOrder.expressCode"]


@pytest.mark.parametrize(
    "head",
    [
        {"logisticsCode": "OTHER", "logisticsName": "到仓自提"},
        {"logisticsCode": None, "logisticsName": None, "transportMode": "到仓自提"},
        {"logisticsCode": "OTHER", "logisticsName": "Customer Pickup"},
        {"logisticsCode": None, "logisticsName": "客户自提"},
    ],
)
def test_pickup_needs_no_carrier_and_no_tracking(head: dict[str, Any]) -> None:
    document = _doc(expressCode=None, **head)
    document["packages"] = []
    confirm = _read(document)
    assert confirm.pickup and confirm.tracking_numbers == ()
    (parcel,) = confirm.parcels
    assert parcel.carrier_code is None and parcel.tracking is None
    assert combine(PLANNED, [confirm]).shipments[0].pickup


def test_pickup_from_extend_props() -> None:
    document = _doc(expressCode=None, logisticsCode=None, logisticsName=None)
    document["packages"] = []
    document["extendProps"] = {"transportMode": "自提"}
    assert _read(document).pickup


def test_a_known_carrier_is_never_a_pickup() -> None:
    document = _doc(expressCode=None, transportMode="到仓自提")
    document["packages"] = []
    assert _fields(document) == ["deliveryOrder.expressCode"]


def test_split_packages_with_several_carriers() -> None:
    document = _doc(expressCode=None)
    document["packages"] = [
        {"packageCode": "BOX-01", "expressCode": "SF111", "items": [{"itemCode": "P-1001", "quantity": "5"}]},
        {
            "packageCode": "BOX-02",
            "logisticsCode": "ZTO",
            "expressCode": "7300000001",
            "items": [{"itemCode": "P-2040", "quantity": "18"}],
        },
    ]
    parcels = _read(document).parcels
    assert [(p.package_code, p.carrier_code, p.carrier_name, p.tracking) for p in parcels] == [
        ("BOX-01", "SF", "顺丰速运", "SF111"),
        ("BOX-02", "ZTO", "中通快递", "7300000001"),
    ]
    document["packages"][1]["logisticsCode"] = "XYZ"
    assert _fields(document) == ["packages[2].logisticsCode"]


def test_packed_more_than_confirmed_is_a_problem() -> None:
    document = _doc()
    document["packages"][0]["items"][1]["quantity"] = "19"
    reading = read_confirm(document)
    assert [str(p) for p in reading.problems] == ["packages: item P-2040: 19 packed, the lines confirm 18"]


def test_structural_problems() -> None:
    assert [p.field for p in read_confirm({}).problems] == ["deliveryOrder"]
    document = _doc(confirmType="1", status="PARTDELIVERED")
    document["orderLines"] = []
    document["packages"] = []
    assert _fields(document) == ["orderLines"]
    document["orderLines"] = {"orderLineNo": "1"}
    assert "orderLines" in _fields(document)
    reading = read_confirm(_doc(deliveryOrderCode=None))
    assert reading.delivery is None and not reading.ok


# -- properties --------------------------------------------------------------------------------------

_planned = st.dictionaries(
    st.integers(1, 60).map(lambda n: n * 10), st.integers(1, 50).map(Decimal), min_size=1, max_size=5
)


@st.composite
def _history(draw: st.DrawFn) -> tuple[dict[int, Decimal], list[ShipmentConfirm]]:
    """Planned quantities and a set of distinct confirms (with or without outBizCode), some may overship."""
    planned = draw(_planned)
    confirms = []
    for i in range(draw(st.integers(0, 4))):
        lines = [
            {"orderLineNo": str(n), "itemCode": f"P-{n}", "actualQty": str(draw(st.integers(0, 30)))}
            for n in draw(st.lists(st.sampled_from(sorted(planned)), min_size=1, unique=True))
        ]
        head = {
            "deliveryOrderCode": "80000017",
            "confirmType": draw(st.sampled_from(["0", "1"])),
            "logisticsCode": "SF",
            "expressCode": f"SF{i}",
        }
        if draw(st.booleans()):
            head["outBizCode"] = f"C{i}"
        reading = read_confirm({"deliveryOrder": head, "orderLines": lines})
        assert reading.confirm is not None, reading.problems
        confirms.append(reading.confirm)
    return planned, confirms


@given(_history(), st.randoms(use_true_random=False), st.lists(st.integers(0, 10), max_size=6))
def test_arrival_order_and_duplicates_never_change_the_sum(history, rnd, repeats) -> None:
    planned, confirms = history
    arrived = list(confirms)
    if confirms:
        arrived += [confirms[i % len(confirms)] for i in repeats]
    rnd.shuffle(arrived)
    assert combine(planned, arrived) == combine(planned, confirms)
    expected = {n: Decimal(0) for n in planned}
    for confirm in confirms:
        for line in confirm.lines:
            expected[line.line_no] += line.quantity
    assert combine(planned, arrived).goods_issue == expected


@given(_history())
def test_never_above_planned_without_a_problem(history) -> None:
    planned, confirms = history
    summary = combine(planned, confirms)
    for line in summary.lines:
        assert line.open >= 0 and line.short >= 0
        assert line.shipped + line.open + line.short == max(line.planned, line.shipped)
        if line.shipped > line.planned:
            assert (
                ConfirmProblem(
                    "orderLines.actualQty",
                    f"delivery item {line.line_no}: {line.shipped} shipped, only {line.planned} planned",
                )
                in summary.problems
            )
    assert summary.final == any(c.final for c in confirms)


@given(
    st.recursive(
        st.text(max_size=5),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=20,
    ),
    st.sampled_from(["deliveryOrder", "orderLines", "packages", "extendProps"]),
)
def test_hostile_shapes_give_problems_never_exceptions(value, key) -> None:
    document = copy.deepcopy(_doc())
    document[key] = value
    reading = read_confirm(document)
    assert reading.ok == (reading.confirm is not None)
