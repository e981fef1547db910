"""The part of a blob writer every backend shares: buffering, hashing, the commit protocol.

Bytes are gathered into a buffer of a fixed size (a backend's write unit: 1 MiB for a file,
the multipart part size for S3); each time it is full it is hashed in a worker thread while
the backend stores it, and then filled again. So memory stays at about one buffer per
writer however large the blob, and the event loop never hashes megabytes itself.

A backend whose buffers are small (the local disk's) asks for two (``overlap``): while one
is hashed and stored, the caller goes on filling the other, so receiving, hashing and
writing run side by side instead of taking turns. Never more than one buffer is in flight,
so the hash still sees the bytes in order and memory stays at two buffers.

The buffer starts small and grows by doubling only up to :data:`_GROW_LIMIT`; past that it
is allocated once at its full size and reused for every part. Growing it all the way would
copy it at every step and hold old and new copies at once; allocating the full size at
once would cost a 16 MiB buffer for every 2 KiB wheel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from ferry.errors import IntegrityError
from ferry.store.blob.interface import BlobInfo, BlobKey, Bytes
from ferry.store.cas import ALGORITHMS

__all__ = ["StreamingWriter"]

_GROW_LIMIT = 1024 * 1024


class StreamingWriter(ABC):
    """Subclasses store the buffers (:meth:`_store`), then the blob (:meth:`_finish`)."""

    def __init__(
        self,
        *,
        buffer_size: int,
        location: str,
        expect: BlobKey | None = None,
        algorithm: str = "sha256",
        verify: bool = True,
        overlap: bool = False,
    ) -> None:
        algorithm = expect.algorithm if expect is not None else algorithm
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported digest algorithm {algorithm!r}")
        if not verify and expect is None:
            raise ValueError("an unverified write needs the expected key")
        self._buffer_size = buffer_size
        self._location = location
        self._expect = expect
        self._algorithm = algorithm
        # put_file's bytes were verified by the caller: hashing them again would only cost
        self._hasher = hashlib.new(algorithm) if verify else None
        self._buf = bytearray()
        self._fill = 0  # bytes of _buf in use (it may be allocated ahead)
        self._overlap = overlap
        # with overlap: the full buffer being hashed and stored, and the one it frees
        self._flushing: asyncio.Task[None] | None = None
        self._spare: bytearray | None = None
        self._size = 0
        self._state = "open"  # -> "committed" | "aborted" | "failed"
        self._deduplicated = False

    @property
    def size(self) -> int:
        return self._size

    @property
    def deduplicated(self) -> bool:
        return self._deduplicated

    async def write(self, data: Bytes) -> None:
        self._check_open()
        view = memoryview(data).cast("B")
        self._size += len(view)
        try:
            while view:
                take = min(len(view), self._buffer_size - self._fill)
                end = self._fill + take
                if end > len(self._buf):
                    self._grow(end)
                self._buf[self._fill : end] = view[:take]
                self._fill = end
                view = view[take:]
                if self._fill == self._buffer_size:
                    await self._hand_off()
        except BaseException:
            # a buffer half stored and half hashed cannot be resumed
            self._state = "failed"
            raise

    async def commit(self) -> BlobInfo:
        self._check_open()
        try:
            await self._settle()
            last, self._buf, self._spare = self._buf, bytearray(), None
            del last[self._fill :]
            await self._flush(last, final=True)
            if self._hasher is None:
                assert self._expect is not None
                key = self._expect
            else:
                key = BlobKey(self._algorithm, self._hasher.hexdigest())
            if self._expect is not None and key != self._expect:
                raise IntegrityError(
                    f"the bytes written to the blob store {self._location} do not hash to "
                    f"{self._expect}",
                    found=str(key),
                )
            self._deduplicated = not await self._finish(key, self._size)
        except BaseException:
            self._state = "failed"
            await self.abort()
            raise
        self._state = "committed"
        return BlobInfo(key, self._size)

    async def abort(self) -> None:
        """Discard everything written; safe to call more than once, and after a failure."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        await self._stop_flushing()
        self._buf, self._spare = bytearray(), None
        await self._discard()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.abort()

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"this blob writer is {self._state}")

    def _grow(self, needed: int) -> None:
        size = max(needed, 2 * len(self._buf))
        if size > _GROW_LIMIT:
            size = self._buffer_size
        grown = bytearray(size)
        grown[: self._fill] = self._buf[: self._fill]
        self._buf = grown

    async def _hand_off(self) -> None:
        """The buffer is full: store and hash it, and make room for what comes next."""
        if not self._overlap:
            # stored and hashed by the time this returns: the buffer is free again
            await self._flush(self._buf, final=False)
            self._fill = 0
            return
        await self._settle()  # the other buffer's turn is over: it is free
        full = self._buf
        self._buf = self._spare if self._spare is not None else bytearray(self._buffer_size)
        self._spare = None
        self._fill = 0
        self._flushing = asyncio.create_task(self._flush_in_background(full))

    async def _flush_in_background(self, full: bytearray) -> None:
        await self._flush(full, final=False)
        self._spare = full

    async def _settle(self) -> None:
        """Wait for the buffer in flight, if any; its failure is the writer's."""
        task, self._flushing = self._flushing, None
        if task is not None:
            await task

    async def _stop_flushing(self) -> None:
        """Cancel the buffer in flight and wait for its task to end, without raising its
        error. A worker thread already hashing or writing it may finish that afterwards,
        as after a cancelled :meth:`write`: the backend's discard copes with it."""
        task, self._flushing = self._flushing, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            with contextlib.suppress(BaseException):
                task.result()  # retrieved: an aborted writer's failure is not news

    async def _flush(self, chunk: bytearray, *, final: bool) -> None:
        if self._hasher is None or not chunk:
            await self._store(chunk, final=final)
            return
        # hashlib lets go of the GIL for big buffers: hashing runs beside the backend's
        # write or upload of the same (no longer mutated) bytes
        await asyncio.gather(
            asyncio.to_thread(self._hasher.update, chunk), self._store(chunk, final=final)
        )

    @abstractmethod
    async def _store(self, chunk: bytearray, *, final: bool) -> None:
        """Keep ``chunk`` (full-sized unless ``final``; the last may be empty). It is the
        writer's buffer, refilled once this returns: send it, do not keep it, unless final."""

    @abstractmethod
    async def _finish(self, key: BlobKey, size: int) -> bool:
        """Make the stored bytes the blob ``key``; False if it was there already."""

    @abstractmethod
    async def _discard(self) -> None:
        """Remove whatever :meth:`_store` kept."""
