"""One DNS lookup per host for a burst of connections (see ferry.fetch.dns for why)."""

from __future__ import annotations

import asyncio

from ferry.fetch.dns import CachingResolverBackend
from ferry.fetch.http import build_client
from fetch.local_server import LocalServer


async def test_burst_of_connections_resolves_once(server: LocalServer) -> None:
    urls = [
        server.serve(f"f{i}", b"x" * 10, delay=0.2).url.replace("127.0.0.1", "localhost")
        for i in range(16)
    ]
    async with build_client(trust_env=False, timeout=10.0, max_connections=16) as client:
        backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
        assert isinstance(backend, CachingResolverBackend)
        responses = await asyncio.gather(*(client.get(u) for u in urls))
    assert all(r.status_code == 200 and r.content == b"x" * 10 for r in responses)
    assert backend.lookups == 1
    assert server.max_active > 1  # the requests really ran side by side


async def test_unresolvable_host_still_fails_cleanly() -> None:
    import httpx
    import pytest

    async with build_client(trust_env=False, timeout=5.0) as client:
        # A resolver that stalls on the lookup gives a timeout instead: clean too.
        with pytest.raises((httpx.ConnectError, httpx.ConnectTimeout)):
            await client.get("http://no-such-host.invalid/")
