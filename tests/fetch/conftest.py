"""Fixtures: a scripted local HTTP server, a store in tmp_path, the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ferry.fetch import Fetcher, open_session
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    try:
        yield srv
    finally:
        srv.close()


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
