from datetime import UTC, datetime

from sqlalchemy import select

from hub.bulk import upsert
from hub.schema import quarantine, sync_cursors

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _cursor_rows(n: int, value: str):
    return ({"source": "zoho_crm", "stream": f"s{i:06d}", "cursor_value": value, "updated_at": T0} for i in range(n))


def test_upsert_inserts_then_updates_across_chunks(hub_db):
    with hub_db.begin() as conn:
        assert upsert(conn, sync_cursors, _cursor_rows(2_500, "a"), key=("source", "stream"), chunk_size=1_000) == 2_500
    with hub_db.begin() as conn:
        upsert(conn, sync_cursors, _cursor_rows(3_000, "b"), key=("source", "stream"), chunk_size=1_000)
    with hub_db.connect() as conn:
        values = conn.execute(select(sync_cursors.c.cursor_value)).scalars().all()
    assert len(values) == 3_000
    assert set(values) == {"b"}


def test_last_row_wins_when_a_chunk_repeats_a_key(hub_db):
    rows = [
        {"source": "fxiaoke", "stream": "orders", "cursor_value": "first", "updated_at": T0},
        {"source": "fxiaoke", "stream": "orders", "cursor_value": "second", "updated_at": T0},
    ]
    with hub_db.begin() as conn:
        upsert(conn, sync_cursors, rows, key=("source", "stream"))
    with hub_db.connect() as conn:
        assert conn.execute(select(sync_cursors.c.cursor_value)).scalar_one() == "second"


def test_json_and_unicode_survive_the_copy_path(hub_db):
    payload = {"name": "上海汽配贸易有限公司 🚗", "price": "12.50", "nested": {"a": [1, 2]}}
    row = {
        "stage": "raw_crm_orders",
        "source": "zoho_crm",
        "record_key": "SO-1",
        "error_class": "DataQuality",
        "field": "price",
        "detail": "tab\tand\nnewline and \\ backslash",
        "expectations": ["x"],
        "payload": payload,
        "status": "open",
        "run_id": "r1",
        "created_at": T0,
        "updated_at": T0,
    }
    with hub_db.begin() as conn:
        upsert(conn, quarantine, [row], key=("stage", "source", "record_key"))
    with hub_db.connect() as conn:
        got = conn.execute(select(quarantine)).one()
    assert got.payload == payload
    assert got.detail == row["detail"]
