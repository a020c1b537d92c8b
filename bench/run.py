"""``make bench``: run the benchmarks and write their results under bench/results/.

Each benchmark writes a JSON file with the raw measurements; this script also writes
``bench/results/README.md``, a table with the ratios measured in the same run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench import bulk_load

RESULTS = Path(__file__).resolve().parent / "results"


def bulk_load_table(data: dict) -> str:
    rows = data["results"]
    by = {(r["backend"], r["rows"], r["method"]): r for r in rows}
    lines = [
        "## Loading order lines into the keyed `order_lines` table",
        "",
        f"Machine: {data['machine']['cpus']} CPUs, Python {data['machine']['python']}, {data['machine']['date']}. "
        "Rows/s (higher is better) and peak RSS of the loading process. `hub` = `hub.bulk.upsert` "
        "(PostgreSQL: COPY into a staging table + one `INSERT … ON CONFLICT`; SQLite: chunked `executemany` "
        "upsert); `hub update` = the same call again with every row changed; `naive` = one upsert statement "
        "per row; `pandas` = `DataFrame.to_sql(chunksize=10000)`, append only (it cannot upsert).",
        "",
        "| backend | lines | hub rows/s | hub update rows/s | naive rows/s | pandas rows/s "
        "| hub ÷ naive | hub ÷ pandas | hub peak MB | naive peak MB | pandas peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, n in sorted({(b, n) for b, n, _ in by}, key=lambda k: (k[0], k[1])):
        hub, upd, naive, pandas = (by.get((backend, n, m)) for m in ("hub", "hub_update", "naive", "pandas"))

        def rate(r: dict | None) -> str:
            return f"{r['rows_per_s']:,}" if r else "–"

        def ratio(a: dict | None, b: dict | None) -> str:
            return f"{a['rows_per_s'] / b['rows_per_s']:.1f}×" if a and b else "–"

        def peak(r: dict | None) -> str:
            return str(r["peak_rss_mb"]) if r else "–"

        lines.append(
            f"| {backend} | {n:,} | {rate(hub)} | {rate(upd)} | {rate(naive)} | {rate(pandas)} "
            f"| {ratio(hub, naive)} | {ratio(hub, pandas)} | {peak(hub)} | {peak(naive)} | {peak(pandas)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bulk_load.json"
    bulk_load.main([*(argv or []), "--out", str(out)])
    report = "# Benchmark results\n\nWritten by `make bench` (`bench/run.py`).\n\n" + bulk_load_table(
        json.loads(out.read_text())
    )
    (RESULTS / "README.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
