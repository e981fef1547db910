"""The node agent through the swarm: a node that has a model seeds it, the next node takes
it from that node alone (no web seed, and no HTTP until the swarm has stalled for longer
than the test may take: completing proves the swarm delivered); a swarm with nobody to
give falls back to plain HTTP; `ferry agent seed`, `status` and `stop` from the shell."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest

from ferry.agent.agent import Agent
from ferry.agent.swarm import SwarmOptions
from models.conftest import publish
from models.test_agent import _agent_cli
from support.serve import Server

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

BIG = hashlib.shake_256(b"agent-swarm").digest(12_000_000)
FILES = {"model.bin": BIG, "config.json": b'{"v": 1}'}
LOOPBACK = "127.0.0.1:0"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_node_takes_the_model_from_the_node_that_has_it(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/big", "1.0", FILES)
    first = Agent(tmp_path / "first", server.base, reader, swarm=SwarmOptions(listen=LOOPBACK))
    entry = asyncio.run(first.install("acme/big"))
    assert entry.status == "ready", entry.error
    info_hash = entry.files["model.bin"]["info_hash"]
    assert (tmp_path / "first" / "torrents" / f"{info_hash}.torrent").is_file()
    assert "info_hash" not in entry.files["config.json"]  # too small for a swarm
    assert not (tmp_path / "first" / ".swarm" / info_hash).exists()  # staging cleared

    # the second: no web seed, and a stall timeout longer than the test may run
    alone = SwarmOptions(listen=LOOPBACK, web_seed=False, stall_timeout=3600)
    second = Agent(tmp_path / "second", server.base, reader, swarm=alone)

    async def both() -> None:
        stop = asyncio.Event()
        seeding = asyncio.create_task(first.seed(stop=stop))
        try:
            got = await second.install("acme/big")
            assert got.status == "ready", got.error
        finally:
            stop.set()
            uploaded = await seeding
        assert sum(uploaded.values()) >= len(BIG)  # every byte went up from the first

    asyncio.run(both())
    path = second.get_model_path("acme/big")
    assert _sha(path / "model.bin") == hashlib.sha256(BIG).hexdigest()
    assert (path / "config.json").read_bytes() == FILES["config.json"]


def test_a_swarm_that_gives_nothing_falls_back_to_http(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/big", "1.0", FILES)
    nobody = SwarmOptions(listen=LOOPBACK, web_seed=False, stall_timeout=2)
    agent = Agent(tmp_path / "node", server.base, reader, swarm=nobody)
    entry = asyncio.run(agent.install("acme/big"))
    assert entry.status == "ready", entry.error
    assert _sha(Path(entry.path) / "model.bin") == hashlib.sha256(BIG).hexdigest()
    assert not any((tmp_path / "node" / ".swarm").glob("*/*"))  # the stalled bytes are gone


def test_seed_status_and_stop_from_the_shell(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/big", "1.0", FILES)
    node = str(tmp_path / "node")
    installed = _agent_cli(
        "install", "acme/big", "--dir", node, "--p2p", "--listen", LOOPBACK,
        server=server, token=reader,
    )  # fmt: skip
    _, err = installed.communicate(timeout=120)
    assert installed.returncode == 0, err
    seeder = _agent_cli("seed", "--dir", node, "--listen", LOOPBACK, server=server, token=reader)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "node" / "seeding.json").is_file():
            assert seeder.poll() is None, seeder.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        said = _agent_cli("status", "--dir", node, server=server, token=reader)
        out, _ = said.communicate(timeout=60)
        assert out.startswith("seeding 1 files"), out
        doc = json.loads((tmp_path / "node" / "seeding.json").read_text())
        assert doc["pid"] == seeder.pid
        stopped = _agent_cli("stop", "--dir", node, server=server, token=reader)
        assert stopped.wait(timeout=60) == 0
        out, err = seeder.communicate(timeout=60)
        assert seeder.returncode == 0, err
        assert out.startswith("seeded 1 files")
    finally:
        if seeder.poll() is None:
            seeder.kill()
    assert not (tmp_path / "node" / "seeding.json").exists()
    again = _agent_cli("status", "--dir", node, server=server, token=reader)
    assert again.communicate(timeout=60)[0].strip() == "not seeding"
