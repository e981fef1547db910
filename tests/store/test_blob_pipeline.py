"""The local writer's pipeline: full buffers go to two threads of the writer's own, one
hashing and one writing them in order, while the caller fills the next, up to a few
waiting.

The disk is made to wait on an event (or to fail) by replacing the module's write
function, so what is asserted is the order of things, not how fast they are.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import random
import threading
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from ferry.store.blob import BlobKey, LocalBlobStore
from ferry.store.blob import local as local_module

pytestmark = pytest.mark.timeout(60)

MiB = 1024**2
PIPELINE = 4  # _LocalWriter's


def _writer_threads() -> list[threading.Thread]:
    """The writer's threads still alive a moment after it is done: they are let go
    without waiting (shutdown(wait=False)), and take their leave as soon as they wake."""
    for _ in range(100):
        alive = [t for t in threading.enumerate() if t.name.startswith("ferry-blob-writer")]
        if not alive:
            break
        time.sleep(0.02)
    return alive


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "store")


def _hold_the_disk(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The store's writes wait until the event returned is set."""
    disk_free = threading.Event()
    real = local_module._write_out

    def held_disk(fh: BinaryIO, chunk: bytearray, offset: int) -> None:
        if not disk_free.wait(30):
            raise OSError(errno.EIO, "the test never let the disk go")
        real(fh, chunk, offset)

    monkeypatch.setattr(local_module, "_write_out", held_disk)
    return disk_free


def _watch_the_disk(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every write the store makes, as (thread name, the piece given), as it is made."""
    writes: list[tuple[str, object]] = []
    real = local_module._write_out

    def watched(fh: BinaryIO, chunk: bytes, offset: int) -> None:
        writes.append((threading.current_thread().name, chunk))
        real(fh, chunk, offset)

    monkeypatch.setattr(local_module, "_write_out", watched)
    return writes


async def test_the_caller_goes_on_while_the_disk_is_busy_then_waits_for_a_full_pipe(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_free = _hold_the_disk(monkeypatch)
    data = random.Random(1).randbytes(12 * MiB + 5)
    async with store.open_writer() as writer:
        # PIPELINE full buffers handed over (one at the disk, the others waiting), and the
        # caller still free, though the disk has taken no byte
        for i in range(PIPELINE):
            await asyncio.wait_for(writer.write(data[i * MiB : (i + 1) * MiB]), 10)
        # the next full buffer finds the pipe full: the caller waits for the disk
        blocked = asyncio.ensure_future(writer.write(data[PIPELINE * MiB : 7 * MiB]))
        done, _ = await asyncio.wait([blocked], timeout=0.3)
        assert not done
        disk_free.set()
        await blocked
        await writer.write(data[7 * MiB :])
        info = await writer.commit()

    assert info.key == BlobKey.sha256(hashlib.sha256(data).hexdigest())
    assert store.path_for(info.key).read_bytes() == data
    assert not _writer_threads()


async def test_a_disk_error_in_the_thread_reaches_the_caller_and_nothing_is_kept(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = local_module._write_out
    calls = 0

    def filling_disk(fh: BinaryIO, chunk: bytearray, offset: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, chunk, offset)

    monkeypatch.setattr(local_module, "_write_out", filling_disk)
    data = random.Random(2).randbytes(10 * MiB)
    with pytest.raises(OSError) as raised:
        async with store.open_writer() as writer:
            for i in range(10):
                await writer.write(data[i * MiB : (i + 1) * MiB])
            await writer.commit()

    assert raised.value.errno == errno.ENOSPC
    assert not [p for p in store.content_store.root.rglob("*") if p.is_file()]
    assert not _writer_threads()


async def test_a_blob_of_one_buffer_gets_no_thread(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _watch_the_disk(monkeypatch)
    async with store.open_writer() as writer:
        await writer.write(b"x" * (MiB - 1))
        await writer.commit()
    started = [name for name, _ in writes]

    assert started and not any(name.startswith("ferry-blob-writer") for name in started)


class _CountingHash:
    """The writer's hash, counting what it was given and from which thread."""

    def __init__(self) -> None:
        self._inner = hashlib.sha256()
        self.seen = 0
        self.threads: set[str] = set()

    def update(self, data: bytes) -> None:
        self.threads.add(threading.current_thread().name)
        self._inner.update(data)
        self.seen += len(data)

    def hexdigest(self) -> str:
        return self._inner.hexdigest()


async def test_the_hash_does_not_wait_for_the_disk(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_free = _hold_the_disk(monkeypatch)
    data = random.Random(3).randbytes(PIPELINE * MiB + 9)
    async with store.open_writer() as writer:
        counting = _CountingHash()
        writer._hasher = counting  # type: ignore[attr-defined]
        for i in range(PIPELINE):
            await writer.write(data[i * MiB : (i + 1) * MiB])
        # the disk has taken nothing, and every full buffer is hashed all the same
        for _ in range(500):
            if counting.seen == PIPELINE * MiB:
                break
            await asyncio.sleep(0.01)
        assert counting.seen == PIPELINE * MiB
        assert not disk_free.is_set()
        disk_free.set()
        await writer.write(data[PIPELINE * MiB :])
        info = await writer.commit()

    assert info.key == BlobKey.sha256(hashlib.sha256(data).hexdigest())
    assert store.path_for(info.key).read_bytes() == data
    assert "ferry-blob-writer-hash_0" in counting.threads


async def test_immutable_pieces_reach_the_disk_uncopied(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request body's pieces are ``bytes``: they go to the threads as they are."""
    writes = _watch_the_disk(monkeypatch)
    rng = random.Random(4)
    pieces = [rng.randbytes(300 * 1024) for _ in range(12)]
    async with store.open_writer() as writer:
        for piece in pieces:
            await writer.write(piece)
        info = await writer.commit()

    data = b"".join(pieces)
    assert store.path_for(info.key).read_bytes() == data
    assert info.key == BlobKey.sha256(hashlib.sha256(data).hexdigest())
    borrowed = [c for _, c in writes if isinstance(c, memoryview) and c.obj in pieces]
    # all but what is left for commit (less than one buffer, joined once)
    assert sum(len(c) for c in borrowed) >= len(data) - MiB


async def test_bytes_the_caller_may_change_are_copied_before_write_returns(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A buffer the caller refills (bytearray, a read-only view of one, a small bytes
    piece among big ones) must be stored as it was when written, though the threads take
    it up later."""
    # nothing is written before the caller is done (what is written stays within the pipe)
    disk_free = _hold_the_disk(monkeypatch)
    rng = random.Random(5)
    reused = bytearray(400 * 1024)
    expected = bytearray()
    async with store.open_writer() as writer:
        for i in range(4):
            reused[:] = rng.randbytes(len(reused))
            expected += reused
            given: bytes | bytearray | memoryview = (
                reused if i % 2 else memoryview(reused).toreadonly()
            )
            await writer.write(given)
            small = rng.randbytes(rng.randrange(1, 64 * 1024))
            expected += small
            await writer.write(small)
            big = rng.randbytes(200 * 1024)
            expected += big[10:] + big[:10]
            await writer.write(memoryview(big)[10:])  # a view of bytes: borrowed
            await writer.write(big[:10])
        reused[:] = bytes(len(reused))  # the caller's last change, after its last write
        disk_free.set()
        info = await writer.commit()

    assert store.path_for(info.key).read_bytes() == expected
    assert info.key == BlobKey.sha256(hashlib.sha256(expected).hexdigest())
