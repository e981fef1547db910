"""``ferry import``: a bundle's files into the far side's registries, all or nothing.

1. The archive's own sha256: a bundle imported before is recognised and adds nothing.
2. One pass over the members (a compressed tar allows no other): each is hashed; the files
   registries will serve (``python-packages/``, ``npm-packages/*.tgz``) are spooled to a
   work directory on the way; ``SHA256SUMS`` and ``manifest.json`` are kept.
3. Every member must be in SHA256SUMS with the digest it has, and every file manifest.json
   lists must be there with its digest and size (and, for npm, the integrity the lock
   recorded); each served file must say of itself what the manifest says it is
   (:mod:`ferry.registry.inspect`).
4. Only then do the new files' bytes move into the kept store and, in one transaction,
   the import and its files become rows: until that commit nothing of the bundle is
   visible, and a refusal at any step keeps nothing (bytes already moved are released
   again; a crash leaves bytes no row names, which collection removes).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from ferry.db.artifacts import ArtifactRepository, ImportRecord, NewArtifact
from ferry.db.threads import DbThreads
from ferry.registry.errors import ImportRejected
from ferry.registry.inspect import Inspected, inspect_npm, inspect_python
from ferry.registry.reader import read_members
from ferry.store.blob import BlobKey
from ferry.store.kept import KeptStore

__all__ = ["import_bundle"]

Progress = Callable[[str, int, int | None], None]

_PYTHON_DIR = "python-packages/"
_NPM_DIR = "npm-packages/"
_MAX_LISTING = 64 * 1024 * 1024  # SHA256SUMS and manifest.json: text, never this large
_SUMS_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


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


async def import_bundle(
    path: Path,
    kept: KeptStore,
    artifacts: ArtifactRepository,
    db: DbThreads,
    *,
    work_dir: Path,
    max_bytes: int,
    owner: str,
    token_id: str | None = None,
    progress: Progress | None = None,
) -> ImportRecord:
    """Import the bundle at ``path``; see the module docstring. :class:`ImportRejected`
    names the member, field or package when anything does not hold."""
    report = progress or (lambda _phase, _done, _total: None)
    bundle = path.name
    size = (await asyncio.to_thread(path.stat)).st_size
    digest = await asyncio.to_thread(_file_sha256, path, lambda n: report("hashing", n, size))
    repeated = await db(artifacts.find_import, digest)
    if repeated is not None:
        return repeated
    spool = await asyncio.to_thread(_spool_dir, work_dir)
    moved: list[BlobKey] = []
    try:
        seen = await asyncio.to_thread(
            _read_all, path, spool, max_bytes, lambda n: report("checking", n, size)
        )
        files = _check(bundle, seen)
        new = await _inspect_new(bundle, files, seen, artifacts, db)
        total = len(new)
        for done, (record, inspected) in enumerate(new, 1):
            await _keep(kept, seen.members[str(record["path"])], inspected, moved)
            report("storing", done, total)
        result = await db.write(
            artifacts.record_import,
            filename=bundle,
            archive_sha256=digest,
            archive_size=size,
            file_count=len(files),
            artifacts=[_artifact(bundle, r, i, seen.members[str(r["path"])]) for r, i in new],
            owner=owner,
            token_id=token_id,
        )
    except BaseException:
        for key in moved:  # bytes of an import that did not happen: named by no row yet
            await kept.release(key)
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, spool, True)
    return result


def _spool_dir(work_dir: Path) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="import-", dir=work_dir))


def _file_sha256(path: Path, progress: Callable[[int], None]) -> str:
    hasher = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
            done += len(chunk)
            progress(done)
    return hasher.hexdigest()


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
    """Which registry serves the member, if any (prebuilt binaries and locks: none)."""
    if name.startswith(_PYTHON_DIR) and name.count("/") == 1:
        return "pypi"
    if name.startswith(_NPM_DIR) and name.count("/") == 1 and name.endswith(".tgz"):
        return "npm"
    return None


def _check(bundle: str, seen: _Pass) -> list[dict[str, Any]]:
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
    served: list[dict[str, Any]] = []
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise ImportRejected(bundle, "manifest.json lists a file without a path")
        where = record["path"]
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
        served.append(record)
    return served


async def _inspect_new(
    bundle: str,
    files: list[dict[str, Any]],
    seen: _Pass,
    artifacts: ArtifactRepository,
    db: DbThreads,
) -> list[tuple[dict[str, Any], Inspected]]:
    """The served files not held yet, each checked to be what the manifest says; a held
    file of the same name must have the same bytes."""
    new: list[tuple[dict[str, Any], Inspected]] = []
    for ecosystem in ("pypi", "npm"):
        mine = [r for r in files if r["ecosystem"] == ecosystem]
        names = [_registry_filename(bundle, r) for r in mine]
        held = await db(artifacts.present, ecosystem, names)
        for record, filename in zip(mine, names, strict=True):
            member = seen.members[record["path"]]
            if filename in held:
                if held[filename] != member.sha256:
                    raise ImportRejected(
                        bundle,
                        f"{filename} is held already with other bytes (sha256 "
                        f"{held[filename]}); a file of one name must not change",
                    )
                continue
            assert member.spooled is not None
            inspected = await asyncio.to_thread(_inspect, bundle, record, filename, member)
            new.append((record, inspected))
    return new


def _inspect(bundle: str, record: dict[str, Any], filename: str, member: _Seen) -> Inspected:
    assert member.spooled is not None
    if record["ecosystem"] == "pypi":
        return inspect_python(bundle, member.spooled, filename)
    name, version = record.get("package"), record.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise ImportRejected(bundle, f"manifest.json does not say which package {filename} is")
    integrity = record.get("integrity")
    if integrity is not None and integrity != _sri(member):
        # the lock's integrity is what npm ci will check these bytes against
        raise ImportRejected(
            bundle, f"{filename} does not match the integrity manifest.json records for it"
        )
    return inspect_npm(bundle, member.spooled, filename, name, version)


def _sri(member: _Seen) -> str | None:
    if member.sha512 is None:
        return None
    return "sha512-" + base64.b64encode(bytes.fromhex(member.sha512)).decode()


async def _keep(kept: KeptStore, member: _Seen, inspected: Inspected, moved: list[BlobKey]) -> None:
    assert member.spooled is not None
    key = BlobKey.sha256(member.sha256)
    async with kept.locks.hold(key):
        await kept.blobs.move_file(member.spooled, key)
        moved.append(key)
    if inspected.metadata is not None:
        async with kept.blobs.open_writer() as writer:
            await writer.write(inspected.metadata)
            info = await writer.commit()
        moved.append(info.key)


def _upload_time(value: object) -> str | None:
    """An ISO 8601 time as the source index gave it, or None (it is served as is)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def _registry_filename(bundle: str, record: dict[str, Any]) -> str:
    """The name a registry serves the file under: a Python file's own name; an npm
    tarball's path in its package (``@scope/name/-/name-1.0.0.tgz``), since the bundle's
    flat names (``scope-name-1.0.0.tgz``) could stand for two packages."""
    base = str(record["path"]).rpartition("/")[2]
    if record["ecosystem"] != "npm":
        return base
    name, version = record.get("package"), record.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise ImportRejected(bundle, f"manifest.json does not say which package {base} is")
    return f"{name}/-/{name.rpartition('/')[2]}-{version}.tgz"


def _artifact(
    bundle: str, record: dict[str, Any], inspected: Inspected, member: _Seen
) -> NewArtifact:
    filename = _registry_filename(bundle, record)
    metadata_sha256 = (
        hashlib.sha256(inspected.metadata).hexdigest() if inspected.metadata is not None else None
    )
    return NewArtifact(
        ecosystem=str(record["ecosystem"]),
        name=inspected.name,
        version=inspected.version,
        filename=filename,
        size=member.size,
        sha256=member.sha256,
        integrity=_sri(member),
        shasum=member.sha1,
        requires_python=inspected.requires_python,
        yanked=record.get("yanked") if isinstance(record.get("yanked"), str) else None,
        upload_time=_upload_time(record.get("upload_time")),
        metadata_sha256=metadata_sha256,
        manifest=inspected.manifest,
    )
