"""The npm half of a bundle: tarballs, package.json, the lock npm ci installs from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ferry.bundle.archive import ArchiveEntry
from ferry.ecosystems.npm.model import NpmResolution

NPM_DIR = "npm-packages"


@dataclass(frozen=True)
class NpmPart:
    resolution: NpmResolution
    package_json: bytes  # the project's package.json as given (or rebuilt from the lock)
    files: dict[str, Path]  # lock path (node_modules/...) -> verified tarball
    include_dev: bool = False


def _sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def npm_part_entries(
    part: NpmPart,
) -> tuple[list[ArchiveEntry], list[tuple[str, str]], list[dict[str, object]]]:
    """(archive entries, SHA256SUMS lines, manifest.json file records)."""
    entries: list[ArchiveEntry] = []
    sums: list[tuple[str, str]] = []
    records: list[dict[str, object]] = []
    seen: dict[str, str] = {}
    for pkg in sorted(part.resolution.packages, key=lambda p: (p.filename, p.path)):
        source = part.files.get(pkg.path)
        if source is None:
            continue
        name = f"{NPM_DIR}/{pkg.filename}"
        if name in seen:
            continue  # the same release installed at two paths: one tarball
        digest = _sha256_of(source)
        seen[name] = digest
        entries.append(ArchiveEntry(name, source))
        sums.append((digest, name))
        records.append(
            {
                "path": name,
                "size": source.stat().st_size,
                "sha256": digest,
                "integrity": pkg.integrity.sri if pkg.integrity else None,
                "url": pkg.resolved,
                "package": pkg.name,
                "version": pkg.version,
                "ecosystem": "npm",
            }
        )
    for name, content in (
        (f"{NPM_DIR}/package.json", part.package_json),
        (
            f"{NPM_DIR}/package-lock.json",
            json.dumps(part.resolution.lock, indent=2).encode() + b"\n",
        ),
    ):
        entries.append(ArchiveEntry(name, content))
        sums.append((hashlib.sha256(content).hexdigest(), name))
    return entries, sums, records


def npm_section(part: NpmPart, files: list[dict[str, object]]) -> dict[str, object]:
    doc = part.resolution.to_dict()
    doc["package_json"] = f"{NPM_DIR}/package.json"
    doc["lock"] = f"{NPM_DIR}/package-lock.json"
    doc["omit_dev"] = not part.include_dev
    doc["file_count"] = len(files)
    doc["total_bytes"] = sum(int(str(f["size"])) for f in files)
    return doc
