"""The ERP master-data extract import: snapshot semantics, bad rows quarantined by file, line, field."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from flows.master_data_sync import import_extract
from hub.schema import customers, materials, price_list, quarantine
from sandbox.consumption_history import consumption_rows
from sandbox.erp_extract import write_extract
from sandbox.seed_data import generate

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def seed():
    return generate(3, 60, NOW)


def _rewrite(path, edit):  # noqa: ANN001
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    rows = edit(rows)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def test_sandbox_extract_imports_completely(hub_db, seed, tmp_path):
    counts = import_extract(hub_db, write_extract(seed, tmp_path), "r1")
    assert counts == {
        "customers": len(seed.customers),
        "materials": len(seed.materials),
        "prices": sum(len(p.prices) for p in seed.price_lists),
        "material_plants": len(seed.stock),  # one row per material and plant the seed stocks
        "consumption_history": len(consumption_rows(seed)),  # 24 months of every pair that consumed
        "quarantined": 0,
    }
    c = seed.customers[0]
    with hub_db.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.customer_number == c.number)).one()
        assert (row.credit_limit, row.blocked, row.currency) == (c.credit_limit, c.blocked, c.currency)
        m = seed.materials[0]
        mat = conn.execute(select(materials).where(materials.c.material == m.number)).one()
        assert (mat.moq, mat.pack_size, mat.active) == (m.moq, m.pack_size, True)


def test_bad_rows_are_quarantined_by_file_line_and_field(hub_db, seed, tmp_path):
    folder = write_extract(seed, tmp_path)

    def break_customers(rows):  # noqa: ANN001, ANN202
        rows[0]["credit_limit"] = "lots"
        rows[1]["currency"] = "XYZ"
        rows[2]["blocked"] = "maybe"
        return rows

    def break_prices(rows):  # noqa: ANN001, ANN202
        rows[0]["valid_to"] = "2020-01-01"
        return rows

    _rewrite(folder / "customers.csv", break_customers)
    _rewrite(folder / "prices.csv", break_prices)
    counts = import_extract(hub_db, folder, "r1")
    assert counts["quarantined"] == 4 and counts["customers"] == len(seed.customers) - 3
    with hub_db.connect() as conn:
        held = {r.field: r for r in conn.execute(select(quarantine).where(quarantine.c.status == "open"))}
    assert set(held) == {"credit_limit", "currency", "blocked", "valid_to"}
    assert held["credit_limit"].detail.startswith("customers.csv line 2: credit_limit 'lots' is not a number")
    assert held["credit_limit"].record_key == f"customers.csv:2:{seed.customers[0].number}"

    # The next extract has the rows fixed: their quarantine rows are resolved.
    import_extract(hub_db, write_extract(seed, tmp_path), "r2")
    with hub_db.connect() as conn:
        assert conn.execute(select(func.count()).where(quarantine.c.status == "open")).scalar_one() == 0


def test_materials_left_out_of_a_snapshot_become_inactive(hub_db, seed, tmp_path):
    import_extract(hub_db, write_extract(seed, tmp_path), "r1")
    folder = tmp_path / "next"
    write_extract(seed, folder)
    dropped = seed.materials[-1].number
    _rewrite(folder / "materials.csv", lambda rows: [r for r in rows if r["material"] != dropped])
    import_extract(hub_db, folder, "r2")
    with hub_db.connect() as conn:
        assert conn.execute(select(materials.c.active).where(materials.c.material == dropped)).scalar_one() is False
        assert conn.execute(select(func.count()).select_from(price_list)).scalar_one() > 0
        price = conn.execute(
            select(price_list.c.price).where(
                price_list.c.material == seed.materials[0].number, price_list.c.currency == "CNY"
            )
        ).scalar_one()
    assert price == seed.materials[0].list_prices["CNY"] and isinstance(price, Decimal)


def test_an_incomplete_extract_is_refused(hub_db, seed, tmp_path):
    folder = write_extract(seed, tmp_path)
    (folder / "prices.csv").unlink()
    with pytest.raises(FileNotFoundError, match="prices.csv"):
        import_extract(hub_db, folder)
