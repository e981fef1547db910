"""The digest of a download, computed while its bytes arrive.

Bytes that land exactly where the hash has got to are hashed from memory as they pass
(a single stream never reads its file back). Bytes that land further on (the later pieces
of a segmented download, or what a previous run left on disk) are read back by a thread
as soon as the gap before them is filled, while the download goes on. They were written
moments ago, so the reads come from the page cache, and ``hashlib`` releases the GIL for
them: by the time the last byte arrives, the hash is nearly done instead of starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from ferry.fetch.partial import PartialFile

__all__ = ["FollowingHash"]

_READ = 4 << 20


class FollowingHash:
    """The running hash of ``partial`` from byte 0 up to :attr:`pos`."""

    def __init__(self, partial: PartialFile, algorithm: str) -> None:
        self.partial = partial
        self.algorithm = algorithm
        self._hasher = hashlib.new(algorithm)
        self.pos = 0
        self._reading = False
        # Bumped by restart(): a read-back still running for the old bytes is dropped.
        self._generation = 0
        self._task: asyncio.Task[None] | None = None

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        """Bytes just written at ``offset``: hashed now if they extend the hash."""
        if offset == self.pos and not self._reading:
            self._hasher.update(data)
            self.pos += len(data)
        else:
            self._kick()

    def catch_up(self) -> None:
        """Start hashing, in the background, bytes already on disk beyond :attr:`pos`."""
        self._kick()

    def restart(self) -> None:
        """The partial file was reset: start over from byte 0."""
        self._hasher = hashlib.new(self.algorithm)
        self.pos = 0
        self._generation += 1

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            end = self.partial.contiguous_end(self.pos)
            if end <= self.pos:
                return
            generation, hasher = self._generation, self._hasher
            self._reading = True
            try:
                await asyncio.to_thread(self._hash_range, hasher, self.pos, end)
            except OSError:
                if generation == self._generation:
                    raise
            finally:
                self._reading = False
            if generation == self._generation:
                self.pos = end
            # else: reset meanwhile, those bytes are gone; start again from the new pos

    def _hash_range(self, hasher: hashlib._Hash, start: int, end: int) -> None:
        offset = start
        while offset < end:
            data = self.partial.read(offset, min(_READ, end - offset))
            if not data:
                raise OSError(f"{self.partial.path} is shorter than expected at {offset}")
            hasher.update(data)
            offset += len(data)

    async def hexdigest(self) -> str:
        """Finish: hash whatever is still behind, then return the digest of the whole."""
        while True:
            if self._task is not None:
                task, self._task = self._task, None
                await task
            end = self.partial.contiguous_end(self.pos)
            if end <= self.pos:
                break
            self._kick()
        if self.partial.total is not None and self.pos != self.partial.total:
            raise OSError(f"{self.partial.path}: hashed {self.pos} bytes of {self.partial.total}")
        return self._hasher.hexdigest()

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task
        self._task = None
