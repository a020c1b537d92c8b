"""The inbox Asset event through a fake Airflow REST API on loopback; hostile pushes (hypothesis); the
inbox repository's reads and marks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_support import SECRET, Wms, serving, signed_query
from sqlalchemy import select

from connectors.qimen_xml import parse_response
from hub.repositories import inbox
from hub.schema import receiver_inbox
from receiver.app import create_app
from receiver.asset_events import INBOX_ASSET_URI, AirflowAssetNotifier, notifier_from_env

CONFIRM = (
    "<request><deliveryOrder><deliveryOrderCode>80000123</deliveryOrderCode><outBizCode>{obc}</outBizCode>"
    "<confirmType>1</confirmType></deliveryOrder><orderLines><orderLine><itemCode>P-1</itemCode>"
    "<actualQty>1</actualQty></orderLine></orderLines></request>"
)


class FakeAirflow:
    """Airflow 3's token, assets and asset-events endpoints, recording what it is asked."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.recorded: list[dict[str, Any]] = []  # the events Airflow accepted
        self.reject_next_token_use = False
        self.asset_id = 7
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                url = urlsplit(self.path)
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "auth": self.headers.get("Authorization"),
                        "body": body,
                    }
                )
                if (self.command, url.path) == ("POST", "/auth/token"):
                    ok = body == {"username": "hub", "password": "airflow-pass"}
                    return self._reply(201, {"access_token": "jwt-1"}) if ok else self._reply(401, {"detail": "no"})
                if self.headers.get("Authorization") != "Bearer jwt-1" or fake.reject_next_token_use:
                    fake.reject_next_token_use = False
                    return self._reply(401, {"detail": "Not authenticated"})
                if (self.command, url.path) == ("GET", "/api/v2/assets"):
                    assets = [
                        {"id": 3, "uri": INBOX_ASSET_URI + "_old", "name": "old"},
                        {"id": fake.asset_id, "uri": INBOX_ASSET_URI, "name": "qimen_inbox"},
                    ]
                    return self._reply(200, {"assets": assets, "total_entries": 2})
                if (self.command, url.path) == ("POST", "/api/v2/assets/events"):
                    fake.recorded.append(body)
                    return self._reply(200, {"id": 1, "asset_id": body["asset_id"], "extra": body["extra"]})
                return self._reply(404, {"detail": "Not Found"})

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def posted_events(self) -> list[dict[str, Any]]:
        """The events Airflow accepted (a refused try is not one)."""
        return list(self.recorded)


@pytest.fixture
def fake_airflow() -> Iterator[FakeAirflow]:
    fake = FakeAirflow()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()


def _wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_new_message_emits_the_inbox_asset_event_and_a_duplicate_does_not(sqlite_hub_engine, fake_airflow):
    notifier = AirflowAssetNotifier(fake_airflow.url, "hub", "airflow-pass")
    app = create_app(lambda: sqlite_hub_engine, SECRET, window_minutes=10, asset_notifier=notifier)
    with serving(app) as base:
        wms = Wms(base)
        assert wms.push(CONFIRM.format(obc="EV-1"))[2]["flag"] == "success"
        _wait_for(lambda: len(fake_airflow.posted_events()) == 1)
        assert wms.push(CONFIRM.format(obc="EV-1"))[2]["flag"] == "success"  # duplicate: no event
        fake_airflow.reject_next_token_use = True  # the JWT expired: a new one, then the event
        assert wms.push(CONFIRM.format(obc="EV-2"))[2]["flag"] == "success"
        _wait_for(lambda: len(fake_airflow.posted_events()) == 2)
    token, lookup, event = fake_airflow.requests[:3]
    assert (token["method"], token["path"], token["body"]) == (
        "POST",
        "/auth/token",
        {"username": "hub", "password": "airflow-pass"},
    )
    assert (lookup["method"], lookup["path"], lookup["query"]["uri_pattern"]) == (
        "GET",
        "/api/v2/assets",
        [INBOX_ASSET_URI],
    )
    assert lookup["auth"] == "Bearer jwt-1"
    assert event["body"] == {"asset_id": 7, "extra": {"method": "stockout.confirm", "message_key": "EV-1"}}
    assert event["auth"] == "Bearer jwt-1"
    second = fake_airflow.posted_events()[1]
    assert second == {"asset_id": 7, "extra": {"method": "stockout.confirm", "message_key": "EV-2"}}
    assert sum(r["path"] == "/api/v2/assets" for r in fake_airflow.requests) == 1, "the asset id is kept"
    assert sum(r["path"] == "/auth/token" for r in fake_airflow.requests) == 2, "a refused token is replaced"


def test_an_airflow_that_is_down_or_refuses_never_fails_the_push(sqlite_hub_engine, fake_airflow, caplog):
    wrong_password = AirflowAssetNotifier(fake_airflow.url, "hub", "wrong")
    nowhere = AirflowAssetNotifier("http://127.0.0.1:1", "hub", "airflow-pass", timeout=1)
    for i, notifier in enumerate([wrong_password, nowhere]):
        app = create_app(lambda: sqlite_hub_engine, SECRET, window_minutes=10, asset_notifier=notifier)
        with serving(app) as base:
            assert Wms(base).push(CONFIRM.format(obc=f"DOWN-{i}"))[2]["flag"] == "success"
        assert notifier.notify({"probe": 1}) is False
    assert fake_airflow.posted_events() == []
    with sqlite_hub_engine.connect() as conn:
        assert conn.execute(select(receiver_inbox.c.message_key)).scalars().all() == ["DOWN-0", "DOWN-1"]
    assert not any("airflow-pass" in r.getMessage() for r in caplog.records)


def test_the_notifier_is_configured_from_the_environment():
    assert notifier_from_env({}) is None
    env = {"HUB_RECEIVER_AIRFLOW_URL": "http://airflow:8080/", "HUB_RECEIVER_AIRFLOW_USERNAME": "hub"}
    with pytest.raises(ValueError, match="PASSWORD"):
        notifier_from_env(env)
    notifier = notifier_from_env({**env, "HUB_RECEIVER_AIRFLOW_PASSWORD": "s3cret-pw"})
    assert notifier is not None and notifier.url == "http://airflow:8080"
    assert "s3cret-pw" not in repr(notifier)


# ---------------------------------------------------------------------------------------------------
# Hostile input: whatever arrives, the answer is an HTTP 200 Qimen envelope, never a 500.
# ---------------------------------------------------------------------------------------------------

_texts = st.text(st.characters(codec="utf-8"), max_size=60)
_bodies = st.one_of(
    st.binary(max_size=300),
    _texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda tag, value, obc: f"<request><{tag}><outBizCode>{obc}</outBizCode>{value}</{tag}></request>".encode(
            "utf-8", "surrogatepass"
        ),
        st.sampled_from(["deliveryOrder", "order_line", "items", "x", "1bad"]),
        _texts,
        _texts,
    ),
)
_methods = st.one_of(
    st.sampled_from(["taobao.qimen.stockout.confirm", "stockout.confirm", "inventory.report", "", "x" * 300]),
    _texts,
)
_content_types = st.sampled_from(
    ["text/xml;charset=utf-8", "text/xml", "application/xml; charset=gbk", "text/xml;charset=nope", "", "a/b;;"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=_bodies,
    method=_methods,
    content_type=_content_types,
    signed=st.booleans(),
    junk=st.lists(st.tuples(_texts, _texts), max_size=3),
)
def test_hostile_pushes_get_a_qimen_answer_never_a_500(fuzz_receiver, body, method, content_type, signed, junk):
    extra = {k: v for k, v in junk if k}
    query = signed_query(body, method=method, extra=extra) if signed else "method=x&sign=" + "A" * 32
    response = requests.post(
        f"{fuzz_receiver}/qimen?{query}", data=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml;charset=utf-8"
    answer = parse_response(response.content)
    assert answer["flag"] in ("success", "failure") and answer["code"] != "internal-error", answer


@pytest.fixture(scope="module")
def fuzz_receiver(tmp_path_factory) -> Iterator[str]:
    from hub.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hub.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with serving(create_app(lambda: engine, SECRET, window_minutes=10)) as base:
        yield base
    engine.dispose()


@pytest.fixture
def sqlite_hub_engine(sqlite_url) -> Iterator[Any]:
    from hub.db import make_engine, upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


# ---------------------------------------------------------------------------------------------------
# The repository
# ---------------------------------------------------------------------------------------------------


def test_store_pending_and_mark(hub_db):
    def put(method: str, key: str) -> bool:
        return inbox.store(
            hub_db, method=method, message_key=key, document_code="8000", body=f"<request>{key}</request>", params={}
        )

    assert put("stockout.confirm", "A") is True
    assert put("stockout.confirm", "A") is False
    assert put("stockout.confirm", "B") is True
    assert put("inventory.report", "A") is True  # the key is per method
    pending = inbox.pending(hub_db, "stockout.confirm")
    assert [r.message_key for r in pending] == ["A", "B"]
    with hub_db.begin() as conn:
        assert inbox.mark(conn, [pending[0].id, pending[0].id], "processed") == 1
    assert [r.message_key for r in inbox.pending(hub_db, "stockout.confirm")] == ["B"]
    with hub_db.begin() as conn, pytest.raises(ValueError, match="outcome"):
        inbox.mark(conn, [pending[1].id], "done")
    with hub_db.connect() as conn:
        row = conn.execute(select(receiver_inbox).where(receiver_inbox.c.id == pending[0].id)).one()
    assert row.outcome == "processed" and row.processed_at is not None
    with pytest.raises(ValueError):
        put("stockout.confirm", "k" * 201)
