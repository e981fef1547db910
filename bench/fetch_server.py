#!/usr/bin/env python3
"""A static file server on 127.0.0.1 for bench/run_fetch.py, in its own process.

Serves a directory with what downloaders rely on: Content-Length, ETag, Last-Modified,
Accept-Ranges and single ranges (open or bounded) with If-Range. Unthrottled bodies go out
with sendfile(2), so the server costs next to no CPU and the clients are what is measured.
``--rate`` paces every connection to that many bytes per second (a link shared per
connection, as CDNs and many mirrors do), which is where several connections pay off.
``--stall-after N --stall S``: the first body to reach byte N of any file stops there for
S seconds, its connection open and silent (a server or middlebox that hangs mid-body);
every other body, retries included, is served as usual.

    python bench/fetch_server.py DIR [--rate BYTES_PER_S] [--stall-after N --stall S]
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_PACE = 64 * 1024


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    root: Path
    rate: float | None
    stall_after: int | None
    stall: float
    lock: threading.Lock


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, *, head: bool) -> None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.server.root / rel).resolve()
        if self.server.root not in path.parents or not path.is_file():
            self._status(404)
            return
        st = path.stat()
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        start, end, ranged = 0, size, False
        header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if header and (if_range is None or if_range == etag):
            match = _RANGE.fullmatch(header.strip())
            if match:
                start = int(match.group(1))
                end = min(size, int(match.group(2)) + 1) if match.group(2) else size
                if start >= size:
                    self._status(416, {"Content-Range": f"bytes */{size}"})
                    return
                ranged = True
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.send_header("Accept-Ranges", "bytes")
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if head:
            return
        self.wfile.flush()
        with path.open("rb") as fh:
            try:
                start = self._maybe_stall(fh.fileno(), start, end)
                if self.server.rate:
                    self._paced(fh.fileno(), start, end, self.server.rate)
                else:
                    self._sendfile(fh.fileno(), start, end)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    def _maybe_stall(self, fd: int, start: int, end: int) -> int:
        """Serve up to the stall point, sleep there once, and carry on; the new start."""
        server = self.server
        point = server.stall_after
        if point is None or not (start <= point < end):
            return start
        with server.lock:
            pause, server.stall = server.stall, 0.0
        if not pause:
            return start
        self._sendfile(fd, start, point)
        time.sleep(pause)
        return point

    def _sendfile(self, fd: int, start: int, end: int) -> None:
        sock = self.connection
        offset = start
        while offset < end:
            sent = os.sendfile(sock.fileno(), fd, offset, end - offset)
            if sent == 0:
                break
            offset += sent

    def _paced(self, fd: int, start: int, end: int, rate: float) -> None:
        began = time.monotonic()
        offset = start
        while offset < end:
            count = min(_PACE, end - offset)
            sent = os.sendfile(self.connection.fileno(), fd, offset, count)
            if sent == 0:
                break
            offset += sent
            ahead = (offset - start) / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)

    def _status(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--rate", type=float, default=None, help="bytes/s per connection")
    parser.add_argument("--stall-after", type=int, default=None, help="byte offset")
    parser.add_argument("--stall", type=float, default=0.0, help="seconds, once")
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.root = args.root.resolve()
    server.rate = args.rate
    server.stall_after = args.stall_after
    server.stall = args.stall
    server.lock = threading.Lock()
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
