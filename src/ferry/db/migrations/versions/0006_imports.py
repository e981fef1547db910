"""The far side's registries: imported bundles and the files they brought.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("archive_sha256", sa.String(length=64), nullable=False),
        sa.Column("archive_size", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("new_count", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("token_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
        sa.UniqueConstraint("archive_sha256", name=op.f("uq_imports_archive_sha256")),
    )
    op.create_index(op.f("ix_imports_created_at"), "imports", ["created_at"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ecosystem", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=214), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("integrity", sa.String(length=100), nullable=True),
        sa.Column("shasum", sa.String(length=40), nullable=True),
        sa.Column("requires_python", sa.String(length=200), nullable=True),
        sa.Column("yanked", sa.Text(), nullable=True),
        sa.Column("upload_time", sa.String(length=40), nullable=True),
        sa.Column("metadata_sha256", sa.String(length=64), nullable=True),
        sa.Column("manifest", _json(), nullable=True),
        sa.Column("import_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_artifacts_import_id_imports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("ecosystem", "filename", name=op.f("uq_artifacts_ecosystem")),
    )
    for column in ("name", "sha256", "metadata_sha256"):
        op.create_index(op.f(f"ix_artifacts_{column}"), "artifacts", [column])


def downgrade() -> None:
    for column in ("metadata_sha256", "sha256", "name"):
        op.drop_index(op.f(f"ix_artifacts_{column}"), table_name="artifacts")
    op.drop_table("artifacts")
    op.drop_index(op.f("ix_imports_created_at"), table_name="imports")
    op.drop_table("imports")
