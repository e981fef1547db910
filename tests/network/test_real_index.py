"""Against the real index this machine's pip would use by default (CI reaches it).

Cross-target bundles: every chosen wheel must carry a tag the target accepts, and markers
must be evaluated for the target, not for this Linux host.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from conftest import write
from ferry.services.bundle import bundle_python
from ferry.services.python_bundle import resolve_python
from ferry.settings import Settings, load_settings
from ferry.targets import PythonTarget

pytestmark = [pytest.mark.network, pytest.mark.slow]

WINDOWS = PythonTarget.parse("3.12", "win_amd64")
MAC = PythonTarget.parse("3.13", "macosx_11_0_arm64")


@pytest.fixture
def real(tmp_path: Path) -> Settings:
    # use_machine_config=False: pip's built-in default index, whatever this machine adds
    return load_settings(data_dir=tmp_path / "data", use_machine_config=False)


def test_cross_target_bundle_wheels_fit(real: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "requests\nnumpy\ntqdm\nuvicorn[standard]\n")
    out = tmp_path / "bundle.zip"
    result = asyncio.run(bundle_python(real, [req], [WINDOWS, MAC], out, "zip"))
    win, mac = result.resolve.resolution.targets

    for res in (win, mac):
        assert {"requests", "numpy", "urllib3", "uvicorn"} <= set(res.packages)
        for pkg in res.packages.values():
            assert pkg.file.is_wheel, f"{pkg.name} has no wheel for {res.target}"
            assert res.target.wheel_rank(pkg.file.filename) is not None, pkg.file.filename
            _, _, _, tags = parse_wheel_filename(pkg.file.filename)
            assert any(t.platform in ("any", *res.target._platform.tags) for t in tags)
    # markers for the target: tqdm and click pull colorama on Windows only; uvloop is
    # excluded on Windows by uvicorn[standard]'s marker
    assert "colorama" in win.packages and "uvloop" not in win.packages
    assert "uvloop" in mac.packages and "colorama" not in mac.packages
    assert win.packages["numpy"].file.filename.endswith("-cp312-cp312-win_amd64.whl")
    assert "macosx" in mac.packages["numpy"].file.filename
    assert "-cp313-" in mac.packages["numpy"].file.filename

    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("bundle/manifest.json"))
        names = set(zf.namelist())
    for f in manifest["files"]:
        assert f"bundle/{f['path']}" in names
    assert result.bytes_fetched > 1_000_000

    again = asyncio.run(bundle_python(real, [req], [WINDOWS, MAC], tmp_path / "b2.zip", "zip"))
    assert again.bytes_fetched == 0


def test_edges_carry_specifiers_from_metadata(real: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "requests\n")
    outcome = asyncio.run(resolve_python(real, [req], [WINDOWS]))
    (res,) = outcome.resolution.targets
    edges = {(e.parent, e.child): e.specifier for e in res.edges}
    assert edges[(None, "requests")] == "*"
    assert edges[("requests", "urllib3")].startswith(("<", ">"))  # as written by requests
    assert not outcome.resolution.has_errors


@pytest.mark.acceptance
def test_real_packages_install_offline(real: Settings, tmp_path: Path) -> None:
    """Real wheels from the real index, installed by install.sh with no network at all."""
    import os
    import shutil
    import subprocess
    import sys

    from ferry.targets import host_target

    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1)")
    req = write(tmp_path / "requirements.txt", "requests\nattrs\nPyYAML\n")
    out = tmp_path / "bundle.tar.gz"
    asyncio.run(bundle_python(real, [req], [host_target()], out, "tar.gz"))
    import tarfile

    with tarfile.open(out) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env["PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    install = subprocess.run(
        ["unshare", "-n", "sh", str(tmp_path / "x" / "bundle" / "install.sh")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    check = subprocess.run(
        [
            "unshare",
            "-n",
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import requests, attrs, yaml, urllib3, certifi; print(requests.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
