"""Bulk upsert into a keyed table, by the fastest path each database offers (DESIGN §6).

PostgreSQL: COPY each chunk into a temporary staging table, then one set-based
``INSERT … SELECT … ON CONFLICT DO UPDATE``. SQLite: ``executemany`` of ``INSERT … ON CONFLICT``.
Rows arrive as an iterable and are consumed chunk by chunk, so memory stays flat with volume.

Text a database cannot hold is made storable on the way in, the same on both databases: a NUL
(PostgreSQL TEXT and JSONB refuse it, so one NUL in one CRM description failed a whole pull's COPY)
and an unpaired surrogate (not UTF-8) become U+FFFD, in text columns and inside JSON documents,
with a warning naming the table. The record is kept, the others are not blocked, and the change
stays visible: the gates refuse U+FFFD in identifiers (quality/limits.py), so an order number that
held a NUL is quarantined; a free text keeps the mark.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, column, or_, select, text
from sqlalchemy import table as table_clause
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.types import JSON

from hub import jsonable

DEFAULT_CHUNK = 20_000
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

log = logging.getLogger(__name__)


def storable(value: Any) -> Any:
    """``value`` with every NUL and unpaired surrogate in its strings (keys too, at any depth) → U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, Mapping):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, Mapping):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable(v) for v in value)
    return False


def _make_storable(table: Table, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunk with unstorable text replaced (see the module doc); a warning when any was."""
    fixed = 0
    out = []
    for row in chunk:
        bad = [c for c, v in row.items() if _unstorable(v)]
        if bad:
            fixed += 1
            row = {**row, **{c: storable(row[c]) for c in bad}}
        out.append(row)
    if fixed:
        log.warning(
            "%s: %d rows held NUL or unpaired surrogates, stored as U+FFFD (no database text can hold them)",
            table.name,
            fixed,
        )
    return out


def chunked(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[dict[str, Any]],
    key: Sequence[str],
    *,
    update: Sequence[str] | None = None,
    ignore: frozenset[str] = frozenset({"updated_at", "run_id"}),
    chunk_size: int = DEFAULT_CHUNK,
) -> int:
    """Insert ``rows`` into ``table`` or update the row with the same ``key``; return rows written.

    ``update`` names the columns an existing row takes from the new one (default: every non-key
    column present in the rows). An existing row is only rewritten when a column outside ``ignore``
    (bookkeeping such as ``updated_at``) differs, so re-running a load leaves the database exactly as
    it was. Rows must all carry the same columns.
    """
    total = 0
    pg = conn.dialect.name == "postgresql"
    for chunk in chunked(rows, chunk_size):
        # The last row wins when a chunk holds one key twice (ON CONFLICT cannot touch a row twice).
        key_of = itemgetter(*key)
        chunk = _make_storable(table, list({key_of(r): r for r in chunk}.values()))
        columns = list(chunk[0])
        to_update = [c for c in (update or columns) if c not in key]
        if pg:
            _pg_copy_upsert(conn, table, chunk, columns, key, to_update, ignore)
        else:
            stmt = sqlite_insert(table)
            stmt = _on_conflict(stmt, table, key, to_update, ignore)
            conn.execute(stmt, chunk)
        total += len(chunk)
    return total


def _on_conflict(stmt, target: Table, key: Sequence[str], to_update: Sequence[str], ignore: frozenset[str]):  # noqa: ANN001, ANN202
    if not to_update:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    compared = [c for c in to_update if c not in ignore] or list(to_update)
    changed = or_(*(target.c[c].is_distinct_from(stmt.excluded[c]) for c in compared))
    return stmt.on_conflict_do_update(
        index_elements=list(key), set_={c: stmt.excluded[c] for c in to_update}, where=changed
    )


def _to_json(value: Any) -> str | None:
    return None if value is None else jsonable.dumps(value)


def _pg_copy_upsert(
    conn: Connection,
    target: Table,
    chunk: list[dict[str, Any]],
    columns: list[str],
    key: Sequence[str],
    to_update: Sequence[str],
    ignore: frozenset[str],
) -> None:
    staging = f"_stg_{target.name}"
    # LIKE copies column types, so COPY's text values are parsed exactly as the target would.
    conn.execute(
        text(f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" (LIKE "{target.name}" INCLUDING DEFAULTS) ON COMMIT DROP')
    )
    conn.execute(text(f'TRUNCATE "{staging}"'))
    json_cols = [c for c in columns if isinstance(target.c[c].type, JSON)]
    values_of = itemgetter(*columns) if len(columns) > 1 else lambda r: (r[columns[0]],)
    col_list = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection  # psycopg 3 connection in the same transaction
    with raw.cursor() as cur, cur.copy(f'COPY "{staging}" ({col_list}) FROM STDIN') as copy:
        for row in chunk:
            if json_cols:
                row = {**row, **{c: _to_json(row[c]) for c in json_cols}}
            copy.write_row(values_of(row))
    source = select(*[column(c) for c in columns]).select_from(table_clause(staging))
    stmt = pg_insert(target).from_select(columns, source)
    stmt = _on_conflict(stmt, target, key, to_update, ignore)
    conn.execute(stmt)
