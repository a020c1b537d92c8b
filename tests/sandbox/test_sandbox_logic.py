"""Limits too large to reach over HTTP in a test, and the fault dice, checked on the pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.faults import FaultConfigError, FaultState
from sandbox.fxiaoke_query import OffsetTooLarge, run_query
from sandbox.fxiaoke_schema import FxiaokeError
from sandbox.zoho_paging import Cursor, PageRequest, PageTokens, select_page
from sandbox.zoho_schema import ZohoError, zoho_time

pytestmark = pytest.mark.sandbox

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def _zoho_records(n: int) -> list[dict[str, Any]]:
    return [
        {"id": str(5843104000300000000 + i), "Modified_Time": zoho_time(NOW - timedelta(minutes=n - i))}
        for i in range(n)
    ]


def test_page_token_stops_at_100000_records() -> None:
    tokens = PageTokens(1)
    near_end = tokens.issue(Cursor("Sales_Orders", "id", "asc", None, 99_800, NOW + timedelta(hours=24)))
    ok = PageRequest("Sales_Orders", per_page=200, page_token=near_end)
    chunk, info, _ = select_page(_zoho_records(10), ok, tokens, NOW)
    assert chunk == [] and info["more_records"] is False
    past = tokens.issue(Cursor("Sales_Orders", "id", "asc", None, 99_900, NOW + timedelta(hours=24)))
    with pytest.raises(ZohoError) as caught:
        select_page([], PageRequest("Sales_Orders", per_page=200, page_token=past), tokens, NOW)
    assert caught.value.code == "PAGINATION_LIMIT_EXCEEDED"
    assert caught.value.details == {"limit": 100_000}
    assert caught.value.message == "You can only get upto 100000 records using page_token param"


def test_page_token_expires_after_24_hours() -> None:
    tokens = PageTokens(1)
    _, info, _ = select_page(_zoho_records(5), PageRequest("Accounts", per_page=2), tokens, NOW)
    token = info["next_page_token"]
    request = PageRequest("Accounts", per_page=2, page_token=token)
    assert len(select_page(_zoho_records(5), request, tokens, NOW + timedelta(hours=23))[0]) == 2
    with pytest.raises(ZohoError):
        select_page(_zoho_records(5), request, tokens, NOW + timedelta(hours=24))
    with pytest.raises(ZohoError):  # a token belongs to its module
        select_page(_zoho_records(5), PageRequest("Products", page_token=token), tokens, NOW)


def test_page_token_continues_without_gaps_or_repeats() -> None:
    tokens = PageTokens(1)
    records = _zoho_records(2_345)
    seen: list[str] = []
    request = PageRequest("Accounts", per_page=200, sort_by="Modified_Time", sort_order="asc")
    while True:
        chunk, info, _ = select_page(records, request, tokens, NOW)
        seen += [r["id"] for r in chunk]
        if not info["more_records"]:
            break
        request = PageRequest("Accounts", per_page=200, page_token=info["next_page_token"])
    assert seen == [r["id"] for r in records]
    assert info["page"] == 12 and info["previous_page_token"]


def _fx_records() -> list[dict[str, Any]]:
    return [
        {"_id": "a1", "name": "A", "owner": ["1000"], "remark": "加急 urgent", "order_amount": "10.00"},
        {"_id": "a2", "name": "B", "owner": ["1001"], "order_amount": "9.50"},
        {"_id": "a3", "name": "C", "owner": ["1000", "1002"], "remark": "normal", "order_amount": "12,5a"},
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([{"field_name": "remark", "operator": "N", "field_values": ["normal"]}], ["a1", "a2"]),
        ([{"field_name": "remark", "operator": "IS", "field_values": []}], ["a2"]),
        ([{"field_name": "remark", "operator": "ISN", "field_values": []}], ["a1", "a3"]),
        ([{"field_name": "remark", "operator": "LIKE", "field_values": ["urgent"]}], ["a1"]),
        ([{"field_name": "name", "operator": "STARTWITH", "field_values": ["B"]}], ["a2"]),
        ([{"field_name": "owner", "operator": "IN", "field_values": ["1002"]}], ["a3"]),
        ([{"field_name": "owner", "operator": "NHASANYOF", "field_values": ["1000"]}], ["a2"]),
        ([{"field_name": "order_amount", "operator": "GT", "field_values": ["9.9"]}], ["a1"]),
        ([{"field_name": "order_amount", "operator": "NIN", "field_values": ["10"]}], ["a2", "a3"]),
        ([{"field_name": "_id", "operator": "GT", "field_values": ["a1"]}], ["a2", "a3"]),
    ],
)
def test_fxiaoke_operators(filters: list[dict[str, Any]], expected: list[str]) -> None:
    search = {"limit": 10, "offset": 0, "filters": filters, "orders": [{"fieldName": "_id", "isAsc": True}]}
    result = run_query("SalesOrderObj", _fx_records(), search, with_total=True, include_null=False)
    assert [r["_id"] for r in result.rows] == expected and result.total == len(expected)


def test_fxiaoke_missing_values_sort_first_ascending() -> None:
    search = {"limit": 10, "offset": 0, "orders": [{"fieldName": "remark", "isAsc": True}]}
    rows = run_query("SalesOrderObj", _fx_records(), search, with_total=True, include_null=False).rows
    assert [r["_id"] for r in rows] == ["a2", "a3", "a1"]  # empty, "normal", "加急 urgent"


def test_fxiaoke_paging_limits() -> None:
    def query(**search: Any) -> Any:
        return run_query("SalesOrderObj", [], search, with_total=True, include_null=False)

    assert query(limit=100, offset=10_000).rows == []
    with pytest.raises(OffsetTooLarge):
        query(limit=100, offset=10_100)
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": 30, "offset": 45}, {"offset": 0}):
        with pytest.raises(FxiaokeError):
            query(**bad)


def test_fault_dice_are_seeded() -> None:
    def rolls(seed: int) -> list[str | None]:
        state = FaultState(seed, "zoho_crm")
        state.apply({"rate_429": 0.3, "rate_5xx": 0.2, "rate_drop": 0.1})
        return [state.decide().kind for _ in range(200)]

    assert rolls(7) == rolls(7)
    assert rolls(7) != rolls(8)
    kinds = rolls(7)
    assert 30 < kinds.count("throttle") < 90 and kinds.count("drop") > 5 and kinds.count(None) > 60


def test_bursts_come_first_and_run_out() -> None:
    state = FaultState(1, "fxiaoke")
    state.apply({"burst_429": 2, "burst_5xx": 1})
    assert [state.decide().kind for _ in range(4)] == ["throttle", "throttle", "server_error", None]
    with pytest.raises(FaultConfigError):
        state.apply({"burst_429": -1})
