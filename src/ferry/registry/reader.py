"""Reading a bundle someone else made, member by member, trusting nothing in it.

A bundle comes from across the gap, so from a stranger as far as the far side can tell.
Its members are streamed in the order they are stored (a compressed tar cannot be read any
other way), and each is refused before a byte of it is used when its name could escape
(absolute, ``..``, a backslash, outside the bundle's one top directory), when it is
anything but a regular file (links, devices), when it appears twice, or when the bundle
grows past ``max_bytes`` however it claims to be compressed.
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import zstandard

from ferry.bundle.archive import SUPPORTED_FORMATS, format_from_name, open_tar_stream
from ferry.registry.errors import ImportRejected, why

__all__ = ["Member", "read_members"]

CHUNK = 1 << 20
# what reading a damaged zip, tar, gzip or zstd stream raises
_DAMAGED = (
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    tarfile.TarError,
    zstandard.ZstdError,
)


@dataclass
class Member:
    """One regular file of the bundle: ``name`` relative to its top directory."""

    name: str
    size: int
    stream: IO[bytes]

    def chunks(self, budget: _Budget) -> Iterator[bytes]:
        """The member's bytes, exactly ``size`` of them, counted against the budget."""
        left = self.size
        while left > 0:
            chunk = self._read(min(CHUNK, left), budget)
            if not chunk:
                raise ImportRejected(budget.bundle, f"{self.name} is cut short")
            left -= len(chunk)
            budget.take(len(chunk), self.name)
            yield chunk
        if self._read(1, budget):
            raise ImportRejected(budget.bundle, f"{self.name} is longer than its header says")

    def _read(self, n: int, budget: _Budget) -> bytes:
        # a damaged archive shows itself here, as the member is decompressed
        try:
            return self.stream.read(n)
        except _DAMAGED as exc:
            raise ImportRejected(budget.bundle, f"{self.name} cannot be read: {why(exc)}") from exc


class _Budget:
    def __init__(self, bundle: str, max_bytes: int) -> None:
        self.bundle = bundle
        self.left = max_bytes
        self.limit = max_bytes

    def take(self, n: int, name: str) -> None:
        self.left -= n
        if self.left < 0:
            raise ImportRejected(
                self.bundle, f"it unpacks to more than {self.limit} bytes (at {name})"
            )


def read_members(path: Path, max_bytes: int) -> Iterator[tuple[Member, _Budget]]:
    """Every regular file of the bundle at ``path``, checked as the module says."""
    bundle = path.name
    fmt = format_from_name(path)
    if fmt is None:
        raise ImportRejected(
            bundle, f"not a bundle archive (supported: {', '.join(SUPPORTED_FORMATS)})"
        )
    budget = _Budget(bundle, max_bytes)
    seen: set[str] = set()
    root: list[str] = []
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    # a zip's external attributes may mark a symlink (S_IFLNK)
                    if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
                        raise ImportRejected(bundle, f"{info.filename} is not a regular file")
                    name = _relative(bundle, info.filename, root, seen)
                    with zf.open(info) as entry:
                        yield Member(name, info.file_size, entry), budget
            return
        with open_tar_stream(path, fmt) as tf:
            for member in tf:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ImportRejected(bundle, f"{member.name} is not a regular file")
                name = _relative(bundle, member.name, root, seen)
                body = tf.extractfile(member)
                if body is None:
                    raise ImportRejected(bundle, f"{member.name} cannot be read")
                yield Member(name, member.size, body), budget
    except ImportRejected:
        raise
    except _DAMAGED as exc:
        raise ImportRejected(bundle, f"it cannot be read: {why(exc)}") from exc


def _relative(bundle: str, stored: str, root: list[str], seen: set[str]) -> str:
    """``stored`` without the bundle's top directory, if it is a safe name inside it."""
    if "\\" in stored or "\0" in stored:
        raise ImportRejected(bundle, f"member name {stored!r} is not a plain path")
    pure = PurePosixPath(stored)
    parts = pure.parts
    if pure.is_absolute() or ".." in parts or len(parts) < 2:
        raise ImportRejected(bundle, f"member {stored!r} is outside the bundle's top directory")
    if not root:
        root.append(parts[0])
    elif parts[0] != root[0]:
        raise ImportRejected(
            bundle, f"member {stored!r} is not under the bundle's top directory {root[0]}/"
        )
    name = "/".join(parts[1:])
    if name in seen:
        raise ImportRejected(bundle, f"{name} is in the bundle twice")
    seen.add(name)
    return name
