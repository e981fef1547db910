"""Collecting the kept store's blobs that nothing references any more.

Rows follow blobs: a package or a task archive is recorded only after its bytes are
committed, and a row goes before its bytes. A crash between the two steps therefore leaves
bytes without a row, never a row without bytes; :func:`collect` removes those.

Two guards keep it from taking bytes a writer is about to record:
- age: a blob stored (or, on disk, last found by a writer) within ``min_age`` seconds
  stays; a writer records its row within moments of its commit;
- the per-digest lock every writer and deleter of this process holds around "commit,
  check, record" and "unrecord, check, delete" (:class:`BlobLocks`); the collector takes
  it too and asks the database again under it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from weakref import WeakValueDictionary

from ferry.store.blob.interface import BlobKey, BlobStore

__all__ = ["BlobLocks", "CollectResult", "collect"]


class BlobLocks:
    """One lock per blob key, shared by everything in this process that records or
    removes a reference to a kept blob."""

    def __init__(self) -> None:
        self._locks: WeakValueDictionary[BlobKey, asyncio.Lock] = WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, key: BlobKey) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield


@dataclass(frozen=True, slots=True)
class CollectResult:
    removed: int
    freed: int
    kept: int
    # unreferenced, but too young to be sure nobody is about to record them
    young: int


async def collect(
    blobs: BlobStore,
    referenced: Callable[[], Awaitable[set[BlobKey]]],
    is_referenced: Callable[[BlobKey], Awaitable[bool]],
    locks: BlobLocks,
    *,
    min_age: float,
    dry_run: bool = False,
    now: float | None = None,
) -> CollectResult:
    """Remove every blob older than ``min_age`` that no row names.

    ``referenced`` is read after the listing, so a row recorded while the store was being
    listed is seen; ``is_referenced`` asks again for each candidate, under its lock.
    """
    listed = [info async for info in blobs.iter_blobs()]
    named = await referenced()
    cutoff = (time.time() if now is None else now) - min_age
    removed = freed = young = 0
    for info in listed:
        if info.key in named:
            continue
        if info.modified is None or info.modified > cutoff:
            young += 1
            continue
        async with locks.hold(info.key):
            if await is_referenced(info.key):
                continue
            if not dry_run:
                await blobs.delete(info.key)
        removed += 1
        freed += info.size
    return CollectResult(removed, freed, len(listed) - removed, young)
