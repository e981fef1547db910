"""The tracker's swarms in the database, on SQLite and PostgreSQL: an announce records and
answers; a stop, a silence or the sweep forgets; one torrent per file however many make it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, update

from ferry.db.engine import make_sessionmaker
from ferry.db.models import TorrentRow, TrackerPeer
from ferry.db.repository import utcnow
from ferry.db.torrents import PeerRecord, TorrentRecord, TorrentRepository

TTL = timedelta(minutes=15)


@pytest.fixture
def repo(engine: Engine) -> Iterator[TorrentRepository]:
    yield TorrentRepository(make_sessionmaker(engine))
    with engine.begin() as connection:
        connection.execute(delete(TrackerPeer))
        connection.execute(delete(TorrentRow))


def _announce(repo: TorrentRepository, peer: str, port: int, left: int, **kw: bool):  # type: ignore[no-untyped-def]
    return repo.announce(
        "a" * 40,
        PeerRecord(peer * 40, "127.0.0.1", port, left),
        uploaded=0,
        downloaded=0,
        owner="o",
        stopped=kw.get("stopped", False),
        ttl=TTL,
        want=50,
    )


def test_a_swarm_as_announces_make_it(repo: TorrentRepository) -> None:
    assert _announce(repo, "1", 6881, 100).peers == ()
    swarm = _announce(repo, "2", 6882, 0)
    assert [(p.port, p.left) for p in swarm.peers] == [(6881, 100)]
    assert (swarm.complete, swarm.incomplete) == (1, 1)
    # the same peer again is one peer, with what it says now
    swarm = _announce(repo, "1", 6891, 0)
    assert [p.port for p in swarm.peers] == [6882] and swarm.complete == 2
    _announce(repo, "2", 6882, 0, stopped=True)
    assert [p.peer_id for p in repo.peers("a" * 40)] == ["1" * 40]


def test_silent_peers_are_forgotten(repo: TorrentRepository, engine: Engine) -> None:
    _announce(repo, "1", 6881, 100)
    _announce(repo, "2", 6882, 100)
    with engine.begin() as connection:  # peer 1 last spoke an hour ago
        connection.execute(
            update(TrackerPeer)
            .where(TrackerPeer.peer_id == "1" * 40)
            .values(updated_at=utcnow() - timedelta(hours=1))
        )
    # an announce tidies its own swarm; the sweep every swarm
    assert [p.peer_id for p in _announce(repo, "3", 6883, 100).peers] == ["2" * 40]
    with engine.begin() as connection:
        connection.execute(update(TrackerPeer).values(updated_at=utcnow() - timedelta(hours=1)))
    assert repo.forget_silent(TTL) == 2
    assert repo.peers("a" * 40) == []


def test_one_torrent_per_file(repo: TorrentRepository) -> None:
    record = TorrentRecord(
        "model", "acme/big", "c" * 40, "model.bin", "d" * 40, "e" * 64, 10, 262144, b"info",
        "o", utcnow(),
    )  # fmt: skip
    first = repo.add(record)
    again = repo.add(record)  # made twice at once: the one kept is returned
    assert first == again and repo.by_info_hash("d" * 40) == first
    assert repo.get("model", "acme/big", "c" * 40, "model.bin") == first
    assert repo.get("model", "acme/big", "c" * 40, "other.bin") is None
