"""A large file starts on one connection; the others join only when it is too slow.

The server paces every connection at 2 MB/s, so what one connection brings is the same on
any machine: above the threshold the file keeps its one connection, below it the others
join after the measuring window.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from ferry.fetch import Fetcher, Segmenting
from ferry.fetch.backends import segmenting_of
from ferry.fetch.wire import AiohttpWire
from ferry.settings import Settings
from ferry.store import ContentStore
from fetch.local_server import LocalServer

pytestmark = pytest.mark.timeout(60)

MIB = 1 << 20
SIZE = 6 * MIB
RATE = 2_000_000  # bytes/s per connection


def _range_starts(server: LocalServer, url: str) -> list[int]:
    ranges = (seen.headers.get("Range") for seen in server.seen(url))
    return [int(r.removeprefix("bytes=").split("-")[0]) for r in ranges if r]


async def test_a_connection_fast_enough_keeps_the_file_to_itself(
    server: LocalServer, store: ContentStore, client: AiohttpWire, tmp_path: Path
) -> None:
    body = random.Random(1).randbytes(SIZE)
    request = server.serve("fast.bin", body, etag='"f"', rate=RATE)
    # the setting as a user writes it reaches the engine
    settings = Settings(
        data_dir=tmp_path, segments=4, segment_min_size=256 * 1024, split_below_rate=RATE // 4
    )
    segmenting = segmenting_of(settings)
    assert segmenting.enough_rate == RATE // 4
    fetcher = Fetcher(store, client, concurrency=1, retries=3, backoff=0.01, segmenting=segmenting)

    result = await fetcher.fetch_one(request)

    assert result.digest == hashlib.sha256(body).hexdigest()
    assert result.path.read_bytes() == body
    assert server.max_active == 1
    # still planned in pieces, fetched one after the other in file order
    starts = _range_starts(server, request.url)
    assert len(starts) > 1
    assert starts == sorted(starts)


async def test_a_connection_too_slow_lets_the_others_in(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = random.Random(2).randbytes(SIZE)
    request = server.serve("slow.bin", body, etag='"s"', rate=RATE)
    segmenting = Segmenting(
        connections=4, min_size=256 * 1024, min_piece=MIB, max_piece=MIB, enough_rate=2 * RATE
    )
    fetcher = Fetcher(store, client, concurrency=1, retries=3, backoff=0.01, segmenting=segmenting)

    result = await fetcher.fetch_one(request)

    assert result.digest == hashlib.sha256(body).hexdigest()
    assert server.max_active > 1
    spans = sorted(server.route(request.url).spans, key=lambda span: span[2])
    # the first connection ran alone for the measuring window (0.5 s) before the others
    assert spans[1][2] - spans[0][2] > 0.4, spans


async def test_with_no_threshold_every_connection_starts_at_once(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = random.Random(3).randbytes(SIZE)
    request = server.serve("eager.bin", body, etag='"e"', rate=RATE)
    segmenting = Segmenting(connections=4, min_size=256 * 1024, min_piece=MIB, max_piece=MIB)
    fetcher = Fetcher(store, client, concurrency=1, retries=3, backoff=0.01, segmenting=segmenting)

    result = await fetcher.fetch_one(request)

    assert result.digest == hashlib.sha256(body).hexdigest()
    assert server.max_active == 4
