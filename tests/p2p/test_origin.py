"""What the origin sends: Ferry counts the bytes of model files it serves (the number a swarm
is there to keep low), and a node takes from Ferry's web seed only while the peers it sees do
not hold a whole copy between them."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

from ferry.agent.agent import Agent
from ferry.agent.swarm import _origin_as_last_resort
from models.conftest import publish
from models.test_agent import FILES
from support.serve import Server

WEB_SEED = "http://ferry:secret@origin.example/acme/big/resolve/0/model.bin"


@dataclass
class _Handle:
    seeds: set[str] = field(default_factory=set)

    def url_seeds(self) -> list[str]:
        return sorted(self.seeds)

    def add_url_seed(self, url: str) -> None:
        self.seeds.add(url)

    def remove_url_seed(self, url: str) -> None:
        self.seeds.discard(url)


@dataclass
class _Status:
    distributed_copies: float


def test_the_web_seed_goes_while_peers_hold_a_copy_and_comes_back() -> None:
    handle = _Handle({WEB_SEED})
    _origin_as_last_resort(handle, _Status(0.4), [WEB_SEED])
    assert handle.seeds == {WEB_SEED}  # the peers have less than a copy: the origin helps
    _origin_as_last_resort(handle, _Status(1.0), [WEB_SEED])
    assert handle.seeds == set()  # every piece is with some peer: the origin rests
    _origin_as_last_resort(handle, _Status(2.5), [WEB_SEED])
    assert handle.seeds == set()
    _origin_as_last_resort(handle, _Status(0.0), [WEB_SEED])
    assert handle.seeds == {WEB_SEED}  # the peers left: back to the origin


def _served(server: Server) -> int:
    text = server.client.get("/metrics").text
    found = re.search(r'^ferry_model_bytes_served_total\{kind="model"\} (\S+)$', text, re.M)
    return int(float(found[1])) if found else 0


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
