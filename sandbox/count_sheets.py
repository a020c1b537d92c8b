"""Count sheets of plant 2010 (Hamburg), which runs no WMS: CSV files the warehouse drops in a folder.

``count_2010_<YYYYMMDD>.csv`` (UTF-8, no BOM, ``\\n`` line ends) with the header
``plant,storage_location,material,batch,stock_type,counted_qty,unit,counted_at,counter``: one row per
counted material and stock type, ``counted_at`` ISO-8601 with the plant's offset (08:00–09:59 local
time on the day), ``unit`` the base unit (PC). The counted quantities are SAP's seeded book
(:func:`sandbox.qimen_warehouse.seeded_book`) with seeded differences (rng stream
``{seed}:count_sheets:drift``, the same for every day), listed by :func:`sheet_drift`:

- shrinkage: 2 materials counted 1–3 below the book;
- gain: 1 material counted 1–2 above the book;
- unit mix-up: 1 material with pack size ≥ 5 and book a multiple of it (≥ 2 packs), counted in packs:
  ``counted_qty`` = book / pack with ``unit`` PAK (the sheet says so);
- blocked stock: where a counted material has blocked (07) book stock, a 07 row counted as booked.

Every other row is counted as booked (a seeded sample of 25 stocked materials of the day). A second
sheet ``count_2010_<YYYYMMDD>_B.csv`` is malformed: its third data row has ``counted_qty`` ``zwölf``
(not a number); the hub must quarantine it whole, so none of its rows counts (it lists 5 materials not
in the good sheet, each counted as booked). Both are written to a temporary name and renamed, so a
reader never sees half a file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.qimen_warehouse import seeded_book
from sandbox.seed_data import SeedData
from sandbox.system import SandboxContext

PLANT = "2010"
STORAGE_LOCATION = "0001"
HEADER = (
    "plant",
    "storage_location",
    "material",
    "batch",
    "stock_type",
    "counted_qty",
    "unit",
    "counted_at",
    "counter",
)
COUNTERS = ("K. Petersen", "M. Yilmaz", "J. Schröder")
SAMPLE = 25
HAMBURG = ZoneInfo("Europe/Berlin")  # the plant's local time: CET/CEST


def _rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256(":".join([str(seed), "count_sheets", *map(str, parts)]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class SheetDrift:
    kind: str  # shrinkage | gain | unit_mix_up
    material: str
    stock_type: str
    book: int
    counted_qty: int  # as written on the sheet, in ``unit``
    unit: str
    difference: int  # counted − book in base units as the hub reads it when it ignores the unit
    note: str

    def json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "plant": PLANT,
            "material": self.material,
            "stock_type": self.stock_type,
            "sap_book": self.book,
            "counted_qty": self.counted_qty,
            "unit": self.unit,
            "difference": self.difference,
            "note": self.note,
        }


def _data(ctx_or_data: SandboxContext | SeedData) -> SeedData:
    return ctx_or_data.data if isinstance(ctx_or_data, SandboxContext) else ctx_or_data


def _stocked(data: SeedData) -> list[str]:
    return sorted(m for (p, m, t), q in seeded_book(data).items() if p == PLANT and t == "01" and q >= 4)


def sheet_drift(ctx_or_data: SandboxContext | SeedData) -> list[SheetDrift]:
    """The seeded differences of plant 2010's sheets (the same every day)."""
    data = _data(ctx_or_data)
    book = seeded_book(data)
    packs = {m.number: m.pack_size for m in data.materials}
    rng = _rng(data.seed, "drift")
    pool = _stocked(data)
    drift: list[SheetDrift] = []
    for _ in range(2):
        item = rng.choice([m for m in pool if m not in {d.material for d in drift}])
        qty = book[(PLANT, item, "01")]
        loss = rng.randint(1, 3)
        drift.append(SheetDrift("shrinkage", item, "01", qty, qty - loss, "PC", -loss, "lost (shrinkage)"))
    item = rng.choice([m for m in pool if m not in {d.material for d in drift}])
    qty, gain = book[(PLANT, item, "01")], rng.randint(1, 2)
    drift.append(SheetDrift("gain", item, "01", qty, qty + gain, "PC", gain, "found (booked short earlier)"))
    fits = [
        m
        for m in pool
        if m not in {d.material for d in drift}
        and packs[m] >= 5
        and book[(PLANT, m, "01")] % packs[m] == 0
        and book[(PLANT, m, "01")] >= 2 * packs[m]
    ]
    if fits:
        item = rng.choice(fits)
        qty, pack = book[(PLANT, item, "01")], packs[item]
        drift.append(
            SheetDrift(
                "unit_mix_up",
                item,
                "01",
                qty,
                qty // pack,
                "PAK",
                qty // pack - qty,
                f"counted in packs of {pack} (unit PAK): in base units it matches the book",
            )
        )
    return drift


def _sheet(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _write(path: Path, content: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
    return path


def write_count_sheets(ctx_or_data: SandboxContext | SeedData, folder: Path, day: date) -> list[Path]:
    """Write the day's good sheet and the malformed one into ``folder`` (created if missing)."""
    data = _data(ctx_or_data)
    book = seeded_book(data)
    drift = {d.material: d for d in sheet_drift(data)}
    rng = _rng(data.seed, "sheet", day.isoformat())
    pool = [m for m in _stocked(data) if m not in drift]
    chosen = sorted({*drift, *rng.sample(pool, min(SAMPLE, len(pool)))})
    bad_pool = [m for m in pool if m not in chosen]
    bad = sorted(rng.sample(bad_pool, min(5, len(bad_pool))))

    def row(material: str, stock_type: str, qty: str, unit: str) -> list[str]:
        # The morning shift counts (08:00–09:59 local): the count belongs to the hub's business day of its
        # date (Asia/Shanghai, cut-off 23:30), which an afternoon count in Hamburg would cross.
        at = datetime.combine(day, time(8), HAMBURG) + timedelta(minutes=rng.randint(0, 119))
        return [PLANT, STORAGE_LOCATION, material, "", stock_type, qty, unit, at.isoformat(), rng.choice(COUNTERS)]

    rows: list[list[str]] = []
    for material in chosen:
        d = drift.get(material)
        if d is not None:
            rows.append(row(material, d.stock_type, str(d.counted_qty), d.unit))
        else:
            rows.append(row(material, "01", str(book[(PLANT, material, "01")]), "PC"))
        if book.get((PLANT, material, "07")):
            rows.append(row(material, "07", str(book[(PLANT, material, "07")]), "PC"))
    bad_rows = [row(m, "01", str(book[(PLANT, m, "01")]), "PC") for m in bad]
    if len(bad_rows) >= 3:
        bad_rows[2][HEADER.index("counted_qty")] = "zwölf"
    stamp = f"{day:%Y%m%d}"
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _write(folder / f"count_{PLANT}_{stamp}.csv", _sheet(rows)),
        _write(folder / f"count_{PLANT}_{stamp}_B.csv", _sheet(bad_rows)),
    ]
