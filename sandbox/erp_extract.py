"""The ERP's master-data extract for the seeded business, as the hub imports it (flows/master_data_sync.py):
customers with credit limits and blocks, materials with MOQ and pack size, price lists, and the
plant data of every material (SAP MARC/MBEW-like) in ``material_plants.csv``, and the 24 months of
consumption before the order book (``consumption_history.csv``: material, plant, month, quantity,
unit; see :mod:`sandbox.consumption_history`). ``material_plants.csv``:

``material,plant,abc_class,lead_time_days,lead_time_sd_days,purchase_moq,order_multiple,max_stock,
unit_cost,currency``

* ``abc_class``: per plant, materials ranked by expected annual consumption value (the seed's demand
  model: weekly order probability × mean line quantity × 52, halved outside the main plant 1010, as
  the seeded stock levels are, × ``unit_cost``); A up to 80 % of the plant's value, B the next 15 %,
  C the rest (a material with no expected demand is C).
* ``lead_time_days`` the material's replenishment lead time; ``lead_time_sd_days`` a seeded 10–30 %
  of it (one decimal).
* ``purchase_moq`` the supplier's minimum order: a seeded 1, 2, 5 or 10 packs, never below the sales
  MOQ; ``order_multiple`` the pack size.
* ``max_stock`` the seeded maximum stock level, empty for about 10 % of the rows (no cap maintained).
* ``unit_cost`` the standard price per base unit (:mod:`sandbox.valuation`, the price SAP values
  physical-inventory differences at) in ``currency``, the plant's company-code currency.
"""

from __future__ import annotations

import csv
import hashlib
import random
from decimal import Decimal
from pathlib import Path

from sandbox.consumption_history import consumption_rows
from sandbox.seed_data import Material, SeedData
from sandbox.valuation import Valuation

ABC_LIMITS = (("A", Decimal("0.80")), ("B", Decimal("0.95")))  # cumulative share of the value; rest C
MAIN_PLANT = "1010"


def _rng(seed: int, part: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:erp_extract:{part}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def annual_demand(material: Material, plant: str) -> Decimal:
    """Expected yearly demand in base units from the seed's demand model (intermittent, gamma sizes)."""
    weekly = material.demand_probability * material.demand_shape * material.demand_scale
    share = 1.0 if plant == MAIN_PLANT else 0.5
    return Decimal(str(round(weekly * share * 52, 3)))


def material_plant_rows(data: SeedData) -> list[list[object]]:
    """The rows of ``material_plants.csv`` (see the module docstring), ordered by material and plant."""
    valuation = Valuation(data)
    rng = _rng(data.seed, "material_plants")
    levels = sorted(data.stock, key=lambda s: (s.material, s.plant))
    values = {
        (s.material, s.plant): annual_demand(data.material_by_number[s.material], s.plant)
        * valuation.standard_price(s.material, s.plant)
        for s in levels
    }
    classes: dict[tuple[str, str], str] = {}
    for plant in sorted({s.plant for s in levels}):
        ranked = sorted((k for k in values if k[1] == plant), key=lambda k: (-values[k], k[0]))
        total = sum((values[k] for k in ranked), Decimal(0))
        running = Decimal(0)
        for key in ranked:
            # The class goes by the share reached before this material, so the top one is always A.
            share = running / total if total else Decimal(1)
            classes[key] = next((c for c, limit in ABC_LIMITS if share < limit and values[key] > 0), "C")
            running += values[key]
    rows: list[list[object]] = []
    for s in levels:
        m = data.material_by_number[s.material]
        sd_share = rng.uniform(0.10, 0.30)
        purchase_moq = max(m.moq, m.pack_size * rng.choice((1, 2, 5, 10)))
        capped = rng.random() >= 0.10
        rows.append(
            [
                m.number,
                s.plant,
                classes[(s.material, s.plant)],
                m.lead_time_days,
                f"{m.lead_time_days * sd_share:.1f}",
                purchase_moq,
                m.pack_size,
                s.max_stock if capped else "",
                valuation.standard_price(m.number, s.plant),
                valuation.currency(s.plant),
            ]
        )
    return rows


def write_extract(data: SeedData, folder: Path | str) -> Path:
    """Write customers.csv, materials.csv, prices.csv, material_plants.csv and consumption_history.csv
    (:mod:`sandbox.consumption_history`) for ``data`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "customers.csv": (
            [
                *("customer_number", "name", "country", "language", "currency", "credit_limit", "blocked", "email"),
                *("contact", "phone", "region", "city", "street", "postal_code"),
            ],
            [
                [
                    c.number,
                    c.name,
                    c.address.country,
                    c.language,
                    c.currency,
                    c.credit_limit,
                    "X" if c.blocked else "",
                    c.email,
                    # The ship-to of the customer master: where outbound deliveries go.
                    "收货部" if c.language == "zh" else "Goods receiving",
                    c.phone,
                    c.address.region,
                    c.address.city,
                    c.address.street,
                    c.address.postal_code,
                ]
                for c in data.customers
            ],
        ),
        "materials.csv": (
            ["material", "description", "base_unit", "moq", "pack_size", "active"],
            [[m.number, m.description_en, m.base_unit, m.moq, m.pack_size, "X"] for m in data.materials],
        ),
        "prices.csv": (
            ["material", "currency", "price", "valid_from", "valid_to"],
            [
                [material, pl.currency, price, pl.valid_from.isoformat(), pl.valid_to.isoformat()]
                for pl in data.price_lists
                for material, price in sorted(pl.prices.items())
            ],
        ),
        "material_plants.csv": (
            [
                *("material", "plant", "abc_class", "lead_time_days", "lead_time_sd_days", "purchase_moq"),
                *("order_multiple", "max_stock", "unit_cost", "currency"),
            ],
            material_plant_rows(data),
        ),
        "consumption_history.csv": (["material", "plant", "month", "quantity", "unit"], consumption_rows(data)),
    }
    for name, (header, rows) in tables.items():
        tmp = folder / f".{name}.tmp"
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        tmp.replace(folder / name)  # readers never see a half-written file
    return folder
