#!/usr/bin/env python3
"""A static file server on 127.0.0.1 for bench/run_fetch.py, in its own process.

Serves a directory with what downloaders rely on: Content-Length, ETag, Last-Modified,
Accept-Ranges and single ranges (open or bounded) with If-Range. Unthrottled bodies go out
with sendfile(2), so the server costs next to no CPU and the clients are what is measured.
``--rate`` paces every connection to that many bytes per second (a link shared per
connection, as CDNs and many mirrors do), which is where several connections pay off.

    python bench/fetch_server.py DIR [--rate BYTES_PER_S]   (prints the base URL)
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import os
import re
import socket
import sys
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
                if self.server.rate:
                    self._paced(fh.fileno(), start, end, self.server.rate)
                else:
                    self._sendfile(fh.fileno(), start, end)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

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
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.root = args.root.resolve()
    server.rate = args.rate
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
