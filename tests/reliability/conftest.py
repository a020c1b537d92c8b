"""Fixtures of the reliability tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from connectors.http import RetryPolicy
from connectors.sap_s4 import SapClient, SapConfig


@pytest.fixture
def sap_client():
    """Builds SapClients on a sandbox (fast retries; overrides such as ``batch_size``), closed after."""
    clients = []

    def make(info, **overrides):
        s = info["systems"]["sap_s4"]
        settings = {
            "base_url": s["base_url"],
            "user": s["user"],
            "password": s["password"],
            "client": s["client"],
            "retry": RetryPolicy(max_attempts=2, base=0),
        }
        clients.append(SapClient(SapConfig(**(settings | overrides))))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


# The end-to-end helpers (deploying the hub against a sandbox, one dag.test() run) live beside the
# e2e tests; the confirmation reliability tests build their world the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
