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
    """The seeder starts on an empty node and takes up what is installed beside it."""
    server, admin, reader = served
    publish(server, admin, "acme/big", "1.0", FILES)
    node = str(tmp_path / "node")
    seeder = _agent_cli("seed", "--dir", node, "--listen", LOOPBACK, server=server, token=reader)

    def status() -> str:
        said = _agent_cli("status", "--dir", node, server=server, token=reader)
        return said.communicate(timeout=60)[0].strip()

    try:
        deadline = time.monotonic() + 60
        mine = tmp_path / "node" / "seeding" / f"{seeder.pid}.json"
        while not mine.is_file():
            assert seeder.poll() is None, seeder.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert status().startswith("seeding 0 files")
        assert json.loads(mine.read_text())["pid"] == seeder.pid
        # installed by another process, seeding a second itself after: the seeder joins in
        installed = _agent_cli(
            "install", "acme/big", "--dir", node, "--listen", LOOPBACK, "--seed-for", "1",
            server=server, token=reader,
        )  # fmt: skip
        _, err = installed.communicate(timeout=120)
        assert installed.returncode == 0, err
        while status() != f"seeding 1 files (pid {seeder.pid}), 0 bytes up":
            assert time.monotonic() < deadline + 60, status()
            time.sleep(0.5)
        stopped = _agent_cli("stop", "--dir", node, server=server, token=reader)
        assert stopped.wait(timeout=60) == 0
        out, err = seeder.communicate(timeout=60)
        assert seeder.returncode == 0, err
        assert out.startswith("seeded 1 files")
    finally:
        if seeder.poll() is None:
            seeder.kill()
    assert not any((tmp_path / "node" / "seeding").iterdir())
    assert status() == "not seeding"
