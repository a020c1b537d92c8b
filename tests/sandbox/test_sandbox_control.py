"""The server itself: ready line, control API, fault injection, clock, logs, records, shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from sandbox.seed_data import ZOHO, generate
from sandbox.testing import PROJECT_ROOT, running_sandbox

pytestmark = pytest.mark.sandbox

SEED, ORDERS = 3, 300


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    with running_sandbox(seed=SEED, orders=ORDERS, frozen=True) as info:
        yield info


@pytest.fixture(autouse=True)
def _no_faults_left(sandbox: dict[str, Any]) -> Iterator[None]:
    yield
    requests.delete(sandbox["control_url"] + "/faults", timeout=10).raise_for_status()


def _faults(sandbox: dict[str, Any], **settings: Any) -> dict[str, Any]:
    r = requests.post(sandbox["control_url"] + "/faults", json=settings, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


class ZohoClient:
    def __init__(self, sandbox: dict[str, Any]) -> None:
        self.zoho = sandbox["systems"]["zoho_crm"]
        self.token: str | None = None

    def refresh(self) -> None:
        z = self.zoho
        params = {
            "grant_type": "refresh_token",
            "client_id": z["client_id"],
            "client_secret": z["client_secret"],
            "refresh_token": z["refresh_token"],
        }
        r = requests.post(z["accounts_url"] + "/oauth/v2/token", params=params, timeout=10)
        assert r.status_code == 200, r.text
        self.token = r.json()["access_token"]

    def get(self, path: str = "/Accounts", timeout: float = 10, **params: Any) -> requests.Response:
        if self.token is None:
            self.refresh()
        params.setdefault("fields", "Account_Name")
        return requests.get(
            self.zoho["api_domain"] + "/crm/v8" + path,
            params=params,
            headers={"Authorization": f"Zoho-oauthtoken {self.token}"},
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def client(sandbox: dict[str, Any]) -> ZohoClient:
    return ZohoClient(sandbox)


def test_ready_line_shape(sandbox: dict[str, Any]) -> None:
    base = sandbox["base_url"]
    assert set(sandbox) == {"ready", "pid", "base_url", "control_url", "now", "systems"}
    assert sandbox["ready"] is True and isinstance(sandbox["pid"], int)
    assert base.startswith("http://127.0.0.1:") and sandbox["control_url"] == base + "/_sandbox"
    assert sandbox["now"] == "2026-11-30T00:00:00Z"
    zoho, fx = sandbox["systems"]["zoho_crm"], sandbox["systems"]["fxiaoke"]
    assert set(zoho) == {"accounts_url", "api_domain", "client_id", "client_secret", "refresh_token"}
    assert zoho["accounts_url"] == base + "/zoho/accounts" and zoho["api_domain"] == base + "/zoho/api"
    assert set(fx) == {"base_url", "app_id", "app_secret", "permanent_code", "current_open_user_id", "operator_user_id"}
    assert fx["base_url"] == base + "/fxiaoke" and fx["app_id"].startswith("FSAID_")
    assert fx["current_open_user_id"].startswith("FSUID_") and fx["operator_user_id"] == "1000"


def test_health(sandbox: dict[str, Any]) -> None:
    body = requests.get(sandbox["control_url"] + "/health", timeout=10).json()
    # the random orders asked for, and the regular buyers' on top (sandbox/seed_data.py)
    assert body["ok"] is True and body["seed"] == SEED and body["orders"] == len(generate(SEED, ORDERS).orders)
    assert {"zoho_crm", "fxiaoke", "smtp"} <= set(body["systems"])


def test_fault_settings_are_validated(sandbox: dict[str, Any]) -> None:
    url = sandbox["control_url"] + "/faults"
    assert requests.post(url, json={"system": "zoho_crm", "rate_429": 2}, timeout=10).status_code == 400
    assert requests.post(url, json={"system": "zoho_crm", "no_such": 1}, timeout=10).status_code == 400
    assert requests.post(url, json={"system": "sap", "rate_429": 0.1}, timeout=10).status_code == 400
    body = _faults(sandbox, system="zoho_crm", rate_5xx=0.25)
    assert body["faults"]["zoho_crm"]["rate_5xx"] == 0.25 and body["faults"]["fxiaoke"]["rate_5xx"] == 0.0
    reset = requests.delete(url, timeout=10).json()
    assert reset["faults"]["zoho_crm"]["rate_5xx"] == 0.0


def test_burst_429_hits_the_next_api_calls_only(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    _faults(sandbox, system="zoho_crm", burst_429=2)
    assert [client.get().status_code for _ in range(3)] == [429, 429, 200]


def test_retry_after_when_configured(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    _faults(sandbox, system="zoho_crm", burst_429=1, retry_after=3)
    r = client.get()
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"


def test_rate_faults_are_reproducible(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    runs = []
    for _ in range(2):
        _faults(sandbox, system="zoho_crm", rate_429=0.3, rate_5xx=0.2)
        runs.append([client.get().status_code for _ in range(40)])
    assert runs[0] == runs[1]
    assert 429 in runs[0] and 500 in runs[0] and 200 in runs[0]


def test_dropped_connection(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    _faults(sandbox, system="zoho_crm", burst_drop=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        client.get()
    assert client.get().status_code == 200
    calls = requests.get(sandbox["control_url"] + "/calls", params={"system": "zoho_crm"}, timeout=10).json()
    assert calls["calls"][-2]["fault"] == "drop" and calls["calls"][-2]["status"] is None


def test_truncated_response(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    _faults(sandbox, system="zoho_crm", rate_truncate=1.0)
    with pytest.raises(requests.exceptions.RequestException):
        client.get().json()


def test_slow_response(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    _faults(sandbox, system="zoho_crm", slow_seconds=0.6)
    started = time.monotonic()
    assert client.get().status_code == 200
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.exceptions.Timeout):
        client.get(timeout=0.2)


def _wait_idle(sandbox: dict[str, Any]) -> None:
    # A call abandoned by its client (the timeout above) is still being served for a moment.
    deadline = time.monotonic() + 5
    while requests.get(sandbox["control_url"] + "/health", timeout=10).json()["in_flight"]["zoho_crm"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_concurrency_limit(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    _wait_idle(sandbox)
    _faults(sandbox, system="zoho_crm", max_concurrency=1, slow_seconds=0.5)
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: client.get().status_code, range(4)))
    assert statuses.count(429) >= 2 and 200 in statuses


def test_expire_tokens(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    body = _faults(sandbox, system="zoho_crm", expire_tokens=True)
    assert body["expired_tokens"]["zoho_crm"] >= 1
    r = client.get()
    assert r.status_code == 401 and r.json()["code"] == "INVALID_TOKEN"
    client.refresh()
    assert client.get().status_code == 200


def test_quota_exhausted(sandbox: dict[str, Any], client: ZohoClient) -> None:
    client.get()
    _faults(sandbox, system="zoho_crm", quota_exhausted=True)
    assert client.get().json()["code"] == "TOO_MANY_REQUESTS"


def test_clock(sandbox: dict[str, Any]) -> None:
    url = sandbox["control_url"] + "/clock"
    start = requests.get(url, timeout=10).json()
    assert start["frozen"] is True
    moved = requests.post(url, json={"advance_seconds": 90}, timeout=10).json()
    assert moved["now"] > start["now"]
    assert requests.post(url, json={"now": "2026-12-24T08:00:00Z"}, timeout=10).json()["now"] == "2026-12-24T08:00:00Z"
    assert requests.post(url, json={"now": "not a time"}, timeout=10).status_code == 400
    requests.post(url, json={"now": start["now"]}, timeout=10).raise_for_status()


def test_call_log(sandbox: dict[str, Any], client: ZohoClient) -> None:
    url = sandbox["control_url"] + "/calls"
    last = requests.get(url, timeout=10).json()["calls"][-1]["seq"]
    client.get("/Sales_Orders", per_page=3)
    fx = sandbox["systems"]["fxiaoke"]
    requests.post(fx["base_url"] + "/cgi/crm/v2/data/query", json={}, timeout=10)
    new = requests.get(url, params={"since": last}, timeout=10).json()["calls"]
    assert [(c["system"], c["method"], c["path"], c["status"]) for c in new] == [
        ("zoho_crm", "GET", "/zoho/api/crm/v8/Sales_Orders", 200),
        ("fxiaoke", "POST", "/fxiaoke/cgi/crm/v2/data/query", 200),
    ]
    assert new[1]["error_code"] == 20017
    only_fx = requests.get(url, params={"system": "fxiaoke", "since": last}, timeout=10).json()["calls"]
    assert len(only_fx) == 1
    # Credentials sent in a query string never reach the log.
    token_calls = [c for c in requests.get(url, timeout=10).json()["calls"] if c["path"].endswith("/token")]
    assert token_calls and all(sandbox["systems"]["zoho_crm"]["client_secret"] not in c["query"] for c in token_calls)


def test_injected_change_moves_modified_time(sandbox: dict[str, Any], client: ZohoClient) -> None:
    control = sandbox["control_url"]
    order = next(o for o in generate(SEED, ORDERS).orders_of(ZOHO) if not o.defects)
    requests.post(control + "/clock", json={"advance_seconds": 3000}, timeout=10).raise_for_status()
    client.refresh()
    since = requests.get(control + "/clock", timeout=10).json()["now"]
    changed = requests.post(
        control + "/records/zoho_crm",
        json={"module": "Sales_Orders", "id": order.crm_id, "fields": {"Subject": "edited in the CRM"}},
        timeout=10,
    )
    assert changed.status_code == 200
    r = requests.get(
        client.zoho["api_domain"] + "/crm/v8/Sales_Orders",
        params={"fields": "Subject"},
        headers={"Authorization": f"Zoho-oauthtoken {client.token}", "If-Modified-Since": since},
        timeout=10,
    )
    assert r.status_code == 200
    assert [(rec["id"], rec["Subject"]) for rec in r.json()["data"]] == [(order.crm_id, "edited in the CRM")]
    stored = requests.get(f"{control}/records/zoho_crm/Sales_Orders/{order.crm_id}", timeout=10).json()["record"]
    assert stored["Subject"] == "edited in the CRM"
    assert requests.get(f"{control}/records/zoho_crm/Sales_Orders/1", timeout=10).status_code == 404
    assert requests.post(control + "/records/zoho_crm", json={"module": "Nope"}, timeout=10).status_code == 400


def test_injected_new_fxiaoke_record(sandbox: dict[str, Any]) -> None:
    control = sandbox["control_url"]
    created = requests.post(
        control + "/records/fxiaoke",
        json={"module": "SalesOrderObj", "fields": {"name": "20261130-999999", "order_amount": "12.50"}},
        timeout=10,
    ).json()["record"]
    stored = requests.get(f"{control}/records/fxiaoke/SalesOrderObj/{created['_id']}", timeout=10).json()["record"]
    assert stored["name"] == "20261130-999999" and stored["details"] == {"SalesOrderProductObj": []}


def test_seed_endpoints_match_the_generator(sandbox: dict[str, Any]) -> None:
    data = generate(SEED, ORDERS)
    defects = requests.get(sandbox["control_url"] + "/seed/defects", timeout=10).json()["defects"]
    assert defects == data.defects
    orders = requests.get(sandbox["control_url"] + "/seed/orders", timeout=10).json()["orders"]
    assert [(o["number"], o["crm_id"]) for o in orders] == [(o.number, o.crm_id) for o in data.orders]


def test_unknown_paths(sandbox: dict[str, Any]) -> None:
    r = requests.get(sandbox["base_url"] + "/zoho/api/crm/v2/nothing", timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "INVALID_URL_PATTERN"
    assert requests.get(sandbox["base_url"] + "/nothing", timeout=10).status_code == 404


def test_faults_at_start_and_same_seed_same_server(sandbox: dict[str, Any]) -> None:
    faults = {"system": "fxiaoke", "burst_429": 1}
    with running_sandbox(seed=SEED, orders=ORDERS, faults=faults) as other:
        for name, info in sandbox["systems"].items():
            addresses = ("base_url", "api_domain", "service_root", "host", "port", "url")
            secrets = {k: v for k, v in info.items() if not k.endswith("_url") and k not in addresses}
            assert secrets.items() <= other["systems"][name].items()  # credentials follow from the seed
        fx = other["systems"]["fxiaoke"]
        r = requests.post(fx["base_url"] + "/cgi/crm/v2/data/query", json={}, timeout=10)
        assert r.json()["errorCode"] == 30004
        mine = requests.get(sandbox["control_url"] + "/seed/orders", timeout=10).json()
        theirs = requests.get(other["control_url"] + "/seed/orders", timeout=10).json()
        assert mine == theirs


def test_sigterm_stops_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "up", "--port", "0", "--orders", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        info = json.loads(line)
        assert requests.get(info["control_url"] + "/health", timeout=10).json()["ok"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert process.stdout.read() == b""  # exactly one line on stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/zoho/api/crm/v8/Sales_Orders/%0A12"),
        ("GET", "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('%0A')"),
        ("POST", "/fxiaoke/cgi/crm/v2/data/query%0A"),
    ],
)
def test_a_line_break_in_a_path_reaches_the_emulator(sandbox, method, path):
    """Starlette's patterns stopped at a newline: the request fell through to a plain-text 404."""
    response = requests.request(method, sandbox["base_url"] + path, json={}, timeout=10)
    assert response.headers["content-type"].startswith("application/json"), (response.status_code, response.text)
    assert response.status_code < 500
