"""Fixtures: a store in tmp_path, the real client (the scripted server is in tests/conftest.py)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ferry.fetch import Fetcher, open_session
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "store")


@pytest.fixture
async def client() -> AsyncIterator[AiohttpWire]:
    # trust_env off: a proxy variable on a CI machine must not reroute 127.0.0.1.
    async with open_session(trust_env=False, timeout=10.0) as session:
        yield session


@pytest.fixture
def fetcher(store: ContentStore, client: AiohttpWire) -> Fetcher:
    return Fetcher(store, client, concurrency=8, retries=3, backoff=0.01)


@pytest.fixture(scope="session")
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
