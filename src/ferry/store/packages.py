"""The package store (seed 003): files by name, version, platform and arch, over the blob
store, with their metadata in the database.

The order of the steps is what keeps it consistent: the bytes are streamed into a blob
writer (hashed on the way, invisible until committed), the blob is committed, and only then
is the row inserted. A process killed in between leaves a staging file or an unfinished
multipart upload (``BlobStore.clean_staging`` removes it) or, at worst, a committed blob no
row names (collected as unreferenced), never a row without its bytes.

A client may instead PUT the bytes straight into an S3 store, with a URL the service signed
with their sha256 and length (the bucket refuses other bytes); :meth:`PackageStore.add_verified`
records them once the store says it checked them. A client that never comes back leaves
a blob no row names: collected like a crash's.

A blob may be named by several rows (the same file under two names is kept once), so a
blob is deleted with the last row naming it. Committing a blob and inserting its row, and
deleting a row and its blob, take a lock per digest, so that a delete never removes the
blob an upload of the same bytes has just committed but not yet recorded (one process; a
second replica of the service could still race there, and collection would then be needed).
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from ferry.auth.principal import Principal
from ferry.db.packages import PackageExists, PackageRecord, PackageRepository
from ferry.db.threads import DbThreads
from ferry.errors import (
    FerryError,
    IntegrityError,
    NotAllowed,
    UploadError,
    UploadTooLargeError,
)
from ferry.store.blob import BlobInfo, BlobKey, BlobWriter
from ferry.store.kept import KeptStore

__all__ = [
    "DESCRIPTION_MAX_BYTES",
    "FIELD_LIMITS",
    "PackageFields",
    "PackageInvalid",
    "PackageNotOwned",
    "PackageStore",
    "PackageTooLarge",
    "PackageUploadMissing",
    "check_identifier",
    "safe_filename",
]

# the longest each identifying field may be (they are columns of these widths)
FIELD_LIMITS = {"name": 100, "version": 64, "platform": 32, "arch": 32}
DESCRIPTION_MAX_BYTES = 10 * 1024
FILENAME_MAX = 200

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*\Z")


class PackageInvalid(UploadError):
    """A field of an upload refused before anything is stored; names the field."""

    code = "package-invalid"
    http_status = 422


class PackageTooLarge(UploadTooLargeError):
    code = "package-too-large"


class PackageUploadMissing(FerryError):
    """A direct upload is completed, but the store holds no bytes it checked against the
    sha256 given (the PUT was not sent, failed, or sent other bytes)."""

    code = "package-upload-missing"
    http_status = 409


class PackageNotOwned(NotAllowed):
    code = "package-not-owned"


def check_identifier(field: str, value: str) -> str:
    """A name, version, platform or arch: safe in a path, a URL and a file name."""
    limit = FIELD_LIMITS[field]
    if not value:
        raise PackageInvalid(params={"problem": "missing", "field": field})
    if len(value) > limit:
        raise PackageInvalid(params={"problem": "long", "field": field, "limit": str(limit)})
    if not _IDENTIFIER.match(value) or ".." in value:
        raise PackageInvalid(params={"problem": "unsafe", "field": field, "limit": str(limit)})
    return value


def safe_filename(raw: str | None, fallback: str) -> str:
    """The uploaded file's own name, reduced to its last part without control characters;
    ``fallback`` when nothing usable is left."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in "\"'")
    name = name.strip().lstrip(".")[:FILENAME_MAX]
    return name or fallback


@dataclass(frozen=True, slots=True)
class PackageFields:
    name: str
    version: str
    platform: str
    arch: str
    description: str
    filename: str
    # the sha256 the uploader gave, if any (before the file, the writer was opened
    # expecting it; after it, the commit checks it)
    sha256: str | None = None


class PackageStore:
    def __init__(self, repo: PackageRepository, kept: KeptStore, db: DbThreads) -> None:
        self.repo = repo
        self.kept = kept
        self.blobs = kept.blobs
        self.db = db

    def _locked(self, digest: str) -> AbstractAsyncContextManager[None]:
        # shared with task archives and the collector: one blob may be named by both
        return self.kept.locks.hold(BlobKey.sha256(digest))

    async def check_free(self, name: str, version: str, platform: str, arch: str) -> None:
        """:class:`PackageExists` now, before a byte of the file is read, if the key is
        taken (the insert checks again: this only spares sending a large file for nothing)."""
        existing = await self.db(self.repo.find, name, version, platform, arch)
        if existing is not None:
            raise PackageExists(existing)

    async def add(self, writer: BlobWriter, fields: PackageFields, who: Principal) -> PackageRecord:
        """Commit the writer's blob, then record it; on a conflict the blob goes again
        unless it was there before or another row names it."""
        if writer.size == 0:
            await writer.abort()
            raise PackageInvalid(params={"problem": "empty", "field": "file"})
        # The digest is only known at commit, and the commit must happen under its lock:
        # commit, then lock and check that a delete did not take the blob meanwhile.
        promised = None if fields.sha256 is None else BlobKey.sha256(fields.sha256)
        try:
            info = await writer.commit(promised)
        except IntegrityError as exc:
            # only a writer expecting the uploader's sha256 says this (it stored nothing)
            found = (exc.found or "").removeprefix("sha256:")
            raise PackageInvalid(
                f"the file received has sha256 {found}, not the sha256 given ({fields.sha256})"
            ) from None
        return await self._record(fields, info, who, owned=not writer.deduplicated)

    async def add_verified(self, fields: PackageFields, size: int, who: Principal) -> PackageRecord:
        """Record bytes a client sent straight to the store (a presigned PUT), once the
        store says it checked them against ``fields.sha256`` itself."""
        assert fields.sha256 is not None
        key = BlobKey.sha256(fields.sha256)
        info = await self.blobs.verified(key)
        if info is None or info.size != size:
            raise PackageUploadMissing(params={"sha256": fields.sha256, "size": str(size)})
        # on a conflict the bytes stay: another upload of them may be under way, with its
        # own name; if none is, they are collected as unreferenced
        return await self._record(fields, info, who, owned=False)

    async def _record(
        self, fields: PackageFields, info: BlobInfo, who: Principal, *, owned: bool
    ) -> PackageRecord:
        """Insert the row for a committed blob; ``owned``: the blob was written for this
        row alone, and goes again if the row cannot be inserted."""
        digest = info.key.digest
        async with self._locked(digest):
            # A delete of the last other row with these bytes may have run between the
            # commit and the lock: never record a row whose blob is gone.
            if not await self.blobs.has(info.key, info.size):
                raise FerryError(
                    "the stored file was removed while it was being recorded; upload it again"
                )
            try:
                return await self.db.write(
                    lambda: self.repo.add(
                        name=fields.name,
                        version=fields.version,
                        platform=fields.platform,
                        arch=fields.arch,
                        description=fields.description,
                        filename=fields.filename,
                        size=info.size,
                        sha256=digest,
                        owner=who.owner,
                        token_id=who.token_id,
                    )
                )
            except PackageExists:
                if owned and not await self.kept.is_referenced(info.key):
                    await self.blobs.delete(info.key)
                raise

    async def get(self, package_id: str) -> PackageRecord | None:
        return await self.db(self.repo.get, package_id)

    async def delete(self, record: PackageRecord, who: Principal) -> bool:
        """Remove the row (admin, or the owner with a write token) and, when no other row
        names it, the blob. False if the row was gone already."""
        if not who.is_admin and who.owner != record.owner:
            raise PackageNotOwned(params={"package_id": record.id, "owner": record.owner})
        async with self._locked(record.sha256):
            found = await self.db.write(self.repo.delete, record.id)
            if found is None:
                return False
            _, shared = found
            key = BlobKey.sha256(record.sha256)
            # another package with the same bytes says so at once; a task's archive that
            # happens to be these bytes is asked about as well
            if not shared and not await self.kept.is_referenced(key):
                await self.blobs.delete(key)
        return True
