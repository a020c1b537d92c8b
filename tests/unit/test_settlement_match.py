from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.settlement_match import (
    REASONS,
    BillingLine,
    DeliveredLine,
    MatchInputError,
    OrderLine,
    Tolerances,
    match,
    money_inputs,
    outputs_of,
)

DAY = date(2025, 3, 14)


def order(item="10", qty="10", price="5.00", currency="CNY", net=None, so="100"):
    return OrderLine(
        "zoho",
        "Z-1",
        int(item) // 10,
        so,
        item,
        "M1",
        D(qty),
        D(price),
        currency,
        None if net is None else D(net),
        D("0.13"),
    )


def delivery(item="10", qty="10", gi=DAY, so="100", dl="800"):
    return DeliveredLine(dl, item, so, item, "M1", D(qty), gi)


def bill(
    doc="90000001",
    item="10",
    qty="10",
    net="50.00",
    category="M",
    btype="F2",
    currency="CNY",
    cancelled=False,
    of="",
    so="100",
):
    net_d = D(net)
    return BillingLine(
        doc, item, btype, category, cancelled, of, so, item, "800", item, "M1", D(qty), net_d, net_d * D("0.13"),
        net_d * D("1.13"), currency, DAY, "1010",
    )  # fmt: skip


def only(result):
    groups = result.groups()
    assert len(groups) == 1
    g = groups[0]
    return getattr(g, "reason", None) or type(g).__name__


def test_ordered_delivered_billed_alike_is_matched():
    result = match([order()], [delivery()], [bill()])
    assert only(result) == "Matched"
    f = result.matched[0].figures
    assert (f.ordered_qty, f.delivered_qty, f.billed_qty, f.expected_net, f.billed_net) == (
        D(10), D(10), D(10), D("50.00"), D("50.00")
    )  # fmt: skip


def test_a_partial_delivery_billed_as_delivered_is_matched():
    assert only(match([order()], [delivery(qty="6")], [bill(qty="6", net="30.00")])) == "Matched"


@pytest.mark.parametrize(
    ("orders", "deliveries", "billing", "reason"),
    [
        ([order()], [delivery(qty="12")], [bill(qty="12", net="60.00")], "over_billed"),
        ([order()], [delivery(qty="6")], [bill(qty="8", net="40.00")], "under_delivered"),
        ([order()], [delivery()], [bill(net="52.00")], "price_difference"),
        ([order()], [delivery()], [], "missing_billing"),
        ([order()], [delivery()], [bill(qty="6", net="30.00")], "missing_billing"),
        ([order()], [], [bill()], "billing_without_delivery"),
        ([order()], [delivery(gi=None)], [bill()], "billing_without_delivery"),
        ([order()], [delivery()], [bill(currency="EUR")], "currency_mismatch"),
        ([order()], [delivery()], [bill(), bill("90000002", category="N", btype="S1", of="90000001")], "cancelled"),
        ([order()], [delivery()], [bill(cancelled=True)], "cancelled"),
        ([], [delivery()], [bill()], "missing_order"),
        ([], [delivery()], [], "missing_order"),
    ],
)
def test_each_reason(orders, deliveries, billing, reason):
    assert only(match(orders, deliveries, billing)) == reason
    assert reason in REASONS


def test_a_cancelled_invoice_billed_again_is_matched_and_the_pair_nets_out():
    billing = [
        bill("90000001", cancelled=True),
        bill("90000002", category="N", btype="S1", of="90000001"),
        bill("90000003"),
    ]
    result = match([order()], [delivery()], billing)
    assert only(result) == "Matched"
    assert len(result.matched[0].billing) == 3


def test_a_return_credited_nets_out_against_its_returns_delivery():
    result = match(
        [order()],
        [delivery(), delivery(qty="-2", dl="810")],
        [bill(), bill("90000002", qty="2", net="10.00", category="O", btype="G2")],
    )
    assert only(result) == "Matched"
    assert result.matched[0].figures.billed_net == D("40.00")


def test_price_tolerance_by_amount_or_percent():
    deliver = [delivery()]
    billing = [bill(net="50.90")]
    assert only(match([order()], deliver, billing)) == "price_difference"
    assert only(match([order()], deliver, billing, Tolerances(pct=D("2")))) == "Matched"  # 0.90 ≤ 2 % of 50
    assert only(match([order()], deliver, billing, Tolerances(amount=D("1")))) == "Matched"
    assert only(match([order()], deliver, billing, Tolerances(amount=D("0.5"), pct=D("1")))) == "price_difference"


def test_quantity_tolerance():
    args = ([order()], [delivery()], [bill(qty="10.002", net="50.01")])
    assert only(match(*args)) == "over_billed"
    assert only(match(*args, Tolerances(qty=D("0.005"), amount=D("0.01")))) == "Matched"


def test_the_order_net_is_expected_when_all_is_billed():
    # 3 × 0.333 = 0.999 → the order says 1.00, and SAP billed 1.00
    assert (
        only(match([order(qty="3", price="0.333", net="1.00")], [delivery(qty="3")], [bill(qty="3", net="1.00")]))
        == "Matched"
    )


def test_deliveries_after_the_cutoff_may_wait_for_billing():
    late = [delivery(gi=date(2025, 3, 15))]
    assert only(match([order()], late, [], cutoff=DAY)) == "Pending"
    assert only(match([order()], late, [])) == "missing_billing"
    assert only(match([order()], [], [], cutoff=DAY)) == "Pending"
    # 6 issued by the cut-off and billed, 4 issued after: matched so far
    split = [delivery(qty="6"), delivery(qty="4", gi=date(2025, 3, 15), dl="801")]
    assert only(match([order()], split, [bill(qty="6", net="30.00")], cutoff=DAY)) == "Matched"


def test_input_errors():
    with pytest.raises(MatchInputError, match="two order lines"):
        match([order(), order()], [], [])
    with pytest.raises(MatchInputError, match="given twice"):
        match([order()], [], [bill(), bill()])
    with pytest.raises(MatchInputError, match="given twice"):
        match([order()], [delivery(), delivery()], [])
    with pytest.raises(ValueError, match="no known sign"):
        match([order()], [], [bill(category="X", btype="ZZ")])
    with pytest.raises(ValueError, match="never negative"):
        Tolerances(qty=D(-1))


def test_money_inputs_carry_the_order_line_rate():
    inputs = money_inputs([bill(), bill(item="20")], [order()])
    assert [i.tax_rate for i in inputs] == [D("0.13"), None]


# -- conservation ----------------------------------------------------------------------------------------------

items = st.sampled_from(["10", "20", "30", "40"])
qty = st.integers(min_value=0, max_value=4).map(D)


@st.composite
def scenario(draw):
    order_items = draw(st.sets(items, max_size=4))
    orders = [
        order(i, qty=str(draw(st.integers(1, 4))), currency=draw(st.sampled_from(["CNY", "CNY", "EUR"])))
        for i in sorted(order_items)
    ]
    deliveries = [
        delivery(
            draw(items), qty=str(draw(qty)), gi=draw(st.sampled_from([DAY, None, date(2025, 3, 15)])), dl=f"8{n:02d}"
        )
        for n in range(draw(st.integers(0, 5)))
    ]
    billing = []
    for n in range(draw(st.integers(0, 6))):
        q = draw(qty)
        category, btype = draw(st.sampled_from([("M", "F2"), ("M", "F2"), ("O", "G2"), ("N", "S1")]))
        of = f"9{draw(st.integers(0, 5)):07d}" if category == "N" else ""
        billing.append(
            bill(
                f"9{n:07d}",
                draw(items),
                str(q),
                str(q * D("5.00")),
                category,
                btype,
                draw(st.sampled_from(["CNY", "EUR"])),
                draw(st.booleans()),
                of,
            )
        )
    return orders, deliveries, billing


@settings(max_examples=200, deadline=None)
@given(scenario(), st.sampled_from([None, DAY]))
def test_every_input_line_ends_in_exactly_one_output(data, cutoff):
    orders, deliveries, billing = data
    result = match(orders, deliveries, billing, cutoff=cutoff)
    found = outputs_of(result)
    expected = (
        {("order", o.key) for o in orders}
        | {("delivery", (d.delivery, d.item)) for d in deliveries}
        | {("billing", b.ref) for b in billing}
    )
    assert set(found) == expected
    assert all(len(groups) == 1 for groups in found.values())
    assert all(e.reason in REASONS and e.detail for e in result.exceptions)
    assert sum(result.by_reason().values()) == len(result.exceptions)
    # deterministic whatever order the lines come in
    again = match(orders[::-1], deliveries[::-1], billing[::-1], cutoff=cutoff)
    assert again == result
