"""A content-addressed blob store on the local filesystem.

Layout under ``root``::

    sha256/<aa>/<bb>/<hex>    one file per blob, named by the sha256 of its bytes
    tmp/part-*.tmp            staging files; same filesystem, so ``os.replace`` is atomic

A blob is only ever written to ``tmp/`` and then renamed into place, so a reader never sees
a half-written blob under ``sha256/``: a path that exists holds the complete bytes (a crash
can at worst leave a staging file behind, which :meth:`ContentStore.clean_staging` removes).
The store trusts the caller's hash on :meth:`~ContentStore.commit`; the fetch engine hashes
while streaming, and :meth:`~ContentStore.verify` re-hashes when in doubt.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["ALGORITHMS", "CHUNK_SIZE", "ContentStore", "check_digest", "check_sha256"]

CHUNK_SIZE = 1 << 20

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_STAGING_PREFIX = "part-"
_STAGING_SUFFIX = ".tmp"
# How stale a blob's mtime may be before a lookup that finds it writes a new one.
_USE_RESOLUTION = 600.0


# Digest algorithms the store keeps blobs under, with their hex length: sha256 for Python
# files, sha512 (and sha1 for very old entries) for npm tarballs as their locks record them.
ALGORITHMS = {"sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}


def check_digest(digest: str, algorithm: str = "sha256") -> str:
    """Return ``digest`` if it is lowercase hex of the right length for ``algorithm``."""
    length = ALGORITHMS.get(algorithm)
    if length is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    if (
        not isinstance(digest, str)
        or len(digest) != length
        or re.fullmatch(r"[0-9a-f]+", digest) is None
    ):
        raise ValueError(
            f"not a {algorithm} hex digest ({length} lowercase hex characters): {digest!r}"
        )
    return digest


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex characters, else raise ValueError.

    The hex comes from package indexes and becomes a path: anything else (``..``, ``/``,
    uppercase that would alias on case-insensitive filesystems) is refused outright.
    """
    if not isinstance(sha256, str) or _SHA256_HEX.fullmatch(sha256) is None:
        raise ValueError(f"not a sha256 hex digest (64 lowercase hex characters): {sha256!r}")
    return sha256


class ContentStore:
    """Blobs by sha256 under ``root``; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blobs = self.root
        self._staging_dir = self.root / "tmp"
        # Staging files handed out and not yet committed: commit() flushes their buffers
        # before fsync, and open_staging() deletes whatever is still here when it exits.
        self._staging: dict[Path, BinaryIO] = {}

    def __repr__(self) -> str:
        return f"ContentStore({str(self.root)!r})"

    @property
    def staging_dir(self) -> Path:
        return self._staging_dir

    def path_for(self, digest: str, algorithm: str = "sha256") -> Path:
        hexdigest = check_digest(digest, algorithm)
        return self._blobs / algorithm / hexdigest[:2] / hexdigest[2:4] / hexdigest

    def has(self, digest: str, size: int | None = None, algorithm: str = "sha256") -> bool:
        """True if the blob is present (and ``size`` bytes long, when a size is given).

        Only a ``stat``: a size mismatch catches a blob truncated by something outside
        Ferry without paying for a re-hash on every lookup. A blob found counts as used:
        its mtime moves forward (at most every ``_USE_RESOLUTION`` seconds, so a bundle's
        thousands of lookups cost few writes), which is what the cache's least-recently-used
        eviction goes by (:mod:`ferry.store.cache`).
        """
        path = self.path_for(digest, algorithm)
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        if size is not None and st.st_size != size:
            return False
        if time.time() - st.st_mtime > _USE_RESOLUTION:
            # a read-only store still answers; it just cannot record the use
            with contextlib.suppress(OSError):
                os.utime(path)
        return True

    @contextlib.contextmanager
    def open_staging(self) -> Iterator[tuple[Path, BinaryIO]]:
        """Yield a fresh staging file ``(path, file)`` opened for writing.

        Call :meth:`commit` inside the block to keep it; otherwise, or on any exception
        (including cancellation), the file is deleted when the block exits.
        """
        self._staging_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=_STAGING_PREFIX, suffix=_STAGING_SUFFIX, dir=self._staging_dir
        )
        path = Path(name)
        fh = os.fdopen(fd, "w+b")
        self._staging[path] = fh
        try:
            yield path, fh
        finally:
            fh.close()
            # Still registered means not committed; a committed name may already have been
            # reused by another mkstemp, so it must not be unlinked by name.
            if self._staging.pop(path, None) is not None:
                path.unlink(missing_ok=True)

    def commit(self, tmp: Path, digest: str, algorithm: str = "sha256") -> Path:
        """Make the staging file ``tmp`` durable and move it into place as blob ``sha256``.

        Idempotent: if another writer already stored the same blob, the rename simply
        replaces identical bytes, atomically for any reader.
        """
        dest = self.path_for(digest, algorithm)
        fh = self._staging.pop(tmp, None)
        if fh is not None and not fh.closed:
            fh.flush()
        _fsync_path(tmp)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.replace(dest)
        except PermissionError:
            # Windows refuses to replace a file someone has open; the bytes are the same.
            if not dest.is_file():
                raise
            tmp.unlink(missing_ok=True)
        # No fsync of the directory: a rename lost in a power failure leaves the blob
        # missing, never wrong, and the next run fetches it again. It cost one fsync per
        # tarball (255 for a small Vite app).
        return dest

    def verify(self, digest: str, algorithm: str = "sha256") -> bool:
        """Re-hash the stored blob; False if it is missing or its bytes do not match."""
        path = self.path_for(digest, algorithm)
        try:
            with path.open("rb") as fh:
                actual = hashlib.file_digest(fh, algorithm).hexdigest()
        except FileNotFoundError:
            return False
        return actual == digest

    def add_file(self, path: Path) -> str:
        """Import a local file (copied, never moved) and return its sha256."""
        hasher = hashlib.sha256()
        with self.open_staging() as (tmp, out), Path(path).open("rb") as src:
            while chunk := src.read(CHUNK_SIZE):
                hasher.update(chunk)
                out.write(chunk)
            sha256 = hasher.hexdigest()
            self.commit(tmp, sha256)
        return sha256

    def clean_staging(self, max_age_s: float = 3600.0) -> int:
        """Delete staging files older than ``max_age_s`` seconds; return how many went.

        Meant for start-up: left-overs of a crashed or killed run. The age guard keeps it
        safe while another process sharing the store is mid-download.
        """
        if not self._staging_dir.is_dir():
            return 0
        cutoff = time.time() - max_age_s
        removed = 0
        for entry in self._staging_dir.iterdir():
            if entry in self._staging or not entry.name.startswith(_STAGING_PREFIX):
                continue
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
