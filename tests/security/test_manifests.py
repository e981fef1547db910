"""A stranger's manifests against a real `ferry serve`: they reach no file of the
server's, no variable of its environment, no place the operator did not allow, and no
address on its own networks; the canary on 127.0.0.1 hears nothing."""

from __future__ import annotations

import json

import pytest

from conftest import Dists, Npm
from security.conftest import CANARY_BYTES, Canary, everything_said, submit
from support.serve import Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PASSWD_LINE = "root:x:0:0"


def _error(doc: dict[str, object]) -> str:
    return json.dumps(doc.get("error"))


@pytest.mark.parametrize(
    "line",
    [
        "-r /etc/passwd",
        "-c /etc/passwd",
        "--requirement=/etc/passwd",
        "-r ../../../../../../etc/passwd",
        "-r ../uploads/../../../../etc/passwd",
        "-r sub/requirements.txt",
        "-r requirements-dev.txt",  # a name, but not uploaded with the task
        "-c ./../../admin-token",
    ],
)
def test_includes_reach_only_uploaded_files(service: Server, line: str) -> None:
    doc = submit(service, {"requirements.txt": f"dep==1.0\n{line}\n"})
    assert doc["status"] == "failed"
    error = doc["error"]
    assert error["code"] == "manifest-invalid"
    assert error["file"] == "requirements.txt" and error["line"] == 2
    assert "is not one of the files uploaded with this task" in error["message"]
    said = everything_said(service, doc)
    assert PASSWD_LINE not in said
    assert service.token not in said
    assert str(service.settings.data_dir) not in said


def test_an_uploaded_include_works(service: Server) -> None:
    doc = submit(
        service,
        {"requirements.txt": "-r requirements-dev.txt\n", "requirements-dev.txt": "dep==1.0\n"},
    )
    assert doc["status"] == "resolved", doc["error"]
    names = {p["name"] for p in doc["dependencies"]["python"]["targets"][0]["packages"]}
    assert names == {"dep"}


@pytest.mark.parametrize("variable", ["HOME", "PATH", "FERRY_DATA_DIR", "USER"])
def test_the_servers_environment_is_not_expanded(service: Server, variable: str) -> None:
    doc = submit(service, {"requirements.txt": f"dep==1.0\nx${{{variable}}}y==1\n"})
    assert doc["status"] == "failed"
    said = everything_said(service, doc)
    assert f"${{{variable}}}" in said  # left as written, as an unknown variable is
    assert str(service.settings.data_dir) not in said and "/usr/bin" not in said


@pytest.mark.parametrize(
    "line",
    [
        "/usr/lib/python3/dist-packages/x-1.0-py3-none-any.whl",
        "./vendored/x-1.0-py3-none-any.whl",
        "x @ file:///etc/passwd",
        "x @ file:///usr/share/x-1.0.tar.gz",
        "file:///root/x-1.0-py3-none-any.whl",
        "../../data/cache/x-1.0.tar.gz",
        "-f /usr/share",
        "--find-links ./wheels",
    ],
)
def test_local_paths_are_refused_unlooked_at(service: Server, line: str) -> None:
    doc = submit(service, {"requirements.txt": f"{line}\n"})
    assert doc["status"] == "failed"
    assert "cannot name files on the server" in _error(doc)
    # no oracle: an existing and a missing path are refused in the same words
    assert "does not exist" not in _error(doc)
    assert PASSWD_LINE not in everything_said(service, doc)


def _no_request_reached(canary: Canary) -> None:
    assert canary.requests == [], canary.requests


@pytest.mark.parametrize(
    "manifest",
    [
        "--index-url http://127.0.0.1:{port}/simple/\ndep==1.0\n",
        "--extra-index-url http://127.0.0.1:{port}/simple/\ndep==1.0\n",
        "-i http://localhost:{port}/simple\ndep==1.0\n",
        "--find-links http://127.0.0.1:{port}/\ndep==1.0\n",
        "dep @ http://127.0.0.1:{port}/dep-1.0-py3-none-any.whl\n",
        "dep @ http://[::ffff:127.0.0.1]:{port}/dep-1.0-py3-none-any.whl\n",
        "http://127.0.0.1:{port}/dep-1.0.tar.gz\n",
        "dep @ http://169.254.169.254/latest/meta-data/dep-1.0.tar.gz\n",
        "dep @ https://10.0.0.1/dep-1.0-py3-none-any.whl\n",
        "dep @ http://127.0.0.1:5432/dep-1.0-py3-none-any.whl\n",
    ],
)
def test_no_place_the_operator_did_not_allow(
    service: Server, canary: Canary, manifest: str
) -> None:
    doc = submit(service, {"requirements.txt": manifest.format(port=canary.port)})
    assert doc["status"] == "failed"
    error = doc["error"]
    assert error["file"] == "requirements.txt" and error["line"]
    assert (
        "neither a configured index or registry nor on the allowed_hosts list" in (error["message"])
    )
    _no_request_reached(canary)
    assert CANARY_BYTES.decode() not in everything_said(service, doc)


def test_pipfile_lock_and_poetry_sources(service: Server, canary: Canary) -> None:
    lock = {
        "_meta": {
            "sources": [{"name": "x", "url": "http://169.254.169.254/simple", "verify_ssl": False}]
        },
        "default": {"dep": {"version": "==1.0", "hashes": []}},
    }
    doc = submit(service, {"Pipfile.lock": json.dumps(lock, indent=2)})
    assert doc["status"] == "failed" and doc["error"]["file"] == "Pipfile.lock"
    assert "allowed_hosts" in doc["error"]["message"]
    poetry = (
        '[tool.poetry]\nname = "p"\nversion = "1"\n[tool.poetry.dependencies]\n'
        'python = "^3.9"\n'
        f'dep = {{url = "http://127.0.0.1:{canary.port}/dep-1.0-py3-none-any.whl"}}\n'
    )
    doc = submit(service, {"pyproject.toml": poetry})
    assert doc["status"] == "failed" and doc["error"]["line"] == 6
    assert "allowed_hosts" in doc["error"]["message"]
    package = {
        "name": "p",
        "version": "1.0.0",
        "dependencies": {"a": "^1.0.0"},
        "overrides": {"a": f"http://127.0.0.1:{canary.port}/a.tgz"},
    }
    doc = submit(service, {"package.json": json.dumps(package, indent=2)}, NODE)
    assert doc["status"] == "failed" and "overrides.a" in doc["error"]["message"]
    _no_request_reached(canary)


def test_pipfile_sources_and_pyproject_urls(service: Server, canary: Canary) -> None:
    pipfile = (
        "[[source]]\n"
        f'url = "http://127.0.0.1:{canary.port}/simple"\n'
        'name = "evil"\nverify_ssl = false\n\n[packages]\ndep = "==1.0"\n'
    )
    doc = submit(service, {"Pipfile": pipfile})
    assert doc["status"] == "failed" and doc["error"]["file"] == "Pipfile"
    assert "allowed_hosts" in doc["error"]["message"]
    pyproject = (
        '[project]\nname = "p"\nversion = "1"\n'
        f'dependencies = ["dep @ http://127.0.0.1:{canary.port}/dep-1.0-py3-none-any.whl"]\n'
    )
    doc = submit(service, {"pyproject.toml": pyproject})
    assert doc["status"] == "failed" and "allowed_hosts" in doc["error"]["message"]
    _no_request_reached(canary)


NODE = {"node_version": "20", "os": "linux", "cpu": "x64"}


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("http://127.0.0.1:{port}/x.tgz", "allowed_hosts"),
        ("https://169.254.169.254/x.tgz", "allowed_hosts"),
        ("file:../../../etc", "a local path on the server"),
        ("link:/etc", "a local path on the server"),
        ("/etc", "a local path on the server"),
        ("git+https://127.0.0.1:{port}/x.git", "allowed_hosts"),
        ("github:someone/something", "allowed_hosts"),
        ("someone/something", "allowed_hosts"),
    ],
)
def test_npm_dependency_specs(service: Server, canary: Canary, spec: str, reason: str) -> None:
    package = {
        "name": "p",
        "version": "1.0.0",
        "dependencies": {"x": spec.format(port=canary.port)},
    }
    doc = submit(service, {"package.json": json.dumps(package, indent=2)}, NODE)
    assert doc["status"] == "failed", doc
    assert doc["error"]["file"] == "package.json" and doc["error"]["line"] == 5
    assert reason in doc["error"]["message"]
    _no_request_reached(canary)


def test_a_lock_cannot_fetch_from_the_servers_own_network(service: Server, canary: Canary) -> None:
    """The resolved URL of a lock entry, even with the right integrity of the canary's
    answer (which an earlier error leaked): refused before any request."""
    import base64
    import hashlib

    integrity = "sha512-" + base64.b64encode(hashlib.sha512(CANARY_BYTES).digest()).decode()
    lock = {
        "name": "p",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "p", "version": "1.0.0", "dependencies": {"x": "1.0.0"}},
            "node_modules/x": {
                "version": "1.0.0",
                "resolved": f"http://127.0.0.1:{canary.port}/x/-/x-1.0.0.tgz",
                "integrity": integrity,
            },
        },
    }
    doc = submit(
        service,
        {"package-lock.json": json.dumps(lock, indent=2)},
        {**NODE, "auto_download": True},
        until=("completed", "failed"),
    )
    assert doc["status"] == "failed"
    assert "packages['node_modules/x'].resolved" in doc["error"]["message"]
    _no_request_reached(canary)


def test_an_integrity_error_says_nothing_of_the_bytes_that_came(
    service: Server, pyindex: Dists
) -> None:
    """The file the index serves is not the one it promised: the task fails, and its error
    names what was expected, never the size or digest of what arrived."""
    import re

    wheel = next(a for a in pyindex.index.artifacts() if a.filename.startswith("dep-1.0"))
    pyindex.index.corrupt(wheel.filename)
    doc = submit(
        service,
        {"requirements.txt": "dep==1.0\n"},
        {"python_version": "3.11", "platforms": ["manylinux_2_28_x86_64"], "auto_download": True},
        until=("completed", "failed"),
    )
    assert doc["status"] == "failed"
    said = everything_said(service, doc)
    assert "integrity" in said
    promised = {a.sha256 for a in pyindex.index.artifacts()}
    assert set(re.findall(r"\b[0-9a-f]{64}\b", said)) <= promised


def test_a_projects_npmrc_reaches_nothing_of_the_server(service: Server, canary: Canary) -> None:
    """An uploaded .npmrc: its registry is a source the operator must allow; its file
    paths, shell, variables and credentials are never used, and never echoed."""
    package = json.dumps(
        {"name": "p", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}}, indent=2
    )
    npmrc = f"legacy-peer-deps=true\nregistry=http://127.0.0.1:{canary.port}/\n"
    doc = submit(service, {"package.json": package, ".npmrc": npmrc}, NODE)
    assert doc["status"] == "failed", doc
    assert doc["error"]["file"] == ".npmrc" and doc["error"]["line"] == 2
    assert "allowed_hosts" in doc["error"]["message"]

    hostile = (
        "cafile=/etc/passwd\n"
        "script-shell=/bin/sh\n"
        "node-options=--require /etc/passwd\n"
        "userconfig=/etc/passwd\n"
        "before=${HOME}\n"
        f"@x:registry=http://127.0.0.1:{canary.port}/\n"
        "//127.0.0.1/:_authToken=s3cr3t-t0ken\n"
    )
    doc = submit(service, {"package.json": package, ".npmrc": hostile}, NODE)
    assert doc["status"] == "failed" and doc["error"]["line"] == 6  # the scoped registry
    doc = submit(service, {"package.json": package, ".npmrc": hostile.replace("@x:", "; ")}, NODE)
    assert doc["status"] == "resolved", doc
    problems = doc["dependencies"]["npm"]["problems"]
    ignored = [p["message"] for p in problems if p["kind"] == "npmrc-ignored"]
    assert len(ignored) == 5 and any("environment variable" in m for m in ignored)
    said = everything_said(service, doc)
    assert PASSWD_LINE not in said and "s3cr3t-t0ken" not in said
    _no_request_reached(canary)


def test_a_native_addons_binary_host_is_a_place_the_operator_must_allow(
    service: Server, canary: Canary, npmreg: Npm
) -> None:
    """A package in the operator's registry names its own binary host: the service does
    not go there unless allowed; the bundle says the addon will need compiling."""
    from support.npmregistry import build_tarball

    npmreg.registry.publish(
        build_tarball(
            npmreg.dir,
            "sneaky",
            "1.0.0",
            scripts={"install": "node-pre-gyp install --fallback-to-build"},
            extra={
                "binary": {
                    "module_name": "sneaky",
                    "module_path": "./lib/binding",
                    "host": canary.base + "/",
                }
            },
        )
    )
    package = json.dumps({"name": "p", "version": "1.0.0", "dependencies": {"sneaky": "1.0.0"}})
    doc = submit(
        service,
        {"package.json": package},
        {**NODE, "auto_download": True},
        until=("completed", "failed"),
    )
    assert doc["status"] == "completed", doc
    problems = doc["dependencies"]["npm"]["problems"]
    needs = next(p for p in problems if p["kind"] == "needs-compiling")
    assert needs["package"] == "sneaky" and "allowed_hosts" in needs["message"]
    _no_request_reached(canary)
