"""Pause, resume, cancel, priority, bandwidth limits, shared downloads, mirrors, resume."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ferry.errors import FetchError
from ferry.fetch import (
    Batch,
    Cancelled,
    Fetcher,
    FetchRequest,
    Segmenting,
    batch_scope,
    open_session,
)
from ferry.fetch.wire import AiohttpWire
from ferry.store import ContentStore
from fetch.local_server import LocalServer, Route


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


class Bytes:
    """A progress listener that only counts, so tests can wait for bytes to flow."""

    def __init__(self) -> None:
        self.total = 0
        self.done: list[str] = []
        self.failed: list[str] = []

    def start(self, total_files: int, total_bytes: int) -> None:
        pass

    def advance(self, name: str, nbytes: int) -> None:
        self.total += nbytes

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        self.done.append(name)

    def file_failed(self, name: str, error: object) -> None:
        self.failed.append(name)

    def finish(self) -> None:
        pass


async def _until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - polls state owned by other tasks
            await asyncio.sleep(0.02)


async def test_pause_gives_connections_back_and_resume_continues_from_disk(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(1, 2_000_000)
    request = server.serve("p.bin", body, etag='"p"', rate=2_000_000)
    counted = Bytes()
    fetcher = Fetcher(store, client, listener=counted, segmenting=Segmenting(connections=1))
    batch = Batch()

    task = asyncio.create_task(fetcher.fetch_all([request], batch=batch))
    await _until(lambda: counted.total > 300_000)
    batch.pause()
    await _until(lambda: server.max_active >= 1 and _active(server) == 0)
    paused_at = counted.total
    await asyncio.sleep(0.3)
    assert counted.total == paused_at  # nothing moves while paused
    server.route(request.url).rate = None
    batch.resume()
    report = await task

    assert report.ok and store.verify(request.digest)
    second = server.seen(request.url)[-1]
    assert second.headers["Range"].startswith("bytes=") and second.headers["If-Range"] == '"p"'
    # It asked for exactly what it did not have yet: nothing is fetched twice.
    assert int(second.headers["Range"][6:].rstrip("-")) == paused_at


def _active(server: LocalServer) -> int:
    return server._httpd.active


async def test_cancel_one_file_keeps_the_others(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    slow = server.serve("slow.bin", _blob(2, 3_000_000), etag='"s"', rate=1_000_000)
    quick = server.serve("quick.bin", _blob(3, 10_000))
    counted = Bytes()
    fetcher = Fetcher(store, client, listener=counted)
    batch = Batch()

    task = asyncio.create_task(fetcher.fetch_all([slow, quick], batch=batch))
    await _until(lambda: "quick.bin" in counted.done and counted.total > 100_000)
    batch.cancel(slow.key)
    report = await task

    assert [r.request for r in report.results] == [quick]
    [(failed, error)] = report.failures
    assert failed == slow and isinstance(error, Cancelled)
    assert "cancelled" in error.message
    assert not store.has(slow.digest)
    assert not list((store.root / "partial").iterdir())  # a cancelled file leaves nothing


async def test_cancel_a_whole_batch_before_it_starts(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    requests = [server.serve(f"c{i}.bin", _blob(10 + i, 1000)) for i in range(3)]
    batch = Batch()
    batch.cancel()

    report = await fetcher.fetch_all(requests, batch=batch)

    assert not report.results and len(report.failures) == 3
    assert all(isinstance(e, Cancelled) for _, e in report.failures)
    assert server.total_hits == 0


async def test_a_small_manifest_jumps_ahead_of_queued_blobs(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    fetcher = Fetcher(store, client, concurrency=1)
    first = server.serve("first.bin", _blob(20, 400_000), rate=2_000_000)
    blobs = [server.serve(f"blob{i}.bin", _blob(21 + i, 1000)) for i in range(5)]
    body = b'{"model": "config"}'
    manifest = FetchRequest(
        server.add("/files/config.json", Route(body=body)),
        hashlib.sha256(body).hexdigest(),
        len(body),
        "config.json",
        priority=-1,
    )

    report = await fetcher.fetch_all([first, *blobs, manifest])

    assert report.ok
    order = [s.path.rsplit("/", 1)[-1] for s in server._httpd.seen]
    assert order[0] == "first.bin"
    assert order[1] == "config.json"  # queued last, served first once a slot was free


async def test_global_and_batch_bandwidth_limits(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(30, 600_000)
    request = server.serve("r.bin", body)
    fetcher = Fetcher(store, client, rate_limit=1_000_000)
    began = time.monotonic()
    await fetcher.fetch_one(request)
    # 600 KB at 1 MB/s with a 250 KB burst: at least ~0.35 s; unlimited it takes ~10 ms.
    assert time.monotonic() - began > 0.3

    other = server.serve("b.bin", _blob(31, 600_000))
    unlimited = Fetcher(store, client)
    began = time.monotonic()
    await unlimited.fetch_all([other], batch=Batch(rate_limit=1_000_000))
    assert time.monotonic() - began > 0.3


async def test_two_calls_wanting_the_same_file_share_one_download(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    request = server.serve("shared.bin", _blob(40, 1_000_000), rate=5_000_000)
    alias = FetchRequest(request.url, request.digest, request.size, "same-file.bin")

    first, second = await asyncio.gather(fetcher.fetch_all([request]), fetcher.fetch_all([alias]))

    assert first.ok and second.ok
    assert server.hits(request.url) == 1
    assert first.results[0].bytes_fetched == 1_000_000
    assert second.results[0].request is alias and second.results[0].from_cache


async def test_two_fetchers_on_one_store_share_one_download(
    server: LocalServer, store: ContentStore
) -> None:
    # Two engines (as the server and a CLI run would be) meet at the lock file.
    request = server.serve("locked.bin", _blob(41, 1_000_000), rate=5_000_000)
    async with (
        open_session(trust_env=False) as one,
        open_session(trust_env=False) as two,
    ):
        results = await asyncio.gather(
            Fetcher(store, one).fetch_one(request),
            Fetcher(ContentStore(store.root), two).fetch_one(request),
        )
    assert server.hits(request.url) == 1
    assert sorted(r.from_cache for r in results) == [False, True]


async def test_mirrors_are_tried_in_order(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(50, 5000)
    good = server.add("/mirror-b/m.whl", Route(body=body))
    dead = server.add("/mirror-a/m.whl", Route(statuses=[404]))
    request = FetchRequest(
        server.base + "/primary/m.whl",
        hashlib.sha256(body).hexdigest(),
        len(body),
        mirrors=(dead, good),
    )
    fetcher = Fetcher(store, client, retries=0)

    result = await fetcher.fetch_one(request)

    assert store.verify(request.digest) and result.path.read_bytes() == body
    assert [s.path for s in server._httpd.seen] == [
        "/primary/m.whl",
        "/mirror-a/m.whl",
        "/mirror-b/m.whl",
    ]


async def test_mirror_prefixes_from_settings(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(51, 5000)
    server.add("/backup/packages/x.whl", Route(body=body))
    request = FetchRequest(
        server.base + "/main/packages/x.whl", hashlib.sha256(body).hexdigest(), len(body)
    )
    fetcher = Fetcher(
        store, client, retries=0, mirrors={server.base + "/main/": [server.base + "/backup/"]}
    )
    await fetcher.fetch_one(request)
    assert store.verify(request.digest)


async def test_every_mirror_failing_names_them_all(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    request = FetchRequest(server.base + "/a/z.whl", "c" * 64, mirrors=(server.base + "/b/z.whl",))
    with pytest.raises(FetchError) as info:
        await Fetcher(store, client, retries=0).fetch_one(request)
    assert "/a/z.whl" in info.value.message and "/b/z.whl" in info.value.message


async def test_a_new_engine_resumes_what_a_stopped_one_left_on_disk(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(60, 1_000_000)
    request = server.serve("half.bin", body, etag='"h"', rate=2_000_000)
    counted = Bytes()
    first = Fetcher(store, client, listener=counted, segmenting=Segmenting(1))
    task = asyncio.create_task(first.fetch_one(request))
    await _until(lambda: counted.total > 300_000)
    task.cancel()  # what a process being stopped does to its downloads
    with pytest.raises(asyncio.CancelledError):
        await task
    control = store.root / "partial" / f"sha256-{request.digest}.json"
    kept = json.loads(control.read_text())["pieces"][0][2]
    assert kept >= 300_000
    server.route(request.url).rate = None

    result = await Fetcher(store, client, segmenting=Segmenting(1)).fetch_one(request)

    assert store.verify(request.digest)
    assert result.bytes_fetched == 1_000_000 - kept
    assert server.seen(request.url)[-1].headers["Range"] == f"bytes={kept}-"
    assert not control.exists()


async def test_a_control_file_from_another_file_is_not_trusted(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(61, 200_000)
    request = server.serve("odd.bin", body, etag='"o"')
    partial = store.root / "partial" / f"sha256-{request.digest}"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * 100_000)
    partial.with_name(partial.name + ".json").write_text("{not json")

    await Fetcher(store, client).fetch_one(request)

    assert store.verify(request.digest)
    assert "Range" not in server.seen(request.url)[0].headers


async def test_large_file_over_several_connections(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    body = _blob(70, 4_000_000)
    request = server.serve("seg.bin", body, etag='"g"', rate=4_000_000)
    fetcher = Fetcher(
        store,
        client,
        segmenting=Segmenting(connections=4, min_size=256 * 1024, min_piece=256 * 1024),
    )

    result = await fetcher.fetch_one(request)

    assert result.path.read_bytes() == body
    ranges = [s.headers.get("Range") for s in server.seen(request.url)]
    assert len(ranges) >= 4 and all(r and r.startswith("bytes=") for r in ranges)
    assert server.max_active >= 3  # the pieces really were fetched at the same time
    assert server.route(request.url).bytes_sent == len(body)


async def test_file_destinations_without_a_digest(
    server: LocalServer, store: ContentStore, fetcher: Fetcher, tmp_path: Path
) -> None:
    body = _blob(80, 50_000)
    url = server.add("/files/plain.tar", Route(body=body))
    dest = tmp_path / "out" / "plain.tar"

    result = await fetcher.fetch_one(FetchRequest(url, "", dest=dest))

    assert dest.read_bytes() == body
    assert result.digest == hashlib.sha256(body).hexdigest()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["plain.tar"]


async def test_a_digest_already_in_the_store_is_copied_not_fetched(
    server: LocalServer, store: ContentStore, fetcher: Fetcher, tmp_path: Path
) -> None:
    request = server.serve("again.whl", _blob(81, 5000))
    await fetcher.fetch_one(request)
    dest = tmp_path / "again.whl"

    result = await fetcher.fetch_one(
        FetchRequest(request.url, request.digest, request.size, dest=dest)
    )

    assert result.from_cache and dest.read_bytes() == _blob(81, 5000)
    assert server.hits(request.url) == 1


async def test_without_digest_or_validator_pieces_are_not_trusted(
    server: LocalServer, store: ContentStore, client: AiohttpWire, tmp_path: Path
) -> None:
    # Ranges work, but nothing proves two ranges come from the same version of the file
    # and there is no digest to check at the end: the engine takes one stream instead.
    body = _blob(90, 3_000_000)
    url = server.add("/files/nv.bin", Route(body=body, ranges=True))
    fetcher = Fetcher(
        store,
        client,
        segmenting=Segmenting(connections=4, min_size=256 * 1024, min_piece=256 * 1024),
    )

    result = await fetcher.fetch_one(FetchRequest(url, "", dest=tmp_path / "nv.bin"))

    assert (tmp_path / "nv.bin").read_bytes() == body
    assert result.digest == hashlib.sha256(body).hexdigest()
    assert [s.headers.get("Range") for s in server.seen(url)][-1] is None


async def test_without_digest_a_validator_allows_pieces(
    server: LocalServer, store: ContentStore, client: AiohttpWire, tmp_path: Path
) -> None:
    body = _blob(91, 3_000_000)
    url = server.add("/files/v.bin", Route(body=body, etag='"v"'))
    fetcher = Fetcher(
        store,
        client,
        segmenting=Segmenting(connections=4, min_size=256 * 1024, min_piece=256 * 1024),
    )

    await fetcher.fetch_one(FetchRequest(url, "", dest=tmp_path / "v.bin"))

    assert (tmp_path / "v.bin").read_bytes() == body
    seen = server.seen(url)
    assert len(seen) > 2 and all(s.headers.get("If-Range") == '"v"' for s in seen[1:])


async def test_per_host_connection_limit(server: LocalServer, store: ContentStore) -> None:
    requests = [
        server.serve(f"h{i}.bin", _blob(100 + i, 200_000), rate=2_000_000) for i in range(6)
    ]
    async with open_session(trust_env=False) as session:
        fetcher = Fetcher(store, session, concurrency=6, max_connections_per_host=2)
        report = await fetcher.fetch_all(requests)
    assert report.ok
    assert server.max_active == 2


async def test_proxy_from_the_environment(
    server: LocalServer, store: ContentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The URL names a host that does not exist: only the proxy can answer it.
    body = _blob(110, 20_000)
    server.add("/files/p.whl", Route(body=body))
    request = FetchRequest(
        "http://pkgs.ferry-test.invalid/files/p.whl", hashlib.sha256(body).hexdigest(), len(body)
    )
    monkeypatch.setenv("HTTP_PROXY", server.base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with open_session() as session:
        await Fetcher(store, session, retries=0).fetch_one(request)
    assert store.verify(request.digest)
    assert server.proxied == ["pkgs.ferry-test.invalid"]


async def test_no_proxy_is_honoured(
    server: LocalServer, store: ContentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = server.serve("np.whl", _blob(111, 20_000))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with open_session() as session:
        await Fetcher(store, session, retries=0).fetch_one(request)
    assert store.verify(request.digest) and server.proxied == []


async def test_explicit_proxy_setting_wins(server: LocalServer, store: ContentStore) -> None:
    body = _blob(112, 20_000)
    server.add("/files/q.whl", Route(body=body))
    request = FetchRequest(
        "http://other.ferry-test.invalid/files/q.whl", hashlib.sha256(body).hexdigest()
    )
    async with open_session(proxy=server.base, trust_env=False) as session:
        await Fetcher(store, session, retries=0).fetch_one(request)
    assert server.proxied == ["other.ferry-test.invalid"]


async def test_a_batch_scope_applies_to_fetches_inside_it(
    server: LocalServer, store: ContentStore, fetcher: Fetcher
) -> None:
    # How a service task gives all of its downloads its own limit and controls.
    limited = server.serve("scoped.bin", _blob(120, 600_000))
    began = time.monotonic()
    with batch_scope(Batch(rate_limit=1_000_000)):
        await fetcher.fetch_one(limited)
    assert time.monotonic() - began > 0.3

    stopped = server.serve("stopped.bin", _blob(121, 1000))
    cancelled = Batch()
    cancelled.cancel()
    with batch_scope(cancelled), pytest.raises(Cancelled):
        await fetcher.fetch_one(stopped)
    assert server.hits(stopped.url) == 0


async def test_the_global_limit_is_shared_by_every_engine(
    server: LocalServer, store: ContentStore, client: AiohttpWire
) -> None:
    one = server.serve("g1.bin", _blob(122, 500_000))
    two = server.serve("g2.bin", _blob(123, 500_000))
    first = Fetcher(store, client, rate_limit=1_000_000)
    second = Fetcher(store, client, rate_limit=1_000_000)
    began = time.monotonic()
    await asyncio.gather(first.fetch_one(one), second.fetch_one(two))
    # 1 MB at 1 MB/s in all (250 KB burst): one limit between the two engines, ~0.75 s;
    # a limit each would take ~0.25 s.
    assert time.monotonic() - began > 0.6


async def test_netrc_credentials_are_sent_to_their_host(
    server: LocalServer, store: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private mirror behind basic auth, credentials in ~/.netrc: as pip and curl use it.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login mirror password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    request = server.serve("private.whl", _blob(130, 10_000))
    async with open_session() as session:
        await Fetcher(store, session, retries=0).fetch_one(request)
    sent = server.seen(request.url)[0].headers.get("Authorization", "")
    assert sent == "Basic " + base64.b64encode(b"mirror:s3cret").decode()


def test_routes_are_looked_up_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from ferry.fetch.routes import Routes

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.ferry-test.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "internal.ferry-test.invalid")
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    routes = Routes()
    assert routes.for_url("https://pkgs.ferry-test.invalid/a.whl")[0] == (
        "http://proxy.ferry-test.invalid:3128"
    )
    assert routes.for_url("https://internal.ferry-test.invalid/b.whl")[0] is None
    assert Routes(proxy="http://explicit:8080").for_url("https://x.invalid/c")[0] == (
        "http://explicit:8080"
    )
    assert Routes(from_environment=False).for_url("https://pkgs.ferry-test.invalid/a")[0] is None
