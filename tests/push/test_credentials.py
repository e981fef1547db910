"""Credentials found where twine and npm find them, and nowhere else."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from ferry.errors import UsageError
from ferry.push.credentials import npm_authorization, pypi_credentials
from ferry.push.targets import push_target

BOTH = {"pypi", "npm"}
DEVPI = push_target("https://h.example/team/prod/", "devpi", None, BOTH)


def _pypirc(home: Path, body: str) -> None:
    (home / ".pypirc").write_text(body)


def test_the_url_comes_first(tmp_path: Path) -> None:
    target = push_target("https://u:p@h.example/team/prod/", "devpi", None, BOTH)
    env = {"TWINE_USERNAME": "x", "TWINE_PASSWORD": "y"}
    assert pypi_credentials(target, env=env, home=tmp_path) == ("u", "p")


def test_twine_variables(tmp_path: Path) -> None:
    env = {"TWINE_USERNAME": "x", "TWINE_PASSWORD": "y"}
    assert pypi_credentials(DEVPI, env=env, home=tmp_path) == ("x", "y")
    # --username with the password from the environment
    assert pypi_credentials(DEVPI, username="me", env={"TWINE_PASSWORD": "y"}, home=tmp_path) == (
        "me",
        "y",
    )


def test_pypirc_by_repository_url_or_section(tmp_path: Path) -> None:
    _pypirc(
        tmp_path,
        "[distutils]\nindex-servers =\n  other\n  prod\n\n"
        "[other]\nrepository = https://elsewhere.example/\nusername = o\npassword = op\n\n"
        "[prod]\nrepository = https://h.example/team/prod\nusername = ci\npassword = cp\n\n"
        "[tokens]\nrepository = https://t.example/\npassword = pypi-abc\n",
    )
    assert pypi_credentials(DEVPI, env={}, home=tmp_path) == ("ci", "cp")
    assert pypi_credentials(DEVPI, repository="other", env={}, home=tmp_path) == ("o", "op")
    # a section with a password and no user is a token, as twine has it
    assert pypi_credentials(DEVPI, repository="tokens", env={}, home=tmp_path) == (
        "__token__",
        "pypi-abc",
    )
    with pytest.raises(UsageError, match=re.escape("--repository nope: no such section")):
        pypi_credentials(DEVPI, repository="nope", env={}, home=tmp_path)


def test_pypirc_elsewhere_and_broken(tmp_path: Path) -> None:
    other = tmp_path / "pypirc"
    other.write_text("[x]\nrepository = https://h.example/team/prod/\nusername = a\npassword = b\n")
    assert pypi_credentials(DEVPI, env={"PYPIRC": str(other)}, home=tmp_path) == ("a", "b")
    other.write_text("no section header\n")
    with pytest.raises(UsageError, match=re.escape("not a .pypirc twine can read")):
        pypi_credentials(DEVPI, env={"PYPIRC": str(other)}, home=tmp_path)


def test_netrc_last(tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine h.example login n password np\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert pypi_credentials(DEVPI, env={}, home=tmp_path) == ("n", "np")
    other = push_target("https://other.example/u/i/", "devpi", None, BOTH)
    assert pypi_credentials(other, env={}, home=tmp_path) is None


def test_npmrc_most_specific_path_first(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    (home / ".npmrc").write_text(
        "//n.example/:_authToken=host-wide\n"
        "//n.example/repository/npm-hosted/:_authToken=${NPM_TOKEN}\n"
    )
    registry = "https://n.example/repository/npm-hosted/"
    env = {"NPM_TOKEN": "from-env"}
    assert npm_authorization(registry, env=env, cwd=project, home=home) == "Bearer from-env"
    assert (
        npm_authorization("https://n.example/repository/other/", env=env, cwd=project, home=home)
        == "Bearer host-wide"
    )
    # the project's .npmrc wins over the user's
    (project / ".npmrc").write_text("//n.example/repository/npm-hosted/:_authToken='mine'\n")
    assert npm_authorization(registry, env=env, cwd=project, home=home) == "Bearer mine"
    # NPM_CONFIG_USERCONFIG names the user's file instead of ~/.npmrc
    elsewhere = tmp_path / "userconfig"
    elsewhere.write_text("//x.example/:_authToken=t\n")
    assert (
        npm_authorization(
            "http://x.example/",
            env={"NPM_CONFIG_USERCONFIG": str(elsewhere)},
            cwd=project,
            home=home,
        )
        == "Bearer t"
    )
    assert npm_authorization("http://y.example/", env={}, cwd=project, home=home) is None


def test_npmrc_basic_forms(tmp_path: Path) -> None:
    password = base64.b64encode(b"pw").decode()
    (tmp_path / ".npmrc").write_text(
        f"//a.example/:_auth={base64.b64encode(b'u:p').decode()}\n"
        f"//b.example/:username=bob\n//b.example/:_password={password}\n"
        "//c.example/:username=carol\n//c.example/:_password=not base64!\n"
    )
    auth = npm_authorization("http://a.example/", env={}, cwd=tmp_path, home=tmp_path)
    assert auth == "Basic " + base64.b64encode(b"u:p").decode()
    auth = npm_authorization("http://b.example/", env={}, cwd=tmp_path, home=tmp_path)
    assert auth == "Basic " + base64.b64encode(b"bob:pw").decode()
    with pytest.raises(UsageError, match=re.escape("//c.example/:_password is not base64")):
        npm_authorization("http://c.example/", env={}, cwd=tmp_path, home=tmp_path)
