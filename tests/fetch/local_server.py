"""A real HTTP server on 127.0.0.1 whose misbehaviour each test scripts per path."""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ferry.fetch import FetchRequest


@dataclass
class Route:
    """What the server answers on one path.

    ``statuses`` are answered (and consumed) before the body is served. The first ``drops``
    body responses are cut after ``drop_after`` bytes by closing the socket. With an
    ``etag`` the route honours ``Range`` + ``If-Range`` like a static file server.
    """

    body: bytes = b""
    chunks: Callable[[], Iterable[bytes]] | None = None
    length: int | None = None
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    drops: int = 0
    drop_after: int = 0
    etag: str | None = None
    etag_after_drop: str | None = None
    content_length: int | None = None
    close_delimited: bool = False
    delay: float = 0.0

    @property
    def size(self) -> int:
        return self.length if self.length is not None else len(self.body)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    hits: Counter[str]
    seen: list[Seen]
    lock: threading.Lock
    active: int
    max_active: int

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up mid-response is what several tests do on purpose.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        srv = self.server
        with srv.lock:
            srv.hits[path] += 1
            srv.seen.append(Seen(path, dict(self.headers.items())))
            route = srv.routes.get(path)
            status = route.statuses.pop(0) if route and route.statuses else None
            srv.active += 1
            srv.max_active = max(srv.max_active, srv.active)
        try:
            self._answer(route, status)
        finally:
            with srv.lock:
                srv.active -= 1

    def _answer(self, route: Route | None, status: int | None) -> None:
        if route is None:
            self._short(404, b"not found\n")
            return
        if route.delay:
            time.sleep(route.delay)
        if status is not None:
            extra = {"Retry-After": route.retry_after} if route.retry_after else {}
            self._short(status, b"try later\n", extra)
            return

        start = 0
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if route.etag and range_header and (if_range is None or if_range == route.etag):
            match = re.fullmatch(r"bytes=(\d+)-", range_header)
            assert match, range_header
            start = int(match.group(1))
        size = route.size
        self.send_response(206 if start else 200)
        if route.close_delimited:
            # No length at all: the body ends when the server closes the connection.
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(route.content_length or size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        if route.etag:
            self.send_header("ETag", route.etag)
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

        if route.drops > 0:
            route.drops -= 1
            self.wfile.write(route.body[start : start + route.drop_after])
            self.wfile.flush()
            if route.etag_after_drop:
                route.etag = route.etag_after_drop
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if route.chunks is not None:
            for chunk in route.chunks():
                self.wfile.write(chunk)
        else:
            self.wfile.write(route.body[start:])

    def _short(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.routes = {}
        self._httpd.hits = Counter()
        self._httpd.seen = []
        self._httpd.lock = threading.Lock()
        self._httpd.active = 0
        self._httpd.max_active = 0
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.base = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def add(self, path: str, route: Route) -> str:
        self._httpd.routes[path] = route
        return self.base + path

    def serve(self, name: str, body: bytes, **route: Any) -> FetchRequest:
        """Serve ``body`` at ``/files/<name>`` and return the matching request."""
        url = self.add(f"/files/{name}", Route(body=body, **route))
        return FetchRequest(url, hashlib.sha256(body).hexdigest(), len(body), name)

    def hits(self, url_or_path: str) -> int:
        return self._httpd.hits[url_or_path.removeprefix(self.base)]

    @property
    def total_hits(self) -> int:
        return sum(self._httpd.hits.values())

    @property
    def max_active(self) -> int:
        return self._httpd.max_active

    def seen(self, url_or_path: str) -> list[Seen]:
        path = url_or_path.removeprefix(self.base)
        return [s for s in self._httpd.seen if s.path == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
