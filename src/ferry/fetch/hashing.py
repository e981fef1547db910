"""The digest of a download, computed while its bytes arrive, off the event loop.

Bytes that land exactly where the hash will continue are kept in memory (up to a cap) and
hashed by a worker thread as they come: a single stream never reads its file back, and
``hashlib`` releases the GIL for large updates, so hashing runs in parallel with the
network instead of between reads. Bytes that land further on (the later pieces of a
segmented download, what a previous run left on disk, or anything past the memory cap)
are read back by the same worker once the gap before them is filled. They were written
moments ago, so the reads come from the page cache. By the time the last byte arrives, the
hash is nearly done instead of starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from ferry.fetch.partial import PartialFile

__all__ = ["FollowingHash"]

_READ = 4 << 20
_INLINE_UNTIL = 2 << 20
# Chunks waiting for the worker; past this the hash falls back to reading the file back,
# so a slow disk or CPU can never make a download's memory grow.
_MEMORY_CAP = 4 << 20


class FollowingHash:
    """The running hash of ``partial`` from byte 0 up to :attr:`pos`."""

    def __init__(self, partial: PartialFile, algorithm: str) -> None:
        self.partial = partial
        self.algorithm = algorithm
        self._hasher = hashlib.new(algorithm)
        self.pos = 0
        self._memory: list[bytes | memoryview] = []
        self._memory_bytes = 0
        # The offset the next chunk must be written at to be hashed from memory.
        self._memory_end = 0
        # Bumped by restart(): work still running for the old bytes is dropped.
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._buffer: memoryview | None = None

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        """Bytes just written at ``offset``; hashed now or by the worker soon."""
        if offset == self.pos and self.pos < _INLINE_UNTIL and self._idle():
            # The first megabytes of a file are hashed on the spot: for the small files
            # that make up most batches, a thread hop per chunk costs more than the hash.
            self._hasher.update(data)
            self.pos += len(data)
            self._memory_end = self.pos
            return
        if offset == self._memory_end and self._memory_bytes < _MEMORY_CAP:
            self._memory.append(data)
            self._memory_bytes += len(data)
            self._memory_end += len(data)
        self._kick()

    def _idle(self) -> bool:
        return not self._memory and (self._task is None or self._task.done())

    def catch_up(self) -> None:
        """Start hashing bytes already on disk beyond :attr:`pos` (a resumed download)."""
        self._kick()

    def restart(self) -> None:
        """The partial file was reset: start over from byte 0."""
        self._hasher = hashlib.new(self.algorithm)
        self.pos = 0
        self._memory = []
        self._memory_bytes = 0
        self._memory_end = 0
        self._generation += 1

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            generation, hasher = self._generation, self._hasher
            if self._memory:
                chunks, size = self._memory, self._memory_bytes
                self._memory, self._memory_bytes = [], 0
                await asyncio.to_thread(_hash_chunks, hasher, chunks)
                if generation == self._generation:
                    self.pos += size
                continue
            end = self.partial.contiguous_end(self.pos)
            if end <= self.pos:
                return
            start = self.pos
            # Chunks written from here on at `end` continue the hash from memory.
            self._memory_end = end
            try:
                await asyncio.to_thread(self._hash_range, hasher, start, end)
            except OSError:
                if generation == self._generation:
                    raise
            if generation == self._generation:
                self.pos = end

    def _hash_range(self, hasher: hashlib._Hash, start: int, end: int) -> None:
        # One buffer, reused: allocating a fresh 4 MiB object per read let the allocator's
        # arenas (this runs in a worker thread) grow with the length of the download.
        if self._buffer is None:
            self._buffer = memoryview(bytearray(_READ))
        buffer = self._buffer
        offset = start
        while offset < end:
            n = self.partial.read_into(buffer[: min(_READ, end - offset)], offset)
            if not n:
                raise OSError(f"{self.partial.path} is shorter than expected at {offset}")
            hasher.update(buffer[:n])
            offset += n

    async def hexdigest(self) -> str:
        """Finish: hash whatever is still behind, then return the digest of the whole."""
        while True:
            if self._task is not None:
                task, self._task = self._task, None
                await task
            if self._memory or self.partial.contiguous_end(self.pos) > self.pos:
                self._kick()
                continue
            break
        if self.partial.total is not None and self.pos != self.partial.total:
            raise OSError(f"{self.partial.path}: hashed {self.pos} bytes of {self.partial.total}")
        return self._hasher.hexdigest()

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task
        self._task = None


def _hash_chunks(hasher: hashlib._Hash, chunks: list[bytes | memoryview]) -> None:
    for chunk in chunks:
        hasher.update(chunk)
