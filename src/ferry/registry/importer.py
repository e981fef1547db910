"""``ferry import``: a bundle's files into the far side's registries, all or nothing.

1. The archive's own sha256: a bundle imported before is recognised and adds nothing.
2. The bundle is read and checked whole (:mod:`ferry.registry.verified`): every member
   against SHA256SUMS, every listed file against manifest.json, each served file against
   what it says of itself.
3. A delta bundle's files marked ``present`` must be held already, with the same bytes.
4. Only then do the new files' bytes move into the kept store and, in one transaction,
   the import and its files become rows: until that commit nothing of the bundle is
   visible, and a refusal at any step keeps nothing (bytes already moved are released
   again; a crash leaves bytes no row names, which collection removes).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

from ferry.db.artifacts import ArtifactRepository, ImportRecord, NewArtifact
from ferry.db.catalog import FileRecord, NewFile
from ferry.db.threads import DbThreads
from ferry.models.bundled import BundledModel, bundled_models
from ferry.models.hashing import git_blob_sha1
from ferry.registry.errors import ImportRejected
from ferry.registry.inspect import Inspected
from ferry.registry.verified import BundleFile, VerifiedBundle, inspect_file, verify_bundle
from ferry.store.blob import BlobKey
from ferry.store.kept import KeptStore

__all__ = ["import_bundle"]

Progress = Callable[[str, int, int | None], None]


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
    size = (await asyncio.to_thread(path.stat)).st_size
    digest = await asyncio.to_thread(_file_sha256, path, lambda n: report("hashing", n, size))
    repeated = await db(artifacts.find_import, digest)
    if repeated is not None:
        return repeated
    spool = await asyncio.to_thread(_spool_dir, work_dir)
    moved: list[BlobKey] = []
    try:
        verified = await asyncio.to_thread(
            verify_bundle, path, spool, max_bytes, lambda n: report("checking", n, size)
        )
        new = await _inspect_new(verified, artifacts, db)
        await _check_present(verified, artifacts, db)
        models = await _new_models(verified, kept)
        total = len(new)
        for done, (file, inspected) in enumerate(new, 1):
            await _keep(kept, file, inspected, moved)
            report("storing", done, total)
        await _publish_models(verified, kept, models, owner, moved)
        result = await db.write(
            artifacts.record_import,
            filename=verified.name,
            archive_sha256=digest,
            archive_size=size,
            file_count=verified.listed,
            artifacts=[_artifact(f, i) for f, i in new],
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


async def _new_models(verified: VerifiedBundle, kept: KeptStore) -> list[BundledModel]:
    """The model versions the bundle carries that the catalog lacks; one it holds with
    other files refuses the bundle (a published version never changes)."""
    files = verified.of("model", "dataset")
    if not files and not verified.manifest.get("models"):
        return []
    carried = bundled_models(verified.name, verified.manifest, [f.record for f in files])
    catalog = kept.catalog
    if catalog is None:
        raise ImportRejected(verified.name, "this service keeps no model catalog")
    new = []
    for m in carried:
        model = await kept.db(catalog.get, m.kind, m.repo)
        held = model.version(m.version) if model is not None else None
        if held is None:
            new.append(m)
        elif {f.path: (f.sha256, f.size) for f in held.files} != m.files:
            raise ImportRejected(
                verified.name,
                f"{m.repo} {m.version} is held already with other files; a published "
                f"version never changes",
            )
    return new


async def _publish_models(
    verified: VerifiedBundle,
    kept: KeptStore,
    models: list[BundledModel],
    owner: str,
    moved: list[BlobKey],
) -> None:
    """Each new version: its files into the kept store, then published in one step."""
    catalog = kept.catalog
    if not models or catalog is None:
        return
    spooled = {
        (
            f.ecosystem,
            str(f.record.get("model")),
            str(f.record.get("version")),
            str(f.record.get("file")),
        ): f
        for f in verified.of("model", "dataset")
    }
    for m in models:
        await kept.db.write(
            partial(
                catalog.ensure_model,
                m.kind,
                m.repo,
                owner=owner,
                name=m.name,
                task=m.task,
                languages=m.languages,
            )
        )
        for path, (sha256, size) in m.files.items():
            file = spooled[(m.kind, m.repo, m.version, path)]
            assert file.spooled is not None
            git = await asyncio.to_thread(git_blob_sha1, file.spooled, size)
            key = BlobKey.sha256(sha256)
            async with kept.locks.hold(key):
                await kept.blobs.move_file(file.spooled, key)
                moved.append(key)
                record = FileRecord(path, size, sha256, git)
                await kept.db.write(
                    partial(catalog.stage_upload, m.kind, m.repo, m.version, record, owner=owner)
                )
        files = [NewFile(p, sha, n) for p, (sha, n) in m.files.items()]
        await kept.db.write(
            partial(
                catalog.publish, m.kind, m.repo, m.version, files, owner=owner, make_default=True
            )
        )


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


async def _inspect_new(
    verified: VerifiedBundle, artifacts: ArtifactRepository, db: DbThreads
) -> list[tuple[BundleFile, Inspected]]:
    """The shipped files not held yet, each checked to be what the manifest says; a held
    file of the same name must have the same bytes."""
    new: list[tuple[BundleFile, Inspected]] = []
    for ecosystem in ("pypi", "npm"):
        mine = [f for f in verified.shipped if f.ecosystem == ecosystem]
        held = await db(artifacts.present, ecosystem, [f.filename for f in mine])
        for file in mine:
            if file.filename in held:
                _same_bytes(verified.name, file, held[file.filename])
                continue
            inspected = await asyncio.to_thread(inspect_file, verified.name, file)
            new.append((file, inspected))
    return new


async def _check_present(
    verified: VerifiedBundle, artifacts: ArtifactRepository, db: DbThreads
) -> None:
    """A delta bundle leaves out what the far side said it holds: all of it must be here
    still, byte for byte, or the install the bundle is for would fail later."""
    for ecosystem in ("pypi", "npm"):
        mine = [f for f in verified.present if f.ecosystem == ecosystem]
        if not mine:
            continue
        held = await db(artifacts.present, ecosystem, [f.filename for f in mine])
        missing = [f.filename for f in mine if f.filename not in held]
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise ImportRejected(
                verified.name,
                f"it was made for a registry holding {shown}, which this one does not "
                f"hold: import the bundle that carried them first, or make a full bundle",
            )
        for file in mine:
            _same_bytes(verified.name, file, held[file.filename])


def _same_bytes(bundle: str, file: BundleFile, held: str) -> None:
    if held != file.sha256:
        raise ImportRejected(
            bundle,
            f"{file.filename} is held already with other bytes (sha256 {held}); "
            f"a file of one name must not change",
        )


async def _keep(
    kept: KeptStore, file: BundleFile, inspected: Inspected, moved: list[BlobKey]
) -> None:
    assert file.spooled is not None
    key = BlobKey.sha256(file.sha256)
    async with kept.locks.hold(key):
        await kept.blobs.move_file(file.spooled, key)
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


def _artifact(file: BundleFile, inspected: Inspected) -> NewArtifact:
    metadata_sha256 = (
        hashlib.sha256(inspected.metadata).hexdigest() if inspected.metadata is not None else None
    )
    yanked = file.record.get("yanked")
    return NewArtifact(
        ecosystem=file.ecosystem,
        name=inspected.name,
        version=inspected.version,
        filename=file.filename,
        size=file.size,
        sha256=file.sha256,
        integrity=file.integrity,
        shasum=file.sha1,
        requires_python=inspected.requires_python,
        yanked=yanked if isinstance(yanked, str) else None,
        upload_time=_upload_time(file.record.get("upload_time")),
        metadata_sha256=metadata_sha256,
        manifest=inspected.manifest,
    )
