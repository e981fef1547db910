"""What every download backend promises, run against each: the native engine and aria2.

The same requests, the same scripted server, the same assertions: the right bytes in the
store or a clear error, never a corrupt file; the same progress events; batches that
pause, resume and cancel.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ferry.errors import FerryError, FetchError, IntegrityError
from ferry.fetch import Batch, Cancelled, Fetcher, FetchRequest, Segmenting
from ferry.fetch.aria2 import Aria2Fetcher
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer, Route

AnyFetcher = Fetcher | Aria2Fetcher
Make = Callable[..., AnyFetcher]


class Recorder:
    """A progress listener that remembers everything it was told."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.starts: list[tuple[int, int]] = []
        self.bytes: Counter[str] = Counter()
        self.done: list[tuple[str, bool]] = []
        self.failed: list[tuple[str, FerryError]] = []
        self.finished = 0
        self.in_place: dict[str, int] = {}

    def start(self, total_files: int, total_bytes: int) -> None:
        self.starts.append((total_files, total_bytes))

    def advance(self, name: str, nbytes: int) -> None:
        self.bytes[name] += nbytes

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        self.done.append((name, from_cache))
        self.in_place[name] = nbytes

    def file_failed(self, name: str, error: FerryError) -> None:
        self.failed.append((name, error))

    def finish(self) -> None:
        self.finished += 1


@pytest.fixture(params=["native", "aria2"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make(
    backend: str, store: ContentStore, client: AiohttpWire, tmp_path: Path
) -> AsyncIterator[Make]:
    """Builds fetchers of the backend under test; aria2 ones are closed afterwards."""
    made: list[Aria2Fetcher] = []
    count = itertools.count()

    def build(**options: Any) -> AnyFetcher:
        options = {"concurrency": 8, "retries": 3, "backoff": 0.01, **options}
        if backend == "native":
            return Fetcher(store, client, **options)
        fetcher = Aria2Fetcher(
            store,
            state_dir=tmp_path / f"aria2-{next(count)}",
            trust_env=False,
            poll_interval=0.05,
            **options,
        )
        made.append(fetcher)
        return fetcher

    yield build
    for fetcher in made:
        await fetcher.aclose()


@pytest.fixture
def fetcher(make: Make) -> AnyFetcher:
    return make()


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _leftovers(store: ContentStore) -> list[Path]:
    """Partial and staging files of either backend (lock files may stay)."""
    found: list[Path] = []
    for folder in (store.staging_dir, store.root / "partial", store.root / "aria2"):
        if folder.exists():
            found += [p for p in folder.iterdir() if not p.name.endswith(".lock")]
    return found


def _stored(store: ContentStore) -> list[Path]:
    return [
        p for algo in ("sha256", "sha512") for p in (store.root / algo).rglob("*") if p.is_file()
    ]


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.whl"  # nothing listens there any more


def _range_starts(server: LocalServer, url: str) -> list[int]:
    starts = []
    for seen in server.seen(url):
        value = seen.headers.get("Range")
        if value:
            starts.append(int(value.removeprefix("bytes=").split("-")[0]))
    return starts


async def test_many_files_land_in_the_store_concurrently(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher
) -> None:
    requests = [
        server.serve(f"f{i}.whl", _blob(i, random.Random(i).randint(0, 300_000)), delay=0.02)
        for i in range(40)
    ]

    report = await fetcher.fetch_all(requests)

    assert report.ok, report.failures
    assert [r.request for r in report.results] == requests
    assert report.bytes_fetched == sum(r.size or 0 for r in requests)
    assert report.from_cache == 0
    for request, result in zip(requests, report.results, strict=True):
        assert result.path == store.path_for(request.digest)
        assert store.verify(request.digest)
        assert result.bytes_fetched == request.size
        assert result.digest == request.digest
    assert 1 < server.max_active <= 8
    assert _leftovers(store) == []


async def test_second_fetch_comes_from_the_store(server: LocalServer, fetcher: AnyFetcher) -> None:
    requests = [server.serve(f"f{i}.tar.gz", _blob(i, 10_000)) for i in range(5)]
    await fetcher.fetch_all(requests)
    hits = server.total_hits

    report = await fetcher.fetch_all(requests)

    assert server.total_hits == hits
    assert report.bytes_fetched == 0
    assert report.from_cache == 5
    assert all(r.from_cache for r in report.results)


async def test_a_fresh_fetcher_finds_the_store_without_asking_anyone(
    server: LocalServer, make: Make
) -> None:
    requests = [server.serve(f"g{i}.whl", _blob(100 + i, 3000)) for i in range(3)]
    await make().fetch_all(requests)
    hits = server.total_hits
    again = make()

    report = await again.fetch_all(requests)

    assert report.from_cache == 3 and server.total_hits == hits
    if isinstance(again, Aria2Fetcher):
        assert again.daemon.pid is None  # cache hits never start aria2c


async def test_hash_mismatch_is_rejected_reported_once_and_leaves_nothing(
    server: LocalServer, store: ContentStore, make: Make
) -> None:
    recorder = Recorder()
    fetcher = make(listener=recorder)
    good = _blob(1, 50_000)
    bad = bytearray(good)
    bad[123] ^= 0xFF
    url = server.add("/files/evil.whl", Route(body=bytes(bad)))
    expected = hashlib.sha256(good).hexdigest()
    request = FetchRequest(url, expected, len(good), "evil.whl")
    fine = server.serve("fine.whl", _blob(2, 1000))

    report = await fetcher.fetch_all([request, fine])

    assert [r.request for r in report.results] == [fine]
    [(failed, error)] = report.failures
    assert failed == request
    assert isinstance(error, IntegrityError)
    for part in ("evil.whl", url, expected):
        assert part in error.message
    # what arrived is for the one who fetched it (the CLI prints it), not in the message
    # a service task's error document is made from
    assert error.found == f"sha256 {hashlib.sha256(bad).hexdigest()}"
    assert hashlib.sha256(bad).hexdigest() not in str(error.to_dict())
    assert error.hint
    assert [name for name, _ in recorder.failed] == ["evil.whl"]
    assert recorder.bytes["evil.whl"] == 0  # what it counted was taken back
    assert not store.has(expected)
    assert not store.path_for(expected).exists()
    assert _leftovers(store) == []
    assert server.hits(url) == 1  # never retried: a second copy proves nothing


async def test_wrong_announced_size_is_an_integrity_error(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher
) -> None:
    body = _blob(3, 4000)
    url = server.add("/files/x.whl", Route(body=body))
    request = FetchRequest(url, hashlib.sha256(body).hexdigest(), 3999, "x.whl")

    with pytest.raises(IntegrityError, match="3999"):
        await fetcher.fetch_one(request)
    assert not store.has(request.digest)
    assert _leftovers(store) == []


async def test_503_twice_then_success(server: LocalServer, fetcher: AnyFetcher) -> None:
    request = server.serve("a.whl", _blob(5, 20_000), statuses=[503, 503])

    result = await fetcher.fetch_one(request)

    assert result.bytes_fetched == 20_000
    assert server.hits(request.url) == 3


async def test_gives_up_after_retries(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher
) -> None:
    request = server.serve("a.whl", _blob(8, 1000), statuses=[500] * 10)

    report = await fetcher.fetch_all([request])

    [(_, error)] = report.failures
    assert type(error) is FetchError
    assert "500" in error.message and "4 attempts" in error.message
    assert server.hits(request.url) == 4  # retries=3
    assert _leftovers(store) == []


async def test_404_is_a_clear_error_and_not_retried(
    server: LocalServer, fetcher: AnyFetcher
) -> None:
    url = server.base + "/files/gone.whl"
    request = FetchRequest(url, "a" * 64, None, "gone.whl")

    with pytest.raises(FetchError) as info:
        await fetcher.fetch_one(request)

    assert not isinstance(info.value, IntegrityError)
    assert "404" in info.value.message
    assert url in info.value.message
    assert info.value.hint and "resolve again" in info.value.hint
    assert server.hits(url) == 1


async def test_credentials_in_urls_are_not_shown(server: LocalServer, fetcher: AnyFetcher) -> None:
    url = server.base.replace("://", "://alice:s3cret@") + "/private.whl"

    with pytest.raises(FetchError) as info:
        await fetcher.fetch_one(FetchRequest(url, "f" * 64))

    assert "s3cret" not in info.value.message
    assert "404" in info.value.message


@pytest.mark.parametrize("etag", ['"v1"', None], ids=["resumable", "no-validator"])
async def test_connection_dropped_mid_body_ends_with_the_right_bytes(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher, etag: str | None
) -> None:
    body = _blob(9, 500_000)
    request = server.serve("big.whl", body, drops=1, drop_after=200_000, etag=etag)

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    assert store.verify(request.digest)
    if etag is not None:
        # Resumed, not restarted (aria2 resumes from the last whole 16 KiB block).
        [start] = _range_starts(server, request.url)
        assert 150_000 < start <= 200_000
    assert _leftovers(store) == []


async def test_faults_mid_body_end_with_the_right_bytes(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher
) -> None:
    bodies = {name: _blob(60 + i, 600_000) for i, name in enumerate(["reset", "cut", "norange"])}
    requests = [
        server.serve("reset", bodies["reset"], etag='"r"', drops=1, drop_after=250_000, reset=True),
        # Promises the whole length, sends less and closes; twice.
        server.serve("cut", bodies["cut"], etag='"c"', drops=2, drop_after=100_000),
        # Ranges are ignored: a resume gets the whole file again, from the start.
        server.serve(
            "norange", bodies["norange"], etag='"n"', ignore_range=True, drops=1, drop_after=250_000
        ),
    ]

    report = await fetcher.fetch_all(requests)

    assert report.ok, report.failures
    for result in report.results:
        assert result.path.read_bytes() == bodies[result.request.display_name]
    assert server.route(requests[1].url).bytes_sent <= 600_000  # nothing fetched twice
    assert _leftovers(store) == []


async def test_empty_file_and_a_body_longer_than_promised(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher
) -> None:
    empty = server.serve("empty.whl", b"")
    body = _blob(70, 300_000)
    url = server.add("/files/long.whl", Route(body=body, close_delimited=True))
    long = FetchRequest(url, hashlib.sha256(body[:100]).hexdigest(), 100, "long.whl")

    report = await fetcher.fetch_all([empty, long])

    [result] = report.results
    assert result.request == empty and result.path.read_bytes() == b""
    [(_, error)] = report.failures
    assert isinstance(error, IntegrityError)
    assert not store.has(long.digest)
    assert _leftovers(store) == []


@pytest.mark.parametrize("where", ["batch", "fetcher"])
async def test_a_rate_limit_slows_the_downloads(
    server: LocalServer, make: Make, where: str
) -> None:
    requests = [server.serve(f"r{i}.whl", _blob(80 + i, 200_000)) for i in range(2)]
    batch = Batch(rate_limit=400_000) if where == "batch" else None
    fetcher = make(rate_limit=400_000) if where == "fetcher" else make()

    began = asyncio.get_running_loop().time()
    report = await fetcher.fetch_all(requests, batch=batch)
    elapsed = asyncio.get_running_loop().time() - began

    assert report.ok, report.failures
    assert elapsed >= 0.5  # 400 KB at 400 KB/s, less the first burst


async def test_sha512_blobs_for_npm_tarballs(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher
) -> None:
    body = _blob(7, 20_000)
    url = server.add("/files/pkg-1.0.0.tgz", Route(body=body))
    digest = hashlib.sha512(body).hexdigest()
    request = FetchRequest(url, digest, len(body), "pkg-1.0.0.tgz", algorithm="sha512")

    result = await fetcher.fetch_one(request)

    assert result.path == store.root / "sha512" / digest[:2] / digest[2:4] / digest
    assert result.digest == digest
    assert store.verify(digest, "sha512") and result.path.read_bytes() == body
    again = await fetcher.fetch_one(request)
    assert again.from_cache and server.hits("/files/pkg-1.0.0.tgz") == 1

    bad = FetchRequest(url, hashlib.sha512(b"other").hexdigest(), None, "pkg.tgz", "sha512")
    with pytest.raises(IntegrityError, match="expected sha512"):
        await fetcher.fetch_one(bad)
    assert not store.has(bad.digest, algorithm="sha512")
    assert _leftovers(store) == []


async def test_progress_events(server: LocalServer, store: ContentStore, make: Make) -> None:
    recorder = Recorder()
    fetcher = make(listener=recorder)
    cached = server.serve("cached.whl", _blob(10, 5000))
    await fetcher.fetch_all([cached])
    recorder.reset()
    requests = [server.serve(f"p{i}.whl", _blob(20 + i, 100_000 * (i + 1))) for i in range(4)]
    missing = FetchRequest(server.base + "/nope.whl", "b" * 64, None, "nope.whl")

    report = await fetcher.fetch_all([cached, *requests, missing])

    # the total counts the file already in place, reported by its size, not as fetched
    assert recorder.starts == [(6, sum(r.size or 0 for r in requests) + 5000)]
    assert recorder.in_place["cached.whl"] == 5000
    assert all(recorder.in_place[r.display_name] == 0 for r in requests)
    assert recorder.finished == 1
    assert sorted(recorder.done) == sorted(
        [("cached.whl", True)] + [(r.display_name, False) for r in requests]
    )
    assert [name for name, _ in recorder.failed] == ["nope.whl"]
    assert isinstance(recorder.failed[0][1], FetchError)
    for request in requests:
        assert recorder.bytes[request.display_name] == request.size
    assert recorder.bytes["cached.whl"] == 0 and recorder.bytes["nope.whl"] == 0
    assert sum(recorder.bytes.values()) == report.bytes_fetched


async def test_fetch_one_reports_the_file_but_not_the_batch(
    server: LocalServer, make: Make
) -> None:
    recorder = Recorder()
    fetcher = make(listener=recorder)
    request = server.serve("one.whl", _blob(30, 70_000))

    await fetcher.fetch_one(request)

    assert recorder.starts == [] and recorder.finished == 0
    assert recorder.done == [("one.whl", False)]
    assert recorder.bytes["one.whl"] == 70_000


@pytest.mark.parametrize("dead", ["404", "refused"])
async def test_a_dead_primary_url_falls_back_to_the_mirror(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher, dead: str
) -> None:
    body = _blob(11, 80_000)
    mirror = server.add("/mirror/m.whl", Route(body=body))
    primary = server.base + "/files/m.whl" if dead == "404" else _dead_url()
    request = FetchRequest(
        primary, hashlib.sha256(body).hexdigest(), len(body), "m.whl", mirrors=(mirror,)
    )

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    assert server.hits(mirror) >= 1
    assert _leftovers(store) == []


async def test_mirrors_by_prefix_from_the_fetcher(
    server: LocalServer, store: ContentStore, make: Make
) -> None:
    body = _blob(12, 30_000)
    server.add("/mirror/files/p.whl", Route(body=body))
    fetcher = make(mirrors={server.base + "/files/": [server.base + "/mirror/files/"]})
    request = FetchRequest(
        server.base + "/files/p.whl", hashlib.sha256(body).hexdigest(), len(body)
    )

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body


async def test_a_large_file_over_several_connections(
    server: LocalServer, store: ContentStore, make: Make
) -> None:
    fetcher = make(segmenting=Segmenting(connections=4, min_size=1 << 20, min_piece=1 << 20))
    body = _blob(13, 8 << 20)
    # 16 MB/s per connection: pieces overlap in time, however fast loopback is.
    request = server.serve("large.bin", body, etag='"large"', rate=16_000_000)

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    assert result.bytes_fetched == len(body)
    assert len(_range_starts(server, request.url)) >= 3  # pieces from several connections
    assert server.max_active >= 2
    assert _leftovers(store) == []


async def test_pause_and_resume_a_batch_mid_download(
    server: LocalServer, store: ContentStore, make: Make, backend: str
) -> None:
    recorder = Recorder()
    fetcher = make(listener=recorder)
    body = _blob(14, 1_500_000)
    request = server.serve("slow.bin", body, etag='"slow"', rate=1_500_000)
    batch = Batch()

    task = asyncio.create_task(fetcher.fetch_all([request], batch=batch))
    await _until(lambda: recorder.bytes["slow.bin"] > 200_000)
    batch.pause()
    await asyncio.sleep(0.4)
    paused_at = recorder.bytes["slow.bin"]
    await asyncio.sleep(0.4)
    assert recorder.bytes["slow.bin"] == paused_at < len(body)
    assert not task.done()
    batch.resume()
    report = await asyncio.wait_for(task, 10)

    assert report.ok, report.failures
    assert report.results[0].path.read_bytes() == body
    assert any(start > 0 for start in _range_starts(server, request.url))  # resumed
    assert _leftovers(store) == []
    assert recorder.bytes["slow.bin"] == len(body)


async def test_cancel_a_batch(server: LocalServer, store: ContentStore, make: Make) -> None:
    recorder = Recorder()
    fetcher = make(listener=recorder, concurrency=2)
    requests = [
        server.serve(f"c{i}.bin", _blob(40 + i, 1_000_000), etag=f'"c{i}"', rate=1_000_000)
        for i in range(4)
    ]
    batch = Batch()

    task = asyncio.create_task(fetcher.fetch_all(requests, batch=batch))
    await _until(lambda: sum(recorder.bytes.values()) > 100_000)
    batch.cancel()
    report = await asyncio.wait_for(task, 10)

    assert report.results == []
    assert len(report.failures) == 4
    assert all(isinstance(error, Cancelled) for _, error in report.failures)
    assert sum(recorder.bytes.values()) == 0
    assert _stored(store) == []
    assert _leftovers(store) == []


async def test_cancel_while_paused_leaves_nothing(
    server: LocalServer, store: ContentStore, make: Make, backend: str
) -> None:
    recorder = Recorder()
    fetcher = make(listener=recorder)
    request = server.serve("p.bin", _blob(50, 1_500_000), etag='"p"', rate=1_000_000)
    batch = Batch()

    task = asyncio.create_task(fetcher.fetch_all([request], batch=batch))
    await _until(lambda: recorder.bytes["p.bin"] > 100_000)
    batch.pause()
    await asyncio.sleep(0.3)
    batch.cancel()
    report = await asyncio.wait_for(task, 10)

    [(_, error)] = report.failures
    assert isinstance(error, Cancelled)
    assert _stored(store) == []
    assert _leftovers(store) == []
    assert recorder.bytes["p.bin"] == 0


async def test_identical_requests_are_fetched_once(
    server: LocalServer, fetcher: AnyFetcher
) -> None:
    request = server.serve("dup.whl", _blob(30, 8000))
    alias = FetchRequest(request.url, request.digest, request.size, "other-name.whl")

    report = await fetcher.fetch_all([request, request, alias, request])

    assert server.hits(request.url) == 1
    assert [r.request for r in report.results] == [request]


async def test_two_batches_wanting_the_same_file_share_one_download(
    server: LocalServer, fetcher: AnyFetcher
) -> None:
    request = server.serve("shared.whl", _blob(31, 400_000), rate=2_000_000)

    first, second = await asyncio.gather(fetcher.fetch_one(request), fetcher.fetch_one(request))

    assert server.hits(request.url) == 1
    assert first.path == second.path and first.path.read_bytes() == _blob(31, 400_000)


async def test_dest_requests_with_and_without_a_digest(
    server: LocalServer, store: ContentStore, fetcher: AnyFetcher, tmp_path: Path
) -> None:
    body = _blob(32, 60_000)
    known = server.serve("known.whl", body)
    out = tmp_path / "out"
    with_digest = FetchRequest(known.url, known.digest, known.size, dest=out / "a.whl")
    without = FetchRequest(known.url, "", None, dest=out / "b.whl")

    report = await fetcher.fetch_all([with_digest, without])

    assert report.ok, report.failures
    assert (out / "a.whl").read_bytes() == body and (out / "b.whl").read_bytes() == body
    assert report.results[1].digest == hashlib.sha256(body).hexdigest()
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == [
        "a.whl",
        "b.whl",
    ]


async def test_local_files_and_bad_requests(
    tmp_path: Path, store: ContentStore, fetcher: AnyFetcher
) -> None:
    a = tmp_path / "a.whl"
    a.write_bytes(_blob(33, 3000))
    plain = FetchRequest(str(a), hashlib.sha256(a.read_bytes()).hexdigest(), 3000)
    as_uri = FetchRequest(a.as_uri(), hashlib.sha256(a.read_bytes()).hexdigest(), 3000, "uri")
    wrong = FetchRequest(str(a), "c" * 64)
    ftp = FetchRequest("ftp://127.0.0.1/x.whl", "e" * 64)
    traversal = FetchRequest("http://127.0.0.1:9/x.whl", "../../etc/passwd")

    report = await fetcher.fetch_all([plain, wrong, ftp, traversal, as_uri])

    assert [r.request for r in report.results] == [plain]  # as_uri is the same file
    errors = dict(report.failures)
    assert isinstance(errors[wrong], IntegrityError)
    assert "unsupported URL" in errors[ftp].message
    assert "not a sha256" in errors[traversal].message
    assert store.verify(plain.digest)
    assert _leftovers(store) == []


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not true within {within} s")


@pytest.mark.timeout(30)
async def test_a_stalled_connection_is_resumed_long_before_the_read_timeout(
    server: LocalServer, store: ContentStore, make: Make
) -> None:
    # The stall limit is 1 s; the read timeout is 10 s (the client fixture's) and 60 s
    # (aria2's default): only stall detection finishes this while the server still sleeps.
    fetcher = make(segmenting=Segmenting(connections=1, stall=1.0))
    body = _blob(21, 2_000_000)
    request = server.serve("stall.bin", body, etag='"stall"', stall_after=700_000, stall=25.0)

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    # the stalled connection is still asleep on the server: the file came without it
    assert server.route(request.url).asleep == 1
    # resumed where it stopped, not fetched again from byte 0
    assert any(start >= 500_000 for start in _range_starts(server, request.url))
