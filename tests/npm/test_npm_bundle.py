"""npm (and mixed) bundles against the local registry and index: contents, cache reuse,
corrupted tarballs, and the offline install."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import Npm, write
from ferry.errors import IntegrityError
from ferry.services.bundle import BundlePlan, bundle
from ferry.services.python_bundle import BundleOutcome
from ferry.settings import Settings
from ferry.store.cas import ContentStore
from ferry.targets import NodeTarget, host_node_target, host_target

LINUX = NodeTarget.parse("20", "linux", "x64", "glibc")


def _package_json(tmp_path: Path, deps: dict[str, str]) -> Path:
    return write(
        tmp_path / "project" / "package.json",
        json.dumps({"name": "demo", "version": "1.0.0", "dependencies": deps}),
    )


def _bundle(settings: Settings, plan: BundlePlan, out: Path) -> BundleOutcome:
    return asyncio.run(bundle(settings, plan, out, "tar.gz"))


def _extract(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tf:
        tf.extractall(dest, filter="data")
    (root,) = dest.iterdir()
    return root


def _tarball_gets(npmreg: Npm) -> int:
    return sum(1 for m, p in npmreg.registry.requests if m == "GET" and p.endswith(".tgz"))


def test_npm_bundle_layout(npm_settings: Settings, npmreg: Npm, tmp_path: Path) -> None:
    pkg = _package_json(tmp_path, {"app": "^1.0.0", "@demo/native": "1.0.0"})
    result = _bundle(npm_settings, BundlePlan([pkg], node_target=LINUX), tmp_path / "b.tar.gz")
    root = _extract(tmp_path / "b.tar.gz", tmp_path / "x")
    tarballs = sorted(p.name for p in (root / "npm-packages").glob("*.tgz"))
    assert tarballs == sorted(
        [
            "app-1.0.0.tgz",
            "dep-1.0.0.tgz",
            "demo-native-1.0.0.tgz",
            "demo-native-linux-x64-1.0.0.tgz",
            "lib-2.0.0.tgz",
        ]
    )
    assert result.files == 5 and result.bytes_fetched > 0
    lock = json.loads((root / "npm-packages" / "package-lock.json").read_text())
    kept = {
        k: v for k, v in lock["packages"].items() if k and "win32" not in k and "darwin" not in k
    }
    assert all(
        v["resolved"].startswith("http://127.0.0.1") and v["integrity"] for v in kept.values()
    )
    assert (root / "npm-packages" / "package.json").read_bytes() == pkg.read_bytes()
    assert (root / "manifests" / "package.json").read_bytes() == pkg.read_bytes()
    manifest = json.loads((root / "manifest.json").read_text())
    assert "python" not in manifest
    npm = manifest["npm"]
    assert npm["target"] == {
        "key": LINUX.key,
        "node": "20",
        "os": "linux",
        "cpu": "x64",
        "libc": "glibc",
    }
    assert npm["file_count"] == 5 and npm["omit_dev"] is True
    assert sorted(n["name"] for n in npm["tree"]) == ["@demo/native", "app"]
    for record in manifest["files"]:
        data = (root / record["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["sha256"]
        assert len(data) == record["size"] and record["ecosystem"] == "npm"
    sums = dict(
        reversed(line.split("  ", 1)) for line in (root / "SHA256SUMS").read_text().splitlines()
    )
    assert "npm-packages/package-lock.json" in sums and "ferry_npm.js" in sums


def test_second_npm_bundle_downloads_nothing(
    npm_settings: Settings, npmreg: Npm, tmp_path: Path
) -> None:
    pkg = _package_json(tmp_path, {"app": "^1.0.0"})
    first = _bundle(npm_settings, BundlePlan([pkg], node_target=LINUX), tmp_path / "1.tar.gz")
    served = _tarball_gets(npmreg)
    second = _bundle(npm_settings, BundlePlan([pkg], node_target=LINUX), tmp_path / "2.tar.gz")
    assert first.bytes_fetched > 0 and second.bytes_fetched == 0
    assert second.from_cache == second.files == 3
    assert _tarball_gets(npmreg) == served


@pytest.mark.slow
def test_npm_bundle_downloads_through_aria2_when_the_setting_says_so(
    npm_settings: Settings, npmreg: Npm, tmp_path: Path
) -> None:
    aria2 = npm_settings.model_copy(update={"fetch_backend": "aria2"})
    pkg = _package_json(tmp_path, {"app": "^1.0.0"})
    result = _bundle(aria2, BundlePlan([pkg], node_target=LINUX), tmp_path / "b.tar.gz")
    assert result.files == 3 and result.bytes_fetched > 0
    root = _extract(tmp_path / "b.tar.gz", tmp_path / "x")
    lock = json.loads((root / "npm-packages" / "package-lock.json").read_text())
    for entry in (v for k, v in lock["packages"].items() if k):
        tarball = root / "npm-packages" / Path(entry["resolved"]).name
        algorithm, b64 = entry["integrity"].split("-", 1)
        assert hashlib.new(algorithm, tarball.read_bytes()).digest() == base64.b64decode(b64)
    # aria2c sends Ferry's User-Agent, but asks for RFC 3230 digests as no other client does.
    log = zip(npmreg.registry.requests, npmreg.registry.request_headers(), strict=True)
    gets = [h for (m, p), h in log if m == "GET" and p.endswith(".tgz")]
    assert len(gets) == 3 and all("want-digest" in h for h in gets), gets


def test_corrupted_tarball_is_rejected(npm_settings: Settings, npmreg: Npm, tmp_path: Path) -> None:
    pkg = _package_json(tmp_path, {"dep": "1.0.0"})
    npmreg.registry.corrupt("dep", "1.0.0")
    out = tmp_path / "b.tar.gz"
    with pytest.raises(IntegrityError) as info:
        _bundle(npm_settings, BundlePlan([pkg], node_target=LINUX), out)
    assert "dep-1.0.0.tgz" in info.value.message and "sha512" in info.value.message
    assert not out.exists()
    good = next(v for v in npmreg.registry.published() if v.name == "dep")
    digest = base64.b64decode(good.integrity.split("-", 1)[1]).hex()
    assert not ContentStore(npm_settings.blob_dir).has(digest, algorithm="sha512")
    gets = [p for m, p in npmreg.registry.requests if m == "GET" and p.endswith(".tgz")]
    assert len(gets) == 1  # a mismatch is not retried


@pytest.mark.acceptance
@pytest.mark.slow
def test_mixed_bundle_installs_offline(npm_settings: Settings, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1)")
    pkg = _package_json(tmp_path, {"app": "^1.0.0", "@demo/native": "1.0.0"})
    reqs = write(tmp_path / "project" / "requirements.txt", "app\n")
    plan = BundlePlan([pkg, reqs], python_targets=[host_target()], node_target=host_node_target())
    _bundle(npm_settings, plan, tmp_path / "b.tar.gz")
    root = _extract(tmp_path / "b.tar.gz", tmp_path / "x")
    assert (root / "python-packages").is_dir() and (root / "npm-packages").is_dir()

    project = tmp_path / "fresh"
    project.mkdir()
    shutil.copy(pkg, project / "package.json")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith(("npm_config_", "pip_", "virtual_env"))
    }
    env["PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    proc = subprocess.run(
        ["unshare", "-n", "sh", str(root / "install.sh"), str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    node = subprocess.run(
        [
            "unshare",
            "-n",
            "node",
            "-e",
            "const a = require('app'); require('@demo/native-linux-x64'); console.log(a.name)",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert node.stdout.strip() == "app", node.stderr
    assert not (project / "node_modules" / "@demo" / "native-win32-x64").exists()
    py = subprocess.run(
        [
            "unshare",
            "-n",
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import app, lib, dep; print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert py.stdout.strip() == "ok", py.stderr


@pytest.mark.acceptance
def test_wrong_node_target_is_refused(npm_settings: Settings, tmp_path: Path) -> None:
    pkg = _package_json(tmp_path, {"dep": "1.0.0"})
    other = NodeTarget.parse("20", "darwin", "arm64")
    _bundle(npm_settings, BundlePlan([pkg], node_target=other), tmp_path / "b.tar.gz")
    root = _extract(tmp_path / "b.tar.gz", tmp_path / "x")
    project = tmp_path / "fresh"
    proc = subprocess.run(
        ["sh", str(root / "install.sh"), str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3
    assert "made for os darwin" in proc.stderr
    assert not (project / "node_modules").exists()


def test_dev_group_for_the_npm_half_of_a_mixed_bundle(
    npm_settings: Settings, tmp_path: Path
) -> None:
    from ferry.manifests.model import Selection

    pkg = write(
        tmp_path / "project" / "package.json",
        json.dumps(
            {
                "name": "demo",
                "version": "1.0.0",
                "dependencies": {"dep": "1.0.0"},
                "devDependencies": {"app": "^1.0.0"},
            }
        ),
    )
    reqs = write(tmp_path / "project" / "requirements.txt", "dep==1.0\n")
    plan = BundlePlan(
        [pkg, reqs],
        python_targets=[host_target()],
        node_target=LINUX,
        selection=Selection(frozenset({"dev"})),
    )
    result = _bundle(npm_settings, plan, tmp_path / "b.tar.gz")
    assert result.npm is not None
    assert {p.name for p in result.npm.packages} == {"dep", "app", "lib"}
    without = _bundle(
        npm_settings,
        BundlePlan([pkg, reqs], python_targets=[host_target()], node_target=LINUX),
        tmp_path / "c.tar.gz",
    )
    assert without.npm is not None and {p.name for p in without.npm.packages} == {"dep"}
