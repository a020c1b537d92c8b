"""Fixtures for the connector tests.

``scripted_server`` is a real HTTP server on 127.0.0.1 that answers from a script, for the transport
behaviours (timeouts, dropped connections, Retry-After dates) that are about HTTP, not about a CRM.
The CRM protocol tests run against the project's sandbox emulator instead.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests


@dataclass
class Reply:
    status: int = 200
    body: str = "{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (read timeouts)
    drop: bool = False  # close the connection without an answer


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers each request with the next scripted reply; the last reply repeats."""

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        self.replies: list[Reply] = [Reply()]
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.hits.append(Hit(self.command, self.path, dict(self.headers), body))
                    reply = server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = reply.body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # A dropped connection makes the handler fail on purpose; keep the traceback out of the output.
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        if tls_context is not None:
            self._httpd.socket = tls_context.wrap_socket(self._httpd.socket, server_side=True)
        scheme = "https" if tls_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies = list(replies)
            self.hits = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (no CA trusts it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[ScriptedServer]:
    """A scripted HTTPS server whose certificate no trust store knows."""
    server = ScriptedServer(_self_signed_context(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def reply() -> type[Reply]:
    """The scripted reply type, handed over as a fixture so tests need not import conftest."""
    return Reply


# ---------------------------------------------------------------------------------------------------
# The sandbox emulator
# ---------------------------------------------------------------------------------------------------


class SandboxControl:
    """The sandbox's control API, as the connector tests use it."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.url = info["control_url"].rstrip("/")
        self.http = requests.Session()

    def _ok(self, response: requests.Response) -> Any:
        assert response.ok, f"control API: HTTP {response.status_code} {response.text[:300]}"
        return response.json()

    def faults(self, system: str, **settings: Any) -> dict[str, Any]:
        return self._ok(self.http.post(f"{self.url}/faults", json={"system": system, **settings}, timeout=10))

    def clear_faults(self) -> None:
        self._ok(self.http.delete(f"{self.url}/faults", timeout=10))

    def expire_tokens(self, system: str) -> None:
        self.faults(system, expire_tokens=True)

    def calls(self, system: str, since: int = 0) -> list[dict[str, Any]]:
        return self._ok(self.http.get(f"{self.url}/calls", params={"system": system, "since": since}, timeout=10))[
            "calls"
        ]

    def last_seq(self, system: str) -> int:
        calls = self.calls(system)
        return calls[-1]["seq"] if calls else 0

    def writes(self, system: str) -> list[dict[str, Any]]:
        return self._ok(self.http.get(f"{self.url}/writes", params={"system": system}, timeout=10))["writes"]

    def advance_clock(self, seconds: float) -> None:
        self._ok(self.http.post(f"{self.url}/clock", json={"advance_seconds": seconds}, timeout=10))

    def record(self, system: str, module: str, record_id: str) -> dict[str, Any]:
        return self._ok(self.http.get(f"{self.url}/records/{system}/{module}/{record_id}", timeout=10))["record"]

    def seed_orders(self, crm: str) -> list[dict[str, Any]]:
        orders = self._ok(self.http.get(f"{self.url}/seed/orders", timeout=30))["orders"]
        return [o for o in orders if o["crm"] == crm]


@contextmanager
def started_sandbox(**kwargs: Any) -> Iterator[tuple[dict[str, Any], SandboxControl]]:
    from sandbox.testing import running_sandbox

    with running_sandbox(timeout=300, **kwargs) as info:
        control = SandboxControl(info)
        try:
            yield info, control
        finally:
            control.http.close()


@pytest.fixture(scope="session")
def start_sandbox() -> Callable[..., AbstractContextManager[tuple[dict[str, Any], SandboxControl]]]:
    """``started_sandbox`` for test modules that need a sandbox of a particular size.

    Handed over as a fixture: test modules cannot import this conftest by name reliably, since
    several ``conftest`` modules exist in the test tree.
    """
    return started_sandbox


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[tuple[dict[str, Any], SandboxControl]]:
    """One default sandbox per test module, for tests that leave no lasting state behind."""
    with started_sandbox() as started:
        yield started


@pytest.fixture
def sandbox_env(
    shared_sandbox: tuple[dict[str, Any], SandboxControl],
) -> Iterator[tuple[dict[str, Any], SandboxControl]]:
    """The module's sandbox with faults cleared before and after the test.

    The sandbox clock also jumps past the token endpoints' rate windows (Zoho: 10 tokens per 10
    minutes, Fxiaoke: 10 calls per minute): each test builds new clients, and a module's worth of
    them would otherwise use up the budget in real time, as they would against the real systems.
    """
    shared_sandbox[1].clear_faults()
    shared_sandbox[1].advance_clock(601)
    yield shared_sandbox
    shared_sandbox[1].clear_faults()


@pytest.fixture
def fresh_sandbox() -> Iterator[tuple[dict[str, Any], SandboxControl]]:
    """A sandbox of its own, for tests that move the clock, use up the token budget or write."""
    with started_sandbox() as started:
        yield started
