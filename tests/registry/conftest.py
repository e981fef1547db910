"""A real bundle of both ecosystems (the local index and registry), for the far side's
tests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conftest import write
from ferry.services.bundle import BundlePlan, bundle
from ferry.settings import Settings
from ferry.targets import NodeTarget, PythonTarget
from support.farside import NearSide, bundle_farside

LINUX_NODE = NodeTarget.parse("20", "linux", "x64", "glibc")
LINUX_PY = PythonTarget.parse("3.11", "manylinux_2_28_x86_64")

_MADE: list[Path] = []


@pytest.fixture
def made(npm_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real bundle of both ecosystems (zip), made by the first test that asks: what
    the tests do to it never changes the file."""
    if _MADE:
        return _MADE[0]
    settings = npm_settings
    work = tmp_path_factory.mktemp("made")
    pkg = write(
        work / "project" / "package.json",
        json.dumps(
            {
                "name": "demo",
                "version": "1.0.0",
                # a scoped package, with a platform package for Linux among its optionals
                "dependencies": {"app": "^1.0.0", "@demo/native": "1.0.0"},
            }
        ),
    )
    # lib 2.0 is yanked on the source index: pinned, it is in the bundle, yanked
    reqs = write(work / "project" / "requirements.txt", "app\nlib==2.0\n")
    plan = BundlePlan([pkg, reqs], python_targets=[LINUX_PY], node_target=LINUX_NODE)
    out = work / "bundle.zip"
    asyncio.run(bundle(settings, plan, out, "zip"))
    _MADE.append(out)
    return out


@pytest.fixture(scope="session")
def farside(tmp_path_factory: pytest.TempPathFactory) -> NearSide:
    """The far-side project (tests/fixtures/farside) bundled once per session with
    ``ferry bundle`` from the real index and registry (network)."""
    return bundle_farside(tmp_path_factory.mktemp("farside-near"))
