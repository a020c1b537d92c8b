"""Benchmark: stock allocation of open order lines (``transforms.allocation``).

Compares, in the same run, on the same machine and the same input:
- ``hub``: Demand objects built from the records, ``transforms.allocation.allocate`` then
  ``posting_sequence``;
- ``naive``: what a pile of scripts would write: the records sorted by rank, and for each line what is
  left of its material/plant recomputed by summing the allocations made so far to it (quadratic per
  material/plant; run up to ``--naive-max`` lines only);
- ``pandas``: the vectorised alternative: a frame built from the records, sorted by rank, cumulative
  quantity per (material, plant), allocated = clip(available - (cumsum - quantity), 0, quantity);
  quantities as int64 thousandths (NUMERIC(18, 3)), so it is exact; the posting sequence is the
  orders of the allocated lines, first occurrence in rank order.

The input is synthetic but shaped like the hub's open lines, generated from a fixed seed: N lines over
~N/40 orders, materials drawn with Zipf-like popularity from max(2,000, N/50) materials at 3 plants,
delivery priority 01/02/03 at 10/60/30 % per order, order times over 6 weeks, quantities 1-50 as
Decimal, availability per (material, plant) covering ~70 % of its demand (2 % of them negative: SAP
promised more than it holds). Every contender starts from the same list of plain dict records; the
time to build its own input from them is included. Each case runs in a fresh subprocess so peak RSS
is its own (as in ``bench.bulk_load``); the records are generated before the clock starts and before
the RSS baseline (``rss_growth_mb`` is what the contender adds on top of them). Cases up to 100k
lines are timed as the median of several runs (9 at 10k, 3 at 100k); 1M lines once.

All contenders must give identical allocations (every line, in record order) and the identical
posting sequence at every size they run; the run fails otherwise.
Usage: python -m bench.allocation [--sizes 10000,100000,1000000] [--methods hub,naive,pandas]
       [--naive-max 100000]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

from bench.harness import parse
from bench.machine import machine

SEED = 20261129
T0 = datetime(2026, 10, 1, tzinfo=UTC)
SPAN_S = 6 * 7 * 24 * 3600  # order times over 6 weeks
SOURCE = "zoho_crm"
PLANTS = ("1010", "1020", "1030")
PLANT_WEIGHTS = (50, 30, 20)
PRIORITIES = ("01", "02", "03")
PRIORITY_WEIGHTS = (10, 60, 30)
ZIPF_S = 1.0
MEAN_LINES_PER_ORDER = 40
COVERAGE = (0.4, 1.0)  # availability / demand per (material, plant), uniform: ~70 % overall
OVERPROMISED = 0.02  # share of (material, plant) whose availability is negative
METHODS = ("hub", "naive", "pandas")
NAIVE_MAX = 100_000


def timed_runs(n: int) -> int:
    """Small cases take milliseconds on a shared machine: time them as the median of several runs."""
    return 9 if n <= 10_000 else 3 if n <= 100_000 else 1


# -- input -----------------------------------------------------------------------------------------
def make_input(n: int, seed: int = SEED) -> tuple[list[dict], dict[tuple[str, str], Decimal]]:
    """``n`` open order lines as plain records and the availability per (material, plant)."""
    rnd = random.Random(f"{seed}/{n}")
    materials = [f"SP-{100000 + i}" for i in range(max(2000, n // 50))]
    rnd.shuffle(materials)  # popularity rank unrelated to the material number
    popularity = list(accumulate(1 / k**ZIPF_S for k in range(1, len(materials) + 1)))
    drawn = rnd.choices(materials, cum_weights=popularity, k=n)
    plants = rnd.choices(PLANTS, weights=PLANT_WEIGHTS, k=n)
    quantities = [Decimal(q) for q in range(51)]
    records: list[dict] = []
    order = 0
    while len(records) < n:
        order += 1
        crm_order_id = f"Z{order:09d}"
        order_number = f"SO-{order}"
        priority = rnd.choices(PRIORITIES, weights=PRIORITY_WEIGHTS)[0]
        order_time = T0 + timedelta(seconds=rnd.randrange(SPAN_S))
        for line_no in range(1, min(rnd.randint(1, 2 * MEAN_LINES_PER_ORDER - 1), n - len(records)) + 1):
            i = len(records)
            records.append(
                {
                    "source": SOURCE,
                    "crm_order_id": crm_order_id,
                    "order_number": order_number,
                    "line_no": line_no,
                    "material": drawn[i],
                    "plant": plants[i],
                    "quantity": quantities[rnd.randint(1, 50)],
                    "priority": priority,
                    "order_time": order_time,
                }
            )
    demand: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in records:
        demand[(r["material"], r["plant"])] += r["quantity"]
    available = {}
    for key in sorted(demand):
        if rnd.random() < OVERPROMISED:
            available[key] = Decimal(-rnd.randint(1, 20))
        else:
            available[key] = Decimal(round(demand[key] * Decimal(rnd.uniform(*COVERAGE))))
    return records, available


def input_stats(records: list[dict], available: dict[tuple[str, str], Decimal]) -> dict:
    per_pair = Counter((r["material"], r["plant"]) for r in records)
    demand = sum(r["quantity"] for r in records)
    return {
        "lines": len(records),
        "orders": len({r["crm_order_id"] for r in records}),
        "materials": len({r["material"] for r in records}),
        "material_plants": len(per_pair),
        "top_material_plant_lines": max(per_pair.values()),
        "coverage": round(float(sum(max(q, 0) for q in available.values()) / demand), 3),
        # the additions the naive approach makes: sum over (material, plant) of n(n-1)/2
        "naive_additions": sum(c * (c - 1) // 2 for c in per_pair.values()),
    }


# -- contenders ------------------------------------------------------------------------------------
def run_hub(records: list[dict], available: dict) -> tuple[Any, list[tuple[str, str]]]:
    from transforms.allocation import Demand, allocate, posting_sequence

    allocations = allocate(
        (
            Demand(
                r["source"],
                r["crm_order_id"],
                r["order_number"],
                r["line_no"],
                r["material"],
                r["plant"],
                r["quantity"],
                r["priority"],
                r["order_time"],
            )
            for r in records
        ),
        available,
    )
    return allocations, posting_sequence(allocations)


def run_naive(records: list[dict], available: dict) -> tuple[Any, list[tuple[str, str]]]:
    ranked = sorted(records, key=lambda r: (r["priority"] or "99", r["order_time"], r["order_number"], r["line_no"]))
    given: dict[tuple[str, str], list[Decimal]] = defaultdict(list)  # allocations made so far, per material
    allocated = {}
    sequence, seen = [], set()
    for r in ranked:
        key = (r["material"], r["plant"])
        left = max(available.get(key, Decimal(0)), Decimal(0)) - sum(given[key], Decimal(0))
        share = min(r["quantity"], left)
        given[key].append(share)
        allocated[(r["source"], r["crm_order_id"], r["line_no"])] = share
        order = (r["source"], r["crm_order_id"])
        if share > 0 and order not in seen:
            seen.add(order)
            sequence.append(order)
    return allocated, sequence


def run_pandas(records: list[dict], available: dict) -> tuple[Any, list[tuple[str, str]]]:
    import pandas as pd

    frame = pd.DataFrame(records)
    # Decimal -> int64 thousandths (NUMERIC(18, 3)): exact, unlike summing floats
    frame["quantity"] = (frame["quantity"].astype("float64") * 1000).round().astype("int64")
    frame["priority"] = frame["priority"].mask(frame["priority"] == "", "99")
    stock = pd.DataFrame([(m, p, q) for (m, p), q in available.items()], columns=["material", "plant", "available"])
    stock["available"] = (stock["available"].astype("float64") * 1000).round().astype("int64").clip(lower=0)
    frame = frame.sort_values(["priority", "order_time", "order_number", "line_no"], ignore_index=True)
    frame = frame.merge(stock, on=["material", "plant"], how="left")  # keeps the left (ranked) order
    frame["available"] = frame["available"].fillna(0).astype("int64")
    before = frame.groupby(["material", "plant"], sort=False)["quantity"].cumsum() - frame["quantity"]
    frame["allocated"] = (frame["available"] - before).clip(lower=0, upper=frame["quantity"])
    posted = frame.loc[frame["allocated"] > 0, ["source", "crm_order_id"]].drop_duplicates()
    return frame, list(posted.itertuples(index=False, name=None))


RUN = {"hub": run_hub, "naive": run_naive, "pandas": run_pandas}


def allocated_by_line(method: str, result: Any) -> dict[tuple[str, str, int], int]:
    """Each contender's allocation per line, in thousandths (untimed; for the identity check)."""
    if method == "hub":
        return {(a.demand.source, a.demand.crm_order_id, a.demand.line_no): int(a.allocated * 1000) for a in result}
    if method == "naive":
        return {key: int(q * 1000) for key, q in result.items()}
    keys = zip(result["source"], result["crm_order_id"], result["line_no"], strict=True)
    return {(s, o, int(ln)): int(q) for (s, o, ln), q in zip(keys, result["allocated"], strict=True)}


def digest(records: list[dict], by_line: dict, sequence: list[tuple[str, str]]) -> tuple[str, str]:
    lines = "\n".join(str(by_line[(r["source"], r["crm_order_id"], r["line_no"])]) for r in records)
    seq = "\n".join(f"{s}|{o}" for s, o in sequence)
    return hashlib.sha256(lines.encode()).hexdigest(), hashlib.sha256(seq.encode()).hexdigest()


def run_case(method: str, n: int, repeat: int = 1) -> dict:
    """Run one case in this process; return rows/s (median of ``repeat`` runs), peak RSS, result digests."""
    records, available = make_input(n)
    if method == "pandas":
        import pandas  # noqa: F401 - the import is a one-off cost, not per line: outside the clock
    else:
        import transforms.allocation  # noqa: F401
    gc.collect()  # the records start as old objects, as if loaded earlier; same for every contender
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeat):
        result = sequence = None  # the previous run's result is not held while the next one runs
        started = time.perf_counter()
        result, sequence = RUN[method](records, available)
        times.append(time.perf_counter() - started)
    elapsed = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    by_line = allocated_by_line(method, result)
    assert len(by_line) == n, f"{method}: {len(by_line)} lines allocated, expected {n}"
    lines_sha, sequence_sha = digest(records, by_line, sequence)
    out = {
        "rows_per_s": round(n / elapsed),
        "seconds": round(elapsed, 3),
        "runs_seconds": [round(t, 3) for t in times],
        "peak_rss_mb": round(peak / 1024),
        "rss_growth_mb": round((peak - rss_before) / 1024),
        "allocations_sha256": lines_sha,
        "sequence_sha256": sequence_sha,
        "orders_to_post": len(sequence),
    }
    if method == "hub":
        wanted = {(r["source"], r["crm_order_id"], r["line_no"]): int(r["quantity"] * 1000) for r in records}
        full = sum(1 for k, q in by_line.items() if q == wanted[k])
        none = sum(1 for q in by_line.values() if q == 0)
        out["input"] = {
            **input_stats(records, available),
            "lines_full": full,
            "lines_partial": n - full - none,
            "lines_none": none,
        }
    return out


# -- driver ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None, *, lenient: bool = False) -> int:
    """``lenient``: ignore options meant for another benchmark (``bench.run`` forwards them to all)."""
    parser = argparse.ArgumentParser(prog="python -m bench.allocation")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--naive-max", type=int, default=NAIVE_MAX, help="largest size the naive loop runs at")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: method|n|repeat
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "allocation.json"))
    args = parse(parser, argv, lenient)
    if args.case:
        method, n, repeat = args.case.split("|")
        print(json.dumps(run_case(method, int(n), int(repeat))))
        return 0

    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")
    results, inputs, skipped = [], {}, []
    for n in [int(s) for s in args.sizes.split(",")]:
        for method in methods:
            if method == "naive" and n > args.naive_max:
                skipped.append(
                    {"rows": n, "method": method, "reason": f"quadratic time (--naive-max {args.naive_max})"}
                )
                print(json.dumps(skipped[-1]), flush=True)
                continue
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.allocation",
                    "--case",
                    f"{method}|{n}|{timed_runs(n)}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{method} {n}: {proc.stderr[-2000:]}")
            row = {"rows": n, "method": method, **json.loads(proc.stdout.strip().splitlines()[-1])}
            if "input" in row:
                inputs[str(n)] = row.pop("input")
            results.append(row)
            print(json.dumps(row), flush=True)
        ran = [r for r in results if r["rows"] == n]
        assert len({(r["allocations_sha256"], r["sequence_sha256"]) for r in ran}) <= 1, (
            f"{n} lines: the contenders' allocations differ: {ran}"
        )
    _estimate_naive(results, inputs, skipped)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "seed": SEED,
                "identical": "all contenders gave identical allocations and posting sequences at every size they ran",
                "inputs": inputs,
                "results": results,
                "skipped": skipped,
            },
            indent=2,
        )
    )
    print(f"written {out}")
    return 0


def _estimate_naive(results: list[dict], inputs: dict, skipped: list[dict]) -> None:
    """For a skipped naive size: its measured growth, and a time estimate from its count of additions."""
    naive = sorted((r for r in results if r["method"] == "naive"), key=lambda r: r["rows"])
    for s in skipped:
        if s["method"] != "naive" or not naive:
            continue
        last = naive[-1]
        if len(naive) >= 2:
            first = naive[0]
            s["measured_trend"] = (
                f"{first['rows']:,} -> {last['rows']:,} lines ({last['rows'] / first['rows']:.0f}x): "
                f"{first['seconds']} s -> {last['seconds']} s ({last['seconds'] / first['seconds']:.0f}x)"
            )
        now, then = inputs.get(str(last["rows"])), inputs.get(str(s["rows"]))
        if now and then:
            s["estimated_seconds"] = round(last["seconds"] * then["naive_additions"] / now["naive_additions"], 1)


if __name__ == "__main__":
    sys.exit(main())
