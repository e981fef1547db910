"""Proof that the test npm registry and its tarballs are real: the machine's npm resolves,
locks, downloads, verifies and installs from it over HTTP on 127.0.0.1, with an isolated
npm configuration (this machine's ~/.npmrc must not matter)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.npmregistry import (
    ABBREVIATED,
    CORGI_ACCEPT,
    LocalRegistry,
    PublishedVersion,
    build_tarball,
    integrity,
    semver_key,
    shasum,
    wants_abbreviated,
)

NPM = shutil.which("npm")
NODE = shutil.which("node")
needs_npm = pytest.mark.skipif(NPM is None or NODE is None, reason="npm/node not on PATH")

PLATFORM_PKGS = {
    "@demo/native-linux-x64": (["linux"], ["x64"]),
    "@demo/native-win32-x64": (["win32"], None),
    "@demo/native-darwin-arm64": (["darwin"], ["arm64"]),
}


def npm_env(tmp: Path, registry: LocalRegistry) -> dict[str, str]:
    """npm with nothing inherited: no user/global npmrc, own cache, only our registry."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith("npm_config_") and not k.lower().endswith("_proxy")
    }
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "npmrc").write_text("")
    env.update(
        npm_config_userconfig=str(tmp / "npmrc"),
        npm_config_globalconfig=str(tmp / "global-npmrc"),
        npm_config_cache=str(tmp / "cache"),
        npm_config_registry=registry.url,
        npm_config_audit="false",
        npm_config_fund="false",
        npm_config_update_notifier="false",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def npm(
    args: list[str], cwd: Path, env: dict[str, str], *, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    proc = subprocess.run(
        [NPM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if ok:
        assert proc.returncode == 0, f"npm {args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def write_project(path: Path, lock: dict[str, Any] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "proj", "version": "0.0.0", "dependencies": {"app": "^1.0.0"}}
    (path / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if lock is not None:
        (path / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    return path


@dataclass
class Graph:
    registry: LocalRegistry
    pkgs: Path
    published: dict[str, PublishedVersion]  # "name@version" → what publish() returned


def publish_graph(registry: LocalRegistry, pkgs: Path) -> Graph:
    """app → lib@^2 → dep, plus a deprecated, an engine-restricted and a scripted package and
    an optional native package whose per-platform builds are optional dependencies."""
    out: dict[str, PublishedVersion] = {}

    def pub(tarball: Path, **kw: Any) -> None:
        p = registry.publish(tarball, **kw)
        out[f"{p.name}@{p.version}"] = p

    app_js = (
        "const lib = require('lib');\n"
        "module.exports = {name: 'app', lib: lib.name, dep: lib.dep};\n"
    )
    lib_js = "module.exports = {name: 'lib', dep: require('dep').version};\n"
    pub(
        build_tarball(
            pkgs,
            "app",
            "1.0.0",
            dependencies={"lib": "^2.0.0", "old": "^1.0.0", "future": "^1.0.0", "scripted": "1"},
            optional_dependencies={"@demo/native": "^1.0.0"},
            files={"index.js": app_js},
        )
    )
    pub(build_tarball(pkgs, "app", "1.1.0-beta.1"))  # never chosen: prerelease
    pub(build_tarball(pkgs, "lib", "1.5.0", files={"index.js": lib_js}))
    pub(build_tarball(pkgs, "lib", "2.0.0", dependencies={"dep": "*"}, files={"index.js": lib_js}))
    pub(build_tarball(pkgs, "dep", "1.2.3"))
    pub(build_tarball(pkgs, "old", "1.0.0"), deprecated="old is unmaintained, use new")
    pub(build_tarball(pkgs, "future", "1.0.0", engines={"node": ">=99"}))
    pub(
        build_tarball(
            pkgs, "scripted", "1.0.0", scripts={"postinstall": 'node -e "process.exit(1)"'}
        )
    )
    pub(
        build_tarball(
            pkgs,
            "@demo/native",
            "1.0.0",
            optional_dependencies=dict.fromkeys(PLATFORM_PKGS, "1.0.0"),
        )
    )
    for name, (os_, cpu) in PLATFORM_PKGS.items():
        pub(build_tarball(pkgs, name, "1.0.0", os=os_, cpu=cpu))
    return Graph(registry, pkgs, out)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    with LocalRegistry() as registry:
        yield publish_graph(registry, tmp_path_factory.mktemp("pkgs"))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


@dataclass
class Locked:
    lock: dict[str, Any]
    stderr: str
    requests: list[tuple[str, str]]
    headers: list[dict[str, str]]


@pytest.fixture(scope="module")
def locked(graph: Graph, tmp_path_factory: pytest.TempPathFactory) -> Locked:
    """One `npm install --package-lock-only` shared by the npm tests (it is the slow part)."""
    if NPM is None or NODE is None:
        pytest.skip("npm/node not on PATH")
    tmp = tmp_path_factory.mktemp("lock")
    graph.registry.clear_log()
    proj = write_project(tmp / "proj")
    proc = npm(
        ["install", "--package-lock-only", "--ignore-scripts"], proj, npm_env(tmp, graph.registry)
    )
    lock = json.loads((proj / "package-lock.json").read_text())
    assert not (proj / "node_modules").exists()
    return Locked(lock, proc.stderr, graph.registry.requests, graph.registry.request_headers())


# ------------------------------------------------------------------- tarballs themselves


def test_tarball_layout_fields_and_determinism(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {
        "dependencies": {"dep": "^1.0.0"},
        "optional_dependencies": {"opt": "1"},
        "peer_dependencies": {"peer": ">=2"},
        "dev_dependencies": {"devdep": "3"},
        "engines": {"node": ">=18"},
        "os": ["linux"],
        "cpu": ["x64"],
        "libc": ["glibc"],
        "scripts": {"postinstall": "node setup.js"},
        "bin": {"tool": "bin/tool.js"},
        "files": {"index.js": "module.exports = 1;\n", "bin/tool.js": "#!/usr/bin/env node\n"},
    }
    tgz = build_tarball(tmp_path, "@scope/thing", "1.2.3-rc.1", **kwargs)
    assert tgz == tmp_path / "@scope" / "thing-1.2.3-rc.1.tgz"
    raw = tgz.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(tgz) as tf:
        members = {m.name: m for m in tf.getmembers()}
        manifest = json.loads(tf.extractfile("package/package.json").read())  # type: ignore[union-attr]
    assert list(members) == ["package/package.json", "package/bin/tool.js", "package/index.js"]
    assert members["package/bin/tool.js"].mode == 0o755
    assert {m.mtime for m in members.values()} == {499162500}
    assert manifest["name"] == "@scope/thing" and manifest["version"] == "1.2.3-rc.1"
    assert manifest["dependencies"] == {"dep": "^1.0.0"}
    assert manifest["optionalDependencies"] == {"opt": "1"}
    assert manifest["peerDependencies"] == {"peer": ">=2"}
    assert manifest["devDependencies"] == {"devdep": "3"}
    assert manifest["engines"] == {"node": ">=18"}
    assert (manifest["os"], manifest["cpu"], manifest["libc"]) == (["linux"], ["x64"], ["glibc"])
    assert manifest["scripts"] == {"postinstall": "node setup.js"}
    assert manifest["bin"] == {"tool": "bin/tool.js"}

    again = build_tarball(tmp_path / "again", "@scope/thing", "1.2.3-rc.1", **kwargs)
    assert again.read_bytes() == raw
    assert integrity(tgz) == "sha512-" + base64.b64encode(hashlib.sha512(raw).digest()).decode()
    assert shasum(tgz) == hashlib.sha1(raw).hexdigest()

    plain = build_tarball(tmp_path, "plain", "0.1.0")
    assert plain == tmp_path / "plain-0.1.0.tgz"
    with tarfile.open(plain) as tf:
        index_js = tf.extractfile("package/index.js").read().decode()  # type: ignore[union-attr]
    assert index_js == 'module.exports = {"name": "plain", "version": "0.1.0"};\n'


def test_semver_order_and_latest(tmp_path: Path) -> None:
    spec_order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.9.0",
        "1.10.0",
        "10.0.0",
    ]
    assert sorted(reversed(spec_order), key=semver_key) == spec_order
    assert semver_key("1.0.0+build.5") == semver_key("1.0.0")
    with pytest.raises(ValueError):
        semver_key("1.0")

    with LocalRegistry() as reg:
        reg.publish(build_tarball(tmp_path, "p", "2.0.0-beta.1"))
        assert _tags(reg, "p")["latest"] == "2.0.0-beta.1"  # only prereleases so far
        for v in ("1.9.0", "1.10.0", "2.0.0-rc.1"):
            reg.publish(build_tarball(tmp_path, "p", v))
        assert _tags(reg, "p")["latest"] == "1.10.0"
        reg.dist_tag("p", "next", "2.0.0-rc.1")
        reg.publish(build_tarball(tmp_path, "p", "2.0.0"))
        assert _tags(reg, "p") == {"latest": "2.0.0", "next": "2.0.0-rc.1"}
        reg.unpublish("p", "2.0.0")
        assert _tags(reg, "p")["latest"] == "1.10.0"


def _tags(reg: LocalRegistry, name: str) -> dict[str, str]:
    with httpx.Client(trust_env=False) as c:
        tags: dict[str, str] = c.get(reg.packument_url(name)).json()["dist-tags"]
        return tags


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CORGI_ACCEPT, True),
        (ABBREVIATED, True),
        ("application/json", False),
        ("*/*", False),
        (None, False),
        ("", False),
        (f"{ABBREVIATED};q=0, application/json", False),
        (f"application/json, {ABBREVIATED};q=0.5", False),
        (f"application/json;q=0.5, {ABBREVIATED};q=0.9", True),
    ],
)
def test_wants_abbreviated(accept: str | None, expected: bool) -> None:
    assert wants_abbreviated(accept) is expected


# ------------------------------------------------------------------- (d) the HTTP surface


def test_abbreviated_and_full_packuments(graph: Graph, client: httpx.Client) -> None:
    reg = graph.registry
    corgi = client.get(f"{reg.base}/scripted", headers={"Accept": CORGI_ACCEPT})
    assert corgi.status_code == 200
    assert corgi.headers["content-type"] == ABBREVIATED
    assert "Accept" in corgi.headers["vary"]
    doc = corgi.json()
    assert set(doc) == {"name", "modified", "dist-tags", "versions"}
    v = doc["versions"]["1.0.0"]
    published = graph.published["scripted@1.0.0"]
    assert v["hasInstallScript"] is True
    assert "scripts" not in v and "description" not in v and "_id" not in v
    assert v["dist"] == {
        "tarball": published.tarball_url,
        "integrity": published.integrity,
        "shasum": published.shasum,
        "fileCount": 2,
        "unpackedSize": v["dist"]["unpackedSize"],
    }
    assert v["dist"]["unpackedSize"] > 0

    full = client.get(f"{reg.base}/scripted")  # httpx sends */*
    assert full.headers["content-type"] == "application/json"
    fdoc = full.json()
    assert fdoc["_id"] == "scripted" and fdoc["dist-tags"] == {"latest": "1.0.0"}
    assert set(fdoc["time"]) == {"created", "modified", "1.0.0"}
    assert fdoc["time"]["1.0.0"].endswith("Z")
    fv = fdoc["versions"]["1.0.0"]
    assert fv["_id"] == "scripted@1.0.0" and fv["description"]
    assert fv["scripts"] == {"postinstall": 'node -e "process.exit(1)"'}
    assert fv["dist"]["integrity"] == published.integrity

    # Deprecation, engines and platform fields are in both forms (npm needs them to choose).
    for accept in (CORGI_ACCEPT, "application/json"):
        old = client.get(f"{reg.base}/old", headers={"Accept": accept}).json()
        assert old["versions"]["1.0.0"]["deprecated"] == "old is unmaintained, use new"
        fut = client.get(f"{reg.base}/future", headers={"Accept": accept}).json()
        assert fut["versions"]["1.0.0"]["engines"] == {"node": ">=99"}
        nat = client.get(reg.packument_url("@demo/native-darwin-arm64"), headers={"Accept": accept})
        nv = nat.json()["versions"]["1.0.0"]
        assert (nv["os"], nv["cpu"]) == (["darwin"], ["arm64"])

    app = client.get(f"{reg.base}/app", headers={"Accept": CORGI_ACCEPT}).json()
    assert app["dist-tags"] == {"latest": "1.0.0"}
    assert list(app["versions"]) == ["1.0.0", "1.1.0-beta.1"]
    assert app["versions"]["1.0.0"]["optionalDependencies"] == {"@demo/native": "^1.0.0"}

    # ETag revalidation, as npm's cache does it.
    again = client.get(f"{reg.base}/scripted", headers={"If-None-Match": full.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_scoped_urls_versions_and_404(graph: Graph, client: httpx.Client) -> None:
    reg = graph.registry
    assert reg.packument_url("@demo/native") == f"{reg.base}/@demo%2fnative"
    bodies = {
        path: client.get(reg.base + path, headers={"Accept": CORGI_ACCEPT}).json()
        for path in ("/@demo%2fnative", "/@demo%2Fnative", "/@demo/native")
    }
    assert all(b["name"] == "@demo/native" for b in bodies.values())
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1
    tarball_url = bodies["/@demo/native"]["versions"]["1.0.0"]["dist"]["tarball"]
    assert tarball_url == f"{reg.base}/@demo/native/-/native-1.0.0.tgz"

    for path in ("/lib/2.0.0", "/lib/latest", "/@demo%2fnative/1.0.0", "/@demo/native/1.0.0"):
        r = client.get(reg.base + path)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", path
        assert r.json()["version"] in {"2.0.0", "1.0.0"}
        assert r.json()["dist"]["tarball"].startswith(reg.base)

    for path in ("/nope", "/@demo%2fnope", "/@demo/nope/-/nope-1.0.0.tgz", "/lib/-/lib-9.tgz"):
        r = client.get(reg.base + path, headers={"Accept": CORGI_ACCEPT})
        assert r.status_code == 404, path
        assert r.json() == {"error": "Not found"}
    missing = client.get(f"{reg.base}/lib/9.9.9")
    assert missing.status_code == 404 and missing.json() == "version not found: 9.9.9"


def test_tarball_range_head_and_etag(graph: Graph, client: httpx.Client) -> None:
    pub = graph.published["@demo/native-linux-x64@1.0.0"]
    data = pub.path.read_bytes()
    size = len(data)

    full = client.get(pub.tarball_url)
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-length"] == str(size)
    assert full.headers["accept-ranges"] == "bytes"
    etag = full.headers["etag"]

    part = client.get(pub.tarball_url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}"
    tail = client.get(pub.tarball_url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    bad = client.get(pub.tarball_url, headers={"Range": f"bytes={size}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{size}"

    head = client.head(pub.tarball_url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size) and head.headers["etag"] == etag
    phead = client.head(graph.registry.packument_url("@demo/native"))
    assert phead.status_code == 200 and phead.content == b""
    assert int(phead.headers["content-length"]) > 0

    assert client.get(pub.tarball_url, headers={"If-None-Match": etag}).status_code == 304
    # The scope separator may arrive escaped in tarball URLs too.
    escaped = pub.tarball_url.replace("@demo/", "@demo%2f")
    assert client.get(escaped).content == data


def test_faults_and_log(tmp_path: Path, client: httpx.Client) -> None:
    with LocalRegistry() as reg:
        pub = reg.publish(build_tarball(tmp_path, "@s/x", "1.0.0"))
        data = pub.path.read_bytes()

        reg.corrupt("@s/x", "1.0.0")
        bad = client.get(pub.tarball_url)
        assert len(bad.content) == len(data) and bad.content != data
        assert gzip.decompress(bad.content) == gzip.decompress(data)  # still a good archive
        assert bad.headers["etag"] == f'"{pub.shasum}"'
        reg.corrupt("@s/x", "1.0.0", how="body")
        body = client.get(pub.tarball_url).content
        assert len(body) == len(data) and body != data
        with pytest.raises(Exception):  # noqa: B017 - zlib.error or BadGzipFile, either will do
            gzip.decompress(body)
        corgi = client.get(reg.packument_url("@s/x"), headers={"Accept": CORGI_ACCEPT}).json()
        assert corgi["versions"]["1.0.0"]["dist"]["integrity"] == pub.integrity
        reg.corrupt("@s/x", "1.0.0", on=False)
        assert client.get(pub.tarball_url).content == data

        reg.fail("@s/x", "1.0.0", times=2, status=502)
        assert [client.get(pub.tarball_url).status_code for _ in range(3)] == [502, 502, 200]
        reg.fail("@s/x", None, times=1)
        assert client.get(reg.packument_url("@s/x")).status_code == 503
        assert client.get(f"{reg.base}/@s/x").status_code == 200

        audit = client.post(
            f"{reg.base}/-/npm/v1/security/advisories/bulk",
            content=gzip.compress(b'{"@s/x":["1.0.0"]}'),
            headers={"Content-Encoding": "gzip"},
        )
        assert audit.status_code == 200 and audit.json() == {}
        assert client.get(f"{reg.base}/-/ping").status_code == 200

        assert reg.count("/@s/x/-/", "GET") == 6
        assert reg.count("/@s%2fx") == 2
        assert reg.count("/-/npm/", "POST") == 1
        accepts = [h["accept"] for h in reg.request_headers("/@s%2fx")]
        assert accepts == [CORGI_ACCEPT, "*/*"]
        reg.clear_log()
        assert reg.requests == [] and reg.request_headers() == []


def test_stop_closes_keepalive_connections(tmp_path: Path) -> None:
    reg = LocalRegistry().start()
    pub = reg.publish(build_tarball(tmp_path, "k", "1.0.0"))
    with httpx.Client(trust_env=False, timeout=5) as c:
        assert c.get(pub.tarball_url).status_code == 200  # leaves a pooled keep-alive connection
        reg.stop()
        with pytest.raises(httpx.TransportError):
            c.get(pub.tarball_url)
    with pytest.raises(RuntimeError):
        reg.start()


# ------------------------------------------------------------------- (a) npm locks


@needs_npm
def test_npm_lock_has_everything_with_local_urls_and_integrity(
    graph: Graph, locked: Locked
) -> None:
    lock = locked.lock
    assert lock["lockfileVersion"] == 3
    pkgs = lock["packages"]
    expected = {
        "app": "1.0.0",
        "lib": "2.0.0",
        "dep": "1.2.3",
        "old": "1.0.0",
        "future": "1.0.0",
        "scripted": "1.0.0",
        "@demo/native": "1.0.0",
        **dict.fromkeys(PLATFORM_PKGS, "1.0.0"),
    }
    assert {k for k in pkgs if k} == {f"node_modules/{n}" for n in expected}
    for name, version in expected.items():
        entry = pkgs[f"node_modules/{name}"]
        pub = graph.published[f"{name}@{version}"]
        assert entry["version"] == version
        assert entry["resolved"] == pub.tarball_url
        assert entry["resolved"].startswith("http://127.0.0.1:")
        assert entry["integrity"] == pub.integrity == integrity(pub.path)

    # Optional platform builds: all three are locked (the lock is platform-neutral), each
    # carrying os/cpu so `npm ci` can skip the foreign ones without asking the registry.
    for name, (os_, cpu) in PLATFORM_PKGS.items():
        entry = pkgs[f"node_modules/{name}"]
        assert entry["optional"] is True
        assert entry["os"] == os_
        assert entry.get("cpu") == cpu
    assert pkgs["node_modules/@demo/native"]["optional"] is True  # optional dep of app
    assert pkgs["node_modules/scripted"]["hasInstallScript"] is True
    assert pkgs["node_modules/old"]["deprecated"] == "old is unmaintained, use new"
    assert pkgs["node_modules/future"]["engines"] == {"node": ">=99"}
    assert "optional" not in pkgs["node_modules/lib"]

    # npm 11 builds the ideal tree from *full* packuments (Accept: application/json); the
    # corgi is only used to inflate old lockfiles.  Scoped names come escaped.
    packument_gets = [p for m, p in locked.requests if m == "GET" and "/-/" not in p]
    assert sorted(packument_gets) == sorted("/" + n.replace("/", "%2f") for n in expected)
    assert {h["accept"] for h in locked.headers} <= {"application/json", CORGI_ACCEPT}
    assert {h.get("npm-command") for h in locked.headers} == {"install"}
    assert not any("/-/" in p for _, p in locked.requests)  # no tarballs, no audit

    # Engines mismatch: a warning only (engine-strict is off); the deprecation warning is
    # *not* printed by --package-lock-only in npm 11 — only reify (ci/install) prints it.
    assert "npm warn EBADENGINE Unsupported engine" in locked.stderr
    assert "package: 'future@1.0.0'" in locked.stderr
    assert "required: { node: '>=99' }" in locked.stderr


@needs_npm
def test_npm_engine_strict_refuses(graph: Graph, tmp_path: Path) -> None:
    proj = write_project(tmp_path / "proj")
    env = npm_env(tmp_path, graph.registry)
    proc = npm(
        ["install", "--package-lock-only", "--ignore-scripts", "--engine-strict"],
        proj,
        env,
        ok=False,
    )
    assert proc.returncode != 0
    assert "EBADENGINE" in proc.stderr and "future@1.0.0" in proc.stderr


# ------------------------------------------------------------------- (b) npm ci installs


@needs_npm
def test_npm_ci_installs_for_this_platform(graph: Graph, locked: Locked, tmp_path: Path) -> None:
    reg = graph.registry
    proj = write_project(tmp_path / "ci", locked.lock)
    reg.clear_log()
    proc = npm(["ci", "--ignore-scripts"], proj, npm_env(tmp_path, reg))
    requests = reg.requests

    assert NODE is not None
    out = subprocess.run(
        [NODE, "-e", "console.log(JSON.stringify(require('app')))"],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(out.stdout) == {"name": "app", "lib": "lib", "dep": "1.2.3"}

    nm = proj / "node_modules"
    assert (nm / "@demo/native-linux-x64/package.json").is_file()
    assert not (nm / "@demo/native-win32-x64").exists()
    assert not (nm / "@demo/native-darwin-arm64").exists()
    assert json.loads((nm / "lib/package.json").read_text())["version"] == "2.0.0"
    assert not (nm / "scripted/ran").exists()  # --ignore-scripts

    # With a complete lock, ci fetches tarballs only, and only those for this platform.
    assert all("/-/" in p for _, p in requests), requests
    tarballs = sorted(p for _, p in requests)
    assert "/@demo/native-win32-x64/-/native-win32-x64-1.0.0.tgz" not in tarballs
    assert "/@demo/native-linux-x64/-/native-linux-x64-1.0.0.tgz" in tarballs
    assert len(tarballs) == 8
    assert "npm warn deprecated old@1.0.0: old is unmaintained, use new" in proc.stderr


# ------------------------------------------------------------------- (c) corruption


@needs_npm
def test_npm_ci_rejects_corrupt_tarball(graph: Graph, locked: Locked, tmp_path: Path) -> None:
    reg = graph.registry
    proj = write_project(tmp_path / "ci", locked.lock)
    reg.corrupt("dep", "1.2.3")
    try:
        # A fresh cache (cacache would otherwise satisfy the lock's integrity locally), and
        # no fetch retries: npm retries EINTEGRITY with a 10 s minimum back-off (~70 s total).
        proc = npm(
            ["ci", "--ignore-scripts", "--fetch-retries=0"],
            proj,
            npm_env(tmp_path, reg),
            ok=False,
        )
    finally:
        reg.corrupt("dep", "1.2.3", on=False)
    assert proc.returncode != 0
    assert "EINTEGRITY" in proc.stderr
    assert graph.published["dep@1.2.3"].integrity in proc.stderr
    assert not (proj / "node_modules/dep/package.json").exists()


def test_publish_reads_tarball_manifest(tmp_path: Path) -> None:
    # A tarball whose top folder is not `package/` (old publishes did that) still works, and
    # a binding.gyp gets the implicit install script `npm publish` adds.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tf:
        for name, text in {
            "addon/package.json": json.dumps({"name": "addon", "version": "0.1.0"}),
            "addon/binding.gyp": "{}",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text.encode()))
    path = tmp_path / "addon-0.1.0.tgz"
    path.write_bytes(raw.getvalue())
    with LocalRegistry() as reg, httpx.Client(trust_env=False) as c:
        pub = reg.publish(path, time="2020-01-02T03:04:05.678Z")
        assert (pub.name, pub.version) == ("addon", "0.1.0")
        v = c.get(reg.packument_url("addon"), headers={"Accept": CORGI_ACCEPT}).json()
        assert v["modified"] == "2020-01-02T03:04:05.678Z"
        assert v["versions"]["0.1.0"]["hasInstallScript"] is True
        full = c.get(f"{reg.base}/addon/0.1.0").json()
        assert full["scripts"] == {"install": "node-gyp rebuild"} and full["gypfile"] is True
        assert reg.published() == [pub]
