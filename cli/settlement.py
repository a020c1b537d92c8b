"""``hub settlement verify FILE``: check a settlement file (CSV or XLSX) or a manifest against the
manifest beside it, recomputing every control (transforms.settlement_file.verify).

Prints one sentence per problem (or one sentence saying the file is what its manifest says) and
returns the exit code: 0 when it verifies, 1 when it does not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from transforms.settlement_file import manifest_path_of, verify


def verify_command(path: str | Path, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    path = Path(path)
    problems = verify(path)
    if problems:
        for problem in problems:
            print(problem if problem.endswith(".") else problem + ".", file=out)
        print(f"{path.name} does not verify: {len(problems)} problem(s).", file=out)
        return 1
    manifest = json.loads(manifest_path_of(path).read_text(encoding="utf-8"))
    totals = "; ".join(
        f"{currency} net {t['net']}, tax {t['tax']}, gross {t['gross']}"
        for currency, t in manifest["control_totals"].items()
    )
    print(
        f"{path.name} verifies against its manifest: version {manifest['version']}, "
        f"{manifest['record_count']} records, hash total {manifest['hash_total']}"
        + (f", {totals}." if totals else "."),
        file=out,
    )
    return 0
