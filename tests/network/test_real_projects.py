"""Real projects nobody here wrote, from the real index and registry, installed with the
network off: an old Django app's Pipfile whose pins have only sdists for this Python
(a legacy setup.py, optional C extensions, one against libpq), and a Node app with native
addons (one ships its binaries in its tarball, one downloads them from a host this machine
cannot reach)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import write
from ferry.services.bundle import BundlePlan, bundle
from ferry.settings import Settings, load_settings
from ferry.targets import host_node_target, host_target
from support.offline import needs_unshare, offline

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.acceptance, needs_unshare]

OLD_DJANGO = """\
[packages]
django = "==2.2.28"
docopt = "==0.6.2"
sqlalchemy = "==1.3.24"
psycopg2 = "==2.9.9"
requests = "==2.22.0"

[dev-packages]
pytest = "*"

[requires]
python_version = "3.8"
"""


@pytest.fixture
def real(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", use_machine_config=False)


def _unpack(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tf:
        tf.extractall(dest, filter="data")
    (root,) = dest.iterdir()
    return root


def test_an_old_django_pipfile_builds_its_sdists_offline(real: Settings, tmp_path: Path) -> None:
    pipfile = write(tmp_path / "app" / "Pipfile", OLD_DJANGO)
    out = tmp_path / "b.tar.gz"
    plan = BundlePlan([pipfile], python_targets=[host_target()])
    result = asyncio.run(bundle(real, plan, out, "tar.gz"))
    assert result.resolve is not None
    (target,) = result.resolve.resolution.targets
    sdists = {p.name: p for p in target.packages.values() if p.is_sdist}
    assert {"docopt", "sqlalchemy", "psycopg2"} <= set(sdists)
    assert any("libpq" in need for need in sdists["psycopg2"].needs)
    # the legacy sdists' build environment is pip's own pair
    build = {key.split("==")[0] for key in target.build}
    assert {"setuptools", "wheel"} <= build

    root = _unpack(out, tmp_path / "x")
    project = tmp_path / "target"
    # Debian 12's own Python as the target's, when it has venv: its pip (23.0) would fall
    # back to `setup.py install` for a legacy sdist unless told otherwise
    debian = "/usr/bin/python3"
    usable = subprocess.run([debian, "-c", "import venv, ensurepip"], check=False).returncode == 0
    done = offline(
        ["sh", str(root / "install.sh"), str(project)], tmp_path, python=debian if usable else None
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # each sdist went through PEP 517 in its own environment, never `setup.py install`
    assert "setup.py install" not in done.stdout + done.stderr
    check = offline(
        [
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import django, docopt, sqlalchemy, psycopg2, requests; "
            "print(django.__version__, sqlalchemy.__version__, psycopg2.__version__[:5])",
        ],
        tmp_path,
    )
    assert check.stdout.split() == ["2.2.28", "1.3.24", "2.9.9"], check.stderr


def test_a_node_app_with_native_addons_installs_offline(real: Settings, tmp_path: Path) -> None:
    package = write(
        tmp_path / "app" / "package.json",
        json.dumps(
            {
                "name": "native-app",
                "version": "1.0.0",
                "dependencies": {"bufferutil": "4.0.8", "sqlite3": "5.1.7", "express": "4.21.2"},
            }
        ),
    )
    out = tmp_path / "b.tar.gz"
    plan = BundlePlan([package], node_target=host_node_target())
    result = asyncio.run(bundle(real, plan, out, "tar.gz"))
    assert result.npm is not None
    problems = {(p.kind, p.package): p for p in result.npm.problems}
    assert ("prebuilt-binary", "bufferutil") in problems  # its tarball holds the binary
    # sqlite3's binaries live on a release host this machine cannot reach: compiling it
    # is what the target will face, and the problem says so with sqlite3's own URL
    sqlite = problems[("needs-compiling", "sqlite3")]
    assert "sqlite3-v5.1.7-napi-v6-linux-x64.tar.gz" in sqlite.message
    assert "C/C++ compiler" in sqlite.message
    assert not [p for p in result.npm.problems if p.kind == "install-script"]

    root = _unpack(out, tmp_path / "x")
    project = tmp_path / "target"
    project.mkdir()
    done = offline(["sh", str(root / "install.sh"), str(project)], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    script = (
        "const b = require('bufferutil'); const x = Buffer.from([1, 2, 3, 4]);"
        "b.mask(x, Buffer.from([1, 1, 1, 1]), x, 0, 4); require('express');"
        "console.log(JSON.stringify([...x]))"
    )
    loaded = offline(["node", "-e", script], project)
    assert loaded.stdout.strip() == "[0,3,2,5]", loaded.stderr
