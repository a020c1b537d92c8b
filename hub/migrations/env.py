"""Alembic environment: migrations run against the URL given by hub.db.upgrade()."""

from alembic import context

from hub.db import make_engine
from hub.schema import metadata

config = context.config


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # A batch ALTER on SQLite copies the table and drops the old one; with foreign keys on,
                # that DROP would cascade to the child rows (orders -> order_lines ON DELETE CASCADE).
                # The pragma only takes effect outside a transaction, so it is set before the first one.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            # render_as_batch lets ALTERs work on SQLite, which cannot alter columns in place.
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows without their parent: {broken[:10]}")
    finally:
        engine.dispose()


run_migrations()
