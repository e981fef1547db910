"""The blob store on this machine's disk: :class:`~ferry.store.cas.ContentStore`'s files.

Same layout, same staging directory and the same atomic rename, so every blob Ferry stored
before this interface existed is found here, and the fetch engine (still calling
ContentStore directly) and this store can share one directory.

Metadata calls (``has``, ``stat``) run on the event loop: a ``stat`` of a local file takes
microseconds, less than handing it to a thread. Reads and writes of bytes go to a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from ferry.store.blob.interface import (
    BlobInfo,
    BlobKey,
    BlobNotFound,
    BlobStoreError,
    Bytes,
    NoDirectUpload,
    PresignedPut,
    check_bounds,
    check_range,
)
from ferry.store.blob.writer import StreamingWriter
from ferry.store.cas import ALGORITHMS, CHUNK_SIZE, ContentStore
from ferry.store.writeback import write_out

__all__ = ["LocalBlobStore"]


class LocalBlobStore:
    """Blobs under ``root`` (or an existing ContentStore's root)."""

    def __init__(self, root: Path | ContentStore) -> None:
        self.content_store = root if isinstance(root, ContentStore) else ContentStore(root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.content_store.root)!r})"

    @property
    def location(self) -> str:
        return str(self.content_store.root)

    @property
    def digest_first(self) -> bool:
        return False  # a staging file is renamed into place whatever its name

    def path_for(self, key: BlobKey) -> Path:
        return self.content_store.path_for(key.digest, key.algorithm)

    async def has(self, key: BlobKey, size: int | None = None) -> bool:
        return self.content_store.has(key.digest, size, key.algorithm)

    async def stat(self, key: BlobKey) -> BlobInfo | None:
        try:
            st = self.path_for(key).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(key, st.st_size) if stat.S_ISREG(st.st_mode) else None

    async def size(self, key: BlobKey) -> int:
        info = await self.stat(key)
        if info is None:
            raise BlobNotFound(key, self.location)
        return info.size

    def open_writer(
        self, *, expect: BlobKey | None = None, algorithm: str = "sha256"
    ) -> _LocalWriter:
        return _LocalWriter(self, expect=expect, algorithm=algorithm)

    async def put_file(self, path: Path, key: BlobKey) -> BlobInfo:
        size = await asyncio.to_thread(_copy_in, self.content_store, Path(path), key)
        return BlobInfo(key, size)

    async def move_file(self, path: Path, key: BlobKey) -> BlobInfo:
        size = await asyncio.to_thread(_move_in, self.content_store, Path(path), key)
        return BlobInfo(key, size)

    async def read(
        self, key: BlobKey, start: int | None = None, end: int | None = None
    ) -> AsyncIterator[bytes]:
        check_bounds(start, end, key)
        try:
            fh = self.path_for(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(key, self.location) from None
        with fh:
            lo, hi = check_range(key, os.fstat(fh.fileno()).st_size, start, end, self.location)
            if lo:
                fh.seek(lo)
            left = hi - lo
            while left > 0:
                chunk = await asyncio.to_thread(fh.read, min(CHUNK_SIZE, left))
                if not chunk:
                    # truncated behind Ferry's back: say so instead of a short read
                    raise BlobStoreError(
                        f"blob {key} in the blob store {self.location} is shorter than it "
                        "was a moment ago"
                    )
                left -= len(chunk)
                yield chunk

    async def delete(self, key: BlobKey) -> None:
        self.path_for(key).unlink(missing_ok=True)

    async def iter_keys(self) -> AsyncIterator[BlobKey]:
        async for info in self.iter_blobs():
            yield info.key

    async def iter_blobs(self) -> AsyncIterator[BlobInfo]:
        for algorithm in ALGORITHMS:
            top = self.content_store.root / algorithm
            # one fan-out directory listed per thread hop: bounded memory, few hops
            for aa in await asyncio.to_thread(_names, top):
                for bb in await asyncio.to_thread(_names, top / aa):
                    for info in await asyncio.to_thread(_blobs_in, top / aa / bb, algorithm):
                        if info.key.digest[:2] == aa and info.key.digest[2:4] == bb:
                            yield info

    async def clean_staging(self, older_than: float = 3600.0) -> int:
        return await asyncio.to_thread(self.content_store.clean_staging, older_than)

    async def presigned_url(self, key: BlobKey, expires: float) -> str | None:
        return None

    async def presigned_put(self, key: BlobKey, size: int, expires: float) -> PresignedPut:
        raise NoDirectUpload("the blob store is on the service's own disk")

    async def verified(self, key: BlobKey) -> BlobInfo | None:
        return None  # nothing is ever written here but through a writer that hashes

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        try:
            self.content_store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobStoreError(
                f"the blob store {self.location} cannot be created: {exc.strerror}"
            ) from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _LocalWriter(StreamingWriter):
    """Into a ContentStore staging file, renamed into place at commit."""

    def __init__(self, store: LocalBlobStore, *, expect: BlobKey | None, algorithm: str) -> None:
        super().__init__(
            # small enough to be copied in, hashed and written out while it is still in the
            # CPU's cache: 2 and 4 MiB buffers took twice the CPU time per byte here
            buffer_size=CHUNK_SIZE,
            location=store.location,
            expect=expect,
            algorithm=algorithm,
            pipeline=4,
        )
        self._cas = store.content_store
        self._staging: contextlib.ExitStack | None = None
        self._tmp: Path | None = None
        self._fh: BinaryIO | None = None
        self._written = 0

    async def write(self, data: Bytes) -> None:
        self._check_open()
        # the staging file exists from the first byte on, though a full buffer's bytes may
        # still be on their way to it when this returns (they are written in the
        # background): what a crash leaves is always there for clean_staging to find
        self._open()
        await super().write(data)

    def _open(self) -> BinaryIO:
        if self._fh is None:
            # ContentStore's own staging: the same directory its clean_staging() sweeps, and
            # registered so that a sweep never takes a file being written
            stack = contextlib.ExitStack()
            self._tmp, self._fh = stack.enter_context(self._cas.open_staging())
            self._staging = stack
        return self._fh

    async def _store(self, chunk: bytearray, *, final: bool) -> None:
        self._open()  # an empty blob is an empty staging file
        if chunk:
            await asyncio.to_thread(self._store_sync, [chunk], self._written)

    def _store_sync(self, pieces: list[Bytes], offset: int) -> None:
        fh = self._open()
        for piece in pieces:
            _write_out(fh, piece, offset)
            offset += len(piece)
        self._written = offset

    async def _finish(self, key: BlobKey, size: int) -> bool:
        assert self._tmp is not None
        if self._cas.has(key.digest, size, key.algorithm):
            return False  # the staging file goes when the ExitStack closes
        await asyncio.to_thread(self._cas.commit, self._tmp, key.digest, key.algorithm)
        self._close()
        return True

    async def _discard(self) -> None:
        self._close()

    async def commit(self, expect: BlobKey | None = None) -> BlobInfo:
        try:
            return await super().commit(expect)
        finally:
            self._close()

    def _close(self) -> None:
        if self._staging is not None:
            self._staging.close()
            self._staging = None


def _write_out(fh: BinaryIO, chunk: Bytes, offset: int) -> None:
    """Write ``chunk`` at ``offset`` (where the file ends) and have the kernel start putting
    it on disk now: commit's fsync then waits for the last few MiB, not for the whole
    file, and the dirty pages of a big upload never pile up (the test seam for the disk)."""
    write_out(fh, chunk, offset)


def _copy_in(cas: ContentStore, path: Path, key: BlobKey) -> int:
    size = path.stat().st_size
    if cas.has(key.digest, size, key.algorithm):
        return size
    with cas.open_staging() as (tmp, out), path.open("rb") as src:
        shutil.copyfileobj(src, out, CHUNK_SIZE)
        cas.commit(tmp, key.digest, key.algorithm)
    return size


def _move_in(cas: ContentStore, path: Path, key: BlobKey) -> int:
    size = path.stat().st_size
    if cas.has(key.digest, size, key.algorithm):
        path.unlink()
        return size
    dest = cas.path_for(key.digest, key.algorithm)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    try:
        path.replace(dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # another filesystem: copied through staging, so the name appears only complete
        _copy_in(cas, path, key)
        path.unlink()
    return size


def _names(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return sorted(e.name for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _blobs_in(directory: Path, algorithm: str) -> list[BlobInfo]:
    found = []
    for name in _names(directory):
        try:
            key = BlobKey(algorithm, name)
        except ValueError:
            continue  # not a blob (an editor's backup, a stray file)
        try:
            st = (directory / name).stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append(BlobInfo(key, st.st_size, st.st_mtime))
    return found
