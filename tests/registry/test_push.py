"""``ferry push``: a real bundle into a real devpi-server and a real verdaccio (directly and
behind Nexus's and Artifactory's URL layouts), then stock pip and npm install the project
from them alone.

Credentials come the clients' own ways: a ``.pypirc`` section and an ``.npmrc``
``_authToken`` line in HOME, ``TWINE_*`` variables, ``user:password`` in the URL.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry.errors import ExitCode
from ferry.push.pusher import OTHER_TAG
from support.bundles import manifest_of, repack
from support.devpi import DevpiServer, legacy_upload
from support.localproc import clean_env
from support.pathproxy import PathProxy
from support.verdaccio import Verdaccio, npmrc_for

pytestmark = [pytest.mark.registries, pytest.mark.network]

FERRY = [sys.executable, "-m", "ferry.cli.main"]


def _push(
    bundle: Path, home: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = clean_env(home, extra)
    return subprocess.run(
        [*FERRY, "push", str(bundle), "--json", *args],
        cwd=home,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


def _report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def _counts(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    counts: dict[str, int] = _report(proc)["counts"]
    return counts


def _pypirc(home: Path, devpi: DevpiServer, upload_url: str) -> None:
    (home / ".pypirc").write_text(
        "[distutils]\nindex-servers = internal\n\n"
        f"[internal]\nrepository = {upload_url}\n"
        f"username = {devpi.username}\npassword = {devpi.password}\n"
    )


def _pip(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(home / "pip-home")
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-cache-dir"],
        env=env,
        cwd=home,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


def _npm(args: list[str], project: Path) -> subprocess.CompletedProcess[str]:
    # HOME and the cache beside the project, not in it: `npm publish` packs the folder,
    # and its own log, written while it packs, once made tar fail ("did not encounter
    # expected EOF")
    beside = project.parent / f"{project.name}.npm"
    env = clean_env(beside / "home", {"npm_config_cache": str(beside / "cache")})
    return subprocess.run(
        ["npm", *args, "--no-audit", "--no-fund", "--userconfig", str(project / ".npmrc")],
        env=env,
        cwd=project,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


def _bundle_names(bundle: Path, folder: str) -> list[str]:
    with zipfile.ZipFile(bundle) as zf:
        return sorted(
            n.rpartition("/")[2]
            for n in zf.namelist()
            if f"/{folder}/" in n and n.count("/") == 2 and not n.endswith("/")
        )


def _project(made: Path, where: Path) -> Path:
    """The bundle's own package.json and lock, as the far side's npm ci gets them."""
    where.mkdir(parents=True)
    with zipfile.ZipFile(made) as zf:
        for name in zf.namelist():
            tail = name.split("/", 1)[1]
            if tail in ("npm-packages/package.json", "npm-packages/package-lock.json"):
                (where / tail.rpartition("/")[2]).write_bytes(zf.read(name))
    return where


def test_push_into_devpi_and_verdaccio_then_pip_and_npm_install_from_them_alone(
    made: Path, devpi: DevpiServer, verdaccio: Verdaccio, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _pypirc(home, devpi, devpi.upload_url)
    (home / ".npmrc").write_text(verdaccio.npmrc)
    proc = _push(made, home, "--to", devpi.upload_url, "--to", verdaccio.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = _counts(proc)
    python_files = _bundle_names(made, "python-packages")
    tarballs = _bundle_names(made, "npm-packages")
    assert counts["pushed"] == len(python_files) + len([t for t in tarballs if t.endswith(".tgz")])
    assert counts["conflict"] == counts["failed"] == 0

    # devpi lists every Python file with the bundle's sha256
    with zipfile.ZipFile(made) as zf:
        manifest = json.loads(
            zf.read(next(n for n in zf.namelist() if n.endswith("/manifest.json")))
        )
    for record in manifest["files"]:
        if record["ecosystem"] != "pypi":
            continue
        name = record["package"]
        page = httpx.get(f"{devpi.index_url}{name}/", follow_redirects=True, timeout=30)
        assert f"{record['path'].rpartition('/')[2]}#sha256={record['sha256']}" in page.text

    # pip, with devpi as its only index, installs the project
    target = tmp_path / "site"
    pip = _pip(
        ["install", "--target", str(target), "--index-url", devpi.index_url, "app", "lib==2.0"],
        tmp_path,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert any(p.name.startswith("app-") for p in target.iterdir())

    # npm ci, with verdaccio as its only registry, installs the lock the bundle carries
    project = _project(made, tmp_path / "web")
    (project / ".npmrc").write_text(f"registry={verdaccio.url}\n{verdaccio.npmrc}")
    npm = _npm(["ci", "--replace-registry-host=always", "--registry", verdaccio.url], project)
    assert npm.returncode == 0, npm.stdout + npm.stderr
    assert (project / "node_modules" / "app" / "package.json").is_file()
    assert (project / "node_modules" / "@demo" / "native" / "package.json").is_file()

    # the same push again sends nothing: every file is held with the same bytes
    again = _push(made, home, "--to", devpi.upload_url, "--to", verdaccio.url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _counts(again)["pushed"] == 0
    assert _counts(again)["held"] == counts["pushed"]


@pytest.fixture
def fresh_verdaccio(tmp_path: Path) -> Iterator[Verdaccio]:
    """A verdaccio of the test's own: npm package names are global in a registry."""
    with Verdaccio(tmp_path / "verdaccio") as server:
        yield server


def _devpi_page(index_url: str, project: str) -> str:
    return httpx.get(f"{index_url}{project}/", follow_redirects=True, timeout=30).text


def test_push_through_the_nexus_and_artifactory_layouts(
    made: Path, devpi: DevpiServer, fresh_verdaccio: Verdaccio, tmp_path: Path
) -> None:
    """Nexus's /repository/<repo>/ for Python (the bundle carries both ecosystems, so the
    repository's is named) and Artifactory's /artifactory/api/npm/<repo>/ in one push; then
    Artifactory's Python layout over the same index finds everything held."""
    index = devpi.make_index("layouts")
    front = PathProxy(
        {
            "/repository/pypi-internal/simple/": index + "+simple/",
            "/repository/pypi-internal/": index,
            "/artifactory/api/pypi/pypi-local/simple/": index + "+simple/",
            "/artifactory/api/pypi/pypi-local": index.rstrip("/"),
            "/artifactory/api/npm/npm-local/": fresh_verdaccio.url,
        }
    ).start()
    try:
        nexus = front.url("/repository/pypi-internal/")
        artifactory_npm = front.url("/artifactory/api/npm/npm-local/")
        home = tmp_path / "home"
        home.mkdir()
        (home / ".npmrc").write_text(npmrc_for(artifactory_npm, fresh_verdaccio.token))
        creds = {"TWINE_USERNAME": devpi.username, "TWINE_PASSWORD": devpi.password}
        proc = _push(
            made, home, "--to", nexus, "--ecosystem", "pypi", "--to", artifactory_npm, extra=creds
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = _report(proc)
        assert report["counts"]["pushed"] > 0
        assert {t.split()[0] for t in report["targets"]} == {"nexus", "artifactory"}
        # every request went through the layouts' own paths
        assert any(
            m == "POST" and p.startswith("/repository/pypi-internal/") for m, p in front.requests
        )
        assert any(
            m == "PUT" and p.startswith("/artifactory/api/npm/npm-local/")
            for m, p in front.requests
        )

        # stock pip through the Nexus layout, npm through the Artifactory one
        target = tmp_path / "site"
        pip = _pip(
            ["install", "--target", str(target), "--index-url", nexus + "simple/", "app"],
            tmp_path,
        )
        assert pip.returncode == 0, pip.stdout + pip.stderr
        project = _project(made, tmp_path / "web")
        (project / ".npmrc").write_text(npmrc_for(artifactory_npm, fresh_verdaccio.token))
        npm = _npm(["ci", "--replace-registry-host=always", "--registry", artifactory_npm], project)
        assert npm.returncode == 0, npm.stdout + npm.stderr

        # Artifactory's Python layout: the URL as twine is given it, no slash
        artifactory_pypi = front.url("/artifactory/api/pypi/pypi-local")
        again = _push(made, home, "--to", artifactory_pypi, extra=creds)
        assert again.returncode == 0, again.stdout + again.stderr
        counts = _counts(again)
        assert counts["pushed"] == 0 and counts["held"] == len(
            _bundle_names(made, "python-packages")
        )
        assert _report(again)["unpushed"] == {"npm": len(_bundle_names(made, "npm-packages")) - 2}
    finally:
        front.stop()


def _wheel(made: Path) -> dict[str, object]:
    return next(f for f in manifest_of(made)["files"] if f["path"].endswith(".whl"))


def test_a_file_held_with_other_bytes_is_a_conflict_and_stays(
    made: Path, devpi: DevpiServer, tmp_path: Path
) -> None:
    index = devpi.make_index("conflict")
    wheel = _wheel(made)
    name = str(wheel["path"]).rpartition("/")[2]
    other = tmp_path / name  # the same wheel, other bytes: a zip comment added
    with zipfile.ZipFile(made) as zf:
        other.write_bytes(zf.read(f"bundle/{wheel['path']}"))
    with zipfile.ZipFile(other, "a") as zf:
        zf.comment = b"not the bundle's"
    assert legacy_upload(index, other, devpi.username, devpi.password).status_code == 200
    theirs = hashlib.sha256(other.read_bytes()).hexdigest()

    home = tmp_path / "home"
    home.mkdir()
    url = f"http://{devpi.username}:{devpi.password}@{index.removeprefix('http://')}"
    proc = _push(made, home, "--to", url)
    assert proc.returncode == int(ExitCode.INTEGRITY), proc.stdout + proc.stderr
    report = _report(proc)
    conflicts = [f for f in report["files"] if f["status"] == "conflict"]
    assert [f["filename"] for f in conflicts] == [name]
    assert theirs in conflicts[0]["detail"]
    assert devpi.password not in proc.stdout + proc.stderr
    # never overwritten: the index still serves its own bytes; the rest went in
    page = _devpi_page(index + "+simple/", str(wheel["package"]))
    assert f"{name}#sha256={theirs}" in page
    assert report["counts"]["pushed"] == len(_bundle_names(made, "python-packages")) - 1

    human = subprocess.run(
        [*FERRY, "push", str(made), "--to", url],
        env=clean_env(home),
        cwd=home,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert f"conflict  {name}: held with other bytes (sha256 {theirs})" in human.stdout
    assert human.returncode == int(ExitCode.INTEGRITY)


def test_a_bad_bundle_sends_nothing(made: Path, devpi: DevpiServer, tmp_path: Path) -> None:
    index = devpi.make_index("refused")
    wheel = str(_wheel(made)["path"])

    def flip(name: str, data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 1]) if name == wheel else data

    bad = repack(made, tmp_path / "tampered.zip", flip)
    home = tmp_path / "home"
    home.mkdir()
    creds = {"TWINE_USERNAME": devpi.username, "TWINE_PASSWORD": devpi.password}
    proc = _push(bad, home, "--to", index, "--kind", "devpi", extra=creds)
    assert proc.returncode == int(ExitCode.INTEGRITY)
    assert f"{wheel} has sha256" in proc.stderr and "SHA256SUMS says" in proc.stderr
    assert _devpi_names(index) == []


def _devpi_names(index: str) -> list[str]:
    """The projects an index holds, from devpi's JSON API."""
    doc = httpx.get(index, headers={"Accept": "application/json"}, timeout=30).json()
    return sorted(doc["result"]["projects"])


def test_refused_credentials_stop_the_push_with_a_clear_word(
    made: Path, devpi: DevpiServer, tmp_path: Path
) -> None:
    index = devpi.make_index("wrong-password")
    home = tmp_path / "home"
    home.mkdir()
    creds = {"TWINE_USERNAME": devpi.username, "TWINE_PASSWORD": "not-the-password"}
    proc = _push(made, home, "--to", index, "--kind", "devpi", extra=creds)
    assert proc.returncode == int(ExitCode.NETWORK), proc.stdout + proc.stderr
    assert "refused these (HTTP 401)" in proc.stderr or "refused these (HTTP 403)" in proc.stderr
    assert "Traceback" not in proc.stderr and "not-the-password" not in proc.stderr
    assert _devpi_names(index) == []


def test_dry_run_reads_and_sends_nothing(made: Path, devpi: DevpiServer, tmp_path: Path) -> None:
    index = devpi.make_index("dry-run")
    home = tmp_path / "home"
    home.mkdir()
    creds = {"TWINE_USERNAME": devpi.username, "TWINE_PASSWORD": devpi.password}
    proc = _push(made, home, "--to", index, "--dry-run", extra=creds)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = _counts(proc)
    assert counts["would-push"] == len(_bundle_names(made, "python-packages"))
    assert counts["pushed"] == 0
    assert _devpi_names(index) == []


def test_an_older_version_does_not_take_latest(
    made: Path, fresh_verdaccio: Verdaccio, tmp_path: Path
) -> None:
    """The registry has app@2.0.0; pushing the bundle's app@1.0.0 adds it under another
    dist-tag, and `npm install app` still gets 2.0.0."""
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "package.json").write_text(json.dumps({"name": "app", "version": "2.0.0"}))
    (newer / ".npmrc").write_text(fresh_verdaccio.npmrc)
    published = _npm(["publish", "--registry", fresh_verdaccio.url], newer)
    assert published.returncode == 0, published.stdout + published.stderr

    home = tmp_path / "home"
    home.mkdir()
    (home / ".npmrc").write_text(fresh_verdaccio.npmrc)
    proc = _push(made, home, "--to", fresh_verdaccio.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = httpx.get(
        fresh_verdaccio.url + "app",
        headers={"Authorization": f"Bearer {fresh_verdaccio.token}"},
        timeout=30,
    ).json()
    assert set(doc["versions"]) == {"1.0.0", "2.0.0"}
    assert doc["dist-tags"]["latest"] == "2.0.0"
    assert doc["dist-tags"][OTHER_TAG] == "1.0.0"
    # a package the registry did not have gets latest, as npm publish gives it
    native = httpx.get(
        fresh_verdaccio.url + "@demo%2fnative",
        headers={"Authorization": f"Bearer {fresh_verdaccio.token}"},
        timeout=30,
    ).json()
    assert native["dist-tags"]["latest"] == "1.0.0"


def test_a_delta_bundles_absent_files_must_be_there(
    made: Path, devpi: DevpiServer, tmp_path: Path
) -> None:
    """A delta bundle pushed where the files it left out are not: those are reported
    missing (exit 6), the rest still goes in."""
    wheel = str(_wheel(made)["path"])

    def mark(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        doc = json.loads(data)
        for record in doc["files"]:
            if record["path"] == wheel:
                record["present"] = True
        return json.dumps(doc).encode()

    delta = repack(made, tmp_path / "delta.zip", mark, fix_sums=True, drop=frozenset({wheel}))
    index = devpi.make_index("delta")
    home = tmp_path / "home"
    home.mkdir()
    creds = {"TWINE_USERNAME": devpi.username, "TWINE_PASSWORD": devpi.password}
    proc = _push(delta, home, "--to", index, "--kind", "devpi", extra=creds)
    assert proc.returncode == int(ExitCode.NETWORK), proc.stdout + proc.stderr
    report = _report(proc)
    missing = [f["filename"] for f in report["files"] if f["status"] == "missing"]
    assert missing == [wheel.rpartition("/")[2]]
    assert report["counts"]["pushed"] == len(_bundle_names(made, "python-packages")) - 1


def test_an_upload_the_index_then_does_not_list_has_failed(
    made: Path, devpi: DevpiServer, tmp_path: Path
) -> None:
    """An index that answers 200 to every upload but lists from elsewhere (a proxy in
    front of the wrong repository, a replica lagging behind): the answer is not taken for
    it, the listing read back is, and every file it does not show has failed."""
    takes = devpi.make_index("takes-uploads")
    lists = devpi.make_index("lists-nothing")
    front = PathProxy(
        {"/repository/split/simple/": lists + "+simple/", "/repository/split/": takes}
    ).start()
    try:
        home = tmp_path / "home"
        home.mkdir()
        creds = {"TWINE_USERNAME": devpi.username, "TWINE_PASSWORD": devpi.password}
        to = front.url("/repository/split/")
        proc = _push(made, home, "--to", to, "--ecosystem", "pypi", extra=creds)
    finally:
        front.stop()
    assert proc.returncode != 0, proc.stdout + proc.stderr
    report = _report(proc)
    wheels = _bundle_names(made, "python-packages")
    failed = [f for f in report["files"] if f["status"] == "failed"]
    assert sorted(f["filename"] for f in failed) == wheels
    assert {f["detail"] for f in failed} == {"uploaded, but the index does not list it"}
    assert report["counts"]["pushed"] == 0
    # the uploads did reach the index that took them
    page = _devpi_page(takes + "+simple/", str(_wheel(made)["package"]))
    assert str(_wheel(made)["path"]).rpartition("/")[2] in page
