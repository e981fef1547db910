"""package.json and package-lock parsing: errors name the file, line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry.errors import ManifestError, UnknownManifestError
from ferry.manifests import split_manifests
from ferry.manifests.npm import parse_lock, parse_npm_manifests, parse_package_json


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_broken_json_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "package.json", '{\n  "name": "x",\n  "dependencies": {,}\n}\n')
    with pytest.raises(ManifestError) as info:
        parse_package_json(path)
    assert (info.value.path, info.value.line, info.value.column) == (path, 3, 20)
    assert "invalid JSON" in info.value.reason


def test_dependency_values_must_be_strings(tmp_path: Path) -> None:
    path = _write(tmp_path, "package.json", '{\n  "dependencies": {\n    "left-pad": 1\n  }\n}\n')
    with pytest.raises(ManifestError) as info:
        parse_package_json(path)
    assert info.value.line == 3 and "dependencies.left-pad" in info.value.reason


def test_workspaces_are_a_named_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "package.json", json.dumps({"workspaces": ["packages/*"]}))
    with pytest.raises(ManifestError, match="workspaces"):
        parse_package_json(path)


def test_lock_v1_says_how_to_upgrade(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "package-lock.json",
        json.dumps({"lockfileVersion": 1, "dependencies": {}}, indent=2),
    )
    with pytest.raises(ManifestError) as info:
        parse_lock(path)
    assert "lockfileVersion 1" in info.value.reason
    assert info.value.hint is not None and "--lockfile-version 3" in info.value.hint
    assert info.value.line == 2


@pytest.mark.parametrize("version", [2, 3])
def test_lock_v2_v3_accepted(tmp_path: Path, version: int) -> None:
    lock = {
        "lockfileVersion": version,
        "packages": {"": {"name": "p"}, "node_modules/a": {"version": "1.0.0"}},
    }
    path = _write(tmp_path, "package-lock.json", json.dumps(lock))
    assert parse_lock(path)["packages"]["node_modules/a"]["version"] == "1.0.0"


def test_lock_with_workspace_links_is_refused(tmp_path: Path) -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "root"},
            "packages/a": {"version": "1.0.0"},
            "node_modules/a": {"resolved": "packages/a", "link": True},
        },
    }
    path = _write(tmp_path, "package-lock.json", json.dumps(lock))
    with pytest.raises(ManifestError, match="workspace or linked folder"):
        parse_lock(path)


def test_lock_alone_rebuilds_package_json_fields(tmp_path: Path) -> None:
    lock = {
        "name": "p",
        "version": "2.0.0",
        "lockfileVersion": 3,
        "packages": {"": {"name": "p", "version": "2.0.0", "dependencies": {"a": "^1.0.0"}}},
    }
    path = _write(tmp_path, "npm-shrinkwrap.json", json.dumps(lock))
    result = parse_npm_manifests([path])
    assert result.package_json is None and result.lock_path == path
    assert result.manifest["dependencies"] == {"a": "^1.0.0"}


def test_split_by_ecosystem(tmp_path: Path) -> None:
    names = ["requirements.txt", "package.json", "package-lock.json", "pyproject.toml"]
    paths = [_write(tmp_path, n, "") for n in names]
    python, npm = split_manifests(paths)
    assert [p.name for p in python] == ["requirements.txt", "pyproject.toml"]
    assert [p.name for p in npm] == ["package.json", "package-lock.json"]
    with pytest.raises(UnknownManifestError) as info:
        split_manifests([_write(tmp_path, "Gemfile", "")])
    assert info.value.hint is not None and "package.json" in info.value.hint
