"""The engine's small parts on their own: rates, slots, partial files, the following hash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from pathlib import Path

import pytest

from ferry.errors import ManifestError
from ferry.fetch.hashing import FollowingHash
from ferry.fetch.inputfile import parse_input_file
from ferry.fetch.partial import PartialFile
from ferry.fetch.ratelimit import parse_rate
from ferry.fetch.slots import PrioritySlots


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("0", 0),
        ("500", 500),
        ("10K", 10240),
        ("10M", 10 << 20),
        ("1.5G", int(1.5 * (1 << 30))),
        ("2mb", 2 << 20),
        ("3M/s", 3 << 20),
    ],
)
def test_parse_rate(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "-1M", "10X"])
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


async def test_slots_wake_waiters_by_priority_then_arrival() -> None:
    slots = PrioritySlots(1)
    await slots.acquire()
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        async with slots.hold(priority):
            order.append(name)

    tasks = [asyncio.create_task(wait(n, p)) for n, p in [("a", 0), ("b", 0), ("m", -1), ("z", 5)]]
    await asyncio.sleep(0.01)
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["m", "a", "b", "z"]
    assert slots.in_use == 0


async def test_a_cancelled_waiter_does_not_lose_a_slot() -> None:
    slots = PrioritySlots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    slots.release()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.try_acquire()


def _data(size: int) -> bytes:
    return random.Random(size).randbytes(size)


async def test_following_hash_of_pieces_written_out_of_order(tmp_path: Path) -> None:
    data = _data(1_000_000)
    partial = PartialFile.open(tmp_path / "f", "test")
    partial.plan(len(data), 100_000)
    hasher = FollowingHash(partial, "sha256")
    # Later pieces first, then the first: the hash must read those back from disk.
    for index in [3, 1, 2, 9, 0, 4, 8, 5, 7, 6]:
        piece = partial.pieces[index]
        for at in range(piece.start, piece.end or 0, 30_000):
            chunk = data[at : min(at + 30_000, piece.end or 0)]
            offset = piece.pos
            partial.write(piece, chunk)
            hasher.feed(offset, chunk)
        await asyncio.sleep(0)
    assert await hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    partial.close()


async def test_following_hash_restarts_with_the_file(tmp_path: Path) -> None:
    partial = PartialFile.open(tmp_path / "f", "test")
    partial.plan(None, None)
    hasher = FollowingHash(partial, "sha256")
    partial.write(partial.pieces[0], b"old bytes")
    hasher.feed(0, b"old bytes")
    partial.reset()
    hasher.restart()
    partial.plan(None, None)
    partial.write(partial.pieces[0], b"new")
    hasher.feed(0, b"new")
    partial.total = 3
    assert await hasher.hexdigest() == hashlib.sha256(b"new").hexdigest()


def test_partial_file_survives_a_reopen_but_not_a_different_source(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    part = PartialFile.open(path, "sha256|abc")
    part.plan(300, 100)
    part.validator = '"v"'
    part.write(part.pieces[0], b"x" * 100)
    part.write(part.pieces[2], b"z" * 40)
    part.save(force=True)
    part.close()

    again = PartialFile.open(path, "sha256|abc")
    assert [(p.start, p.end, p.done) for p in again.pieces] == [
        (0, 100, 100),
        (100, 200, 0),
        (200, 300, 40),
    ]
    assert again.validator == '"v"' and again.total == 300 and again.kept == 140
    assert again.contiguous_end(0) == 100
    again.close()

    other = PartialFile.open(path, "sha256|other")
    assert other.kept == 0 and other.pieces == [] and path.stat().st_size == 0
    other.discard()
    assert not path.exists() and not other.meta_path.exists()


def test_partial_file_trusts_no_more_than_is_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"y" * 50)
    meta = {"format": 1, "source": "s", "total": 100, "validator": None, "pieces": [[0, 100, 90]]}
    path.with_name("blob.json").write_text(json.dumps(meta))
    part = PartialFile.open(path, "s")
    assert part.kept == 50
    part.close()


def test_input_file_in_aria2_format(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    digest = "ab" * 32
    listing.write_text(
        "# models\n"
        "https://a.test/m.bin\thttps://b.test/m.bin\n"
        "  out=model.bin\n"
        "\tdir=models\n"
        f"  checksum=sha-256={digest.upper()}\n"
        "\n"
        "https://a.test/other.tgz\n"
    )
    first, second = parse_input_file(listing)
    assert first.uris == ["https://a.test/m.bin", "https://b.test/m.bin"]
    assert (first.out, first.dir, first.algorithm, first.digest) == (
        "model.bin",
        "models",
        "sha256",
        digest,
    )
    assert second.uris == ["https://a.test/other.tgz"] and second.line == 7


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("  out=x\n", 1, "before any URI"),
        ("https://a.test/x\n  header=X: y\n", 2, "'header' is not supported"),
        ("https://a.test/x\n  checksum=md5=abc\n", 2, "'md5' is not supported"),
        ("https://a.test/x\n  checksum=sha-256=123\n", 2, "64 lowercase hex"),
        ("https://a.test/x\n  out\n", 2, "expected name=value"),
        ("ftp-ish-thing\n", 1, "not a URL"),
    ],
)
def test_input_file_errors_name_the_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    listing = tmp_path / "bad.txt"
    listing.write_text(text)
    with pytest.raises(ManifestError) as info:
        parse_input_file(listing)
    assert info.value.line == line and reason in info.value.message
    assert str(listing) in info.value.message
