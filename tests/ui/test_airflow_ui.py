"""The Airflow UI as the hub's users meet it: the API server with the project's DAGs and plugins, the
FAB auth manager and the roles of ``config/airflow_roles.json``, checked over HTTP and in headless
Chromium. Screenshots go to a temporary folder, so a test run leaves the checkout as it was; to refresh
the README's pictures run it with ``HUB_SCREENSHOTS_DIR=docs/screenshots``.

The tests run in order and share one server: the requeue of one test is what a later one sees.
"""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from devtools.testrun import PROJECT_ROOT

SCREENSHOTS = Path(os.environ.get("HUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="hub-screenshots-"))
PAGE = "/hub-quarantine"


def _dag_ids_in_folder() -> set[str]:
    """The ``dag_id`` of every DAG file in dags/ (read from the source, as a reviewer would)."""
    ids = set()
    for path in (PROJECT_ROOT / "dags").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "DAG",
                "dag",
            ):
                for kw in node.keywords:
                    if kw.arg == "dag_id" and isinstance(kw.value, ast.Constant):
                        ids.add(kw.value.value)
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    ids.add(node.args[0].value)
    return ids or {p.stem for p in (PROJECT_ROOT / "dags").glob("*.py") if not p.stem.startswith("_")}


def _statuses(hub_url: str) -> dict[str, str]:
    from hub.db import make_engine
    from hub.schema import quarantine

    engine = make_engine(hub_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(quarantine.c.record_key, quarantine.c.status)).all())
    finally:
        engine.dispose()


def _record_id(ui: Any, record_key: str) -> int:
    records = ui.api("GET", f"{PAGE}/api/records?status=all", user="admin").json()["records"]
    return next(r["id"] for r in records if r["record_key"] == record_key)


def _wait(driver: Any, seconds: float = 30) -> WebDriverWait:
    # A page that is being replaced (a click, a form's answer) leaves stale elements behind: look again.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, seconds, poll_frequency=0.2, ignored_exceptions=ignored)


def _shot(driver: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / name))


def _sign_in(driver: Any, base_url: str, username: str, password: str) -> bool:
    """Through the FAB sign-in form; whether it let the user in."""
    driver.delete_all_cookies()
    driver.get(f"{base_url}/auth/login/")
    _wait(driver).until(ec.presence_of_element_located((By.ID, "username"))).send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    form = driver.find_element(By.CSS_SELECTOR, "form[name=login]")
    form.submit()
    _wait(driver).until(ec.staleness_of(form))
    _wait(driver).until(lambda d: "/auth/login" not in d.current_url or d.find_elements(By.ID, "username"))
    return "/auth/login" not in driver.current_url


# ---------------------------------------------------------------------------------------------------
# Over HTTP: who may do what
# ---------------------------------------------------------------------------------------------------


def test_the_plugin_app_refuses_requests_without_sign_in(airflow_ui):
    ui = airflow_ui
    record_id = _record_id(ui, "zoho_crm:SO-10077")
    for method, path in [
        ("GET", f"{PAGE}/"),
        ("GET", f"{PAGE}/record/{record_id}"),
        ("GET", f"{PAGE}/api/records"),
        ("GET", f"{PAGE}/api/records/{record_id}"),
        ("GET", f"{PAGE}/api/summary"),
        ("POST", f"{PAGE}/requeue"),
        ("POST", f"{PAGE}/api/requeue"),
    ]:
        response = ui.api(method, path, json={"ids": [record_id]} if "api/requeue" in path else None)
        assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
    page = ui.api("GET", f"{PAGE}/")
    assert "Sign in first" in page.text and "/auth/login/" in page.text  # a browser is told where to sign in
    forged = ui.api("GET", f"{PAGE}/api/records", headers={"Authorization": "Bearer not.a.jwt"})
    assert forged.status_code in (401, 403)
    cookie = ui.api("GET", f"{PAGE}/api/records", cookies={"_token": "forged"})
    assert cookie.status_code in (401, 403)
    assert _statuses(ui.hub_url)["zoho_crm:SO-10077"] == "open"


def test_roles_decide_who_reads_and_who_requeues(airflow_ui):
    ui = airflow_ui
    record_id = _record_id(ui, "zoho_crm:SO-10077")
    # A role the hub grants nothing (built-in Viewer): not even the list.
    assert ui.api("GET", f"{PAGE}/api/records", user="viewer").status_code == 403
    assert ui.api("GET", f"{PAGE}/", user="viewer").status_code == 403
    # Finance reads, and is refused the requeue (JSON and the page's form alike).
    assert ui.api("GET", f"{PAGE}/api/records", user="fin").status_code == 200
    refused = ui.api("POST", f"{PAGE}/api/requeue", user="fin", json={"ids": [record_id]})
    assert refused.status_code == 403 and "may not requeue" in refused.json()["detail"]
    form = ui.api("POST", f"{PAGE}/requeue", user="fin", data={"ids": str(record_id)}, allow_redirects=False)
    assert form.status_code == 403
    assert _statuses(ui.hub_url)["zoho_crm:SO-10077"] == "open"
    # Another site's page posting with the user's cookie is refused before anything happens.
    cross = ui.api(
        "POST",
        f"{PAGE}/requeue",
        cookies={"_token": ui.token("ops")},
        headers={"Origin": "https://evil.example"},
        data={"ids": str(record_id)},
        allow_redirects=False,
    )
    assert cross.status_code == 403
    assert _statuses(ui.hub_url)["zoho_crm:SO-10077"] == "open"
    # The integration team requeues through the API; the audit log names who.
    done = ui.api("POST", f"{PAGE}/api/requeue", user="integ", json={"ids": [record_id]})
    assert done.status_code == 200 and done.json() == {"requeued": 1, "selected": 1}
    assert _statuses(ui.hub_url)["zoho_crm:SO-10077"] == "requeued"
    events = ui.api("GET", "/api/v2/eventLogs?event_pattern=hub.quarantine", user="admin").json()["event_logs"]
    assert any(e["owner"] == "integ" and f"[{record_id}]" in (e["extra"] or "") for e in events), events
    # The detail API: the payload, and where the field to fix is in it.
    detail = ui.api("GET", f"{PAGE}/api/records/{_record_id(ui, 'zoho_crm:SO-10011')}", user="fin").json()
    assert detail["field"] == "quantity"
    assert detail["field_paths"] == [
        {"path": "Product_Details[0].quantity", "value": 200},
        {"path": "Product_Details[1].quantity", "value": 50},
    ]


# ---------------------------------------------------------------------------------------------------
# In Chromium
# ---------------------------------------------------------------------------------------------------


def test_sign_in_and_every_dag_of_the_folder_is_listed(airflow_ui, browser):
    ui = airflow_ui
    expected = _dag_ids_in_folder()
    listed = {
        d["dag_id"]: d["dag_display_name"] for d in ui.api("GET", "/api/v2/dags?limit=100", user="ops").json()["dags"]
    }
    assert set(listed) == expected, "the API server must hold every DAG of dags/ (and only those)"
    errors = ui.api("GET", "/api/v2/importErrors", user="admin").json()
    assert errors["total_entries"] == 0, errors

    browser.delete_all_cookies()
    browser.get(f"{ui.base_url}/dags")
    _wait(browser).until(lambda d: "/auth/login" in d.current_url)  # not signed in: the sign-in form
    assert not _sign_in(browser, ui.base_url, "ops", "wrong-password")
    assert not browser.get_cookie("_token") and "Invalid login" in browser.find_element(By.TAG_NAME, "body").text
    assert _sign_in(browser, ui.base_url, "ops", "ops-pw")
    assert browser.get_cookie("_token"), "signed in: the API server's JWT cookie"
    browser.get(f"{ui.base_url}/dags")
    _wait(browser).until(lambda d: all(name in d.find_element(By.TAG_NAME, "body").text for name in listed.values()))
    _shot(browser, "dags.png")


def test_a_run_page_renders(airflow_ui, browser):
    ui = airflow_ui
    run = ui.api(
        "POST",
        "/api/v2/dags/crm_order_sync/dagRuns",
        user="ops",  # operations may trigger
        json={"logical_date": None, "note": "triggered by the UI test"},
    )
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]
    browser.get(f"{ui.base_url}/dags/crm_order_sync/runs/{run_id}")
    _wait(browser).until(lambda d: run_id in d.find_element(By.TAG_NAME, "body").text)
    _wait(browser).until(lambda d: "triggered by the UI test" in d.find_element(By.TAG_NAME, "body").text)
    _shot(browser, "run.png")


def test_quarantine_page_in_the_ui_lists_shows_and_requeues(airflow_ui, browser):
    ui = airflow_ui
    browser.get(f"{ui.base_url}/plugin/quarantine")  # the "Quarantine" entry of the navigation
    frame = _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
    assert frame.get_attribute("src").rstrip("/").endswith(PAGE)
    browser.switch_to.frame(frame)
    try:
        _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.records")))
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Signed in as ops" in body and "read only" not in body
        summary = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "table.summary tbody tr")]
        assert "order_review zoho_crm BusinessRule(quantity) 3" in summary
        # Open ones: crm_mapping was requeued at seeding, SO-10077 by the integration team above.
        assert "Records: showing 4 of 4" in body
        # Filter by a reason, as operations would.
        browser.find_element(By.LINK_TEXT, "BusinessRule(quantity)").click()
        _wait(browser).until(lambda d: "showing 3 of 3" in d.find_element(By.TAG_NAME, "body").text)
        browser.find_element(By.PARTIAL_LINK_TEXT, "clear filters").click()
        _wait(browser).until(lambda d: "showing 4 of 4" in d.find_element(By.TAG_NAME, "body").text)
        browser.switch_to.default_content()
        _shot(browser, "quarantine.png")
        browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe"))

        # A record: the detail sentence, the field to fix and where it is, the payload as text.
        browser.find_element(By.LINK_TEXT, "fxiaoke:FX-88001").click()
        _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "pre.payload")))
        payload = browser.find_element(By.CSS_SELECTOR, "pre.payload").text
        assert '"account_id": "<img src=x onerror=alert(1)>"' in payload  # escaped: shown, not run
        assert not browser.find_elements(By.CSS_SELECTOR, "pre.payload img")
        assert (
            "currency 'RMB' is not an ISO 4217 code" in browser.find_element(By.CSS_SELECTOR, ".detail-sentence").text
        )
        assert "currency" in browser.find_element(By.CSS_SELECTOR, "table.paths").text
        browser.switch_to.default_content()
        _shot(browser, "quarantine-record.png")
        browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe"))

        # Requeue it from the record page.
        browser.find_element(By.XPATH, "//button[normalize-space()='Requeue this record']").click()
        _wait(browser).until(lambda d: "Requeued" in d.find_element(By.CSS_SELECTOR, "[role=status]").text)
        assert _statuses(ui.hub_url)["fxiaoke:FX-88001"] == "requeued"

        # And two from the list, by their checkboxes.
        browser.find_element(By.LINK_TEXT, "← quarantine").click()
        _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.records")))
        boxes = browser.find_elements(By.CSS_SELECTOR, "input[name=ids]")
        assert len(boxes) == 3
        for box in boxes[:2]:
            box.click()
        browser.find_element(By.XPATH, "//button[normalize-space()='Requeue selected']").click()
        _wait(browser).until(lambda d: "2 of 2 selected records requeued" in d.find_element(By.TAG_NAME, "body").text)
        assert "showing 1 of 1" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.switch_to.default_content()
    assert list(_statuses(ui.hub_url).values()).count("open") == 1


def test_finance_sees_the_quarantine_read_only_and_is_refused_a_requeue(airflow_ui, browser):
    ui = airflow_ui
    assert _sign_in(browser, ui.base_url, "fin", "fin-pw")
    before = _statuses(ui.hub_url)
    browser.get(f"{ui.base_url}{PAGE}/")
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.records")))
    assert "(read only)" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=ids]")
    with pytest.raises(NoSuchElementException):
        browser.find_element(By.XPATH, "//button[normalize-space()='Requeue selected']")
    # The same form posted anyway (a hand-made request from the finance user's own session).
    open_id = _record_id(ui, next(k for k, s in before.items() if s == "open"))
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = 'requeue';"
        "const i = document.createElement('input'); i.name = 'ids'; i.value = arguments[0];"
        "f.appendChild(i); document.body.appendChild(f); f.submit();",
        str(open_id),
    )
    _wait(browser).until(lambda d: "Not allowed" in d.find_element(By.TAG_NAME, "body").text)
    assert "fin may not requeue" in browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, "quarantine-refused.png")
    assert _statuses(ui.hub_url) == before
