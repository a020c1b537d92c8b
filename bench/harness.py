"""What the benchmarks share: their command line, a case run in a fresh process, a fresh database,
and a cProfile listing without the machine's paths."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse(parser: argparse.ArgumentParser, argv: list[str] | None, lenient: bool) -> argparse.Namespace:
    """``lenient``: ignore options meant for another benchmark (``bench.run`` forwards them to all)."""
    if not lenient:
        return parser.parse_args(argv)
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        print(f"{parser.prog}: ignoring {' '.join(ignored)}", flush=True)
    return args


def run_module(module: str, args: list[str]) -> dict:
    """Run ``python -m module args`` (one case, a fresh process: its peak memory is its own) and return
    the JSON object its last output line holds."""
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {args}: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fresh_url(backend: str, pg_url: str | None, workdir: Path, tag: str) -> tuple[str, object]:
    """A new empty database of ``backend``: its URL, and the context to leave (PostgreSQL) or None."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / (tag + '.sqlite')}", None
    from devtools.testrun import fresh_database

    ctx = fresh_database(pg_url)
    return ctx.__enter__(), ctx


def profile_lines(text: str) -> list[str]:
    """A ``pstats`` listing from its header on, with site-packages and project paths cut short."""
    import site

    for prefix in sorted({*site.getsitepackages(), str(PROJECT_ROOT)}, key=len)[::-1]:
        text = text.replace(prefix.rstrip("/") + "/", "")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return [line.rstrip() for line in lines[start:] if line.strip()]


def profile_top(profile: object, limit: int = 25) -> list[str]:
    """The ``limit`` functions of a cProfile run with the most own time, as :func:`profile_lines`."""
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(profile, stream=buf).sort_stats("tottime").print_stats(limit)  # type: ignore[arg-type]
    return profile_lines(buf.getvalue())
