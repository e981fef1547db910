"""The model catalog's metadata (seed 004): the only code that reads or writes ``models``,
``model_versions``, ``model_files``, ``model_uploads`` and ``model_usage``.

A version is published in two steps, so that tens of gigabytes can be sent file by file
and a failed file sent again: each file is uploaded (its blob committed, then a
``model_uploads`` row naming it), then ``publish`` lists the version's files and, in one
transaction, checks each was uploaded (or is held by an earlier version of the model with
the same bytes: an update sends only what changed), and makes the version visible. Until
then nothing of it is served; once published, its files never change.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.models import (
    CatalogFile,
    CatalogModel,
    CatalogUpload,
    CatalogUsage,
    CatalogVersion,
)
from ferry.db.repository import utcnow
from ferry.errors import ExitCode, FerryError
from ferry.models.hashing import version_commit

__all__ = [
    "CatalogRepository",
    "FileRecord",
    "ModelConflict",
    "ModelNotFound",
    "ModelRecord",
    "NewFile",
    "VersionRecord",
]


class ModelNotFound(FerryError):
    code = "model-not-found"
    exit_code = ExitCode.USAGE
    http_status = 404


class ModelConflict(FerryError):
    code = "model-conflict"
    exit_code = ExitCode.USAGE
    http_status = 409


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    size: int
    sha256: str
    git_sha1: str


@dataclass(frozen=True, slots=True)
class VersionRecord:
    version: str
    commit: str
    size: int
    owner: str
    created_at: datetime
    files: tuple[FileRecord, ...]

    def file(self, path: str) -> FileRecord | None:
        return next((f for f in self.files if f.path == path), None)


@dataclass(frozen=True, slots=True)
class ModelRecord:
    kind: str
    model_id: str
    name: str
    task: str | None
    languages: tuple[str, ...]
    default_version: str | None
    owner: str
    created_at: datetime
    updated_at: datetime
    versions: tuple[VersionRecord, ...]  # newest first

    def version(self, name: str) -> VersionRecord | None:
        return next((v for v in self.versions if v.version == name), None)

    def resolve(self, revision: str) -> VersionRecord | None:
        """A revision as the Hub's clients give it: ``main`` (the default version), a
        version's name, or a version's 40-hex commit."""
        if revision == "main" and self.default_version is not None:
            found = self.version(self.default_version)
            if found is not None:
                return found
        return self.version(revision) or next(
            (v for v in self.versions if v.commit == revision), None
        )


@dataclass(frozen=True, slots=True)
class NewFile:
    path: str
    sha256: str
    size: int


class CatalogRepository:
    def __init__(self, sessions: sessionmaker[Session] | Callable[[], Session]) -> None:
        self._sessions = sessions

    # -- models

    def ensure_model(
        self,
        kind: str,
        model_id: str,
        *,
        owner: str,
        name: str | None = None,
        task: str | None = None,
        languages: Sequence[str] | None = None,
    ) -> ModelRecord:
        """The model, made on first use (its owner is who made it); the name, task and
        languages given replace what it had."""
        now = utcnow()
        with self._sessions() as session, session.begin():
            row = self._model(session, kind, model_id)
            if row is None:
                row = CatalogModel(
                    kind=kind,
                    model_id=model_id,
                    name=name or model_id,
                    task=task,
                    languages=list(languages or []),
                    default_version=None,
                    owner=owner,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                try:
                    session.flush()
                except DbIntegrityError:  # made meanwhile by another upload
                    session.rollback()
                    return self._record_of(kind, model_id)
            else:
                if name:
                    row.name = name
                if task is not None:
                    row.task = task
                if languages is not None:
                    row.languages = list(languages)
        return self._record_of(kind, model_id)

    def get(self, kind: str, model_id: str) -> ModelRecord | None:
        with self._sessions() as session:
            row = self._model(session, kind, model_id)
            return None if row is None else self._record(session, row)

    def list(
        self,
        kind: str,
        *,
        search: str | None = None,
        task: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[builtins.list[ModelRecord], int]:
        """A page of the models with at least one published version, most recently
        updated first, and how many there are."""
        published = select(CatalogVersion.model_pk).distinct()
        where = [CatalogModel.kind == kind, CatalogModel.id.in_(published)]
        if search:
            needle = f"%{search.lower()}%"
            where.append(
                or_(
                    func.lower(CatalogModel.model_id).like(needle),
                    func.lower(CatalogModel.name).like(needle),
                )
            )
        if task:
            where.append(CatalogModel.task == task)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(CatalogModel).where(*where))
            rows = session.scalars(
                select(CatalogModel)
                .where(*where)
                .order_by(CatalogModel.updated_at.desc(), CatalogModel.model_id)
                .offset(offset)
                .limit(limit)
            ).all()
            return [self._record(session, r) for r in rows], int(total or 0)

    # -- publishing

    def stage_upload(
        self,
        kind: str,
        model_id: str,
        version: str,
        file: FileRecord,
        *,
        owner: str,
    ) -> str | None:
        """Record an uploaded file of an unpublished version; the sha256 of the file it
        replaces (sent again), if another, for the caller to release."""
        now = utcnow()
        with self._sessions() as session, session.begin():
            self._unpublished(session, kind, model_id, version)
            row = session.scalar(
                select(CatalogUpload).where(
                    CatalogUpload.kind == kind,
                    CatalogUpload.model_id == model_id,
                    CatalogUpload.version == version,
                    CatalogUpload.path == file.path,
                )
            )
            replaced = None
            if row is None:
                session.add(
                    CatalogUpload(
                        kind=kind,
                        model_id=model_id,
                        version=version,
                        path=file.path,
                        size=file.size,
                        sha256=file.sha256,
                        git_sha1=file.git_sha1,
                        owner=owner,
                        created_at=now,
                    )
                )
            else:
                replaced = row.sha256 if row.sha256 != file.sha256 else None
                row.size, row.sha256, row.git_sha1 = file.size, file.sha256, file.git_sha1
                row.owner, row.created_at = owner, now
        return replaced

    def publish(
        self,
        kind: str,
        model_id: str,
        version: str,
        files: Sequence[NewFile],
        *,
        owner: str,
        make_default: bool,
    ) -> VersionRecord:
        """Make ``version`` visible with exactly ``files``; see the module docstring."""
        now = utcnow()
        with self._sessions() as session, session.begin():
            model = self._unpublished(session, kind, model_id, version)
            staged = {
                u.path: u
                for u in session.scalars(
                    select(CatalogUpload).where(
                        CatalogUpload.kind == kind,
                        CatalogUpload.model_id == model_id,
                        CatalogUpload.version == version,
                    )
                )
            }
            held = {
                (f.sha256, f.size): f.git_sha1
                for f in session.scalars(
                    select(CatalogFile)
                    .join(CatalogVersion, CatalogFile.version_pk == CatalogVersion.id)
                    .where(CatalogVersion.model_pk == model.id)
                )
            }
            rows: builtins.list[CatalogFile] = []
            for f in files:
                upload = staged.get(f.path)
                if upload is not None and (upload.sha256, upload.size) == (f.sha256, f.size):
                    git_sha1 = upload.git_sha1
                elif (f.sha256, f.size) in held:
                    git_sha1 = held[(f.sha256, f.size)]
                else:
                    raise ModelConflict(
                        f"{model_id} {version}: {f.path} was not uploaded with sha256 "
                        f"{f.sha256} and {f.size} bytes, and no earlier version holds it"
                    )
                rows.append(
                    CatalogFile(path=f.path, size=f.size, sha256=f.sha256, git_sha1=git_sha1)
                )
            commit = version_commit(
                kind, model_id, version, [(f.path, f.sha256, f.size) for f in files]
            )
            row = CatalogVersion(
                model_pk=model.id,
                version=version,
                commit=commit,
                size=sum(f.size for f in files),
                owner=owner,
                created_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except DbIntegrityError:
                raise ModelConflict(f"{model_id} {version} is published already") from None
            for kept in rows:
                kept.version_pk = row.id
            session.add_all(rows)
            session.execute(
                delete(CatalogUpload).where(
                    CatalogUpload.kind == kind,
                    CatalogUpload.model_id == model_id,
                    CatalogUpload.version == version,
                )
            )
            if make_default or model.default_version is None:
                model.default_version = version
            model.updated_at = now
        record = self._record_of(kind, model_id).version(version)
        assert record is not None
        return record

    # -- usage

    def count_use(self, kind: str, model_id: str) -> None:
        """One more use; the first uses of a model may race to make its row, and the one
        that loses counts by updating the winner's."""
        for _ in range(3):
            try:
                self._count_use(kind, model_id)
                return
            except DbIntegrityError:
                continue

    def _count_use(self, kind: str, model_id: str) -> None:
        now = utcnow()
        with self._sessions() as session, session.begin():
            model = self._model(session, kind, model_id)
            if model is None:
                return
            updated = session.execute(
                update(CatalogUsage)
                .where(CatalogUsage.model_pk == model.id)
                .values(request_count=CatalogUsage.request_count + 1, last_used=now)
            )
            if updated.rowcount == 0:  # type: ignore[attr-defined]
                session.add(CatalogUsage(model_pk=model.id, request_count=1, last_used=now))

    def ranking(self, kind: str, limit: int) -> builtins.list[tuple[str, int]]:
        with self._sessions() as session:
            rows = session.execute(
                select(CatalogModel.model_id, CatalogUsage.request_count)
                .join(CatalogUsage, CatalogUsage.model_pk == CatalogModel.id)
                .where(CatalogModel.kind == kind)
                .order_by(CatalogUsage.request_count.desc(), CatalogModel.model_id)
                .limit(limit)
            ).all()
            return [(str(m), int(n)) for m, n in rows]

    # -- blobs

    def digests(self) -> set[str]:
        with self._sessions() as session:
            files = set(session.scalars(select(CatalogFile.sha256).distinct()))
            return files | set(session.scalars(select(CatalogUpload.sha256).distinct()))

    def references(self, sha256: str) -> int:
        with self._sessions() as session:
            files = session.scalar(
                select(func.count()).select_from(CatalogFile).where(CatalogFile.sha256 == sha256)
            )
            uploads = session.scalar(
                select(func.count())
                .select_from(CatalogUpload)
                .where(CatalogUpload.sha256 == sha256)
            )
            return int(files or 0) + int(uploads or 0)

    def drop_stale_uploads(self, older_than: timedelta) -> builtins.list[str]:
        """Forget uploads of versions never published; their digests, to release."""
        cutoff = utcnow() - older_than
        with self._sessions() as session, session.begin():
            rows = session.scalars(
                select(CatalogUpload).where(CatalogUpload.created_at < cutoff)
            ).all()
            gone = [r.sha256 for r in rows]
            for r in rows:
                session.delete(r)
            return gone

    # -- internals

    @staticmethod
    def _model(session: Session, kind: str, model_id: str) -> CatalogModel | None:
        return session.scalar(
            select(CatalogModel).where(CatalogModel.kind == kind, CatalogModel.model_id == model_id)
        )

    def _unpublished(
        self, session: Session, kind: str, model_id: str, version: str
    ) -> CatalogModel:
        model = self._model(session, kind, model_id)
        if model is None:
            raise ModelNotFound(f"no {kind} {model_id}")
        taken = session.scalar(
            select(CatalogVersion.id).where(
                CatalogVersion.model_pk == model.id, CatalogVersion.version == version
            )
        )
        if taken is not None:
            raise ModelConflict(
                f"{model_id} {version} is published already: a published version never changes"
            )
        return model

    def _record_of(self, kind: str, model_id: str) -> ModelRecord:
        found = self.get(kind, model_id)
        if found is None:
            raise ModelNotFound(f"no {kind} {model_id}")
        return found

    @staticmethod
    def _record(session: Session, row: CatalogModel) -> ModelRecord:
        versions = session.scalars(
            select(CatalogVersion)
            .where(CatalogVersion.model_pk == row.id)
            .order_by(CatalogVersion.created_at.desc(), CatalogVersion.id.desc())
        ).all()
        files: dict[int, builtins.list[FileRecord]] = {v.id: [] for v in versions}
        if versions:
            for f in session.scalars(
                select(CatalogFile)
                .where(CatalogFile.version_pk.in_(list(files)))
                .order_by(CatalogFile.path)
            ):
                files[f.version_pk].append(FileRecord(f.path, f.size, f.sha256, f.git_sha1))
        return ModelRecord(
            kind=row.kind,
            model_id=row.model_id,
            name=row.name,
            task=row.task,
            languages=tuple(row.languages or ()),
            default_version=row.default_version,
            owner=row.owner,
            created_at=row.created_at,
            updated_at=row.updated_at,
            versions=tuple(
                VersionRecord(
                    version=v.version,
                    commit=v.commit,
                    size=v.size,
                    owner=v.owner,
                    created_at=v.created_at,
                    files=tuple(files[v.id]),
                )
                for v in versions
            ),
        )
