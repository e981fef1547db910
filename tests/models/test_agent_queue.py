"""The node agent around its installs: the catalog cached for a TTL (and used while the
server is away), callbacks on every state, a queue taken best first, pause and resume from
another process, and hooks run when a version is ready."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest

from ferry.agent.agent import Agent, ModelNotAvailableError
from ferry.agent.state import Installed
from ferry.errors import ConfigError
from models.conftest import publish
from models.test_agent import FILES, _agent_cli
from support.serve import Server, free_port

pytestmark = pytest.mark.timeout(300)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_catalog_is_cached_for_its_ttl_and_update_asks_again(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    agent = Agent(tmp_path / "node", server.base, reader, manifest_ttl=3600)
    assert asyncio.run(agent.install("acme/tiny")).version == "1.0"
    cache = json.loads((tmp_path / "node" / "manifest_cache.json").read_text())
    assert cache["models"]["acme/tiny"]["doc"]["default_version"] == "1.0"
    publish(server, admin, "acme/tiny", "2.0", {**FILES, "config.json": b'{"v": 2}'})
    # within the TTL the node does not ask: the default it knows is still 1.0
    assert asyncio.run(agent.install("acme/tiny")).version == "1.0"
    # an update asks the server whatever the TTL says
    assert asyncio.run(agent.install("acme/tiny", refresh=True)).version == "2.0"
    # and a TTL of 0 always asks
    publish(server, admin, "acme/tiny", "3.0", {**FILES, "config.json": b'{"v": 3}'})
    eager = Agent(tmp_path / "node", server.base, reader, manifest_ttl=0)
    assert asyncio.run(eager.install("acme/tiny")).version == "3.0"


def test_a_node_restarting_while_the_server_is_away_uses_what_it_knows(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    node = tmp_path / "node"
    assert asyncio.run(Agent(node, server.base, reader).install("acme/tiny")).status == "ready"
    away = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    stale = Agent(node, away, reader, manifest_ttl=0)
    entry = asyncio.run(stale.install("acme/tiny"))  # the cached default, already here
    assert entry.status == "ready" and entry.version == "1.0"
    with pytest.raises(Exception, match="could not reach"):
        asyncio.run(stale.install("acme/other"))  # nothing cached: the error says why


def test_callbacks_see_every_state_and_a_failing_one_breaks_nothing(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    seen: list[tuple[str, str]] = []

    def record(entry: Installed) -> None:
        seen.append((entry.version, entry.status))
        entry.status = "tampered"  # a copy: the agent's own record is not touched
        raise RuntimeError("a callback that fails")

    agent = Agent(tmp_path / "node", server.base, reader, on_change=record)
    entry = asyncio.run(agent.install("acme/tiny"))
    assert entry.status == "ready"
    assert seen == [("1.0", "downloading"), ("1.0", "verifying"), ("1.0", "ready")]
    assert agent.get_model_path("acme/tiny") == Path(entry.path)


def test_the_queue_installs_the_highest_priority_first(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    for name in ("acme/low", "acme/high", "acme/mid", "acme/also-mid"):
        publish(server, admin, name, "1.0", {"w.bin": name.encode() * 1000})
    started: list[str] = []

    def record(entry: Installed) -> None:
        if entry.status == "downloading":
            started.append(entry.model_id)

    agent = Agent(tmp_path / "node", server.base, reader, on_change=record)
    agent.enqueue("acme/low", priority=0)
    agent.enqueue("acme/mid", priority=5)
    agent.enqueue("acme/high", priority=1)
    agent.enqueue("acme/high", priority=9)  # queued again: its priority moves
    agent.enqueue("acme/also-mid", "1.0", priority=5)  # same priority: in turn
    ended = asyncio.run(agent.run_queue(parallel=1))
    assert started == ["acme/high", "acme/mid", "acme/also-mid", "acme/low"]
    assert [e.status for e in ended] == ["ready"] * 4
    assert agent.queue.read() == []


def test_a_queued_install_whose_server_is_away_stays_queued(tmp_path: Path) -> None:
    agent = Agent(tmp_path / "node", f"http://127.0.0.1:{free_port()}", None)
    agent.enqueue("acme/tiny")
    assert asyncio.run(agent.run_queue()) == []
    (left,) = agent.queue.read()
    assert left.attempts == 1 and "could not reach" in (left.error or "")
    assert left.not_before > time.time()  # not tried again at once


def test_a_queued_name_that_does_not_exist_leaves_the_queue(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, _, reader = served
    agent = Agent(tmp_path / "node", server.base, reader)
    agent.enqueue("acme/nothing")
    assert asyncio.run(agent.run_queue()) == []
    assert agent.queue.read() == []


def test_pause_from_another_process_and_resume(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    big = hashlib.shake_256(b"pause").digest(24_000_000)
    publish(server, admin, "acme/big", "1.0", {"weights.bin": big})
    node = tmp_path / "node"
    slow = _agent_cli(
        "install", "acme/big", "--dir", str(node), "--limit-rate", "4M",
        server=server, token=reader,
    )  # fmt: skip
    target = node / "models" / "acme" / "big" / "1.0"
    deadline = time.monotonic() + 60
    while sum(p.stat().st_size for p in target.glob("*")) < 2_000_000:
        assert slow.poll() is None, slow.communicate()
        assert time.monotonic() < deadline, "the install never got going"
        time.sleep(0.1)
    paused = _agent_cli("pause", "acme/big", "--dir", str(node), server=server, token=reader)
    assert paused.wait(timeout=60) == 0
    _, said = slow.communicate(timeout=30)  # the installing process stops by itself
    assert slow.returncode == 1 and "paused" in said
    status = json.loads((node / "registry.json").read_text())["models"]["acme/big@1.0"]
    assert status["status"] == "paused"
    with pytest.raises(ModelNotAvailableError) as waiting:
        Agent(node, server.base, reader).get_model_path("acme/big")
    assert waiting.value.reason == "downloading" and "paused" in waiting.value.message
    kept = sum(p.stat().st_size for p in target.glob("*"))
    assert 0 < kept < 2 * len(big), "the bytes that arrived stay for the resume"
    # a paused entry is not taken by a run until it is resumed
    idle = _agent_cli("run", "--dir", str(node), server=server, token=reader)
    out, _ = idle.communicate(timeout=60)
    assert idle.returncode == 0 and "paused" in out
    resumed = _agent_cli("resume", "acme/big", "--dir", str(node), server=server, token=reader)
    assert resumed.wait(timeout=60) == 0
    run = _agent_cli("run", "--dir", str(node), "--json", server=server, token=reader)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    doc = json.loads(out)
    assert [e["status"] for e in doc["installed"]] == ["ready"] and doc["queued"] == []
    assert _sha((target / "weights.bin").read_bytes()) == _sha(big)


def test_on_ready_runs_with_the_models_path(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    said = tmp_path / "hook.txt"
    hook = f"sh -c 'echo \"$FERRY_MODEL_ID $FERRY_MODEL_VERSION $FERRY_MODEL_PATH\" > {said}'"
    node = tmp_path / "node"
    done = _agent_cli(
        "install", "acme/tiny", "--dir", str(node), "--on-ready", hook,
        server=server, token=reader,
    )  # fmt: skip
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    path = node / "models" / "acme" / "tiny" / "1.0"
    assert said.read_text().split() == ["acme/tiny", "1.0", str(path)]


def test_a_hook_that_fails_is_a_warning_not_a_failed_install(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    done = _agent_cli(
        "install", "acme/tiny", "--dir", str(tmp_path / "node"), "--on-ready", "false",
        server=server, token=reader,
    )  # fmt: skip
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0 and "hook false exited with 1" in err


@pytest.mark.parametrize("name", ["registry.json", "queue.json"])
@pytest.mark.parametrize("text", ["{not json", '{"models": [1], "queue": {"a": 1}}', '"x"'])
def test_a_damaged_state_file_is_named_and_kept(name: str, text: str, tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.mkdir()
    (node / name).write_text(text)
    agent = Agent(node, "http://127.0.0.1:9", None)
    with pytest.raises(ConfigError, match=name) as caught:
        agent.list() if name == "registry.json" else agent.enqueue("acme/tiny")
    assert caught.value.hint is not None
    assert (node / name).read_text() == text  # never replaced by an empty one
    # a damaged cache is only a cache: forgotten, not an error
    (node / "manifest_cache.json").write_text("{not json")
    assert agent.manifests.get("acme/tiny", max_age=float("inf")) is None
