"""The egress policy on its own (pure), then applied by the engine (aiohttp) and the
index client (httpx): refused URLs, redirects to refused places, and names that resolve
to addresses the policy refuses, all before a single request reaches them."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from ferry.egress import EgressPolicy, EgressRefused, HostPattern
from ferry.fetch import FetchRequest
from ferry.fetch.engine import Fetcher
from ferry.fetch.http import build_client
from ferry.fetch.session import open_session
from ferry.store import ContentStore
from fetch.local_server import LocalServer, Route

BODY = b"a wheel's bytes" * 100


def policy(
    *trusted: str, hosts: tuple[str, ...] = (), networks: tuple[str, ...] = ()
) -> EgressPolicy:
    return EgressPolicy.build(trusted_urls=trusted, allowed_hosts=hosts, allowed_networks=networks)


# ---- the policy -------------------------------------------------------------------------


def test_configured_origins_and_the_allow_list() -> None:
    p = policy(
        "https://index.example/simple/",
        "http://10.1.2.3:8080/npm/",
        "file:///srv/wheels",
        hosts=("files.example", "*.cdn.example", "mirror.example:8443"),
    )
    allowed = [
        "https://index.example/simple/dep/",
        "http://index.example:443/x",  # the origin is host and port; 443 was configured
        "http://10.1.2.3:8080/npm/x.tgz",
        "https://files.example/x.whl",
        "http://files.example/x.whl",
        "https://a.cdn.example/x.whl",
        "https://mirror.example:8443/x",
        "file:///srv/wheels/x.whl",
    ]
    refused = [
        "https://index.example:8443/x",  # another port on a configured host
        "https://files.example:5432/x",  # the allow-list without a port: 80 and 443 only
        "https://cdn.example/x",  # *.cdn.example is its subdomains
        "https://evil.example/x",
        "ftp://index.example/x",
        "file:///etc/passwd",
        "file:///srv/wheelsX/x",
        "/etc/passwd",
        "gopher://127.0.0.1:6379/_x",
        "http://[::1]:8080/x",
    ]
    for url in allowed:
        assert p.refusal(url) is None, url
    for url in refused:
        assert p.refusal(url) is not None, url
    reason = p.refusal("https://evil.example:8443/x")
    assert reason == (
        "evil.example:8443 is neither a configured index or registry nor on the allowed_hosts list"
    )


def test_addresses() -> None:
    p = policy("http://10.1.2.3:8080/", networks=("192.168.7.0/24",))
    refused = [
        "127.0.0.1",
        "127.8.9.1",
        "10.0.0.5",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "not-an-address",
    ]
    for address in refused:
        assert p.address_refusal("name.example", 443, address) is not None, address
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "192.168.7.9"):
        assert p.address_refusal("name.example", 443, address) is None, address
    # the operator's own origin may be anywhere: an internal index is their decision
    assert p.address_refusal("10.1.2.3", 8080, "10.1.2.3") is None


def test_host_patterns_refuse_what_is_no_host() -> None:
    for bad in ("", "a b", "user@host", "host:port"):
        with pytest.raises(ValueError):
            HostPattern.parse(bad)


# ---- applied ----------------------------------------------------------------------------


@pytest.fixture
def canary() -> AsyncIterator[LocalServer]:
    srv = LocalServer()
    srv.add("/secret", Route(body=b"internal"))
    yield srv
    srv.close()


def _request(url: str) -> FetchRequest:
    return FetchRequest(url, hashlib.sha256(BODY).hexdigest(), len(BODY), "dep.whl")


async def _engine(store: ContentStore, p: EgressPolicy) -> AsyncIterator[Fetcher]:
    async with open_session(trust_env=False, timeout=5.0, policy=p) as session:
        fetcher = Fetcher(store, session, retries=2, backoff=0.01)
        fetcher.policy = p
        yield fetcher


async def test_the_engine_fetches_from_an_allowed_origin(
    server: LocalServer, store: ContentStore
) -> None:
    url = server.add("/dep.whl", Route(body=BODY))
    async for fetcher in _engine(store, policy(server.base + "/")):
        result = await fetcher.fetch_one(_request(url))
    assert result.path.read_bytes() == BODY


async def test_the_engine_refuses_a_url_and_asks_nothing(
    canary: LocalServer, store: ContentStore
) -> None:
    async for fetcher in _engine(store, policy("https://index.example/")):
        with pytest.raises(EgressRefused, match="allowed_hosts"):
            await fetcher.fetch_one(_request(canary.base + "/secret"))
        with pytest.raises(EgressRefused, match="local path"):
            await fetcher.fetch_one(_request("file:///etc/passwd"))
    assert canary.total_hits == 0


async def test_the_engine_refuses_a_redirect_to_a_refused_place(
    server: LocalServer, canary: LocalServer, store: ContentStore
) -> None:
    url = server.add("/dep.whl", Route(location=canary.base + "/secret"))
    async for fetcher in _engine(store, policy(server.base + "/")):
        with pytest.raises(EgressRefused):
            await fetcher.fetch_one(_request(url))
    assert server.hits("/dep.whl") == 1  # refused at once, never retried
    assert canary.total_hits == 0


async def test_the_engine_checks_the_address_a_name_resolves_to(
    canary: LocalServer, store: ContentStore
) -> None:
    port = canary.base.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/secret"
    # the name is on the allow-list; what it resolves to (127.0.0.1) is not
    async for fetcher in _engine(store, policy(hosts=(f"localhost:{port}",))):
        with pytest.raises(EgressRefused, match="non-public address"):
            await fetcher.fetch_one(_request(url))
    assert canary.total_hits == 0
    # the same with the loopback network allowed: the address check was what refused it
    allowed = policy(hosts=(f"localhost:{port}",), networks=("127.0.0.0/8",))
    async for fetcher in _engine(store, allowed):
        with pytest.raises(Exception, match=r"announces another size"):
            await fetcher.fetch_one(_request(url))  # reached it: wrong bytes, as expected
    assert canary.total_hits >= 1


async def test_the_index_client_refuses_redirects_and_addresses(
    server: LocalServer, canary: LocalServer
) -> None:
    url = server.add("/simple/dep/", Route(location=canary.base + "/secret"))
    async with build_client(policy=policy(server.base + "/"), trust_env=False) as client:
        with pytest.raises(EgressRefused):
            await client.get(url)
        with pytest.raises(EgressRefused):
            await client.get(canary.base + "/secret")
    port = canary.base.rsplit(":", 1)[1]
    by_name = policy(hosts=(f"localhost:{port}",))
    async with build_client(policy=by_name, trust_env=False) as client:
        with pytest.raises(EgressRefused, match="non-public address"):
            await client.get(f"http://localhost:{port}/secret")
    assert canary.total_hits == 0
