"""A path-rewriting reverse proxy on 127.0.0.1: the real devpi and verdaccio the tests start,
seen under the URL layouts of the registries teams run (Nexus, Artifactory).

Each route maps a path prefix in front to a URL behind (``/repository/pypi-internal/`` →
``http://127.0.0.1:PORT/ferry/internal/``): the rest of the path and the query are kept as
sent (percent-escapes too, so ``@scope%2fname`` reaches verdaccio as npm wrote it). Every
method, every header but the hop-by-hop ones, and request and response bodies go through
in pieces (a chunked upload stays chunked); ``Host`` is the backend's.

What the backends say about themselves is made to point back at the proxy, so clients stay
behind it as they would behind the real product: absolute URLs to a backend in text bodies
(JSON, HTML, ...; verdaccio's packuments name every tarball absolutely) and ``Location``
headers (devpi redirects absolutely, to its own host). To rewrite bodies the proxy asks the
backends for them uncompressed. Relative links (devpi's simple pages: ``../../+f/...``)
need nothing: they resolve against the front URL and come back through a route.

The server is the stdlib threaded one the other local test servers use
(:mod:`support.served`), with its request log (:attr:`PathProxy.requests`, front paths).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from support.devpi import DevpiServer
from support.served import LoopbackHandler, ServedOnLoopback
from support.verdaccio import Verdaccio, npmrc_for

__all__ = [
    "PathProxy",
    "ProxiedIndex",
    "ProxiedNpm",
    "Route",
    "artifactory_npm",
    "artifactory_pypi",
    "nexus_npm",
    "nexus_pypi",
]

_PIECE = 64 * 1024
_UPSTREAM_TIMEOUT = 300.0
# Hop-by-hop (RFC 9110 7.6.1) and what the proxy sets itself
_REQUEST_DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",  # answered here (100 Continue) by http.server
        "host",
        "accept-encoding",
        "content-length",
    }
)
_RESPONSE_DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_REWRITTEN_HEADERS = frozenset({"location", "content-location"})


def _strip_slash(path: str) -> str:
    return path[:-1] if path.endswith("/") else path


@dataclass(frozen=True)
class Route:
    """``front`` (a path prefix here, no trailing slash) → ``origin`` + ``path`` behind."""

    front: str
    origin: str
    path: str

    def matches(self, path: str) -> bool:
        return path == self.front or path.startswith(self.front + "/")

    def backend_target(self, raw: str) -> str:
        path, sep, query = raw.partition("?")
        rest = self.path + path[len(self.front) :]
        return (rest or "/") + sep + query


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or "json" in kind or "html" in kind or "xml" in kind


class PathProxy(ServedOnLoopback):
    """The proxy, given ``{front prefix: backend URL}``; :meth:`url` spells a front URL.

    The longest matching front prefix wins, so a more specific route (``.../simple/`` →
    devpi's ``+simple/``) can sit inside a general one. A path no route takes gets 404.
    """

    def __init__(self, routes: Mapping[str, str]) -> None:
        parsed: list[Route] = []
        for front, backend in routes.items():
            if not front.startswith("/") or _strip_slash(front) == "":
                raise ValueError(f"a front prefix is a path below /: {front!r}")
            parts = urlsplit(backend)
            if parts.scheme != "http" or parts.hostname != "127.0.0.1":
                raise ValueError(f"backends are http://127.0.0.1 servers: {backend!r}")
            origin = f"{parts.scheme}://{parts.netloc}"
            parsed.append(Route(_strip_slash(front), origin, _strip_slash(parts.path)))
        self.routes = sorted(parsed, key=lambda r: len(r.front), reverse=True)
        super().__init__(_make_handler(self))

    def url(self, front: str) -> str:
        return self.base + front

    def route(self, raw: str) -> Route | None:
        path = raw.partition("?")[0]
        return next((r for r in self.routes if r.matches(path)), None)

    def _reverse(self, matched: Route) -> list[Route]:
        # the most specific backend path first; where two fronts lead to the same place,
        # the one the request came through
        return sorted(self.routes, key=lambda r: (-len(r.origin + r.path), r != matched))

    def rewrite_body(self, body: bytes, matched: Route) -> bytes:
        """Absolute URLs to a backend's routed paths, made URLs to their front paths."""
        candidates = self._reverse(matched)
        fronts = {(r.origin + r.path).encode(): (self.base + r.front).encode() for r in candidates}
        pattern = re.compile(
            b"(" + b"|".join(re.escape(key) for key in fronts) + rb")(?=[/?#\"'<>\s\\]|$)"
        )
        return pattern.sub(lambda m: fronts[m[1]], body)

    def rewrite_location(self, value: str, matched: Route) -> str:
        """A redirect's target, absolute or path-absolute, made a front URL."""
        rewritten = self.rewrite_body(value.encode("latin-1"), matched).decode("latin-1")
        if rewritten != value or not value.startswith("/"):
            return rewritten
        for r in self._reverse(matched):
            if r.origin == matched.origin and (value == r.path or value.startswith(r.path + "/")):
                return self.base + r.front + value[len(r.path) :]
        return value


def _make_handler(proxy: PathProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        served = proxy
        server_version = "FerryTestPathProxy/1.0"

        def do_GET(self) -> None:
            self._forward()

        do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

        def _forward(self) -> None:
            proxy.record_request(self.command, self.path.partition("?")[0], self.headers)
            route = proxy.route(self.path)
            if route is None:
                self.close_connection = True  # an unread body must not become a request
                body = json.dumps({"error": f"no route for {self.path}"}).encode()
                return self.send_body(404, body, "application/json", head=self.command == "HEAD")
            backend = urlsplit(route.origin)
            conn = http.client.HTTPConnection(
                backend.hostname or "127.0.0.1", backend.port, timeout=_UPSTREAM_TIMEOUT
            )
            try:
                try:
                    response = self._send_upstream(conn, route, backend.netloc)
                except OSError as exc:
                    self.close_connection = True
                    body = f"proxy: {route.origin} did not answer: {exc!r}".encode()
                    return self.send_body(502, body, "text/plain", head=self.command == "HEAD")
                self._relay(response, route)
            finally:
                conn.close()

        def _send_upstream(
            self, conn: http.client.HTTPConnection, route: Route, host: str
        ) -> http.client.HTTPResponse:
            conn.putrequest(
                self.command,
                route.backend_target(self.path),
                skip_host=True,
                skip_accept_encoding=True,
            )
            for key, value in self.headers.items():
                if key.lower() not in _REQUEST_DROPPED:
                    conn.putheader(key, value)
            conn.putheader("Host", host)
            # bodies come back uncompressed, so their URLs can be rewritten
            conn.putheader("Accept-Encoding", "identity")
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            length = self.headers.get("Content-Length")
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            elif length is not None:
                conn.putheader("Content-Length", length)
            conn.endheaders()
            if chunked:
                for piece in self._chunks_in():
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.send(b"0\r\n\r\n")
            elif length:
                left = int(length)
                while left > 0:
                    piece = self.rfile.read(min(left, _PIECE))
                    if not piece:
                        raise ConnectionError("the client's request body ended early")
                    conn.send(piece)
                    left -= len(piece)
            return conn.getresponse()

        def _chunks_in(self) -> Iterator[bytes]:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return
                data = self.rfile.read(size)
                self.rfile.read(2)  # CRLF after each chunk
                yield data

        def _relay(self, response: http.client.HTTPResponse, route: Route) -> None:
            status = response.status
            no_body = self.command == "HEAD" or status in (204, 304) or status < 200
            rewrite = _is_text(response.getheader("Content-Type") or "")
            body = b""
            if rewrite and not no_body:
                body = proxy.rewrite_body(response.read(), route)
            self.send_response_only(status, response.reason)
            for key, value in response.getheaders():
                lower = key.lower()
                if lower in _RESPONSE_DROPPED:
                    continue
                if lower in _REWRITTEN_HEADERS:
                    value = proxy.rewrite_location(value, route)
                self.send_header(key, value)
            upstream_length = response.getheader("Content-Length")
            if no_body:
                # a HEAD of a rewritten type: its length behind is not its length here
                if upstream_length is not None and not rewrite:
                    self.send_header("Content-Length", upstream_length)
                self.end_headers()
                return
            if rewrite:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)
                return
            if upstream_length is not None:
                self.send_header("Content-Length", upstream_length)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    while piece := response.read(_PIECE):
                        self.wfile.write(piece)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while piece := response.read(_PIECE):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")

    return Handler


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class ProxiedIndex:
    """A PyPI-like repository behind the proxy: where pip reads and twine uploads."""

    proxy: PathProxy
    index_url: str
    upload_url: str
    username: str
    password: str


@dataclass(frozen=True)
class ProxiedNpm:
    """An npm registry behind the proxy, and the token that publishes to it."""

    proxy: PathProxy
    url: str
    token: str

    @property
    def npmrc(self) -> str:
        return npmrc_for(self.url, self.token)


def _pypi(devpi: DevpiServer, mount: str, upload_path: str) -> ProxiedIndex:
    index = devpi.base + devpi.index_path
    proxy = PathProxy({f"{mount}/simple/": index + "+simple/", f"{mount}/": index}).start()
    return ProxiedIndex(
        proxy,
        index_url=proxy.url(f"{mount}/simple/"),
        upload_url=proxy.url(upload_path),
        username=devpi.username,
        password=devpi.password,
    )


def nexus_pypi(devpi: DevpiServer, repo: str = "pypi-internal") -> ProxiedIndex:
    """Nexus's hosted PyPI repository: ``/repository/<repo>/`` (uploads), ``.../simple/``."""
    return _pypi(devpi, f"/repository/{repo}", f"/repository/{repo}/")


def artifactory_pypi(devpi: DevpiServer, repo: str = "pypi-local") -> ProxiedIndex:
    """Artifactory's PyPI repository: ``/artifactory/api/pypi/<repo>`` (uploads, as twine
    is given it), ``.../simple/``."""
    mount = f"/artifactory/api/pypi/{repo}"
    return _pypi(devpi, mount, mount)


def _npm(verdaccio: Verdaccio, mount: str) -> ProxiedNpm:
    proxy = PathProxy({mount: verdaccio.url}).start()
    return ProxiedNpm(proxy, proxy.url(mount), verdaccio.token)


def nexus_npm(verdaccio: Verdaccio, repo: str = "npm-internal") -> ProxiedNpm:
    """Nexus's hosted npm repository: ``/repository/<repo>/``."""
    return _npm(verdaccio, f"/repository/{repo}/")


def artifactory_npm(verdaccio: Verdaccio, repo: str = "npm-local") -> ProxiedNpm:
    """Artifactory's npm repository: ``/artifactory/api/npm/<repo>/``."""
    return _npm(verdaccio, f"/artifactory/api/npm/{repo}/")
