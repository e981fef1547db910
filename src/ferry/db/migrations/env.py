"""Alembic's entry point, run by ``ferry.db.engine.upgrade`` and ``alembic_config`` users.

The connection (or URL) arrives through ``config.attributes``; there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ferry.db.engine import make_engine, migration_options


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **migration_options())
    # A no-op when upgrade() already holds a transaction (and the migration lock) open.
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no database: build the Config with ferry.db.engine.alembic_config")
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **migration_options())
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


main()
