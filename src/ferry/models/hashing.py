"""The digests a model file is known by: sha256 (the kept blob, an LFS file's ``oid``) and
the git blob sha1 (a small file's ``oid`` and ETag on the Hub: ``sha1("blob <size>\\0" +
bytes)``); and the commit a version is seen as."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["LFS_THRESHOLD", "GitBlobHasher", "git_blob_sha1", "version_commit"]

# the Hub stores files of 10 MB and more in LFS (its default .gitattributes is by type,
# but huggingface_hub treats any file with an `lfs` entry as one): Ferry says LFS for
# every file of this size or more, and gives smaller ones their git blob id
LFS_THRESHOLD = 10 * 1024 * 1024


class GitBlobHasher:
    """A git blob id, computed as bytes arrive (the size must be known first: it is in
    the header git hashes before the content)."""

    def __init__(self, size: int) -> None:
        self._hash = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def git_blob_sha1(path: Path, size: int) -> str:
    """The git blob id of the file at ``path``, of ``size`` bytes."""
    git = GitBlobHasher(size)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            git.update(chunk)
    return git.hexdigest()


def version_commit(
    kind: str, model_id: str, version: str, files: Iterable[tuple[str, str, int]]
) -> str:
    """The 40-hex revision of a published version, from what it is: the same files under
    the same name and version give the same commit, on every server."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"ferry-version\0{kind}\0{model_id}\0{version}\0".encode())
    for path, sha256, size in sorted(files):
        digest.update(f"{path}\0{sha256}\0{size}\n".encode())
    return digest.hexdigest()
