"""Confirmations: line and order status, the CRM write-back payloads, the ledger key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.crm import fxiaoke, zoho_crm
from flows.crms import write_back_payload
from flows.sap_order_posting.due import confirmation_key
from transforms.confirmation import Confirmation, ConfirmedLine


def zoho_update(c: Confirmation) -> dict:
    return write_back_payload(zoho_crm.ADAPTER, c)


def fxiaoke_update(c: Confirmation, zone: str) -> dict:
    return write_back_payload(fxiaoke.ADAPTER, c, zone)


def line(no: int, ordered: str, confirmed: str, day: int | None = 3, crm_line_id: str | None = "L") -> ConfirmedLine:
    return ConfirmedLine(
        line_no=no,
        material=f"SP-{no}",
        description=None,
        ordered_qty=Decimal(ordered),
        confirmed_qty=Decimal(confirmed),
        unit="PC",
        confirmed_date=date(2026, 12, day) if day else None,
        crm_line_id=f"{crm_line_id}{no}" if crm_line_id else None,
    )


def confirmation(*lines: ConfirmedLine, sap_order: str | None = "1000001") -> Confirmation:
    return Confirmation(
        source="zoho_crm",
        crm_order_id="42",
        order_number="SO-42",
        customer_number="1000100",
        customer_name="上海汽配",
        email="buyer@example.com",
        language="zh",
        sap_order=sap_order,
        currency="CNY",
        net_amount=Decimal("100.00"),
        gross_amount=Decimal("113.00"),
        lines=lines,
    )


def test_statuses_follow_x12_668():
    assert [ln.status for ln in (line(1, "5", "5"), line(2, "5", "2"), line(3, "5", "0"))] == ["IA", "BP", "IB"]
    assert confirmation(line(1, "5", "5")).status == "confirmed"
    assert confirmation(line(1, "5", "5"), line(2, "5", "0")).status == "partially_confirmed"
    assert confirmation(line(1, "5", "0", day=None), sap_order=None).status == "backordered"


def test_zoho_update_carries_every_line_with_its_id_and_iso_dates():
    c = confirmation(line(1, "5", "5", day=3), line(2, "4", "1", day=9), line(3, "2", "0", day=None))
    update = zoho_update(c)
    assert update["id"] == "42" and update["Status"] == "Partially Confirmed"
    assert update["SAP_Order_No__c"] == "1000001" and update["Confirmed_Delivery_Date__c"] == "2026-12-09"
    assert [r["id"] for r in update["Ordered_Items"]] == ["L1", "L2", "L3"]  # none appended as new rows
    assert update["Ordered_Items"][2] == {"id": "L3", "Confirmed_Quantity__c": Decimal("0"), "Confirmed_Date__c": None}
    assert "line 2 SP-2 3 PC" in update["Hub_Message__c"] and "line 3 SP-3 2 PC" in update["Hub_Message__c"]


def test_fxiaoke_update_uses_the_business_zone_midnight_and_detail_ids():
    update = fxiaoke_update(confirmation(line(1, "5", "5", day=3)), "Asia/Shanghai")
    assert update["hub_status__c"] == "confirmed"
    assert update["confirmed_delivery_date__c"].astimezone(UTC) == datetime(2026, 12, 2, 16, tzinfo=UTC)
    assert update["details"] == {"SalesOrderProductObj": [{"_id": "L1", "confirmed_quantity__c": Decimal("5")}]}
    assert "全部 1 行已确认" in update["hub_message__c"]


def test_lines_without_a_crm_id_are_not_written_back():
    assert zoho_update(confirmation(line(1, "5", "5", crm_line_id=None)))["Ordered_Items"] == []


@given(st.integers(0, 50), st.integers(0, 50))
def test_confirmation_key_changes_exactly_when_the_confirmed_content_does(first, second):
    a = confirmation(line(1, "50", str(first)))
    b = confirmation(line(1, "50", str(second)))
    assert (confirmation_key(a) == confirmation_key(b)) == (first == second)
    assert confirmation_key(replace(a, email="other@example.com")) == confirmation_key(a)  # not content
    assert confirmation_key(a).startswith("SO-42:")
