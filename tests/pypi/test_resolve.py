"""Resolution against the local index: uv chooses, Ferry picks files per target and
rebuilds the tree; problems are reported, never hidden."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from conftest import write
from ferry.ecosystems.pypi.model import Resolution, TargetResolution
from ferry.manifests import RUNTIME_ONLY
from ferry.manifests.model import Selection
from ferry.services.python_bundle import resolve_python
from ferry.settings import Settings
from ferry.targets import PythonTarget

LINUX = PythonTarget.parse("3.11", "manylinux_2_28_x86_64")
WINDOWS = PythonTarget.parse("3.12", "win_amd64")


def _resolve(
    settings: Settings, manifest: Path, *targets: PythonTarget, selection: Selection = RUNTIME_ONLY
) -> Resolution:
    return asyncio.run(resolve_python(settings, [manifest], list(targets), selection)).resolution


def _kinds(result: TargetResolution) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in result.problems:
        out.setdefault(p.kind, set()).add(p.package or "")
    return out


def test_tree_files_and_markers_per_target(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "app\n")
    res = _resolve(settings, req, LINUX, WINDOWS)
    linux, windows = res.targets

    assert set(linux.packages) == {"app", "lib", "dep", "native"}
    # markers are evaluated for the target, not this (Linux) host
    assert set(windows.packages) == {"app", "lib", "dep", "native", "winonly"}
    assert linux.packages["lib"].version == "1.0"  # 2.0 is yanked and not pinned
    assert linux.packages["native"].file.filename.endswith("manylinux2014_x86_64.whl")
    assert windows.packages["native"].file.filename == "native-1.0-cp312-cp312-win_amd64.whl"

    edges = {(e.parent, e.child, e.specifier) for e in linux.edges}
    assert (None, "app", "*") in edges
    assert ("app", "lib", ">=1") in edges
    assert ("lib", "dep", "<2") in edges
    assert ("app", "winonly", "*") not in edges
    assert ("app", "winonly", "*") in {(e.parent, e.child, e.specifier) for e in windows.edges}
    assert linux.total_bytes == sum(p.file.size or 0 for p in linux.packages.values()) > 0
    assert not res.has_errors and not res.has_warnings


def test_extras_follow_selection(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "app[cli]\n")
    res = _resolve(settings, req, LINUX)
    assert "extra-dep" in res.targets[0].packages
    assert ("app", "extra-dep", ">=0.5") in {
        (e.parent, e.child, e.specifier) for e in res.targets[0].edges
    }


def test_sdist_only_is_flagged_and_its_backend_bundled(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "sdistonly\n")
    result = _resolve(settings, req, LINUX).targets[0]
    assert result.packages["sdistonly"].is_sdist
    assert "sdistonly" in _kinds(result)["no-wheel-for-target"]
    assert "ferry-test-backend" not in result.packages  # not installed, only bundled
    backend = result.build["ferry-test-backend==1.0"]
    assert backend.build_only and not backend.is_sdist and backend.build_for == ("sdistonly 1.0",)
    assert ("sdistonly", "dep", "*") in {(e.parent, e.child, e.specifier) for e in result.edges}


def test_yanked_pin_is_a_warning(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "lib==2.0\n")
    res = _resolve(settings, req, LINUX)
    result = res.targets[0]
    assert result.packages["lib"].yanked == "broken build"
    assert "lib" in _kinds(result)["yanked"]
    assert res.has_warnings and not res.has_errors


def test_unsatisfiable_names_who_asked(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "app\ndep>=2\n")
    res = _resolve(settings, req, LINUX)
    (problem,) = res.targets[0].problems
    assert problem.severity == "error" and problem.kind == "unsatisfiable"
    # uv's explanation carries the chain: app -> lib -> dep<2 against dep>=2
    assert "lib" in problem.message and "dep" in problem.message
    # uv names lib with or without the versions it tried, depending on what it saw first
    assert any(re.fullmatch(r"lib(<=1\.0)? → dep<2", step) for step in problem.chain)
    assert "app → lib" in problem.chain
    assert "you → dep>=2" in problem.chain
    assert res.has_errors


def test_missing_package_is_not_found(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "no-such-thing\n")
    (problem,) = _resolve(settings, req, LINUX).targets[0].problems
    assert problem.kind == "not-found" and "no-such-thing" in problem.message


def test_no_file_for_target_platform(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "native\n")
    mac = PythonTarget.parse("3.12", "macosx_11_0_arm64")
    res = _resolve(settings, req, mac)
    assert res.has_errors
    assert any("native" in p.message for p in res.targets[0].problems)


def test_pinned_hash_mismatch_is_an_error(settings: Settings, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "dep==1.0 --hash=sha256:" + "0" * 64 + "\n")
    res = _resolve(settings, req, LINUX)
    assert "dep" in _kinds(res.targets[0])["hash-not-pinned"]


def test_prereleases_only_when_asked(settings: Settings, tmp_path: Path) -> None:
    plain = write(tmp_path / "a" / "requirements.txt", "beta\n")
    pre = write(tmp_path / "b" / "requirements.txt", "--pre\nbeta\n")
    assert _resolve(settings, plain, LINUX).targets[0].packages["beta"].version == "1.0"
    assert _resolve(settings, pre, LINUX).targets[0].packages["beta"].version == "2.0b1"


def test_yanked_warnings_parsed_from_uv() -> None:
    from ferry.ecosystems.pypi.uv import yanked_from_warnings

    stderr = (
        "Resolved 3 packages in 51ms\n"
        'warning: `Lib_X==2.0` is yanked (reason: "broken build")\n'
        "warning: `other==1.0.post1` is yanked\n"
    )
    assert yanked_from_warnings(stderr) == {"lib-x": "broken build", "other": ""}
