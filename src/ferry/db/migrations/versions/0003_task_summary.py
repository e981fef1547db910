"""What the task list tells tasks apart by: the project's name and its package count.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-18
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


# The table as this revision sees it: the models change later, a migration never does.
_tasks = sa.table(
    "tasks",
    sa.column("id", sa.String(32)),
    sa.column("dependencies", _json()),
    sa.column("package_count", sa.Integer()),
)


def _package_count(dependencies: Any) -> int | None:
    """Distinct name and version per ecosystem, summed: ferry.tasks.summary's rule as it
    stood at this revision (copied, so that a later change there cannot alter history)."""
    if not isinstance(dependencies, dict):
        return None
    total = 0
    python = dependencies.get("python")
    if isinstance(python, dict):
        seen = {
            (p.get("name"), p.get("version"))
            for t in python.get("targets") or []
            if isinstance(t, dict)
            for p in t.get("packages") or []
            if isinstance(p, dict)
        }
        total += len(seen)
    npm = dependencies.get("npm")
    if isinstance(npm, dict):
        seen = {
            (p.get("name"), p.get("version"))
            for p in npm.get("packages") or []
            if isinstance(p, dict)
        }
        total += len(seen)
    return total


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("project_name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("package_count", sa.Integer(), nullable=True))
    # Tasks analysed before this revision get their count from the tree they keep; their
    # name stays NULL (it is read from the uploaded files, which a migration does not open).
    connection = op.get_bind()
    ids = list(connection.scalars(sa.select(_tasks.c.id).where(_tasks.c.dependencies.is_not(None))))
    for task_id in ids:  # one tree at a time: a large project's tree is most of its row
        tree = connection.scalar(sa.select(_tasks.c.dependencies).where(_tasks.c.id == task_id))
        connection.execute(
            sa.update(_tasks)
            .where(_tasks.c.id == task_id)
            .values(package_count=_package_count(tree))
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("package_count")
        batch.drop_column("project_name")
