"""Start the sandbox as a real server process for tests and the demo.

>>> with running_sandbox(seed=7) as sandbox:
...     zoho = sandbox["systems"]["zoho_crm"]   # URLs and credentials from the ready line
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.clock import iso_z
from sandbox.seed_data import DEFAULT_ORDERS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SandboxStartError(RuntimeError):
    """The server did not print its ready line in time."""


@contextmanager
def running_sandbox(
    seed: int = 7,
    orders: int = DEFAULT_ORDERS,
    now: datetime | str | None = None,
    *,
    faults: dict[str, Any] | list[dict[str, Any]] | None = None,
    frozen: bool = False,
    live_orders_every: float = 0,
    timeout: float = 60.0,
) -> Iterator[dict[str, Any]]:
    """Run ``python -m sandbox up --port 0`` and yield its parsed ready line; stop it on exit.

    ``live_orders_every``: a new CRM order every that many seconds of sandbox time (0: none).
    """
    command = [sys.executable, "-m", "sandbox", "up", "--port", "0", "--seed", str(seed), "--orders", str(orders)]
    if now is not None:
        command += ["--now", now if isinstance(now, str) else iso_z(now)]
    if faults is not None:
        command += ["--faults", json.dumps(faults)]
    if frozen:
        command.append("--frozen")
    if live_orders_every:
        command += ["--live-orders-every", str(live_orders_every)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    # Server logs go to a file rather than a pipe nobody reads, which could fill and stall the server.
    with tempfile.TemporaryFile(mode="w+b") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, cwd=PROJECT_ROOT, env=env)
        try:
            yield _wait_ready(process, stderr, timeout)
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], stderr: Any, timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxStartError(f"no ready line within {timeout:.0f} s{_tail(stderr)}")
            if not selector.select(timeout=min(remaining, 0.5)):
                if process.poll() is not None:
                    raise SandboxStartError(f"sandbox exited with {process.returncode}{_tail(stderr)}")
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                process.wait(timeout=5)
                raise SandboxStartError(f"sandbox exited with {process.returncode}{_tail(stderr)}")
            buffer += chunk
    line = buffer.split(b"\n", 1)[0]
    info = json.loads(line)
    if not info.get("ready"):
        raise SandboxStartError(f"unexpected first line: {line[:200]!r}")
    return info


def _tail(stderr: Any) -> str:
    stderr.flush()
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace")[-2000:]
    return f"; stderr:\n{text}" if text else ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if process.stdout is not None:
        process.stdout.close()
