"""Live orders (``python -m sandbox up --live-orders-every S``): new clean CRM orders as the sandbox
clock passes, deterministic by seed, off by default."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from sandbox.live_orders import LIVE_PLANT, LiveOrders
from sandbox.seed_data import FXIAOKE, ZOHO
from sandbox.server import build
from sandbox.testing import running_sandbox

SEED, ORDERS = 5, 80
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _live(every: float = 180):
    ctx, systems = build(SEED, ORDERS, START.isoformat(), frozen=True)
    return ctx, systems, LiveOrders(ctx, systems, every)


def _shape(order):
    return (
        order.number,
        order.crm,
        order.crm_id,
        order.customer_number,
        order.order_time,
        [(ln.material_number, ln.quantity, ln.unit_price, ln.discount_percent, ln.crm_id) for ln in order.lines],
    )


def test_one_order_per_interval_appears_as_the_clock_passes_it():
    ctx, systems, live = _live(every=180)
    seeded = len(ctx.data.orders)  # the random orders and the regular buyers'
    assert live.catch_up(START + timedelta(seconds=179)) == []
    made = live.catch_up(START + timedelta(minutes=20))
    assert [o.order_time for o in made] == [START + timedelta(minutes=3 * k) for k in range(1, 7)]
    assert all(o.modified_time == o.order_time for o in made)
    assert live.catch_up(START + timedelta(minutes=20)) == []  # each order once
    assert ctx.data.orders[-6:] == made and len(ctx.data.orders) == seeded + 6
    stores = {s.name: s.store for s in systems if s.name in (ZOHO, FXIAOKE)}
    for order in made:
        if order.crm == ZOHO:
            record = stores[ZOHO].get("Sales_Orders", order.crm_id)
            assert record["SO_Number"] == order.number and len(record["Ordered_Items"]) == len(order.lines)
        else:
            assert stores[FXIAOKE].get("SalesOrderObj", order.crm_id)["name"] == order.number
            assert len(stores[FXIAOKE].lines_of(order.crm_id)) == len(order.lines)


def test_the_same_seed_gives_the_same_orders_however_often_it_is_asked():
    _, _, once = _live()
    _, _, stepwise = _live()
    end = START + timedelta(hours=2)
    in_one_go = once.catch_up(end)
    step = []
    moment = START
    while moment < end:
        moment += timedelta(seconds=77)
        step += stepwise.catch_up(min(moment, end))
    assert [_shape(o) for o in in_one_go] == [_shape(o) for o in step]
    assert {o.crm for o in in_one_go} == {ZOHO, FXIAOKE}


def test_live_orders_are_clean_and_numbered_after_the_seeded_book():
    ctx, _, live = _live()
    seeded = {o.number for o in ctx.data.orders} | {o.crm_id for o in ctx.data.orders}
    made = live.catch_up(START + timedelta(hours=6))
    assert len(made) == 120
    assert not {o.number for o in made} & seeded and not {o.crm_id for o in made} & seeded
    assert len({o.number for o in made}) == len(made)
    customers = ctx.data.customer_by_number
    shelf = {s.material: s.unrestricted for s in ctx.data.stock if s.plant == LIVE_PLANT}
    for order in made:
        customer = customers[order.customer_number]
        assert customer.crm == order.crm and not customer.blocked and order.currency == customer.currency
        assert not order.defects and 1 <= len(order.lines) <= 3
        for line in order.lines:
            material = ctx.data.material_by_number[line.material_number]
            assert line.quantity >= material.moq and line.quantity % material.pack_size == 0
            assert line.unit_price == material.list_prices[order.currency]
            assert line.discount_percent in (Decimal(0), Decimal(2))
            assert shelf[material.number] >= line.quantity


def test_a_positive_interval_is_required():
    ctx, systems = build(SEED, ORDERS, START.isoformat(), frozen=True)
    with pytest.raises(ValueError, match="positive"):
        LiveOrders(ctx, systems, 0)


@pytest.mark.sandbox
def test_the_server_adds_orders_as_its_clock_moves_and_none_by_default():
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True, live_orders_every=60) as info:
        control = info["control_url"]
        assert info["live_orders"]["added"] == 0
        seeded = len(requests.get(f"{control}/seed/orders", timeout=10).json()["orders"])
        requests.post(f"{control}/clock", json={"advance_seconds": 150}, timeout=10).raise_for_status()
        deadline = time.monotonic() + 10
        while requests.get(f"{control}/health", timeout=10).json()["live_orders"]["added"] < 2:
            assert time.monotonic() < deadline, "the live orders did not arrive"
            time.sleep(0.2)
        orders = requests.get(f"{control}/seed/orders", timeout=10).json()["orders"]
        assert len(orders) == seeded + 2
        for order in orders[-2:]:
            system = "zoho_crm" if order["crm"] == ZOHO else "fxiaoke"
            module = "Sales_Orders" if order["crm"] == ZOHO else "SalesOrderObj"
            record = requests.get(f"{control}/records/{system}/{module}/{order['crm_id']}", timeout=10)
            assert record.status_code == 200, record.text
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        assert "live_orders" not in info
        requests.post(f"{info['control_url']}/clock", json={"advance_seconds": 3600}, timeout=10)
        time.sleep(1.5)
        assert len(requests.get(f"{info['control_url']}/seed/orders", timeout=10).json()["orders"]) == seeded
