"""The ERP's master-data extract for the seeded business, as the hub imports it (flows/master_data_sync.py):
customers with credit limits and blocks, materials with MOQ and pack size, price lists."""

from __future__ import annotations

import csv
from pathlib import Path

from sandbox.seed_data import SeedData


def write_extract(data: SeedData, folder: Path | str) -> Path:
    """Write customers.csv, materials.csv and prices.csv for ``data`` into ``folder``."""
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
    }
    for name, (header, rows) in tables.items():
        tmp = folder / f".{name}.tmp"
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        tmp.replace(folder / name)  # readers never see a half-written file
    return folder
