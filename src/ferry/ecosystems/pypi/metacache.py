"""Core metadata by the sha256 of its distribution file, kept under the data directory.

A file's hash pins its bytes, so its metadata never changes: a second resolution of the
same packages reads Requires-Dist from disk instead of asking the index again.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ferry.store.cas import check_sha256


class MetadataCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        digest = check_sha256(sha256)
        return self.root / digest[:2] / f"{digest}.metadata"

    def get(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, sha256: str, raw: bytes) -> None:
        path = self._path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        # temp file + rename: a reader never sees half a file, concurrent writers agree
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
