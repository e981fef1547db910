"""What Ferry keeps (packages, task archives, imported registry files) and which rows name
each kept blob.

One :class:`KeptStore` per process: the blob store of kept things, the per-digest locks
that writers, deleters and the collector share, and the database's answer to "does any
row still name this blob". Package rows and task rows both reference blobs by key; a blob
goes when the last row naming it goes (:meth:`release`), or, if a crash came in between,
at the next :meth:`collect`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from ferry.db.artifacts import ArtifactRepository
from ferry.db.catalog import CatalogRepository
from ferry.db.packages import PackageRepository
from ferry.db.repository import TaskRepository
from ferry.db.threads import DbThreads
from ferry.store.blob.interface import BlobKey, BlobStore
from ferry.store.gc import BlobLocks, CollectResult, collect

if TYPE_CHECKING:
    from ferry.settings import Settings

__all__ = ["KeptStore", "open_local_kept"]


class KeptStore:
    def __init__(
        self,
        blobs: BlobStore,
        packages: PackageRepository,
        tasks: TaskRepository,
        db: DbThreads,
        locks: BlobLocks | None = None,
        artifacts: ArtifactRepository | None = None,
        catalog: CatalogRepository | None = None,
    ) -> None:
        self.blobs = blobs
        self.locks = locks or BlobLocks()
        self.packages = packages
        self.tasks = tasks
        # the far side's registries (ferry import): their files and wheels' METADATA
        self.artifacts = artifacts
        # the model catalog: published versions' files and uploads awaiting their publish
        self.catalog = catalog
        self._db = db

    @property
    def db(self) -> DbThreads:
        return self._db

    async def referenced(self) -> set[BlobKey]:
        digests = await self._db(self.packages.digests)
        archives = await self._db(self.tasks.archive_keys)
        if self.artifacts is not None:
            digests |= await self._db(self.artifacts.digests)
        if self.catalog is not None:
            digests |= await self._db(self.catalog.digests)
        keys = {BlobKey.sha256(d) for d in digests}
        for text in archives:
            try:
                keys.add(BlobKey.parse(text))
            except ValueError:
                continue  # not a key this version writes: nothing to protect under it
        return keys

    async def is_referenced(self, key: BlobKey) -> bool:
        if key.algorithm == "sha256":
            if await self._db(self.packages.references, key.digest) > 0:
                return True
            for named in (self.artifacts, self.catalog):
                if named is not None and await self._db(named.references, key.digest) > 0:
                    return True
        return bool(await self._db(self.tasks.archive_references, str(key)))

    async def release(self, key: BlobKey) -> bool:
        """Remove the blob unless a row still names it (call after removing one); True if
        it went."""
        async with self.locks.hold(key):
            if await self.is_referenced(key):
                return False
            await self.blobs.delete(key)
            return True

    async def collect(self, *, min_age: float, dry_run: bool = False) -> CollectResult:
        return await collect(
            self.blobs,
            self.referenced,
            self.is_referenced,
            self.locks,
            min_age=min_age,
            dry_run=dry_run,
        )


@asynccontextmanager
async def open_local_kept(settings: Settings) -> AsyncIterator[KeptStore]:
    """The kept store of a data directory with its database, for commands run beside the
    service (``ferry import``, ``ferry cache prune``): the same rows, the same bytes."""
    from ferry.db.engine import make_engine, make_sessionmaker, upgrade
    from ferry.store.blob import open_blob_store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    db = DbThreads()
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        async with open_blob_store(settings) as blobs:
            yield KeptStore(
                blobs,
                PackageRepository(sessions),
                TaskRepository(sessions),
                db,
                artifacts=ArtifactRepository(sessions),
                catalog=CatalogRepository(sessions),
            )
    finally:
        db.close()
        engine.dispose()
