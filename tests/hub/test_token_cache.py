"""Zoho access tokens shared through the hub database: one token for many clients, encrypted at rest."""

from __future__ import annotations

import requests
from cryptography.fernet import Fernet
from sqlalchemy import select

from connectors.zoho_crm import ZohoConfig, ZohoCrmClient
from hub.schema import token_cache
from hub.token_cache import DbTokenStore, token_store


def _client(sandbox, store):  # noqa: ANN001, ANN202
    z = sandbox["systems"]["zoho_crm"]
    config = ZohoConfig(
        accounts_url=z["accounts_url"],
        client_id=z["client_id"],
        client_secret=z["client_secret"],
        refresh_token=z["refresh_token"],
    )
    return ZohoCrmClient(config, token_store=store)


def _token_calls(sandbox) -> int:  # noqa: ANN001
    calls = requests.get(f"{sandbox['control_url']}/calls", params={"system": "zoho_crm"}, timeout=10).json()["calls"]
    return sum(1 for c in calls if c["path"].endswith("/oauth/v2/token"))


def test_clients_of_one_account_share_one_token(sandbox, hub_db):
    requests.post(f"{sandbox['control_url']}/clock", json={"advance_seconds": 601}, timeout=10)  # fresh window
    store = DbTokenStore(hub_db, Fernet.generate_key().decode())
    before = _token_calls(sandbox)
    for _ in range(4):  # four tasks, one after the other
        with _client(sandbox, store) as client:
            assert list(client.list_accounts())
    assert _token_calls(sandbox) - before == 1
    with hub_db.connect() as conn:
        row = conn.execute(select(token_cache)).one()
    assert "zoho_crm:" in row.key and sandbox["systems"]["zoho_crm"]["refresh_token"] not in row.key
    assert "access_token" not in row.ciphertext  # encrypted at rest


def test_a_rejected_shared_token_is_replaced(sandbox, hub_db):
    requests.post(f"{sandbox['control_url']}/clock", json={"advance_seconds": 601}, timeout=10)
    store = DbTokenStore(hub_db, Fernet.generate_key().decode())
    with _client(sandbox, store) as client:
        list(client.list_accounts())
    requests.post(f"{sandbox['control_url']}/faults", json={"system": "zoho_crm", "expire_tokens": True}, timeout=10)
    before = _token_calls(sandbox)
    with _client(sandbox, store) as client:
        assert list(client.list_accounts())
        assert client.token_refreshes == 1
    assert _token_calls(sandbox) - before == 1


def test_no_key_no_cache(hub_db, monkeypatch):
    for var in ("HUB_TOKEN_CACHE_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert token_store(hub_db) is None
    monkeypatch.setenv("HUB_TOKEN_CACHE_KEY", Fernet.generate_key().decode())
    assert isinstance(token_store(hub_db), DbTokenStore)


def test_a_token_written_under_another_key_is_ignored(hub_db):
    DbTokenStore(hub_db, Fernet.generate_key().decode()).save("k", {"access_token": "t"}, 4_102_444_800)
    assert DbTokenStore(hub_db, Fernet.generate_key().decode()).load("k") is None
