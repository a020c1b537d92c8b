"""The Zoho CRM v8 client against the sandbox emulator: real HTTP, real paging limits, real faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import parse_qs

import pytest
from fakes import FakeConnection

from connectors.base import parse_iso_datetime
from connectors.http import AuthError, PermanentError, RetryPolicy, TransientError
from connectors.zoho_crm import SALES_ORDERS, ZohoConfig, ZohoCrmClient

SYSTEM = "zoho_crm"
FAST = RetryPolicy(max_attempts=5, base=0.01, cap=0.05)


def make_client(info: dict[str, Any], **overrides: Any) -> ZohoCrmClient:
    clock = overrides.pop("clock", None)
    z = info["systems"][SYSTEM]
    settings: dict[str, Any] = {
        "accounts_url": z["accounts_url"],
        "client_id": z["client_id"],
        "client_secret": z["client_secret"],
        "refresh_token": z["refresh_token"],
        "timeout": (5.0, 10.0),
        "retry": FAST,
        "token_throttle_wait": 0.01,
    }
    config = ZohoConfig(**(settings | overrides))
    return ZohoCrmClient(config, clock=clock) if clock else ZohoCrmClient(config)


def assert_no_floats(value: Any, path: str = "$") -> None:
    """Money must never have been a float: every non-integer number came in as Decimal."""
    assert not isinstance(value, float), f"float at {path}: {value!r}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_floats(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_no_floats(item, f"{path}[{index}]")


def seed_window(control, start: int, stop: int) -> tuple[datetime, datetime, set[str], dict[str, int]]:
    """An interval whose both ends sit exactly on orders' Modified_Time, and the orders inside it."""
    orders = sorted(control.seed_orders(SYSTEM), key=lambda o: o["modified_time"])
    lower = parse_iso_datetime(orders[start]["modified_time"])
    upper = parse_iso_datetime(orders[stop]["modified_time"])
    inside = [o for o in orders if lower <= parse_iso_datetime(o["modified_time"]) < upper]
    return lower, upper, {o["crm_id"] for o in inside}, {o["crm_id"]: o["lines"] for o in inside}


def api_calls(control, since: int = 0) -> list[dict[str, Any]]:
    return [c for c in control.calls(SYSTEM, since) if "/oauth/" not in c["path"]]


# ------------------------------------------------------------------------------------------------
# Reads
# ------------------------------------------------------------------------------------------------


def test_interval_pull_returns_exactly_the_orders_in_the_half_open_window(sandbox_env) -> None:
    info, control = sandbox_env
    lower, upper, expected, lines = seed_window(control, 100, 160)
    with make_client(info) as client:
        orders = list(client.iter_sales_orders(lower, upper))
    ids = [o["id"] for o in orders]
    assert len(ids) == len(set(ids)), "no order twice"
    assert set(ids) == expected
    stamps = [parse_iso_datetime(o["Modified_Time"]) for o in orders]
    assert stamps == sorted(stamps), "oldest first"
    assert all(lower <= s < upper for s in stamps)
    for order in orders:
        assert len(order["Ordered_Items"]) == lines[order["id"]], "line items complete (read by id)"
        assert isinstance(order["Grand_Total"], Decimal | int)
        assert_no_floats(order)


def test_interval_pull_sends_if_modified_since_and_stops_paging_past_the_upper_bound(sandbox_env) -> None:
    info, control = sandbox_env
    lower, upper, expected, _ = seed_window(control, 0, 40)
    since = control.last_seq(SYSTEM)
    with make_client(info, per_page=10) as client:
        assert {o["id"] for o in client.iter_sales_orders(lower, upper)} == expected
    lists = [c for c in api_calls(control, since) if c["path"].endswith("/Sales_Orders")]
    # 330 orders in the org, 10 per page: stopping at the bound needs ~5 pages, not 33.
    assert len(lists) <= len(expected) // 10 + 2
    query = parse_qs(lists[0]["query"])
    assert query["sort_by"] == ["Modified_Time"] and query["sort_order"] == ["asc"]
    assert query["fields"] == ["id,Modified_Time"]


def test_window_with_no_changes_is_empty_via_304(sandbox_env) -> None:
    info, control = sandbox_env
    since = control.last_seq(SYSTEM)
    with make_client(info) as client:
        assert list(client.iter_sales_orders(datetime(2027, 6, 1, tzinfo=UTC), datetime(2027, 6, 2, tzinfo=UTC))) == []
    assert [c["status"] for c in api_calls(control, since)] == [304]


def test_naive_or_inverted_windows_are_refused(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info) as client:
        with pytest.raises(ValueError):
            list(client.iter_sales_orders(datetime(2026, 1, 1), datetime(2026, 1, 2)))
        with pytest.raises(ValueError):
            list(client.iter_sales_orders(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)))


def test_master_data_for_the_mapping(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info) as client:
        accounts = list(client.list_accounts())
        products = list(client.list_products())
    assert accounts and products
    assert len({a["id"] for a in accounts}) == len(accounts)
    assert all(a["Account_Name"] for a in accounts)
    assert len({p["id"] for p in products}) == len(products)
    assert all(p["Product_Code"] for p in products)
    assert_no_floats(products)


def test_more_fields_than_one_call_allows_are_split_and_merged_by_id(sandbox_env) -> None:
    info, control = sandbox_env
    fields = ["Account_Name", "Account_Number", "Phone", "Billing_City", "Currency", "Modified_Time", "Industry"]
    since = control.last_seq(SYSTEM)
    with make_client(info) as client:
        client.max_fields = 3  # id + 2 per call: four groups
        merged = list(client.list_accounts(fields))
    with make_client(info) as client:
        whole = list(client.list_accounts(fields))
    assert merged == whole
    assert all(set(record) == {"id", *fields} for record in merged)
    calls = [parse_qs(c["query"]) for c in api_calls(control, since) if c["path"].endswith("/Accounts")]
    assert all(len(q["fields"][0].split(",")) <= 3 for q in calls[:-1])
    assert any("ids" in q for q in calls), "the later groups are fetched by id"


def test_client_from_an_airflow_style_connection(sandbox_env) -> None:
    info, _ = sandbox_env
    z = info["systems"][SYSTEM]
    conn = FakeConnection(
        host=z["accounts_url"],
        login=z["client_id"],
        password=z["client_secret"],
        extra_dejson={"refresh_token": z["refresh_token"], "timeout": [5, 10], "max_attempts": 3},
    )
    with ZohoCrmClient(ZohoConfig.from_connection(conn)) as client:
        assert next(iter(client.list_products()))["id"]
        assert client._token is not None and client._token.api_domain == z["api_domain"]


def test_wrong_refresh_token_is_an_auth_error(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info, refresh_token="1000.not-the-right-one") as client:
        with pytest.raises(AuthError) as raised:
            list(client.list_products())
    assert raised.value.code == "invalid_code"
    assert "not-the-right-one" not in str(raised.value)


def test_invalid_field_is_a_permanent_error(sandbox_env) -> None:
    info, _ = sandbox_env
    with make_client(info) as client:
        with pytest.raises(PermanentError) as raised:
            list(client.iter_records("Accounts", ["Account_Name", "No_Such_Field"]))
    assert raised.value.code == "INVALID_DATA" and raised.value.status == 400


# ------------------------------------------------------------------------------------------------
# Paging across the 2,000-record limit of `page`
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_sandbox(start_sandbox):
    with start_sandbox(orders=4_000) as started:  # 55 % in Zoho: 2,200 sales orders
        yield started


def test_paging_past_2000_switches_from_page_to_page_token(big_sandbox) -> None:
    info, control = big_sandbox
    truth = {o["crm_id"] for o in control.seed_orders(SYSTEM)}
    assert len(truth) > 2_000
    earliest = min(parse_iso_datetime(o["modified_time"]) for o in control.seed_orders(SYSTEM))
    since = control.last_seq(SYSTEM)
    with make_client(info) as client:
        # The interval pull's own list call: If-Modified-Since, Modified_Time ascending.
        stubs = list(client.iter_records(SALES_ORDERS.name, ["id", "Modified_Time"], modified_since=earliest))
    ids = [s["id"] for s in stubs]
    assert len(ids) == len(set(ids)) == len(truth)
    assert set(ids) == truth
    stamps = [parse_iso_datetime(s["Modified_Time"]) for s in stubs]
    assert stamps == sorted(stamps)
    queries = [parse_qs(c["query"]) for c in api_calls(control, since)]
    assert all(c["status"] == 200 for c in api_calls(control, since))
    assert [q["page"] for q in queries[:10]] == [[str(n)] for n in range(1, 11)]
    assert all("page_token" in q and "page" not in q for q in queries[10:])
    assert len(queries) == -(-len(truth) // 200)


def test_interval_pull_across_the_2000_boundary(big_sandbox) -> None:
    info, control = big_sandbox
    seed = {o["crm_id"]: o for o in control.seed_orders(SYSTEM)}
    lower = min(parse_iso_datetime(o["modified_time"]) for o in seed.values())
    upper = max(parse_iso_datetime(o["modified_time"]) for o in seed.values())
    expected = {i for i, o in seed.items() if parse_iso_datetime(o["modified_time"]) < upper}
    since = control.last_seq(SYSTEM)
    with make_client(info) as client:
        orders = list(client.iter_sales_orders(lower, upper))
    ids = [o["id"] for o in orders]
    assert len(ids) == len(set(ids)) and set(ids) == expected and len(ids) > 2_000
    assert all(len(o["Ordered_Items"]) == seed[o["id"]]["lines"] for o in orders)
    lists = [parse_qs(c["query"]) for c in api_calls(control, since) if c["path"].endswith("/Sales_Orders")]
    assert any("page_token" in q for q in lists), "the pull went past record 2,000 by token"


# ------------------------------------------------------------------------------------------------
# Tokens
# ------------------------------------------------------------------------------------------------


def test_token_expiring_between_pages_is_refreshed_once(sandbox_env) -> None:
    info, control = sandbox_env
    truth = {o["crm_id"] for o in control.seed_orders(SYSTEM)}
    since = control.last_seq(SYSTEM)
    with make_client(info, per_page=50) as client:
        records = client.iter_records(SALES_ORDERS.name, ["id", "Modified_Time"])
        first = list(islice(records, 50))
        control.expire_tokens(SYSTEM)
        rest = list(records)
        assert client.token_refreshes == 2
    assert {r["id"] for r in first + rest} == truth
    rejected = [c for c in api_calls(control, since) if c["status"] == 401]
    assert [c["error_code"] for c in rejected] == ["INVALID_TOKEN"]


def test_token_is_cached_and_refreshed_shortly_before_expiry(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    now = [1_000.0]
    with make_client(info, clock=lambda: now[0]) as client:
        for _ in range(3):
            next(iter(client.list_products()))
        assert client.token_refreshes == 1, "one token serves many calls"
        now[0] += 3_600 - 30  # inside the refresh margin: renew before the server says no
        next(iter(client.list_products()))
        assert client.token_refreshes == 2
    assert not [c for c in api_calls(control) if c["status"] == 401]


def test_throttled_token_endpoint_is_transient(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    control.faults(SYSTEM, token_rate_limit=1)
    with make_client(info) as first:
        next(iter(first.list_products()))  # uses the one token the window allows
    with make_client(info, retry=RetryPolicy(max_attempts=3, base=0.01, cap=0.02)) as second:
        with pytest.raises(TransientError) as raised:
            next(iter(second.list_products()))
        assert raised.value.code == "ACCESS_DENIED" and raised.value.attempts == 3
        control.advance_clock(601)  # Zoho's 10-minute window passes
        assert next(iter(second.list_products()))["id"]
    token_calls = [c for c in control.calls(SYSTEM) if "/oauth/" in c["path"]]
    assert [c["status"] for c in token_calls] == [200, 400, 400, 400, 200]


# ------------------------------------------------------------------------------------------------
# Faults: 429, Retry-After, 5xx, drops, slowness
# ------------------------------------------------------------------------------------------------


def test_429_storm_then_success(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        next(iter(client.list_products()))  # token first, so the burst hits API calls only
        since = control.last_seq(SYSTEM)
        control.faults(SYSTEM, burst_429=4)
        products = list(client.list_products())
    assert products
    statuses = [c["status"] for c in api_calls(control, since)]
    assert statuses[:5] == [429, 429, 429, 429, 200]


def test_429_storm_exhausts_the_attempts(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info, retry=RetryPolicy(max_attempts=3, base=0.01, cap=0.02)) as client:
        next(iter(client.list_products()))
        control.faults(SYSTEM, burst_429=10)
        with pytest.raises(TransientError) as raised:
            list(client.list_products())
    assert raised.value.status == 429 and raised.value.attempts == 3
    assert raised.value.code == "TOO_MANY_REQUESTS"


def test_retry_after_is_honoured(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        next(iter(client.list_products()))
        control.faults(SYSTEM, burst_429=1, retry_after=1)
        started = time.monotonic()
        assert list(client.list_products())
        assert time.monotonic() - started >= 1.0


def test_5xx_is_retried(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        next(iter(client.list_products()))
        since = control.last_seq(SYSTEM)
        control.faults(SYSTEM, burst_5xx=2, status_5xx=503)
        assert list(client.list_products())
    assert [c["status"] for c in api_calls(control, since)][:3] == [503, 503, 200]


def test_dropped_and_truncated_responses_are_retried(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info) as client:
        next(iter(client.list_products()))
        since = control.last_seq(SYSTEM)
        control.faults(SYSTEM, burst_drop=2)
        expected = list(client.list_products())
        control.faults(SYSTEM, rate_truncate=0.3)
        assert list(client.list_products()) == expected
    faults = [c["fault"] for c in api_calls(control, since)]
    assert faults[:2] == ["drop", "drop"] and "truncate" in faults


def test_slow_answers_time_out_and_count_as_transient(sandbox_env) -> None:
    info, control = sandbox_env
    with make_client(info, timeout=(2.0, 0.3), retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02)) as client:
        next(iter(client.list_products()))
        control.faults(SYSTEM, slow_seconds=1.0)
        with pytest.raises(TransientError) as raised:
            next(iter(client.list_products()))
    assert raised.value.code == "TIMEOUT" and raised.value.attempts == 2


# ------------------------------------------------------------------------------------------------
# Write-back
# ------------------------------------------------------------------------------------------------


def test_207_mixed_write_back_reports_each_record(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    good, bad = [o["crm_id"] for o in control.seed_orders(SYSTEM)[:2]]
    before_bad = control.record(SYSTEM, "Sales_Orders", bad)
    updates = [
        {
            "id": good,
            "Status": "Confirmed",
            "SAP_Order_No__c": "0000012345",
            "Confirmed_Delivery_Date__c": "2026-12-15",
        },
        {"id": bad, "Status": "No such status"},
        {"id": "5843104000399999999", "Status": "Confirmed"},
    ]
    since = control.last_seq(SYSTEM)
    with make_client(info) as client:
        results = client.update_sales_orders(updates)
    assert [r.record_id for r in results] == [good, bad, "5843104000399999999"]
    assert [r.ok for r in results] == [True, False, False]
    assert results[0].code == "SUCCESS"
    assert (results[1].code, results[1].field) == ("INVALID_DATA", "Status")
    assert results[2].code == "INVALID_DATA" and not results[2].retryable
    assert [c["status"] for c in api_calls(control, since) if c["method"] == "PUT"] == [207]
    stored = control.record(SYSTEM, "Sales_Orders", good)
    assert (stored["Status"], stored["SAP_Order_No__c"]) == ("Confirmed", "0000012345")
    assert control.record(SYSTEM, "Sales_Orders", bad)["Status"] == before_bad["Status"]
    assert all(w["trigger"] == [] for w in control.writes(SYSTEM)), "no workflow side effects"


def test_updates_go_in_chunks_of_100_and_all_failed_is_not_an_exception(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    ids = [o["crm_id"] for o in control.seed_orders(SYSTEM)[:150]]
    since = control.last_seq(SYSTEM)
    with make_client(info) as client:
        results = client.update_sales_orders([{"id": i, "Hub_Message__c": "accepted"} for i in ids])
        assert [r.record_id for r in results] == ids and all(r.ok for r in results)
        refused = client.update_sales_orders([{"id": ids[0], "Status": "Nope"}, {"id": ids[1], "Status": "Nah"}])
    assert [r.ok for r in refused] == [False, False]
    puts = [c for c in api_calls(control, since) if c["method"] == "PUT"]
    assert [c["status"] for c in puts] == [200, 200, 400]
    assert control.record(SYSTEM, "Sales_Orders", ids[149])["Hub_Message__c"] == "accepted"


def test_write_back_during_an_outage_marks_records_retryable(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    ids = [o["crm_id"] for o in control.seed_orders(SYSTEM)[:120]]
    with make_client(info, retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02)) as client:
        next(iter(client.list_products()))
        control.faults(SYSTEM, rate_5xx=1.0)
        since = control.last_seq(SYSTEM)
        results = client.update_sales_orders([{"id": i, "Hub_Message__c": "x"} for i in ids])
    assert len(results) == 120 and all(not r.ok and r.retryable for r in results)
    assert len([c for c in api_calls(control, since) if c["method"] == "PUT"]) == 2, "second chunk not sent"


def test_decimal_quantities_are_sent_as_exact_numbers(fresh_sandbox) -> None:
    info, control = fresh_sandbox
    order_id = control.seed_orders(SYSTEM)[0]["crm_id"]
    line = control.record(SYSTEM, "Sales_Orders", order_id)["Ordered_Items"][0]
    with make_client(info) as client:
        [result] = client.update_sales_orders(
            [{"id": order_id, "Ordered_Items": [{"id": line["id"], "Confirmed_Quantity__c": Decimal("4")}]}]
        )
    assert result.ok, result
    stored = control.record(SYSTEM, "Sales_Orders", order_id)["Ordered_Items"][0]
    assert stored["Confirmed_Quantity__c"] == 4
