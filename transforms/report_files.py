"""Report files on disk: CSV bytes as spreadsheet programs read them, and a file replaced whole.

Shared by every report the hub writes: the inventory reconciliation report (transforms) and the ops
report (``flows/ops_report/files.py``); it lives on this layer because transforms may not import flows.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path


def replace_file(path: Path, content: bytes) -> None:
    """Write ``content`` under a temporary name in the same folder, flush it to disk, then rename it
    over ``path``: a reader sees the old file or the new one, never half a file (DESIGN §3.4)."""
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
    """UTF-8 with a byte-order mark and CRLF line ends, so spreadsheet programs read Chinese right."""
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
