"""A stranger's manifest, read by the service's rules (pure: no server, no network):
includes only among the uploaded files, nothing from the environment, no local path
looked at, and every place it names checked by the operator's policy, by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry.egress import EgressPolicy
from ferry.errors import ManifestError
from ferry.manifests import parse_manifests
from ferry.manifests.confine import _spec_refusal, check_npm_urls, check_python_urls
from ferry.manifests.model import InputRules
from ferry.manifests.npm import parse_npm_manifests

POLICY = EgressPolicy.build(trusted_urls=["https://index.example/simple/"])


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


def _read(uploads: Path, name: str, text: str) -> object:
    path = uploads / name
    path.write_text(text)
    return parse_manifests([path], rules=InputRules(confined_to=uploads))


def test_an_include_outside_the_uploads_is_not_even_looked_at(
    uploads: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.txt").write_text("secret-package==1\n")
    for line in ("-r ../outside.txt", f"-r {tmp_path}/outside.txt", "-c ../outside.txt"):
        with pytest.raises(ManifestError) as caught:
            _read(uploads, "requirements.txt", f"{line}\n")
        assert "is not one of the files uploaded with this task" in caught.value.message
        assert "secret-package" not in caught.value.message
        assert caught.value.line == 1


def test_the_environment_is_not_expanded(uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_TEST_SECRET", "hunter2")
    with pytest.raises(ManifestError) as caught:
        _read(uploads, "requirements.txt", "x${FERRY_TEST_SECRET}==1 ; ${FERRY_TEST_SECRET}\n")
    assert "hunter2" not in str(caught.value.to_dict())
    # the CLI on the user's own machine keeps pip's behaviour
    path = uploads / "requirements.txt"
    path.write_text("dep${FERRY_TEST_SUFFIX}==1\n")
    monkeypatch.setenv("FERRY_TEST_SUFFIX", "-x")
    assert parse_manifests([path]).requirements[0].name == "dep-x"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("requirements.txt", "{wheel}\n"),
        ("requirements.txt", "x @ file://{wheel}\n"),
        ("requirements.txt", "-f {folder}\ndep\n"),
        (
            "pyproject.toml",
            '[project]\nname = "p"\nversion = "1"\ndependencies = ["x @ file://{wheel}"]\n',
        ),
        ("Pipfile", '[packages]\nx = {{file = "file://{wheel}"}}\n'),
    ],
)
def test_local_paths_are_refused_alike_whether_they_exist_or_not(
    uploads: Path, tmp_path: Path, name: str, text: str
) -> None:
    real = tmp_path / "x-1.0-py3-none-any.whl"
    real.write_bytes(b"a wheel")
    messages = []
    for wheel in (real, tmp_path / "missing" / "x-1.0-py3-none-any.whl"):
        with pytest.raises(ManifestError) as caught:
            _read(uploads, name, text.format(wheel=wheel, folder=wheel.parent))
        assert "cannot name files on the server" in caught.value.message
        messages.append(caught.value.reason.replace(str(wheel.parent), "<dir>"))
    assert messages[0] == messages[1]  # no oracle for what exists on the server


def test_places_are_checked_by_file_and_line(uploads: Path) -> None:
    cases = {
        "requirements.txt": ("dep\n--extra-index-url http://127.0.0.1:9/simple/\n", 2),
        "requirements-a.txt": ("dep @ https://evil.example/dep-1.0.tar.gz\n", 1),
        "Pipfile": (
            '[[source]]\nurl = "http://169.254.169.254/simple"\n[packages]\ndep = "*"\n',
            1,
        ),
    }
    for name, (text, line) in cases.items():
        pyinput = _read(uploads, name, text)
        with pytest.raises(ManifestError) as caught:
            check_python_urls(pyinput, POLICY)  # type: ignore[arg-type]
        assert caught.value.path.name == name and caught.value.line == line, name
        assert "allowed_hosts" in caught.value.message
    fine = _read(uploads, "requirements-b.txt", "-i https://index.example/simple/\ndep\n")
    check_python_urls(fine, POLICY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        ("^1.2.3", False),
        ("latest", False),
        ("npm:other@^2", False),
        ("file:../x", True),
        ("link:../x", True),
        ("./x", True),
        ("~/x", True),
        ("https://index.example/x.tgz", False),
        ("https://evil.example/x.tgz", True),
        ("git+ssh://git@evil.example/x.git", True),
        ("github:a/b", True),
        ("a/b#main", True),
    ],
)
def test_npm_specs(spec: str, refused: bool) -> None:
    assert (_spec_refusal(spec, POLICY) is not None) is refused


def test_npm_manifest_and_lock_are_checked_by_line(uploads: Path) -> None:
    package = uploads / "package.json"
    package.write_text(
        json.dumps({"name": "p", "dependencies": {"a": "^1", "b": "file:.."}}, indent=2)
    )
    with pytest.raises(ManifestError) as caught:
        check_npm_urls(parse_npm_manifests([package]), POLICY)
    assert caught.value.line == 5 and "dependencies.b" in caught.value.message
    lock = uploads / "package-lock.json"
    lock.write_text(
        json.dumps(
            {
                "lockfileVersion": 3,
                "packages": {
                    "": {"name": "p"},
                    "node_modules/a": {"version": "1.0.0", "resolved": "http://10.0.0.1/a.tgz"},
                },
            },
            indent=2,
        )
    )
    with pytest.raises(ManifestError) as caught:
        check_npm_urls(parse_npm_manifests([lock]), POLICY)
    assert "packages['node_modules/a'].resolved" in caught.value.message
