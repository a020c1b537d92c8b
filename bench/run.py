"""``make bench``: run the benchmarks and write their results under bench/results/.

Each benchmark writes a JSON file with the raw measurements; this script also writes
``bench/results/README.md``, a table per benchmark with the ratios measured in the same run.

Usage: python -m bench.run [bulk_load] [allocation] [reconciliation] [settlement] [forecast_carparts] [options].
Names pick the benchmarks (all when none is named); the options (e.g. ``--sizes 10000``) go to each benchmark
picked. The results table shows every benchmark with a JSON file, so running one keeps the other's last results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench import allocation, bulk_load, forecast_carparts, reconciliation, settlement

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


def allocation_table(data: dict) -> str:
    rows = data["results"]
    by = {(r["rows"], r["method"]): r for r in rows}
    skipped = {(s["rows"], s["method"]): s for s in data.get("skipped", [])}
    lines = [
        "## Allocating stock to open order lines (`transforms.allocation`)",
        "",
        f"Machine: {data['machine']['cpus']} CPUs, Python {data['machine']['python']}, {data['machine']['date']}. "
        "Lines/s (higher is better), including building each contender's input from the same plain records, "
        "and peak RSS of the process (records included; growth = on top of them). `hub` = `Demand` objects + "
        "`allocate` + `posting_sequence`; `naive` = a loop that recomputes what is left of a material by "
        "summing its allocations so far (quadratic per material); `pandas` = sort + groupby cumsum + clip. "
        "All contenders gave identical allocations and posting sequences at every size they ran.",
        "",
        "| lines | hub lines/s | naive lines/s | pandas lines/s | hub ÷ naive | hub ÷ pandas "
        "| hub peak (growth) MB | naive peak (growth) MB | pandas peak (growth) MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted({n for n, _ in by} | {n for n, _ in skipped}):
        hub, naive, pandas = (by.get((n, m)) for m in ("hub", "naive", "pandas"))

        def rate(r: dict | None, method: str, n: int = n) -> str:
            if r:
                return f"{r['rows_per_s']:,}"
            s = skipped.get((n, method))
            if s and "estimated_seconds" in s:
                return f"skipped (est. ~{s['estimated_seconds']:,.0f} s)"
            return "skipped" if s else "–"

        def ratio(a: dict | None, b: dict | None) -> str:
            return f"{a['rows_per_s'] / b['rows_per_s']:.2f}×" if a and b else "–"

        def peak(r: dict | None) -> str:
            return f"{r['peak_rss_mb']} ({r['rss_growth_mb']})" if r else "–"

        lines.append(
            f"| {n:,} | {rate(hub, 'hub')} | {rate(naive, 'naive')} | {rate(pandas, 'pandas')} "
            f"| {ratio(hub, naive)} | {ratio(hub, pandas)} | {peak(hub)} | {peak(naive)} | {peak(pandas)} |"
        )
    for s in data.get("skipped", []):
        trend = f"; measured {s['measured_trend']}" if "measured_trend" in s else ""
        lines += ["", f"`{s['method']}` skipped at {s['rows']:,} lines: {s['reason']}{trend}."]
        if "estimated_seconds" in s:
            lines[-1] += (
                f" Estimated ~{s['estimated_seconds']:,.0f} s from its count of additions "
                f"({data['inputs'][str(s['rows'])]['naive_additions']:,})."
            )
    return "\n".join(lines) + "\n"


def reconciliation_table(data: dict) -> str:
    rows = data["results"]
    by = {(r["backend"], r["rows"], r["method"]): r for r in rows}
    skipped = {(s["backend"], s["rows"], s["method"]) for s in data.get("skipped", [])}
    lines = [
        "## Reconciling the day's stock counts against the book (`count_results`)",
        "",
        f"Machine: {data['machine']['cpus']} CPUs, Python {data['machine']['python']}, {data['machine']['date']}. "
        "Count lines/s (higher is better) and peak RSS of the process; N `book_stock` rows and N "
        "`warehouse_counts` rows of one day (~90 % equal, ~5 % differences, 1 % explained by a shipment not "
        "goods-issued). `hub` = `flows.inventory_reconciliation.reconciling.reconcile` as in production (named "
        "SQL join in the database, `judge` per line, results written to `count_results`, then the "
        "`count_results` gate); `hub no gate` = the same without the gate; `pandas` = `read_sql` + "
        "`merge` + `np.select` + `to_sql(chunksize=10000)` (no timing documents, wrong-unit check or previous "
        "day); `naive` = one SELECT and one INSERT per count line. GX's one-off set-up (import and context) "
        "is outside the clock for `hub`, as pandas' import is for `pandas`.",
        "",
        "| backend | lines | hub rows/s | hub no gate rows/s | pandas rows/s | naive rows/s | hub ÷ pandas "
        "| hub no gate ÷ pandas | hub peak MB | hub no gate peak MB | pandas peak MB | naive peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = sorted({(b, n) for b, n, _ in by}, key=lambda k: (k[0], k[1]))
    for backend, n in keys:
        hub, nogate, pandas, naive = (by.get((backend, n, m)) for m in ("hub", "hub_nogate", "pandas", "naive"))

        def rate(r: dict | None, method: str, backend: str = backend, n: int = n) -> str:
            if r:
                return f"{r['rows_per_s']:,}"
            return "skipped" if (backend, n, method) in skipped else "–"

        def ratio(a: dict | None, b: dict | None) -> str:
            return f"{a['rows_per_s'] / b['rows_per_s']:.2f}×" if a and b else "–"

        def peak(r: dict | None) -> str:
            return str(r["peak_rss_mb"]) if r else "–"

        lines.append(
            f"| {backend} | {n:,} | {rate(hub, 'hub')} | {rate(nogate, 'hub_nogate')} | {rate(pandas, 'pandas')} "
            f"| {rate(naive, 'naive')} | {ratio(hub, pandas)} | {ratio(nogate, pandas)} | {peak(hub)} "
            f"| {peak(nogate)} | {peak(pandas)} | {peak(naive)} |"
        )
    lines += [
        "",
        "Where the hub's time goes (seconds of the `hub` case): `query` = the named SQL run and its rows read "
        "(exact decimals); `judge + write` = `judge` per line, the rows built and written to `count_results`, "
        "the status update; `gate` = the `count_results` gate (GX set-up excluded, shown apart).",
        "",
        "| backend | lines | total s | query s | judge + write s | gate s | GX set-up s (untimed) | statuses |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for backend, n in keys:
        hub = by.get((backend, n, "hub"))
        if not hub or "phases_s" not in hub:
            continue
        p = hub["phases_s"]
        statuses = ", ".join(f"{k} {v:,}" for k, v in hub["statuses"].items())
        lines.append(
            f"| {backend} | {n:,} | {hub['seconds']} | {p.get('query_s', 0)} "
            f"| {round(p.get('rest_s', 0) + p.get('counts_s', 0), 3)} "
            f"| {p.get('gate_s', 0)} | {hub.get('gate_warmup_s', '–')} | {statuses} |"
        )
    for prof in data.get("profiles", []):
        lines += [
            "",
            f"cProfile of `hub` on {prof['backend']} at {prof['rows']:,} lines "
            f"({prof['seconds_under_profiler']} s under the profiler), top functions by own time:",
            "",
            "```",
            *prof["tottime"][:16],
            "```",
        ]
    return "\n".join(lines) + "\n"


def settlement_table(data: dict) -> str:
    rows = data["results"]
    by = {(r["rows"], r["method"]): r for r in rows}
    skipped = {(s["rows"], s["method"]): s for s in data.get("skipped", [])}
    lines = [
        "## Settling a business day of SAP billing (`finance_settlement`, SQLite)",
        "",
        f"Machine: {data['machine']['cpus']} CPUs, Python {data['machine']['python']}, {data['machine']['date']}. "
        "Billing lines of the day per second (higher is better) and peak RSS of the process. `hub` = "
        "`settle_day` as in production (read through the table objects as exact decimals, three-way match, "
        "exact money, totals against SAP's headers, exceptions written) + `write_settlement` of the CSV and "
        "manifest + the gate's `verify` of the CSV; its XLSX copy is measured apart (`xlsx`: `xlsx_bytes`, and "
        "the gate's read-back of it), at 10k and 100k lines only (openpyxl; a worksheet holds at most 1,048,575 "
        "rows); `hub + XLSX` = the lines over the sum of both times. `pandas` = `read_sql` + `merge` + `groupby` "
        "+ `np.select` + float64 tax + `to_csv` (no orphan-cancellation check, no manifest, no gate). "
        "`pandas off by ≥ 1 cent` = file lines whose float64 tax (and so gross) is a cent off the exact "
        "`Decimal` result (net × rate, half up per line); `total tax off` = the float total against the exact one.",
        "",
        "| lines | hub rows/s | pandas rows/s | hub ÷ pandas | hub peak MB | pandas peak MB | XLSX write rows/s "
        "| XLSX read-back rows/s | hub + XLSX rows/s | file lines (hub = pandas) | pandas off by ≥ 1 cent "
        "| pandas total tax off |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    sizes = sorted({n for n, _ in by} | {n for n, _ in skipped})
    for n in sizes:
        hub, pandas, xlsx = (by.get((n, m)) for m in ("hub", "pandas", "xlsx"))

        def rate(r: dict | None, key: str = "rows_per_s", method: str = "", n: int = n) -> str:
            if r:
                return f"{r[key]:,}"
            return "skipped" if (n, method) in skipped else "–"

        ratio = f"{hub['rows_per_s'] / pandas['rows_per_s']:.2f}×" if hub and pandas else "–"
        both = (
            f"{round(n / (hub['seconds'] + xlsx['phases_s']['xlsx_write_s'] + xlsx['phases_s']['xlsx_verify_s'])):,}"
            if hub and xlsx
            else "–"
        )
        same = (
            f"{hub['file_lines']:,}" + ("" if pandas and pandas["file_lines"] == hub["file_lines"] else " (differ)")
            if hub
            else "–"
        )
        off = (
            f"{pandas['lines_tax_off_by_a_cent_or_more']:,} "
            f"({100 * pandas['lines_tax_off_by_a_cent_or_more'] / max(pandas['file_lines'], 1):.2f} %)"
            if pandas
            else "–"
        )
        total_off = ", ".join(f"{c} {v}" for c, v in pandas["total_tax_difference"].items()) if pandas else "–"
        lines.append(
            f"| {n:,} | {rate(hub)} | {rate(pandas)} | {ratio} | {hub['peak_rss_mb'] if hub else '–'} "
            f"| {pandas['peak_rss_mb'] if pandas else '–'} | {rate(xlsx, 'xlsx_write_rows_per_s', 'xlsx')} "
            f"| {rate(xlsx, 'xlsx_verify_rows_per_s', 'xlsx')} | {both} | {same} | {off} | {total_off} |"
        )
    for s in data.get("skipped", []):
        lines += ["", f"`{s['method']}` skipped at {s['rows']:,} lines: {s['reason']}."]
    lines += [
        "",
        "Where the hub's time goes (seconds of the `hub` case, exclusive): `read` = the day's keys, order "
        "lines, goods issues, billing and headers read (SQL, exact decimals, dataclasses); `match` = "
        "`match`; `money` = `money_inputs` + `line_money`; `totals` = `compare_with_sap`; `file lines` = "
        "`settlement_lines`; `render` = `render_rows`; `controls` = `controls` (when writing and in the "
        "gate); `verify` = the rest of the gate; `rest` = `settle_day`'s own code (exceptions written), "
        "`write_settlement`'s files and manifest.",
        "",
        "| lines | total s | read s | match s | money s | totals s | file lines s | render s | csv s "
        "| controls s | verify s | rest s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        hub = by.get((n, "hub"))
        if not hub or "phases_s" not in hub:
            continue
        p = hub["phases_s"]
        cells = [p.get(k, 0) for k in ("read_s", "match_s", "money_s", "totals_s", "file_lines_s", "render_s",
                                        "csv_bytes_s", "controls_s", "verify_s", "rest_s")]  # fmt: skip
        lines.append(f"| {n:,} | {hub['seconds']} | " + " | ".join(str(c) for c in cells) + " |")
    for prof in data.get("profiles", []):
        lines += [
            "",
            f"cProfile of `hub` at {prof['rows']:,} lines ({prof['seconds_under_profiler']} s under the "
            "profiler), top functions by own time:",
            "",
            "```",
            *prof["tottime"][:16],
            "```",
        ]
    return "\n".join(lines) + "\n"


BENCHMARKS = {
    "bulk_load": (bulk_load.main, bulk_load_table),
    "allocation": (lambda argv: allocation.main(argv, lenient=True), allocation_table),
    "reconciliation": (lambda argv: reconciliation.main(argv, lenient=True), reconciliation_table),
    "settlement": (lambda argv: settlement.main(argv, lenient=True), settlement_table),
    # Runs in .venv-forecast (statsforecast needs pandas < 3), as a child process.
    "forecast_carparts": (forecast_carparts.run_in_forecast_env, forecast_carparts.table),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    picked = [a for a in argv if a in BENCHMARKS] or list(BENCHMARKS)
    options = [a for a in argv if a not in BENCHMARKS]
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in picked:
        BENCHMARKS[name][0]([*options, "--out", str(RESULTS / f"{name}.json")])
        if name == "forecast_carparts":
            out = RESULTS / f"{name}.json"
            (RESULTS / f"{name}.md").write_text(forecast_carparts.table(json.loads(out.read_text())))
    report = "# Benchmark results\n\nWritten by `make bench` (`bench/run.py`).\n"
    for name, (_, table) in BENCHMARKS.items():
        out = RESULTS / f"{name}.json"
        if out.exists():
            report += "\n" + table(json.loads(out.read_text()))
    (RESULTS / "README.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
