"""What the origin sends: Ferry counts the bytes of model files it serves (the number a swarm
is there to keep low); a node takes from Ferry only the pieces no peer has, so a node alone
takes one copy, nodes starting together share about one copy between them, and a peer that
serves corrupt pieces is banned and the origin fills in."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from pathlib import Path

import pytest

from ferry.agent import swarm
from ferry.agent.agent import Agent
from ferry.agent.swarm import SwarmFile, SwarmOptions, fetch_from_swarm
from models.conftest import publish
from models.test_agent import FILES
from support.serve import Server
from support.swarm import Peer, published_torrent

BIG = hashlib.shake_256(b"origin").digest(12_000_000)  # 46 pieces of 256 KiB
SHA = hashlib.sha256(BIG).hexdigest()
# no plain-HTTP fallback within a test: a file that comes out came through the swarm
PATIENT = SwarmOptions(listen="127.0.0.1:0", stall_timeout=3600)


def _served(server: Server) -> int:
    text = server.client.get("/metrics").text
    found = re.search(r'^ferry_model_bytes_served_total\{kind="model"\} (\S+)$', text, re.M)
    return int(float(found[1])) if found else 0


def _torrent(server: Server, admin: str, reader: str) -> bytes:
    return published_torrent(server, admin, reader, BIG)


async def _fetch(torrent: bytes, where: Path) -> str:
    got = await fetch_from_swarm([SwarmFile("model.bin", torrent, where)], PATIENT)
    assert "model.bin" in got, "the swarm gave up"
    return hashlib.sha256(got["model.bin"].read_bytes()).hexdigest()


def test_the_origin_counts_the_model_bytes_it_sends(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    before = _served(server)
    entry = asyncio.run(Agent(tmp_path / "node", server.base, reader).install("acme/tiny"))
    assert entry.status == "ready"
    assert _served(server) - before == sum(len(d) for d in FILES.values())
    # a HEAD sends nothing
    server.client.head("/acme/tiny/resolve/main/model.bin")
    assert _served(server) - before == sum(len(d) for d in FILES.values())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_node_alone_takes_one_copy_from_the_origin(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    torrent = _torrent(server, admin, reader)
    before = _served(server)
    assert asyncio.run(_fetch(torrent, tmp_path / "node")) == SHA
    assert len(BIG) <= _served(server) - before <= 1.05 * len(BIG)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_nodes_starting_together_share_a_copy(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    torrent = _torrent(server, admin, reader)
    before = _served(server)

    async def four() -> list[str]:
        return await asyncio.gather(*(_fetch(torrent, tmp_path / f"n{i}") for i in range(4)))

    assert asyncio.run(four()) == [SHA] * 4
    sent = _served(server) - before
    # each node taking the file from the origin would be 4 copies; the split between the
    # nodes makes it about one (a generous bound: 4 sessions and Ferry share the CPUs)
    assert len(BIG) <= sent <= 2 * len(BIG), sent / len(BIG)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_peer_serving_corrupt_pieces_is_banned_and_the_origin_fills_in(
    served: tuple[Server, str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, admin, reader = served
    # on a loaded machine the node may take long to reach the liar: it must not give up on
    # its peers meanwhile and take everything from the origin (that is another test's)
    monkeypatch.setattr(swarm, "_STUCK_S", 120.0)
    torrent = _torrent(server, admin, reader)
    corrupt = bytearray(BIG)
    corrupt[300_000:300_100] = b"X" * 100  # inside the second 256 KiB piece
    # a seeder the tracker names, that claims every piece and serves one of them wrong
    liar = Peer(torrent, tmp_path / "liar", web_seed=False, lies_about=bytes(corrupt))
    try:
        deadline = time.monotonic() + 60
        while not liar.handle.trackers()[0]["start_sent"]:
            assert time.monotonic() < deadline, "the liar never announced"
            time.sleep(0.05)
        before = _served(server)
        with caplog.at_level(logging.WARNING, logger="ferry.agent.swarm"):
            assert asyncio.run(_fetch(torrent, tmp_path / "node")) == SHA
        said = " ".join(r.getMessage() for r in caplog.records)
        assert "hash" in said and "ban" in said, said
        # the bad piece (and what the liar did not send before its ban) came from Ferry
        assert _served(server) - before >= 256 << 10
        assert liar.handle.status().total_payload_upload > 0  # the liar did take part
    finally:
        liar.close()
