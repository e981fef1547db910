"""The far side, air-gapped: a real project (tests/fixtures/farside: 62 Python packages for
a web backend, 258 npm packages for its front end) bundled on the near side, then, in a
network namespace where loopback is all there is, imported into a fresh ``ferry serve``
and installed from it with stock pip, uv and ``npm ci``, each with a fresh cache and no
configuration of this machine; every module and package then loads.

The far side is one shell script (farside.sh) run under ``unshare -n``: every process of
it, ``ferry serve`` included, is in the namespace, and the script first proves that a
connect to a public address fails there."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferry.ecosystems.pypi.uv import find_uv
from support.farside import FARSIDE, NearSide, canonical, installed_in, pins
from support.localproc import clean_env
from support.offline import base_python, needs_unshare

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.acceptance,
    needs_unshare,
    pytest.mark.timeout(600),
]

SCRIPT = Path(__file__).with_name("farside.sh")
# the namespace is the script's own: nothing else listens there
PORT = 8765
STEPS = [
    "loopback",
    "offline",
    "import",
    "token",
    "serve",
    "pip-venv",
    "pip-install",
    "pip-imports",
    "uv-venv",
    "uv-install",
    "uv-imports",
    "npm-ci",
    "npm-imports",
]


def _started_in(work: Path) -> list[int]:
    """Processes whose command line names ``work`` (what the script started there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(work).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


def _left_running(work: Path) -> list[int]:
    """What the script left running after it ended (the server must not outlive it); each
    one found is killed, so a failed run leaves nothing behind either."""
    deadline = time.monotonic() + 10
    while (left := _started_in(work)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return left


def test_the_project_installs_from_ferry_with_no_network(farside: NearSide, tmp_path: Path) -> None:
    for tool in ("ip", "npm", "node"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: scripts/install.sh installs it")
    pinned = pins()
    # the near side: every pinned package for this machine's Python, the lock's packages
    # for this machine's Node (other platforms' esbuild and rollup binaries left out)
    bundled = {p["name"]: p["version"] for p in farside.python_packages}
    assert {canonical(k): v for k, v in bundled.items()} == pinned
    installs = len(farside.npm_packages)  # 258 on Linux x64
    assert installs > 250
    errors = [
        p
        for part in ("python", "npm")
        for p in farside.report[part]["problems"]
        if p["severity"] == "error"
    ]
    assert not errors

    work = tmp_path / "far"
    work.mkdir()
    env = clean_env(
        tmp_path / "home",
        {
            "BUNDLE": str(farside.archive),
            "PROJECT": str(FARSIDE),
            "WORK": str(work),
            "FERRY_PYTHON": sys.executable,
            "PYTHON": base_python(),
            "UV": str(find_uv()),
            "PORT": str(PORT),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
        },
    )
    try:
        done = subprocess.run(
            ["unshare", "-n", "sh", str(SCRIPT)],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )
    finally:
        left = _left_running(work)
    print(done.stdout)  # each step's time, shown with -s or on failure
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    ran = re.findall(r"^step (\S+): ok", done.stdout, re.MULTILINE)
    assert ran == STEPS and done.stdout.rstrip().endswith("far side: ok")
    assert not left, f"still running after the far side ended: {left}"

    logs = work / "logs"
    assert (logs / "offline.log").read_text().count("Network is unreachable") == 2
    token = json.loads((work / "token.json").read_text())["token"]
    for tool in ("pip", "uv"):
        # exactly the pins, every module of them imported
        assert installed_in(work / f"{tool}-venv") == pinned
        imported = (logs / f"{tool}-imports.log").read_text()
        assert re.search(rf"imported \d+ modules from {len(pinned)} distributions", imported)
        # the token in the index URL is never printed
        assert token not in (logs / f"{tool}-install.log").read_text()
    # npm ci installs exactly what Ferry bundled for this machine
    assert f"added {installs} packages" in (logs / "npm-ci.log").read_text()
    assert "loaded 21 of 21 packages" in (logs / "npm-imports.log").read_text()
