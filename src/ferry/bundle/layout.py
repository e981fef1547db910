"""What goes into a bundle and where, from the resolutions and the fetched files.

<root>/
  python-packages/           every file for every Python target (wheels, sdists, build deps)
  npm-packages/              every tarball for the Node target, package.json and the
                             package-lock.json npm ci installs from (tarball URLs filled in)
  manifests/                 the input manifests as given
  locks/<target>/pylock.toml, requirements.lock.txt
  manifest.json              targets, trees, problems, every file (size, sha256, url)
  SHA256SUMS                 of everything above (sha256sum -c format)
  install.sh  install.ps1  ferry_install.py  ferry_npm.js

A delta bundle (``present``: an inventory of the far side) leaves out the registry files
the far side holds; manifest.json still lists them, marked ``present``, and its installers
only say it must be imported (it cannot install alone).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from ferry import __version__
from ferry.bundle.archive import ArchiveEntry
from ferry.bundle.locks import PACKAGES_DIR, lock_dir, pylock_toml, requirements_lock
from ferry.bundle.npm_layout import NpmPart, npm_part_entries, npm_section
from ferry.ecosystems.pypi.model import Resolution
from ferry.manifests.npmrc import is_npmrc, parse_npmrc
from ferry.models.bundled import ModelPart, model_records, model_section
from ferry.registry.inventory import Inventory, npm_registry_filename

SCRIPTS = (
    ("install.sh", 0o755),
    ("install.ps1", 0o644),
    ("ferry_install.py", 0o644),
    ("ferry_npm.js", 0o644),
)
DELTA_SCRIPTS = (
    ("install.sh", "delta_install.sh", 0o755),
    ("install.ps1", "delta_install.ps1", 0o644),
)


@dataclass(frozen=True)
class BundleInput:
    resolution: Resolution | None
    manifests: list[Path]
    files: dict[str, Path]  # sha256 -> verified local copy
    npm: NpmPart | None = None
    # how the Python files were chosen (wheels or sources, a date, a PyTorch backend)
    python_options: dict[str, object] | None = None
    # a delta bundle: what the far side holds already is listed, marked present, not shipped
    present: Inventory | None = None
    # model and dataset versions carried (ferry bundle --model)
    models: list[ModelPart] = field(default_factory=list)


def _manifest_names(paths: list[Path]) -> list[tuple[str, Path]]:
    """Keep the original file names; disambiguate same-named files from different folders."""
    out: list[tuple[str, Path]] = []
    used: set[str] = set()
    for i, path in enumerate(paths):
        name = f"manifests/{path.name}"
        if name in used:
            name = f"manifests/{i}/{path.name}"
        used.add(name)
        out.append((name, path))
    return out


def _created_at() -> str:
    """Now, or SOURCE_DATE_EPOCH when set, so a rebuild of the same inputs is byte-identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return when.isoformat(timespec="seconds")


def _python_section(
    res: Resolution, data: BundleInput
) -> tuple[dict[str, object], list[dict[str, object]]]:
    targets = []
    for t in res.targets:
        d = t.to_dict()
        target_info = d.pop("target")
        assert isinstance(target_info, dict)
        targets.append(
            {
                **target_info,
                "requirements": f"{lock_dir(t.target.key)}/requirements.lock.txt",
                "pylock": f"{lock_dir(t.target.key)}/pylock.toml",
                **d,
            }
        )
    files = []
    for sha, f in sorted(res.unique_files().items(), key=lambda kv: kv[1].filename):
        users = sorted(
            {
                (p.name, p.version)
                for t in res.targets
                for p in t.all_packages
                if p.file.sha256 == sha
            }
        )
        # carried over to the far side's index (ferry import): yanked stays yanked there
        yanked = next(
            (
                p.yanked
                for t in res.targets
                for p in t.all_packages
                if p.file.sha256 == sha and p.yanked is not None
            ),
            None,
        )
        files.append(
            {
                "path": f"{PACKAGES_DIR}/{f.filename}",
                "size": data.files[sha].stat().st_size,
                "sha256": sha,
                "url": f.url,
                "package": users[0][0] if users else None,
                "version": users[0][1] if users else None,
                "ecosystem": "pypi",
                "yanked": yanked,
                "upload_time": f.upload_time,
            }
        )
    section: dict[str, object] = {
        "options": data.python_options or {},
        "targets": targets,
        "problems": [p.to_dict() for p in res.all_problems],
        "file_count": len(files),
        "total_bytes": sum(int(str(f["size"])) for f in files),
    }
    return section, files


def manifest_document(
    data: BundleInput,
    manifest_names: list[str],
    npm_files: list[dict[str, object]],
    model_files: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    doc: dict[str, object] = {
        "format": "ferry-bundle/1",
        "created_by": f"ferry {__version__}",
        "created_at": _created_at(),
        "inputs": manifest_names,
    }
    files: list[dict[str, object]] = []
    if data.resolution is not None:
        doc["python"], files = _python_section(data.resolution, data)
    if data.npm is not None:
        doc["npm"] = npm_section(data.npm, npm_files)
    doc["files"] = files + npm_files + (model_files or [])
    return doc


def bundle_entries(data: BundleInput) -> list[ArchiveEntry]:
    res = data.resolution
    sums: list[tuple[str, str]] = []
    entries: list[ArchiveEntry] = []

    def add_bytes(name: str, content: bytes, mode: int = 0o644) -> None:
        entries.append(ArchiveEntry(name, content, mode))
        sums.append((hashlib.sha256(content).hexdigest(), name))

    present: set[str] = set()
    if res is not None:
        for sha, f in sorted(res.unique_files().items(), key=lambda kv: kv[1].filename):
            name = f"{PACKAGES_DIR}/{f.filename}"
            if data.present is not None and data.present.holds("pypi", f.filename, sha):
                present.add(name)
                continue
            entries.append(ArchiveEntry(name, data.files[sha]))
            sums.append((sha, name))

    named = _manifest_names(data.manifests)
    for name, path in named:
        if is_npmrc(path.name):
            # a project's .npmrc may hold registry tokens: never into an archive
            add_bytes(name, parse_npmrc(path).carried.encode())
        else:
            add_bytes(name, path.read_bytes())
    if res is not None:
        for t in res.targets:
            add_bytes(f"{lock_dir(t.target.key)}/pylock.toml", pylock_toml(t).encode())
            add_bytes(
                f"{lock_dir(t.target.key)}/requirements.lock.txt",
                requirements_lock(t, res).encode(),
            )
    npm_files: list[dict[str, object]] = []
    if data.npm is not None:
        npm_entries, npm_sums, npm_files = npm_part_entries(data.npm)
        if data.present is not None:
            present |= _npm_present(npm_files, data.present)
        entries += [e for e in npm_entries if e.arcname not in present]
        sums += [s for s in npm_sums if s[1] not in present]
    model_files: list[dict[str, object]] = []
    for part in data.models:
        for record in model_records(part):
            sha = str(record["sha256"])
            entries.append(ArchiveEntry(str(record["path"]), part.sources[sha]))
            sums.append((sha, str(record["path"])))
            model_files.append(record)
    doc = manifest_document(data, [n for n, _ in named], npm_files, model_files)
    if data.models:
        doc["models"] = [model_section(part) for part in data.models]
    if data.present is not None:
        _mark_present(doc, present, data.present)
    add_bytes("manifest.json", json.dumps(doc, indent=2).encode() + b"\n")
    templates = resources.files("ferry.bundle") / "templates"
    if present:
        # files are missing on purpose: the installers would only fail, so they say why
        for script, source, mode in DELTA_SCRIPTS:
            add_bytes(script, (templates / source).read_bytes(), mode)
    else:
        for script, mode in SCRIPTS:
            add_bytes(script, (templates / script).read_bytes(), mode)

    sums_text = "".join(f"{digest}  {name}\n" for digest, name in sorted(sums, key=lambda s: s[1]))
    entries.append(ArchiveEntry("SHA256SUMS", sums_text.encode()))
    return entries


def _npm_present(records: list[dict[str, object]], inventory: Inventory) -> set[str]:
    """The npm tarballs the far side holds, by their registry path and sha256."""
    found = set()
    for r in records:
        if r.get("prebuilt"):
            continue  # served by no registry: always shipped
        filename = npm_registry_filename(str(r["package"]), str(r["version"]))
        if inventory.holds("npm", filename, str(r["sha256"])):
            found.add(str(r["path"]))
    return found


def _mark_present(doc: dict[str, object], present: set[str], inventory: Inventory) -> None:
    """Every file still listed (the far side checks it holds them all), the absent ones
    marked; ``delta`` says the bundle installs only through a registry that has them."""
    files = doc["files"]
    assert isinstance(files, list)
    size = 0
    for record in files:
        if record["path"] in present:
            record["present"] = True
            size += int(record["size"])
    doc["delta"] = {
        "inventory": Path(inventory.source).name,
        "present_files": len(present),
        "present_bytes": size,
    }


def delta_of(entries: list[ArchiveEntry]) -> dict[str, int]:
    """What a delta bundle left out (``present_files``, ``present_bytes``); empty for a
    whole bundle."""
    for entry in entries:
        if entry.arcname == "manifest.json" and isinstance(entry.source, bytes):
            delta = json.loads(entry.source).get("delta") or {}
            return {k: int(v) for k, v in delta.items() if k.startswith("present_")}
    return {}
