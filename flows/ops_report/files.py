"""Writing the report files: UTF-8, each under a temporary name in the target folder, then renamed,
so a reader never sees half a report (DESIGN §3.4). A re-run of the same day replaces the day's files."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path


def report_paths(folder: Path, day: date) -> dict[str, Path]:
    stem = f"ops_report_{day.isoformat()}"
    return {"html": folder / f"{stem}.html", "csv": folder / f"{stem}.csv"}


def _replace(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese labels right."""
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def write_report(folder: Path, day: date, html: str, rows: Iterable[Sequence[str]]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = report_paths(folder, day)
    _replace(paths["csv"], csv_bytes(rows))
    _replace(paths["html"], html.encode("utf-8"))
    return paths
