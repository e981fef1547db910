"""Every manifest format goes through the same resolution: locks used as is, groups and
extras only when selected."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from conftest import Dists, write
from ferry.ecosystems.pypi.model import Resolution
from ferry.manifests.model import Selection
from ferry.services.python_bundle import resolve_python
from ferry.settings import Settings
from ferry.targets import PythonTarget

LINUX = PythonTarget.parse("3.11", "manylinux_2_28_x86_64")


def _resolve(settings: Settings, manifests: list[Path], selection: Selection) -> Resolution:
    return asyncio.run(resolve_python(settings, manifests, [LINUX], selection)).resolution


def _lock(pyindex: Dists, pins: dict[str, str], *, bad: str | None = None) -> dict[str, object]:
    default = {}
    for name, version in pins.items():
        digest = next(
            a.sha256
            for a in pyindex.files.values()
            if a.project == name and a.version == version and a.filename.endswith(".whl")
        )
        default[name] = {
            "version": f"=={version}",
            "hashes": [f"sha256:{'0' * 64 if name == bad else digest}"],
        }
    return {
        "_meta": {
            "sources": [{"name": "local", "url": pyindex.index.url, "verify_ssl": False}],
            "requires": {},
            "hash": {"sha256": "x"},
            "pipfile-spec": 6,
        },
        "default": default,
        "develop": {},
    }


def test_pipfile_lock_is_used_as_is(settings: Settings, pyindex: Dists, tmp_path: Path) -> None:
    # dep 2.0 is the newest, but the lock says 1.0: the lock wins, nothing is re-resolved
    lock = write(
        tmp_path / "Pipfile.lock",
        json.dumps(_lock(pyindex, {"lib": "1.0", "dep": "1.0", "beta": "1.0"})),
    )
    res = _resolve(settings, [lock], Selection())
    result = res.targets[0]
    assert {n: p.version for n, p in result.packages.items()} == {
        "lib": "1.0",
        "dep": "1.0",
        "beta": "1.0",
    }
    assert not res.has_errors
    # roots of a lock are the packages nothing else in it needs
    assert {e.child for e in result.edges if e.parent is None} == {"lib", "beta"}
    assert ("lib", "dep", "<2") in {(e.parent, e.child, e.specifier) for e in result.edges}


def test_pipfile_lock_hash_mismatch(settings: Settings, pyindex: Dists, tmp_path: Path) -> None:
    lock = write(tmp_path / "Pipfile.lock", json.dumps(_lock(pyindex, {"dep": "1.0"}, bad="dep")))
    res = _resolve(settings, [lock], Selection())
    assert [p.kind for p in res.targets[0].problems] == ["hash-not-pinned"]
    assert res.has_errors


PYPROJECT = """
[project]
name = "demo"
version = "0"
dependencies = ["lib>=1"]

[project.optional-dependencies]
cli = ["extra-dep"]

[dependency-groups]
test = ["beta"]
"""


def test_pyproject_groups_only_when_selected(settings: Settings, tmp_path: Path) -> None:
    pyproject = write(tmp_path / "pyproject.toml", PYPROJECT)
    runtime = _resolve(settings, [pyproject], Selection()).targets[0]
    assert set(runtime.packages) == {"lib", "dep"}
    everything = _resolve(settings, [pyproject], Selection(all_groups=True)).targets[0]
    assert set(everything.packages) == {"lib", "dep", "extra-dep", "beta"}
    test_only = _resolve(settings, [pyproject], Selection(frozenset({"test"}))).targets[0]
    assert set(test_only.packages) == {"lib", "dep", "beta"}


POETRY = """
[tool.poetry]
name = "demo"
version = "0"

[tool.poetry.dependencies]
python = "^3.9"
lib = "^1.0"
winonly = { version = "*", platform = "win32" }

[tool.poetry.group.dev.dependencies]
beta = "~1.0"
"""


def test_poetry_ranges_and_platforms(settings: Settings, tmp_path: Path) -> None:
    pyproject = write(tmp_path / "pyproject.toml", POETRY)
    result = _resolve(settings, [pyproject], Selection(frozenset({"dev"}))).targets[0]
    assert set(result.packages) == {"lib", "dep", "beta"}  # winonly: not on Linux
    roots = {(e.child, e.specifier) for e in result.edges if e.parent is None}
    assert ("lib", "<2.0,>=1.0") in roots or ("lib", ">=1.0,<2.0") in roots


def test_requirements_with_includes_and_constraints(settings: Settings, tmp_path: Path) -> None:
    write(tmp_path / "base" / "common.txt", "lib\n")
    write(tmp_path / "constraints.txt", "dep==1.0\n")
    req = write(tmp_path / "requirements.txt", "-r base/common.txt\n-c constraints.txt\nbeta\n")
    result = _resolve(settings, [req], Selection()).targets[0]
    assert set(result.packages) == {"lib", "dep", "beta"}
    origins = {e.child: e.origin for e in result.edges if e.parent is None}
    assert origins["lib"] is not None and origins["lib"].endswith("common.txt:1")
