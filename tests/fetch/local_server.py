"""A real HTTP server on 127.0.0.1 whose misbehaviour each test scripts per path.

It speaks HTTP/1.1 with keep-alive and serves a body from memory or from a file on
disk (``pread`` slices, so a sparse 2 GB file costs no memory), with ``Range`` (open and
bounded) + ``If-Range`` when the route has a validator. Faults are set per route: status
codes before the body, bodies cut short or reset, a route that ignores ``Range``, a file
replaced after some requests, a slow or stalling body, a per-connection rate.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ferry.fetch import FetchRequest

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_SLICE = 256 * 1024
_PACED_SLICE = 16 * 1024


@dataclass
class Route:
    """What the server answers on one path.

    ``statuses`` are answered (and consumed) before the body is served. The first ``drops``
    body responses are cut after ``drop_after`` bytes of that response, by closing the
    socket (``reset`` sends a TCP RST instead). With an ``etag`` (or ``last_modified``)
    the route honours ``Range`` + ``If-Range`` like a static file server, unless
    ``ignore_range``. After ``replace_after`` body responses, ``replacement`` (with
    ``replacement_etag``) is served instead: the file changed on the server.
    """

    body: bytes = b""
    file: Path | None = None
    chunks: Callable[[], Iterable[bytes]] | None = None
    length: int | None = None
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    drops: int = 0
    drop_after: int = 0
    drop_when: Callable[[int], bool] | None = None  # only bodies starting where this holds
    reset: bool = False
    etag: str | None = None
    etag_after_drop: str | None = None
    last_modified: str | None = None
    ignore_range: bool = False
    ranges: bool = False  # honour Range even without a validator (ETag / Last-Modified)
    replace_after: int | None = None
    replacement: bytes = b""
    replacement_etag: str | None = None
    content_length: int | None = None
    close_delimited: bool = False
    delay: float = 0.0
    stall_after: int | None = None
    stall: float = 0.0  # once: the first body past stall_after sleeps this long
    asleep: int = 0  # bodies sleeping in a stall right now
    rate: float | None = None  # bytes per second per connection
    # a body starting at an offset this names is paced at the rate it gives instead
    rate_when: Callable[[int], float | None] | None = None
    location: str | None = None  # answer 302 to here
    served: int = 0  # body responses so far
    bytes_sent: int = 0
    # every body sent: (first byte, bytes sent, monotonic start, monotonic end)
    spans: list[tuple[int, int, float, float]] = field(default_factory=list)

    @property
    def size(self) -> int:
        if self.length is not None:
            return self.length
        if self.file is not None:
            return self.file.stat().st_size
        return len(self.body)

    @property
    def validator(self) -> str | None:
        return self.etag or self.last_modified

    def read(self, start: int, end: int) -> bytes:
        if self.file is not None:
            with self.file.open("rb") as fh:
                return os.pread(fh.fileno(), end - start, start)
        return self.body[start:end]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # see tests/support/served.py
    routes: dict[str, Route]
    hits: Counter[str]
    seen: list[Seen]
    lock: threading.Lock
    active: int
    max_active: int
    proxied: list[str]

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up mid-response is what several tests do on purpose.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("http://"):
            # Asked as a forward proxy (absolute URI): serve the path, note the host asked for.
            host, _, rest = path[len("http://") :].partition("/")
            with self.server.lock:
                self.server.proxied.append(host)
            path = "/" + rest
        srv = self.server
        with srv.lock:
            srv.hits[path] += 1
            srv.seen.append(Seen(path, dict(self.headers.items())))
            route = srv.routes.get(path)
            status = route.statuses.pop(0) if route and route.statuses else None
            srv.active += 1
            srv.max_active = max(srv.max_active, srv.active)
        try:
            self._answer(route, status, head)
        finally:
            with srv.lock:
                srv.active -= 1

    def _answer(self, route: Route | None, status: int | None, head: bool) -> None:
        if route is None:
            self._short(404, b"not found\n")
            return
        if route.delay:
            time.sleep(route.delay)
        if route.location is not None:
            self._short(302, b"", {"Location": route.location})
            return
        if status is not None:
            extra = {"Retry-After": route.retry_after} if route.retry_after else {}
            self._short(status, b"try later\n", extra)
            return

        with self.server.lock:
            if not head:
                route.served += 1
            if route.replace_after is not None and route.served > route.replace_after:
                route.body = route.replacement
                route.etag = route.replacement_etag
                route.replace_after = None

        size = route.size
        start, end = 0, size
        ranged = False
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if (
            (route.validator or route.ranges)
            and range_header
            and not route.ignore_range
            and (if_range is None or if_range == route.validator)
        ):
            match = _RANGE.fullmatch(range_header)
            assert match, range_header
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
            if start >= size:
                self._short(416, b"", {"Content-Range": f"bytes */{size}"})
                return
            ranged = True
        with self.server.lock:
            drop = not head and route.drops > 0
            if drop and route.drop_when is not None:
                drop = route.drop_when(start)
            if drop:
                route.drops -= 1
        self.send_response(206 if ranged else 200)
        if route.close_delimited:
            # No length at all: the body ends when the server closes the connection.
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(route.content_length or end - start))
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        if route.validator and not route.ignore_range:
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if head:
            return

        if drop:
            self.wfile.write(route.read(start, min(end, start + route.drop_after)))
            self.wfile.flush()
            if route.etag_after_drop:
                route.etag = route.etag_after_drop
            self.close_connection = True
            if route.reset:
                # SO_LINGER 0: close() sends RST, the client sees "connection reset".
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if route.chunks is not None:
            for chunk in route.chunks():
                self.wfile.write(chunk)
            return
        self._send_body(route, start, end)

    def _send_body(self, route: Route, start: int, end: int) -> None:
        began = time.monotonic()
        sent = 0
        pos = start
        special = route.rate_when(start) if route.rate_when is not None else None
        rate = special or route.rate
        try:
            while pos < end:
                if route.stall_after is not None and pos >= route.stall_after and route.stall:
                    with self.server.lock:
                        pause, route.stall = route.stall, 0.0
                        route.asleep += 1
                    # the connection stays open and silent; a retry is served at once
                    time.sleep(pause)
                    with self.server.lock:
                        route.asleep -= 1
                # paced bodies go out in small slices: smooth, as a shaped link would be
                data = route.read(pos, min(end, pos + (_PACED_SLICE if rate else _SLICE)))
                self.wfile.write(data)
                pos += len(data)
                sent += len(data)
                with self.server.lock:
                    route.bytes_sent += len(data)
                if rate:
                    ahead = sent / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
        finally:
            # also when the client hangs up early (a range split for another connection)
            with self.server.lock:
                route.spans.append((start, sent, began, time.monotonic()))

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
        self._httpd.proxied = []
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

    def route(self, url_or_path: str) -> Route:
        return self._httpd.routes[url_or_path.removeprefix(self.base)]

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

    @property
    def proxied(self) -> list[str]:
        """Hosts asked for through this server as a forward proxy, in order."""
        return list(self._httpd.proxied)

    def seen(self, url_or_path: str) -> list[Seen]:
        path = url_or_path.removeprefix(self.base)
        return [s for s in self._httpd.seen if s.path == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
