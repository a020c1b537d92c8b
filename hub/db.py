"""Hub database: engine, URL resolution and migrations.

SQLite file by default (the embedded default of the demo), PostgreSQL by URL. The URL comes from
``$HUB_DATABASE_URL``, else the Airflow Connection ``hub_db`` (looked up by ``flows.connections``:
the core imports no Airflow), else the SQLite file in the output folder, so credentials stay in
Connections (DESIGN §3.6).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from hub import jsonable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
