"""An Airflow API server with the project's DAGs and plugins, the FAB auth manager, the hub's roles and
users of each, and headless Chromium driven by Selenium (Debian's ``chromium`` + ``chromium-driver``;
``devtools.testrun`` installs them when missing).

Everything lives in a fresh AIRFLOW_HOME of its own (the session's ``airflow_home`` runs the Simple
auth manager in unit-test mode, which is not what production signs in with).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.testrun import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# username → (password, role); the roles come from config/airflow_roles.json (plugins/hub_roles.py).
USERS = {
    "admin": ("admin-pw", "Admin"),
    "ops": ("ops-pw", "Operations"),
    "fin": ("fin-pw", "Finance"),
    "integ": ("integ-pw", "Integration"),
    "viewer": ("viewer-pw", "Viewer"),  # a built-in role the hub grants nothing
}


@dataclass
class AirflowUi:
    base_url: str
    hub_url: str
    home: Path
    log: Path

    def token(self, username: str) -> str:
        """A JWT from POST /auth/token, as a script would get one."""
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": username, "password": USERS[username][0]},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return response.json()["access_token"]

    def api(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if user:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _airflow_env(home: Path, hub_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__SECRET_KEY": "ui-test-secret-key-not-for-production",
            "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-jwt-secret-not-for-production-0123456789",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "HUB_DATABASE_URL": hub_url,
            "HUB__HUB__OUTPUT_DIR": str(home / "output"),
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def seed_quarantine(hub_url: str) -> None:
    """Records of several stages, sources and reasons, one with markup in its payload (it must show
    as text), one already requeued."""
    from hub import quarantine
    from hub.db import make_engine, upgrade

    upgrade(hub_url)
    q = quarantine.QuarantineRecord
    moq = "quantity {q} is below the minimum order quantity 100.000 of material SP-17702 (pack size 50)"
    records = [
        q(
            "order_review",
            "zoho_crm",
            f"zoho_crm:SO-1001{i}",
            "BusinessRule(quantity)",
            f"order SO-1001{i} line 2 (SP-17702): " + moq.format(q=40 + 10 * i),
            {
                "Subject": f"SO-1001{i}",
                "Account_Name": {"name": "上海汽配有限公司", "id": "4876876000000623001"},
                "Product_Details": [
                    {"product": {"Product_Code": "SP-10021"}, "quantity": 200, "list_price": "12.50"},
                    {"product": {"Product_Code": "SP-17702"}, "quantity": 40 + 10 * i, "list_price": "3.20"},
                ],
            },
            field="quantity",
            expectations=["order_review.moq"],
        )
        for i in range(3)
    ]
    records += [
        q(
            "raw_crm_orders",
            "fxiaoke",
            "fxiaoke:FX-88001",
            "DataQuality",
            "currency 'RMB' is not an ISO 4217 code (expected CNY)",
            {"_id": "FX-88001", "currency": "RMB", "account_id": "<img src=x onerror=alert(1)>"},
            field="currency",
            expectations=["raw_crm_orders.currency_in_set"],
        ),
        q(
            "sap_posting",
            "zoho_crm",
            "zoho_crm:SO-10077",
            "SapError(SoldToParty)",
            "SAP refused the order: sold-to party 1000042 is blocked for sales (V1/302); lift the order "
            "block in SAP (VD05) or correct the customer mapping, then requeue",
            {"PurchaseOrderByCustomer": "SO-10077", "SoldToParty": "1000042", "note": "<script>alert(1)</script>"},
            field="SoldToParty",
        ),
        q(
            "crm_mapping",
            "fxiaoke",
            "fxiaoke:FX-88002",
            "UnknownMaterial",
            "product 'BRK-PAD-09' has no SAP material in the product mapping",
            {"_id": "FX-88002", "product_code": "BRK-PAD-09"},
            field="product_code",
        ),
    ]
    engine = make_engine(hub_url)
    try:
        with engine.begin() as conn:
            quarantine.add(conn, records, run_id="scheduled__2026-03-02T08:15:00+00:00")
        quarantine.requeue(engine, stage="crm_mapping")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def airflow_ui() -> Iterator[AirflowUi]:
    """The API server on a free loopback port, ready; stopped (its process group) afterwards."""
    home = Path(tempfile.mkdtemp(prefix="hub-ui-airflow-"))
    hub_url = f"sqlite:///{home / 'hub.sqlite'}"
    env = _airflow_env(home, hub_url)
    seed_quarantine(hub_url)
    users = [{"username": name, "password": pw, "role": role} for name, (pw, role) in USERS.items()]
    users_file = home / "users.json"
    users_file.write_text(json.dumps(users))
    _run([sys.executable, "-m", "airflow", "db", "migrate"], env, "airflow db migrate")
    _run([sys.executable, "-m", "plugins.hub_roles", "--users", str(users_file)], env, "plugins.hub_roles")
    _run([sys.executable, "-m", "airflow", "dags", "reserialize"], env, "airflow dags reserialize")

    port = _free_port()
    log = home / "api-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow",
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole below
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the API server exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            try:
                if requests.get(f"{base_url}/api/v2/version", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the API server did not answer in 120 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield AirflowUi(base_url, hub_url, home, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium with a fresh profile (Selenium's own driver download never runs: the
    Debian driver is named)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run the suite with `make test` (devtools.testrun installs them) "
            "or `apt-get install -y chromium chromium-driver`"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hub-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1440,900",
        "--lang=en-US",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
