"""Deciding whether bytes are the ones asked for, for every way a file arrives.

Only what Ferry hashes with :mod:`hashlib` decides (aria2 checks its ``checksum`` too, but
is not trusted alone): the size and digest must match the request, or the bytes are an
:class:`~ferry.errors.IntegrityError` and deleted. Matching bytes are fsynced and renamed
into place atomically, so nothing corrupt or half-written ever sits under a final name.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ferry.fetch.failures import integrity_error, redact
from ferry.fetch.request import FetchRequest
from ferry.store.cas import CHUNK_SIZE, ContentStore

__all__ = ["check", "digest_algorithm", "hash_file", "place"]


def digest_algorithm(request: FetchRequest) -> str:
    """The algorithm the file is hashed with: the request's, sha256 when it names no digest."""
    return request.algorithm if request.digest else "sha256"


def hash_file(path: Path, algorithm: str) -> tuple[str, int]:
    """``(hex digest, size)`` of the file at ``path``."""
    hasher = hashlib.new(algorithm)
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def check(request: FetchRequest, size: int, algorithm: str, actual: str) -> None:
    """Raise :class:`IntegrityError` unless ``size`` and ``actual`` are what was promised."""
    source = redact(request.url)
    if request.size is not None and size != request.size:
        raise integrity_error(
            request.display_name,
            f"{source} does not match: expected {request.size} bytes "
            f"({algorithm} {request.digest})",
            found=f"{size} bytes",
        )
    if request.digest and actual != request.digest:
        raise integrity_error(
            request.display_name,
            f"{source} does not match: expected {algorithm} {request.digest}",
            found=f"{algorithm} {actual}",
        )


def place(store: ContentStore, request: FetchRequest, path: Path) -> Path:
    """Move the verified file at ``path`` into the store (or to ``dest``), durably."""
    if request.dest is None:
        return store.commit(path, request.digest, request.algorithm)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    request.dest.parent.mkdir(parents=True, exist_ok=True)
    path.replace(request.dest)
    return request.dest
