"""The database fixtures give real, empty, isolated databases on both backends."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from devtools.testrun import DIR_PREFIX, PROJECT_ROOT, fresh_database, libpq_url, server_version

CONFTEST = PROJECT_ROOT / "tests" / "conftest.py"
DIALECT = {"sqlite": "sqlite", "postgres": "postgresql"}


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _databases(pg_url: str) -> set[str]:
    with psycopg.connect(libpq_url(pg_url)) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def test_pg_url_is_a_real_postgresql_server(pg_url: str) -> None:
    with psycopg.connect(libpq_url(pg_url)) as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
    assert version.startswith("PostgreSQL ")
    major = int(server_version(pg_url).split(".")[0])
    assert major >= 16, version
    if DIR_PREFIX in make_url(pg_url).query.get("host", ""):
        # The embedded server make test starts is PostgreSQL 18.
        assert major == 18, version
        assert "PostgreSQL 18" in version


def test_fresh_pg_url_is_a_new_empty_database(fresh_pg_url: str, pg_url: str) -> None:
    name = make_url(fresh_pg_url).database
    assert name.startswith("hub_test_")
    assert name != make_url(pg_url).database
    assert make_url(fresh_pg_url).drivername == "postgresql+psycopg"
    assert _tables(fresh_pg_url) == []


def test_fresh_databases_are_isolated_and_dropped_even_with_open_connections(pg_url: str) -> None:
    with fresh_database(pg_url) as first, fresh_database(pg_url) as second:
        assert first != second
        engine = create_engine(first)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe (id integer PRIMARY KEY)"))
        assert _tables(first) == ["probe"]
        assert _tables(second) == []
        # Left open on purpose: dropping must not wait for a test's forgotten connection.
        forgotten = engine.connect()
        forgotten.execute(text("SELECT 1"))
    names = _databases(pg_url)
    assert make_url(first).database not in names
    assert make_url(second).database not in names
    forgotten.invalidate()
    engine.dispose()


def test_sqlite_url_is_a_new_file_in_the_test_tmp_path(sqlite_url: str, tmp_path: Path) -> None:
    assert sqlite_url == f"sqlite:///{tmp_path / 'hub.sqlite'}"
    assert not (tmp_path / "hub.sqlite").exists()
    assert _tables(sqlite_url) == []


def test_db_url_gives_an_empty_database_of_its_kind(db_url: str, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.id
    assert make_url(db_url).get_backend_name() == DIALECT[kind]
    assert _tables(db_url) == []


def test_db_url_runs_each_test_once_per_backend(pytester: pytest.Pytester, pg_url: str) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        test_probe="""
        def test_probe(db_url):
            assert db_url
        """
    )
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_probe[[]sqlite[]] PASSED*", "*test_probe[[]postgres[]] PASSED*"])


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head(engine: Engine) -> str:
    from hub.db import alembic_config

    head = ScriptDirectory.from_config(
        alembic_config(engine.url.render_as_string(hide_password=False))
    ).get_current_head()
    assert head is not None
    return head


def test_hub_db_is_migrated_to_head_on_each_backend(hub_db: Engine, request: pytest.FixtureRequest) -> None:
    assert hub_db.dialect.name == DIALECT[request.node.callspec.id]
    assert _revision(hub_db) == _head(hub_db)
    assert len(inspect(hub_db).get_table_names()) > 1


def test_pg_hub_db_is_a_migrated_postgresql_database(pg_hub_db: Engine, pg_url: str) -> None:
    assert pg_hub_db.dialect.name == "postgresql"
    assert pg_hub_db.url.database != make_url(pg_url).database
    assert _revision(pg_hub_db) == _head(pg_hub_db)
