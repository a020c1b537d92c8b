"""The Fxiaoke OpenAPI client against the sandbox emulator: real HTTP, real paging limits, real faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any

import pytest
from fakes import FakeConnection

from connectors.base import parse_iso_datetime
from connectors.fxiaoke import (
    SALES_ORDER_LINES,
    SALES_ORDERS,
    FxiaokeClient,
    FxiaokeConfig,
    datetime_to_ms,
    flt,
    ms_to_datetime,
    to_decimal,
)
from connectors.http import AuthError, BusinessError, RetryPolicy, TransientError

SYSTEM = "fxiaoke"
FAST = RetryPolicy(max_attempts=5, base=0.01, cap=0.05)


def make_client(info: dict[str, Any], **overrides: Any) -> FxiaokeClient:
    clock = overrides.pop("clock", None)
    f = info["systems"][SYSTEM]
    settings: dict[str, Any] = {
        "base_url": f["base_url"],
        "app_id": f["app_id"],
        "app_secret": f["app_secret"],
        "permanent_code": f["permanent_code"],
        "current_open_user_id": f["current_open_user_id"],
        "timeout": (5.0, 10.0),
        "retry": FAST,
    }
    config = FxiaokeConfig(**(settings | overrides))
    return FxiaokeClient(config, clock=clock) if clock else FxiaokeClient(config)


def api_calls(control, since: int = 0) -> list[dict[str, Any]]:
    return [c for c in control.calls(SYSTEM, since) if "corpAccessToken" not in c["path"]]


def seed_window(control, start: int, stop: int) -> tuple[datetime, datetime, dict[str, dict[str, Any]]]:
    """An interval whose both ends sit exactly on orders' last_modified_time, and the seed's orders in it."""
    orders = sorted(control.seed_orders(SYSTEM), key=lambda o: o["modified_time"])
    lower = parse_iso_datetime(orders[start]["modified_time"])
    upper = parse_iso_datetime(orders[stop]["modified_time"])
    inside = {o["crm_id"]: o for o in orders if lower <= parse_iso_datetime(o["modified_time"]) < upper}
    return lower, upper, inside


# ------------------------------------------------------------------------------------------------
# Reads
# ------------------------------------------------------------------------------------------------


def test_interval_pull_returns_exactly_the_orders_in_the_half_open_window_with_their_lines(sandbox_env) -> None:
    info, control = sandbox_env
    lower, upper, expected = seed_window(control, 50, 170)
    with make_client(info) as client:
        orders = list(client.iter_sales_orders(lower, upper))
    ids = [o["_id"] for o in orders]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(expected)
    lower_ms, upper_ms = datetime_to_ms(lower), datetime_to_ms(upper)
    for order in orders:
        assert lower_ms <= order["last_modified_time"] < upper_ms
        seed = expected[order["_id"]]
        assert len(order["details"]) == seed["lines"]
        assert all(line["order_id"] == order["_id"] for line in order["details"])
        assert ms_to_datetime(order["last_modified_time"]) == parse_iso_datetime(seed["modified_time"])
        if not seed["defects"]:  # planted defects (non-numeric prices, missing fields) are the gate's job
            # Money arrives as strings and converts exactly: the lines add up to the order to the cent.
            lines_total = sum(to_decimal(line["subtotal"]) for line in order["details"])
            assert lines_total == to_decimal(order["product_amount"])


def test_record_stamped_exactly_at_the_upper_bound_belongs_to_the_next_interval(sandbox_env) -> None:
    info, control = sandbox_env
    orders = sorted(control.seed_orders(SYSTEM), key=lambda o: o["modified_time"])
    edge = parse_iso_datetime(orders[10]["modified_time"])
    before = parse_iso_datetime(orders[0]["modified_time"])
    after = parse_iso_datetime(orders[20]["modified_time"])
    with make_client(info) as client:
        first = {o["_id"] for o in client.iter_sales_orders(before, edge)}
        second = {o["_id"] for o in client.iter_sales_orders(edge, after)}
    assert orders[10]["crm_id"] in second and orders[10]["crm_id"] not in first
    assert not first & second


def test_query_wire_format(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info) as client:
        rows = client.query(
            SALES_ORDERS.name,
            filters=[flt("life_status", "EQ", "normal")],
            orders=[("last_modified_time", False)],
            fields=["_id", "name", "last_modified_time"],
            limit=5,
            offset=5,
        )
        with pytest.raises(ValueError):
            client.query(SALES_ORDERS.name, limit=101)
        with pytest.raises(ValueError):
            client.query(SALES_ORDERS.name, limit=30, offset=40)
    assert len(rows) == 5 and all(set(r) == {"_id", "name", "last_modified_time"} for r in rows)
    stamps = [r["last_modified_time"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_master_data_for_the_mapping(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info) as client:
        accounts = list(client.list_accounts())
        products = list(client.list_products(fields=["product_code", "name", "price", "unit"]))
    assert accounts and products
    assert len({a["_id"] for a in accounts}) == len(accounts)
    assert len({p["_id"] for p in products}) == len(products)
    assert all(isinstance(to_decimal(p["price"]), Decimal) for p in products if "price" in p)


def test_business_error_is_typed_and_not_retried(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        client.query(SALES_ORDERS.name, limit=1)
        since = control.last_seq(SYSTEM)
        with pytest.raises(BusinessError) as raised:
            client.query(SALES_ORDERS.name, filters=[flt("no_such_field", "EQ", "x")])
    assert raised.value.code == "32000" and raised.value.system == SYSTEM
    assert len(api_calls(control, since)) == 1


def test_wrong_app_secret_is_an_auth_error(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info, app_secret="not-the-secret") as client:
        with pytest.raises(AuthError) as raised:
            client.query(SALES_ORDERS.name, limit=1)
    assert raised.value.code == "10006"
    assert "not-the-secret" not in str(raised.value)


def test_client_from_an_airflow_style_connection(sandbox_env) -> None:
    info, _ = sandbox_env
    f = info["systems"][SYSTEM]
    conn = FakeConnection(
        host=f["base_url"],
        login=f["app_id"],
        password=f["app_secret"],
        extra_dejson={"permanent_code": f["permanent_code"], "current_open_user_id": f["current_open_user_id"]},
    )
    with FxiaokeClient(FxiaokeConfig.from_connection(conn)) as client:
        assert client.query(SALES_ORDERS.name, limit=1)


# ------------------------------------------------------------------------------------------------
# Paging across the 10,000 offset limit
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_sandbox(start_sandbox):
    with start_sandbox(orders=8_000) as started:  # 3,600 Fxiaoke orders, ~10,700 order lines
        yield started


def test_paging_past_offset_10000_switches_to_id_keyset(big_sandbox) -> None:
    info, control = big_sandbox
    orders = control.seed_orders(SYSTEM)
    truth = sum(o["lines"] for o in orders)
    assert truth > 10_000
    earliest = min(parse_iso_datetime(o["modified_time"]) for o in orders)
    window = [flt("last_modified_time", "BETWEEN", earliest, datetime(2027, 1, 1, tzinfo=UTC))]
    since = control.last_seq(SYSTEM)
    with make_client(info) as client:
        pages = list(client.iter_objects(SALES_ORDER_LINES, window, fields=["order_id", "last_modified_time"]))
    ids = [line["_id"] for page in pages for line in page]
    assert len(ids) == len(set(ids)) == truth, "none skipped, none repeated across the switch"
    assert ids == sorted(ids)
    calls = api_calls(control, since)
    assert all(c["error_code"] == 0 for c in calls), "never an offset past 10,000 (errorCode 10013)"
    assert len(calls) == -(-truth // 100) + (1 if truth % 100 == 0 else 0)


def test_interval_pull_on_a_large_tenant_attaches_every_line(big_sandbox) -> None:
    info, control = big_sandbox
    orders = control.seed_orders(SYSTEM)
    with make_client(info) as client:
        pulled = list(client.iter_sales_orders(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)))
    assert {o["_id"] for o in pulled} == {o["crm_id"] for o in orders}
    lines = {o["crm_id"]: o["lines"] for o in orders}
    assert all(len(o["details"]) == lines[o["_id"]] for o in pulled)


# ------------------------------------------------------------------------------------------------
# Tokens
# ------------------------------------------------------------------------------------------------


def test_errorcode_20016_mid_run_refreshes_once_and_continues(sandbox_env) -> None:
    info, control = sandbox_env
    truth = {o["crm_id"] for o in control.seed_orders(SYSTEM)}
    since = control.last_seq(SYSTEM)
    with make_client(info, page_size=20) as client:
        pages = client.iter_objects(SALES_ORDERS, fields=["name"])
        first = list(islice(pages, 2))
        control.expire_tokens(SYSTEM)
        rest = list(pages)
        assert client.token_refreshes == 2
    assert {o["_id"] for page in first + rest for o in page} == truth
    assert [c["error_code"] for c in api_calls(control, since) if c["error_code"] != 0] == [20016]


def test_token_is_reused_then_renewed_before_its_7200_seconds(fresh_sandbox) -> None:
    info, control = fresh_sandbox  # a token issued now: expiresIn starts at 7,200
    now = [0.0]
    since = control.last_seq(SYSTEM)
    with make_client(info, clock=lambda: now[0]) as client:
        for _ in range(5):
            client.query(SALES_ORDERS.name, limit=1)
        assert client.token_refreshes == 1
        now[0] += 6_599
        client.query(SALES_ORDERS.name, limit=1)
        assert client.token_refreshes == 1, "still within the reuse period"
        now[0] += 2
        client.query(SALES_ORDERS.name, limit=1)
        assert client.token_refreshes == 2
    token_calls = [c for c in control.calls(SYSTEM, since) if "corpAccessToken" in c["path"]]
    assert len(token_calls) == 2


def test_a_token_served_late_in_its_life_is_renewed_before_it_dies(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    with make_client(info) as first:
        first.query(SALES_ORDERS.name, limit=1)
        old_token = first._token.value
    control.advance_clock(6_500)  # the server now hands out the same token with ~700 s left
    now = [0.0]
    with make_client(info, clock=lambda: now[0]) as second:
        second.query(SALES_ORDERS.name, limit=1)
        assert second._token.value == old_token
        now[0] += 600
        second.query(SALES_ORDERS.name, limit=1)
        assert second.token_refreshes == 1, "~700 s left less the margin: still good"
        control.advance_clock(200)  # past 6,600 s: the server issues a new token on request
        now[0] += 100
        second.query(SALES_ORDERS.name, limit=1)
        assert second.token_refreshes == 2 and second._token.value != old_token
    assert not [c for c in control.calls(SYSTEM) if c["error_code"] == 20016]


def test_a_freshly_rejected_token_is_an_auth_error_not_a_loop(sandbox_env) -> None:
    info, control = sandbox_env
    # The operator id is checked after the token: a wrong one answers 20012, a business error.
    with make_client(info, current_open_user_id="FSUID_NOBODY") as client:
        with pytest.raises(BusinessError) as raised:
            client.query(SALES_ORDERS.name, limit=1)
    assert raised.value.code == "20012"


# ------------------------------------------------------------------------------------------------
# Faults
# ------------------------------------------------------------------------------------------------


def test_errorcode_30004_storm_then_success(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        client.query(SALES_ORDERS.name, limit=1)
        since = control.last_seq(SYSTEM)
        control.faults(SYSTEM, burst_429=3)
        assert client.query(SALES_ORDERS.name, limit=3)
    calls = api_calls(control, since)
    assert [(c["status"], c["error_code"]) for c in calls] == [(200, 30004)] * 3 + [(200, 0)]


def test_errorcode_30004_storm_exhausts_the_attempts(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info, retry=RetryPolicy(max_attempts=3, base=0.01, cap=0.02)) as client:
        client.query(SALES_ORDERS.name, limit=1)
        control.faults(SYSTEM, burst_429=10)
        with pytest.raises(TransientError) as raised:
            client.query(SALES_ORDERS.name, limit=1)
    assert raised.value.code == "30004" and raised.value.attempts == 3


def test_daily_quota_30002_is_transient(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info, retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02)) as client:
        client.query(SALES_ORDERS.name, limit=1)
        control.faults(SYSTEM, quota_exhausted=True)
        with pytest.raises(TransientError) as raised:
            client.query(SALES_ORDERS.name, limit=1)
    assert raised.value.code == "30002"


def test_gateway_429_with_retry_after_is_honoured(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        client.query(SALES_ORDERS.name, limit=1)
        since = control.last_seq(SYSTEM)
        control.faults(SYSTEM, burst_429=1, throttle_as_http=True, retry_after=1)
        started = time.monotonic()
        assert client.query(SALES_ORDERS.name, limit=1)
        assert time.monotonic() - started >= 1.0
    assert [c["status"] for c in api_calls(control, since)] == [429, 200]


def test_gateway_5xx_is_retried(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        client.query(SALES_ORDERS.name, limit=1)
        since = control.last_seq(SYSTEM)
        control.faults(SYSTEM, burst_5xx=2, status_5xx=502)
        assert client.query(SALES_ORDERS.name, limit=1)
    assert [c["status"] for c in api_calls(control, since)] == [502, 502, 200]


def test_dropped_connections_are_retried(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        client.query(SALES_ORDERS.name, limit=1)
        since = control.last_seq(SYSTEM)
        control.faults(SYSTEM, burst_drop=2)
        assert client.query(SALES_ORDERS.name, limit=1)
    assert [c["fault"] for c in api_calls(control, since)] == ["drop", "drop", None]


# ------------------------------------------------------------------------------------------------
# Write-back
# ------------------------------------------------------------------------------------------------


def test_update_objects_reports_each_record_and_turns_flows_off(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    good, bad = [o["crm_id"] for o in control.seed_orders(SYSTEM)[:2]]
    before_bad = control.record(SYSTEM, SALES_ORDERS.name, bad)
    updates = [
        {
            "_id": good,
            "hub_status__c": "confirmed",
            "sap_order_no__c": "0000012345",
            "confirmed_delivery_date__c": datetime(2026, 12, 15, tzinfo=UTC),
            "tax_amount__c": Decimal("191.10"),
        },
        {"_id": bad, "hub_status__c": "no_such_option"},
        {"_id": "ffffffffffffffffffffffff", "hub_status__c": "confirmed"},
    ]
    with make_client(info) as client:
        results = client.update_objects(SALES_ORDERS.name, updates)
    assert [r.record_id for r in results] == [good, bad, "ffffffffffffffffffffffff"]
    assert [r.ok for r in results] == [True, False, False]
    assert results[1].code == "32000" and not results[1].retryable
    stored = control.record(SYSTEM, SALES_ORDERS.name, good)
    assert stored["hub_status__c"] == "confirmed" and stored["sap_order_no__c"] == "0000012345"
    assert stored["tax_amount__c"] == "191.10", "money sent as an exact string"
    assert stored["confirmed_delivery_date__c"] == datetime_to_ms(datetime(2026, 12, 15, tzinfo=UTC))
    assert control.record(SYSTEM, SALES_ORDERS.name, bad).get("hub_status__c") == before_bad.get("hub_status__c")
    writes = control.writes(SYSTEM)
    assert len(writes) == 1
    assert writes[0]["triggerWorkFlow"] is False and writes[0]["triggerApprovalFlow"] is False


def test_update_lines_ride_along_as_details(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    order_id = control.seed_orders(SYSTEM)[0]["crm_id"]
    line = control.record(SYSTEM, SALES_ORDERS.name, order_id)["details"][SALES_ORDER_LINES.name][0]
    update = {
        "_id": order_id,
        "hub_status__c": "partially_confirmed",
        "details": {SALES_ORDER_LINES.name: [{"_id": line["_id"], "confirmed_quantity__c": Decimal("2")}]},
    }
    with make_client(info) as client:
        [result] = client.update_objects(SALES_ORDERS.name, [update])
    assert result.ok, result
    stored = control.record(SYSTEM, SALES_ORDER_LINES.name, line["_id"])
    assert stored["confirmed_quantity__c"] == "2"


def test_update_during_an_outage_marks_the_rest_retryable(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    ids = [o["crm_id"] for o in control.seed_orders(SYSTEM)[:5]]
    with make_client(info, retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02)) as client:
        client.query(SALES_ORDERS.name, limit=1)
        control.faults(SYSTEM, rate_5xx=1.0)
        since = control.last_seq(SYSTEM)
        results = client.update_objects(SALES_ORDERS.name, [{"_id": i, "hub_message__c": "x"} for i in ids])
    assert all(not r.ok and r.retryable for r in results)
    assert len(api_calls(control, since)) == 2, "the first record's two attempts, then no more calls"
