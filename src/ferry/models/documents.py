"""The catalog as its readers expect it: seed 004's documents and the Hugging Face Hub's,
one document where both ask the same URL (``GET /api/models/{id}`` is the seed's model
and the Hub's ``model_info``: each reads the fields it knows).

Never a Xet field (``xetHash``, ``X-Xet-*``, a ``xet-auth`` link): hf_xet ignores
``HF_ENDPOINT`` and would fetch from the Hub itself.
"""

from __future__ import annotations

from typing import Any

from ferry.db.catalog import FileRecord, ModelRecord, VersionRecord
from ferry.models.hashing import LFS_THRESHOLD

__all__ = ["hub_entry", "is_lfs", "model_document", "oid_of", "sibling", "when"]

POINTER_SIZE = 134  # an LFS pointer file's usual size, as the Hub reports it


def when(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def is_lfs(f: FileRecord) -> bool:
    return f.size >= LFS_THRESHOLD


def oid_of(f: FileRecord) -> str:
    """What the Hub's clients take as the file's ETag: sha256 for LFS files, the git
    blob id for the rest."""
    return f.sha256 if is_lfs(f) else f.git_sha1


def sibling(f: FileRecord, *, blobs: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"rfilename": f.path}
    if blobs:
        doc["size"] = f.size
        doc["blobId"] = f.git_sha1
        if is_lfs(f):
            doc["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": POINTER_SIZE}
    return doc


def hub_entry(f: FileRecord) -> dict[str, Any]:
    """A file as the tree and paths-info endpoints list it."""
    doc: dict[str, Any] = {"type": "file", "oid": f.git_sha1, "size": f.size, "path": f.path}
    if is_lfs(f):
        doc["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": POINTER_SIZE}
    return doc


def _version_doc(v: VersionRecord) -> dict[str, Any]:
    return {
        "version": v.version,
        "commit": v.commit,
        "size_bytes": v.size,
        "files": [{"path": f.path, "size_bytes": f.size, "sha256": f.sha256} for f in v.files],
        "updated_at": when(v.created_at),
    }


def model_document(
    m: ModelRecord, version: VersionRecord | None, *, blobs: bool = False
) -> dict[str, Any]:
    """Seed 004's model (versions, default_version, task, languages, updated_at) and the
    Hub's ``ModelInfo``/``DatasetInfo`` for ``version`` (id, sha, siblings, ...)."""
    doc: dict[str, Any] = {
        "id": m.model_id,
        "name": m.name,
        "versions": [_version_doc(v) for v in m.versions],
        "default_version": m.default_version,
        "task": m.task,
        "languages": list(m.languages),
        "updated_at": when(m.updated_at),
        # the Hub's fields
        "_id": m.model_id,
        "author": m.model_id.partition("/")[0] if "/" in m.model_id else None,
        "private": False,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "tags": [*m.languages, *([m.task] if m.task else [])],
        "createdAt": when(m.created_at),
        "lastModified": when(m.updated_at),
    }
    if m.kind == "model":
        doc["modelId"] = m.model_id
        doc["pipeline_tag"] = m.task
    if version is not None:
        doc["sha"] = version.commit
        doc["siblings"] = [sibling(f, blobs=blobs) for f in version.files]
        doc["usedStorage"] = version.size
    return doc
