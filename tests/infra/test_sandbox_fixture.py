"""The session sandbox fixture and the fault-reset helper."""

from __future__ import annotations

import json
import socket
import urllib.request
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
    with urllib.request.urlopen(f"{sandbox['control_url']}/health", timeout=10) as response:  # noqa: S310
        assert response.status == 200


def test_sandbox_faults_is_the_session_sandbox_with_faults_cleared(
    sandbox_faults: dict[str, Any], sandbox: dict[str, Any]
) -> None:
    assert sandbox_faults is sandbox
    # The fixture's DELETE {control_url}/faults answered 2xx; the control API still lists the systems.
    with urllib.request.urlopen(f"{sandbox['control_url']}/faults", timeout=10) as response:  # noqa: S310
        assert response.status == 200
        assert json.load(response)["faults"]
