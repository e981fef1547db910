"""The project's name for the task list: read from the uploaded files only, as one safe
short line, and never an error (analysis reports what is wrong with a file)."""

from __future__ import annotations

import json

import pytest

from ferry.manifests.project_name import MAX_LENGTH, clean_name, declared_name

from .conftest import Write


def test_pyproject_project_name(write: Write) -> None:
    py = write("pyproject.toml", '[project]\nname = "Demo-App"\ndependencies = []\n')
    assert declared_name([py]) == "Demo-App"  # as declared, not normalised


def test_poetry_name_when_project_has_none(write: Write) -> None:
    py = write(
        "pyproject.toml",
        '[project]\ndependencies = []\n[tool.poetry]\nname = "poetry-app"\n',
    )
    assert declared_name([py]) == "poetry-app"


def test_package_json_first(write: Write) -> None:
    py = write("pyproject.toml", '[project]\nname = "py-side"\n')
    pkg = write("package.json", json.dumps({"name": "@scope/web-side"}))
    assert declared_name([py, pkg]) == "@scope/web-side"
    # a package.json without a usable name leaves the pyproject's
    write("package.json", json.dumps({"name": 42}))
    assert declared_name([py, pkg]) == "py-side"


def test_none_when_no_file_declares_one(write: Write) -> None:
    req = write("requirements.txt", "dep==1.0\n")
    lock = write("package-lock.json", json.dumps({"name": "only-in-the-lock"}))
    pipfile = write("Pipfile", '[packages]\ndep = "*"\n')
    assert declared_name([req, lock, pipfile]) is None
    assert declared_name([]) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", "[project\nname = 'x'"),  # invalid TOML
        ("pyproject.toml", "\x00\x01"),  # binary
        ("package.json", "{not json"),
        ("package.json", "[" * 100_000),  # nested past the recursion limit
        ("package.json", '["a list"]'),
    ],
)
def test_an_unreadable_file_gives_no_name(write: Write, name: str, text: str) -> None:
    assert declared_name([write(name, text)]) is None


def test_a_name_is_one_capped_line(write: Write) -> None:
    long = "evil\u202e\u200bname\n\twith  tabs " + "y" * 300
    pkg = write("package.json", json.dumps({"name": long}))
    got = declared_name([pkg])
    assert got is not None and len(got) == MAX_LENGTH
    assert got.startswith("evilname with tabs yyy") and got.endswith("…")
    assert clean_name("\u202e\u200b \n") is None
    assert clean_name(["not", "text"]) is None
    assert clean_name("x" * MAX_LENGTH) == "x" * MAX_LENGTH  # exactly the cap: kept whole
