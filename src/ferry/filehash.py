"""The sha256 of a file on disk, read in the standard library's own chunks."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["sha256_of_file"]


def sha256_of_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
