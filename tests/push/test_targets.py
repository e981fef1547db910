"""Where ``ferry push --to URL`` sends files: each product's layout, the URL a user copies
from its pages, and the questions Ferry cannot answer alone."""

from __future__ import annotations

import re

import pytest

from ferry.errors import UsageError
from ferry.push.targets import kind_from_path, push_target

BOTH = {"pypi", "npm"}


@pytest.mark.parametrize(
    ("url", "kind", "upload", "index"),
    [
        # devpi: the index's URL, or the +simple/ URL pip is given
        ("http://h.example/team/prod/", "devpi", "http://h.example/team/prod/", "+simple/"),
        ("http://h.example/team/prod/+simple/", None, "http://h.example/team/prod/", "+simple/"),
        ("http://h.example/team/prod", "devpi", "http://h.example/team/prod/", "+simple/"),
        # Nexus: the repository, or its simple/ URL
        (
            "https://n.example:8443/repository/pypi-hosted/",
            None,
            "https://n.example:8443/repository/pypi-hosted/",
            "simple/",
        ),
        (
            "https://n.example/repository/pypi-hosted/simple/",
            None,
            "https://n.example/repository/pypi-hosted/",
            "simple/",
        ),
        # Artifactory: as its docs give twine the URL, without a slash
        (
            "https://a.example/artifactory/api/pypi/pypi-local",
            None,
            "https://a.example/artifactory/api/pypi/pypi-local",
            "simple/",
        ),
        (
            "https://a.example/artifactory/api/pypi/pypi-local/simple/",
            None,
            "https://a.example/artifactory/api/pypi/pypi-local",
            "simple/",
        ),
        # a plain PyPI-like index (pypiserver: uploads at /, pages at /simple/)
        ("http://p.example:8080/", "pypi", "http://p.example:8080/", "simple/"),
    ],
)
def test_python_layouts(url: str, kind: str | None, upload: str, index: str) -> None:
    target = push_target(url, kind, "pypi" if kind is None else None, BOTH)
    assert target.ecosystem == "pypi"
    assert target.url == upload
    assert target.index_url is not None
    assert target.index_url == upload.rstrip("/") + "/" + index
    assert target.project_url("my-project") == target.index_url + "my-project/"


@pytest.mark.parametrize(
    ("url", "kind", "registry"),
    [
        ("http://v.example:4873", "verdaccio", "http://v.example:4873/"),
        (
            "https://n.example/repository/npm-hosted",
            "nexus",
            "https://n.example/repository/npm-hosted/",
        ),
        (
            "https://a.example/artifactory/api/npm/npm-local/",
            None,
            "https://a.example/artifactory/api/npm/npm-local/",
        ),
    ],
)
def test_npm_layouts(url: str, kind: str | None, registry: str) -> None:
    target = push_target(url, kind, "npm", BOTH)
    assert (target.ecosystem, target.url, target.index_url) == ("npm", registry, None)


def test_credentials_in_the_url_leave_it() -> None:
    target = push_target("https://me:s%40cret@h.example/team/prod/", "devpi", None, BOTH)
    assert (target.username, target.password) == ("me", "s@cret")
    assert target.url == "https://h.example/team/prod/"
    assert "cret" not in target.describe()


def test_an_index_url_given_is_taken_without_credentials() -> None:
    target = push_target(
        "http://p.example/", "pypi", None, BOTH, index_url="http://u:p@p.example/pages"
    )
    assert target.index_url == "http://p.example/pages/"


def test_kind_from_path() -> None:
    assert kind_from_path("https://a.example/artifactory/api/npm/x/") == "artifactory"
    assert kind_from_path("https://n.example/repository/x/") == "nexus"
    assert kind_from_path("https://h.example/u/i/+simple/") == "devpi"
    assert kind_from_path("https://h.example/") is None


def test_a_nexus_repository_needs_its_ecosystem_when_the_bundle_carries_both() -> None:
    with pytest.raises(UsageError, match=re.escape("--ecosystem pypi|npm")):
        push_target("https://n.example/repository/x/", None, None, BOTH)
    # a bundle of one ecosystem answers the question
    assert push_target("https://n.example/repository/x/", None, None, {"npm"}).ecosystem == "npm"
    # and --ecosystem does not bend a kind that holds only one
    assert push_target("http://h.example/u/i/", "devpi", "npm", BOTH).ecosystem == "pypi"


@pytest.mark.parametrize(
    ("url", "kind", "said"),
    [
        ("ftp://h.example/", "devpi", "an http:// or https:// URL"),
        ("h.example/u/i/", "devpi", "an http:// or https:// URL"),
        ("http://h.example/u/i/?x=1", "devpi", "no query or fragment"),
        ("http://h.example/u/i/", "gitea", "--kind gitea: one of"),
        ("http://h.example/u/i/", None, "which registry is this?"),
        (
            "https://a.example/artifactory/api/go/x",
            "artifactory",
            ".../artifactory/api/pypi/<repo>",
        ),
        ("https://me:secret@h.example/?q", "devpi", "me:***@h.example"),
    ],
)
def test_bad_targets_are_named(url: str, kind: str | None, said: str) -> None:
    with pytest.raises(UsageError) as caught:
        push_target(url, kind, None, BOTH)
    assert said in caught.value.message
    assert "secret" not in caught.value.message
