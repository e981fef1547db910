"""Stored packages' metadata (seed 003): the only code that reads or writes ``packages``.

Synchronous like the other repositories (the service calls it on its database threads);
every method is one transaction and returns frozen records. The bytes are not here: a row
names its blob by ``sha256`` in the blob store, and is inserted only once that blob is
committed, so a row always points at complete bytes.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.models import Package
from ferry.db.repository import utcnow
from ferry.errors import ExitCode, FerryError, Hint

SortField = Literal["name", "version", "created"]
SortOrder = Literal["asc", "desc"]


class PackageNotFound(FerryError):
    code = "package-not-found"
    exit_code = ExitCode.USAGE
    http_status = 404

    def __init__(self, package_id: str) -> None:
        super().__init__(params={"package_id": package_id}, hint=Hint("package-list"))


class PackageExists(FerryError):
    """The same name, version, platform and arch are stored already: ``package_id`` says
    which row, so a client can show or delete it."""

    code = "package-exists"
    exit_code = ExitCode.USAGE
    http_status = 409

    def __init__(self, existing: PackageRecord) -> None:
        self.package_id = existing.id
        super().__init__(
            params={
                "name": existing.name,
                "version": existing.version,
                "platform": existing.platform,
                "arch": existing.arch,
                "package_id": existing.id,
            },
            hint=Hint("package-exists"),
        )

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["package_id"] = self.package_id
        return out


@dataclass(frozen=True, slots=True)
class PackageRecord:
    id: str
    name: str
    version: str
    platform: str
    arch: str
    description: str
    filename: str
    size: int
    sha256: str
    owner: str
    token_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Package) -> PackageRecord:
        return cls(
            id=row.id,
            name=row.name,
            version=row.version,
            platform=row.platform,
            arch=row.arch,
            description=row.description,
            filename=row.filename,
            size=row.size,
            sha256=row.sha256,
            owner=row.owner,
            token_id=row.token_id,
            created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class PackageQuery:
    """What a listing filters by: exact fields, and ``q`` anywhere in name or description."""

    name: str | None = None
    version: str | None = None
    platform: str | None = None
    arch: str | None = None
    q: str | None = None


def new_package_id() -> str:
    return uuid.uuid4().hex


def is_package_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching itself anywhere (``%`` and ``_`` literal)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class PackageRepository:
    def __init__(self, sessions: sessionmaker[Session] | Callable[[], Session]) -> None:
        self._sessions = sessions

    def add(
        self,
        *,
        name: str,
        version: str,
        platform: str,
        arch: str,
        description: str,
        filename: str,
        size: int,
        sha256: str,
        owner: str,
        token_id: str | None,
    ) -> PackageRecord:
        """Insert the row; :class:`PackageExists` (with the row there) if the key is taken.

        The unique constraint decides, not a look beforehand: of uploads racing for one key,
        exactly one insert commits.
        """
        row = Package(
            id=new_package_id(),
            name=name,
            version=version,
            platform=platform,
            arch=arch,
            description=description,
            filename=filename,
            size=size,
            sha256=sha256,
            owner=owner,
            token_id=token_id,
            created_at=utcnow(),
        )
        try:
            with self._sessions() as session, session.begin():
                session.add(row)
                session.flush()
                record = PackageRecord.of(row)
        except DbIntegrityError:
            existing = self.find(name, version, platform, arch)
            if existing is None:  # deleted in between: the caller may simply try again
                raise
            raise PackageExists(existing) from None
        return record

    def find(self, name: str, version: str, platform: str, arch: str) -> PackageRecord | None:
        with self._sessions() as session:
            row = session.scalar(
                select(Package).where(
                    Package.name == name,
                    Package.version == version,
                    Package.platform == platform,
                    Package.arch == arch,
                )
            )
            return None if row is None else PackageRecord.of(row)

    def get(self, package_id: str) -> PackageRecord | None:
        with self._sessions() as session:
            row = session.get(Package, package_id)
            return None if row is None else PackageRecord.of(row)

    def list(
        self,
        query: PackageQuery,
        *,
        page: int = 1,
        size: int = 20,
        sort: SortField = "created",
        order: SortOrder = "desc",
    ) -> tuple[builtins.list[PackageRecord], int]:
        """Page ``page`` (from 1) of the matching packages, and how many match."""
        if page < 1 or size < 1:
            raise ValueError(f"page {page} of size {size}: both start at 1")
        where = [
            column == value
            for column, value in (
                (Package.name, query.name),
                (Package.version, query.version),
                (Package.platform, query.platform),
                (Package.arch, query.arch),
            )
            if value is not None
        ]
        if query.q:
            pattern = _like(query.q)
            where.append(
                or_(
                    Package.name.ilike(pattern, escape="\\"),
                    Package.description.ilike(pattern, escape="\\"),
                )
            )
        column = {
            "name": Package.name,
            "version": Package.version,
            "created": Package.created_at,
        }[sort]
        ordered = column.asc() if order == "asc" else column.desc()
        # id breaks ties, so that pages never overlap
        tie = Package.id.asc() if order == "asc" else Package.id.desc()
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Package).where(*where)) or 0
            rows = session.scalars(
                select(Package)
                .where(*where)
                .order_by(ordered, tie)
                .offset((page - 1) * size)
                .limit(size)
            )
            return [PackageRecord.of(r) for r in rows], total

    def delete(self, package_id: str) -> tuple[PackageRecord, bool] | None:
        """Remove the row; with it, whether any other row still names its blob."""
        with self._sessions() as session, session.begin():
            row = session.get(Package, package_id)
            if row is None:
                return None
            record = PackageRecord.of(row)
            session.execute(delete(Package).where(Package.id == package_id))
            shared = (
                session.scalar(
                    select(func.count()).select_from(Package).where(Package.sha256 == row.sha256)
                )
                or 0
            )
            return record, shared > 0

    def digests(self) -> set[str]:
        """The sha256 of every package's blob."""
        with self._sessions() as session:
            return set(session.scalars(select(Package.sha256).distinct()))

    def references(self, sha256: str) -> int:
        """How many rows name this blob."""
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count()).select_from(Package).where(Package.sha256 == sha256)
                )
                or 0
            )
