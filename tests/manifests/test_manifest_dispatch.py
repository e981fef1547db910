from __future__ import annotations

from pathlib import Path

import pytest

from ferry.errors import ManifestError, UnknownManifestError
from ferry.manifests import (
    PARSERS,
    Selection,
    is_python_manifest,
    parse_manifest,
    parse_manifests,
    pipfile,
    pyproject,
    requirements_txt,
)

from .conftest import Write


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("requirements.txt", True),
        ("requirements-dev.txt", True),
        ("requirements_test.txt", True),
        ("dev-requirements.txt", True),
        ("Requirements.TXT", True),
        ("requirements.in", True),
        ("dev.in", True),
        ("constraints.txt", True),
        ("constraints-py311.txt", True),
        ("pyproject.toml", True),
        ("Pipfile", True),
        ("Pipfile.lock", True),
        ("some/dir/requirements.txt", True),
        ("setup.py", False),
        ("setup.cfg", False),
        ("base.txt", False),
        ("package.json", False),
        ("poetry.lock", False),
        ("requirements.txt.bak", False),
    ],
)
def test_is_python_manifest(name: str, known: bool) -> None:
    assert is_python_manifest(name) is known


@pytest.mark.parametrize(
    ("name", "parser"),
    [
        ("requirements.txt", requirements_txt.parse),
        ("constraints.txt", requirements_txt.parse_constraints),
        ("pyproject.toml", pyproject.parse),
        ("Pipfile", pipfile.parse_pipfile),
        ("Pipfile.lock", pipfile.parse_lock),
    ],
)
def test_each_name_maps_to_one_parser(name: str, parser: object) -> None:
    from fnmatch import fnmatchcase

    first = next(p for pat, p in PARSERS.items() if fnmatchcase(name.lower(), pat.lower()))
    assert first is parser


def test_unknown_manifest_lists_the_accepted_names(write: Write) -> None:
    path = write("environment.yml", "name: x\n")
    with pytest.raises(UnknownManifestError) as info:
        parse_manifests([path])
    assert info.value.path == path
    assert info.value.line is None
    assert info.value.code == "manifest-unknown"
    assert info.value.hint == (
        "accepted file names: Pipfile.lock, Pipfile, pyproject.toml, *constraints*.txt,"
        " *requirements*.txt, *.in"
    )


def test_a_directory_is_not_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").mkdir()
    with pytest.raises(ManifestError) as info:
        parse_manifest(tmp_path / "pyproject.toml", Selection())
    assert "is a directory" in info.value.reason


PYPROJECT = """
[project]
name = "app"
dependencies = ["httpx"]

[project.optional-dependencies]
http2 = ["h2"]

[dependency-groups]
test = ["pytest"]
"""


def test_parse_manifests_merges_every_file(write: Write) -> None:
    req = write("requirements.txt", "-i https://index.example/simple\nrequests\n")
    proj = write("pyproject.toml", PYPROJECT)
    pip = write(
        "Pipfile", '[[source]]\nurl = "https://extra.example/simple"\n[packages]\nrich = "*"\n'
    )
    result = parse_manifests([req, proj, pip], Selection(frozenset({"test"})))
    assert [(r.name, r.group) for r in result.requirements] == [
        ("requests", None),
        ("httpx", None),
        ("pytest", "test"),
        ("rich", None),
    ]
    assert result.files == [req, proj, pip]
    assert result.index_url == "https://extra.example/simple"
    assert result.groups == ["http2", "test"]


def test_asked_for_group_that_exists_nowhere(write: Write) -> None:
    proj = write("pyproject.toml", PYPROJECT)
    req = write("requirements.txt", "requests\n")
    with pytest.raises(ManifestError) as info:
        parse_manifests([proj, req], Selection(frozenset({"test", "Docs", "lint"})))
    assert type(info.value) is ManifestError
    assert info.value.path == req
    assert info.value.line is None
    assert info.value.reason == (
        "no extra or dependency group named docs, lint in the given files (available: http2, test)"
    )


def test_group_present_in_any_file_is_enough(write: Write) -> None:
    req = write("requirements.txt", "requests\n")
    proj = write("pyproject.toml", PYPROJECT)
    result = parse_manifests([proj, req], Selection(frozenset({"HTTP2"})))
    assert [(r.name, r.group) for r in result.requirements] == [
        ("httpx", None),
        ("h2", "http2"),
        ("requests", None),
    ]


def test_groups_asked_of_a_requirements_file_alone(write: Write) -> None:
    req = write("requirements.txt", "requests\n")
    with pytest.raises(ManifestError) as info:
        parse_manifests([req], Selection(frozenset({"dev"})))
    assert info.value.reason.endswith("(available: none)")


def test_all_groups_takes_everything_and_never_complains(write: Write) -> None:
    proj = write("pyproject.toml", PYPROJECT)
    result = parse_manifests([proj], Selection(all_groups=True))
    assert [(r.name, r.group) for r in result.requirements] == [
        ("httpx", None),
        ("h2", "http2"),
        ("pytest", "test"),
    ]
    assert parse_manifests([write("requirements.txt", "a\n")], Selection(all_groups=True))


def test_no_paths_give_an_empty_input() -> None:
    result = parse_manifests([], Selection(frozenset({"dev"})))
    assert result.requirements == [] and result.files == []


def test_setuptools_manifest_in_is_not_a_requirements_file() -> None:
    from ferry.manifests import is_python_manifest

    assert not is_python_manifest("MANIFEST.in")
    assert is_python_manifest("dev.in")


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    from ferry.errors import ManifestError
    from ferry.manifests import parse_manifest

    with pytest.raises(ManifestError, match="file not found") as info:
        parse_manifest(tmp_path / "requirements.txt")
    assert info.value.path == tmp_path / "requirements.txt"
    with pytest.raises(ManifestError, match="is a directory"):
        parse_manifest(tmp_path)
