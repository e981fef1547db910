"""Run a command with no network at all (``unshare -n``), as on an air-gapped machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HAS_UNSHARE = shutil.which("unshare") is not None and os.geteuid() == 0
needs_unshare = pytest.mark.skipif(not HAS_UNSHARE, reason="needs root and unshare(1)")


def base_python() -> str:
    """A real interpreter (not this venv's) to create the target's .venv with."""
    return getattr(sys, "_base_executable", sys.executable)


def offline(
    cmd: list[str], cwd: Path, *, python: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``cmd`` in a new network namespace, with none of this machine's pip, uv, npm or
    Ferry settings: the target knows only the bundle. ``env``: variables to add."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "FERRY_"))
        and not k.lower().startswith("npm_config_")
    }
    clean["PYTHON"] = python or base_python()
    clean.update(env or {})
    return subprocess.run(
        ["unshare", "-n", *cmd],
        cwd=cwd,
        env=clean,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )
