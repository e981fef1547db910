"""What every long-running Ferry process opens before it takes work: the database (migrated
to the current schema), its threads, the blob store, the shared cache's bucket, and the
kept store over them. ``ferry serve`` and ``ferry worker`` open the same parts the same way,
so a worker runs a task step against exactly what a replica would have.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.artifacts import ArtifactRepository
from ferry.db.catalog import CatalogRepository
from ferry.db.engine import make_engine, make_sessionmaker, upgrade
from ferry.db.packages import PackageRepository
from ferry.db.repository import TaskRepository
from ferry.db.threads import DbThreads
from ferry.settings import Settings
from ferry.store.blob import BlobStore, open_blob_store, open_bucket
from ferry.store.kept import KeptStore

__all__ = ["Parts", "open_parts"]


@dataclass(frozen=True)
class Parts:
    engine: Engine
    sessions: sessionmaker[Session]
    tasks: TaskRepository
    db: DbThreads
    blobs: BlobStore
    shared: BlobStore | None  # the shared cache's bucket, when there is one
    kept: KeptStore
    artifacts: ArtifactRepository
    catalog: CatalogRepository


@asynccontextmanager
async def open_parts(settings: Settings) -> AsyncIterator[Parts]:
    """The parts, opened (a wrong bucket or endpoint stops the start, not the first
    upload); closed in the reverse order when the block ends."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        tasks = TaskRepository(sessions)
        db = DbThreads()
        async with AsyncExitStack() as stack:
            blobs = await stack.enter_async_context(open_blob_store(settings))
            shared = await open_bucket(settings)
            if shared is not None:
                stack.push_async_callback(shared.aclose)
            artifacts = ArtifactRepository(sessions)
            catalog = CatalogRepository(sessions)
            kept = KeptStore(
                blobs, PackageRepository(sessions), tasks, db, artifacts=artifacts, catalog=catalog
            )
            yield Parts(engine, sessions, tasks, db, blobs, shared, kept, artifacts, catalog)
    finally:
        engine.dispose()
