"""A bundle read once and checked whole, before anything acts on it (import or push).

1. One pass over the members (a compressed tar allows no other): each is hashed; the files
   registries will serve (``python-packages/``, ``npm-packages/*.tgz``) are spooled to a
   work directory on the way; ``SHA256SUMS`` and ``manifest.json`` are kept.
2. Every member must be in SHA256SUMS with the digest it has, and every file manifest.json
   lists must be there with its digest and size; a file the manifest marks ``present``
   (a delta bundle, made with ``--exclude-present``) is not shipped and must not be.
3. :func:`inspect_file`: a served file must say of itself what the manifest says it is
   (:mod:`ferry.registry.inspect`) and, for npm, match the integrity the lock recorded.

Nothing here keeps anything: the caller owns the spool directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ferry.registry.errors import ImportRejected
from ferry.registry.inspect import Inspected, inspect_npm, inspect_python
from ferry.registry.inventory import npm_registry_filename
from ferry.registry.reader import read_members

__all__ = ["BundleFile", "VerifiedBundle", "inspect_file", "registry_filename", "verify_bundle"]

_PYTHON_DIR = "python-packages/"
_NPM_DIR = "npm-packages/"
_MODELS_DIR = "models"
_MAX_LISTING = 64 * 1024 * 1024  # SHA256SUMS and manifest.json: text, never this large
_SUMS_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class _Seen:
    sha256: str
    size: int
    spooled: Path | None = None
    sha512: str | None = None
    sha1: str | None = None


@dataclass
class _Pass:
    members: dict[str, _Seen] = field(default_factory=dict)
    sums: bytes | None = None
    manifest: bytes | None = None


@dataclass(frozen=True)
class BundleFile:
    """A file for a registry that manifest.json lists: shipped (its bytes at ``spooled``,
    hashed on the way in) or, in a delta bundle, only named as already present."""

    record: dict[str, Any]
    ecosystem: str  # "pypi" | "npm"
    filename: str  # its name in the registry (see registry_filename)
    sha256: str
    size: int
    spooled: Path | None = None
    sha512: str | None = None
    sha1: str | None = None

    @property
    def integrity(self) -> str | None:
        if self.sha512 is None:
            return None
        return "sha512-" + base64.b64encode(bytes.fromhex(self.sha512)).decode()

    @property
    def package(self) -> str | None:
        value = self.record.get("package")
        return value if isinstance(value, str) else None

    @property
    def version(self) -> str | None:
        value = self.record.get("version")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class VerifiedBundle:
    name: str  # the archive's file name, as messages name it
    shipped: list[BundleFile]
    present: list[BundleFile]  # a delta bundle's files the far side must hold already
    listed: int  # every file manifest.json lists for the registries
    manifest: dict[str, Any] = field(default_factory=dict)

    def of(self, *ecosystems: str) -> list[BundleFile]:
        return [f for f in self.shipped if f.ecosystem in ecosystems]


def verify_bundle(
    path: Path, spool: Path, max_bytes: int, progress: Callable[[int], None]
) -> VerifiedBundle:
    """Read and check the bundle at ``path`` (see the module docstring), spooling the
    files registries serve into ``spool``. :class:`ImportRejected` names the member, field
    or package when anything does not hold."""
    seen = _read_all(path, spool, max_bytes, progress)
    return _check(path.name, seen)


def _read_all(path: Path, spool: Path, max_bytes: int, progress: Callable[[int], None]) -> _Pass:
    seen = _Pass()
    done = 0
    for member, budget in read_members(path, max_bytes):
        served = _served(member.name)
        hashers = [hashlib.sha256()]
        if served == "npm":
            hashers += [hashlib.sha512(), hashlib.sha1(usedforsecurity=False)]
        keep: bytearray | None = None
        if member.name in ("SHA256SUMS", "manifest.json"):
            if member.size > _MAX_LISTING:
                raise ImportRejected(path.name, f"{member.name} is too large to be one")
            keep = bytearray()
        out: BinaryIO | None = None
        target = None
        if served is not None:
            target = spool / f"{len(seen.members)}.part"
            out = target.open("wb")
        try:
            for chunk in member.chunks(budget):
                for h in hashers:
                    h.update(chunk)
                if out is not None:
                    out.write(chunk)
                if keep is not None:
                    keep += chunk
                done += len(chunk)
                progress(done)
        finally:
            if out is not None:
                out.close()
        seen.members[member.name] = _Seen(
            sha256=hashers[0].hexdigest(),
            size=member.size,
            spooled=target,
            sha512=hashers[1].digest().hex() if served == "npm" else None,
            sha1=hashers[2].hexdigest() if served == "npm" else None,
        )
        if member.name == "SHA256SUMS":
            seen.sums = bytes(keep or b"")
        elif member.name == "manifest.json":
            seen.manifest = bytes(keep or b"")
    return seen


def _served(name: str) -> str | None:
    """Which registry serves the member, if any (prebuilt binaries and locks: none); a
    model's or dataset's file (``models/<kind>/<id>/<version>/<path>``): its kind."""
    if name.startswith(_PYTHON_DIR) and name.count("/") == 1:
        return "pypi"
    if name.startswith(_NPM_DIR) and name.count("/") == 1 and name.endswith(".tgz"):
        return "npm"
    parts = name.split("/")
    if parts[0] == _MODELS_DIR and len(parts) >= 5 and parts[1] in ("model", "dataset"):
        return parts[1]
    return None


def _check(bundle: str, seen: _Pass) -> VerifiedBundle:
    """SHA256SUMS and manifest.json against the members; the manifest's served files."""
    if seen.sums is None:
        raise ImportRejected(bundle, "it has no SHA256SUMS")
    if seen.manifest is None:
        raise ImportRejected(bundle, "it has no manifest.json")
    listed: dict[str, str] = {}
    for number, line in enumerate(seen.sums.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        found = _SUMS_LINE.fullmatch(line)
        if found is None:
            raise ImportRejected(bundle, f"SHA256SUMS line {number} is not 'sha256  name'")
        listed[found[2]] = found[1]
    for name, held in seen.members.items():
        if name == "SHA256SUMS":
            continue
        expected = listed.get(name)
        if expected is None:
            raise ImportRejected(bundle, f"{name} is not in SHA256SUMS")
        if expected != held.sha256:
            raise ImportRejected(
                bundle, f"{name} has sha256 {held.sha256}; SHA256SUMS says {expected}"
            )
    for name in listed:
        if name not in seen.members:
            raise ImportRejected(bundle, f"{name} is in SHA256SUMS but not in the bundle")
    try:
        manifest = json.loads(seen.manifest)
    except ValueError as exc:
        raise ImportRejected(bundle, f"manifest.json is not JSON: {exc}") from None
    records = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(records, list):
        raise ImportRejected(bundle, "manifest.json has no files list")
    shipped: list[BundleFile] = []
    present: list[BundleFile] = []
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise ImportRejected(bundle, "manifest.json lists a file without a path")
        where = record["path"]
        if record.get("present") is True:
            present.append(_present(bundle, record))
            continue
        member = seen.members.get(where)
        if member is None:
            raise ImportRejected(bundle, f"manifest.json lists {where}, which is not in it")
        if record.get("sha256") != member.sha256:
            raise ImportRejected(
                bundle,
                f"manifest.json says {where} has sha256 {record.get('sha256')}, "
                f"it has {member.sha256}",
            )
        if record.get("size") != member.size:
            raise ImportRejected(
                bundle,
                f"manifest.json says {where} is {record.get('size')} bytes, not {member.size}",
            )
        if record.get("prebuilt") or _served(where) is None:
            continue
        if _served(where) != record.get("ecosystem"):
            raise ImportRejected(bundle, f"manifest.json files {where} under another ecosystem")
        shipped.append(
            BundleFile(
                record=record,
                ecosystem=_served(where) or "",
                filename=registry_filename(bundle, record),
                sha256=member.sha256,
                size=member.size,
                spooled=member.spooled,
                sha512=member.sha512,
                sha1=member.sha1,
            )
        )
    return VerifiedBundle(bundle, shipped, present, len(shipped) + len(present), manifest)


def _present(bundle: str, record: dict[str, Any]) -> BundleFile:
    """A delta bundle's file that is not shipped: it must name a registry file exactly."""
    where = record["path"]
    ecosystem = _served(where)
    if ecosystem not in ("pypi", "npm") or ecosystem != record.get("ecosystem"):
        raise ImportRejected(
            bundle, f"manifest.json marks {where} present, but no registry serves it"
        )
    if record.get("prebuilt"):
        raise ImportRejected(bundle, f"manifest.json marks {where} present, but it is prebuilt")
    sha256, size = record.get("sha256"), record.get("size")
    if not isinstance(sha256, str) or _HEX64.fullmatch(sha256) is None:
        raise ImportRejected(bundle, f"manifest.json marks {where} present without its sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImportRejected(bundle, f"manifest.json marks {where} present without its size")
    return BundleFile(
        record=record,
        ecosystem=ecosystem,
        filename=registry_filename(bundle, record),
        sha256=sha256,
        size=size,
    )


def registry_filename(bundle: str, record: dict[str, Any]) -> str:
    """The name a registry serves the file under: a Python file's own name; an npm
    tarball's path in its package (``@scope/name/-/name-1.0.0.tgz``), since the bundle's
    flat names (``scope-name-1.0.0.tgz``) could stand for two packages."""
    base = str(record["path"]).rpartition("/")[2]
    if record["ecosystem"] != "npm":
        return base
    name, version = record.get("package"), record.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise ImportRejected(bundle, f"manifest.json does not say which package {base} is")
    return npm_registry_filename(name, version)


def inspect_file(bundle: str, file: BundleFile) -> Inspected:
    """What the shipped ``file`` says of itself, refused unless it is what the manifest
    says (and, for npm, has the integrity the lock recorded: what npm ci will check)."""
    assert file.spooled is not None
    if file.ecosystem == "pypi":
        return inspect_python(bundle, file.spooled, file.filename)
    name, version = file.package, file.version
    if name is None or version is None:
        raise ImportRejected(bundle, f"manifest.json does not say which package {file.filename} is")
    integrity = file.record.get("integrity")
    if integrity is not None and integrity != file.integrity:
        raise ImportRejected(
            bundle, f"{file.filename} does not match the integrity manifest.json records for it"
        )
    return inspect_npm(bundle, file.spooled, file.filename, name, version)
