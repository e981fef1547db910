"""The npm half of a bundle: tarballs, package.json, the lock npm ci installs from."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from ferry.bundle.archive import ArchiveEntry
from ferry.ecosystems.npm.model import NpmResolution
from ferry.filehash import sha256_of_file

NPM_DIR = "npm-packages"
PREBUILT_DIR = f"{NPM_DIR}/prebuilt"


@dataclass(frozen=True)
class PrebuiltBinary:
    """A native addon's prebuilt binary for the target, as its install tool would have
    downloaded it (``ecosystems.npm.prebuilt``), unpacked: the offline install places
    ``files`` under ``dest`` in every folder the package is installed at."""

    package: str
    version: str
    tool: str
    url: str
    tarball: Path  # the download, verified into the store (its sha256)
    sha256: str
    install_paths: tuple[str, ...]  # lock paths: node_modules/x, node_modules/a/node_modules/x
    dest: str  # relative to the package folder
    files: dict[str, bytes]  # relative to dest

    @property
    def folder(self) -> str:
        return f"{PREBUILT_DIR}/{self.package.lstrip('@').replace('/', '-')}-{self.version}"


@dataclass(frozen=True)
class NpmPart:
    resolution: NpmResolution
    package_json: bytes  # the project's package.json as given (or rebuilt from the lock)
    files: dict[str, Path]  # lock path (node_modules/...) -> verified tarball
    include_dev: bool = False
    prebuilt: list[PrebuiltBinary] = field(default_factory=list)


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
        digest = sha256_of_file(source)
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
    for binary in part.prebuilt:
        name = f"{binary.folder}.tar.gz"  # as downloaded: prebuild-install's cache wants it
        entries.append(ArchiveEntry(name, binary.tarball))
        sums.append((binary.sha256, name))
        records.append(
            {
                "path": name,
                "size": binary.tarball.stat().st_size,
                "sha256": binary.sha256,
                "url": binary.url,
                "package": binary.package,
                "version": binary.version,
                "ecosystem": "npm",
                "prebuilt": binary.tool,
            }
        )
        for rel, data in sorted(binary.files.items()):
            entries.append(ArchiveEntry(f"{binary.folder}/{rel}", data))
            sums.append((hashlib.sha256(data).hexdigest(), f"{binary.folder}/{rel}"))
    return entries, sums, records


def _prebuilt_section(part: NpmPart) -> list[dict[str, object]]:
    return [
        {
            "package": b.package,
            "version": b.version,
            "tool": b.tool,
            "url": b.url,
            "tarball": f"{b.folder}.tar.gz",
            "sha256": b.sha256,
            "install_paths": list(b.install_paths),
            "files": [
                {"path": f"{b.folder}/{rel}", "to": posixpath.join(b.dest, rel)}
                for rel in sorted(b.files)
            ],
        }
        for b in part.prebuilt
    ]


def npm_section(part: NpmPart, files: list[dict[str, object]]) -> dict[str, object]:
    doc = part.resolution.to_dict()
    doc["package_json"] = f"{NPM_DIR}/package.json"
    doc["lock"] = f"{NPM_DIR}/package-lock.json"
    doc["omit_dev"] = not part.include_dev
    doc["prebuilt"] = _prebuilt_section(part)
    doc["file_count"] = len(files)
    doc["total_bytes"] = sum(int(str(f["size"])) for f in files)
    return doc
