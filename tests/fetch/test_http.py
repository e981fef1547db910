from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from ferry.errors import FetchError
from ferry.fetch import Fetcher, FetchRequest, build_client
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


class _BrokenStream(httpx.AsyncByteStream):
    """Yields a prefix, then fails the way a dropped connection does."""

    def __init__(self, prefix: bytes) -> None:
        self._prefix = prefix

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._prefix
        raise httpx.ReadError("connection reset")


async def test_weak_etag_is_never_used_to_resume(tmp_path: Path) -> None:
    body = b"x" * 1000
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"ETag": 'W/"weak"', "Content-Length": str(len(body))}
        if len(seen) == 1:
            return httpx.Response(200, headers=headers, stream=_BrokenStream(body[:400]))
        return httpx.Response(200, headers=headers, content=body)

    store = ContentStore(tmp_path)
    async with build_client(transport=httpx.MockTransport(handler)) as client:
        fetcher = Fetcher(store, client, backoff=0)
        request = FetchRequest("http://127.0.0.1/f", hashlib.sha256(body).hexdigest(), 1000)
        result = await fetcher.fetch_one(request)

    assert result.bytes_fetched == 1000
    assert "Range" not in seen[1].headers
    assert store.verify(request.digest)


# --- TLS against a real socket -------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not available to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec"),
            *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[LocalServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    srv = LocalServer(tls=ctx)
    try:
        yield srv
    finally:
        srv.close()


async def test_cert_option_trusts_a_private_ca(
    tls_server: LocalServer, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    request = tls_server.serve("a.whl", b"over tls")
    async with build_client(cert=certificate[0], trust_env=False) as client:
        result = await Fetcher(ContentStore(tmp_path), client).fetch_one(request)
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
    async with build_client() as client:
        result = await Fetcher(ContentStore(tmp_path), client).fetch_one(request)
    assert result.bytes_fetched == len(b"over tls")


async def test_untrusted_certificate_fails_at_once_with_a_hint(
    tls_server: LocalServer, tmp_path: Path
) -> None:
    request = tls_server.serve("a.whl", b"over tls")
    async with build_client(trust_env=False) as client:
        fetcher = Fetcher(ContentStore(tmp_path), client, retries=4, backoff=5.0)
        started = time.monotonic()
        with pytest.raises(FetchError) as info:
            await fetcher.fetch_one(request)
    assert time.monotonic() - started < 2.5  # a single retry would have slept 5 s
    assert "certificate" in info.value.message
    assert info.value.hint and "SSL_CERT_FILE" in info.value.hint
    assert tls_server.hits(request.url) == 0
