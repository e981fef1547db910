"""``ferry export``: what the registries hold, as a bundle another Ferry imports (or
``ferry push`` sends on): a far side feeding the next one, a registry filled through the
near side carried across, a copy kept elsewhere.

The archive has the layout ``ferry import`` reads: ``python-packages/``, ``npm-packages/``,
``manifest.json`` (every file with its sha256, size, package, version, npm integrity,
yanked status and upload time) and ``SHA256SUMS``. It has no locks and no installers: it
is a registry's content, not one project's install. With an inventory of the receiving
side (``--exclude-present``) it is a delta, like ``ferry bundle``'s.

Each blob is hashed again as it is read out of the store: a file whose bytes no longer
match its row stops the export rather than travel.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ferry import __version__
from ferry.bundle.archive import ArchiveEntry, ArchiveFormat, root_name_for, write_archive
from ferry.db.artifacts import ArtifactRecord
from ferry.errors import IntegrityError
from ferry.filehash import sha256_of_file
from ferry.registry.inventory import Inventory
from ferry.store.blob import BlobKey, LocalBlobStore
from ferry.store.kept import KeptStore

__all__ = ["ExportResult", "export_bundle"]


@dataclass(frozen=True)
class ExportResult:
    archive: Path
    archive_size: int
    archive_sha256: str
    files: int
    present_files: int


async def export_bundle(
    kept: KeptStore, out: Path, fmt: ArchiveFormat, *, present: Inventory | None = None
) -> ExportResult:
    assert kept.artifacts is not None
    records = await kept.db(kept.artifacts.inventory)
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "ferry-export-"))
    try:
        entries: list[ArchiveEntry] = []
        sums: list[tuple[str, str]] = []
        files: list[dict[str, object]] = []
        used: set[str] = set()
        left_out = 0
        for record in records:
            path = _bundle_path(record, used)
            listed = _record(record, path)
            if present is not None and present.holds(
                record.ecosystem, record.filename, record.sha256
            ):
                listed["present"] = True
                left_out += 1
            else:
                source = await _checked_copy(kept, record, scratch)
                entries.append(ArchiveEntry(path, source))
                sums.append((record.sha256, path))
            files.append(listed)
        doc = {
            "format": "ferry-bundle/1",
            "created_by": f"ferry {__version__}",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": [],
            "export": {"files": len(records)},
            "files": files,
        }
        if present is not None:
            doc["delta"] = {
                "inventory": Path(present.source).name,
                "present_files": left_out,
                "present_bytes": sum(int(str(f["size"])) for f in files if f.get("present")),
            }
        manifest = json.dumps(doc, indent=2).encode() + b"\n"
        entries.append(ArchiveEntry("manifest.json", manifest))
        sums.append((hashlib.sha256(manifest).hexdigest(), "manifest.json"))
        text = "".join(f"{d}  {n}\n" for d, n in sorted(sums, key=lambda s: s[1]))
        entries.append(ArchiveEntry("SHA256SUMS", text.encode()))
        out.parent.mkdir(parents=True, exist_ok=True)
        size = await asyncio.to_thread(write_archive, out, fmt, entries, root=root_name_for(out))
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    digest = await asyncio.to_thread(sha256_of_file, out)
    return ExportResult(out, size, digest, len(records), left_out)


def _bundle_path(record: ArtifactRecord, used: set[str]) -> str:
    if record.ecosystem == "pypi":
        path = f"python-packages/{record.filename}"
    else:
        # the bundle's flat name (``@scope/name`` → ``scope-name``); the registry name
        # travels in the manifest, so a clash only needs another file name
        flat = f"{record.name.lstrip('@').replace('/', '-')}-{record.version}"
        path, n = f"npm-packages/{flat}.tgz", 1
        while path in used:
            n += 1
            path = f"npm-packages/{flat}-{n}.tgz"
    used.add(path)
    return path


def _record(r: ArtifactRecord, path: str) -> dict[str, object]:
    listed: dict[str, object] = {
        "path": path,
        "size": r.size,
        "sha256": r.sha256,
        "package": r.name,
        "version": r.version,
        "ecosystem": r.ecosystem,
    }
    if r.ecosystem == "npm":
        listed["integrity"] = r.integrity
    else:
        listed["yanked"] = r.yanked
        listed["upload_time"] = r.upload_time
    return listed


async def _checked_copy(kept: KeptStore, record: ArtifactRecord, scratch: Path) -> Path:
    """The blob as a local file (the store's own on disk, else copied out of the
    bucket), hashed: the export never carries bytes that differ from their row."""
    key = BlobKey.sha256(record.sha256)
    blobs = kept.blobs
    if isinstance(blobs, LocalBlobStore):
        path = blobs.path_for(key)
    else:
        path = scratch / record.sha256
        with path.open("wb") as fh:
            async for chunk in blobs.read(key):
                await asyncio.to_thread(fh.write, chunk)
    found = await asyncio.to_thread(sha256_of_file, path)
    if found != record.sha256:
        raise IntegrityError(
            f"{record.filename}: the store holds bytes with sha256 {found}, not {record.sha256}"
        )
    return path
