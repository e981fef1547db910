"""Engines, sessions and the schema's version, for SQLite and PostgreSQL alike.

Migrations ship inside the package (``ferry/db/migrations``) and Alembic is configured in
code, so ``upgrade`` works from an installed wheel with no ``alembic.ini``. To write a new
migration from a source checkout (editable install), upgrade a scratch database to head,
change the models, then::

    python -c "from alembic import command; from ferry.db.engine import alembic_config; \\
        command.revision(alembic_config('sqlite:////tmp/scratch.db'), 'what changed', \\
        rev_id='0002', autogenerate=True)"

and read (and ``ruff format``) what it writes into ``migrations/versions``.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, Connection, Engine, MetaData, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.models import Base

SCRIPT_LOCATION = "ferry.db:migrations"

# How long a SQLite writer waits for another one before giving up. Writes are short (one
# task row and one transition), so waiting beats failing a status change.
SQLITE_BUSY_TIMEOUT_MS = 15_000

# Any fixed 64-bit key: Ferry processes starting at once against one PostgreSQL database
# take turns migrating instead of racing to create the same tables.
_MIGRATION_LOCK_KEY = zlib.crc32(b"ferry.db.upgrade")


def make_engine(url: str | URL) -> Engine:
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        # A shared server restarts or drops idle connections; check before handing one out.
        return create_engine(url, pool_pre_ping=True)
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # The service calls the repository from worker threads (asyncio.to_thread); connections
    # come from the pool one thread at a time, so sqlite3's own thread check is only in
    # the way.
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Off by default in SQLite; ON DELETE CASCADE of transitions depends on it.
        cursor.execute("PRAGMA foreign_keys=ON")
        _use_wal(cursor)
        # In WAL mode NORMAL syncs at checkpoints rather than at every commit: a crash of
        # Ferry loses nothing, a power cut at most the last commits before it (never the
        # database's consistency). FULL cost a fsync per status change, and thirty tasks
        # created at once held every write behind sixty of them (bench/RESULTS.md).
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL: readers (the API listing tasks) never block the writer (a task moving on).

    Switching a new database to WAL needs it to itself, and SQLite answers "database is
    locked" at once, without its busy handler, when another connection is opening it at
    the same moment (two Ferry processes starting together: 1 start in 5 failed so). The
    mode is stored in the file, so only the first switch can meet this; it is retried.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Nothing reads ORM objects after commit (the repository returns plain records), and
    # expiring them would only cost a reload.
    return sessionmaker(engine, expire_on_commit=False)


def migration_options() -> dict[str, Any]:
    """What env.py and ``check_drift`` both tell Alembic, so they compare the same way."""
    return {
        "target_metadata": Base.metadata,
        "compare_type": True,
        # SQLite can't ALTER most things; batch mode (copy and swap the table) works on both.
        "render_as_batch": True,
    }


def alembic_config(url: str | URL | None = None, *, connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: the packaged scripts and where to apply them."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # Through attributes, not set_main_option: the ini parser would read the '%' of an
    # escaped URL (``?options=-csearch_path%3D...``) as interpolation.
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine_or_url: Engine | str | URL) -> None:
    """Bring the database to the newest schema. Idempotent: call it at every start."""
    if isinstance(engine_or_url, Engine):
        _upgrade(engine_or_url)
        return
    engine = make_engine(engine_or_url)
    try:
        _upgrade(engine)
    finally:
        engine.dispose()


def _upgrade(engine: Engine) -> None:
    # One transaction around the lock, the version check and every migration, so a second
    # process starting at the same moment waits, then finds the schema already at head.
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        elif connection.dialect.name == "sqlite":
            # pysqlite would only BEGIN at the first INSERT, after the tables exist; take
            # the write lock now so the migration is atomic and serialised.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(alembic_config(connection=connection), "head")


def check_drift(url: str | URL, metadata: MetaData | None = None) -> list[Any]:
    """Alembic's autogenerate diff between the database and the models: empty when the
    migrations (applied to ``url``) build exactly what the models describe.

    ``metadata`` stands in for the models (tests use it to prove drift is detected).
    """
    options = migration_options()
    models = options.pop("target_metadata")
    target = models if metadata is None else metadata
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=options)
            diff: list[Any] = compare_metadata(context, target)
            return diff
    finally:
        engine.dispose()
