"""Real libtorrent peers on loopback, fed by a served Ferry: the first takes the file from
Ferry's web seed, the others from the swarm alone (their web seed taken away, so every byte
they hold came from a peer the tracker named); a peer serving corrupt pieces is caught by
the piece hashes and banned, and the file still comes out right."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from support.serve import Server
from support.swarm import Peer, published_torrent

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

BIG = hashlib.shake_256(b"swarm").digest(12_000_000)
SHA = hashlib.sha256(BIG).hexdigest()


def _torrent(server: Server, admin: str, reader: str) -> bytes:
    return published_torrent(server, admin, reader, BIG)


def test_a_swarm_of_four(served: tuple[Server, str, str], tmp_path: Path) -> None:
    server, admin, reader = served
    torrent = _torrent(server, admin, reader)
    first = Peer(torrent, tmp_path / "first")  # Ferry's web seed and the tracker
    peers = [first]
    try:
        first.wait()
        assert first.sha256() == SHA
        # three more, with no web seed: the tracker names the peers, the peers serve
        others = [Peer(torrent, tmp_path / f"p{i}", web_seed=False) for i in range(3)]
        peers += others
        for peer in others:
            peer.wait()
            assert peer.sha256() == SHA
            assert peer.hash_failures == 0
    finally:
        for peer in peers:
            peer.close()


def test_a_peer_serving_corrupt_pieces_is_caught(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    torrent = _torrent(server, admin, reader)
    corrupt = bytearray(BIG)
    corrupt[300_000:300_100] = b"X" * 100  # inside the second 256 KiB piece
    liar = Peer(
        torrent, tmp_path / "liar", web_seed=False, tracker=False, lies_about=bytes(corrupt)
    )
    honest = Peer(torrent, tmp_path / "honest", tracker=False)
    victim = Peer(torrent, tmp_path / "victim", web_seed=False, tracker=False)
    try:
        honest.wait()
        victim.connect(liar)  # the liar first and alone: the bad piece can only come from it
        deadline = time.monotonic() + 60
        while victim.banned == 0:
            victim.poll()
            assert not victim.done, "a corrupt piece was taken"
            assert time.monotonic() < deadline, "the liar was never caught"
            time.sleep(0.05)
        victim.connect(honest)
        victim.wait()
        assert victim.hash_failures >= 1 and victim.banned >= 1
        assert victim.sha256() == SHA
    finally:
        for peer in (liar, honest, victim):
            peer.close()
