"""Zoho's official Python SDK (PyPI ``zohocrmsdk8-0``, pinned in requirements.txt), unmodified,
pointed at the emulator through a custom data centre: initialise with the refresh token, page
Sales_Orders, read one with ``Ordered_Items``, update three records with mixed results.

The SDK steps run in a subprocess (``zoho_sdk_steps.py``) because the SDK keeps process-wide state;
its token store, field cache and log go to ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

STEPS = Path(__file__).with_name("zoho_sdk_steps.py")


@pytest.fixture(scope="module")
def own_sandbox() -> Any:
    # Its own sandbox: the SDK writes to records, and other modules read the shared one.
    with running_sandbox(seed=7, orders=600) as info:
        yield info


def _stored(info: dict[str, Any], record_id: str) -> dict[str, Any]:
    r = requests.get(f"{info['control_url']}/records/zoho_crm/Sales_Orders/{record_id}", timeout=10)
    r.raise_for_status()
    return r.json()


def test_official_sdk_pages_reads_and_updates(own_sandbox: dict[str, Any], tmp_path: Path) -> None:
    info = own_sandbox
    requests.delete(info["control_url"] + "/calls", timeout=10).raise_for_status()
    seeded = requests.get(info["control_url"] + "/seed/orders", timeout=10).json()["orders"]
    zoho_ids = {str(o["crm_id"]) for o in seeded if o["crm"] == "zoho_crm"}

    run = subprocess.run(
        [sys.executable, str(STEPS), json.dumps(info), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, f"stdout: {run.stdout[-2000:]}\nstderr: {run.stderr[-4000:]}"
    out = json.loads(run.stdout)

    # Paging: every seeded Zoho order, once, over more than one page.
    assert out["pages"] >= 2
    assert len(out["ids"]) == len(set(out["ids"]))
    assert set(out["ids"]) == zoho_ids

    # One record with its subform rows, parsed by the SDK into records with lookups.
    one = out["one"]
    stored = _stored(info, one["id"])["record"]
    assert one["Status"] == stored["Status"]
    assert one["Account_Name"]["name"] == stored["Account_Name"]["name"]
    assert len(one["Ordered_Items"]) == len(stored["Ordered_Items"]) > 0
    for row, stored_row in zip(one["Ordered_Items"], stored["Ordered_Items"], strict=True):
        assert str(row["id"]) == stored_row["id"]
        assert row["Product_Name"]["name"] == stored_row["Product_Name"]["name"]
        assert row["Quantity"] == stored_row["Quantity"]

    # Mixed results: 207, two successes in input order, then a per-record error.
    update = out["update"]
    assert update["http"] == 207
    first, second, missing = update["results"]
    assert (first["status"], first["code"], first["id"]) == ("success", "SUCCESS", update["ids"][0])
    assert (second["status"], second["code"], second["id"]) == ("success", "SUCCESS", update["ids"][1])
    assert (missing["status"], missing["code"], missing["json_path"]) == ("error", "INVALID_DATA", "$.data[2].id")
    a, b = (_stored(info, i)["record"] for i in update["ids"])
    assert (a["Status"], a["SAP_Order_No__c"]) == ("Confirmed", "4500000001")
    assert b["Hub_Message__c"] == "confirmed by the official SDK"

    # What the SDK asked before its first record call, and that nothing answered 5xx.
    calls = requests.get(info["control_url"] + "/calls", params={"system": "zoho_crm"}, timeout=10).json()
    calls = calls["calls"] if isinstance(calls, dict) else calls
    seen = {(c["method"], c["path"].split("/crm/v8/")[-1], c["query"]) for c in calls}
    assert ("GET", "users", "type=CurrentUser") in seen
    assert ("GET", "org", "") in seen
    assert ("GET", "settings/fields", "module=Sales_Orders") in seen
    assert ("GET", "settings/fields", "module=Ordered_Items") in seen
    assert all(c["status"] < 500 for c in calls), [c for c in calls if c["status"] >= 500]
    # The SDK kept its files where it was told to.
    assert (tmp_path / "sdk_tokens.txt").exists()


TASK_STEPS = Path(__file__).with_name("zoho_sdk_tasks_steps.py")


def test_official_sdk_creates_and_searches_tasks(own_sandbox: dict[str, Any], tmp_path: Path) -> None:
    """Issue 14: the SDK creates two Tasks on an account with the same Hub_Reminder_Key (one added, one
    DUPLICATE_DATA naming it) and finds the task by the key with Search Records."""
    info = own_sandbox
    z = info["systems"]["zoho_crm"]
    token = requests.post(
        z["accounts_url"] + "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": z["client_id"],
            "client_secret": z["client_secret"],
            "refresh_token": z["refresh_token"],
        },
        timeout=10,
    ).json()["access_token"]
    accounts = requests.get(
        z["api_domain"] + "/crm/v8/Accounts",
        params={"fields": "id"},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=10,
    ).json()["data"]
    run = subprocess.run(
        [sys.executable, str(TASK_STEPS), json.dumps(info), str(tmp_path), accounts[0]["id"]],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(STEPS.parent)},
    )
    assert run.returncode == 0, f"stdout: {run.stdout[-2000:]}\nstderr: {run.stderr[-4000:]}"
    out = json.loads(run.stdout)
    assert out["create"]["http"] == 207
    added, duplicate = out["create"]["results"]
    assert (added["status"], added["code"]) == ("success", "SUCCESS")
    assert (duplicate["status"], duplicate["code"]) == ("error", "DUPLICATE_DATA")
    (found,) = out["search"]
    assert found["id"] == str(added["id"]) and found["Hub_Reminder_Key"] == "sdk:key:1"
    assert str(found["What_Id"]["id"]) == accounts[0]["id"]
