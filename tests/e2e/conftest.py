"""Fixtures the end-to-end modules share: one frozen sandbox per module, seeded with the module's
``SEED`` and ``ORDERS``, the seed data it serves, and a hub database per module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest


@pytest.fixture(scope="module")
def crm_sandbox(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    from sandbox.testing import running_sandbox

    with running_sandbox(seed=request.module.SEED, orders=request.module.ORDERS, frozen=True) as info:
        yield info


@pytest.fixture(scope="module")
def seed(request: pytest.FixtureRequest, crm_sandbox: dict[str, Any]) -> Any:
    from sandbox.seed_data import generate

    return generate(request.module.SEED, request.module.ORDERS, datetime.fromisoformat(crm_sandbox["now"]))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A hub database (SQLite, migrated) shared by the tests of one module, which run in order."""
    from hub.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
