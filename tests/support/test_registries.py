"""Proof that the registries the push tests use are real and reachable as teams reach theirs:
stock pip and npm install what was uploaded to devpi (twine's legacy upload request) and
published to verdaccio (``npm publish``), directly and behind the path-rewriting proxy under
Nexus's and Artifactory's URL layouts, with the clients staying behind the proxy.

Nothing here reaches beyond 127.0.0.1; pip and npm read no configuration of this machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from support.devpi import DevpiServer, legacy_upload
from support.localproc import clean_env
from support.npmregistry import build_tarball
from support.pathproxy import PathProxy, ProxiedIndex, ProxiedNpm, Route
from support.pyindex import build_sdist, build_wheel
from support.verdaccio import Verdaccio

pytestmark = [pytest.mark.registries, pytest.mark.timeout(300)]

NPM = shutil.which("npm")
LAYOUTS = ["direct", "nexus", "artifactory"]


@dataclass(frozen=True)
class PyRepo:
    index_url: str
    upload_url: str
    username: str
    password: str
    proxy: PathProxy | None


@dataclass(frozen=True)
class NpmRepo:
    url: str
    npmrc: str
    proxy: PathProxy | None


def py_repo(request: pytest.FixtureRequest, layout: str) -> PyRepo:
    if layout == "direct":
        devpi: DevpiServer = request.getfixturevalue("devpi")
        return PyRepo(devpi.index_url, devpi.upload_url, devpi.username, devpi.password, None)
    repo: ProxiedIndex = request.getfixturevalue(f"{layout}_pypi_repo")
    return PyRepo(repo.index_url, repo.upload_url, repo.username, repo.password, repo.proxy)


def npm_repo(request: pytest.FixtureRequest, layout: str) -> NpmRepo:
    if layout == "direct":
        verdaccio: Verdaccio = request.getfixturevalue("verdaccio")
        return NpmRepo(verdaccio.url, verdaccio.npmrc, None)
    repo: ProxiedNpm = request.getfixturevalue(f"{layout}_npm_repo")
    return NpmRepo(repo.url, repo.npmrc, repo.proxy)


def run(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{argv}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- PyPI


def pip(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    # clean_env sets PIP_CONFIG_FILE=/dev/null: pip then reads no configuration file at all,
    # not this machine's (/etc/pip.conf, /etc/xdg/pip: extra find-links and constraints)
    env = clean_env(tmp / "pip-home")
    base = ["--disable-pip-version-check", "--no-input", "--no-cache-dir", "--timeout", "30"]
    return run([sys.executable, "-m", "pip", *args, *base], env, tmp)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_upload_to_devpi_then_pip_installs(
    request: pytest.FixtureRequest, layout: str, tmp_path: Path
) -> None:
    repo = py_repo(request, layout)
    name = f"ferry-push-smoke-{layout}"
    wheel = build_wheel(
        tmp_path / "dist", name, "1.0", requires_dist=["packaging>=1; python_version < '3'"]
    )
    sdist = build_sdist(tmp_path / "dist", name, "1.0")

    wrong = legacy_upload(repo.upload_url, wheel, repo.username, "not-the-password")
    assert wrong.status_code in (401, 403), wrong.text
    for path in (wheel, sdist):
        response = legacy_upload(repo.upload_url, path, repo.username, repo.password)
        assert response.status_code == 200, response.text

    target = tmp_path / "target"
    pip(["install", "--target", str(target), "--index-url", repo.index_url, name], tmp_path)
    module = target / name.replace("-", "_") / "__init__.py"
    assert module.read_text() == "__version__ = '1.0'\n"

    dest = tmp_path / "downloaded"
    pip(
        [
            "download",
            "--no-deps",
            "--only-binary=:all:",
            f"--dest={dest}",
            f"--index-url={repo.index_url}",
            f"{name}==1.0",
        ],
        tmp_path,
    )
    (got,) = dest.iterdir()
    assert got.name == wheel.name
    assert sha256(got) == sha256(wheel)

    # the project page lists exactly what was uploaded; its links lead to the same bytes
    with httpx.Client(trust_env=False, timeout=30) as client:
        page_url = f"{repo.index_url}{name}/"
        page = client.get(page_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        page.raise_for_status()
        files = {f["filename"]: f for f in page.json()["files"]}
        assert set(files) == {wheel.name, sdist.name}
        for path in (wheel, sdist):
            entry = files[path.name]
            assert entry["hashes"]["sha256"] == sha256(path)
            url = urljoin(page_url, entry["url"])
            if repo.proxy is not None:
                assert url.startswith(repo.proxy.base + "/"), url
            data = client.get(url)
            data.raise_for_status()
            assert data.content == path.read_bytes()

    if repo.proxy is not None:
        # pip install, pip download and the check above fetched the wheel through the
        # proxy's own paths (pip spells devpi's `+f` as `%2Bf`), never from devpi directly
        front = urlsplit(repo.upload_url).path
        fetched = [p for m, p in repo.proxy.requests if m == "GET" and p.endswith(wheel.name)]
        assert len(fetched) == 3, repo.proxy.requests
        assert all(p.startswith(front) for p in fetched), fetched


def test_devpi_index_has_no_mirror(devpi: DevpiServer, tmp_path: Path) -> None:
    """The index holds only uploads: a project that exists only elsewhere is not found."""
    with httpx.Client(trust_env=False, timeout=30) as client:
        config = client.get(devpi.upload_url.rstrip("/"), headers={"Accept": "application/json"})
        config.raise_for_status()
        assert config.json()["result"]["bases"] == []
        assert client.get(devpi.index_url + "pip/").status_code == 404
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", f"--dest={tmp_path}"),
            *(f"--index-url={devpi.index_url}", "--no-cache-dir", "--retries=0", "pip"),
        ],
        env=clean_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "No matching distribution found for pip" in proc.stderr


# --------------------------------------------------------------------------- npm

needs_npm = pytest.mark.skipif(NPM is None, reason="npm is not on the PATH")


def npm_env(tmp: Path, npmrc: str) -> dict[str, str]:
    """npm with a configuration of its own: this machine's user config may set
    ``omit-lockfile-registry-resolved`` (and more); the auth line is the only setting."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "npmrc").write_text(npmrc)
    return clean_env(
        tmp / "home",
        {
            "npm_config_userconfig": str(tmp / "npmrc"),
            "npm_config_globalconfig": str(tmp / "global-npmrc"),
            "npm_config_cache": str(tmp / "cache"),
            "npm_config_audit": "false",
            "npm_config_fund": "false",
            "npm_config_update_notifier": "false",
            "npm_config_fetch_retries": "0",
        },
    )


@needs_npm
@pytest.mark.parametrize("layout", LAYOUTS)
def test_npm_publish_to_verdaccio_then_npm_installs(
    request: pytest.FixtureRequest, layout: str, tmp_path: Path
) -> None:
    assert NPM is not None
    repo = npm_repo(request, layout)
    env = npm_env(tmp_path / "npm", repo.npmrc)
    lib = f"ferry-push-smoke-{layout}"
    app = f"@ferry/push-smoke-{layout}"
    tarballs = tmp_path / "tarballs"
    lib_tgz = build_tarball(tarballs, lib, "1.0.0")
    app_tgz = build_tarball(tarballs, app, "1.0.0", dependencies={lib: "^1.0.0"})
    for tgz in (lib_tgz, app_tgz):  # absolute paths: npm takes `a/b.tgz` for a git repo
        run([NPM, "publish", str(tgz.resolve()), "--registry", repo.url], env, tmp_path)

    viewed = run([NPM, "view", app, "--json", "--registry", repo.url], env, tmp_path)
    doc = json.loads(viewed.stdout)
    assert doc["version"] == "1.0.0"
    assert doc["dependencies"] == {lib: "^1.0.0"}
    # the tarball's URL is the registry's own, behind the proxy when there is one
    assert doc["dist"]["tarball"].startswith(repo.url), doc["dist"]["tarball"]

    project = tmp_path / "project"
    project.mkdir()
    (project / "package.json").write_text(
        json.dumps({"name": "consumer", "version": "1.0.0", "private": True})
    )
    # a cache of its own: npm publish left the tarballs in the first one, and an install
    # from there would prove nothing about downloading them
    fresh = npm_env(tmp_path / "npm-install", repo.npmrc)
    run([NPM, "install", f"{app}@1.0.0", "--registry", repo.url], fresh, project)
    for name, tgz in ((lib, lib_tgz), (app, app_tgz)):
        manifest = json.loads((project / "node_modules" / name / "package.json").read_text())
        assert manifest["version"] == "1.0.0"
        locked = json.loads((project / "package-lock.json").read_text())
        entry = locked["packages"][f"node_modules/{name}"]
        assert entry["resolved"].startswith(repo.url), entry
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
        assert entry["integrity"] == integrity

    if repo.proxy is not None:
        front = urlsplit(repo.url).path
        assert repo.proxy.count(f"{front}{lib}/-/", "GET") == 1, repo.proxy.requests
        assert repo.proxy.count(f"{front}{app}/-/", "GET") == 1, repo.proxy.requests


def test_verdaccio_needs_a_token_and_has_no_uplink(verdaccio: Verdaccio) -> None:
    with httpx.Client(base_url=verdaccio.url, trust_env=False, timeout=30) as client:
        anonymous = client.get("ferry-push-smoke-direct")
        assert anonymous.status_code in (401, 403)
        auth = {"Authorization": f"Bearer {verdaccio.token}"}
        # a package published nowhere here does not exist (no uplink to ask)
        assert client.get("left-pad", headers=auth).status_code == 404


# --------------------------------------------------------------------------- the proxy


def test_proxy_rewrites_urls_and_redirects(devpi: DevpiServer) -> None:
    proxy = PathProxy(
        {
            "/repository/x/simple/": devpi.base + devpi.index_path + "+simple/",
            "/repository/x/": devpi.base + devpi.index_path,
        }
    ).start()
    try:
        (simple, general) = proxy.routes
        assert simple == Route("/repository/x/simple", devpi.base, devpi.index_path + "+simple")
        body = f'see "{devpi.base}{devpi.index_path}+f/a.whl" and {devpi.base}/+api'.encode()
        assert proxy.rewrite_body(body, general) == (
            f'see "{proxy.base}/repository/x/+f/a.whl" and {devpi.base}/+api'.encode()
        )
        with httpx.Client(trust_env=False, timeout=30) as client:
            # devpi redirects a name to its normal form, absolutely, to its own host
            moved = client.get(proxy.url("/repository/x/simple/Ferry_Push_Smoke_Direct"))
            assert moved.status_code in (301, 302), moved.text
            assert moved.headers["location"].startswith(
                proxy.url("/repository/x/simple/ferry-push-smoke-direct")
            )
            assert client.get(proxy.url("/elsewhere/")).status_code == 404
    finally:
        proxy.stop()
