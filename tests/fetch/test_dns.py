"""One DNS lookup per host for a burst of connections (see ferry.fetch.dns for why), on
both HTTP stacks, and the egress policy's check of the addresses the lookup gave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ferry.egress import EgressPolicy, EgressRefused
from ferry.fetch.http import build_client
from ferry.fetch.session import open_session
from fetch.local_server import LocalServer, Route

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # trust_env stays on, as in production: the resolver must not depend on it being off
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def lookups(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[str]]:
    """Every name the running loop is asked to resolve: both stacks' lookups end there
    (httpcore's anyio backend and ours, aiohttp's threaded resolver)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    asked: list[str] = []

    async def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host.decode() if isinstance(host, bytes) else str(host))
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    yield asked


def _by_name(server: LocalServer, count: int) -> list[str]:
    return [
        server.serve(f"f{i}", b"x" * 10, delay=0.2).url.replace("127.0.0.1", "localhost")
        for i in range(count)
    ]


@pytest.mark.usefixtures("no_proxy_variables")
async def test_a_burst_through_the_index_client_resolves_once(
    server: LocalServer, lookups: list[str]
) -> None:
    urls = _by_name(server, 16)
    async with build_client(timeout=10.0, max_connections=16) as client:
        responses = await asyncio.gather(*(client.get(u) for u in urls))
    assert all(r.status_code == 200 and r.content == b"x" * 10 for r in responses)
    assert server.max_active > 1  # the requests really ran side by side
    # one per connection (16) without the shared lookup
    assert lookups.count("localhost") == 1


@pytest.mark.usefixtures("no_proxy_variables")
async def test_a_burst_through_the_engine_resolves_once(
    server: LocalServer, lookups: list[str]
) -> None:
    # aiohttp's connector caches lookups and merges simultaneous ones: no backend of ours
    urls = _by_name(server, 16)
    async with open_session(timeout=10.0, max_connections=16) as wire:

        async def get(url: str) -> tuple[int, bytes]:
            async with wire.get(url, {}) as answer:
                return answer.status, b"".join([c async for c in answer.chunks])

        answers = await asyncio.gather(*(get(u) for u in urls))
    assert answers == [(200, b"x" * 10)] * 16
    assert server.max_active > 1
    assert lookups.count("localhost") == 1


async def test_unresolvable_host_still_fails_cleanly() -> None:
    async with build_client(trust_env=False, timeout=5.0) as client:
        # A resolver that stalls on the lookup gives a timeout instead: clean too.
        with pytest.raises((httpx.ConnectError, httpx.ConnectTimeout)):
            await client.get("http://no-such-host.invalid/")


@pytest.mark.usefixtures("no_proxy_variables")
async def test_the_index_client_checks_each_address_it_connects_to(
    server: LocalServer, lookups: list[str]
) -> None:
    url = server.add("/secret", Route(body=b"internal"))
    port = server.base.rsplit(":", 1)[1]
    by_name = url.replace("127.0.0.1", "localhost")
    # the name is allowed; what it resolves to (loopback) is not
    refusing = EgressPolicy.build(trusted_urls=(), allowed_hosts=(f"localhost:{port}",))
    async with build_client(policy=refusing, timeout=5.0) as client:
        for _ in range(3):  # a cached lookup is checked as well as a fresh one
            with pytest.raises(EgressRefused, match="non-public address"):
                await client.get(by_name)
    assert server.total_hits == 0
    assert lookups.count("localhost") == 1
    # with the loopback network allowed it is reached: the address was what refused it
    allowing = EgressPolicy.build(
        trusted_urls=(), allowed_hosts=(f"localhost:{port}",), allowed_networks=("127.0.0.0/8",)
    )
    async with build_client(policy=allowing, timeout=5.0) as client:
        assert (await client.get(by_name)).content == b"internal"
    assert server.total_hits == 1


async def test_an_address_literal_is_checked_too(server: LocalServer) -> None:
    url = server.add("/secret", Route(body=b"internal"))
    refusing = EgressPolicy.build(trusted_urls=(), allowed_hosts=(server.base,))
    async with build_client(policy=refusing, trust_env=False, timeout=5.0) as client:
        with pytest.raises(EgressRefused, match="non-public address"):
            await client.get(url)
    assert server.total_hits == 0
