"""Peer-to-peer (seed 002): the torrent of each large file of a published model version,
and the peers of each swarm as the built-in tracker last heard from them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "torrents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("info_hash", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("piece_length", sa.Integer(), nullable=False),
        sa.Column("info", sa.LargeBinary(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_torrents")),
        sa.UniqueConstraint("kind", "model_id", "commit", "path", name=op.f("uq_torrents_kind")),
    )
    op.create_index(op.f("ix_torrents_info_hash"), "torrents", ["info_hash"])
    op.create_table(
        "tracker_peers",
        sa.Column("info_hash", sa.String(length=40), nullable=False),
        sa.Column("peer_id", sa.String(length=40), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("left", sa.BigInteger(), nullable=False),
        sa.Column("uploaded", sa.BigInteger(), nullable=False),
        sa.Column("downloaded", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("info_hash", "peer_id", name=op.f("pk_tracker_peers")),
    )
    op.create_index(op.f("ix_tracker_peers_updated_at"), "tracker_peers", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tracker_peers_updated_at"), table_name="tracker_peers")
    op.drop_table("tracker_peers")
    op.drop_index(op.f("ix_torrents_info_hash"), table_name="torrents")
    op.drop_table("torrents")
