"""Every fault ends with the right bytes or a clear error, never a corrupt file.

Each test runs twice: one stream per file, and segmented (a file over several
connections, in pieces small enough that a 1 MB test body has a dozen of them).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ferry.errors import FetchError, IntegrityError
from ferry.fetch import Fetcher, FetchRequest, Segmenting, open_session
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer, Route

SIZE = 1_000_000
SEGMENTED = Segmenting(connections=4, min_size=128 * 1024, min_piece=64 * 1024)
SINGLE = Segmenting(connections=1)


def _blob(seed: int, size: int = SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(params=["single", "segmented"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client() -> AsyncIterator[AiohttpWire]:
    # A short read timeout makes the slow-server test quick; trust_env off so a proxy
    # variable on a CI machine cannot reroute 127.0.0.1.
    async with open_session(trust_env=False, timeout=1.0) as session:
        yield session


@pytest.fixture
def fetcher(store: ContentStore, client: AiohttpWire, mode: str) -> Fetcher:
    segmenting = SEGMENTED if mode == "segmented" else SINGLE
    return Fetcher(store, client, concurrency=4, retries=3, backoff=0.01, segmenting=segmenting)


def _leftovers(store: ContentStore) -> list[Path]:
    found: list[Path] = []
    for folder in (store.staging_dir, store.root / "partial"):
        if folder.exists():
            found += list(folder.iterdir())
    return found


def _ranges(server: LocalServer, url: str) -> list[str | None]:
    return [s.headers.get("Range") for s in server.seen(url)]


async def test_connection_reset_mid_body(
    server: LocalServer, store: ContentStore, fetcher: Fetcher, mode: str
) -> None:
    request = server.serve("a.bin", _blob(1), etag='"a"', drops=1, drop_after=300_000, reset=True)

    result = await fetcher.fetch_one(request)

    assert store.verify(request.digest) and result.path.read_bytes() == _blob(1)
    ranges = _ranges(server, request.url)
    if mode == "single":
        # Resumed where the reset cut it (an RST may discard some of what was sent).
        assert len(ranges) == 2 and ranges[0] is None
        assert ranges[1] is not None and int(ranges[1][6:].rstrip("-")) > 0
    assert _leftovers(store) == []


async def test_truncated_body_with_correct_content_length(
    server: LocalServer, store: ContentStore, fetcher: Fetcher, mode: str
) -> None:
    # The server promises SIZE bytes, sends fewer and closes: a silent short read would
    # store a cut file, so the engine must notice, ask for the rest, and check the hash.
    request = server.serve("t.bin", _blob(2), etag='"t"', drops=2, drop_after=100_000)

    await fetcher.fetch_one(request)

    assert store.verify(request.digest)
    assert server.route(request.url).bytes_sent <= SIZE  # nothing fetched twice
    assert _leftovers(store) == []


async def test_truncated_body_without_validator_restarts(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    request = server.serve("n.bin", _blob(3), drops=1, drop_after=400_000)

    await fetcher.fetch_one(request)

    assert store.verify(request.digest)
    assert _ranges(server, request.url)[-1] is None  # nothing to resume against safely


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_are_retried_with_retry_after(
    server: LocalServer, store: ContentStore, fetcher: Fetcher, status: int
) -> None:
    request = server.serve(
        "e.bin", _blob(4), etag='"e"', statuses=[status, status], retry_after="0"
    )

    await fetcher.fetch_one(request)

    assert store.verify(request.digest)
    assert server.hits(request.url) >= 3


async def test_retry_after_seconds_are_waited(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    import time

    request = server.serve("w.bin", _blob(5, 5000), statuses=[429], retry_after="1")
    began = time.monotonic()
    await fetcher.fetch_one(request)
    assert time.monotonic() - began >= 0.9
    assert store.verify(request.digest)


@pytest.mark.parametrize("status", [400, 403, 404, 410])
async def test_client_errors_are_not_retried(
    server: LocalServer, store: ContentStore, fetcher: Fetcher, status: int
) -> None:
    request = server.serve("c.bin", _blob(6, 5000), statuses=[status])

    with pytest.raises(FetchError, match=str(status)) as info:
        await fetcher.fetch_one(request)

    assert not isinstance(info.value, IntegrityError)
    assert server.hits(request.url) == 1
    assert info.value.hint
    assert _leftovers(store) == []


async def test_408_is_retried(server: LocalServer, store: ContentStore, fetcher: Fetcher) -> None:
    request = server.serve("r.bin", _blob(7, 5000), statuses=[408])
    await fetcher.fetch_one(request)
    assert server.hits(request.url) == 2 and store.verify(request.digest)


async def test_server_that_ignores_range(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    request = server.serve(
        "i.bin", _blob(8), etag='"i"', ignore_range=True, drops=1, drop_after=250_000
    )

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == _blob(8)
    assert store.verify(request.digest)
    assert _leftovers(store) == []


async def test_file_replaced_between_segments(
    server: LocalServer, store: ContentStore, fetcher: Fetcher, mode: str
) -> None:
    old, new = _blob(9), _blob(10)
    # The first answer is the old file, then the server holds the new one. The request
    # names the new file's digest: the engine must notice (If-Range) and start over.
    url = server.add(
        "/files/m.bin",
        Route(
            body=old,
            etag='"old"',
            drops=1,
            drop_after=200_000,
            replace_after=1,
            replacement=new,
            replacement_etag='"new"',
        ),
    )
    request = FetchRequest(url, hashlib.sha256(new).hexdigest(), SIZE, "m.bin")

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == new  # never a splice of the two
    ifranges = [s.headers.get("If-Range") for s in server.seen(url)]
    assert '"old"' in ifranges


async def test_file_replaced_with_stale_digest_is_an_integrity_error(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    old, new = _blob(11), _blob(12)
    url = server.add(
        "/files/s.bin",
        Route(body=old, etag='"old"', replace_after=0, replacement=new, replacement_etag='"n"'),
    )
    request = FetchRequest(url, hashlib.sha256(old).hexdigest(), SIZE, "s.bin")

    with pytest.raises(IntegrityError):
        await fetcher.fetch_one(request)

    assert not store.has(request.digest)
    assert _leftovers(store) == []


async def test_slow_server_times_out_then_succeeds(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    # Stalls 2 s (the client's read timeout is 1 s) once, after 100 KB.
    request = server.serve("slow.bin", _blob(13), etag='"s"', stall_after=100_000, stall=2.0)

    await fetcher.fetch_one(request)

    assert store.verify(request.digest)
    assert server.hits(request.url) >= 2


async def test_server_that_never_answers_is_a_clear_error(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    request = server.serve("dead.bin", _blob(14, 1000), delay=1.5)
    fetcher = Fetcher(store, client, retries=1, backoff=0.01)

    with pytest.raises(FetchError, match="timed out") as info:
        await fetcher.fetch_one(request)

    assert "2 attempts" in info.value.message
    assert not store.has(request.digest)


async def test_wrong_bytes_are_rejected_and_nothing_is_kept(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    good = _blob(15)
    bad = bytearray(good)
    bad[SIZE - 10] ^= 0x01  # in the last piece, so a segmented run gets far
    url = server.add("/files/x.bin", Route(body=bytes(bad), etag='"x"'))
    request = FetchRequest(url, hashlib.sha256(good).hexdigest(), SIZE, "x.bin")

    with pytest.raises(IntegrityError) as info:
        await fetcher.fetch_one(request)

    assert info.value.found == f"sha256 {hashlib.sha256(bad).hexdigest()}"
    assert not store.has(request.digest)
    assert not store.path_for(request.digest).exists()
    assert _leftovers(store) == []
    # Not retried: a second copy from the same source proves nothing.
    assert server.route(url).bytes_sent == SIZE


async def test_wrong_size_announced_by_a_range_is_an_integrity_error(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    body = _blob(16)
    url = server.add("/files/z.bin", Route(body=body, etag='"z"'))
    request = FetchRequest(url, hashlib.sha256(body).hexdigest(), SIZE + 1, "z.bin")

    with pytest.raises(IntegrityError, match=str(SIZE + 1)):
        await fetcher.fetch_one(request)
    assert _leftovers(store) == []
