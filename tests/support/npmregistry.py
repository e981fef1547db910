"""A local npm registry for tests: real packuments, real tarballs, on 127.0.0.1 only.

Tests must never reach a public registry, yet npm itself and Ferry's own fetcher have to be
exercised against something that behaves like one: full and abbreviated ("corgi")
packuments chosen by Accept, scoped names in both URL spellings, SRI integrity, deprecation,
platform-restricted optional packages, Range and HEAD on tarballs.  So this module builds
genuine npm tarballs (what `npm pack` writes) and serves them from a stdlib threaded HTTP
server on an ephemeral port, mirroring `support.pyindex`.

Factory fixture pattern::

    @pytest.fixture
    def make_registry() -> Iterator[Callable[..., LocalRegistry]]:
        started: list[LocalRegistry] = []

        def make(*tarballs: Path) -> LocalRegistry:
            registry = LocalRegistry().start()
            started.append(registry)
            for path in tarballs:
                registry.publish(path)
            return registry

        yield make
        for registry in started:
            registry.stop()

    def test_resolves(make_registry, tmp_path):
        pkgs = tmp_path / "pkgs"
        registry = make_registry(build_tarball(pkgs, "lib", "1.0.0", dependencies={"dep": "^1"}),
                                 build_tarball(pkgs, "dep", "1.0.0"))
        ...  # point npm (npm_config_registry) or Ferry at registry.url

What npm needs (found by running npm 11.19 against this server and reading the log):
`npm install --package-lock-only` sends one `GET /<name>` per package (scoped names
escaped: `/@scope%2fname`) with `Accept: application/json` — npm 11 builds the ideal tree
from *full* packuments; the corgi Accept (`CORGI_ACCEPT`) is used when inflating old
lockfiles, and a corgi 404 is retried as a full request, so an unknown package is asked for
twice.  `npm ci` from a v3 lock asks for no packuments at all, only the `dist.tarball` URLs
exactly as the lock records them.  Audit (`POST /-/npm/v1/security/advisories/bulk`, gzip
body) happens only when audit is on; nothing else (no ping, no login) is requested.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from support.served import LoopbackHandler, ServedOnLoopback

__all__ = [
    "ABBREVIATED",
    "CORGI_ACCEPT",
    "Corruption",
    "LocalRegistry",
    "PublishedVersion",
    "build_tarball",
    "integrity",
    "semver_key",
    "shasum",
    "wants_abbreviated",
]

ABBREVIATED = "application/vnd.npm.install-v1+json"
# Exactly what pacote (npm's fetcher) sends when it wants the abbreviated document.
CORGI_ACCEPT = f"{ABBREVIATED}; q=1.0, application/json; q=0.8, */*"

# `npm pack` stamps every entry with this date (1985-10-26T08:15:00Z) so that tarballs are
# reproducible; using it too makes ours indistinguishable and byte-for-byte stable.
_NPM_PACK_MTIME = 499162500

_MAINTAINER = {"name": "ferry-tests", "email": "ferry-tests@example.invalid"}
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


# --------------------------------------------------------------------------- tarballs


def integrity(path: Path) -> str:
    """SRI string (`sha512-<base64>`), the form packuments and lockfiles carry."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def shasum(path: Path) -> str:
    """Hex sha1 of a file: the legacy `dist.shasum` every packument still carries."""
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _split_name(name: str) -> tuple[str | None, str]:
    if name.startswith("@"):
        scope, sep, bare = name[1:].partition("/")
        if not sep or not scope or not bare:
            raise ValueError(f"bad scoped package name: {name!r}")
        return scope, bare
    return None, name


def _tarball_filename(name: str, version: str) -> str:
    # The registry names tarballs after the bare name, even for scoped packages.
    return f"{_split_name(name)[1]}-{version}.tgz"


def build_tarball(
    dest: Path,
    name: str,
    version: str,
    *,
    dependencies: Mapping[str, str] | None = None,
    optional_dependencies: Mapping[str, str] | None = None,
    peer_dependencies: Mapping[str, str] | None = None,
    dev_dependencies: Mapping[str, str] | None = None,
    engines: Mapping[str, str] | None = None,
    os: Sequence[str] | None = None,
    cpu: Sequence[str] | None = None,
    libc: Sequence[str] | None = None,
    scripts: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    bin: Mapping[str, str] | None = None,
    description: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an installable npm tarball into `dest` and return its path.

    Every member lives under `package/`, as `npm pack` writes it.  `files` maps
    package-relative paths to text; by default there is one `index.js` exporting name and
    version.  `extra` adds arbitrary package.json fields (e.g. `peerDependenciesMeta`).
    Scoped packages go to `dest/@scope/<bare>-<version>.tgz` so `@a/x` and `x` never clash.
    """
    scope, _ = _split_name(name)
    manifest: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": description if description is not None else f"{name} (Ferry test)",
        "main": "index.js",
        "license": "MIT",
    }
    for key, value in (
        ("dependencies", dependencies),
        ("optionalDependencies", optional_dependencies),
        ("peerDependencies", peer_dependencies),
        ("devDependencies", dev_dependencies),
        ("engines", engines),
        ("scripts", scripts),
        ("bin", bin),
    ):
        if value:
            manifest[key] = dict(value)
    for key, seq in (("os", os), ("cpu", cpu), ("libc", libc)):
        if seq is not None:
            manifest[key] = list(seq)
    manifest.update(extra or {})

    if files is None:
        files = {
            "index.js": f"module.exports = {json.dumps({'name': name, 'version': version})};\n"
        }
    contents: dict[str, bytes] = {"package.json": (json.dumps(manifest, indent=2) + "\n").encode()}
    for rel, text in sorted(files.items()):
        if rel == "package.json":
            continue  # the manifest above is the single source of truth
        contents[rel.lstrip("/")] = text.encode()
    executables = {p.removeprefix("./") for p in (bin or {}).values()}

    folder = dest / f"@{scope}" if scope else dest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _tarball_filename(name, version)
    # package.json first (npm pack does that too), the rest sorted; gzip mtime 0 and fixed
    # headers make the bytes, hence integrity, a pure function of the inputs.
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tf,
    ):
        for rel, data in contents.items():
            info = tarfile.TarInfo(f"package/{rel}")
            info.size, info.mtime = len(data), _NPM_PACK_MTIME
            info.mode = 0o755 if rel in executables else 0o644
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    return path


# --------------------------------------------------------------------------- semver

_SEMVER = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?"
)

Corruption = Literal["header", "body"]

_PreKey = tuple[tuple[int, int | str], ...]


def semver_key(version: str) -> tuple[int, int, int, int, _PreKey]:
    """Sort key for x.y.z[-pre][+build]: a prerelease sorts below its release (semver §11)."""
    match = _SEMVER.fullmatch(version.strip())
    if match is None:
        raise ValueError(f"not a semver version: {version!r}")
    major, minor, patch, pre = match.groups()
    if pre is None:
        return int(major), int(minor), int(patch), 1, ()
    # Numeric identifiers compare numerically and below alphanumeric ones; a shorter
    # identifier list that is a prefix of a longer one sorts first (tuple order does that).
    ids: _PreKey = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), 0, ids


def _is_prerelease(version: str) -> bool:
    return semver_key(version)[3] == 0


# --------------------------------------------------------------------------- negotiation


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            pname, _, value = param.partition("=")
            if pname.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


def wants_abbreviated(accept: str | None) -> bool:
    """True when the client asked for the corgi document.

    It must be named explicitly (a wildcard never selects it, so curl and browsers get the
    full document) and be at least as preferred as `application/json`.
    """
    if not accept:
        return False
    ranges = _accept_ranges(accept)
    corgi = max((q for media, q in ranges if media == ABBREVIATED), default=0.0)
    if corgi <= 0:
        return False
    json_q = 0.0
    best_spec = -1
    for media, q in ranges:
        spec = {"application/json": 2, "application/*": 1, "*/*": 0}.get(media, -1)
        if spec > best_spec:
            best_spec, json_q = spec, q
    return corgi >= json_q


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class PublishedVersion:
    """What `LocalRegistry.publish` registered: enough to assert on URLs and hashes."""

    name: str
    version: str
    tarball_url: str
    integrity: str
    shasum: str
    path: Path


@dataclass
class _Version:
    published: PublishedVersion
    manifest: dict[str, Any]
    filename: str
    file_count: int
    unpacked_size: int
    has_shrinkwrap: bool
    deprecated: str | None
    time: str


@dataclass
class _Package:
    versions: dict[str, _Version] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created: str = ""


@dataclass
class _State:
    packages: dict[str, _Package] = field(default_factory=dict)
    corrupt: dict[tuple[str, str], Corruption] = field(default_factory=dict)
    # (name, version) → (times left, status); version None means the packument.
    failures: dict[tuple[str, str | None], tuple[int, int]] = field(default_factory=dict)
    delay: float = 0.0


def _now() -> str:
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    # The registry's own format: millisecond precision, literal Z.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _read_tarball(path: Path) -> tuple[dict[str, Any], set[str], int]:
    """(package.json, package-relative file paths, unpackedSize) of an npm tarball."""
    manifest: dict[str, Any] | None = None
    names: set[str] = set()
    size = 0
    with tarfile.open(path, "r:gz") as tf:
        for info in tf.getmembers():
            if not info.isfile() or "/" not in info.name:
                continue
            # npm strips whatever the top folder is called (usually `package/`).
            rel = info.name.split("/", 1)[1]
            names.add(rel)
            size += info.size
            if manifest is None and rel == "package.json":
                fh = tf.extractfile(info)
                if fh is not None:
                    manifest = json.loads(fh.read().decode())
    if manifest is None:
        raise ValueError(f"{path.name}: no package.json in the tarball")
    return manifest, names, size


_ABBREVIATED_KEYS = (
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "libc",
    # Real corgis carry these too: npm lockfiles made from corgis contain them.
    "license",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
)


class LocalRegistry(ServedOnLoopback):
    """An npm registry on 127.0.0.1:<ephemeral>; use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        super().__init__(_make_handler(self))

    @property
    def url(self) -> str:
        """The registry URL as npm wants it (trailing slash: npm joins names onto it)."""
        return f"{self.base}/"

    def packument_url(self, name: str) -> str:
        """The URL npm itself requests: the scope separator is escaped (`@s%2fname`)."""
        return f"{self.base}/{name.replace('/', '%2f')}"

    def tarball_url(self, name: str, version: str) -> str:
        return f"{self.base}/{name}/-/{_tarball_filename(name, version)}"

    # -- content

    def publish(
        self,
        tarball: Path,
        *,
        deprecated: str | None = None,
        time: str | None = None,
    ) -> PublishedVersion:
        """Register the version described by the tarball's own package.json.

        Re-publishing a version replaces it (the real registry refuses; tests find replacing
        handy, e.g. to deprecate).  `latest` becomes the highest release version (the
        highest prerelease only while there is no release): npm 11 refuses to publish a
        prerelease without `--tag`, so `latest` on the real registry is rarely a prerelease.
        """
        manifest, contents, unpacked_size = _read_tarball(tarball)
        name, version = manifest.get("name"), manifest.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise ValueError(f"{tarball.name}: package.json lacks name or version")
        semver_key(version)  # reject what npm would reject
        scripts = dict(manifest.get("scripts") or {})
        # `npm publish` adds this for native addons, so registry manifests show it.
        if "binding.gyp" in contents and not (scripts.get("install") or scripts.get("preinstall")):
            scripts["install"] = "node-gyp rebuild"
            manifest["scripts"] = scripts
            manifest["gypfile"] = True
        data = tarball.read_bytes()
        published = PublishedVersion(
            name=name,
            version=version,
            tarball_url=self.tarball_url(name, version),
            integrity="sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            shasum=hashlib.sha1(data).hexdigest(),
            path=tarball,
        )
        entry = _Version(
            published=published,
            manifest=manifest,
            filename=_tarball_filename(name, version),
            file_count=len(contents),
            unpacked_size=unpacked_size,
            has_shrinkwrap="npm-shrinkwrap.json" in contents,
            deprecated=deprecated,
            time=time or _now(),
        )
        with self._lock:
            package = self._state.packages.setdefault(name, _Package())
            package.versions[version] = entry
            package.created = min(v.time for v in package.versions.values())
            self._update_latest(package)
        return published

    def publish_all(self, directory: Path) -> list[PublishedVersion]:
        """Publish every `.tgz` under `directory` (recursively, sorted: deterministic)."""
        return [self.publish(p) for p in sorted(directory.rglob("*.tgz"))]

    def deprecate(self, name: str, version: str, message: str | None) -> None:
        """Set (or with None/"" clear) a version's deprecation, like `npm deprecate`."""
        with self._lock:
            self._state.packages[name].versions[version].deprecated = message or None

    def dist_tag(self, name: str, tag: str, version: str) -> None:
        """Point a dist-tag at a version; `latest` set this way stays until the next publish."""
        with self._lock:
            package = self._state.packages[name]
            if version not in package.versions:
                raise KeyError(f"{name}@{version} is not published")
            package.tags[tag] = version

    def unpublish(self, name: str, version: str | None = None) -> None:
        with self._lock:
            if version is None:
                self._state.packages.pop(name, None)
                return
            package = self._state.packages.get(name)
            if package is None:
                return
            package.versions.pop(version, None)
            package.tags = {t: v for t, v in package.tags.items() if v != version}
            if not package.versions:
                del self._state.packages[name]
            else:
                self._update_latest(package)

    def published(self) -> list[PublishedVersion]:
        with self._lock:
            return [v.published for p in self._state.packages.values() for v in p.versions.values()]

    @staticmethod
    def _update_latest(package: _Package) -> None:
        versions = sorted(package.versions, key=semver_key)
        releases = [v for v in versions if not _is_prerelease(v)]
        package.tags["latest"] = (releases or versions)[-1]

    # -- faults

    def corrupt(
        self, name: str, version: str, on: bool = True, *, how: Corruption = "header"
    ) -> None:
        """Serve the tarball with one flipped byte (same length) while the packument keeps
        advertising the original integrity.

        `how="header"` flips a byte of the gzip header's MTIME, which decompressors ignore:
        the archive still unpacks cleanly, so only an integrity check can notice (npm then
        fails with EINTEGRITY).  `how="body"` flips a byte mid-stream, which the gzip CRC
        also catches (npm then reports a zlib error, Z_DATA_ERROR, not EINTEGRITY).
        """
        with self._lock:
            if on:
                self._state.corrupt[(name, version)] = how
            else:
                self._state.corrupt.pop((name, version), None)

    def fail(self, name: str, version: str | None, times: int, status: int = 503) -> None:
        """The next `times` GETs of that tarball (version None: of the packument, in any
        form) get `status`.  npm retries 5xx with a 10 s minimum back-off, so keep `times`
        small or pass `--fetch-retry-mintimeout` when npm is the client."""
        with self._lock:
            self._state.failures[(name, version)] = (times, status)

    def delay(self, seconds: float) -> None:
        """Sleep this long before every response (slow-network and timeout tests)."""
        with self._lock:
            self._state.delay = seconds

    # -- used by the handler (all state access goes through the lock)

    def _record_request(self, method: str, path: str, headers: Message) -> float:
        self.record_request(method, path, headers)
        with self._lock:
            return self._state.delay

    def _take_failure(self, name: str, version: str | None) -> int | None:
        with self._lock:
            left, status = self._state.failures.get((name, version), (0, 0))
            if left <= 0:
                return None
            self._state.failures[(name, version)] = (left - 1, status)
            return status

    def _full_version(self, entry: _Version) -> dict[str, Any]:
        doc = dict(entry.manifest)
        doc.pop("readme", None)  # the registry hoists readme to the packument's top level
        pub = entry.published
        doc.update(
            _id=f"{pub.name}@{pub.version}",
            _nodeVersion="20.0.0",
            _npmVersion="11.0.0",
            _npmUser=_MAINTAINER,
            maintainers=[_MAINTAINER],
            directories=doc.get("directories", {}),
            _hasShrinkwrap=entry.has_shrinkwrap,
            dist={
                "integrity": pub.integrity,
                "shasum": pub.shasum,
                "tarball": pub.tarball_url,
                "fileCount": entry.file_count,
                "unpackedSize": entry.unpacked_size,
            },
        )
        if _has_install_script(entry.manifest):
            doc["hasInstallScript"] = True
        if entry.deprecated:
            doc["deprecated"] = entry.deprecated
        return doc

    def _abbreviated_version(self, entry: _Version) -> dict[str, Any]:
        full = self._full_version(entry)
        doc = {k: full[k] for k in _ABBREVIATED_KEYS if k in full}
        if not doc.get("_hasShrinkwrap"):
            doc.pop("_hasShrinkwrap", None)
        if not doc.get("directories"):
            doc.pop("directories", None)
        doc["dist"] = full["dist"]
        return doc

    def _packument(self, name: str, *, abbreviated: bool) -> tuple[bytes, str] | None:
        """(body, modified) for a package, or None when it is unknown."""
        with self._lock:
            package = self._state.packages.get(name)
            if package is None:
                return None
            entries = sorted(
                package.versions.values(), key=lambda e: semver_key(e.published.version)
            )
            tags = dict(package.tags)
            created = package.created
            # Snapshot (deprecate() mutates entries); documents are built outside the lock.
            entries = [replace(e) for e in entries]
        modified = max(e.time for e in entries)
        if abbreviated:
            doc: dict[str, Any] = {
                "name": name,
                "modified": modified,
                "dist-tags": tags,
                "versions": {e.published.version: self._abbreviated_version(e) for e in entries},
            }
            return json.dumps(doc).encode(), modified
        latest = next((e for e in entries if e.published.version == tags.get("latest")), None)
        top = latest.manifest if latest else {}
        time_doc = {"created": created, "modified": modified}
        time_doc.update({e.published.version: e.time for e in entries})
        doc = {
            "_id": name,
            "_rev": f"{len(entries)}-{hashlib.sha1(modified.encode()).hexdigest()[:32]}",
            "name": name,
            "description": top.get("description", ""),
            "dist-tags": tags,
            "versions": {e.published.version: self._full_version(e) for e in entries},
            "time": time_doc,
            "maintainers": [_MAINTAINER],
            "license": top.get("license"),
            "readme": top.get("readme", ""),
            "readmeFilename": "",
        }
        return json.dumps(doc).encode(), modified

    def _knows(self, name: str) -> bool:
        with self._lock:
            return name in self._state.packages

    def _version_doc(self, name: str, spec: str) -> bytes | None:
        """`/<name>/<version-or-tag>`: one version's full manifest."""
        with self._lock:
            package = self._state.packages.get(name)
            if package is None:
                return None
            version = package.tags.get(spec, spec)
            entry = package.versions.get(version)
        return json.dumps(self._full_version(entry)).encode() if entry else None

    def _tarball_payload(self, name: str, filename: str) -> tuple[bytes, str, str] | None:
        """(bytes, ETag, version) for a tarball, honouring the corrupt switch."""
        with self._lock:
            package = self._state.packages.get(name)
            entry = None
            if package is not None:
                entry = next((e for e in package.versions.values() if e.filename == filename), None)
            if entry is None:
                return None
            version = entry.published.version
            corrupt = self._state.corrupt.get((name, version))
        data = entry.published.path.read_bytes()
        if corrupt and data:
            flipped = bytearray(data)
            at = 4 if corrupt == "header" and data[:2] == b"\x1f\x8b" else len(data) // 2
            flipped[at] ^= 0xFF
            data = bytes(flipped)
        # The ETag is what the registry *believes* it serves, so corruption stays invisible.
        return data, f'"{entry.published.shasum}"', version


def _has_install_script(manifest: Mapping[str, Any]) -> bool:
    scripts = manifest.get("scripts") or {}
    return any(scripts.get(s) for s in _INSTALL_SCRIPTS)


# --------------------------------------------------------------------------- the server

_NOT_FOUND = b'{"error":"Not found"}'
_AUDIT_QUICK = {
    "actions": [],
    "advisories": {},
    "muted": [],
    "metadata": {
        "vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0},
        "dependencies": 0,
        "devDependencies": 0,
        "optionalDependencies": 0,
        "totalDependencies": 0,
    },
}


def _route(raw_path: str) -> tuple[str, list[str]] | None:
    """(package name, rest segments) for a package URL, or None for anything else.

    npm escapes the scope separator (`/@scope%2fname`), tarball URLs do not
    (`/@scope/name/-/name-1.0.0.tgz`); the real registry accepts both, so do we.
    """
    path = re.sub("%2f", "/", raw_path, flags=re.IGNORECASE)
    segs = [unquote(s) for s in path.split("/")[1:]]
    if segs and segs[-1] == "":
        segs.pop()
    if not segs or segs[0] in ("", "-"):
        return None
    if segs[0].startswith("@"):
        if len(segs) < 2 or not segs[1]:
            return None
        return f"{segs[0]}/{segs[1]}", segs[2:]
    return segs[0], segs[1:]


def _make_handler(registry: LocalRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        served = registry
        server_version = "FerryTestNpmRegistry/1.0"

        def do_HEAD(self) -> None:
            self._handle(head=True)

        def do_GET(self) -> None:
            self._handle(head=False)

        def do_POST(self) -> None:
            self._discard_body()  # unread bodies would corrupt the next keep-alive request
            raw = urlsplit(self.path).path
            delay = registry._record_request("POST", raw, self.headers)
            if delay:
                time.sleep(delay)
            if raw == "/-/npm/v1/security/advisories/bulk":
                return self._json(200, b"{}", head=False)
            if raw == "/-/npm/v1/security/audits/quick":
                return self._json(200, json.dumps(_AUDIT_QUICK).encode(), head=False)
            self._json(HTTPStatus.NOT_FOUND, _NOT_FOUND, head=False)

        def do_PUT(self) -> None:
            # Publishing over HTTP is not offered: tests publish with LocalRegistry.publish.
            self._discard_body()
            registry._record_request("PUT", urlsplit(self.path).path, self.headers)
            self._json(HTTPStatus.METHOD_NOT_ALLOWED, b'{"error":"use publish()"}', head=False)

        def do_DELETE(self) -> None:
            self.do_PUT()

        def _discard_body(self) -> None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():
                            pass  # trailers
                        return
                    self.rfile.read(size + 2)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)

        def _handle(self, *, head: bool) -> None:
            raw = urlsplit(self.path).path
            delay = registry._record_request(self.command, raw, self.headers)
            if delay:
                time.sleep(delay)
            if raw == "/-/ping":
                return self._json(200, b"{}", head=head)
            route = _route(raw)
            if route is None:
                return self._json(HTTPStatus.NOT_FOUND, _NOT_FOUND, head=head)
            name, rest = route
            if not rest:
                return self._packument(name, head=head)
            if len(rest) == 1:
                return self._version(name, rest[0], head=head)
            if len(rest) == 2 and rest[0] == "-":
                return self._tarball(name, rest[1], head=head)
            self._json(HTTPStatus.NOT_FOUND, _NOT_FOUND, head=head)

        def _packument(self, name: str, *, head: bool) -> None:
            if not head:
                status = registry._take_failure(name, None)
                if status is not None:
                    return self._injected(status)
            abbreviated = wants_abbreviated(self.headers.get("Accept"))
            found = registry._packument(name, abbreviated=abbreviated)
            if found is None:
                return self._json(HTTPStatus.NOT_FOUND, _NOT_FOUND, head=head)
            body, modified = found
            etag = f'W/"{hashlib.sha1(body).hexdigest()}"'
            if self.headers.get("If-None-Match") == etag:
                return self._send(HTTPStatus.NOT_MODIFIED, b"", head=True, etag=etag)
            kind = ABBREVIATED if abbreviated else "application/json"
            last_modified = datetime.strptime(modified, "%Y-%m-%dT%H:%M:%S.%fZ")
            self._send(
                200,
                body,
                kind,
                head=head,
                etag=etag,
                extra={
                    "Vary": "Accept, Accept-Encoding",
                    # Revalidate every time: tests publish between npm runs that share a
                    # cache, and heuristic freshness from Last-Modified would hide that.
                    "Cache-Control": "no-cache",
                    "Last-Modified": last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                },
            )

        def _version(self, name: str, spec: str, *, head: bool) -> None:
            body = registry._version_doc(name, spec)
            if body is None:
                known = registry._knows(name)
                msg = f"version not found: {spec}" if known else "Not found"
                # Like the real registry: a bare JSON string for a missing version.
                doc = json.dumps(msg) if known else json.dumps({"error": msg})
                return self._json(HTTPStatus.NOT_FOUND, doc.encode(), head=head)
            self._json(200, body, head=head)

        def _tarball(self, name: str, filename: str, *, head: bool) -> None:
            payload = registry._tarball_payload(name, filename)
            if payload is None:
                return self._json(HTTPStatus.NOT_FOUND, _NOT_FOUND, head=head)
            data, etag, version = payload
            if not head:
                status = registry._take_failure(name, version)
                if status is not None:
                    return self._injected(status)
            if self.headers.get("If-None-Match") == etag:
                return self._send(HTTPStatus.NOT_MODIFIED, b"", head=True, etag=etag)
            kind = "application/octet-stream"
            # Tarballs never change under a URL, which is what lets caches keep them.
            cache = {"Cache-Control": "public, immutable, max-age=31557600"}
            self.send_file(data, kind, head=head, etag=etag, extra=cache)

        def _injected(self, status: int) -> None:
            self._json(status, json.dumps({"error": f"injected {status}"}).encode(), head=False)

        def _json(self, status: int, body: bytes, *, head: bool) -> None:
            self._send(status, body, "application/json", head=head)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str = "application/json",
            *,
            head: bool,
            etag: str | None = None,
            extra: Mapping[str, str] | None = None,
        ) -> None:
            self.send_body(status, body, content_type, head=head, etag=etag, extra=extra)

    return Handler
