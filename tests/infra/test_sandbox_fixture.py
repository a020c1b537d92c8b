"""The session sandbox fixture and the fault-reset helper."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit


def _accepts_connections(url: str) -> bool:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5):
        return True


def test_sandbox_runs_with_its_endpoints(sandbox: dict[str, Any]) -> None:
    assert {"base_url", "control_url", "systems"} <= sandbox.keys()
    assert sandbox["systems"]
    assert urlsplit(sandbox["base_url"]).hostname == "127.0.0.1"
    assert _accepts_connections(sandbox["base_url"])
    assert _accepts_connections(sandbox["control_url"])


def test_sandbox_faults_is_the_same_session_sandbox(sandbox_faults: dict[str, Any], sandbox: dict[str, Any]) -> None:
    # The fixture has already reset the faults once (DELETE {control_url}/faults answered 2xx).
    assert sandbox_faults is sandbox
