"""Proof that the test index and its artifacts are real: pip and uv resolve, download,
build and install from them over HTTP on 127.0.0.1, with no network and no machine config."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.pyindex import (
    LocalIndex,
    build_backend_wheel,
    build_sdist,
    build_wheel,
    file_sha256,
    negotiate,
)

VENV_BIN = Path(sys.executable).parent
UV = VENV_BIN / "uv"
PIP = VENV_BIN / "pip"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


def clean_env(tmp_path: Path) -> dict[str, str]:
    """Environment for pip/uv that ignores this machine's pip config, find-links and proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV")) and not k.lower().endswith("_proxy")
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_PYTHON_DOWNLOADS="never",
        NO_PROXY="127.0.0.1,localhost",
        HOME=str(tmp_path / "home"),  # no user-level pip/uv config either
    )
    return env


def run(args: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def fresh_venv(path: Path) -> Path:
    """A new venv with no pip in it (pip runs from outside via --python); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


@pytest.fixture
def idx() -> Iterator[LocalIndex]:
    with LocalIndex() as index:
        yield index


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


@pytest.fixture
def graph(idx: LocalIndex, tmp_path: Path) -> Path:
    """app → lib>=1 → dep; lib 2.0 is newer but yanked; dep exists only as an sdist."""
    dists = tmp_path / "dists"
    idx.add(
        build_wheel(dists, "app", "1.0", requires_dist=["lib>=1"], extras={"cli": ["extra-dep"]})
    )
    idx.add(build_wheel(dists, "lib", "1.0", requires_dist=["dep"], requires_python=">=3.8"))
    idx.add(build_wheel(dists, "lib", "2.0", requires_dist=["dep"]), yanked="broken release")
    idx.add(build_sdist(dists, "dep", "1.0", build_requires=["ferry-test-backend"]))
    idx.add(build_wheel(dists, "extra_dep", "0.5"))
    return dists


# ------------------------------------------------------------------- artifacts themselves


def test_wheel_layout_record_and_tags(tmp_path: Path) -> None:
    tag = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
    whl = build_wheel(
        tmp_path,
        "My.Pkg",
        "1.0",
        tag=tag,
        requires_dist=["a>=1"],
        requires_python=">=3.11",
        extras={"Fast": ['b; sys_platform == "linux"']},
    )
    assert whl.name == f"my_pkg-1.0-{tag}.whl"
    with zipfile.ZipFile(whl) as zf:
        wheel = zf.read("my_pkg-1.0.dist-info/WHEEL").decode()
        meta = zf.read("my_pkg-1.0.dist-info/METADATA").decode()
        rows = list(csv.reader(io.StringIO(zf.read("my_pkg-1.0.dist-info/RECORD").decode())))
        for path, digest, size in rows:
            if path.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = zf.read(path)
            expect = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expect.decode()
            assert int(size) == len(data)
        assert {r[0] for r in rows} == set(zf.namelist())
    assert "Root-Is-Purelib: false" in wheel
    assert "Tag: cp311-cp311-manylinux2014_x86_64" in wheel
    assert "Tag: cp311-cp311-manylinux_2_17_x86_64" in wheel
    assert "Name: My.Pkg" in meta and "Requires-Python: >=3.11" in meta
    assert "Provides-Extra: fast" in meta
    assert 'Requires-Dist: b; (sys_platform == "linux") and extra == "fast"' in meta
    # Reproducible: same inputs, same bytes, same hash.
    again = build_wheel(
        tmp_path / "again",
        "My.Pkg",
        "1.0",
        tag=tag,
        requires_dist=["a>=1"],
        requires_python=">=3.11",
        extras={"Fast": ['b; sys_platform == "linux"']},
    )
    assert file_sha256(again) == file_sha256(whl)


def test_sdist_layout(tmp_path: Path) -> None:
    sdist = build_sdist(
        tmp_path,
        "Some-Tool",
        "2.0",
        requires_dist=["lib>=1"],
        build_requires=["ferry-test-backend"],
    )
    assert sdist.name == "some_tool-2.0.tar.gz"
    with tarfile.open(sdist) as tf:
        names = set(tf.getnames())
        pyproject = tomllib.loads(tf.extractfile("some_tool-2.0/pyproject.toml").read().decode())  # type: ignore[union-attr]
        pkg_info = tf.extractfile("some_tool-2.0/PKG-INFO").read().decode()  # type: ignore[union-attr]
    assert names == {
        "some_tool-2.0/PKG-INFO",
        "some_tool-2.0/pyproject.toml",
        "some_tool-2.0/some_tool/__init__.py",
    }
    assert pyproject["build-system"] == {
        "requires": ["ferry-test-backend"],
        "build-backend": "ferry_test_backend",
    }
    assert pyproject["project"] == {
        "name": "Some-Tool",
        "version": "2.0",
        "dependencies": ["lib>=1"],
    }
    assert "Metadata-Version: 2.2" in pkg_info and "Requires-Dist: lib>=1" in pkg_info
    assert "Dynamic" not in pkg_info


# ------------------------------------------------------------------- (a) uv resolves


def test_uv_compile_resolves_graph_to_pylock(idx: LocalIndex, graph: Path, tmp_path: Path) -> None:
    req = tmp_path / "req.in"
    req.write_text("app\n")
    proc = run(
        [
            UV,
            "pip",
            "compile",
            "--no-config",
            "--index-url",
            idx.url,
            "--format",
            "pylock.toml",
            "--python-version",
            "3.11",
            "--cache-dir",
            tmp_path / "uv-cache",
            req,
        ],
        clean_env(tmp_path),
    )
    lock = tomllib.loads(proc.stdout)
    pkgs = {p["name"]: p for p in lock["packages"]}
    assert {n: p["version"] for n, p in pkgs.items()} == {"app": "1.0", "lib": "1.0", "dep": "1.0"}
    for name, pkg in pkgs.items():
        files = pkg.get("wheels", []) + ([pkg["sdist"]] if "sdist" in pkg else [])
        assert files, name
        for f in files:
            assert f["url"].startswith(f"{idx.base}/files/")
            local = graph / f["url"].rsplit("/", 1)[1]
            assert f["hashes"]["sha256"] == file_sha256(local)
    # PEP 658: wheels were never downloaded, only their .metadata; the yanked 2.0 is untouched.
    assert idx.count("/files/lib-1.0-py3-none-any.whl.metadata") >= 1
    assert idx.count("/files/", "GET") == idx.count("/files/dep-") + sum(
        idx.count(f"/files/{n}")
        for n in ("app-1.0-py3-none-any.whl.metadata", "lib-1.0-py3-none-any.whl.metadata")
    )
    assert idx.count("/files/lib-2.0") == 0
    # dep's static sdist metadata sufficed: no build, so the backend was never even looked up.
    assert idx.count("/simple/ferry-test-backend/") == 0


def test_uv_installs_wheels_with_extras_from_index(
    idx: LocalIndex, graph: Path, tmp_path: Path
) -> None:
    idx.add(build_backend_wheel(graph))  # uv must build dep's sdist this time
    py = fresh_venv(tmp_path / "venv")
    run(
        [
            UV,
            "pip",
            "install",
            "--no-config",
            "--python",
            py,
            "--index-url",
            idx.url,
            "--cache-dir",
            tmp_path / "uv-cache",
            "app[cli]",
        ],
        clean_env(tmp_path),
    )
    out = run(
        [py, "-c", "import app, lib, dep, extra_dep; print(lib.__version__)"], clean_env(tmp_path)
    )
    assert out.stdout.strip() == "1.0"


# ------------------------------------------------------------------- (b) pip downloads


def test_pip_download_matches_advertised_hash(idx: LocalIndex, graph: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    run(
        [PIP, "download", "--no-deps", "--no-cache-dir", "--index-url", idx.url, "-d", dest, "lib"],
        clean_env(tmp_path),
    )
    (got,) = dest.iterdir()
    assert got.name == "lib-1.0-py3-none-any.whl"  # the yanked 2.0 was skipped
    assert file_sha256(got) == file_sha256(graph / got.name)
    assert idx.count("/simple/lib/") >= 1


# ------------------------------------------------------------------- (c) negotiation


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("text/html", "text/html"),
        (PIP_ACCEPT, JSON_TYPE),
        ("application/vnd.pypi.simple.latest+json", JSON_TYPE),
        (
            f"{JSON_TYPE};q=0.1, application/vnd.pypi.simple.v1+html",
            "application/vnd.pypi.simple.v1+html",
        ),
        (f"text/html;q=0.5, {JSON_TYPE};q=0.6", JSON_TYPE),
        (
            f"application/*;q=0.2, {JSON_TYPE};q=0, text/*;q=0.1",
            "application/vnd.pypi.simple.v1+html",
        ),
        ("application/json", None),
        ("text/html;q=0", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_json_and_html_pages(idx: LocalIndex, graph: Path, client: httpx.Client) -> None:
    r = client.get(f"{idx.url}lib/", headers={"Accept": PIP_ACCEPT})
    assert r.status_code == 200 and r.headers["content-type"] == JSON_TYPE
    assert r.headers["vary"] == "Accept"
    doc = r.json()
    assert doc["meta"] == {"api-version": "1.1"} and doc["name"] == "lib"
    assert doc["versions"] == ["1.0", "2.0"]
    files = {f["filename"]: f for f in doc["files"]}
    one, two = files["lib-1.0-py3-none-any.whl"], files["lib-2.0-py3-none-any.whl"]
    assert one["hashes"] == {"sha256": file_sha256(graph / "lib-1.0-py3-none-any.whl")}
    assert one["requires-python"] == ">=3.8" and one["yanked"] is False
    assert two["yanked"] == "broken release"
    assert one["size"] == (graph / "lib-1.0-py3-none-any.whl").stat().st_size
    assert one["upload-time"].endswith("Z")
    meta = client.get(one["url"] + ".metadata")
    assert meta.status_code == 200 and b"Name: lib" in meta.content
    assert one["core-metadata"] == {"sha256": hashlib.sha256(meta.content).hexdigest()}

    page = client.get(f"{idx.url}lib/", headers={"Accept": "text/html"})
    assert page.headers["content-type"] == "text/html"
    text = page.text
    assert f'#sha256={one["hashes"]["sha256"]}"' in text
    assert 'data-requires-python="&gt;=3.8"' in text
    assert 'data-yanked="broken release"' in text
    assert f'data-core-metadata="sha256={one["core-metadata"]["sha256"]}"' in text
    assert f'data-dist-info-metadata="sha256={one["core-metadata"]["sha256"]}"' in text

    # sdists get no PEP 658 metadata, like real indexes.
    dep = client.get(f"{idx.url}dep/", headers={"Accept": JSON_TYPE}).json()
    assert dep["files"][0]["core-metadata"] is False

    root = client.get(idx.url, headers={"Accept": JSON_TYPE}).json()
    assert [p["name"] for p in root["projects"]] == ["app", "dep", "extra-dep", "lib"]
    assert 'href="/simple/extra-dep/"' in client.get(idx.url).text
    assert client.get(f"{idx.url}lib/", headers={"Accept": "application/json"}).status_code == 406


def test_redirects_and_404(idx: LocalIndex, graph: Path, client: httpx.Client) -> None:
    for path in ("/simple/Extra_Dep/", "/simple/extra.dep/", "/simple/extra-dep"):
        r = client.get(idx.base + path)
        assert r.status_code == 301 and r.headers["location"] == "/simple/extra-dep/", path
    r = client.get(f"{idx.url}Extra_Dep/", follow_redirects=True)
    assert r.status_code == 200 and "extra_dep-0.5" in r.text
    assert client.get(f"{idx.url}nope/").status_code == 404
    assert client.get(f"{idx.base}/files/nope.whl").status_code == 404
    assert client.get(f"{idx.base}/files/dep-1.0.tar.gz.metadata").status_code == 404


# ------------------------------------------------------------------- (d) Range, HEAD, ETag


def test_range_head_etag(idx: LocalIndex, graph: Path, client: httpx.Client) -> None:
    art = idx.add(graph / "lib-1.0-py3-none-any.whl")
    data = (graph / art.filename).read_bytes()
    size = len(data)

    r = client.get(art.url, headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == data[:10]
    assert r.headers["content-range"] == f"bytes 0-9/{size}"
    r = client.get(art.url, headers={"Range": "bytes=-22"})  # where a zip's EOCD lives
    assert r.status_code == 206 and r.content == data[-22:]
    assert r.headers["content-range"] == f"bytes {size - 22}-{size - 1}/{size}"
    r = client.get(art.url, headers={"Range": "bytes=10-"})
    assert r.status_code == 206 and r.content == data[10:]
    r = client.get(art.url, headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"

    h = client.head(art.url)
    assert h.status_code == 200 and h.content == b""
    assert int(h.headers["content-length"]) == size and h.headers["accept-ranges"] == "bytes"
    assert h.headers["etag"] == f'"{art.sha256}"'
    assert client.get(art.url, headers={"If-None-Match": h.headers["etag"]}).status_code == 304
    assert client.get(art.url).content == data
    assert ("HEAD", f"/files/{art.filename}") in idx.requests


# ------------------------------------------------------------------- (e) fault switches


def test_corrupt_fail_delay_and_log(idx: LocalIndex, graph: Path, client: httpx.Client) -> None:
    art = idx.add(graph / "app-1.0-py3-none-any.whl")
    idx.corrupt(art.filename)
    bad = client.get(art.url).content
    assert len(bad) == art.size and hashlib.sha256(bad).hexdigest() != art.sha256
    advertised = client.get(f"{idx.url}app/", headers={"Accept": JSON_TYPE}).json()
    assert advertised["files"][0]["hashes"]["sha256"] == art.sha256
    idx.corrupt(art.filename, on=False)
    assert hashlib.sha256(client.get(art.url).content).hexdigest() == art.sha256

    idx.fail(art.filename, times=2, status=503)
    assert [client.get(art.url).status_code for _ in range(3)] == [503, 503, 200]
    idx.fail(art.filename + ".metadata", times=1, status=429)
    assert client.get(art.url + ".metadata").status_code == 429
    assert client.get(art.url + ".metadata").status_code == 200

    idx.delay(0.3)
    start = time.monotonic()
    client.get(idx.url)
    assert time.monotonic() - start >= 0.3
    idx.delay(0)

    idx.clear_log()
    client.get(art.url)
    client.get(art.url)
    assert idx.requests == [("GET", f"/files/{art.filename}")] * 2
    assert idx.count("/files/") == 2 and idx.count("/simple/") == 0


# ------------------------------------------------------------------- (f) offline sdist build


@pytest.mark.slow
def test_sdist_builds_offline_with_test_backend(tmp_path: Path) -> None:
    links = tmp_path / "links"
    build_backend_wheel(links)
    build_wheel(links, "lib", "1.0")
    build_sdist(links, "tool", "3.0", requires_dist=["lib"], build_requires=["ferry-test-backend"])
    # An in-tree backend (backend-path) needs nothing but the sdist itself.
    build_sdist(links, "intree", "0.1", backend_path=["_backend"])
    py = fresh_venv(tmp_path / "venv")
    run(
        [
            PIP,
            "--python",
            py,
            "install",
            "--no-index",
            "--find-links",
            links,
            "--no-cache-dir",
            "tool",
            "intree",
        ],
        clean_env(tmp_path),
    )
    out = run(
        [
            py,
            "-c",
            "import tool, lib, intree; from importlib.metadata import requires; "
            "print(tool.__version__, intree.__version__, requires('tool'))",
        ],
        clean_env(tmp_path),
    )
    assert out.stdout.strip() == "3.0 0.1 ['lib']"


# ------------------------------------------------------------------- (g) platform wheel


@pytest.mark.slow
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="builds an x86_64 manylinux wheel")
def test_platform_wheel_installs(tmp_path: Path) -> None:
    cp = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    links = tmp_path / "links"
    whl = build_wheel(
        links, "native", "1.0", tag=f"{cp}-{cp}-manylinux_2_17_x86_64.manylinux2014_x86_64"
    )
    py = fresh_venv(tmp_path / "venv")
    run(
        [
            PIP,
            "--python",
            py,
            "install",
            "--no-index",
            "--find-links",
            links,
            "--no-cache-dir",
            "native",
        ],
        clean_env(tmp_path),
    )
    out = run([py, "-c", "import native; print(native.__version__)"], clean_env(tmp_path))
    assert out.stdout.strip() == "1.0"
    assert whl.name.endswith("manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    # The same file with a tag this interpreter cannot run is refused, so tags are honoured.
    other = tmp_path / "other"
    build_wheel(other, "alien", "1.0", tag="cp27-cp27mu-manylinux1_i686")
    proc = subprocess.run(
        [
            str(PIP),
            "--python",
            str(py),
            "install",
            "--no-index",
            "--find-links",
            str(other),
            "alien",
        ],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0


def test_stop_closes_keepalive_connections(graph: Path, tmp_path: Path) -> None:
    index = LocalIndex().start()
    art = index.add(graph / "app-1.0-py3-none-any.whl")
    with httpx.Client(trust_env=False, timeout=5) as c:
        assert c.get(art.url).status_code == 200  # leaves a pooled keep-alive connection
        index.stop()
        with pytest.raises(httpx.TransportError):
            c.get(art.url)


def test_json_is_valid_for_every_project(
    idx: LocalIndex, graph: Path, client: httpx.Client
) -> None:
    for name in ("app", "lib", "dep", "extra-dep"):
        body = client.get(f"{idx.url}{name}/", headers={"Accept": JSON_TYPE}).content
        assert json.loads(body)["name"] == name
