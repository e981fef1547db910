"""The model catalog (seed 004): models and datasets, their published versions and files,
files sent for versions not yet published, and how often each model is asked for.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=True),
        sa.Column("languages", _json(), nullable=True),
        sa.Column("default_version", sa.String(length=64), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("kind", "model_id", name=op.f("uq_models_kind")),
    )
    op.create_index(op.f("ix_models_owner"), "models", ["owner"])
    op.create_index(op.f("ix_models_updated_at"), "models", ["updated_at"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["models.id"],
            name=op.f("fk_model_versions_model_pk_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("model_pk", "version", name=op.f("uq_model_versions_model_pk")),
    )
    op.create_index(op.f("ix_model_versions_model_pk"), "model_versions", ["model_pk"])
    op.create_index(op.f("ix_model_versions_commit"), "model_versions", ["commit"])
    op.create_table(
        "model_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("git_sha1", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.id"],
            name=op.f("fk_model_files_version_pk_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_files")),
        sa.UniqueConstraint("version_pk", "path", name=op.f("uq_model_files_version_pk")),
    )
    op.create_index(op.f("ix_model_files_version_pk"), "model_files", ["version_pk"])
    op.create_index(op.f("ix_model_files_sha256"), "model_files", ["sha256"])
    op.create_table(
        "model_uploads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("git_sha1", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_uploads")),
        sa.UniqueConstraint(
            "kind", "model_id", "version", "path", name=op.f("uq_model_uploads_kind")
        ),
    )
    op.create_index(op.f("ix_model_uploads_sha256"), "model_uploads", ["sha256"])
    op.create_index(op.f("ix_model_uploads_created_at"), "model_uploads", ["created_at"])
    op.create_table(
        "model_usage",
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["models.id"],
            name=op.f("fk_model_usage_model_pk_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_pk", name=op.f("pk_model_usage")),
    )


def downgrade() -> None:
    op.drop_table("model_usage")
    op.drop_index(op.f("ix_model_uploads_created_at"), table_name="model_uploads")
    op.drop_index(op.f("ix_model_uploads_sha256"), table_name="model_uploads")
    op.drop_table("model_uploads")
    op.drop_index(op.f("ix_model_files_sha256"), table_name="model_files")
    op.drop_index(op.f("ix_model_files_version_pk"), table_name="model_files")
    op.drop_table("model_files")
    op.drop_index(op.f("ix_model_versions_commit"), table_name="model_versions")
    op.drop_index(op.f("ix_model_versions_model_pk"), table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_index(op.f("ix_models_updated_at"), table_name="models")
    op.drop_index(op.f("ix_models_owner"), table_name="models")
    op.drop_table("models")
