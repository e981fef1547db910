"""write_out: every byte reaches the file, in pieces of at most 64 KiB (the size that keeps
the kernel from backing a write with large page-cache folios; see store/writeback.py),
through short writes too, after what the file object itself still held."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from ferry.store import writeback


def test_pieces_of_at_most_64_kib_and_short_writes_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real_write = os.write

    def short_write(fd: int, data: bytes | memoryview) -> int:
        sizes.append(len(data))
        return real_write(fd, bytes(data)[:50_000])  # the kernel may take less than asked

    monkeypatch.setattr(writeback.os, "write", short_write)
    data = random.Random(5).randbytes(1024 * 1024 + 7)
    target = tmp_path / "blob"
    with target.open("wb") as fh:
        fh.write(b"head")  # still in the file object's buffer
        writeback.write_out(fh, data, 4)
        writeback.write_out(fh, bytearray(b"tail"), 4 + len(data))
    assert target.read_bytes() == b"head" + data + b"tail"
    assert max(sizes) == writeback.PIECE
