"""The native engine alone; what both backends must do is in test_contract.py."""

from __future__ import annotations

import gc
import hashlib
import random
import time
import tracemalloc
from pathlib import Path

from ferry.errors import FetchError, IntegrityError
from ferry.fetch import Fetcher, FetchRequest
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer, Route


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _staging_leftovers(store: ContentStore) -> list[Path]:
    return list(store.staging_dir.iterdir()) if store.staging_dir.exists() else []


async def test_longer_body_than_promised_is_cut_short(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    body = _blob(4, 300_000)
    # No Content-Length to go by: the size check must stop reading by itself.
    url = server.add("/files/x.whl", Route(body=body, close_delimited=True))
    request = FetchRequest(url, hashlib.sha256(body[:100]).hexdigest(), 100, "x.whl")

    report = await fetcher.fetch_all([request])

    [(_, error)] = report.failures
    assert isinstance(error, IntegrityError)
    assert _staging_leftovers(store) == []


async def test_429_with_retry_after_zero_is_retried(server: LocalServer, fetcher: Fetcher) -> None:
    request = server.serve("a.whl", _blob(6, 1000), statuses=[429], retry_after="0")

    await fetcher.fetch_one(request)

    assert server.hits(request.url) == 2


async def test_retry_after_is_honoured(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    fetcher = Fetcher(store, client, retries=1, backoff=0)
    request = server.serve("a.whl", _blob(7, 1000), statuses=[503], retry_after="1")

    started = time.monotonic()
    await fetcher.fetch_one(request)

    assert time.monotonic() - started >= 0.9
    assert server.hits(request.url) == 2


async def test_connection_dropped_mid_body_restarts_cleanly(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    request = server.serve("big.whl", _blob(9, 500_000), drops=1, drop_after=200_000)

    result = await fetcher.fetch_one(request)

    assert store.verify(request.digest)
    assert result.bytes_fetched == 500_000
    _first, second = server.seen(request.url)
    assert "Range" not in second.headers  # no ETag, so no resume


async def test_connection_dropped_mid_body_resumes_with_etag(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    request = server.serve("big.whl", _blob(10, 500_000), drops=1, drop_after=200_000, etag='"v1"')

    await fetcher.fetch_one(request)

    assert store.verify(request.digest)
    _first, second = server.seen(request.url)
    assert second.headers["Range"] == "bytes=200000-"
    assert second.headers["If-Range"] == '"v1"'


async def test_resume_starts_over_when_the_file_changed(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    request = server.serve(
        "big.whl",
        _blob(11, 500_000),
        drops=1,
        drop_after=200_000,
        etag='"v1"',
        etag_after_drop='"v2"',
    )

    await fetcher.fetch_one(request)

    assert store.verify(request.digest)
    assert len(server.seen(request.url)) == 2


async def test_one_failure_does_not_stop_the_others(server: LocalServer, fetcher: Fetcher) -> None:
    good = [server.serve(f"ok{i}.whl", _blob(20 + i, 5000)) for i in range(6)]
    missing = FetchRequest(server.base + "/nope.whl", "b" * 64, None, "nope.whl")

    report = await fetcher.fetch_all([*good[:3], missing, *good[3:]])

    assert [r.request for r in report.results] == good
    assert [req for req, _ in report.failures] == [missing]


async def test_file_url_and_plain_path(
    tmp_path: Path, store: ContentStore, fetcher: Fetcher
) -> None:
    a = tmp_path / "a dir" / "a.whl"
    a.parent.mkdir()
    a.write_bytes(_blob(40, 3_000_000))
    b = tmp_path / "b.whl"
    b.write_bytes(_blob(41, 10))
    req_a = FetchRequest(a.as_uri(), hashlib.sha256(a.read_bytes()).hexdigest(), 3_000_000)
    req_b = FetchRequest(str(b), hashlib.sha256(b.read_bytes()).hexdigest())

    report = await fetcher.fetch_all([req_a, req_b])

    assert report.ok, report.failures
    assert report.results[0].request.display_name == "a.whl"
    assert store.verify(req_a.digest) and store.verify(req_b.digest)
    assert a.exists()  # copied, not moved
    assert report.bytes_fetched == 3_000_010


async def test_local_file_with_wrong_hash_or_missing(
    tmp_path: Path, store: ContentStore, fetcher: Fetcher
) -> None:
    a = tmp_path / "a.whl"
    a.write_bytes(b"hello")
    wrong = FetchRequest(str(a), "c" * 64)
    missing = FetchRequest(str(tmp_path / "missing.whl"), "d" * 64)

    report = await fetcher.fetch_all([wrong, missing])

    errors = dict(report.failures)
    assert isinstance(errors[wrong], IntegrityError)
    assert type(errors[missing]) is FetchError
    assert "missing.whl" in errors[missing].message
    assert _staging_leftovers(store) == []


async def test_unsupported_scheme_and_bad_hash_are_not_retried(fetcher: Fetcher) -> None:
    ftp = FetchRequest("ftp://127.0.0.1/x.whl", "e" * 64)
    traversal = FetchRequest("http://127.0.0.1:9/x.whl", "../../etc/passwd")

    report = await fetcher.fetch_all([ftp, traversal])

    errors = dict(report.failures)
    assert "unsupported URL" in errors[ftp].message
    assert "not a sha256" in errors[traversal].message


async def test_memory_stays_flat_for_a_large_body(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    block = _blob(50, 1 << 20)
    count = 200
    hasher = hashlib.sha256()
    for _ in range(count):
        hasher.update(block)
    url = server.add(
        "/files/model.bin", Route(chunks=lambda: (block for _ in range(count)), length=count << 20)
    )
    request = FetchRequest(url, hasher.hexdigest(), count << 20, "model.bin")

    gc.collect()
    tracemalloc.start()
    try:
        result = await fetcher.fetch_one(request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    try:
        assert result.bytes_fetched == count << 20
        assert result.path.stat().st_size == count << 20
        assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    finally:
        result.path.unlink()
