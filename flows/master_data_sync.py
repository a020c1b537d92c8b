"""Import the ERP's master-data extract: customers (credit limit, block), materials (MOQ, pack size),
price lists. The order review reads these tables.

The extract is three UTF-8 CSV files in one folder, each a full snapshot:

- ``customers.csv``: customer_number, name, country, language, currency, credit_limit, blocked, email,
  and the ship-to: contact, phone, region, city, street, postal_code
- ``materials.csv``: material, description, base_unit, moq, pack_size, active
- ``prices.csv``: material, currency, price, valid_from, valid_to
- ``material_plants.csv`` (optional: without it, stock policies and count values have nothing to go
  on): material, plant, abc_class, lead_time_days, lead_time_sd_days, purchase_moq, order_multiple,
  max_stock, unit_cost, currency (SAP's plant data and standard price; replaced as a whole)
- ``consumption_history.csv`` (optional: the demand history replenishment planning starts from
  before the hub's own orders): material, plant, month (YYYY-MM), quantity, unit (SAP's monthly
  consumption per plant; replaced as a whole)

A bad row is quarantined (stage ``master_data``) with the file, line and field; the rest imports.
Each import supersedes the quarantine of the one before: a row fixed in the extract leaves it.
Materials missing from a new snapshot become inactive; the price list is replaced as a whole.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, update

from hub import quarantine
from hub.bulk import upsert
from hub.db import utcnow
from hub.schema import consumption_history, customers, material_plants, materials, price_list
from transforms.money import MINOR_UNITS, to_decimal

STAGE = "master_data"
SOURCE = "erp_extract"


class RowError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _text(row: dict[str, str], name: str, *, required: bool = True, max_len: int = 255) -> str | None:
    value = (row.get(name) or "").strip()
    if not value:
        if required:
            raise RowError(name, f"{name} is empty")
        return None
    if len(value) > max_len:
        raise RowError(name, f"{name} is longer than {max_len} characters")
    return value


def _number(row: dict[str, str], name: str, *, minimum: Decimal = Decimal(0)) -> Decimal:
    value = to_decimal(row.get(name))
    if value is None:
        raise RowError(name, f"{name} {row.get(name)!r} is not a number")
    if value < minimum:
        raise RowError(name, f"{name} {value} is below {minimum}")
    return value


def _flag(row: dict[str, str], name: str) -> bool:
    value = (row.get(name) or "").strip().lower()
    if value in ("true", "x", "1", "yes", "y"):
        return True
    if value in ("false", "", "0", "no", "n"):
        return False
    raise RowError(name, f"{name} {row.get(name)!r} is not a yes/no flag")


def _currency(row: dict[str, str], name: str = "currency") -> str:
    value = (row.get(name) or "").strip().upper()
    if value not in MINOR_UNITS:
        raise RowError(name, f"{name} {row.get(name)!r} is not a supported currency")
    return value


def _date(row: dict[str, str], name: str) -> date:
    try:
        return date.fromisoformat((row.get(name) or "").strip())
    except ValueError:
        raise RowError(name, f"{name} {row.get(name)!r} is not an ISO date (YYYY-MM-DD)") from None


def _customer(row: dict[str, str]) -> dict[str, Any]:
    language = (row.get("language") or "en").strip().lower()
    if language not in ("zh", "en"):
        raise RowError("language", f"language {row.get('language')!r} is not zh or en")
    return {
        "customer_number": _text(row, "customer_number", max_len=32),
        "name": _text(row, "name"),
        "country": _text(row, "country", required=False, max_len=2),
        "language": language,
        "currency": _currency(row),
        "credit_limit": _number(row, "credit_limit"),
        "blocked": _flag(row, "blocked"),
        "email": _text(row, "email", required=False),
        # The ship-to address and receiving contact (columns an older extract may lack).
        "contact": _text(row, "contact", required=False, max_len=100),
        "phone": _text(row, "phone", required=False, max_len=40),
        "region": _text(row, "region", required=False, max_len=100),
        "city": _text(row, "city", required=False, max_len=100),
        "street": _text(row, "street", required=False, max_len=255),
        "postal_code": _text(row, "postal_code", required=False, max_len=20),
    }


def _material(row: dict[str, str]) -> dict[str, Any]:
    pack = _number(row, "pack_size", minimum=Decimal(1))
    return {
        "material": _text(row, "material", max_len=40),
        "description": _text(row, "description", required=False),
        "base_unit": _text(row, "base_unit", max_len=8),
        "moq": _number(row, "moq"),
        "pack_size": pack,
        "active": _flag(row, "active") if (row.get("active") or "").strip() else True,
    }


def _price(row: dict[str, str]) -> dict[str, Any]:
    out = {
        "material": _text(row, "material", max_len=40),
        "currency": _currency(row),
        "price": _number(row, "price"),
        "valid_from": _date(row, "valid_from"),
        "valid_to": _date(row, "valid_to"),
    }
    if out["valid_to"] < out["valid_from"]:
        raise RowError("valid_to", f"valid_to {out['valid_to']} is before valid_from {out['valid_from']}")
    return out


def _material_plant(row: dict[str, str]) -> dict[str, Any]:
    abc = (_text(row, "abc_class", max_len=1) or "").upper()
    if abc not in ("A", "B", "C"):
        raise RowError("abc_class", f"abc_class must be A, B or C, got {abc!r}")
    plant = _text(row, "plant", max_len=4) or ""
    if not re.fullmatch(r"[0-9A-Z]{4}", plant):
        raise RowError("plant", f"plant must be 4 letters or digits, got {plant!r}")
    max_stock = (row.get("max_stock") or "").strip()
    return {
        "material": _text(row, "material", max_len=40),
        "plant": plant,
        "abc_class": abc,
        "lead_time_days": _number(row, "lead_time_days"),
        "lead_time_sd_days": _number(row, "lead_time_sd_days"),
        "purchase_moq": _number(row, "purchase_moq"),
        "order_multiple": _number(row, "order_multiple", minimum=Decimal(1)),
        "max_stock": _number(row, "max_stock") if max_stock else None,
        "unit_cost": _number(row, "unit_cost"),
        "currency": _currency(row),
    }


def _consumption(row: dict[str, str]) -> dict[str, Any]:
    month = (row.get("month") or "").strip()
    if not re.fullmatch(r"[12][0-9]{3}-(0[1-9]|1[0-2])", month):
        raise RowError("month", f"month must be YYYY-MM, got {month!r}")
    plant = _text(row, "plant", max_len=4) or ""
    if not re.fullmatch(r"[0-9A-Z]{4}", plant):
        raise RowError("plant", f"plant must be 4 letters or digits, got {plant!r}")
    return {
        "material": _text(row, "material", max_len=40),
        "plant": plant,
        "month": date.fromisoformat(f"{month}-01"),
        "quantity": _number(row, "quantity"),
    }


def _read(
    path: Path, parse: Callable[[dict[str, str]], dict[str, Any]], key: str, held: list[quarantine.QuarantineRecord]
) -> Iterator[dict[str, Any]]:
    # utf-8-sig: extracts saved from Excel start with a byte-order mark.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), start=2):
            try:
                yield parse(row)
            except RowError as exc:
                record = f"{path.name}:{line_no}:{(row.get(key) or '').strip()}"
                held.append(
                    quarantine.QuarantineRecord(
                        STAGE,
                        SOURCE,
                        record,
                        "MasterDataError",
                        f"{path.name} line {line_no}: {exc}",
                        dict(row),
                        field=exc.field,
                    )
                )


def import_extract(engine: Engine, folder: Path | str, run_id: str | None = None) -> dict[str, int]:
    """Import the three files found in ``folder``; return rows imported and quarantined per file."""
    folder = Path(folder)
    files = {
        "customers": folder / "customers.csv",
        "materials": folder / "materials.csv",
        "prices": folder / "prices.csv",
    }
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"master-data extract incomplete, missing: {', '.join(missing)}")
    held: list[quarantine.QuarantineRecord] = []
    now = utcnow()
    cust = [{**r, "updated_at": now} for r in _read(files["customers"], _customer, "customer_number", held)]
    mats = [{**r, "updated_at": now} for r in _read(files["materials"], _material, "material", held)]
    prices = [{**r, "updated_at": now} for r in _read(files["prices"], _price, "material", held)]
    plant_file = folder / "material_plants.csv"
    plant_rows = (
        [{**r, "updated_at": now} for r in _read(plant_file, _material_plant, "material", held)]
        if plant_file.exists()
        else None
    )
    history_file = folder / "consumption_history.csv"
    history_rows = (
        [{**r, "updated_at": now} for r in _read(history_file, _consumption, "material", held)]
        if history_file.exists()
        else None
    )
    with engine.begin() as conn:
        upsert(conn, customers, cust, key=("customer_number",))
        upsert(conn, materials, mats, key=("material",))
        listed = {m["material"] for m in mats}
        if listed:
            conn.execute(update(materials).where(materials.c.material.not_in(listed)).values(active=False))
        conn.execute(delete(price_list))
        upsert(conn, price_list, prices, key=("material", "currency", "valid_from"))
        if plant_rows is not None:
            conn.execute(delete(material_plants))
            upsert(conn, material_plants, plant_rows, key=("material", "plant"))
        if history_rows is not None:
            conn.execute(delete(consumption_history))
            upsert(conn, consumption_history, history_rows, key=("material", "plant", "month"))
        quarantine.supersede(conn, STAGE, SOURCE)
        quarantine.add(conn, held, run_id)
    return {
        "customers": len(cust),
        "materials": len(mats),
        "prices": len(prices),
        "material_plants": len(plant_rows or []),
        "consumption_history": len(history_rows or []),
        "quarantined": len(held),
    }
