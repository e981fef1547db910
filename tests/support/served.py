"""The lifecycle both local test servers share (the package index and the npm registry):
a threaded HTTP server bound to 127.0.0.1 on an ephemeral port, started and stopped as a
context manager, whose stop also ends open keep-alive connections."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Mapping
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a client opening more connections at once has
    # its SYNs dropped and waits a second to retry (seen as TcpExtListenOverflows), which
    # a real index never makes anyone do.
    request_queue_size = 1024


class ServedOnLoopback:
    """The server, and the log of what it was asked (:attr:`requests`, in arrival order)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._log_lock = threading.Lock()
        self._log: list[tuple[str, str]] = []
        self._log_headers: list[dict[str, str]] = []
        # Bind now (port 0 → ephemeral) so `.base` and file URLs are known before start().
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True  # a hung client must never keep pytest alive
        self._thread: threading.Thread | None = None
        self._closed = False
        # Open client sockets, so stop() also ends keep-alive connections: otherwise a pooled
        # client could still be answered by the "stopped" server.
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def track(self, conn: socket.socket) -> None:
        # http.server writes headers and body separately; with Nagle's algorithm on, the
        # body waits for the client's delayed ACK (~40 ms a response on Linux).
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    # -- request log

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far, in arrival order; a copy.

        Paths are logged as sent (percent-escapes kept, query dropped), because how a client
        spells a name (`/@s%2fname` vs `/@s/name`) is itself worth asserting on.
        """
        with self._log_lock:
            return list(self._log)

    def request_headers(
        self, path_prefix: str = "/", method: str | None = None
    ) -> list[dict[str, str]]:
        """Headers (lower-cased names) of the logged requests matching, in order."""
        with self._log_lock:
            return [
                dict(h)
                for (m, p), h in zip(self._log, self._log_headers, strict=True)
                if p.startswith(path_prefix) and (method is None or m == method)
            ]

    def count(self, path_prefix: str, method: str | None = None) -> int:
        with self._log_lock:
            return sum(
                1
                for m, p in self._log
                if p.startswith(path_prefix) and (method is None or m == method)
            )

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()
            self._log_headers.clear()

    def record_request(self, method: str, path: str, headers: Message) -> None:
        with self._log_lock:
            self._log.append((method, path))
            self._log_headers.append({k.lower(): v for k, v in headers.items()})

    def start(self) -> Self:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} was stopped; make a new one")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        with self._conns_lock:
            conns, self._conns = set(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"


class LoopbackHandler(BaseHTTPRequestHandler):
    """What both servers' handlers share: keep-alive HTTP/1.1 on tracked connections,
    no access log on stderr, and how a response or a byte range of a file is sent."""

    # HTTP/1.1 so clients reuse connections as they would against a real server; every
    # response therefore carries Content-Length.
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive sockets go away instead of pinning threads
    served: ServedOnLoopback  # set by each server's handler class

    def setup(self) -> None:
        super().setup()
        self.served.track(self.connection)

    def finish(self) -> None:
        self.served.untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output clean; the structured log is served.requests

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        etag: str | None = None,
        extra: Mapping[str, str] | None = None,
        ranges: bool = False,
    ) -> None:
        """``ranges``: say ``Accept-Ranges: bytes`` on a 200 or 206."""
        self.send_response(status)
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        if ranges and status in (200, 206):
            self.send_header("Accept-Ranges", "bytes")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def send_file(
        self,
        data: bytes,
        content_type: str,
        *,
        head: bool,
        etag: str | None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """``data`` whole, or the single byte range the request asks for (206, or 416
        past the end); a Range not understood (e.g. several ranges) gets the whole file."""
        rng = self.headers.get("Range")
        match = _RANGE.fullmatch(rng.strip()) if rng else None
        if match and (match[1] or match[2]):
            size = len(data)
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:  # suffix range: the last N bytes
                start, end = max(size - int(match[2]), 0), size - 1
            if start >= size or start > end:
                return self.send_body(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    b"",
                    content_type,
                    head=head,
                    extra={"Content-Range": f"bytes */{size}"},
                )
            return self.send_body(
                HTTPStatus.PARTIAL_CONTENT,
                data[start : end + 1],
                content_type,
                head=head,
                etag=etag,
                extra={**(extra or {}), "Content-Range": f"bytes {start}-{end}/{size}"},
                ranges=True,
            )
        self.send_body(200, data, content_type, head=head, etag=etag, extra=extra, ranges=True)
