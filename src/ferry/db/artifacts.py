"""The far side's registries in the database: imported bundles and the files they brought.
The only code that reads or writes ``imports`` and ``artifacts``.

Synchronous, one transaction per method, frozen records out, like the other repositories.
Rows follow blobs: an import's rows are written, all in one transaction, only after every
file of the bundle was checked and its bytes are in the kept store.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.models import Artifact, BundleImport
from ferry.db.repository import utcnow

__all__ = [
    "ArtifactRecord",
    "ArtifactRepository",
    "HeldFile",
    "ImportRecord",
    "NewArtifact",
    "ProjectSummary",
]


@dataclass(frozen=True, slots=True)
class NewArtifact:
    ecosystem: str
    name: str
    version: str
    filename: str
    size: int
    sha256: str
    integrity: str | None = None
    shasum: str | None = None
    requires_python: str | None = None
    yanked: str | None = None
    upload_time: str | None = None
    metadata_sha256: str | None = None
    manifest: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    id: int
    ecosystem: str
    name: str
    version: str
    filename: str
    size: int
    sha256: str
    integrity: str | None
    shasum: str | None
    requires_python: str | None
    yanked: str | None
    upload_time: str | None
    metadata_sha256: str | None
    manifest: dict[str, Any] | None
    import_id: str
    created_at: datetime

    @classmethod
    def of(cls, row: Artifact) -> ArtifactRecord:
        return cls(
            id=row.id,
            ecosystem=row.ecosystem,
            name=row.name,
            version=row.version,
            filename=row.filename,
            size=row.size,
            sha256=row.sha256,
            integrity=row.integrity,
            shasum=row.shasum,
            requires_python=row.requires_python,
            yanked=row.yanked,
            upload_time=row.upload_time,
            metadata_sha256=row.metadata_sha256,
            manifest=row.manifest,
            import_id=row.import_id,
            created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class ImportRecord:
    id: str
    filename: str
    archive_sha256: str
    archive_size: int
    file_count: int
    new_count: int
    owner: str
    token_id: str | None
    created_at: datetime
    # True when this bundle had been imported before: nothing was added this time
    repeated: bool = False

    @classmethod
    def of(cls, row: BundleImport, *, repeated: bool = False) -> ImportRecord:
        return cls(
            id=row.id,
            filename=row.filename,
            archive_sha256=row.archive_sha256,
            archive_size=row.archive_size,
            file_count=row.file_count,
            new_count=row.new_count,
            owner=row.owner,
            token_id=row.token_id,
            created_at=row.created_at,
            repeated=repeated,
        )


class ArtifactRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def find_import(self, archive_sha256: str) -> ImportRecord | None:
        with self._sessions() as session:
            row = session.scalar(
                select(BundleImport).where(BundleImport.archive_sha256 == archive_sha256)
            )
            return ImportRecord.of(row, repeated=True) if row is not None else None

    def present(self, ecosystem: str, filenames: Sequence[str]) -> dict[str, str]:
        """``filename -> sha256`` of the files already held, among ``filenames``."""
        found: dict[str, str] = {}
        with self._sessions() as session:
            for at in range(0, len(filenames), 500):  # bound the IN list
                batch = list(filenames[at : at + 500])
                rows = session.execute(
                    select(Artifact.filename, Artifact.sha256).where(
                        Artifact.ecosystem == ecosystem, Artifact.filename.in_(batch)
                    )
                )
                found.update({f: s for f, s in rows})
        return found

    def record_import(
        self,
        *,
        filename: str,
        archive_sha256: str,
        archive_size: int,
        file_count: int,
        artifacts: Sequence[NewArtifact],
        owner: str,
        token_id: str | None,
    ) -> ImportRecord:
        """The import and the files it brought that were not held yet, in one transaction.

        Files held already (by filename) are skipped, so two imports racing over shared
        files add each once; a bundle recorded meanwhile by another importer is returned as
        a repeat.
        """
        now = utcnow()
        with self._sessions() as session, session.begin():
            existing = session.scalar(
                select(BundleImport).where(BundleImport.archive_sha256 == archive_sha256)
            )
            if existing is not None:
                return ImportRecord.of(existing, repeated=True)
            held: set[tuple[str, str]] = set()
            names = sorted({a.filename for a in artifacts})
            for at in range(0, len(names), 500):  # bound the IN list
                rows = session.execute(
                    select(Artifact.ecosystem, Artifact.filename).where(
                        Artifact.filename.in_(names[at : at + 500])
                    )
                )
                held.update((e, f) for e, f in rows)
            row = BundleImport(
                id=uuid.uuid4().hex,
                filename=filename[:255],
                archive_sha256=archive_sha256,
                archive_size=archive_size,
                file_count=file_count,
                new_count=0,
                owner=owner,
                token_id=token_id,
                created_at=now,
            )
            session.add(row)
            session.flush()
            added = 0
            for a in artifacts:
                if (a.ecosystem, a.filename) in held:
                    continue
                held.add((a.ecosystem, a.filename))
                session.add(
                    Artifact(
                        ecosystem=a.ecosystem,
                        name=a.name,
                        version=a.version,
                        filename=a.filename,
                        size=a.size,
                        sha256=a.sha256,
                        integrity=a.integrity,
                        shasum=a.shasum,
                        requires_python=a.requires_python,
                        yanked=a.yanked,
                        upload_time=a.upload_time,
                        metadata_sha256=a.metadata_sha256,
                        manifest=a.manifest,
                        import_id=row.id,
                        created_at=now,
                    )
                )
                added += 1
            row.new_count = added
            session.flush()
            return ImportRecord.of(row)

    def files(self, ecosystem: str, name: str) -> builtins.list[ArtifactRecord]:
        """Every file of a project (PyPI: normalized name; npm: the package name)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Artifact)
                .where(Artifact.ecosystem == ecosystem, Artifact.name == name)
                .order_by(Artifact.filename)
            )
            return [ArtifactRecord.of(r) for r in rows]

    def file(self, ecosystem: str, filename: str) -> ArtifactRecord | None:
        with self._sessions() as session:
            row = session.scalar(
                select(Artifact).where(
                    Artifact.ecosystem == ecosystem, Artifact.filename == filename
                )
            )
            return ArtifactRecord.of(row) if row is not None else None

    def projects(self, ecosystem: str) -> builtins.list[str]:
        with self._sessions() as session:
            return builtins.list(
                session.scalars(
                    select(Artifact.name)
                    .where(Artifact.ecosystem == ecosystem)
                    .distinct()
                    .order_by(Artifact.name)
                )
            )

    def digests(self) -> set[str]:
        """Every blob an artifact names: its file, and a wheel's METADATA."""
        with self._sessions() as session:
            files = set(session.scalars(select(Artifact.sha256).distinct()))
            metadata = session.scalars(
                select(Artifact.metadata_sha256)
                .where(Artifact.metadata_sha256.is_not(None))
                .distinct()
            )
            return files | {m for m in metadata if m}

    def references(self, sha256: str) -> int:
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Artifact)
                    .where(or_(Artifact.sha256 == sha256, Artifact.metadata_sha256 == sha256))
                )
                or 0
            )

    def imports(self) -> builtins.list[ImportRecord]:
        with self._sessions() as session:
            rows = session.scalars(select(BundleImport).order_by(BundleImport.created_at))
            return [ImportRecord.of(r) for r in rows]

    def inventory(self) -> builtins.list[ArtifactRecord]:
        """Every file the registries hold (``ferry inventory``), by ecosystem and name."""
        with self._sessions() as session:
            rows = session.scalars(select(Artifact).order_by(Artifact.ecosystem, Artifact.filename))
            return [ArtifactRecord.of(r) for r in rows]

    def browse(
        self, ecosystem: str | None, q: str | None, *, offset: int, limit: int
    ) -> tuple[builtins.list[ProjectSummary], int]:
        """A page of the projects held (of one ecosystem, or both; ``q`` anywhere in the
        name, case ignored) by name, and how many there are."""
        where = [] if ecosystem is None else [Artifact.ecosystem == ecosystem]
        if q:
            where.append(func.lower(Artifact.name).contains(q.lower(), autoescape=True))
        groups = (
            select(
                Artifact.ecosystem,
                Artifact.name,
                func.count().label("files"),
                func.sum(Artifact.size).label("size"),
            )
            .where(*where)
            .group_by(Artifact.ecosystem, Artifact.name)
        )
        with self._sessions() as session:
            # byte order on both databases (a PostgreSQL locale would sort "@scope/x" by x)
            by_name = (
                Artifact.name.collate("C")
                if session.get_bind().dialect.name == "postgresql"
                else Artifact.name
            )
            total = session.scalar(select(func.count()).select_from(groups.subquery())) or 0
            rows = session.execute(
                groups.order_by(by_name, Artifact.ecosystem).offset(offset).limit(limit)
            ).all()
            versions: dict[tuple[str, str], set[str]] = {(e, n): set() for e, n, _, _ in rows}
            for eco in {e for e, _ in versions}:
                names = [n for e, n in versions if e == eco]
                found = session.execute(
                    select(Artifact.name, Artifact.version)
                    .where(Artifact.ecosystem == eco, Artifact.name.in_(names))
                    .distinct()
                )
                for name, version in found:
                    versions[(eco, name)].add(version)
            page = [
                ProjectSummary(
                    ecosystem=e,
                    name=n,
                    versions=tuple(sorted(versions[(e, n)])),
                    file_count=int(files),
                    total_size=int(size or 0),
                )
                for e, n, files, size in rows
            ]
        return page, total

    def project_files(self, ecosystem: str, name: str) -> builtins.list[HeldFile]:
        """Every file of a project with the import that brought it."""
        with self._sessions() as session:
            rows = session.execute(
                select(Artifact, BundleImport.filename, BundleImport.created_at)
                .join(BundleImport, BundleImport.id == Artifact.import_id)
                .where(Artifact.ecosystem == ecosystem, Artifact.name == name)
                .order_by(Artifact.filename)
            )
            return [
                HeldFile(ArtifactRecord.of(a), import_filename=f, imported_at=at)
                for a, f, at in rows
            ]


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project the registries hold: its versions, and how many files and bytes."""

    ecosystem: str
    name: str
    versions: tuple[str, ...]
    file_count: int
    total_size: int


@dataclass(frozen=True, slots=True)
class HeldFile:
    """A file the registries serve, with the bundle that brought it and when."""

    artifact: ArtifactRecord
    import_filename: str
    imported_at: datetime
