"""The far-side project (``tests/fixtures/farside``) and its near-side bundle: ``ferry
bundle`` run as a user runs it, on the real index and registry this machine reaches with
its tools' defaults. Shared by the air-gapped test and ``bench/run_registries.py``.

    near = bundle_farside(workdir)      # near.archive, near.report (ferry bundle --json)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FARSIDE = Path(__file__).resolve().parents[1] / "fixtures" / "farside"
REQUIREMENTS = FARSIDE / "api" / "requirements.txt"
PACKAGE_JSON = FARSIDE / "web" / "package.json"
PACKAGE_LOCK = FARSIDE / "web" / "package-lock.json"


@dataclass(frozen=True)
class NearSide:
    """A bundle of the far-side project and what ``ferry bundle --json`` said about it."""

    archive: Path
    report: dict[str, Any]
    seconds: float

    @property
    def python_packages(self) -> list[dict[str, Any]]:
        (target,) = self.report["python"]["targets"]
        return list(target["packages"])

    @property
    def npm_packages(self) -> list[dict[str, Any]]:
        return list(self.report["npm"]["packages"])


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """name → version of every package api/requirements.txt pins."""
    found = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            found[canonical(name)] = version.strip()
    return found


def installed_in(venv: Path) -> dict[str, str]:
    """name → version of every distribution in ``venv`` (its pip and setuptools aside)."""
    site = next(venv.glob("lib/python*/site-packages"))
    found = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[canonical(name)] = version
    return {k: v for k, v in found.items() if k not in ("pip", "setuptools")}


def near_env(data_dir: Path, config: Path) -> dict[str, str]:
    """This environment for ``ferry bundle``, with none of this machine's pip, uv or Ferry
    configuration: Ferry reads the index and registry from pip's and npm's built-in
    defaults (this machine's pip configuration adds local ``file://`` indexes and
    constraints, which are not what a user elsewhere would bundle from)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "FERRY_"))
        and not k.lower().startswith("npm_config_")
    }
    config.write_text("")
    env.update(
        FERRY_DATA_DIR=str(data_dir),
        FERRY_CONFIG=str(config),
        FERRY_USE_MACHINE_CONFIG="false",
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    return env


def bundle_farside(workdir: Path, *, name: str = "farside.tar.zst") -> NearSide:
    """``ferry bundle`` of the whole project (requirements, package.json and its lock, the
    dev dependencies included, as ``npm ci`` installs them) for this machine: its Python
    and its Node, os, cpu and libc."""
    workdir.mkdir(parents=True, exist_ok=True)
    archive = workdir / name
    argv = [
        sys.executable,
        "-m",
        "ferry.cli.main",
        "bundle",
        str(REQUIREMENTS),
        str(PACKAGE_JSON),
        str(PACKAGE_LOCK),
        "--group",
        "dev",
        "-o",
        str(archive),
        "--json",
    ]
    began = time.monotonic()
    done = subprocess.run(
        argv,
        env=near_env(workdir / "data", workdir / "ferry.toml"),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - began
    # 3: written with warnings (esbuild's install script, other platforms' optional
    # packages left out)
    if done.returncode not in (0, 3) or not archive.is_file():
        raise RuntimeError(
            f"ferry bundle exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return NearSide(archive, json.loads(done.stdout), seconds)
