"""Zoho Tasks in the emulator (issue 14, docs/crm_reminders.md §1): Insert Records with Zoho's per-record
results and limits, the unique ``Hub_Reminder_Key`` custom field, ``What_Id`` + ``$se_module``, and
Search Records by criteria, including its documented "equals" quirk; property-based input never
gets a 500 or a half-made record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fuzzing
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox

ENVELOPE = {"code", "details", "message", "status"}


class Zoho:
    def __init__(self, info: dict[str, Any]) -> None:
        z = info["systems"]["zoho_crm"]
        self.api = z["api_domain"] + "/crm/v8"
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
        self.headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        self.accounts = [r["id"] for r in self.call("GET", "/Accounts", params={"fields": "id"}).json()["data"]]
        self.count = 0

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.api + path, headers=self.headers, timeout=30, **kwargs)

    def key(self) -> str:
        self.count += 1
        return f"test:key:{self.count}"

    def task(self, **fields: Any) -> dict[str, Any]:
        return {
            "Subject": "Reorder brake pads",
            "What_Id": {"id": self.accounts[0]},
            "$se_module": "Accounts",
            "Hub_Reminder_Key": self.key(),
            **fields,
        }

    def search(self, criteria: str, **params: Any) -> requests.Response:
        return self.call("GET", "/Tasks/search", params={"criteria": criteria, **params})


@pytest.fixture(scope="module")
def zoho() -> Iterator[Zoho]:
    with running_sandbox(seed=14, orders=30, faults={"system": "zoho_crm", "token_rate_limit": 100000}) as info:
        yield Zoho(info)


def test_a_task_on_an_account_is_added_and_reads_back(zoho: Zoho) -> None:
    task = zoho.task(Due_Date="2025-06-02", Priority="High", Description="every 30 days")
    r = zoho.call("POST", "/Tasks", json={"data": [task], "trigger": []})
    assert r.status_code == 201, r.text
    (result,) = r.json()["data"]
    assert (result["code"], result["status"], result["message"]) == ("SUCCESS", "success", "record added")
    stored = zoho.call("GET", f"/Tasks/{result['details']['id']}").json()["data"][0]
    assert stored["What_Id"]["id"] == zoho.accounts[0] and stored["What_Id"]["name"]
    assert stored["$se_module"] == "Accounts"
    assert (stored["Status"], stored["Priority"], stored["Due_Date"]) == ("Not Started", "High", "2025-06-02")
    assert stored["Hub_Reminder_Key"] == task["Hub_Reminder_Key"]


def test_mixed_results_come_in_input_order_with_207(zoho: Zoho) -> None:
    good = zoho.task()
    no_subject = zoho.task()
    del no_subject["Subject"]
    bad_status = zoho.task(Status="Created")  # a Sales_Orders status, not a Tasks one
    r = zoho.call("POST", "/Tasks", json={"data": [good, no_subject, bad_status]})
    assert r.status_code == 207
    first, second, third = r.json()["data"]
    assert first["code"] == "SUCCESS"
    assert (second["code"], second["details"]["api_name"], second["details"]["json_path"]) == (
        "MANDATORY_NOT_FOUND",
        "Subject",
        "$.data[1].Subject",
    )
    assert (third["code"], third["details"]["expected_data_type"]) == ("INVALID_DATA", "picklist")


def test_the_unique_key_refuses_a_second_task_naming_the_first(zoho: Zoho) -> None:
    task = zoho.task()
    first = zoho.call("POST", "/Tasks", json={"data": [task]}).json()["data"][0]["details"]["id"]
    again = {**task, "Hub_Reminder_Key": task["Hub_Reminder_Key"].upper()}  # compared without case
    r = zoho.call(
        "POST", "/Tasks", json={"data": [again, {**zoho.task(), "Hub_Reminder_Key": task["Hub_Reminder_Key"]}]}
    )
    assert r.status_code == 400
    for result in r.json()["data"]:
        assert result["code"] == "DUPLICATE_DATA"
        assert result["details"]["duplicate_record"]["id"] == first
        assert result["details"]["api_name"] == "Hub_Reminder_Key"


def test_the_same_key_twice_in_one_call_is_added_once(zoho: Zoho) -> None:
    task = zoho.task()
    r = zoho.call("POST", "/Tasks", json={"data": [task, task]})
    assert r.status_code == 207
    assert [x["code"] for x in r.json()["data"]] == ["SUCCESS", "DUPLICATE_DATA"]


@pytest.mark.parametrize(
    ("change", "code", "api_name"),
    [
        ({"$se_module": None}, "MANDATORY_NOT_FOUND", "$se_module"),
        ({"$se_module": "Leads"}, "INVALID_DATA", "$se_module"),
        ({"What_Id": {"id": "1234"}}, "INVALID_DATA", "What_Id"),
        ({"Hub_Reminder_Key": "k" * 101}, "INVALID_DATA", "Hub_Reminder_Key"),
        ({"Due_Date": "02.06.2025"}, "INVALID_DATA", "Due_Date"),
        ({"Nope__c": 1}, "INVALID_DATA", "Nope__c"),
    ],
)
def test_invalid_records_are_refused_with_the_field_named(
    zoho: Zoho, change: dict[str, Any], code: str, api_name: str
) -> None:
    task = {k: v for k, v in {**zoho.task(), **change}.items() if v is not None}
    r = zoho.call("POST", "/Tasks", json={"data": [task]})
    assert r.status_code == 400
    (result,) = r.json()["data"]
    assert (result["code"], result["details"]["api_name"], result["status"]) == (code, api_name, "error")


def test_more_than_100_records_or_none_are_refused_whole(zoho: Zoho) -> None:
    before = zoho.search("(Subject:starts_with:Bulk)")
    r = zoho.call("POST", "/Tasks", json={"data": [zoho.task(Subject="Bulk") for _ in range(101)]})
    assert (r.status_code, r.json()["code"], r.json()["details"]["limit"]) == (400, "LIMIT_EXCEEDED", 100)
    assert before.status_code == zoho.search("(Subject:starts_with:Bulk)").status_code == 204
    r = zoho.call("POST", "/Tasks", json={"data": []})
    assert (r.status_code, r.json()["code"]) == (400, "MANDATORY_NOT_FOUND")
    r = zoho.call("POST", "/Sales_Orders", json={"data": [{"Subject": "x"}]})
    assert (r.status_code, r.json()["code"]) == (400, "NOT_SUPPORTED")


def test_search_finds_by_the_key_and_answers_204_for_none(zoho: Zoho) -> None:
    task = zoho.task()
    zoho.call("POST", "/Tasks", json={"data": [task]})
    r = zoho.search(f"(Hub_Reminder_Key:equals:{task['Hub_Reminder_Key']})", fields="id,Hub_Reminder_Key")
    assert r.status_code == 200
    assert [d["Hub_Reminder_Key"] for d in r.json()["data"]] == [task["Hub_Reminder_Key"]]
    assert set(r.json()["data"][0]) == {"id", "Hub_Reminder_Key"}
    assert zoho.search("(Hub_Reminder_Key:equals:no such key)").status_code == 204


def test_search_with_or_and_escapes(zoho: Zoho) -> None:
    a, b = zoho.task(Hub_Reminder_Key="esc:a,(1)"), zoho.task(Hub_Reminder_Key="esc:b")
    zoho.call("POST", "/Tasks", json={"data": [a, b]})
    r = zoho.search(r"((Hub_Reminder_Key:equals:esc:a\,\(1\))or(Hub_Reminder_Key:equals:esc:b))")
    assert sorted(d["Hub_Reminder_Key"] for d in r.json()["data"]) == ["esc:a,(1)", "esc:b"]


def test_equals_with_several_criteria_also_matches_longer_values(zoho: Zoho) -> None:
    """Zoho's documented quirk: (Company:equals:ABC) among several criteria also finds "ABC Inc"."""
    zoho.call("POST", "/Tasks", json={"data": [zoho.task(Hub_Reminder_Key="quirk Inc")]})
    single = zoho.search("(Hub_Reminder_Key:equals:quirk)")
    several = zoho.search("((Hub_Reminder_Key:equals:quirk)or(Hub_Reminder_Key:equals:other))")
    assert single.status_code == 204
    assert [d["Hub_Reminder_Key"] for d in several.json()["data"]] == ["quirk Inc"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "REQUIRED_PARAM_MISSING"),
        ({"criteria": "Hub_Reminder_Key:equals:x"}, "INVALID_QUERY"),
        ({"criteria": "(Hub_Reminder_Key:like:x)"}, "INVALID_QUERY"),
        ({"criteria": "(Nope:equals:x)"}, "INVALID_QUERY"),
        ({"criteria": "((Subject:equals:a)and(Subject:equals:b)or(Subject:equals:c))"}, "INVALID_QUERY"),
        ({"criteria": "(" + "or".join(f"(Subject:equals:{i})" for i in range(11)) + ")"}, "LIMIT_EXCEEDED"),
        ({"criteria": "(Subject:equals:a)", "per_page": "201"}, "INVALID_DATA"),
        ({"criteria": "(Subject:equals:a)", "page": "11"}, "DISCRETE_PAGINATION_LIMIT_EXCEEDED"),
    ],
)
def test_malformed_searches_get_zoho_errors(zoho: Zoho, params: dict[str, str], code: str) -> None:
    r = zoho.call("GET", "/Tasks/search", params=params)
    assert (r.status_code, r.json()["code"]) == (400, code)
    assert set(r.json()) == ENVELOPE


# -- property-based: any input, never a 500 ----------------------------------------------------------

VALUES = fuzzing.json_values()
FIELDS = st.sampled_from(
    ["Subject", "Due_Date", "Status", "Priority", "Description", "What_Id", "$se_module", "Hub_Reminder_Key", "Owner"]
)


@fuzzing.FUZZ
@given(
    records=st.lists(st.dictionaries(FIELDS | st.text(max_size=12), VALUES, max_size=6) | VALUES, max_size=4),
    wrap=st.booleans(),
)
def test_any_insert_body_gets_a_zoho_answer(zoho: Zoho, records: list[Any], wrap: bool) -> None:
    before = zoho.search("(Subject:starts_with:)")
    r = zoho.call("POST", "/Tasks", json={"data": records} if wrap else records)
    assert r.status_code in (201, 207, 400), r.text
    body = r.json()
    if "data" in body:
        assert len(body["data"]) == len(records)
        added = [x for x in body["data"] if x["status"] == "success"]
        for result in added:
            assert zoho.call("GET", f"/Tasks/{result['details']['id']}").status_code == 200
        assert r.status_code == (201 if len(added) == len(records) else 400 if not added else 207)
    else:
        assert set(body) == ENVELOPE
        assert zoho.search("(Subject:starts_with:)").text == before.text, "a refused call adds nothing"


@fuzzing.FUZZ
@given(criteria=st.text(alphabet="()\\:,aor equalsstarts_with Subject Hub_Reminder_Key" + "😀\x00", max_size=60))
def test_any_criteria_gets_a_zoho_answer(zoho: Zoho, criteria: str) -> None:
    r = zoho.search(criteria)
    assert r.status_code in (200, 204, 400), r.text
    if r.status_code == 400:
        assert set(r.json()) == ENVELOPE
