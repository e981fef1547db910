"""npm against the real registry this machine's npm uses by default (CI reaches it)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import write
from ferry.services.bundle import BundlePlan, bundle
from ferry.services.npm_bundle import resolve_node_project
from ferry.settings import Settings, load_settings
from ferry.targets import NodeTarget, host_node_target, host_target

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture
def real(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", use_machine_config=False)


def test_optional_platform_packages_for_windows(real: Settings, tmp_path: Path) -> None:
    pkg = write(
        tmp_path / "package.json",
        json.dumps({"name": "w", "version": "1.0.0", "dependencies": {"esbuild": "0.24.2"}}),
    )
    win = asyncio.run(resolve_node_project(real, [pkg], NodeTarget.parse("20", "win32", "x64")))
    kept = {p.name for p in win.packages}
    assert kept == {"esbuild", "@esbuild/win32-x64"}
    left = {p.name for p in win.excluded}
    assert "@esbuild/linux-x64" in left and "@esbuild/darwin-arm64" in left
    kinds = {p.kind for p in win.problems}
    assert {"install-script", "optional-platform-excluded"} <= kinds
    assert all(p.resolved and p.integrity for p in win.packages)

    arm = asyncio.run(
        resolve_node_project(real, [pkg], NodeTarget.parse("22", "linux", "arm64", "musl"))
    )
    assert {p.name for p in arm.packages} == {"esbuild", "@esbuild/linux-arm64"}
    every = asyncio.run(
        resolve_node_project(
            real, [pkg], NodeTarget.parse("20", "win32", "x64"), all_platforms=True
        )
    )
    assert len(every.packages) == len(win.packages) + len(win.excluded)


@pytest.mark.acceptance
def test_express_app_installs_offline(real: Settings, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1)")
    project = tmp_path / "app"
    manifest = {
        "name": "app",
        "version": "1.0.0",
        "dependencies": {"express": "^4.21.0", "body-parser": "^1.20.0"},
    }
    pkg = write(project / "package.json", json.dumps(manifest))
    reqs = write(project / "requirements.txt", "six\n")
    out = tmp_path / "bundle.tar.gz"
    plan = BundlePlan(
        manifests=[pkg, reqs],
        node_target=host_node_target(),
        python_targets=[host_target()],
    )
    result = asyncio.run(bundle(real, plan, out, "tar.gz"))
    assert result.npm is not None and len(result.npm.packages) >= 50

    with tarfile.open(out) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(pkg, fresh / "package.json")  # a fresh copy of the project, no lock
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith(("npm_config_", "pip_", "virtual_env"))
    }
    env["PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    proc = subprocess.run(
        ["unshare", "-n", "sh", str(tmp_path / "x" / "bundle" / "install.sh"), str(fresh)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (fresh / "package-lock.json").is_file()  # written from the bundle
    check = subprocess.run(
        [
            "unshare",
            "-n",
            "node",
            "-e",
            "require('express'); require('body-parser'); console.log('ok')",
        ],
        cwd=fresh,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.stdout.strip() == "ok", check.stderr
    py = subprocess.run(
        ["unshare", "-n", str(fresh / ".venv" / "bin" / "python"), "-c", "import six; print('ok')"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert py.stdout.strip() == "ok", py.stderr
