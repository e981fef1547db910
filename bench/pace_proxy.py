#!/usr/bin/env python3
"""A TCP proxy that paces every connection's server-to-client bytes, for benches.

    .venv/bin/python bench/pace_proxy.py --upstream 127.0.0.1:8000 --rate 50 [--port 0]

Listens on 127.0.0.1 (a free port unless ``--port``), prints ``listening 127.0.0.1:PORT``
on stdout once it accepts, and forwards every connection to ``--upstream`` byte for byte:
it never reads HTTP, so the Host header, redirects, Range and keep-alive pass as they are
(a URL the server builds from the Host header names the proxy). Each connection's
upstream-to-client direction is held to ``--rate`` MB/s (10^6 bytes) on its own, as a
link whose every TCP stream gets a fixed share (a WAN with per-flow shaping, a transfer
proxy, a long fat pipe with one stream's window); the client-to-upstream direction is not
paced. N connections together get N times the rate.

The pacing is a token bucket per connection with a small burst (``--burst``, 256 KiB by
default): bytes are forwarded as they come while the connection is within its rate, and
when it gets ahead, reading from the upstream stops until the rate catches up (TCP's own
flow control then holds the server back). The client's side is watched the same way:
when the client does not read, reading from the upstream stops too.

When a connection opens, ``open N`` goes to stdout; when it closes,
``conn N down BYTES up BYTES seconds S`` (down: upstream to client), so a bench can see
how many connections a client opened and how much went through each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time

MB = 1_000_000


class _Stats:
    def __init__(self) -> None:
        self.connections = 0


class _Bucket:
    """A token bucket: ``rate`` bytes a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, n: int) -> float:
        """Spend ``n`` bytes; the seconds to wait before the next read (0: none)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= n
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class _Upstream(asyncio.Protocol):
    """The proxy's connection to the server: what arrives goes to the client, paced."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.client.from_upstream(data)

    def eof_received(self) -> bool:
        self.client.upstream_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.upstream_lost()

    # the server's side is full: stop reading from the client
    def pause_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client.transport is not None and not self.client.closed:
            self.client.transport.resume_reading()


class _Client(asyncio.Protocol):
    """One accepted connection and its upstream twin."""

    def __init__(self, upstream: tuple[str, int], rate: float, burst: float, stats: _Stats):
        self.address = upstream
        self.bucket = _Bucket(rate, burst) if rate > 0 else None
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.upstream: _Upstream | None = None
        self.pending: list[bytes] = []  # from the client before the upstream connected
        self.down = 0
        self.up = 0
        self.began = time.monotonic()
        self.closed = False
        self.client_eof = False
        self.upstream_done = False
        self.paced = False  # reading from upstream stopped by the bucket
        self.blocked = False  # ... by a full client side
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1
        self.number = self.stats.connections
        print(f"open {self.number}", flush=True)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(lambda: _Upstream(self), *self.address)
        except OSError:
            self._close()
            return
        self.upstream = proto
        if self.closed:
            self._close()
            return
        assert proto.transport is not None
        for chunk in self.pending:
            proto.transport.write(chunk)
        self.pending.clear()
        if self.client_eof and proto.transport.can_write_eof():
            proto.transport.write_eof()

    # client -> upstream: not paced
    def data_received(self, data: bytes) -> None:
        self.up += len(data)
        if self.upstream is None or self.upstream.transport is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)

    def eof_received(self) -> bool:
        self.client_eof = True
        up = self.upstream.transport if self.upstream is not None else None
        if up is not None and not up.is_closing() and up.can_write_eof():
            up.write_eof()
        if self.upstream_done:  # both sides have said all: nothing more can pass
            self._close()
        return True

    # upstream -> client: paced
    def from_upstream(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.down += len(data)
        self.transport.write(data)
        if self.bucket is None:
            return
        wait = self.bucket.take(len(data))
        if wait > 0 and not self.paced:
            self.paced = True
            self._upstream_reading()
            self.timer = asyncio.get_running_loop().call_later(wait, self._unpace)

    def _unpace(self) -> None:
        self.timer = None
        self.paced = False
        self._upstream_reading()

    def _upstream_reading(self) -> None:
        up = self.upstream.transport if self.upstream is not None else None
        if up is None or up.is_closing():
            return
        if self.paced or self.blocked:
            up.pause_reading()
        else:
            up.resume_reading()

    def pause_writing(self) -> None:
        self.blocked = True
        self._upstream_reading()

    def resume_writing(self) -> None:
        self.blocked = False
        self._upstream_reading()

    def upstream_eof(self) -> None:
        self.upstream_done = True
        client = self.transport
        if client is not None and not client.is_closing() and client.can_write_eof():
            client.write_eof()
        if self.client_eof:
            self._close()

    def upstream_lost(self) -> None:
        self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.close()
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()
        seconds = time.monotonic() - self.began
        print(f"conn {self.number} down {self.down} up {self.up} seconds {seconds:.3f}", flush=True)


async def serve(upstream: tuple[str, int], port: int, rate: float, burst: float) -> None:
    loop = asyncio.get_running_loop()
    stats = _Stats()
    server = await loop.create_server(
        lambda: _Client(upstream, rate, burst, stats), "127.0.0.1", port, backlog=256
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening 127.0.0.1:{bound}", flush=True)
    async with server:
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--port", type=int, default=0, help="to listen on (0: a free one)")
    parser.add_argument(
        "--rate", type=float, default=50.0, help="MB/s per connection, server to client (0: off)"
    )
    parser.add_argument(
        "--burst", type=int, default=256 * 1024, help="bytes a connection may save up"
    )
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve((host, int(port)), args.port, args.rate * MB, args.burst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
