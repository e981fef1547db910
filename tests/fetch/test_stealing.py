"""Work stealing: no connection idles while another still has far to go.

A file of six 1 MiB pieces over four connections leaves two of them idle for the last
round when pieces are only handed out; with stealing, an idle connection takes the second
half of the largest range still being fetched, so all of them work to the end. The server
paces every connection (1 MB/s), which makes the schedule the same on any machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator

import pytest

from ferry.fetch import Fetcher, Segmenting, open_session
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer

pytestmark = pytest.mark.timeout(60)

MIB = 1 << 20
# six pieces, the last a short one: not a multiple of the piece size
SIZE = 5 * MIB + 300_000
STEALING = Segmenting(
    connections=4, min_size=256 * 1024, min_piece=MIB, max_piece=MIB, min_steal=128 * 1024
)


@pytest.fixture
async def client() -> AsyncIterator[AiohttpWire]:
    async with open_session(trust_env=False, timeout=20.0) as session:
        yield session


def _blob(seed: int, size: int = SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


def _range_starts(server: LocalServer, url: str) -> list[int]:
    ranges = (seen.headers.get("Range") for seen in server.seen(url))
    return [int(r.removeprefix("bytes=").split("-")[0]) for r in ranges if r]


async def _all_spans(server: LocalServer, url: str) -> list[tuple[int, int, float, float]]:
    """Every body's span, once the server threads of the bodies cut short have noticed."""
    route = server.route(url)
    for _ in range(100):
        if len(route.spans) >= len(server.seen(url)):
            break
        await asyncio.sleep(0.02)
    return list(route.spans)


def _busy_at_the_end(spans: list[tuple[int, int, float, float]]) -> float:
    """How many connections were sending, on average, over the last quarter of the
    download (connection-seconds in that window over its length)."""
    began = min(s[2] for s in spans)
    ended = max(s[3] for s in spans)
    tail = ended - (ended - began) / 4
    busy = sum(max(0.0, min(end, ended) - max(start, tail)) for _, _, start, end in spans)
    return busy / (ended - tail)


async def test_idle_connections_take_half_of_the_largest_range(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(1)
    request = server.serve("tail.bin", body, etag='"t"', rate=1_000_000)
    fetcher = Fetcher(store, client, concurrency=1, retries=3, backoff=0.01, segmenting=STEALING)

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    assert result.digest == hashlib.sha256(body).hexdigest()
    spans = await _all_spans(server, request.url)
    starts = sorted(s[0] for s in spans)
    # halves taken from running ranges start off the piece grid
    assert any(start % MIB for start in starts), starts
    # the tail is shared: on average more than two of the four connections busy in the
    # last quarter (handing out pieces only leaves about one there)
    assert _busy_at_the_end(spans) > 2.5, spans
    # nothing was fetched twice, beyond what a connection had in flight when its range
    # was split (a few paced slices per split)
    splits = sum(1 for start in starts if start % MIB)
    assert server.route(request.url).bytes_sent < SIZE + splits * 256 * 1024


async def test_without_stealing_the_tail_is_left_to_few_connections(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    # The contrast that shows the measure above means something: pieces handed out only.
    body = _blob(2)
    request = server.serve("tail.bin", body, etag='"t"', rate=1_000_000)
    never = Segmenting(
        connections=4, min_size=256 * 1024, min_piece=MIB, max_piece=MIB, min_steal=SIZE
    )
    fetcher = Fetcher(store, client, concurrency=1, retries=3, backoff=0.01, segmenting=never)

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    spans = await _all_spans(server, request.url)
    assert all(s[0] % MIB == 0 for s in spans)
    assert _busy_at_the_end(spans) < 2.0, spans


async def test_a_split_range_that_is_reset_resumes_and_the_file_is_right(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(3)
    # every range taken from another connection is reset once, 100 kB into its body
    request = server.serve(
        "reset.bin",
        body,
        etag='"r"',
        rate=1_000_000,
        drops=4,
        drop_after=100_000,
        reset=True,
        drop_when=lambda start: start % MIB != 0,
    )
    fetcher = Fetcher(store, client, concurrency=1, retries=4, backoff=0.01, segmenting=STEALING)

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    assert result.digest == hashlib.sha256(body).hexdigest()
    route = server.route(request.url)
    assert route.drops < 4  # a split range was indeed cut, and resumed
    assert store.verify(request.digest)


async def test_a_slow_connection_keeps_only_a_small_share(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(4)
    # the first piece's connection crawls at 100 kB/s, every other at 4 MB/s
    request = server.serve(
        "slow.bin",
        body,
        etag='"s"',
        rate=4_000_000,
        rate_when=lambda start: 100_000 if start == 0 else None,
    )
    fetcher = Fetcher(store, client, concurrency=1, retries=3, backoff=0.01, segmenting=STEALING)

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    # the fast connections took over parts of its piece, more than once: the ranges asked
    # for inside the first MiB, beyond its own
    inside = [start for start in _range_starts(server, request.url) if 0 < start < MIB]
    assert len(inside) >= 2, inside


async def test_a_stalled_range_of_a_segmented_file_moves_on(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(5)
    request = server.serve(
        "stall.bin", body, etag='"st"', rate=4_000_000, stall_after=2 * MIB + 1000, stall=25.0
    )
    segmenting = Segmenting(
        connections=4, min_size=256 * 1024, min_piece=MIB, max_piece=MIB, stall=1.0
    )
    fetcher = Fetcher(store, client, concurrency=1, retries=3, backoff=0.01, segmenting=segmenting)

    result = await fetcher.fetch_one(request)

    assert result.digest == hashlib.sha256(body).hexdigest()
    assert server.route(request.url).asleep == 1  # done while that connection still slept
