"""Access tokens shared across tasks and workers, encrypted at rest (connectors.base.TokenStore).

Zoho hands out 10 access tokens per 10 minutes per refresh token (a token lives an hour) and
Fxiaoke's token endpoint takes 10 calls a minute. Sharing one token across every task of every run
keeps a backfill from locking the account out. Tokens are
encrypted with Fernet under ``$HUB_TOKEN_CACHE_KEY`` or else Airflow's own ``$AIRFLOW__CORE__FERNET_KEY``;
with neither set there is no cache and each client fetches its own token.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from hub.bulk import upsert
from hub.db import utcnow
from hub.schema import token_cache

KEY_VARIABLES = ("HUB_TOKEN_CACHE_KEY", "AIRFLOW__CORE__FERNET_KEY")


class DbTokenStore:
    def __init__(self, engine: Engine, fernet_key: str) -> None:
        from cryptography.fernet import Fernet

        self.engine = engine
        self._fernet = Fernet(fernet_key.encode())

    def load(self, key: str) -> tuple[dict[str, Any], float] | None:
        from cryptography.fernet import InvalidToken

        with self.engine.connect() as conn:
            row = conn.execute(select(token_cache).where(token_cache.c.key == key)).one_or_none()
        if row is None:
            return None
        try:
            value = json.loads(self._fernet.decrypt(row.ciphertext.encode()))
        except InvalidToken:
            return None  # written under another key: fetch a fresh token
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        return value, expires.timestamp()

    def save(self, key: str, value: dict[str, Any], expires_at: float) -> None:
        ciphertext = self._fernet.encrypt(json.dumps(value).encode()).decode()
        with self.engine.begin() as conn:
            upsert(
                conn,
                token_cache,
                [
                    {
                        "key": key,
                        "ciphertext": ciphertext,
                        "expires_at": datetime.fromtimestamp(expires_at, UTC),
                        "updated_at": utcnow(),
                    }
                ],
                key=("key",),
            )


def token_store(engine: Engine) -> DbTokenStore | None:
    """The shared store, or None when no encryption key is configured."""
    fernet_key = next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
    return DbTokenStore(engine, fernet_key) if fernet_key else None
