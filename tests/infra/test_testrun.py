"""`make test` (devtools.testrun): a real PostgreSQL, pytest's exit code, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy.engine import make_url

from devtools.testrun import DIR_PREFIX, ENV_VAR, PROJECT_ROOT, reap_leftovers


def _testrun(tests: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.testrun", str(tests), "-p", "no:cacheprovider", "-q"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _write_test(folder: Path, body: str) -> Path:
    folder.mkdir()
    (folder / "test_probe.py").write_text(textwrap.dedent(body))
    return folder


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def test_ok():\n    pass\n", 0),
        ("def test_broken():\n    assert False\n", 1),
        (None, 1),  # pytest's "no tests collected" (5) must fail the run, not pass it
    ],
    ids=["passes", "fails", "collects-nothing"],
)
def test_exit_code_is_pytests_and_collecting_nothing_fails(
    tmp_path: Path, pg_url: str, body: str | None, expected: int
) -> None:
    tests = _write_test(tmp_path / "suite", body) if body else tmp_path
    result = _testrun(tests, {**os.environ, ENV_VAR: pg_url})
    assert result.returncode == expected, result.stdout + result.stderr
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith("PostgreSQL ") and f"${ENV_VAR}" in first_line
    if body is None:
        assert "collected no tests" in result.stderr


def test_without_a_url_it_starts_embedded_postgresql_and_removes_it(tmp_path: Path) -> None:
    seen = tmp_path / "seen_url.txt"
    tests = _write_test(
        tmp_path / "suite",
        f"""
        import os
        import psycopg
        from devtools.testrun import libpq_url

        def test_database_is_reachable():
            url = os.environ["{ENV_VAR}"]
            with psycopg.connect(libpq_url(url)) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            open({str(seen)!r}, "w").write(url)
        """,
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    result = _testrun(tests, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PostgreSQL 18"), result.stdout
    assert "embedded" in result.stdout.splitlines()[0]
    url = seen.read_text()
    socket_dir = Path(make_url(url).query["host"])
    assert socket_dir.parent.name.startswith(DIR_PREFIX)
    assert not socket_dir.parent.exists(), "the data directory outlived the run"


def test_an_unusable_url_is_reported_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://hub:s3cr3t-pw@127.0.0.1:1/hub"
    result = _testrun(tmp_path, {**os.environ, ENV_VAR: url})
    assert result.returncode == 2
    assert "is not usable" in result.stderr
    assert "s3cr3t-pw" not in result.stdout + result.stderr


def test_sigterm_stops_pytest_and_removes_the_embedded_server(tmp_path: Path) -> None:
    started = tmp_path / "started"
    tests = _write_test(
        tmp_path / "suite",
        f"""
        import pathlib, time

        def test_slow():
            pathlib.Path({str(started)!r}).touch()
            time.sleep(120)
        """,
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    run = subprocess.Popen(
        [sys.executable, "-m", "devtools.testrun", str(tests), "-p", "no:cacheprovider", "-q"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        root = Path(make_url(run.stdout.readline().split(": ", 1)[1].strip()).query["host"]).parent
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists() and root.exists()
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) != 0
    finally:
        run.kill()
        run.wait()
    assert not root.exists(), "SIGTERM left the embedded server behind"


def test_a_server_left_by_a_killed_run_is_stopped_and_removed() -> None:
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from devtools.testrun import start_embedded_postgres as s; "
            "print(s()[0], flush=True); time.sleep(300)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = starter.stdout.readline().strip()
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
    root = Path(make_url(url).query["host"]).parent
    postmaster = psutil.Process(int((root / "data" / "postmaster.pid").read_text().splitlines()[0]))
    assert postmaster.is_running()

    assert root in reap_leftovers()

    assert not root.exists()
    assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE


def test_reaping_spares_servers_of_live_runs(pg_url: str) -> None:
    # This session's own server (embedded or not) must survive another run's start-up.
    reap_leftovers()
    host = make_url(pg_url).query.get("host", "")
    if DIR_PREFIX in host:
        assert Path(host).exists()
    import psycopg

    from devtools.testrun import libpq_url

    with psycopg.connect(libpq_url(pg_url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
