"""The node agent: models from a served Ferry onto a machine, every file checked; two
installs of one version at once, a killed install resumed, an update that fetches only
what changed, and a server whose bytes do not match its catalog."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferry.agent.agent import Agent, ModelNotAvailableError
from ferry.errors import UsageError
from models.conftest import publish
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

FILES = {
    "model.bin": hashlib.shake_256(b"agent").digest(3_000_000),
    "config.json": b'{"v": 1}',
    "tok/vocab.txt": b"a\n",
}


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def _uses(server: Server) -> int:
    """How many whole downloads of acme/tiny the server counted (the ranking)."""
    ranking = server.client.get("/api/model-usage/ranking").json()
    return next((r["request_count"] for r in ranking if r["model_id"] == "acme/tiny"), 0)


def _agent_cli(
    *args: str, server: Server, token: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    environ.update(FERRY_URL=server.base, FERRY_TOKEN=token, NO_PROXY="127.0.0.1", **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "ferry.cli.main", "agent", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_install_then_the_path(served: tuple[Server, str, str], tmp_path: Path) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    agent = Agent(tmp_path / "node", server.base, reader)
    with pytest.raises(ModelNotAvailableError) as missing:
        agent.get_model_path("acme/tiny")
    assert missing.value.reason == "not_installed"
    entry = asyncio.run(agent.install("acme/tiny"))
    assert entry.status == "ready", entry.error
    path = agent.get_model_path("acme/tiny")
    assert path == agent.get_model_path("acme/tiny", "1.0")
    assert _digests(path) == {p: hashlib.sha256(d).hexdigest() for p, d in FILES.items()}
    doc = json.loads((tmp_path / "node" / "registry.json").read_text())
    assert doc["models"]["acme/tiny@1.0"]["status"] == "ready"
    # the CLI says the same
    done = _agent_cli(
        "status", "acme/tiny", "--dir", str(tmp_path / "node"), server=server, token=reader
    )
    out, _ = done.communicate(timeout=60)
    assert done.returncode == 0 and out.strip() == str(path)


def test_an_update_fetches_only_what_changed(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    agent = Agent(tmp_path / "node", server.base, reader)
    assert asyncio.run(agent.install("acme/tiny")).status == "ready"
    publish(server, admin, "acme/tiny", "2.0", {**FILES, "config.json": b'{"v": 2}'})
    before = _uses(server)
    entry = asyncio.run(agent.install("acme/tiny", refresh=True))  # what `update` does
    assert entry.version == "2.0" and entry.status == "ready"
    old, new = Path(agent.get_model_path("acme/tiny", "1.0")), Path(entry.path)
    # the unchanged weights are the same file, not a second download
    assert (old / "model.bin").stat().st_ino == (new / "model.bin").stat().st_ino
    # one file downloaded: the server counted one use
    assert _uses(server) == before + 1


def test_two_installs_of_one_version_at_once(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    node = str(tmp_path / "node")
    procs = [
        _agent_cli("install", "acme/tiny", "--dir", node, "--json", server=server, token=reader)
        for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert {r["status"] for r in results} == {"ready"}
    assert results[0]["path"] == results[1]["path"]
    assert _uses(server) == len(FILES)  # one downloaded, the other waited


def test_a_killed_install_is_cleaned_and_resumed(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    big = hashlib.shake_256(b"slow").digest(40_000_000)
    publish(server, admin, "acme/big", "1.0", {"weights.bin": big})
    node = tmp_path / "node"
    slow = _agent_cli(
        "install",
        "acme/big",
        "--dir",
        str(node),
        server=server,
        token=reader,
        env={"FERRY_LIMIT_RATE": "8M"},
    )
    time.sleep(2.5)
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=30)
    locks = list((node / ".locks").glob("*.lock"))
    assert locks, "the killed install left its lock"
    agent = Agent(node, server.base, reader)  # a new start cleans what the dead left
    assert agent.cleaned and agent.cleaned[0]["model_id"] == "acme/big"
    with pytest.raises(ModelNotAvailableError) as interrupted:
        agent.get_model_path("acme/big")
    assert interrupted.value.reason == "error"
    entry = asyncio.run(agent.install("acme/big"))
    assert entry.status == "ready", entry.error
    assert (
        hashlib.sha256((Path(entry.path) / "weights.bin").read_bytes()).digest()
        == hashlib.sha256(big).digest()
    )


def test_bytes_that_do_not_match_the_catalog_are_never_placed(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    sha = hashlib.sha256(FILES["model.bin"]).hexdigest()
    blob = server.settings.data_dir / "store" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    blob.write_bytes(b"x" * len(FILES["model.bin"]))  # same size, other bytes
    agent = Agent(tmp_path / "node", server.base, reader)
    entry = asyncio.run(agent.install("acme/tiny"))
    assert entry.status == "error" and "model.bin" in (entry.error or "")
    assert not (Path(entry.path) / "model.bin").exists()
    # what did arrive whole stays
    assert (Path(entry.path) / "config.json").read_bytes() == FILES["config.json"]
    with pytest.raises(ModelNotAvailableError) as caught:
        agent.get_model_path("acme/tiny")
    assert caught.value.reason == "error"


@pytest.mark.parametrize("spec", ["../../etc", "acme/tiny@../../x", "a..b/c"])
def test_names_from_the_command_line_are_checked(spec: str, tmp_path: Path) -> None:
    agent = Agent(tmp_path / "node", "http://127.0.0.1:9", None)
    repo, _, version = spec.partition("@")
    with pytest.raises(Exception) as caught:
        asyncio.run(agent.install(repo, version or None))
    assert "model id" in str(caught.value) or "version" in str(caught.value)
    for steer in (agent.enqueue, agent.pause, agent.resume):
        with pytest.raises(UsageError, match=r"model id|version"):
            steer(repo, version or None)
    assert agent.queue.read() == []
    assert not (tmp_path / "etc").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_a_disk_that_fills_up(served: tuple[Server, str, str], tmp_path: Path) -> None:
    """The node's disk (a 4 MB tmpfs) fills mid-download: the version is `error` with the
    reason, registry.json is whole and says so, and the next install after space is freed
    completes."""
    server, admin, reader = served
    publish(server, admin, "acme/huge", "1.0", {"w.bin": hashlib.shake_256(b"h").digest(6_000_000)})
    node = tmp_path / "node"
    node.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(node)], check=True)
    try:
        agent = Agent(
            node,
            server.base,
            reader,
            settings=server.settings.model_copy(update={"data_dir": tmp_path / "scratch"}),
        )
        entry = asyncio.run(agent.install("acme/huge"))
        assert entry.status == "error"
        assert "space" in (entry.error or "").lower()
        doc = json.loads((node / "registry.json").read_text())
        assert doc["models"]["acme/huge@1.0"]["status"] == "error"
        with pytest.raises(ModelNotAvailableError) as caught:
            agent.get_model_path("acme/huge")
        assert caught.value.reason == "error"
    finally:
        subprocess.run(["umount", "-l", str(node)], check=False)


def test_ten_models_at_once(served: tuple[Server, str, str], tmp_path: Path) -> None:
    server, admin, reader = served
    models = {
        f"acme/m{i}": {"w.bin": hashlib.shake_256(b"%d" % i).digest(200_000)} for i in range(10)
    }
    for repo, files in models.items():
        publish(server, admin, repo, "1.0", files)
    agent = Agent(tmp_path / "node", server.base, reader)

    async def all_of_them() -> list[object]:
        return await asyncio.gather(*(agent.install(repo) for repo in models))

    entries = asyncio.run(all_of_them())
    assert {e.status for e in entries} == {"ready"}  # type: ignore[attr-defined]
    for repo, files in models.items():
        assert _digests(agent.get_model_path(repo)) == {
            p: hashlib.sha256(d).hexdigest() for p, d in files.items()
        }
    assert len(json.loads((tmp_path / "node" / "registry.json").read_text())["models"]) == 10


def test_the_server_killed_again_and_again_mid_file(
    served: tuple[Server, str, str], tmp_path: Path
) -> None:
    """Seed 004's 'network interrupted many times': the server SIGKILLed four times while
    one file streams, started again on its port each time; the install completes, and
    every restart found bytes kept from before it."""
    server, admin, reader = served
    big = hashlib.shake_256(b"kill").digest(48_000_000)
    publish(server, admin, "acme/big", "1.0", {"weights.bin": big})
    node = tmp_path / "node"
    target = node / "models" / "acme" / "big" / "1.0"
    port = int(server.base.rsplit(":", 1)[1])
    install = _agent_cli(
        "install", "acme/big", "--dir", str(node), "--limit-rate", "6M", "--json",
        server=server, token=reader,
    )  # fmt: skip
    current, kept, restarts = server, 0, []
    try:
        for _ in range(4):
            deadline = time.monotonic() + 60
            while _on_disk(target) < kept + 4_000_000:
                assert install.poll() is None, install.communicate()
                assert time.monotonic() < deadline, "no bytes since the last restart"
                time.sleep(0.05)
            current.kill()
            kept = _on_disk(target)
            restarts.append(kept)
            current = Server(server.settings, port)
        out, err = install.communicate(timeout=120)
    finally:
        if current is not server:
            current.stop()
        if install.poll() is None:
            install.kill()
    assert install.returncode == 0, err
    assert json.loads(out)["status"] == "ready"
    assert restarts == sorted(restarts) and restarts[0] > 0
    assert hashlib.sha256((target / "weights.bin").read_bytes()).digest() == (
        hashlib.sha256(big).digest()
    )


def _on_disk(root: Path) -> int:
    """Bytes that arrived under ``root`` (the file's blocks, its partial pieces included)."""
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())
