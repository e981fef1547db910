"""A local Python package index for tests: real artifacts, real HTTP, on 127.0.0.1 only.

Tests must never reach a public index, yet pip, uv and Ferry's own fetcher have to be
exercised against something that behaves like one (PEP 503 HTML, PEP 691 JSON, PEP 658
metadata, yanking, redirects, Range).  So this module builds genuinely installable wheels
and sdists and serves them from a stdlib threaded HTTP server on an ephemeral port.

Factory fixture pattern (the lead's conftest registers the real one)::

    @pytest.fixture
    def make_index(tmp_path: Path) -> Iterator[Callable[..., LocalIndex]]:
        started: list[LocalIndex] = []

        def make(*artifacts: Path) -> LocalIndex:
            index = LocalIndex().start()
            started.append(index)
            for path in artifacts:
                index.add(path)
            return index

        yield make
        for index in started:
            index.stop()

    def test_skips_yanked(make_index, tmp_path):
        dists = tmp_path / "dists"
        index = make_index(build_wheel(dists, "lib", "1.0", requires_dist=["dep"]),
                           build_wheel(dists, "dep", "1.0"))
        index.add(build_wheel(dists, "lib", "2.0"), yanked="broken")
        ...  # point the tool at index.url, then e.g. assert index.count("/files/") == 0
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import html
import io
import json
import re
import tarfile
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import (
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from support.served import LoopbackHandler, ServedOnLoopback

__all__ = [
    "BACKEND_MODULE",
    "BACKEND_SOURCE",
    "Artifact",
    "LocalIndex",
    "build_backend_wheel",
    "build_sdist",
    "build_wheel",
    "file_sha256",
    "negotiate",
]

# Fixed timestamps make builds byte-for-byte reproducible, so "the same artifact built twice"
# has the same hash — tests about caching and verification depend on that.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_GENERATOR = "ferry-tests-pyindex 1.0"

BACKEND_MODULE = "ferry_test_backend"

# A real (tiny) PEP 517 backend.  It lives in a string because it has to be shipped *inside*
# a wheel (or an sdist's backend-path) and run in pip's isolated build environment, where
# nothing from this test tree is importable.  It only needs the stdlib (tomllib: 3.11+).
BACKEND_SOURCE = '''\
"""ferry_test_backend: a minimal PEP 517 backend used by Ferry's tests (offline builds)."""

import base64
import hashlib
import os
import re
import socket
import tarfile
import tomllib
import zipfile

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _project():
    with open("pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _dist(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata(project):
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {req}" for req in project.get("dependencies", [])]
    return "\\n".join(lines) + "\\n"


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    dist, version = _dist(project["name"]), project["version"]
    files = {}
    package = _dist(project["name"])
    for root, dirs, names in os.walk(package):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(".pyc"):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[path.replace(os.sep, "/")] = f.read()
    info = f"{dist}-{version}.dist-info"
    files[f"{info}/METADATA"] = _metadata(project).encode()
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\\nGenerator: ferry_test_backend\\nRoot-Is-Purelib: true\\n"
        "Tag: py3-none-any\\n"
    ).encode()
    record = [_record_line(path, data) for path, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, _EPOCH), data, zipfile.ZIP_DEFLATED)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = f"{_dist(project['name'])}-{project['version']}"
    with tarfile.open(os.path.join(sdist_directory, base + ".tar.gz"), "w:gz") as tf:
        for name in sorted(os.listdir(".")):
            tf.add(name, arcname=f"{base}/{name}")
    return base + ".tar.gz"
'''


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, the form indexes advertise in `#sha256=` and JSON `hashes`."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dist_name(name: str) -> str:
    # Wheel/sdist filename and module form: runs of -_. collapse to "_", lower-cased.
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    # RECORD wants urlsafe base64 *without* padding (the wheel spec); pip rejects otherwise.
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _metadata_text(
    metadata_version: str,
    name: str,
    version: str,
    requires_dist: Sequence[str],
    requires_python: str | None,
    extras: Mapping[str, Sequence[str]] | None,
) -> str:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    for extra, reqs in (extras or {}).items():
        extra_name = canonicalize_name(extra)
        lines.append(f"Provides-Extra: {extra_name}")
        for raw in reqs:
            req = Requirement(raw)
            # Keep any marker the caller wrote, and AND it with the extra marker.
            own = f"({req.marker}) and " if req.marker else ""
            req.marker = None
            lines.append(f'Requires-Dist: {req}; {own}extra == "{extra_name}"')
    return "\n".join(lines) + "\n"


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    tag: str = "py3-none-any",
    modules: Mapping[str, str] | None = None,
    extras: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write an installable wheel into `dest` and return its path.

    `modules` maps archive-relative paths to source text; by default the wheel holds
    `<name>/__init__.py` defining `__version__`.  `tag` may be compound
    (`cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`); WHEEL lists each expansion.
    """
    dist = _dist_name(name)
    version = str(Version(version))
    if modules is None:
        modules = {f"{dist}/__init__.py": f"__version__ = {version!r}\n"}
    tags = sorted(parse_tag(tag), key=str)
    purelib = all(t.platform == "any" for t in tags)
    info = f"{dist}-{version}.dist-info"

    files: dict[str, bytes] = {path: src.encode() for path, src in modules.items()}
    files[f"{info}/METADATA"] = _metadata_text(
        "2.1", name, version, requires_dist, requires_python, extras
    ).encode()
    wheel_lines = [
        "Wheel-Version: 1.0",
        f"Generator: {_GENERATOR}",
        f"Root-Is-Purelib: {'true' if purelib else 'false'}",
        *(f"Tag: {t}" for t in tags),
    ]
    files[f"{info}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    files[f"{info}/RECORD"] = _record(files, f"{info}/RECORD")

    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, data in files.items():
            zf.writestr(zipfile.ZipInfo(arcname, _ZIP_EPOCH), data, zipfile.ZIP_DEFLATED)
    return path


def _record(files: Mapping[str, bytes], record_path: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for arcname, data in files.items():
        writer.writerow([arcname, _record_hash(data), len(data)])
    writer.writerow([record_path, "", ""])  # RECORD cannot hash itself
    return out.getvalue().encode()


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def build_sdist(
    dest: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    build_requires: Sequence[str] = (),
    build_backend: str = BACKEND_MODULE,
    backend_path: Sequence[str] | None = None,
) -> Path:
    """Write a `.tar.gz` sdist into `dest` and return its path.

    Metadata is fully static (PKG-INFO 2.2 without Dynamic, and `[project]`) so resolvers can
    read it without building.  To build it, `build_requires` usually names
    `ferry-test-backend` (see `build_backend_wheel`).  If `backend_path` is given and the
    backend is `ferry_test_backend`, the backend source is put in the first backend-path
    directory, making the sdist buildable with no index at all (an in-tree backend).
    """
    dist = _dist_name(name)
    version = str(Version(version))
    base = f"{dist}-{version}"

    build_system = [
        "[build-system]",
        f"requires = {_toml_list(build_requires)}",
        f"build-backend = {_toml_str(build_backend)}",
    ]
    if backend_path is not None:
        build_system.append(f"backend-path = {_toml_list(backend_path)}")
    project = [
        "[project]",
        f"name = {_toml_str(name)}",
        f"version = {_toml_str(version)}",
        f"dependencies = {_toml_list(requires_dist)}",
    ]
    if requires_python:
        project.append(f"requires-python = {_toml_str(requires_python)}")

    files: dict[str, bytes] = {
        "PKG-INFO": _metadata_text(
            "2.2", name, version, requires_dist, requires_python, None
        ).encode(),
        "pyproject.toml": ("\n".join([*build_system, "", *project]) + "\n").encode(),
        f"{dist}/__init__.py": f"__version__ = {version!r}\n".encode(),
    }
    if backend_path and build_backend == BACKEND_MODULE:
        files[f"{backend_path[0]}/{BACKEND_MODULE}.py"] = BACKEND_SOURCE.encode()

    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{base}.tar.gz"
    # gzip mtime=0 and fixed tar headers: reproducible bytes, hence a stable sha256.
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf,
    ):
        for arcname, data in files.items():
            ti = tarfile.TarInfo(f"{base}/{arcname}")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            tf.addfile(ti, io.BytesIO(data))
    return path


def build_backend_wheel(dest: Path, name: str = "ferry-test-backend", version: str = "1.0") -> Path:
    """The wheel an sdist's `build-system.requires = ["ferry-test-backend"]` resolves to."""
    return build_wheel(dest, name, version, modules={f"{BACKEND_MODULE}.py": BACKEND_SOURCE})


# --------------------------------------------------------------------------- the server

_JSON = "application/vnd.pypi.simple.v1+json"
_V1_HTML = "application/vnd.pypi.simple.v1+html"
_TEXT_HTML = "text/html"
# Order breaks ties at equal q and equal specificity: a bare `*/*` (curl, browsers) gets
# text/html like real indexes, while an explicit list of both JSON and HTML gets JSON.
_OFFERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (_TEXT_HTML, (_TEXT_HTML,)),
    (_JSON, (_JSON, "application/vnd.pypi.simple.latest+json")),
    (_V1_HTML, (_V1_HTML, "application/vnd.pypi.simple.latest+html")),
)


def negotiate(accept: str | None) -> str | None:
    """Pick the response type for an Accept header (RFC 9110 q-values); None means 406."""
    if not accept or not accept.strip():
        return _TEXT_HTML
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

    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for order, (offer, aliases) in enumerate(_OFFERS):
        # The most specific matching range decides this offer's q (exact > type/* > */*).
        match: tuple[int, float] | None = None
        for media, q in ranges:
            if media in aliases:
                spec = 2
            elif media == "*/*" or media == aliases[0].split("/")[0] + "/*":
                spec = 0 if media == "*/*" else 1
            else:
                continue
            if match is None or spec > match[0]:
                match = (spec, q)
        if match is None or match[1] <= 0:
            continue
        key = (match[1], match[0], -order)
        if best is None or key > best:
            best, chosen = key, offer
    return chosen


@dataclass(frozen=True)
class Artifact:
    """What `LocalIndex.add` registered: enough for tests to assert on URLs and hashes."""

    filename: str
    project: str
    version: str
    sha256: str
    size: int
    url: str


@dataclass
class _Entry:
    artifact: Artifact
    path: Path
    requires_python: str | None
    yanked: str | bool
    metadata: bytes | None
    upload_time: datetime


@dataclass
class _State:
    entries: dict[str, _Entry] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    failures: dict[str, tuple[int, int]] = field(default_factory=dict)
    delay: float = 0.0


def _read_core_metadata(path: Path) -> bytes | None:
    name = path.name
    if name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if re.fullmatch(r"[^/]+\.dist-info/METADATA", member):
                    return zf.read(member)
        raise ValueError(f"{name}: no .dist-info/METADATA")
    with tarfile.open(path) as tf:
        for info in tf.getmembers():
            if re.fullmatch(r"[^/]+/PKG-INFO", info.name):
                fh = tf.extractfile(info)
                return fh.read() if fh else None
    return None


class LocalIndex(ServedOnLoopback):
    """A PEP 503/691/658 index on 127.0.0.1:<ephemeral>; use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        super().__init__(_make_handler(self))

    @property
    def url(self) -> str:
        return f"{self.base}/simple/"

    # -- content

    def add(
        self,
        path: Path,
        *,
        yanked: str | bool = False,
        metadata: bool = True,
        upload_time: datetime | None = None,
    ) -> Artifact:
        """Serve `path` under its project; re-adding a filename replaces it (e.g. to yank).

        `metadata` publishes PEP 658 metadata, for wheels only: that is what real indexes
        do, and resolvers treat sdist metadata as unreliable anyway.
        """
        name = path.name
        if name.endswith(".whl"):
            project, version, _, _ = parse_wheel_filename(name)
        else:
            project, version = parse_sdist_filename(name)
        core = _read_core_metadata(path)
        requires_python = None
        if core is not None:
            requires_python = HeaderParser().parsestr(core.decode()).get("Requires-Python")
        data = path.read_bytes()
        artifact = Artifact(
            filename=name,
            project=str(project),
            version=str(version),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            url=self._file_url(name),
        )
        entry = _Entry(
            artifact=artifact,
            path=path,
            requires_python=requires_python,
            yanked=yanked,
            metadata=core if metadata and name.endswith(".whl") else None,
            upload_time=upload_time or datetime.now(UTC),
        )
        with self._lock:
            self._state.entries[name] = entry
        return artifact

    def add_all(self, directory: Path) -> list[Artifact]:
        """Add every wheel and sdist in `directory` (sorted, so order is deterministic)."""
        paths = sorted(directory.glob("*.whl")) + sorted(directory.glob("*.tar.gz"))
        return [self.add(p) for p in paths]

    def artifacts(self) -> list[Artifact]:
        with self._lock:
            return [e.artifact for e in self._state.entries.values()]

    def remove(self, filename: str) -> None:
        with self._lock:
            self._state.entries.pop(filename, None)

    # -- faults

    def corrupt(self, filename: str, on: bool = True) -> None:
        """Serve bytes of the same length but one flipped byte: the advertised hash is a lie."""
        with self._lock:
            (self._state.corrupt.add if on else self._state.corrupt.discard)(filename)

    def fail(self, filename: str, times: int, status: int = 503) -> None:
        """The next `times` GETs of /files/<filename> (may end in .metadata) get `status`."""
        with self._lock:
            self._state.failures[filename] = (times, status)

    def delay(self, seconds: float) -> None:
        """Sleep this long before every response (slow-network and timeout tests)."""
        with self._lock:
            self._state.delay = seconds

    # -- used by the handler (all state access goes through the lock)

    def _record_request(self, method: str, path: str, headers: Message) -> float:
        self.record_request(method, path, headers)
        with self._lock:
            return self._state.delay

    def _projects(self) -> dict[str, list[_Entry]]:
        with self._lock:
            entries = list(self._state.entries.values())
        out: dict[str, list[_Entry]] = {}
        for entry in sorted(entries, key=lambda e: e.artifact.filename):
            out.setdefault(entry.artifact.project, []).append(entry)
        return out

    def _take_failure(self, filename: str) -> int | None:
        with self._lock:
            left, status = self._state.failures.get(filename, (0, 0))
            if left <= 0:
                return None
            self._state.failures[filename] = (left - 1, status)
            return status

    def _file_payload(self, filename: str) -> tuple[bytes, str] | None:
        """Bytes and ETag for /files/<filename>, honouring the corrupt switch."""
        with self._lock:
            entry = self._state.entries.get(filename)
            is_meta = False
            if entry is None and filename.endswith(".metadata"):
                entry = self._state.entries.get(filename.removesuffix(".metadata"))
                is_meta = True
            corrupt = filename in self._state.corrupt
        if entry is None:
            return None
        if is_meta:
            if entry.metadata is None:
                return None
            data = entry.metadata
        else:
            data = entry.path.read_bytes()
        if corrupt and data:
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0xFF
            data = bytes(flipped)
        # The ETag is what the server *believes* it serves, so corruption stays invisible.
        etag = '"' + (entry.artifact.sha256 if not is_meta else _sha(entry.metadata or b"")) + '"'
        return data, etag

    def _file_url(self, filename: str) -> str:
        return f"{self.base}/files/{quote(filename)}"

    def _project_json(self, project: str, entries: list[_Entry]) -> bytes:
        files = []
        for e in entries:
            meta: dict[str, str] | bool = (
                {"sha256": _sha(e.metadata)} if e.metadata is not None else False
            )
            files.append(
                {
                    "filename": e.artifact.filename,
                    "url": self._file_url(e.artifact.filename),
                    "hashes": {"sha256": e.artifact.sha256},
                    "requires-python": e.requires_python,
                    "yanked": e.yanked,
                    "core-metadata": meta,
                    "dist-info-metadata": meta,  # the PEP 658 spelling older clients read
                    "size": e.artifact.size,
                    "upload-time": e.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
            )
        versions = sorted({e.artifact.version for e in entries}, key=Version)
        doc = {
            "meta": {"api-version": "1.1"},
            "name": project,
            "versions": versions,
            "files": files,
        }
        return json.dumps(doc, indent=1).encode()

    def _project_html(self, project: str, entries: list[_Entry]) -> bytes:
        lines = [
            "<!DOCTYPE html>",
            '<html><head><meta name="pypi:repository-version" content="1.1">',
            f"<title>Links for {html.escape(project)}</title></head><body>",
            f"<h1>Links for {html.escape(project)}</h1>",
        ]
        for e in entries:
            href = f"{self._file_url(e.artifact.filename)}#sha256={e.artifact.sha256}"
            attrs = [f'href="{html.escape(href)}"']
            if e.requires_python:
                attrs.append(f'data-requires-python="{html.escape(e.requires_python)}"')
            if e.yanked is not False:
                reason = "" if e.yanked is True else str(e.yanked)
                attrs.append(f'data-yanked="{html.escape(reason)}"')
            if e.metadata is not None:
                value = f"sha256={_sha(e.metadata)}"
                attrs.append(f'data-dist-info-metadata="{value}"')
                attrs.append(f'data-core-metadata="{value}"')
            lines.append(f"<a {' '.join(attrs)}>{html.escape(e.artifact.filename)}</a><br>")
        lines.append("</body></html>")
        return ("\n".join(lines) + "\n").encode()

    def _root(self, kind: str) -> bytes:
        projects = sorted(self._projects())
        if kind == _JSON:
            doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in projects]}
            return json.dumps(doc).encode()
        links = "\n".join(f'<a href="/simple/{p}/">{html.escape(p)}</a><br>' for p in projects)
        return (
            '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
            f"<title>Simple index</title></head><body>\n{links}\n</body></html>\n"
        ).encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _make_handler(index: LocalIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        served = index
        server_version = "FerryTestIndex/1.0"

        def do_HEAD(self) -> None:
            self._handle(head=True)

        def do_GET(self) -> None:
            self._handle(head=False)

        def _handle(self, *, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            delay = index._record_request(self.command, path, self.headers)
            if delay:
                time.sleep(delay)
            if path == "/simple":
                return self._redirect("/simple/")
            if path == "/simple/":
                kind = negotiate(self.headers.get("Accept"))
                if kind is None:
                    return self._send(HTTPStatus.NOT_ACCEPTABLE, b"not acceptable\n", head=head)
                return self._send(200, index._root(kind), kind, head=head, vary=True)
            if path.startswith("/simple/"):
                return self._project(path.removeprefix("/simple/"), head=head)
            if path.startswith("/files/"):
                return self._file(path.removeprefix("/files/"), head=head)
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", head=head)

        def _project(self, rest: str, *, head: bool) -> None:
            name = rest.rstrip("/")
            canonical = canonicalize_name(name)
            if not name or "/" in name:
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n", head=head)
            if name != canonical or not rest.endswith("/"):
                # Like real indexes: one canonical URL per project, others redirect to it.
                return self._redirect(f"/simple/{canonical}/")
            entries = index._projects().get(canonical)
            if not entries:
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n", head=head)
            kind = negotiate(self.headers.get("Accept"))
            if kind is None:
                return self._send(HTTPStatus.NOT_ACCEPTABLE, b"not acceptable\n", head=head)
            if kind == _JSON:
                body = index._project_json(canonical, entries)
            else:
                body = index._project_html(canonical, entries)
            self._send(200, body, kind, head=head, vary=True)

        def _file(self, filename: str, *, head: bool) -> None:
            if not head:
                status = index._take_failure(filename)
                if status is not None:
                    return self._send(status, f"injected {status}\n".encode(), head=head)
            payload = index._file_payload(filename)
            if payload is None:
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n", head=head)
            data, etag = payload
            if self.headers.get("If-None-Match") == etag:
                return self._send(HTTPStatus.NOT_MODIFIED, b"", head=True, etag=etag)
            kind = "application/octet-stream"
            if filename.endswith(".metadata"):
                kind = "text/plain; charset=utf-8"
            self.send_file(data, kind, head=head, etag=etag)

        def _redirect(self, location: str) -> None:
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str = "text/plain; charset=utf-8",
            *,
            head: bool,
            vary: bool = False,
            etag: str | None = None,
        ) -> None:
            extra = {"Vary": "Accept"} if vary else None
            self.send_body(
                status, body, content_type, head=head, etag=etag, extra=extra, ranges=True
            )

    return Handler
