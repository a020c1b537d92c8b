"""The registry of CRM adapters (connectors/crm/) and what each adapter declares."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from connectors import crm
from connectors.http import PermanentError
from connectors.paging import OffsetThenKeyset, PageThenToken
from transforms.crm_orders import RAW_COLUMNS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BUILT_IN = ("zoho_crm", "fxiaoke")


def test_every_module_of_the_package_with_an_adapter_is_registered():
    assert set(BUILT_IN) <= set(crm.names())
    assert all(crm.get(n).name == n for n in crm.names())


@pytest.mark.parametrize("name", BUILT_IN)
def test_an_adapter_declares_resources_with_key_cursor_and_paginator(name):
    adapter = crm.get(name)
    for resource in (adapter.resources.orders, adapter.resources.accounts, adapter.resources.products):
        assert resource.primary_key and resource.cursor and resource.paginator is not None, resource
    # one paginator per CRM, shared by its resources
    assert adapter.resources.orders.paginator is adapter.resources.accounts.paginator
    assert adapter.conn_id and adapter.description


@pytest.mark.parametrize("name", BUILT_IN)
def test_recorded_orders_map_to_the_raw_line_shape(name):
    adapter = crm.get(name)
    recorded = json.loads((FIXTURES / f"{name}_sales_orders.json").read_text(encoding="utf-8"), parse_float=Decimal)
    for kind, order in recorded.items():
        lines = adapter.raw_lines(order)
        assert lines, kind
        for line in lines:
            assert sorted(line) == sorted(RAW_COLUMNS), kind
            assert line["source"] == name and line["crm_order_id"] == adapter.order_id(order)
            assert line["record_key"] == f"{name}:{adapter.order_id(order)}"
        assert adapter.modified_at(order) is not None, kind


def test_master_records_map_through_the_declared_fields():
    zoho, fx = crm.get("zoho_crm"), crm.get("fxiaoke")
    account = {
        "id": 7,
        "Account_Number": "1000100",
        "Account_Name": "上海汽配",
        "Modified_Time": "2026-11-01T08:00:00+08:00",
    }
    assert zoho.account(account)["crm_account_id"] == "7"
    assert zoho.account(account)["customer_number"] == "1000100"
    assert zoho.account(account)["crm_modified_at"].isoformat() == "2026-11-01T00:00:00+00:00"
    product = {"_id": "p1", "product_code": "", "name": "Filter", "last_modified_time": 1_700_000_000_000}
    assert fx.product(product) == {
        "crm_product_id": "p1",
        "material": None,
        "name": "Filter",
        "crm_modified_at": fx.product(product)["crm_modified_at"],
    }


def test_defaults_are_declared_by_the_adapter():
    assert crm.get("fxiaoke").defaults.currency == "CNY" and crm.get("fxiaoke").defaults.tax_country == "CN"
    assert crm.get("zoho_crm").defaults.tax_country is None


def test_register_refuses_a_second_adapter_of_a_name_and_unregister_removes_it():
    copy = replace(crm.get("zoho_crm"), name="zoho_copy")
    assert crm.register(copy) is copy
    try:
        assert crm.get("zoho_copy") is copy
        with pytest.raises(ValueError, match="registered already"):
            crm.register(replace(copy, conn_id="other"))
        crm.register(replace(copy, conn_id="other"), replace=True)
        assert crm.get("zoho_copy").conn_id == "other"
    finally:
        crm.unregister("zoho_copy")
    with pytest.raises(ValueError, match="unknown CRM 'zoho_copy'; registered: .*zoho_crm"):
        crm.get("zoho_copy")


@pytest.mark.parametrize("bad", ["Zoho", "has space", "x" * 17, "1crm"])
def test_an_adapter_name_must_fit_the_source_column(bad):
    with pytest.raises(ValueError, match="at most 16"):
        replace(crm.get("zoho_crm"), name=bad)


def test_offset_then_keyset_switches_to_the_key_at_the_offset_limit():
    rows = [{"_id": f"{i:03d}"} for i in range(11)]
    calls = []

    def fetch(offset, after):
        calls.append((offset, after))
        if after is None:
            return rows[offset : offset + 3]
        return [r for r in rows if r["_id"] > after][:3]

    paging = OffsetThenKeyset(max_page_size=3, max_offset=6)
    got = [r for page in paging.pages(fetch, key="_id", page_size=3, system="t", what="x") for r in page]
    assert got == rows
    assert calls == [(0, None), (3, None), (0, "005"), (0, "008")]


def test_page_then_token_switches_to_the_token_past_the_page_limit():
    pages = {1: ["a", "b"], 2: ["c", "d"], "t1": ["e"]}

    def fetch(position):
        key = position.get("page") or position["page_token"]
        more = key != "t1"
        return [{"v": v} for v in pages[key]], {"more_records": more, "next_page_token": "t1" if key == 2 else None}

    paging = PageThenToken(max_page_size=2, page_limit=4)
    got = [r["v"] for page in paging.pages(fetch, page_size=2, system="t", what="x") for r in page]
    assert got == ["a", "b", "c", "d", "e"]


def test_page_then_token_without_a_token_is_a_permanent_error():
    def fetch(position):
        return [{"v": 1}, {"v": 2}], {"more_records": True}

    paging = PageThenToken(max_page_size=2, page_limit=2)
    with pytest.raises(PermanentError, match="no next_page_token"):
        list(paging.pages(fetch, page_size=2, system="t", what="x"))
