"""``/npm/``: stock npm installs, views and ``npm ci``s an imported bundle's packages from
Ferry's registry, with its token in .npmrc as npm keeps it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferry.cli.main import main
from ferry.errors import ExitCode
from ferry.settings import Settings
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

ABBREVIATED = "application/vnd.npm.install-v1+json"


@pytest.fixture
def served(made: Path, npm_settings: Settings, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    settings = npm_settings.model_copy(update={"data_dir": tmp_path / "far"})
    assert main(["import", str(made), "--data-dir", str(settings.data_dir)]) == ExitCode.OK
    server = Server(settings)
    try:
        answer = server.client.post(
            "/api/tokens", json={"name": "ci", "role": "read", "owner": "ci"}
        )
        assert answer.status_code == 201, answer.text
        yield server, str(answer.json()["token"])
    finally:
        server.stop()


def _npm(args: list[str], cwd: Path, server: Server, token: str, tmp_path: Path) -> str:
    """Stock npm with a configuration of its own: the registry, the token as npm keeps it
    (``_authToken`` for the registry's path), a fresh cache."""
    registry = f"{server.base}/npm/"
    userconfig = tmp_path / "npmrc"
    userconfig.write_text(
        f"registry={registry}\n//{registry.removeprefix('http://')}:_authToken={token}\n"
    )
    globalconfig = tmp_path / "npmrc-global"
    globalconfig.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(
        npm_config_userconfig=str(userconfig),
        npm_config_globalconfig=str(globalconfig),
        npm_config_cache=str(tmp_path / "npm-cache"),
        npm_config_audit="false",
        npm_config_fund="false",
        npm_config_update_notifier="false",
    )
    done = subprocess.run(
        ["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _project(tmp_path: Path, name: str) -> Path:
    project = tmp_path / name
    project.mkdir()
    return project


def test_npm_install_and_view(served: tuple[Server, str], tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: scripts/install.sh installs it")
    server, token = served
    project = _project(tmp_path, "fresh")
    (project / "package.json").write_text(
        json.dumps({"name": "fresh", "version": "1.0.0", "private": True})
    )
    _npm(["install", "app@^1.0.0", "@demo/native@1.0.0"], project, server, token, tmp_path)
    installed = json.loads((project / "node_modules" / ".package-lock.json").read_text())
    names = {path.removeprefix("node_modules/") for path in installed["packages"]}
    assert {"app", "lib", "dep", "@demo/native", "@demo/native-linux-x64"} <= names
    lock = json.loads((project / "package-lock.json").read_text())
    resolved = lock["packages"]["node_modules/@demo/native"]["resolved"]
    assert resolved == f"{server.base}/npm/@demo/native/-/native-1.0.0.tgz"

    shown = json.loads(_npm(["view", "app", "--json"], project, server, token, tmp_path))
    assert shown["name"] == "app" and shown["version"] == "1.0.0"
    assert shown["dist-tags"] == {"latest": "1.0.0"}


def test_npm_ci_from_the_bundles_lock(
    served: tuple[Server, str], made: Path, tmp_path: Path
) -> None:
    """The lock made on the near side names the registry the bundle was filled from;
    npm's replace-registry-host points every tarball at Ferry instead."""
    server, token = served
    project = _project(tmp_path, "ci")
    with zipfile.ZipFile(made) as zf:
        root = zf.namelist()[0].split("/")[0]
        for name in ("package.json", "package-lock.json"):
            (project / name).write_bytes(zf.read(f"{root}/npm-packages/{name}"))
    lock = json.loads((project / "package-lock.json").read_text())
    assert not lock["packages"]["node_modules/app"]["resolved"].startswith(server.base)
    _npm(["ci", "--replace-registry-host=always"], project, server, token, tmp_path)
    assert (project / "node_modules" / "app" / "package.json").is_file()
    assert (project / "node_modules" / "@demo" / "native" / "package.json").is_file()


def test_packuments_full_abbreviated_scoped_and_refused(served: tuple[Server, str]) -> None:
    server, token = served
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=auth) as client:
        full = client.get("/npm/@demo%2fnative")
        assert full.status_code == 200, full.text
        doc = full.json()
        assert doc["_id"] == doc["name"] == "@demo/native"
        version = doc["versions"]["1.0.0"]
        assert version["_id"] == "@demo/native@1.0.0"
        assert version["dist"]["integrity"].startswith("sha512-")
        assert version["dist"]["tarball"] == f"{server.base}/npm/@demo/native/-/native-1.0.0.tgz"
        assert "1.0.0" in doc["time"]

        short = client.get("/npm/@demo/native", headers={"Accept": ABBREVIATED})
        assert short.headers["content-type"] == ABBREVIATED
        slim = short.json()["versions"]["1.0.0"]
        assert set(slim) <= {
            "name", "version", "dist", "optionalDependencies", "dependencies", "os", "cpu",
            "engines", "bin", "hasInstallScript",
        }  # fmt: skip
        assert "_id" not in slim

        tarball = client.get(version["dist"]["tarball"])
        assert tarball.status_code == 200
        ranged = client.get(version["dist"]["tarball"], headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206 and ranged.content == tarball.content[:10]
        assert client.get("/npm/nothing-here").status_code == 404
        assert client.get("/npm/app/-/app-9.9.9.tgz").status_code == 404
    with httpx.Client(base_url=server.base) as anonymous:
        refused = anonymous.get("/npm/app")
        assert refused.status_code == 401
