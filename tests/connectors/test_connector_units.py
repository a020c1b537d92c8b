"""Pure logic of the connectors: converters, field groups, filters, configs built from Connections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fakes import FakeConnection
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import (
    WriteResult,
    base_url_of,
    chunked,
    datetime_to_ms,
    extra_bool,
    extra_timeout,
    parse_iso_datetime,
)
from connectors.fxiaoke import FxiaokeConfig, flt, ms_to_datetime, to_decimal
from connectors.http import RetryPolicy
from connectors.zoho_crm import (
    MAX_FIELDS,
    ZohoConfig,
    format_if_modified_since,
    merge_by_id,
    split_fields,
)

# ------------------------------------------------------------------------------------------------
# Money and time
# ------------------------------------------------------------------------------------------------


def test_to_decimal_reads_vendor_money_exactly() -> None:
    assert to_decimal("100.01") == Decimal("100.01")
    assert to_decimal("1,234.50") == Decimal("1234.50")
    assert to_decimal(" 7 ") == Decimal("7")
    assert to_decimal(5) == Decimal(5)
    assert to_decimal(Decimal("0.10")) == Decimal("0.10")
    assert to_decimal(None) is None
    assert to_decimal("") is None


@pytest.mark.parametrize("bad", [0.1, True, "abc", "NaN", "Infinity"])
def test_to_decimal_refuses_floats_and_garbage(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_decimal(bad)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12))
def test_to_decimal_string_round_trip(value: Decimal) -> None:
    assert to_decimal(str(value)) == value


def test_ms_to_datetime_is_aware_utc_and_exact() -> None:
    stamp = ms_to_datetime(1757000000123)
    assert stamp == datetime(2025, 9, 4, 15, 33, 20, 123000, tzinfo=UTC)
    assert stamp.tzinfo is UTC
    assert ms_to_datetime("1757000000123") == stamp
    with pytest.raises(TypeError):
        ms_to_datetime(1757000000123.0)  # type: ignore[arg-type]


@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_ms_round_trip(ms: int) -> None:
    assert datetime_to_ms(ms_to_datetime(ms)) == ms


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_datetime_to_ms_floors_to_the_millisecond(moment: datetime) -> None:
    ms = datetime_to_ms(moment)
    assert ms_to_datetime(ms) <= moment < ms_to_datetime(ms + 1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        datetime_to_ms(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        parse_iso_datetime("2026-01-01T10:00:00")


def test_parse_zoho_timestamps() -> None:
    assert parse_iso_datetime("2023-05-10T01:10:47-07:00") == datetime(2023, 5, 10, 8, 10, 47, tzinfo=UTC)
    assert parse_iso_datetime("2023-05-10T08:10:47Z") == datetime(2023, 5, 10, 8, 10, 47, tzinfo=UTC)


def test_if_modified_since_is_iso_with_offset_rounded_down() -> None:
    cst = timezone(timedelta(hours=8))
    assert format_if_modified_since(datetime(2026, 1, 1, 8, 0, 5, 900000, tzinfo=cst)) == "2026-01-01T00:00:05+00:00"


# ------------------------------------------------------------------------------------------------
# Zoho field groups
# ------------------------------------------------------------------------------------------------


def test_split_fields_small_list_is_one_group_with_id_first() -> None:
    assert split_fields(["Subject", "id", "Status"]) == [["id", "Subject", "Status"]]
    assert split_fields([]) == [["id"]]


@given(st.lists(st.text(alphabet="ABCDEFGHIJ_abc", min_size=1, max_size=6), max_size=300))
def test_split_fields_property(fields: list[str]) -> None:
    groups = split_fields(fields)
    assert all(len(group) <= MAX_FIELDS and group[0] == "id" for group in groups)
    flattened = [name for group in groups for name in group[1:]]
    assert flattened == [name for name in dict.fromkeys(fields) if name != "id"]
    if len(set(fields) - {"id"}) <= MAX_FIELDS - 1:
        assert len(groups) == 1


def test_merge_by_id_completes_primary_records_in_order() -> None:
    primary = [{"id": "2", "a": 1}, {"id": "1", "a": 2}]
    second = [{"id": "1", "b": "x"}, {"id": "9", "b": "orphan"}]
    third = [{"id": "2", "c": True}]
    assert merge_by_id(primary, second, third) == [{"id": "2", "a": 1, "c": True}, {"id": "1", "a": 2, "b": "x"}]
    assert primary[0] == {"id": "2", "a": 1}, "inputs are not modified"


# ------------------------------------------------------------------------------------------------
# Fxiaoke filters
# ------------------------------------------------------------------------------------------------


def test_filter_values_are_always_strings() -> None:
    moment = datetime(2025, 9, 4, 15, 33, 20, 123000, tzinfo=UTC)
    assert flt("last_modified_time", "BETWEEN", moment, 1757000000999) == {
        "field_name": "last_modified_time",
        "field_values": ["1757000000123", "1757000000999"],
        "operator": "BETWEEN",
    }
    with pytest.raises(TypeError):
        flt("amount", "GT", 1.5)


# ------------------------------------------------------------------------------------------------
# Generic helpers
# ------------------------------------------------------------------------------------------------


@given(st.lists(st.integers(), max_size=500), st.integers(min_value=1, max_value=120))
def test_chunked_property(items: list[int], size: int) -> None:
    chunks = list(chunked(items, size))
    assert [x for chunk in chunks for x in chunk] == items
    assert all(1 <= len(chunk) <= size for chunk in chunks)
    assert all(len(chunk) == size for chunk in chunks[:-1])


def test_write_result_defaults() -> None:
    result = WriteResult("1", True)
    assert (result.code, result.message, result.field, result.retryable) == (None, None, None, False)


# ------------------------------------------------------------------------------------------------
# Configs from Airflow Connection-like objects
# ------------------------------------------------------------------------------------------------


def test_zoho_config_from_connection() -> None:
    conn = FakeConnection(
        host="accounts.zoho.eu",
        login="1000.CLIENT",
        password="client-secret-value",
        extra_dejson={
            "refresh_token": "1000.refresh-value",
            "verify_tls": "false",
            "timeout": [3, 30],
            "max_attempts": 7,
        },
    )
    config = ZohoConfig.from_connection(conn)
    assert config.accounts_url == "https://accounts.zoho.eu"
    assert config.api_domain is None
    assert (config.client_id, config.client_secret, config.refresh_token) == (
        "1000.CLIENT",
        "client-secret-value",
        "1000.refresh-value",
    )
    assert config.verify_tls is False
    assert config.timeout == (3.0, 30.0)
    assert config.retry.max_attempts == 7
    assert config.per_page == 200
    assert "client-secret-value" not in repr(config) and "refresh-value" not in repr(config)


def test_zoho_config_defaults_and_required_fields() -> None:
    conn = FakeConnection(
        "https://accounts.zoho.com/", "id", "secret", {"refresh_token": "r", "api_domain": "https://x"}
    )
    config = ZohoConfig.from_connection(conn)
    assert config.accounts_url == "https://accounts.zoho.com"
    assert config.api_domain == "https://x"
    assert config.verify_tls is True
    assert config.retry == RetryPolicy()
    with pytest.raises(ValueError):
        ZohoConfig.from_connection(FakeConnection("accounts.zoho.com", "id", "secret", {}))
    with pytest.raises(ValueError):
        ZohoConfig(accounts_url="https://a", client_id="i", client_secret="s", refresh_token="r", per_page=201)


def test_fxiaoke_config_from_connection() -> None:
    conn = FakeConnection(
        host="127.0.0.1",
        login="FSAID_1",
        password="app-secret-value",
        extra_dejson={"permanent_code": "perm-value", "current_open_user_id": "FSUID_ADMIN", "timeout": "2,20"},
        port=8080,
        schema="http",
    )
    config = FxiaokeConfig.from_connection(conn)
    assert config.base_url == "http://127.0.0.1:8080"
    assert (config.app_id, config.app_secret, config.permanent_code) == ("FSAID_1", "app-secret-value", "perm-value")
    assert config.current_open_user_id == "FSUID_ADMIN"
    assert config.timeout == (2.0, 20.0)
    assert config.verify_tls is True
    assert "app-secret-value" not in repr(config) and "perm-value" not in repr(config)
    with pytest.raises(ValueError):
        FxiaokeConfig.from_connection(FakeConnection("open.fxiaoke.com", "FSAID_1", "s", {"permanent_code": "p"}))


def test_base_url_keeps_a_path_and_adds_the_port() -> None:
    assert base_url_of(FakeConnection("http://127.0.0.1/zoho", None, None, port=9000)) == "http://127.0.0.1:9000/zoho"
    assert base_url_of(FakeConnection("http://127.0.0.1:81/zoho/", None, None, port=9000)) == "http://127.0.0.1:81/zoho"
    with pytest.raises(ValueError):
        base_url_of(FakeConnection("", None, None))


def test_extra_parsers() -> None:
    assert extra_bool({"v": "yes"}, "v", False) is True
    assert extra_bool({}, "v", True) is True
    with pytest.raises(ValueError):
        extra_bool({"v": "maybe"}, "v", True)
    assert extra_timeout({"timeout": 5}, (1.0, 1.0)) == (5.0, 5.0)
    with pytest.raises(ValueError):
        extra_timeout({"timeout": 0}, (1.0, 1.0))
