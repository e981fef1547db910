"""Task archives kept in the blob store: the key of each task's archive there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for archives written before: they stay files in their task's directory, served
    # from there until the task expires
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("archive_key", sa.String(length=140), nullable=True))
        batch.create_index("ix_tasks_archive_key", ["archive_key"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_archive_key")
        batch.drop_column("archive_key")
