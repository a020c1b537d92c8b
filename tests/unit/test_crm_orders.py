"""Mapping of recorded CRM payloads (one clean order and one per defect kind, per CRM)."""

from __future__ import annotations

import json
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from connectors.crm.fxiaoke import raw_lines as fxiaoke_raw_lines
from connectors.crm.zoho_crm import raw_lines as zoho_raw_lines
from transforms.crm_orders import MappingError, Masters, canonical_order

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RAW_LINES = {"zoho_crm": zoho_raw_lines, "fxiaoke": fxiaoke_raw_lines}


def recorded(crm: str) -> dict:
    return json.loads((FIXTURES / f"{crm}_sales_orders.json").read_text(encoding="utf-8"), parse_float=Decimal)


def masters_for(lines: list[dict]) -> Masters:
    """Every account and product of the order mapped, as the pull's master refresh would."""
    return Masters(
        customers={ln["crm_account_id"]: "C1" for ln in lines if ln["crm_account_id"]},
        customer_names={},
        materials={ln["product_ref"]: f"M-{ln['product_ref']}" for ln in lines if ln["product_ref"]},
    )


def canonical(crm: str, order: dict):
    lines = RAW_LINES[crm](order)
    return canonical_order(lines, masters_for(lines), lambda _s: Decimal("0.13"), ROUND_HALF_UP, plant="1010")


def test_zoho_clean_order_matches_the_crm_totals():
    order = recorded("zoho_crm")["clean"]
    head, lines = canonical("zoho_crm", order)
    items = order["Ordered_Items"]
    assert head["order_number"] == order["SO_Number"] and head["currency"] == order["Currency"]
    assert head["line_count"] == len(items)
    assert head["net_amount"] == sum(Decimal(str(i["Total_After_Discount"])) for i in items)
    assert head["tax_amount"] == sum(Decimal(str(i["Tax"])) for i in items)
    assert head["gross_amount"] == Decimal(str(order["Grand_Total"]))
    assert all(isinstance(ln["quantity"], Decimal) for ln in lines)
    assert head["order_time"].tzinfo is not None


def test_fxiaoke_clean_order_matches_the_crm_totals():
    order = recorded("fxiaoke")["clean"]
    head, lines = canonical("fxiaoke", order)
    assert head["order_number"] == order["name"] and head["currency"] == "CNY"
    assert head["net_amount"] == Decimal(order["product_amount"])
    assert head["tax_amount"] == Decimal(order["tax_amount__c"])
    assert head["gross_amount"] == Decimal(order["order_amount"])
    assert [ln["line_no"] for ln in lines] == sorted(int(d["line_no__c"]) for d in order["details"])


@pytest.mark.parametrize("crm", ["zoho_crm", "fxiaoke"])
def test_each_wire_defect_is_visible_in_the_raw_lines(crm):
    orders = recorded(crm)
    raw = {kind: RAW_LINES[crm](order) for kind, order in orders.items()}
    assert any(ln["crm_account_id"] is None for ln in raw["missing_customer"])
    assert any(ln["unit_price"] is None for ln in raw["non_numeric_price"])
    assert any(ln["quantity"] is not None and ln["quantity"] <= 0 for ln in raw["bad_quantity"])
    assert max(Counter(ln["line_no"] for ln in raw["duplicate_line_numbers"]).values()) > 1
    assert any(ln["line_currency"] != ln["currency"] for ln in raw["currency_mismatch"])
    for kind in ("clean", "emoji_text", "long_text", "unknown_extra_fields", "missing_optional_fields"):
        for ln in raw[kind]:
            assert ln["crm_account_id"] and ln["unit_price"] is not None and ln["quantity"] > 0, (kind, ln)
            assert ln["line_currency"] == ln["currency"], kind


@pytest.mark.parametrize("crm", ["zoho_crm", "fxiaoke"])
def test_tolerated_defects_map_cleanly(crm):
    orders = recorded(crm)
    for kind in ("emoji_text", "long_text", "unknown_extra_fields", "missing_optional_fields"):
        head, lines = canonical(crm, orders[kind])
        assert head["net_amount"] >= 0 and lines, kind
    _, lines = canonical(crm, orders["long_text"])
    assert any(ln["description"] and len(ln["description"]) == 500 for ln in lines)


def test_unmapped_customer_and_product_name_their_field():
    order = recorded("zoho_crm")["clean"]
    lines = zoho_raw_lines(order)
    no_customer = Masters(customers={}, customer_names={}, materials=masters_for(lines).materials)
    with pytest.raises(MappingError) as err:
        canonical_order(lines, no_customer, lambda _s: Decimal(0), ROUND_HALF_UP)
    assert err.value.field == "crm_account_id" and order["SO_Number"] in str(err.value)
    no_product = Masters(customers=masters_for(lines).customers, customer_names={}, materials={})
    with pytest.raises(MappingError) as err:
        canonical_order(lines, no_product, lambda _s: Decimal(0), ROUND_HALF_UP)
    assert err.value.field == "product_ref"


def test_content_hash_changes_with_content_only():
    order = recorded("fxiaoke")["clean"]
    first, _ = canonical("fxiaoke", order)
    again, _ = canonical("fxiaoke", recorded("fxiaoke")["clean"])
    assert first["content_hash"] == again["content_hash"]
    order["details"][0]["quantity"] = str(Decimal(order["details"][0]["quantity"]) * 2)
    changed, _ = canonical("fxiaoke", order)
    assert changed["content_hash"] != first["content_hash"]


def test_content_hash_ignores_the_hubs_own_write_back():
    order = recorded("zoho_crm")["clean"]
    first, _ = canonical("zoho_crm", order)
    order["Status"] = "Partially Confirmed"
    order["Modified_Time"] = "2026-12-24T10:00:00+08:00"
    echoed, _ = canonical("zoho_crm", order)
    assert echoed["content_hash"] == first["content_hash"]
    order["Status"] = "Cancelled"
    cancelled, _ = canonical("zoho_crm", order)
    assert cancelled["content_hash"] != first["content_hash"]


@pytest.mark.parametrize("crm", ["zoho_crm", "fxiaoke"])
@pytest.mark.parametrize("scope", ["per_line", "per_document"])
def test_tax_rounding_scope_is_honoured_and_recorded(crm, scope):
    order = recorded(crm)["clean"]
    raw = RAW_LINES[crm](order)
    for line in raw:  # amounts whose taxes do not round the same per line and per document
        line.update(quantity=Decimal(1), unit_price=Decimal("0.35"), discount=Decimal(0), tax_rate=Decimal("0.13"))
    head, lines = canonical_order(
        raw, masters_for(raw), lambda _s: Decimal("0.13"), ROUND_HALF_UP, tax_rounding_scope=scope
    )
    assert head["tax_rounding_scope"] == scope
    assert head["tax_amount"] == sum(ln["tax_amount"] for ln in lines)
    exact = sum(ln["net_amount"] * ln["tax_rate"] for ln in lines)
    if scope == "per_document":
        assert head["tax_amount"] == exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
    else:
        assert all(ln["tax_amount"] == Decimal("0.05") for ln in lines)
    # The scope is how amounts were computed, not content: the hash moves only if the amounts do.
    same = canonical_order(raw, masters_for(raw), lambda _s: Decimal("0.13"), ROUND_HALF_UP)[0]
    assert (same["content_hash"] == head["content_hash"]) == (same["tax_amount"] == head["tax_amount"])
