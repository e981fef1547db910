"""The tables behind bundle tasks. Changing them means a new migration in ``migrations/``.

The same models run on SQLite (one machine, the default) and PostgreSQL (a shared service);
every type here is chosen so both store the same values and Alembic's autogenerate sees no
difference between the models and the migrations on either (``check_drift``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

# Explicit names for every constraint and index: without them PostgreSQL and SQLite invent
# different ones, and autogenerate reports spurious drops and adds.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STATUS_LENGTH = 16
TASK_ID_LENGTH = 32
TOKEN_ID_LENGTH = 16
NAME_LENGTH = 100
ROLE_LENGTH = 8


def json_type() -> TypeEngine[Any]:
    # none_as_null: a Python None is SQL NULL (``IS NULL`` finds it), not the JSON text 'null'.
    # JSONB on PostgreSQL: binary, indexable, and equal documents compare equal.
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    SQLite has no timestamp type: SQLAlchemy stores text without an offset and reads back
    naive datetimes. Normalising to UTC on the way in makes that text comparable (``<=`` in
    SQL orders it correctly) and lets the way out attach UTC again. Naive input is refused
    because its meaning depends on the machine's clock settings.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(TASK_ID_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(json_type())
    files: Mapped[list[str]] = mapped_column(json_type())
    error: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    progress: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    dependencies: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    archive_path: Mapped[str | None] = mapped_column(Text)
    # Bundles of CUDA wheels pass 2 GiB.
    archive_size: Mapped[int | None] = mapped_column(BigInteger)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    # The archive in the kept blob store ("sha256:<hex>"); NULL for one still a file in
    # the task's directory. Indexed: collection asks whether any task names a blob.
    archive_key: Mapped[str | None] = mapped_column(String(140), index=True)
    # Indexed for the newest-first listing and the expiry sweep.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Who the task belongs to (a token's owner) and which token made it (its quotas).
    # NULL for tasks made before tokens existed: only an admin sees those.
    owner: Mapped[str | None] = mapped_column(String(NAME_LENGTH), index=True)
    token_id: Mapped[str | None] = mapped_column(String(TOKEN_ID_LENGTH), index=True)
    # What the task list tells tasks apart by, kept so a listing never reads the uploads or
    # the dependency tree: the name the uploaded manifests declare (untrusted text, capped
    # at NAME_LENGTH) and how many packages analysis found. NULL until analysis says.
    project_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    package_count: Mapped[int | None] = mapped_column(Integer)

    transitions: Mapped[list[TaskTransition]] = relationship(
        back_populates="task",
        order_by="TaskTransition.id",
        cascade="all, delete-orphan",
        # The database's ON DELETE CASCADE removes them; no need to load them first.
        passive_deletes=True,
    )


class TaskTransition(Base):
    __tablename__ = "task_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(
        String(TASK_ID_LENGTH), ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(STATUS_LENGTH))
    to_status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    task: Mapped[Task] = relationship(back_populates="transitions")


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is kept (docs/decisions.md: why not a slow hash)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(TOKEN_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Quotas of this token; NULL takes the service's default setting.
    max_active_tasks: Mapped[int | None] = mapped_column(Integer)
    max_tasks_per_hour: Mapped[int | None] = mapped_column(Integer)
    max_disk_bytes: Mapped[int | None] = mapped_column(BigInteger)


class AuditEvent(Base):
    """Who did what, when and from where: kept after the task or token it names is gone."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    token_id: Mapped[str | None] = mapped_column(String(TOKEN_ID_LENGTH), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)


PACKAGE_ID_LENGTH = 32


class Package(Base):
    """A stored artifact (seed 003): its bytes are the blob ``sha256`` in the blob store,
    which several rows may share (the same file under two names is kept once)."""

    __tablename__ = "packages"
    # One row per (name, version, platform, arch): two uploads racing for the same key
    # get one row, the other a conflict, whatever the backend.
    __table_args__ = (UniqueConstraint("name", "version", "platform", "arch"),)

    id: Mapped[str] = mapped_column(String(PACKAGE_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    version: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(32))
    arch: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    # Indexed: a delete asks whether any other row still needs the blob.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    token_id: Mapped[str | None] = mapped_column(String(TOKEN_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class BundleImport(Base):
    """A bundle brought in on the far side (``ferry import``): one row per distinct archive,
    so importing the same bundle twice adds nothing."""

    __tablename__ = "imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    # the archive's own digest: the same bytes are the same import
    archive_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    archive_size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    new_count: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    token_id: Mapped[str | None] = mapped_column(String(TOKEN_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Artifact(Base):
    """A file the far side's registries serve (a wheel, an sdist, an npm tarball): its
    bytes are the kept blob ``sha256``; a wheel's METADATA (PEP 658) is the blob
    ``metadata_sha256``."""

    __tablename__ = "artifacts"
    # an index holds one file of a name (PyPI's rule; npm's tarball names are name-version)
    __table_args__ = (UniqueConstraint("ecosystem", "filename"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ecosystem: Mapped[str] = mapped_column(String(8))
    # PyPI: the normalized name (PEP 503); npm: the name as published, scope included
    name: Mapped[str] = mapped_column(String(214), index=True)
    version: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    # Indexed: collection asks whether any row still names a blob.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # npm's: the sha512 SRI and sha1 hex a packument's dist carries
    integrity: Mapped[str | None] = mapped_column(String(100))
    shasum: Mapped[str | None] = mapped_column(String(40))
    requires_python: Mapped[str | None] = mapped_column(String(200))
    # None: not yanked; "" yanked without a reason (PEP 592)
    yanked: Mapped[str | None] = mapped_column(Text)
    # when the file was first published, as its index said (PEP 700), if it said
    upload_time: Mapped[str | None] = mapped_column(String(40))
    metadata_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # npm: the tarball's package.json, the version document of the packument
    manifest: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    import_id: Mapped[str] = mapped_column(ForeignKey("imports.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


MODEL_ID_LENGTH = 200
MODEL_VERSION_LENGTH = 64
MODEL_PATH_LENGTH = 1024


class CatalogModel(Base):
    """A model (or dataset) of the catalog (seed 004): ``org/name`` or ``name``, as on the
    Hugging Face Hub; its files live in versions."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("kind", "model_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # "model" | "dataset"
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH * 2))
    task: Mapped[str | None] = mapped_column(String(64))
    languages: Mapped[list[str] | None] = mapped_column(json_type())
    default_version: Mapped[str | None] = mapped_column(String(MODEL_VERSION_LENGTH))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class CatalogVersion(Base):
    """A published version: its files are fixed once it is visible. ``commit`` is the
    40-hex revision the Hub's clients see (``X-Repo-Commit``), derived from the files."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_pk", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(MODEL_VERSION_LENGTH))
    commit: Mapped[str] = mapped_column(String(40), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CatalogFile(Base):
    """A file of a version: its bytes are the kept blob ``sha256``; ``git_sha1`` is the
    git blob id the Hub gives small files as their ``oid`` and ETag."""

    __tablename__ = "model_files"
    __table_args__ = (UniqueConstraint("version_pk", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_pk: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(MODEL_PATH_LENGTH))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    git_sha1: Mapped[str] = mapped_column(String(40))


class CatalogUpload(Base):
    """A file sent for a version not yet published: kept (its blob named here, so
    collection leaves it) until the publish that lists it, or until it grows stale."""

    __tablename__ = "model_uploads"
    __table_args__ = (UniqueConstraint("kind", "model_id", "version", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    version: Mapped[str] = mapped_column(String(MODEL_VERSION_LENGTH))
    path: Mapped[str] = mapped_column(String(MODEL_PATH_LENGTH))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    git_sha1: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class CatalogUsage(Base):
    """How often a model was asked for (the ranking): one row per model, counted up."""

    __tablename__ = "model_usage"

    model_pk: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    request_count: Mapped[int] = mapped_column(BigInteger)
    last_used: Mapped[datetime] = mapped_column(UTCDateTime)


class TorrentRow(Base):
    """The torrent of one file of a published version (seed 002: per repo, commit and
    file). ``info`` is the bencoded info dictionary, whose SHA-1 is ``info_hash``: the
    announce URL and web seed are added per request, outside it, so the hash stays."""

    __tablename__ = "torrents"
    __table_args__ = (UniqueConstraint("kind", "model_id", "commit", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    commit: Mapped[str] = mapped_column(String(40))
    path: Mapped[str] = mapped_column(String(MODEL_PATH_LENGTH))
    info_hash: Mapped[str] = mapped_column(String(40), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    piece_length: Mapped[int] = mapped_column(Integer)
    info: Mapped[bytes] = mapped_column(LargeBinary)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TrackerPeer(Base):
    """A peer of a swarm as its last announce told it (BEP 3); gone when it says
    ``stopped`` or stops announcing."""

    __tablename__ = "tracker_peers"

    info_hash: Mapped[str] = mapped_column(String(40), primary_key=True)
    peer_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # 20 bytes, hex
    ip: Mapped[str] = mapped_column(String(45))
    port: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(BigInteger)
    uploaded: Mapped[int] = mapped_column(BigInteger)
    downloaded: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TaskFile(Base):
    """A file uploaded with a task, kept in the database as well as in the task's
    directory: a worker on another machine starts from these (they are small; manifests
    are capped at upload_max_bytes)."""

    __tablename__ = "task_files"

    task_id: Mapped[str] = mapped_column(
        String(TASK_ID_LENGTH), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH * 2), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TaskLease(Base):
    """Which worker runs a task, until when: renewed while it works, so a worker that dies
    loses it after one lease. A task has at most one; how many are live at once is the
    service's concurrency limit, across every worker."""

    __tablename__ = "task_leases"

    task_id: Mapped[str] = mapped_column(
        String(TASK_ID_LENGTH), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(NAME_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
