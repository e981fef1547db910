"""`ferry agent serve`: huggingface_hub (0.36 and 2.x, unchanged but for HF_ENDPOINT) gets a
model from the node's own endpoint, which installs it first (through the swarm) and serves
it from local disk; the service checks each client's own token."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from models.conftest import publish
from models.test_agent import _agent_cli
from models.test_hub import HF_VENVS
from security.conftest import Canary
from support.serve import Server, free_port

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

FILES = {
    "config.json": b'{"model_type": "demo"}',
    "model.safetensors": hashlib.shake_256(b"node-hub").digest(12_000_000),
    "tokenizer/vocab.txt": b"a\nb\n",
}

SNAPSHOT = """
import json, hashlib, os
from huggingface_hub import snapshot_download, HfApi
snap = snapshot_download("acme/tiny")
files = sorted(HfApi().list_repo_files("acme/tiny"))
digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
print(json.dumps({p: digest(os.path.join(snap, p)) for p in files}))
"""


def _hf(venv: str, endpoint: str, token: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_TOKEN=token,
        HF_HOME=str(cache / "home"),
        HF_HUB_CACHE=str(cache / "hub"),
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1",
    )
    python = HF_VENVS[venv] / "bin" / "python"
    assert python.is_file(), f"{python}: run scripts/install.sh --dev"
    done = subprocess.run(
        [str(python), "-c", SNAPSHOT], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("venv", ["0.36", "2"])
def test_huggingface_hub_through_the_nodes_endpoint(
    served: tuple[Server, str, str], tmp_path: Path, venv: str
) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    node = tmp_path / "node"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    hub = _agent_cli(
        "serve", "--dir", str(node), "--port", str(port), "--p2p", "--listen", "127.0.0.1:0",
        server=server, token=reader,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert hub.poll() is None, hub.communicate()
            try:
                httpx.get(endpoint + "/api/models/acme/tiny", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the node's endpoint never answered"
                time.sleep(0.1)
        # a stranger's token: the service refuses it, and nothing is installed for it
        forged = httpx.get(
            f"{endpoint}/acme/tiny/resolve/main/model.safetensors",
            headers={"Authorization": "Bearer ferry_" + "A" * 43},
            timeout=30,
        )
        assert forged.status_code == 401
        assert not (node / "registry.json").exists()

        got = _hf(venv, endpoint, reader, tmp_path / "cache")
        assert got == {p: hashlib.sha256(d).hexdigest() for p, d in FILES.items()}
        # the bytes came through the node: the version is installed there, with its torrent
        entry = json.loads((node / "registry.json").read_text())["models"]["acme/tiny@1.0"]
        assert entry["status"] == "ready"
        assert entry["files"]["model.safetensors"].get("info_hash")
        ranged = httpx.get(
            f"{endpoint}/acme/tiny/resolve/main/model.safetensors",
            headers={"Authorization": f"Bearer {reader}", "Range": "bytes=5-14"},
            timeout=30,
        )
        assert ranged.status_code == 206 and ranged.content == FILES["model.safetensors"][5:15]
        assert ranged.headers["x-repo-commit"] and ranged.headers["etag"]
        # a request target naming another host (absolute-form, or //host) goes to Ferry
        # all the same: the node's endpoint is no proxy to anywhere else
        with Canary() as canary:
            for target in (
                f"http://127.0.0.1:{canary.port}/api/x",
                f"//127.0.0.1:{canary.port}/api/x",
            ):
                with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                    sock.sendall(
                        f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                    )
                    while sock.recv(65536):
                        pass
            assert canary.requests == []
    finally:
        hub.terminate()
        hub.wait(timeout=30)
