"""Fixtures of the quality tests beyond the shared ones in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from hub.db import make_engine, upgrade


@pytest.fixture
def sqlite_hub(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite hub database, for tests whose subject does not depend on the backend
    (``hub_db`` runs a test on SQLite and PostgreSQL)."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()
