"""Resolve each host name once per client, not once per connection.

A fetch opens dozens of connections to the same few hosts at once. Every new connection
makes its own getaddrinfo call, and some resolvers drop part of a burst of simultaneous
queries: the dropped ones wait for the stub resolver's 5 s retry (seen on this project's
machines: 16 concurrent lookups, the slowest 5.01 s, the fastest 1 ms). Sharing one lookup
per (host, port) removes the burst; TLS still verifies against the host name, because
httpcore passes the original name to ``start_tls``. The backend is handed to httpcore's
pool through its public constructor, by ``fetch/transport.py``. (The aiohttp engine needs
none of this: its connector caches each lookup and merges simultaneous ones.)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

if TYPE_CHECKING:
    from ferry.egress import EgressPolicy

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class CachingResolverBackend(AsyncNetworkBackend):
    def __init__(self, inner: AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._addresses: dict[tuple[str, int], list[str]] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self.lookups = 0  # how many real lookups were made (tests read it)
        # a service task's egress policy: addresses it refuses are never connected to
        self.policy: EgressPolicy | None = None

    async def _resolve(self, host: str, port: int) -> list[str]:
        key = (host, port)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._addresses:
                self.lookups += 1
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
                # IPv4 first: where IPv6 has no route, trying it first costs a timeout.
                ordered = sorted(infos, key=lambda i: i[0] != socket.AF_INET)
                self._addresses[key] = list(dict.fromkeys(str(i[4][0]) for i in ordered))
            return self._addresses[key]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        try:
            addresses = await self._resolve(host, port)
        except OSError:
            addresses = [host]  # let the inner backend report the failure in its own terms
        if self.policy is not None:
            addresses = self._allowed(host, port, addresses)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def _allowed(self, host: str, port: int, addresses: list[str]) -> list[str]:
        from ferry.egress import EgressRefused

        assert self.policy is not None
        reasons = [self.policy.address_refusal(host, port, a) for a in addresses]
        allowed = [a for a, reason in zip(addresses, reasons, strict=True) if reason is None]
        if not allowed:
            raise EgressRefused(next((r for r in reasons if r), f"{host} did not resolve"))
        return allowed

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        return await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
