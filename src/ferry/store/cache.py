"""The bundle cache's size: how much it holds, and least-recently-used eviction.

The cache is a :class:`~ferry.store.cas.ContentStore` of fetched files. A blob's mtime is
its last use: a blob's bytes never change, so the mtime is free to mean something else, and
:meth:`ContentStore.has` moves it forward when a lookup finds the blob (atime would do, but
most filesystems are mounted ``relatime`` or ``noatime``).

Eviction never takes a blob used within ``min_age`` seconds: a bundle under way (in this
process or another sharing the directory) found or fetched its files within that window
and still has to read them into its archive. Nothing else refers to a cached blob: the
package store and task archives keep their bytes in a store of their own
(:func:`ferry.store.blob.open_kept_store`), which eviction never sees.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ferry.store.cas import ALGORITHMS, ContentStore

__all__ = ["CacheEntry", "CacheUsage", "PruneResult", "entries", "prune", "usage"]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    path: Path
    size: int
    last_used: float


@dataclass(frozen=True, slots=True)
class CacheUsage:
    blobs: int
    bytes: int


@dataclass(frozen=True, slots=True)
class PruneResult:
    removed: int
    freed: int
    kept: CacheUsage
    # blobs over the cap that were spared because they were used within min_age
    spared: int


def entries(store: ContentStore) -> Iterator[CacheEntry]:
    """Every blob in the store, in no particular order."""
    for algorithm, length in ALGORITHMS.items():
        yield from _walk(store.root / algorithm, depth=2, length=length)


def usage(store: ContentStore) -> CacheUsage:
    count = total = 0
    for entry in entries(store):
        count += 1
        total += entry.size
    return CacheUsage(count, total)


def prune(
    store: ContentStore,
    max_bytes: int,
    *,
    min_age: float,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Remove the least recently used blobs until the store holds at most ``max_bytes``.

    Blobs used within ``min_age`` seconds stay even if the store is then still over the cap
    (counted in ``spared``). With ``dry_run`` nothing is removed and the result says what
    would have been.
    """
    found = sorted(entries(store), key=lambda e: e.last_used)
    total = sum(e.size for e in found)
    cutoff = (time.time() if now is None else now) - min_age
    removed = freed = spared = 0
    for entry in found:
        if total - freed <= max_bytes:
            break
        if entry.last_used > cutoff:
            # sorted by last use: every later entry is younger still
            spared = sum(1 for e in found if e.last_used > cutoff)
            break
        if not dry_run:
            # another pruner may have got there first: the bytes are gone all the same
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
        removed += 1
        freed += entry.size
    return PruneResult(removed, freed, CacheUsage(len(found) - removed, total - freed), spared)


def _walk(directory: Path, depth: int, length: int) -> Iterator[CacheEntry]:
    """``<aa>/<bb>/<hex>`` under ``directory``; anything else there is not a blob."""
    try:
        scan = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    with scan:
        for item in scan:
            if depth:
                if len(item.name) == 2 and item.is_dir(follow_symlinks=False):
                    yield from _walk(Path(item.path), depth - 1, length)
                continue
            if len(item.name) != length or not item.is_file(follow_symlinks=False):
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield CacheEntry(Path(item.path), st.st_size, st.st_mtime)
