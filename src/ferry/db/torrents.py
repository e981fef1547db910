"""The torrents of model files and the tracker's swarms: the only code that reads or writes
``torrents`` and ``tracker_peers``.

A swarm lives in the database, not in a process's memory, so every API replica answers
announces from the same peers (issue 20's stateless replicas).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.models import TorrentRow, TrackerPeer
from ferry.db.repository import utcnow

__all__ = ["PeerRecord", "Swarm", "TorrentRecord", "TorrentRepository"]


@dataclass(frozen=True, slots=True)
class TorrentRecord:
    kind: str
    model_id: str
    commit: str
    path: str
    info_hash: str
    sha256: str
    size: int
    piece_length: int
    info: bytes
    owner: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PeerRecord:
    peer_id: str
    ip: str
    port: int
    left: int


@dataclass(frozen=True, slots=True)
class Swarm:
    peers: tuple[PeerRecord, ...]  # the others, never the one announcing
    complete: int  # seeders
    incomplete: int  # leechers


class TorrentRepository:
    def __init__(self, sessions: sessionmaker[Session] | Callable[[], Session]) -> None:
        self._sessions = sessions

    def get(self, kind: str, model_id: str, commit: str, path: str) -> TorrentRecord | None:
        with self._sessions() as session:
            row = session.scalars(
                select(TorrentRow).where(
                    TorrentRow.kind == kind,
                    TorrentRow.model_id == model_id,
                    TorrentRow.commit == commit,
                    TorrentRow.path == path,
                )
            ).first()
            return None if row is None else _record(row)

    def by_info_hash(self, info_hash: str) -> TorrentRecord | None:
        with self._sessions() as session:
            row = session.scalars(
                select(TorrentRow).where(TorrentRow.info_hash == info_hash).limit(1)
            ).first()
            return None if row is None else _record(row)

    def add(self, record: TorrentRecord) -> TorrentRecord:
        """Keep ``record``; if another request made the same file's torrent meanwhile,
        that one (the same bytes make the same info dictionary)."""
        with self._sessions() as session:
            session.add(
                TorrentRow(
                    kind=record.kind,
                    model_id=record.model_id,
                    commit=record.commit,
                    path=record.path,
                    info_hash=record.info_hash,
                    sha256=record.sha256,
                    size=record.size,
                    piece_length=record.piece_length,
                    info=record.info,
                    owner=record.owner,
                    created_at=record.created_at,
                )
            )
            try:
                session.commit()
            except DbIntegrityError:
                session.rollback()
        held = self.get(record.kind, record.model_id, record.commit, record.path)
        assert held is not None
        return held

    def announce(
        self,
        info_hash: str,
        peer: PeerRecord,
        *,
        uploaded: int,
        downloaded: int,
        owner: str,
        stopped: bool,
        ttl: timedelta,
        want: int,
    ) -> Swarm:
        """Record what a peer said (or forget it, when it stopped), drop the peers that
        stopped announcing, and tell it the others."""
        now = utcnow()
        with self._sessions() as session, session.begin():
            session.execute(
                delete(TrackerPeer).where(
                    TrackerPeer.info_hash == info_hash, TrackerPeer.updated_at < now - ttl
                )
            )
            row = session.get(TrackerPeer, (info_hash, peer.peer_id))
            if stopped:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(
                    TrackerPeer(
                        info_hash=info_hash,
                        peer_id=peer.peer_id,
                        ip=peer.ip,
                        port=peer.port,
                        left=peer.left,
                        uploaded=uploaded,
                        downloaded=downloaded,
                        owner=owner,
                        updated_at=now,
                    )
                )
            else:
                row.ip, row.port, row.left = peer.ip, peer.port, peer.left
                row.uploaded, row.downloaded, row.owner, row.updated_at = (
                    uploaded,
                    downloaded,
                    owner,
                    now,
                )
            session.flush()
            others = session.scalars(
                select(TrackerPeer)
                .where(TrackerPeer.info_hash == info_hash, TrackerPeer.peer_id != peer.peer_id)
                # in random order, as trackers answer: the load spreads over the swarm
                .order_by(func.random())
                .limit(want)
            ).all()
            complete = session.scalar(
                select(func.count())
                .select_from(TrackerPeer)
                .where(TrackerPeer.info_hash == info_hash, TrackerPeer.left == 0)
            )
            total = session.scalar(
                select(func.count())
                .select_from(TrackerPeer)
                .where(TrackerPeer.info_hash == info_hash)
            )
            return Swarm(
                tuple(PeerRecord(p.peer_id, p.ip, p.port, p.left) for p in others),
                int(complete or 0),
                int(total or 0) - int(complete or 0),
            )

    def forget_silent(self, older_than: timedelta) -> int:
        """Drop every peer not heard from for ``older_than``; how many."""
        with self._sessions() as session, session.begin():
            gone = session.execute(
                delete(TrackerPeer).where(TrackerPeer.updated_at < utcnow() - older_than)
            )
            return int(gone.rowcount or 0)  # type: ignore[attr-defined]

    def peers(self, info_hash: str) -> builtins.list[PeerRecord]:
        with self._sessions() as session:
            rows = session.scalars(
                select(TrackerPeer).where(TrackerPeer.info_hash == info_hash)
            ).all()
            return [PeerRecord(p.peer_id, p.ip, p.port, p.left) for p in rows]


def _record(row: TorrentRow) -> TorrentRecord:
    return TorrentRecord(
        row.kind,
        row.model_id,
        row.commit,
        row.path,
        row.info_hash,
        row.sha256,
        row.size,
        row.piece_length,
        bytes(row.info),
        row.owner,
        row.created_at,
    )
