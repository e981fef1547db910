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

from ferry.fsutil import fsync_dir

__all__ = ["CHUNK_SIZE", "ContentStore", "check_sha256"]

CHUNK_SIZE = 1 << 20

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_STAGING_PREFIX = "part-"
_STAGING_SUFFIX = ".tmp"


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
        self._blobs = self.root / "sha256"
        self._staging_dir = self.root / "tmp"
        # Staging files handed out and not yet committed: commit() flushes their buffers
        # before fsync, and open_staging() deletes whatever is still here when it exits.
        self._staging: dict[Path, BinaryIO] = {}

    def __repr__(self) -> str:
        return f"ContentStore({str(self.root)!r})"

    @property
    def staging_dir(self) -> Path:
        return self._staging_dir

    def path_for(self, sha256: str) -> Path:
        hexdigest = check_sha256(sha256)
        return self._blobs / hexdigest[:2] / hexdigest[2:4] / hexdigest

    def has(self, sha256: str, size: int | None = None) -> bool:
        """True if the blob is present (and ``size`` bytes long, when a size is given).

        Only a ``stat``: a size mismatch catches a blob truncated by something outside
        Ferry without paying for a re-hash on every lookup.
        """
        try:
            st = self.path_for(sha256).stat()
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        return size is None or st.st_size == size

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

    def commit(self, tmp: Path, sha256: str) -> Path:
        """Make the staging file ``tmp`` durable and move it into place as blob ``sha256``.

        Idempotent: if another writer already stored the same blob, the rename simply
        replaces identical bytes, atomically for any reader.
        """
        dest = self.path_for(sha256)
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
        else:
            # Without this the rename itself can be lost on power failure.
            fsync_dir(dest.parent)
        return dest

    def verify(self, sha256: str) -> bool:
        """Re-hash the stored blob; False if it is missing or its bytes do not match."""
        path = self.path_for(sha256)
        try:
            with path.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except FileNotFoundError:
            return False
        return digest == sha256

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
