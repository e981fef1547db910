"""Torrents made when first needed: the first ask for a file's torrent reads its blob once
(SHA-1 of each piece) and keeps the info dictionary; every later ask reads the row.

Made on demand rather than at publish: an import or a pull of a model brings tens of
gigabytes whose torrents may never be asked for, and a torrent made late is the same
torrent (the same bytes and piece length make the same info hash). A publish starts them
in the background all the same, so the first node does not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import weakref
from collections.abc import Iterable

from ferry.db.catalog import FileRecord, ModelRecord, VersionRecord
from ferry.db.repository import utcnow
from ferry.db.threads import DbThreads
from ferry.db.torrents import TorrentRecord, TorrentRepository
from ferry.p2p.torrent import make_info
from ferry.store.blob import BlobKey
from ferry.store.blob.interface import BlobStore

__all__ = ["TorrentMaker"]

log = logging.getLogger(__name__)


class TorrentMaker:
    def __init__(
        self, torrents: TorrentRepository, blobs: BlobStore, db: DbThreads, min_size: int
    ) -> None:
        self.torrents = torrents
        self.blobs = blobs
        self.db = db
        self.min_size = min_size
        self._locks: weakref.WeakValueDictionary[tuple[str, ...], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._background: set[asyncio.Task[None]] = set()

    def wanted(self, f: FileRecord) -> bool:
        """Files worth a swarm: small ones come faster over one HTTP request."""
        return f.size >= self.min_size

    async def ensure(
        self, model: ModelRecord, version: VersionRecord, f: FileRecord, *, owner: str
    ) -> TorrentRecord:
        key = (model.kind, model.model_id, version.commit, f.path)
        held = await self.db(self.torrents.get, *key)
        if held is not None:
            return held
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one read of the blob however many ask at once
            held = await self.db(self.torrents.get, *key)
            if held is not None:
                return held
            made = await make_info(
                posixpath.basename(f.path), f.size, self.blobs.read(BlobKey.sha256(f.sha256))
            )
            record = TorrentRecord(
                model.kind,
                model.model_id,
                version.commit,
                f.path,
                made.info_hash,
                f.sha256,
                f.size,
                made.piece_length,
                made.info,
                owner,
                utcnow(),
            )
            return await self.db.write(lambda: self.torrents.add(record))

    def start(
        self, model: ModelRecord, version: VersionRecord, files: Iterable[FileRecord], owner: str
    ) -> None:
        """Make the torrents of ``files`` in the background (a publish's)."""

        async def make() -> None:
            for f in files:
                if self.wanted(f):
                    try:
                        await self.ensure(model, version, f, owner=owner)
                    except Exception:  # made on demand later; the publish stands
                        log.exception(
                            "torrent of %s %s %s", model.model_id, version.version, f.path
                        )

        task = asyncio.create_task(make())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task
