"""``ferry models pull``: a model from one Ferry (as a Hub-compatible endpoint) into
another side's catalog, every file verified; an endpoint that lies is caught and leaves
nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from ferry.errors import ExitCode
from ferry.settings import Settings, load_settings
from ferry.store.kept import open_local_kept
from models.conftest import publish
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

BIG = hashlib.shake_256(b"pull").digest(10 * 1024 * 1024 + 17)
FILES = {"model.safetensors": BIG, "config.json": b'{"a": 1}', "sub/vocab.txt": b"x\ny\n"}


def _pull(
    *args: str, data_dir: Path, endpoint: str, token: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "FERRY_"))}
    env.update(HF_TOKEN=token, NO_PROXY="127.0.0.1")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ferry.cli.main",
            "models",
            "pull",
            *args,
            "--endpoint",
            endpoint,
            "--data-dir",
            str(data_dir),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _held(data_dir: Path, repo: str) -> dict[str, dict[str, str]]:
    """version → {path: sha256} in the catalog of ``data_dir``, read back from its store."""

    async def read() -> dict[str, dict[str, str]]:
        settings = load_settings(None, data_dir=data_dir)
        async with open_local_kept(settings) as kept:
            assert kept.catalog is not None
            model = await kept.db(kept.catalog.get, "model", repo)
            if model is None:
                return {}
            found = {}
            for v in model.versions:
                for f in v.files:
                    data = b"".join([c async for c in kept.blobs.read(_key(f.sha256))])
                    assert hashlib.sha256(data).hexdigest() == f.sha256
                found[v.version] = {f.path: f.sha256 for f in v.files}
            return found

    return asyncio.run(read())


def _key(sha256: str):  # type: ignore[no-untyped-def]
    from ferry.store.blob import BlobKey

    return BlobKey.sha256(sha256)


def test_pull_from_another_ferry(served: tuple[Server, str, str], tmp_path: Path) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/tiny", "1.0", FILES)
    here = tmp_path / "here"
    done = _pull("acme/tiny@1.0", data_dir=here, endpoint=server.base, token=reader)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == "1.0"
    assert _held(here, "acme/tiny") == {
        "1.0": {p: hashlib.sha256(d).hexdigest() for p, d in FILES.items()}
    }
    # main, pulled: named after its commit; pulled again: nothing new
    again = _pull("acme/tiny", data_dir=here, endpoint=server.base, token=reader)
    assert again.returncode == 0, again.stderr
    name = json.loads(again.stdout)["version"]
    assert len(name) == 12
    twice = _pull("acme/tiny", data_dir=here, endpoint=server.base, token=reader)
    assert json.loads(twice.stdout)["version"] == name
    # no token: the endpoint's refusal, said plainly
    refused = _pull("acme/tiny@1.0", data_dir=tmp_path / "x", endpoint=server.base, token="")
    assert refused.returncode == ExitCode.NETWORK and "refused" in refused.stderr


class _Liar(BaseHTTPRequestHandler):
    """A Hub-compatible endpoint whose tree says one thing and whose files another."""

    commit = "a" * 40
    tree: ClassVar[list[dict[str, object]]] = []
    body = b"hello"

    def do_GET(self) -> None:
        if self.path.startswith("/api/models/acme/bad/revision/"):
            self._send(json.dumps({"sha": self.commit}).encode(), "application/json")
        elif self.path.startswith("/api/models/acme/bad/tree/"):
            self._send(json.dumps(self.tree).encode(), "application/json")
        elif "/resolve/" in self.path:
            self._send(self.body, "application/octet-stream")
        else:
            self.send_error(404)

    def _send(self, data: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def liar() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.mark.parametrize(
    ("tree", "said"),
    [
        # the git blob id of other bytes
        ([{"type": "file", "path": "w.bin", "size": 5, "oid": "0" * 40}], "git blob id"),
        # an LFS sha256 of other bytes
        (
            [
                {
                    "type": "file",
                    "path": "w.bin",
                    "size": 5,
                    "oid": "0" * 40,
                    "lfs": {"oid": "1" * 64, "size": 5},
                }
            ],
            "w.bin",
        ),
        # a size that is not what arrives
        ([{"type": "file", "path": "w.bin", "size": 9, "oid": "0" * 40}], "w.bin"),
        # a path that climbs
        ([{"type": "file", "path": "../../etc/cron.d/x", "size": 5, "oid": "0" * 40}], "path"),
    ],
)
def test_a_lying_endpoint_leaves_nothing(
    liar: str, tmp_path: Path, settings: Settings, tree: list[dict[str, object]], said: str
) -> None:
    _Liar.tree = tree
    here = tmp_path / "here"
    done = _pull("acme/bad", data_dir=here, endpoint=liar, token="t")
    assert done.returncode in (ExitCode.INTEGRITY, ExitCode.USAGE, ExitCode.NETWORK), done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert _held(here, "acme/bad") == {}
    assert not (tmp_path / "etc").exists()


def test_the_token_goes_to_its_endpoint_only() -> None:
    from ferry.fetch.routes import Routes

    routes = Routes(from_environment=False, auth={"http://127.0.0.1:8000": "Bearer t"})
    assert routes.for_url("http://127.0.0.1:8000/acme/x/resolve/main/a") == (None, "Bearer t")
    # another port, scheme or host (a redirect to storage) gets nothing
    for url in ("http://127.0.0.1:8001/a", "https://127.0.0.1:8000/a", "http://storage.example/a"):
        assert routes.for_url(url) == (None, None)
