"""The ERP extract's consumption history (``consumption_history.csv``, issue 14): 24 months up to the
month the order book starts for every material x plant, deterministic per seed, a Syntetos-Boylan mix
that is mostly intermittent or lumpy, and a level the seeded order book continues (per plant and per material)."""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.consumption_history import consumption_rows, history_months, monthly_lines, series, shape
from sandbox.erp_extract import write_extract
from sandbox.sap.masterdata import SALES_ORG_PLANT, sales_org_of
from sandbox.seed_data import ORDER_HISTORY, SeedData, generate

SEED = 5


@pytest.fixture(scope="module")
def data() -> SeedData:
    return generate(SEED)


@pytest.fixture(scope="module")
def written(data: SeedData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_extract(data, tmp_path_factory.mktemp("extract")) / "consumption_history.csv"


@pytest.fixture(scope="module")
def by_series(written: Path) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    with written.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out[(row["material"], row["plant"])].append(float(row["quantity"]))
    return out


def sbc(values: list[float]) -> str:
    """Syntetos-Boylan class (ADI 1.32, CV² 0.49) of a series; 'none' with fewer than two demands."""
    demands = [v for v in values if v > 0]
    if len(demands) < 2:
        return "none"
    adi = len(values) / len(demands)
    cv2 = (statistics.pstdev(demands) / statistics.mean(demands)) ** 2
    if adi < 1.32:
        return "smooth" if cv2 < 0.49 else "erratic"
    return "intermittent" if cv2 < 0.49 else "lumpy"


def test_file_shape_months_and_coverage(data: SeedData, written: Path) -> None:
    with written.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["material", "plant", "month", "quantity", "unit"]
        rows = list(reader)
    start = (data.now - ORDER_HISTORY).date()
    months = sorted({r[2] for r in rows})
    assert len(months) == 24 and months[-1] == f"{start:%Y-%m}"  # the hub's orders take over after it
    first = date(start.year - 2, start.month + 1, 1) if start.month < 12 else date(start.year - 1, 1, 1)
    assert months[0] == f"{first:%Y-%m}" and [f"{m:%Y-%m}" for m in history_months(data)] == months
    pairs = {(s.material, s.plant) for s in data.stock}
    written_pairs = {(r[0], r[1]) for r in rows}
    assert written_pairs <= pairs and len(rows) == 24 * len(written_pairs)
    # Every pair the order book draws from has a history, unless it sold nothing in two years.
    rates = monthly_lines(data)
    sold = {k for k in pairs if rates[k] > 0}
    assert len(written_pairs) > 0.75 * len(sold)
    assert all(any(int(r[3]) for r in rows if (r[0], r[1]) == k) for k in list(written_pairs)[:200])
    assert all(int(r[3]) >= 0 and r[4] == "PC" for r in rows)
    assert written.stat().st_size < 3_000_000  # ~65k rows for the demo seed


def test_deterministic_per_seed(data: SeedData) -> None:
    assert consumption_rows(data) == consumption_rows(generate(SEED))
    other = consumption_rows(generate(SEED + 1))
    assert other != consumption_rows(data)


def test_mostly_intermittent_or_lumpy_with_some_smooth(by_series: dict[tuple[str, str], list[float]]) -> None:
    classes = defaultdict(int)
    for values in by_series.values():
        classes[sbc(values)] += 1
    with_demand = sum(n for c, n in classes.items() if c != "none")
    assert (classes["intermittent"] + classes["lumpy"]) / with_demand > 0.8
    assert classes["intermittent"] > 0 and classes["lumpy"] > 0
    assert classes["smooth"] + classes["erratic"] > 0


def test_plant_1020_ships_no_orders_so_it_has_no_history(
    data: SeedData, by_series: dict[tuple[str, str], list[float]]
) -> None:
    assert any(s.plant == "1020" for s in data.stock)
    assert not [k for k in by_series if k[1] == "1020"]


def _order_book_per_month(data: SeedData) -> dict[tuple[str, str], float]:
    """What the seeded orders ask per material x plant per month."""
    customers = data.customer_by_number
    per_month = ORDER_HISTORY.days / (365.25 / 12)
    out: dict[tuple[str, str], float] = defaultdict(float)
    for order in data.orders:
        customer = customers.get(order.customer_number)
        if customer is None:
            continue
        plant = SALES_ORG_PLANT[sales_org_of(customer)]
        for line in order.lines:
            if isinstance(line.quantity, Decimal) and line.quantity > 0:
                out[(line.material_number, plant)] += float(line.quantity) / per_month
    return out


def test_level_is_the_order_books_rate(data: SeedData, by_series: dict[tuple[str, str], list[float]]) -> None:
    orders = _order_book_per_month(data)
    for plant in ("1010", "2010"):
        history = sum(sum(v) / 24 for (_, p), v in by_series.items() if p == plant)
        book = sum(q for (m, p), q in orders.items() if p == plant and (m, p) in by_series)
        assert 0.75 < history / book < 1.33, (plant, history, book)
    # Per material: parts the orders sell more of have more history, rank for rank.
    pairs = [k for k in by_series if k[1] == "1010"]
    history = {k: sum(by_series[k]) for k in pairs}
    expected = monthly_lines(data)
    ranked = sorted(pairs, key=lambda k: expected[k])
    low, high = ranked[: len(ranked) // 3], ranked[-len(ranked) // 3 :]
    assert statistics.mean(history[k] for k in high) > 5 * statistics.mean(history[k] for k in low)


def test_some_series_have_season_or_trend(data: SeedData) -> None:
    shapes = [shape(SEED, s.material, s.plant) for s in data.stock]
    seasonal = sum(1 for f in shapes if f.season) / len(shapes)
    trending = sum(1 for f in shapes if f.trend) / len(shapes)
    assert 0.25 < seasonal < 0.42 and 0.13 < trending < 0.27
    assert all(f.factor(23) == pytest.approx(1 + f.season * math.sin(2 * math.pi * 23 / 12 + f.phase)) for f in shapes)
    # At a high rate a series follows its shape: monthly quantities rise and fall with the factor.
    stock = next(s for s, f in zip(data.stock, shapes, strict=True) if f.season > 0.3)
    values = series(data, stock.material, stock.plant, 400.0)
    factors = [shape(SEED, stock.material, stock.plant).factor(t) for t in range(24)]
    assert statistics.correlation(values, factors) > 0.8
