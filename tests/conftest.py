"""Shared fixtures: an isolated environment, a local package index and npm registry with
real files, and the scripted server the download tests use."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ferry.settings import Settings, load_settings
from fetch.local_server import LocalServer
from support.devpi import DevpiServer
from support.npmregistry import LocalRegistry, build_tarball
from support.pathproxy import (
    ProxiedIndex,
    ProxiedNpm,
    artifactory_npm,
    artifactory_pypi,
    nexus_npm,
    nexus_pypi,
)
from support.pyindex import Artifact, LocalIndex, build_backend_wheel, build_sdist, build_wheel
from support.s3servers import S3Server, start_moto, start_seaweedfs
from support.verdaccio import Verdaccio


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read this machine's pip/uv/Ferry configuration (it differs per machine)."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_", "FERRY_")):
            monkeypatch.delenv(key)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("UV_NO_CONFIG", "1")


@dataclass
class Dists:
    """The files the standard test index serves, by short name."""

    dir: Path
    index: LocalIndex
    files: dict[str, Artifact]

    def file_gets(self, suffix: str = "") -> int:
        """Distribution files served so far (not index pages, not PEP 658 metadata)."""
        return sum(
            1
            for method, path in self.index.requests
            if method == "GET"
            and path.startswith("/files/")
            and path.endswith(suffix)
            and not path.endswith(".metadata")
        )


def _publish(index: LocalIndex, dist: Path) -> None:
    index.add(build_backend_wheel(dist))
    _publish_apps(index, dist)


def _publish_apps(index: LocalIndex, dist: Path) -> None:
    index.add(
        build_wheel(
            dist,
            "app",
            "1.0",
            requires_dist=["lib>=1", "winonly; sys_platform == 'win32'", "native"],
            extras={"cli": ["extra-dep>=0.5"]},
        )
    )
    index.add(build_wheel(dist, "lib", "1.0", requires_dist=["dep<2"]))
    index.add(build_wheel(dist, "lib", "2.0", requires_dist=["dep<2"]), yanked="broken build")
    index.add(build_wheel(dist, "dep", "1.0"))
    index.add(build_wheel(dist, "dep", "2.0"))
    index.add(build_wheel(dist, "winonly", "1.0"))
    index.add(build_wheel(dist, "beta", "1.0"))
    index.add(build_wheel(dist, "beta", "2.0b1"))
    index.add(build_wheel(dist, "extra-dep", "0.5"))
    for tag in (
        "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp312-cp312-win_amd64",
        "cp311-cp311-win_amd64",
    ):
        index.add(build_wheel(dist, "native", "1.0", tag=tag))
    index.add(
        build_sdist(
            dist, "sdistonly", "1.0", requires_dist=["dep"], build_requires=["ferry-test-backend"]
        )
    )


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """The scripted server of the fetch tests (faults, ranges, pacing) on 127.0.0.1."""
    srv = LocalServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def pyindex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dists]:
    dist = tmp_path_factory.mktemp("dists")
    with LocalIndex() as index:
        _publish(index, dist)
        yield Dists(dist, index, {a.filename: a for a in index.artifacts()})


@pytest.fixture
def sandbox_dir() -> Iterator[Path]:
    """The resolver sandbox's directory for one test (the service's box): outside pytest's
    own temporary tree, which the box's unprivileged user cannot pass through."""
    path = Path(tempfile.mkdtemp(prefix="ferry-test-box-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path, pyindex: Dists, sandbox_dir: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        index_url=pyindex.index.url,
        use_machine_config=False,
        concurrency=8,
        retries=2,
        sandbox_dir=sandbox_dir,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@dataclass
class Npm:
    """The standard local npm registry and where its tarballs were built."""

    dir: Path
    registry: LocalRegistry


def _publish_npm(reg: LocalRegistry, d: Path) -> None:
    reg.publish(build_tarball(d, "app", "1.0.0", dependencies={"lib": "^2.0.0"}))
    reg.publish(build_tarball(d, "lib", "2.0.0", dependencies={"dep": "^1.0.0"}))
    reg.publish(build_tarball(d, "dep", "1.0.0"))
    reg.publish(build_tarball(d, "old", "1.0.0"), deprecated="use new instead")
    reg.publish(build_tarball(d, "future", "1.0.0", engines={"node": ">=99"}))
    reg.publish(build_tarball(d, "scripted", "1.0.0", scripts={"postinstall": "node x.js"}))
    platforms = {
        "linux-x64": (["linux"], ["x64"]),
        "win32-x64": (["win32"], ["x64"]),
        "darwin-arm64": (["darwin"], ["arm64"]),
    }
    for suffix, (os_, cpu) in platforms.items():
        reg.publish(build_tarball(d, f"@demo/native-{suffix}", "1.0.0", os=os_, cpu=cpu))
    reg.publish(
        build_tarball(
            d,
            "@demo/native",
            "1.0.0",
            optional_dependencies={f"@demo/native-{s}": "1.0.0" for s in platforms},
        )
    )
    reg.publish(build_tarball(d, "deep", "1.0.0", dependencies={"missing": "^9.0.0"}))
    reg.publish(build_tarball(d, "missing", "1.0.0"))


@pytest.fixture
def npmreg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Npm]:
    d = tmp_path_factory.mktemp("tarballs")
    with LocalRegistry() as reg:
        _publish_npm(reg, d)
        yield Npm(d, reg)


@pytest.fixture
def npm_settings(tmp_path: Path, npmreg: Npm, pyindex: Dists, sandbox_dir: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        npm_registry=npmreg.registry.url,
        index_url=pyindex.index.url,
        use_machine_config=False,
        concurrency=8,
        retries=1,
        sandbox_dir=sandbox_dir,
    )


# S3 servers on 127.0.0.1 (the blob store's and the package store's tests): started once per
# session, on demand, so a run of ``-m "not s3"`` starts none


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweedfs_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS's S3 over HTTPS, with a certificate from a CA of its own (``ca_file``)."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs-tls"), tls=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


# Real registries on 127.0.0.1 (the push tests, marked ``registries``): started once per
# session, on demand, so a run that uses none of them starts none. devpi and verdaccio
# directly, and each behind a path-rewriting proxy laid out as Nexus or Artifactory lays
# its repositories out (the proxies are threads here, not processes).


@pytest.fixture(scope="session")
def devpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    """devpi-server with user ``ferry`` and its index ``ferry/internal`` (no mirror):
    ``.index_url`` (simple), ``.upload_url`` (legacy upload), ``.username``, ``.password``."""
    with DevpiServer(tmp_path_factory.mktemp("devpi")) as server:
        yield server


@pytest.fixture(scope="session")
def verdaccio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verdaccio]:
    """verdaccio with no uplinks and user ``ferry``: ``.url``, ``.token``, ``.npmrc``."""
    with Verdaccio(tmp_path_factory.mktemp("verdaccio")) as server:
        yield server


@pytest.fixture(scope="session")
def nexus_pypi_repo(devpi: DevpiServer) -> Iterator[ProxiedIndex]:
    """devpi's index as Nexus's ``/repository/pypi-internal/`` (``.../simple/`` for pip)."""
    repo = nexus_pypi(devpi)
    yield repo
    repo.proxy.stop()


@pytest.fixture(scope="session")
def artifactory_pypi_repo(devpi: DevpiServer) -> Iterator[ProxiedIndex]:
    """devpi's index as Artifactory's ``/artifactory/api/pypi/pypi-local``."""
    repo = artifactory_pypi(devpi)
    yield repo
    repo.proxy.stop()


@pytest.fixture(scope="session")
def nexus_npm_repo(verdaccio: Verdaccio) -> Iterator[ProxiedNpm]:
    """verdaccio as Nexus's ``/repository/npm-internal/``."""
    repo = nexus_npm(verdaccio)
    yield repo
    repo.proxy.stop()


@pytest.fixture(scope="session")
def artifactory_npm_repo(verdaccio: Verdaccio) -> Iterator[ProxiedNpm]:
    """verdaccio as Artifactory's ``/artifactory/api/npm/npm-local/``."""
    repo = artifactory_npm(verdaccio)
    yield repo
    repo.proxy.stop()
