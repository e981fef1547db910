"""The lifecycle both local test servers share (the package index and the npm registry):
a threaded HTTP server bound to 127.0.0.1 on an ephemeral port, started and stopped as a
context manager, whose stop also ends open keep-alive connections."""

from __future__ import annotations

import contextlib
import socket
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


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

    def log_request(self, method: str, path: str, headers: Message) -> None:
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
