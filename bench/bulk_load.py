"""Benchmark: loading order lines into the keyed ``order_lines`` table.

Compares, in the same run and on the same machine:
- ``hub``: ``hub.bulk.upsert`` (PostgreSQL: COPY into staging + one ON CONFLICT upsert; SQLite:
  chunked executemany upsert), rows streamed from a generator;
- ``hub_update``: the same call again with every row changed (the update path);
- ``naive``: one INSERT … ON CONFLICT statement per row, as a hand-written loop would do;
- ``pandas``: ``DataFrame.to_sql(chunksize=10_000)``, the usual alternative tool (append only:
  it cannot upsert, so it is measured on the easier task).

Each case runs in a fresh subprocess on a fresh database so peak RSS is its own.
Usage: python -m bench.bulk_load [--sizes 10000,100000,1000000] [--backends postgres,sqlite]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bench.harness import fresh_url
from bench.machine import machine

LINES_PER_ORDER = 5
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def order_rows(n_lines: int) -> Iterator[dict]:
    for i in range(n_lines // LINES_PER_ORDER + 1):
        yield {
            "source": "zoho_crm",
            "crm_order_id": f"O{i:08d}",
            "order_number": f"SO-{i}",
            "currency": "CNY",
            "order_time": T0,
            "crm_modified_at": T0,
            "net_amount": Decimal("100.00"),
            "tax_amount": Decimal("13.00"),
            "gross_amount": Decimal("113.00"),
            "line_count": LINES_PER_ORDER,
            "status": "accepted",
            "content_hash": "x" * 64,
            "updated_at": T0,
        }


def line_rows(n_lines: int, price: str = "12.50") -> Iterator[dict]:
    unit = Decimal(price)
    for i in range(n_lines):
        qty = Decimal(1 + i % 7)
        net = qty * unit
        yield {
            "source": "zoho_crm",
            "crm_order_id": f"O{i // LINES_PER_ORDER:08d}",
            "line_no": i % LINES_PER_ORDER + 1,
            "crm_line_id": f"L{i}",
            "crm_product_id": f"P{i % 2000}",
            "material": f"SP-{10000 + i % 2000}",
            "description": "brake pad 刹车片",
            "quantity": qty,
            "unit": "PC",
            "unit_price": unit,
            "discount": Decimal(0),
            "net_amount": net,
            "tax_rate": Decimal("0.13"),
            "tax_amount": (net * Decimal("0.13")).quantize(Decimal("0.01")),
            "currency": "CNY",
            "plant": "1010",
        }


KEY = ("source", "crm_order_id", "line_no")


def run_case(method: str, url: str, n: int) -> dict:
    """Run one case in this process; return rows/s and peak RSS."""
    from sqlalchemy import func, select

    from hub.bulk import upsert
    from hub.db import make_engine, upgrade
    from hub.schema import order_lines, orders

    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:  # parents first, untimed: lines reference their order
        upsert(conn, orders, order_rows(n), key=("source", "crm_order_id"))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if method == "hub":
        with engine.begin() as conn:
            upsert(conn, order_lines, line_rows(n), key=KEY)
    elif method == "hub_update":
        with engine.begin() as conn:
            upsert(conn, order_lines, line_rows(n), key=KEY)
        started = time.perf_counter()
        with engine.begin() as conn:
            upsert(conn, order_lines, line_rows(n, price="13.75"), key=KEY)
    elif method == "naive":
        # One prepared upsert executed once per row: what a hand-written loop does.
        stmt = _dialect_insert(engine)(order_lines)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEY), set_={c.name: stmt.excluded[c.name] for c in order_lines.c if c.name not in KEY}
        )
        with engine.begin() as conn:
            for row in line_rows(n):
                conn.execute(stmt, row)
    elif method == "pandas":
        import pandas as pd

        frame = pd.DataFrame(line_rows(n))
        with engine.begin() as conn:
            # dtype= gives pandas the table's types, so Decimals bind as NUMERIC (exact), not text.
            frame.to_sql(
                "order_lines",
                conn,
                if_exists="append",
                index=False,
                chunksize=10_000,
                dtype={c.name: c.type for c in order_lines.c},
            )
    else:
        raise ValueError(method)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(order_lines)).scalar_one()
    engine.dispose()
    assert count == n, f"{method}: {count} rows loaded, expected {n}"
    return {
        "rows_per_s": round(n / elapsed),
        "seconds": round(elapsed, 2),
        "peak_rss_mb": round(peak / 1024),
        "rss_growth_mb": round((peak - rss_before) / 1024),
    }


def _dialect_insert(engine):  # noqa: ANN001, ANN202
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--methods", default="hub,hub_update,naive,pandas")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: method,url,n
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bulk_load.json"))
    args = parser.parse_args(argv)
    if args.case:
        method, url, n = args.case.split("|")
        print(json.dumps(run_case(method, url, int(n))))
        return 0

    from devtools.testrun import start_embedded_postgres

    pg_url, stop = start_embedded_postgres() if "postgres" in args.backends else (None, lambda: None)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for backend in args.backends.split(","):
                for n in [int(s) for s in args.sizes.split(",")]:
                    for method in args.methods.split(","):
                        url, ctx = fresh_url(backend, pg_url, Path(tmp), f"{method}{n}")
                        try:
                            proc = subprocess.run(
                                [sys.executable, "-m", "bench.bulk_load", "--case", f"{method}|{url}|{n}"],
                                capture_output=True,
                                text=True,
                                check=False,
                            )
                        finally:
                            if ctx is not None:
                                ctx.__exit__(None, None, None)
                        if proc.returncode != 0:
                            raise RuntimeError(f"{backend} {method} {n}: {proc.stderr[-2000:]}")
                        row = {
                            "backend": backend,
                            "rows": n,
                            "method": method,
                            **json.loads(proc.stdout.strip().splitlines()[-1]),
                        }
                        results.append(row)
                        print(json.dumps(row), flush=True)
    finally:
        stop()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
