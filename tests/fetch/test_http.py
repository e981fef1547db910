from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry.errors import FetchError
from ferry.fetch import Fetcher, FetchRequest, Segmenting, build_client, open_session
from ferry.store import ContentStore
from fetch.local_server import LocalServer


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
