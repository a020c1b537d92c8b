"""The ERP's monthly consumption history before the sandbox's order book starts
(``consumption_history.csv`` of :mod:`sandbox.erp_extract`): ``material,plant,month,quantity,unit``.

Replenishment planning needs years of demand; the seeded order book covers six weeks. This history
is what SAP recorded in the 24 months up to and including the month the order book starts (the hub
took over during that month; SAP's figure for it is the whole month), for every
material x plant of ``material_plants.csv`` that consumed anything in those months (each with all 24
months, zeros written; a pair without a row consumed nothing), deterministic per seed. It continues
the order book, so its level is the rate at which the order generator (:mod:`sandbox.seed_data`)
draws each material:

* order lines arrive at ``the order book's lines per week x p / sum(p)``, ``p`` the material's
  ``demand_probability`` (the weight orders pick materials by), split over the plants by
  the customers' sales organisations (sales org 1000 ships from 1010, 2000 from 2010; no order
  ships from 1020, so it has no history, as it will have no hub orders);
* a line's quantity is the generator's: a gamma(``demand_shape``, ``demand_scale``) size rounded up
  to the pack size, at least the MOQ.

A month's quantity is the sum of a Poisson number of such lines. Rare parts come out intermittent
or lumpy (Syntetos-Boylan), the frequently sold ones smooth or erratic. On top of that about a third
of the series with demand carry a yearly season (amplitude 15-50 %) and about a fifth a linear trend
(the level rising or falling by up to 40 % over the two years towards today's rate), so both
kinds of models have something to find.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date

from sandbox.seed_data import ORDER_HISTORY, Material, SeedData

MONTHS = 24
WEEKS_PER_MONTH = 365.25 / 12 / 7
SALES_ORG_PLANT = {"CNY": "1010"}  # the customers' currency decides the sales org (sandbox.sap.masterdata)
OTHER_PLANT = "2010"
SEASON_SHARE, TREND_SHARE = 0.33, 0.2


def _rng(seed: int, part: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:consumption:{part}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def history_months(data: SeedData) -> list[date]:
    """The first day of each of the 24 months up to the month the order book starts, oldest first."""
    start = (data.now - ORDER_HISTORY).date()
    year, month = start.year, start.month
    months = [date(year, month, 1)]
    for _ in range(MONTHS - 1):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append(date(year, month, 1))
    return months[::-1]


def _plant_shares(data: SeedData) -> dict[str, float]:
    """Share of the order lines each plant ships: the customers' order weights by sales org."""
    weights: Counter[str] = Counter()
    for c in data.customers:
        if not c.blocked:
            weights[SALES_ORG_PLANT.get(c.currency, OTHER_PLANT)] += c.weight
    total = sum(weights.values()) or 1.0
    return {plant: w / total for plant, w in weights.items()}


def monthly_lines(data: SeedData) -> dict[tuple[str, str], float]:
    """Expected order lines per month of every material x plant the seed stocks."""
    per_week = sum(len(o.lines) for o in data.orders) / (ORDER_HISTORY.days / 7)
    total_p = sum(m.demand_probability for m in data.materials) or 1.0
    shares = _plant_shares(data)
    return {
        (s.material, s.plant): per_week
        * WEEKS_PER_MONTH
        * data.material_by_number[s.material].demand_probability
        / total_p
        * shares.get(s.plant, 0.0)
        for s in data.stock
    }


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation; the seed's rates stay far below
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _line_quantity(rng: random.Random, m: Material) -> int:
    size = rng.gammavariate(m.demand_shape, m.demand_scale)
    return max(m.moq, math.ceil(size / m.pack_size) * m.pack_size)


@dataclass(frozen=True)
class Shape:
    season: float  # amplitude of the yearly season (0: none)
    phase: float  # radians
    trend: float  # the level 24 months ago is (1 - trend) x today's (0: none)

    def factor(self, t: int) -> float:
        """The rate of month ``t`` (0 = oldest) relative to today's; the trend ends at 1 at t = 23, so
        the hub's orders continue where the history stops."""
        season = 1 + self.season * math.sin(2 * math.pi * t / 12 + self.phase)
        return max(0.0, season * (1 - self.trend * (MONTHS - 1 - t) / MONTHS))


def shape(seed: int, material: str, plant: str) -> Shape:
    """The season and trend of one series, from a stream of their own."""
    rng = _rng(seed, f"shape:{material}:{plant}")
    season = rng.uniform(0.15, 0.5) if rng.random() < SEASON_SHARE else 0.0
    phase = rng.uniform(0, 2 * math.pi)
    trend = rng.uniform(-0.4, 0.4) if rng.random() < TREND_SHARE else 0.0
    return Shape(season, phase, trend)


def series(data: SeedData, material: str, plant: str, lines_per_month: float) -> list[int]:
    """The 24 monthly quantities of one material x plant (oldest first)."""
    rng = _rng(data.seed, f"{material}:{plant}")
    m = data.material_by_number[material]
    form = shape(data.seed, material, plant)
    values = []
    for t in range(MONTHS):
        lines = _poisson(rng, lines_per_month * form.factor(t))
        values.append(sum(_line_quantity(rng, m) for _ in range(lines)))
    return values


def consumption_rows(data: SeedData) -> list[list[object]]:
    """The rows of ``consumption_history.csv``: material, plant, month (YYYY-MM), quantity, unit."""
    months = [f"{d:%Y-%m}" for d in history_months(data)]
    rates = monthly_lines(data)
    rows: list[list[object]] = []
    for material, plant in sorted(rates):
        unit = data.material_by_number[material].base_unit
        quantities = series(data, material, plant, rates[(material, plant)])
        if not any(quantities):
            continue  # nothing consumed in two years: SAP has no consumption record to extract
        rows.extend(
            [material, plant, month, quantity, unit] for month, quantity in zip(months, quantities, strict=True)
        )
    return rows
