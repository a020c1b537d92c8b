"""Hub database: engine, URL resolution and migrations.

SQLite file by default (the embedded default of the demo), PostgreSQL by URL. The URL comes from
``$HUB_DATABASE_URL``, else the Airflow Connection ``hub_db`` (looked up by ``flows.connections``:
the core imports no Airflow), else the SQLite file in the output folder, so credentials stay in
Connections (DESIGN §3.6).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from hub import jsonable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Keys per IN list. A statement binds at most 65,535 values on PostgreSQL (the wire protocol counts
# them in 16 bits) and 32,766 on SQLite before 3.32 (250,000 since; SQLITE_MAX_VARIABLE_NUMBER is
# a compile option), so a list that grows with the data (open orders, deliveries, record keys) is
# bound this many at a time: a key of three columns binds 15,000 values, under every limit with room
# for the statement's own parameters. Bulk writes go by COPY or executemany (hub/bulk.py), not here.
KEY_CHUNK = 5_000

K = TypeVar("K")


def in_chunks(keys: Iterable[K], size: int = KEY_CHUNK) -> Iterator[list[K]]:
    """``keys`` without repeats, in their order, ``size`` at a time: each list is bound to one IN.

    Every statement that names a list growing with the data binds it through this, whatever the
    backlog; an empty ``keys`` yields nothing (no statement is run).
    """
    distinct = list(dict.fromkeys(keys))
    for start in range(0, len(distinct), size):
        yield distinct[start : start + size]


def pairs_in(first: Any, second: Any, chunk: Iterable[tuple[Any, Any]]) -> Any:
    """``(first, second) IN chunk`` written as ``first = a AND second IN (…)`` per distinct ``a``, OR'ed
    (an order key: a handful of sources, many ids). Same values bound, but PostgreSQL hashes a plain
    IN list and both databases look the rows up by the key's index; a row-value IN list is compared
    row by row on PostgreSQL (70,000 keys: 80 s → well under a second) and scanned on SQLite."""
    from sqlalchemy import and_, or_

    by_first: dict[Any, list[Any]] = {}
    for a, b in chunk:
        by_first.setdefault(a, []).append(b)
    return or_(*(and_(first == a, second.in_(bs)) for a, bs in by_first.items()))


def rows_in_chunks(conn: Any, keys: Iterable[K], statement: Callable[[list[K]], Any]) -> list[Any]:
    """The rows of ``statement(chunk)`` for every chunk of ``keys`` (:func:`in_chunks`), chunk after
    chunk: a statement ordered by its key columns comes back in order when ``keys`` are sorted."""
    return [row for chunk in in_chunks(keys) for row in conn.execute(statement(chunk))]


def count_in_chunks(conn: Any, keys: Iterable[K], statement: Callable[[list[K]], Any]) -> int:
    """The rows an UPDATE or DELETE ``statement(chunk)`` touched over every chunk of ``keys``."""
    return sum(conn.execute(statement(chunk)).rowcount for chunk in in_chunks(keys))


def utcnow() -> datetime:
    """Wall-clock time for bookkeeping columns only; business logic uses the run's interval."""
    return datetime.now(UTC)


def database_url(connection: Any | None = None) -> str:
    """The hub database URL: ``$HUB_DATABASE_URL``, then the ``hub_db`` Connection when the caller
    has one (``flows.connections.hub_database_url`` looks it up), then the embedded SQLite file."""
    if url := os.environ.get("HUB_DATABASE_URL"):
        return url
    if connection is not None:
        return connection_to_url(connection)
    from hub.settings import get_settings

    out = get_settings().output_dir
    out.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{out / 'hub.sqlite'}"


def connection_to_url(conn: Any) -> str:
    """Turn a ``hub_db`` Connection into an SQLAlchemy URL (postgres → psycopg 3 driver)."""
    if conn.conn_type in ("sqlite",):
        return f"sqlite:///{conn.host}"
    extra = conn.extra_dejson or {}
    if "sqlalchemy_url" in extra:
        return extra["sqlalchemy_url"]
    url = make_url("postgresql+psycopg://").set(
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or "hub",
    )
    return url.render_as_string(hide_password=False)


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for the hub database with the settings each backend needs."""
    url = url or database_url()
    if make_url(url).get_backend_name() == "sqlite":
        # Several tasks may write at once in the demo; wait for the lock instead of failing.
        engine = create_engine(url, connect_args={"timeout": 60}, json_serializer=jsonable.dumps, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=jsonable.dumps, **kwargs)


def alembic_config(url: str):  # noqa: ANN201 - alembic.config.Config, imported lazily
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%': escape it so URL-encoded passwords survive.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (``hub db upgrade``)."""
    from alembic import command

    command.upgrade(alembic_config(url or database_url()), revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
