"""The migrations build exactly the schema in hub/schema.py, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from hub.db import current_revision, upgrade
from hub.schema import metadata


def test_upgrade_reaches_head_and_matches_the_models(hub_db):
    with hub_db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"hub/schema.py and the migrations disagree: {diff}"
    assert set(inspect(hub_db).get_table_names()) >= set(metadata.tables)


def test_upgrade_twice_is_a_no_op(hub_db):
    url = hub_db.url.render_as_string(hide_password=False)
    before = current_revision(url)
    upgrade(url)
    assert current_revision(url) == before is not None
