"""Reorder reminders through the CRM adapters against the sandbox (issue 14): the payload each CRM gets
(a Zoho Task on the account, a Fxiaoke sales record), find-before-create keeping a reminder to one
record per key without an idempotency key, Zoho's insert limit of 100, its search quirk, and faults.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from connectors import crm
from connectors.crm.base import Rendering
from connectors.fxiaoke import FxiaokeClient, FxiaokeConfig
from connectors.http import RetryPolicy
from connectors.zoho_crm import ZohoConfig, ZohoCrmClient

FAST = RetryPolicy(max_attempts=2, base=0.01, cap=0.05)
CN = timezone(timedelta(hours=8))
HUB = Rendering(
    summary=lambda _language: "",
    day_start=lambda day: datetime.combine(day, time(), tzinfo=CN),
    today=date(2025, 6, 10),
)


@dataclass(frozen=True)
class Reminder:
    key: str
    customer_crm_id: str
    customer_name: str = "Autohaus Weber"
    material: str = "BP-1001"
    material_name: str = "Brake pad set"
    interval_days: int = 30
    last_purchase: date = date(2025, 5, 8)
    typical_qty: Decimal = Decimal("12.0")
    due_date: date = date(2025, 6, 7)
    unit: str = "PC"
    language: str = "en"


def zoho_client(info: dict[str, Any]) -> ZohoCrmClient:
    z = info["systems"]["zoho_crm"]
    return ZohoCrmClient(
        ZohoConfig(
            accounts_url=z["accounts_url"],
            client_id=z["client_id"],
            client_secret=z["client_secret"],
            refresh_token=z["refresh_token"],
            timeout=(5.0, 10.0),
            retry=FAST,
            token_throttle_wait=0.01,
        )
    )


def fx_client(info: dict[str, Any]) -> FxiaokeClient:
    f = info["systems"]["fxiaoke"]
    return FxiaokeClient(
        FxiaokeConfig(
            base_url=f["base_url"],
            app_id=f["app_id"],
            app_secret=f["app_secret"],
            permanent_code=f["permanent_code"],
            current_open_user_id=f["current_open_user_id"],
            timeout=(5.0, 10.0),
            retry=FAST,
        )
    )


@pytest.fixture(scope="module")
def env(start_sandbox) -> Iterator[tuple[dict[str, Any], Any]]:
    with start_sandbox(seed=14, orders=30) as started:
        yield started


@pytest.fixture
def clients(env) -> Iterator[dict[str, Any]]:
    info, control = env
    control.clear_faults()
    control.advance_clock(601)
    with zoho_client(info) as zoho, fx_client(info) as fx:
        yield {"zoho_crm": zoho, "fxiaoke": fx}
    control.clear_faults()


def accounts(client: Any) -> list[str]:
    key = "id" if isinstance(client, ZohoCrmClient) else "_id"
    return [str(a[key]) for a in client.list_accounts()]


def run_reminders(adapter: crm.CrmAdapter, client: Any, reminders: list[Reminder]) -> tuple[dict[str, str], list[Any]]:
    """What the planning flow does: look the keys up, create only the missing ones."""
    held = adapter.find_reminders(client, [r.key for r in reminders])
    missing = [r for r in reminders if r.key not in held]
    results = adapter.write_reminders(client, [adapter.reminder_payload(r, HUB) for r in missing])
    return held, results


@pytest.mark.parametrize("name", ["zoho_crm", "fxiaoke"])
def test_find_before_create_writes_each_reminder_once(clients, env, name: str) -> None:
    adapter, client = crm.get(name), clients[name]
    account = accounts(client)[0]
    reminders = [Reminder(f"{name}:once:{i}", account, language="zh" if i % 2 else "en") for i in range(3)]
    held, results = run_reminders(adapter, client, reminders)
    assert held == {}
    assert [r.ok for r in results] == [True, True, True]
    created = {r.key: w.record_id for r, w in zip(reminders, results, strict=True)}
    # The next cycle's run (or a retry of this one) finds them all and writes nothing.
    held, results = run_reminders(adapter, client, reminders)
    assert held == created and results == []
    module = "Tasks" if name == "zoho_crm" else "ActiveRecordObj"
    stored = env[1].record(name, module, created[reminders[1].key])
    text = stored.get("Description") or stored.get("active_record_content")
    assert "约每 30 天" in text and "12 PC" in text, "zh text, quantity without a trailing zero"
    assert "every 30 days" in (
        env[1].record(name, module, created[reminders[0].key]).get("Description")
        or env[1].record(name, module, created[reminders[0].key]).get("active_record_content")
    )


def test_zoho_task_fields_and_priority(clients, env) -> None:
    adapter, client = crm.get("zoho_crm"), clients["zoho_crm"]
    account = accounts(client)[1]
    overdue = Reminder("zoho:prio:late", account, due_date=date(2025, 6, 7))
    ahead = Reminder("zoho:prio:ahead", account, due_date=date(2025, 6, 20))
    _, results = run_reminders(adapter, client, [overdue, ahead])
    late, soon = (env[1].record("zoho_crm", "Tasks", w.record_id) for w in results)
    assert (late["Priority"], soon["Priority"]) == ("High", "Normal")
    assert (late["Status"], late["Due_Date"], late["$se_module"]) == ("Not Started", "2025-06-07", "Accounts")
    assert late["What_Id"]["id"] == account and late["Hub_Reminder_Key"] == "zoho:prio:late"
    assert late["Subject"].startswith("Reorder reminder: Autohaus Weber")


def test_fxiaoke_sales_record_fields(clients, env) -> None:
    adapter, client = crm.get("fxiaoke"), clients["fxiaoke"]
    account = accounts(client)[1]
    _, (result,) = run_reminders(adapter, client, [Reminder("fx:fields", account, language="zh")])
    stored = env[1].record("fxiaoke", "ActiveRecordObj", result.record_id)
    assert stored["account_id"] == account and stored["related_object_data"][0]["describe_api_name"] == "AccountObj"
    midnight = datetime(2025, 6, 7, tzinfo=CN)
    assert stored["field_hub_due_date__c"] == int(midnight.timestamp() * 1000)
    assert stored["active_record_content"].startswith("补货提醒：")
    writes = [w for w in env[1].writes("fxiaoke") if w.get("action") == "create"]
    assert writes and writes[-1]["triggerWorkFlow"] is False and writes[-1]["triggerApprovalFlow"] is False


def test_zoho_writes_more_than_100_in_chunks_and_finds_them_in_groups_of_10(clients, env) -> None:
    adapter, client = crm.get("zoho_crm"), clients["zoho_crm"]
    account = accounts(client)[2]
    reminders = [Reminder(f"zoho:bulk:{i:03d}", account) for i in range(150)]
    since = env[1].last_seq("zoho_crm")
    held, results = run_reminders(adapter, client, reminders)
    assert held == {} and all(r.ok for r in results) and len({r.record_id for r in results}) == 150
    calls = [c for c in env[1].calls("zoho_crm", since) if "/oauth/" not in c["path"]]
    assert sum(1 for c in calls if c["method"] == "POST") == 2
    assert sum(1 for c in calls if c["path"].endswith("/search")) == 15
    found = adapter.find_reminders(client, [r.key for r in reminders])
    assert found == {r.key: w.record_id for r, w in zip(reminders, results, strict=True)}


def test_zoho_search_quirk_and_case_do_not_fool_the_lookup(clients) -> None:
    adapter, client = crm.get("zoho_crm"), clients["zoho_crm"]
    account = accounts(client)[0]
    run_reminders(adapter, client, [Reminder("quirk Inc", account), Reminder("Case:Key", account)])
    # "quirk" among several criteria matches "quirk Inc" on Zoho's side; "case:key" matches without case.
    assert adapter.find_reminders(client, ["quirk", "case:key", "x(1),y"]) == {}


def test_zoho_create_without_find_reports_the_held_task(clients) -> None:
    adapter, client = crm.get("zoho_crm"), clients["zoho_crm"]
    reminder = Reminder("zoho:dup", accounts(client)[0])
    (first,) = adapter.write_reminders(client, [adapter.reminder_payload(reminder, HUB)])
    (again,) = adapter.write_reminders(client, [adapter.reminder_payload(reminder, HUB)])
    assert (again.ok, again.code, again.record_id) == (True, "DUPLICATE_DATA", first.record_id)


def test_a_refused_reminder_does_not_stop_the_others(clients) -> None:
    for name in ("zoho_crm", "fxiaoke"):
        adapter, client = crm.get(name), clients[name]
        good = Reminder(f"{name}:mixed:good", accounts(client)[0])
        bad = replace(good, key=f"{name}:mixed:bad", customer_crm_id="999")
        results = adapter.write_reminders(client, [adapter.reminder_payload(r, HUB) for r in (bad, good)])
        assert [r.ok for r in results] == [False, True]
        assert results[0].record_id == bad.key and results[0].code and not results[0].retryable
        assert adapter.find_reminders(client, [bad.key, good.key]) == {good.key: results[1].record_id}


@pytest.mark.parametrize("name", ["zoho_crm", "fxiaoke"])
def test_an_outage_reports_reminders_unsent_and_the_next_run_creates_them_once(clients, env, name: str) -> None:
    adapter, client = crm.get(name), clients[name]
    reminders = [Reminder(f"{name}:outage:{i}", accounts(client)[0]) for i in range(2)]
    payloads = [adapter.reminder_payload(r, HUB) for r in reminders]
    env[1].faults(name, rate_5xx=1.0)
    results = adapter.write_reminders(client, payloads)
    assert [(r.ok, r.retryable, r.record_id) for r in results] == [(False, True, r.key) for r in reminders]
    env[1].clear_faults()
    held, results = run_reminders(adapter, client, reminders)
    assert held == {} and all(r.ok for r in results)
    assert set(adapter.find_reminders(client, [r.key for r in reminders])) == {r.key for r in reminders}


def test_adapters_without_reminders_stay_valid() -> None:
    base = crm.get("zoho_crm")
    plain = type(base)(
        **{
            **base.__dict__,
            "name": "plaincrm",
            "reminder_payload": None,
            "find_reminders": None,
            "write_reminders": None,
        }
    )
    assert plain.supports_reminders is False and base.supports_reminders is True
    with pytest.raises(ValueError, match="together"):
        type(base)(**{**base.__dict__, "name": "halfcrm", "find_reminders": None})
