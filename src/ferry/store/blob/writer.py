"""The part of a blob writer every backend shares: buffering, hashing, the commit protocol.

Bytes are gathered into a buffer of a fixed size (a backend's write unit: 1 MiB for a file,
the multipart part size for S3); each time it is full it is hashed in a worker thread while
the backend stores it, and then filled again. So memory stays at about one buffer per
writer however large the blob, and the event loop never hashes megabytes itself.

A backend that stores synchronously (the local disk) asks for a ``pipeline``: each full
buffer goes to two threads of the writer's own, one hashing it and one storing it, while
the caller fills the next; up to ``pipeline`` buffers may be with them, so a thread that is
late to wake (two CPUs, four busy threads) does not stop the caller at every buffer. Each
thread takes the buffers in order, so the hash sees the bytes in order; a buffer is filled
again once both are done with it, and memory stays at ``pipeline + 1`` buffers. (The first
version let one buffer be in flight: the caller waited at nearly every MiB, and a 2 GB
upload took 3.7 s against 1.4-1.6 s for receiving it alone. The second had one thread hash
and then store each buffer: when the disk held writes back, py-spy found that thread busy
for 5.3 s of a 7.7 s upload, 3.2 s of it in ``write``, while the hash waited its turn.)

With a pipeline, bytes that can never change (``bytes`` objects, as a request body's
pieces are) are not copied into the buffer at all: they are gathered as they are and handed
to the threads once a buffer's worth is there, since nothing can change them meanwhile.
Anything else (a ``bytearray`` the caller fills again, small pieces) is copied as before.

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
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self

from ferry.errors import IntegrityError
from ferry.store.blob.interface import BlobInfo, BlobKey, Bytes
from ferry.store.cas import ALGORITHMS

__all__ = ["StreamingWriter"]

_GROW_LIMIT = 1024 * 1024
# with a pipeline, immutable pieces at least this long are handed to the threads as they
# are; shorter ones are copied into the buffer, so that the threads never get crumbs
_BORROW_MIN = 64 * 1024


def _immutable(view: memoryview) -> bool:
    """Whether the bytes behind ``view`` can never change: a ``bytes`` object's."""
    return view.readonly and type(view.obj) is bytes


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
        pipeline: int = 0,
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
        self._pipeline = pipeline
        # with a pipeline: the pieces gathered for the threads ahead of the buffer's bytes
        # (immutable, kept rather than copied), then what was handed to the threads (the
        # hash's and the store's futures, and the buffer if one went), oldest first, and
        # the buffers both are done with
        self._borrowed: list[memoryview] = []
        self._borrowed_size = 0
        self._sealed: list[bytearray] = []  # buffers whose bytes are among the borrowed
        self._in_flight: deque[tuple[list[Future[None]], list[bytearray]]] = deque()
        self._free: list[bytearray] = []
        self._threads: list[ThreadPoolExecutor] = []
        self._handed = 0  # bytes handed to the threads: where the next buffer goes
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
            if self._pipeline and len(view) >= _BORROW_MIN and _immutable(view):
                await self._borrow(view)
                return
            while view:
                take = min(len(view), self._buffer_size - self._fill)
                end = self._fill + take
                if end > len(self._buf):
                    self._grow(end)
                self._buf[self._fill : end] = view[:take]
                self._fill = end
                view = view[take:]
                if self._gathered() >= self._buffer_size:
                    await self._hand_off()
        except BaseException:
            # a buffer half stored and half hashed cannot be resumed
            self._state = "failed"
            raise

    async def commit(self, expect: BlobKey | None = None) -> BlobInfo:
        self._check_open()
        try:
            await self._settle()
            await self._stop_flushing()  # nothing is in flight: this lets the thread go
            # less than one buffer's worth, copied once (a view of a buffer could hold it)
            last = bytearray().join([*self._borrowed, memoryview(self._buf)[: self._fill]])
            self._buf, self._free, self._borrowed, self._sealed = bytearray(), [], [], []
            await self._flush(last, final=True)
            if self._hasher is None:
                assert self._expect is not None
                key = self._expect
            else:
                key = BlobKey(self._algorithm, self._hasher.hexdigest())
            for promised in (self._expect, expect):
                if promised is not None and key != promised:
                    raise IntegrityError(
                        f"the bytes written to the blob store {self._location} do not hash "
                        f"to {promised}",
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
        self._buf, self._free, self._borrowed, self._sealed = bytearray(), [], [], []
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

    def _gathered(self) -> int:
        return self._borrowed_size + self._fill

    async def _borrow(self, view: memoryview) -> None:
        """Take immutable bytes without copying them (with a pipeline): the request body's
        pieces, as they came off the socket, go to the threads as they are. Copying them
        into the buffer first cost the event loop a quarter of its time for a 2 GB upload
        (perf, 2026-12-06: ``memmove`` 0.9 s of its 4 s)."""
        if self._fill:
            # what the buffer holds came first: it goes first, in the same hand-off, and
            # the buffer is not touched until the threads are done with it
            self._borrowed.append(memoryview(self._buf)[: self._fill])
            self._borrowed_size += self._fill
            self._sealed.append(self._buf)
            self._buf = self._free.pop() if self._free else bytearray()
            self._fill = 0
        self._borrowed.append(view)
        self._borrowed_size += len(view)
        if self._borrowed_size >= self._buffer_size:
            await self._hand_off()

    async def _hand_off(self) -> None:
        """The buffer is full (or immutable pieces were gathered): store and hash what was
        gathered, and make room for what comes next."""
        if not self._pipeline:
            # stored and hashed by the time this returns: the buffer is free again
            await self._flush(self._buf, final=False)
            self._fill = 0
            return
        if not self._threads:
            # only blobs bigger than one buffer get threads
            self._threads = [
                ThreadPoolExecutor(1, thread_name_prefix=f"ferry-blob-writer-{role}")
                for role in ("store", "hash")
            ]
        store, hashing = self._threads
        pieces: list[Bytes] = list(self._borrowed)
        buffers, refill = self._sealed, self._fill > 0
        if refill:
            buffers.append(self._buf)
            pieces.append(memoryview(self._buf)[: self._fill])
        offset = self._handed
        self._handed += self._gathered()
        self._borrowed, self._borrowed_size, self._sealed = [], 0, []
        # both only read the pieces: nothing changes the buffers until both are done
        futures = [store.submit(self._store_sync, pieces, offset)]
        if self._hasher is not None:
            futures.append(hashing.submit(_hash_pieces, self._hasher, pieces))
        self._in_flight.append((futures, buffers))
        # buffers the threads are done with come back; the caller waits only for a full pipe
        while self._in_flight and (
            len(self._in_flight) > self._pipeline or all(f.done() for f in self._in_flight[0][0])
        ):
            await self._retire_oldest()
        if refill:
            self._buf = self._free.pop() if self._free else bytearray(self._buffer_size)
            self._fill = 0

    async def _retire_oldest(self) -> None:
        futures, buffers = self._in_flight[0]
        # raises a thread's error; left in place if this is cancelled, for abort to wait on
        for future in futures:
            if future.done():
                # asyncio.wrap_future of a finished future still goes through
                # call_soon_threadsafe, waking the loop through its self-pipe: thousands of
                # wake-ups for a big upload, for nothing
                future.result()
            else:
                await asyncio.wrap_future(future)
        self._in_flight.popleft()
        self._free.extend(buffers)

    async def _settle(self) -> None:
        """Wait for every buffer handed to the threads; their failure is the writer's."""
        while self._in_flight:
            await self._retire_oldest()

    async def _stop_flushing(self) -> None:
        """Drop the buffers not yet taken up and wait for the ones the threads are on,
        without raising their errors (an aborted writer's failure is not news); then let
        the threads go."""
        in_flight, self._in_flight = self._in_flight, deque()
        futures = [f for pending, _ in in_flight for f in pending]
        for future in futures:
            future.cancel()
        for future in futures:
            if not future.cancelled():
                with contextlib.suppress(BaseException):
                    await asyncio.wrap_future(future)
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.shutdown(wait=False)

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

    def _store_sync(self, pieces: list[Bytes], offset: int) -> None:
        """With a pipeline: keep ``pieces`` (at least one buffer's worth, in order) at
        ``offset``, on the writer's thread; a buffer among them is refilled once this
        returns."""
        raise NotImplementedError(f"{type(self).__name__} has no pipeline")

    @abstractmethod
    async def _finish(self, key: BlobKey, size: int) -> bool:
        """Make the stored bytes the blob ``key``; False if it was there already."""

    @abstractmethod
    async def _discard(self) -> None:
        """Remove whatever :meth:`_store` kept."""


def _hash_pieces(hasher: hashlib._Hash, pieces: list[Bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)
