"""Writing the report files: UTF-8, each under a temporary name in the target folder, then renamed,
so a reader never sees half a report (DESIGN §3.4). A re-run of the same day replaces the day's files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from transforms.report_files import csv_bytes, replace_file


def report_paths(folder: Path, day: date) -> dict[str, Path]:
    stem = f"ops_report_{day.isoformat()}"
    return {"html": folder / f"{stem}.html", "csv": folder / f"{stem}.csv"}


def write_report(folder: Path, day: date, html: str, rows: Iterable[Sequence[str]]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = report_paths(folder, day)
    replace_file(paths["csv"], csv_bytes(rows))
    replace_file(paths["html"], html.encode("utf-8"))
    return paths
