"""The acceptance test: a bundle installs with the network truly off (`unshare -n`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import Dists, write
from ferry.services.bundle import bundle_python
from ferry.settings import Settings
from ferry.targets import PythonTarget, host_target
from support.offline import needs_unshare
from support.offline import offline as _offline

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]


def _make_bundle(settings: Settings, tmp_path: Path, target: PythonTarget, text: str) -> Path:
    req = write(tmp_path / "proj" / "requirements.txt", text)
    out = tmp_path / "bundle.zip"
    asyncio.run(bundle_python(settings, [req], [target], out, "zip"))
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "unpacked")
    root = tmp_path / "unpacked" / "bundle"
    (root / "install.sh").chmod(0o755)
    return root


@needs_unshare
def test_network_is_really_off(pyindex: Dists, tmp_path: Path) -> None:
    port = pyindex.index.base.rsplit(":", 1)[1]
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
    proc = _offline([sys.executable, "-c", probe], tmp_path)
    assert proc.returncode != 0 and "Network is unreachable" in proc.stderr


@needs_unshare
def test_install_sh_offline_into_fresh_venv(settings: Settings, tmp_path: Path) -> None:
    root = _make_bundle(settings, tmp_path, host_target(), "app[cli]\nsdistonly\n")
    project = tmp_path / "target"
    project.mkdir()
    proc = _offline(["sh", str(root / "install.sh")], project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = _offline(
        [
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import app, lib, dep, native, extra_dep, sdistonly; print('ok')",
        ],
        project,
    )
    assert check.returncode == 0 and check.stdout.strip() == "ok", check.stderr


@needs_unshare
def test_wrong_target_is_refused(settings: Settings, tmp_path: Path) -> None:
    root = _make_bundle(settings, tmp_path, PythonTarget.parse("3.12", "win_amd64"), "dep\n")
    project = tmp_path / "target"
    project.mkdir()
    proc = _offline(["sh", str(root / "install.sh")], project)
    assert proc.returncode == 3
    assert "made for Python 3.12 on win_amd64" in proc.stderr
    assert not (project / ".venv").exists()  # refused before creating anything


@needs_unshare
def test_damaged_bundle_is_refused(settings: Settings, tmp_path: Path) -> None:
    root = _make_bundle(settings, tmp_path, host_target(), "dep==1.0\n")
    wheel = root / "python-packages" / "dep-1.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes()[:-10] + b"0123456789")
    project = tmp_path / "target"
    project.mkdir()
    proc = _offline(["sh", str(root / "install.sh")], project)
    assert proc.returncode == 4
    assert "dep-1.0-py3-none-any.whl" in proc.stderr


def _busybox_path(tmp_path: Path) -> str:
    """A PATH whose shell tools are BusyBox's (as on Alpine), before the system's."""
    busybox = shutil.which("busybox")
    assert busybox, "Debian's busybox is not installed (scripts/install.sh --dev)"
    tools = tmp_path / "busybox-bin"
    tools.mkdir()
    for applet in ("sh", "sha256sum", "grep", "cat", "dirname", "mkdir", "printf", "rm", "ls"):
        (tools / applet).symlink_to(busybox)
    return f"{tools}:{os.environ['PATH']}"


@needs_unshare
def test_install_sh_under_busybox(settings: Settings, tmp_path: Path) -> None:
    root = _make_bundle(settings, tmp_path, host_target(), "dep==1.0\n")
    path = _busybox_path(tmp_path)
    project = tmp_path / "target"
    proc = _offline(["env", f"PATH={path}", "sh", str(root / "install.sh"), str(project)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = _offline([str(project / ".venv" / "bin" / "python"), "-c", "import dep"], project)
    assert check.returncode == 0, check.stderr

    wheel = root / "python-packages" / "dep-1.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes()[:-10] + b"0123456789")
    again = tmp_path / "again"
    proc = _offline(["env", f"PATH={path}", "sh", str(root / "install.sh"), str(again)], tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "dep-1.0-py3-none-any.whl: FAILED" in proc.stderr
    assert ": OK" not in proc.stderr  # only what is wrong is shown
    assert not again.exists()  # refused before creating anything


@needs_unshare
def test_a_wrong_target_creates_no_directory(settings: Settings, tmp_path: Path) -> None:
    root = _make_bundle(settings, tmp_path, PythonTarget.parse("3.12", "win_amd64"), "dep\n")
    project = tmp_path / "not-yet"
    proc = _offline(["sh", str(root / "install.sh"), str(project)], tmp_path)
    assert proc.returncode == 3
    assert not project.exists()


@needs_unshare
def test_a_failed_pip_is_exit_5(settings: Settings, tmp_path: Path) -> None:
    root = _make_bundle(settings, tmp_path, host_target(), "dep==1.0\n")
    project = tmp_path / "target"
    # pip's own failure (an option it does not know), passed through by install.sh
    proc = _offline(["sh", str(root / "install.sh"), str(project), "--no-such-option"], tmp_path)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "pip could not install the bundle" in proc.stderr
