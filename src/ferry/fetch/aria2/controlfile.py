"""aria2's ``.aria2`` control file: how much of a partial download is already on disk.

aria2 keeps it next to the file it downloads (``<out>.aria2``), saves it every second and
on stopping, and deletes it on completion. Ferry only reads it to know how many bytes a
resumed download did not have to fetch again. The layout (aria2c(1), "Control File
Format"; version 1 is big-endian, version 0 host order)::

    VER(2) EXT(4) INFO_HASH_LEN(4) INFO_HASH PIECE_LEN(4) TOTAL_LEN(8) UPLOAD_LEN(8)
    BITFIELD_LEN(4) BITFIELD NUM_INFLIGHT(4)
    then per piece in flight: INDEX(4) LENGTH(4) PIECE_BITFIELD_LEN(4) PIECE_BITFIELD

A piece in flight counts its 16 KiB blocks already written.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

__all__ = ["control_path", "kept_bytes"]

_BLOCK = 16 * 1024
_SUFFIX = ".aria2"


def control_path(path: Path) -> Path:
    return path.with_name(path.name + _SUFFIX)


def kept_bytes(path: Path) -> int:
    """Bytes of ``path`` that its control file records as downloaded; 0 if unreadable."""
    try:
        data = control_path(path).read_bytes()
    except OSError:
        return 0
    try:
        return _parse(data)
    except (struct.error, ValueError):
        return 0


def _parse(data: bytes) -> int:
    version = int.from_bytes(data[:2], "big")
    if version == 1:
        order = ">"
    elif version == 0:
        order = "<" if sys.byteorder == "little" else ">"
    else:
        raise ValueError(f"unknown control file version {version}")
    reader = _Reader(data, order, 2)
    reader.u32()  # extension flags
    reader.skip(reader.u32())  # info hash (BitTorrent only)
    piece_length = reader.u32()
    total = reader.u64()
    reader.u64()  # uploaded
    bitfield = reader.take(reader.u32())
    if piece_length <= 0:
        raise ValueError("piece length 0")
    kept = 0
    for index in range(len(bitfield) * 8):
        if bitfield[index // 8] & (0x80 >> (index % 8)):
            kept += max(0, min(piece_length, total - index * piece_length))
    for _ in range(reader.u32()):
        index = reader.u32()
        length = reader.u32()
        blocks = reader.take(reader.u32())
        done = sum(bin(byte).count("1") for byte in blocks) * _BLOCK
        kept += max(0, min(done, length, total - index * piece_length))
    return min(kept, total) if total else kept


class _Reader:
    def __init__(self, data: bytes, order: str, offset: int) -> None:
        self._data = data
        self._order = order
        self._pos = offset

    def u32(self) -> int:
        return int(self._unpack("I"))

    def u64(self) -> int:
        return int(self._unpack("Q"))

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise ValueError("truncated control file")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def skip(self, n: int) -> None:
        self.take(n)

    def _unpack(self, code: str) -> int:
        fmt = self._order + code
        (value,) = struct.unpack_from(fmt, self._data, self._pos)
        self._pos += struct.calcsize(fmt)
        return int(value)
