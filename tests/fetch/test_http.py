from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry.errors import FetchError
from ferry.fetch import Fetcher, FetchRequest, Segmenting, build_client, open_session
from ferry.store import ContentStore
from fetch.local_server import LocalServer, Route


async def test_client_sends_user_agent_and_follows_redirects() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/old":
            return httpx.Response(302, headers={"Location": "/new"})
        return httpx.Response(200, content=b"ok")

    async with build_client(transport=httpx.MockTransport(handler)) as client:
        resp = await client.get("http://127.0.0.1/old")

    assert resp.content == b"ok"
    assert [r.url.path for r in seen] == ["/old", "/new"]
    assert seen[0].headers["User-Agent"] == f"ferry/{version('ferry')}"


async def test_weak_etag_is_never_used_to_resume(tmp_path: Path) -> None:
    body = b"x" * 100_000
    server = LocalServer()
    try:
        request = server.serve("f.bin", body, etag='W/"weak"', drops=1, drop_after=40_000)
        store = ContentStore(tmp_path)
        async with open_session(trust_env=False) as session:
            result = await Fetcher(store, session, backoff=0).fetch_one(request)
        seen = server.seen(request.url)
    finally:
        server.close()

    assert result.bytes_fetched == 100_000
    assert len(seen) == 2 and "Range" not in seen[1].headers
    assert store.verify(request.digest)


# --- TLS against a real socket -------------------------------------------------------


async def test_cert_option_trusts_a_private_ca(
    tls_server: LocalServer, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    request = tls_server.serve("a.whl", b"over tls")
    async with open_session(cert=certificate[0], trust_env=False) as session:
        result = await Fetcher(ContentStore(tmp_path), session).fetch_one(request)
    assert result.bytes_fetched == len(b"over tls")


async def test_ssl_cert_file_is_honoured_from_the_environment(
    tls_server: LocalServer,
    certificate: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    request = tls_server.serve("a.whl", b"over tls")
    async with open_session() as session:
        result = await Fetcher(ContentStore(tmp_path), session).fetch_one(request)
    assert result.bytes_fetched == len(b"over tls")


async def test_untrusted_certificate_fails_at_once_with_a_hint(
    tls_server: LocalServer, tmp_path: Path
) -> None:
    request = tls_server.serve("a.whl", b"over tls")
    async with open_session(trust_env=False) as session:
        fetcher = Fetcher(ContentStore(tmp_path), session, retries=4, backoff=5.0)
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            await fetcher.fetch_one(request)
    assert time.monotonic() - started < 2.5  # a single retry would have slept 5 s
    assert "certificate" in info.value.message
    assert info.value.hint and "SSL_CERT_FILE" in info.value.hint
    assert tls_server.hits(request.url) == 0


# --- HTTP/2 (httpx wire) against a real h2 server -------------------------------------


def _range_app(body: bytes, versions: list[str]) -> Any:
    """An ASGI app serving ``body`` with Range + ETag, noting each request's HTTP version."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        versions.append(scope["http_version"])
        headers = dict(scope["headers"])
        start, end, status = 0, len(body), 200
        wanted = headers.get(b"range", b"").decode()
        if wanted.startswith("bytes=") and headers.get(b"if-range", b'"b"') == b'"b"':
            first, _, last = wanted[6:].partition("-")
            start, end, status = int(first), (int(last) + 1 if last else len(body)), 206
        out = [(b"content-length", str(end - start).encode()), (b"etag", b'"b"')]
        if status == 206:
            out.append((b"content-range", f"bytes {start}-{end - 1}/{len(body)}".encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body[start:end]})

    return app


@pytest.fixture
def h2_server(certificate: tuple[Path, Path]) -> Iterator[tuple[str, bytes, list[str]]]:
    import asyncio
    import socket
    import threading

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    body = random.Random(7).randbytes(3_000_000)
    versions: list[str] = []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(certificate[0]), str(certificate[1])
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = config.errorlog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_until_complete(
            serve(_range_app(body, versions), config, shutdown_trigger=stop.wait)
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    for _ in range(100):  # until it listens
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{port}/model.bin", body, versions
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)


async def test_http2_where_the_server_speaks_it(
    h2_server: tuple[str, bytes, list[str]], certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    url, body, versions = h2_server
    request = FetchRequest(url, hashlib.sha256(body).hexdigest(), len(body), "model.bin")
    segmenting = Segmenting(connections=4, min_size=256 * 1024, min_piece=256 * 1024)
    async with build_client(cert=certificate[0], http2=True, trust_env=False) as client:
        store = ContentStore(tmp_path)
        result = await Fetcher(store, client, segmenting=segmenting).fetch_one(request)
    assert result.path.read_bytes() == body
    assert len(versions) > 4  # the pieces, multiplexed as streams of HTTP/2 connections
    assert set(versions) == {"2"}


# --- the index client's transport (fetch/transport.py) against real sockets ----------

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment with no proxy variables but the ones a test sets."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@asynccontextmanager
async def connect_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A forward proxy for https (CONNECT only) on 127.0.0.1, noting each tunnel's target."""
    tunnels: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            tunnels.append(target)
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(
                pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            writer.close()

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}", tunnels
    finally:
        proxy.close()


async def test_http_proxy_from_the_environment(
    server: LocalServer, proxy_env: pytest.MonkeyPatch
) -> None:
    # The host does not exist: only the proxy can answer for it.
    server.add("/simple/dep/", Route(body=b"the page"))
    proxy_env.setenv("HTTP_PROXY", server.base)
    async with build_client() as client:
        resp = await client.get("http://index.ferry-test.example/simple/dep/")
    assert resp.content == b"the page"
    assert server.proxied == ["index.ferry-test.example"]


async def test_https_proxy_from_the_environment(
    tls_server: LocalServer, certificate: tuple[Path, Path], proxy_env: pytest.MonkeyPatch
) -> None:
    url = tls_server.add("/simple/dep/", Route(body=b"over the tunnel"))
    async with connect_proxy() as (proxy, tunnels):
        proxy_env.setenv("HTTPS_PROXY", proxy)
        async with build_client(cert=certificate[0], http2=False) as client:
            resp = await client.get(url)
    assert resp.content == b"over the tunnel"
    assert tunnels == [tls_server.base.removeprefix("https://")]


async def test_no_proxy_is_honoured_by_the_index_client(
    server: LocalServer, proxy_env: pytest.MonkeyPatch
) -> None:
    url = server.add("/simple/dep/", Route(body=b"direct"))
    proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    proxy_env.setenv("NO_PROXY", "127.0.0.1")
    async with build_client() as client:
        assert (await client.get(url)).content == b"direct"
    assert server.proxied == []


async def test_proxy_variables_are_ignored_without_trust_env_but_a_setting_is_not(
    server: LocalServer, proxy_env: pytest.MonkeyPatch
) -> None:
    url = server.add("/simple/dep/", Route(body=b"page"))
    proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    async with build_client(trust_env=False) as client:
        assert (await client.get(url)).content == b"page"
    async with build_client(proxy=server.base, trust_env=False) as client:
        assert (await client.get("http://other.ferry-test.example/simple/dep/")).content == b"page"
    assert server.proxied == ["other.ferry-test.example"]


async def test_through_a_proxy_the_policy_checks_urls(
    server: LocalServer, proxy_env: pytest.MonkeyPatch
) -> None:
    from ferry.egress import EgressPolicy, EgressRefused

    server.add("/simple/dep/", Route(body=b"page"))
    proxy_env.setenv("HTTP_PROXY", server.base)
    policy = EgressPolicy.build(
        trusted_urls=["http://index.ferry-test.example/"], proxies=[server.base]
    )
    async with build_client(policy=policy) as client:
        with pytest.raises(EgressRefused):
            await client.get("http://evil.ferry-test.example/simple/dep/")
        # the proxy resolves the names it is asked for, and answers for their addresses
        resp = await client.get("http://index.ferry-test.example/simple/dep/")
    assert resp.content == b"page"
    assert server.proxied == ["index.ferry-test.example"]


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_body_cut_short_is_an_httpx_error(server: LocalServer, reset: bool) -> None:
    url = server.add(
        "/big.whl", Route(body=b"x" * 500_000, drops=2, drop_after=100_000, reset=reset)
    )
    async with build_client(trust_env=False) as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            async with client.stream("GET", url) as resp:
                async for _ in resp.aiter_raw():
                    pass
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await client.get(url)


async def test_connection_errors_are_httpx_errors(server: LocalServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once the probe is closed
    slow = server.add("/slow/", Route(body=b"late", delay=1.0))
    async with build_client(trust_env=False, timeout=5.0) as client:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://{host}:{closed}/simple/")
        with pytest.raises(httpx.ReadTimeout):
            await client.get(slow, timeout=0.2)
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/simple/")


async def test_the_index_client_negotiates_http2(
    h2_server: tuple[str, bytes, list[str]], certificate: tuple[Path, Path]
) -> None:
    url, body, versions = h2_server
    async with build_client(cert=certificate[0], http2=True, trust_env=False) as client:
        resp = await client.get(url)
    assert resp.http_version == "HTTP/2" and resp.content == body
    async with build_client(cert=certificate[0], http2=False, trust_env=False) as client:
        assert (await client.get(url)).http_version == "HTTP/1.1"
    assert versions == ["2", "1.1"]
