"""The cache's shared tier: two machines on one bucket fetch each file from its registry
once; a wrong or unreachable bucket never makes a download fail."""

from __future__ import annotations

import logging
import random
import uuid
from pathlib import Path

import pytest

from ferry.fetch import FetchRequest
from ferry.fetch.backends import open_downloads
from ferry.settings import Settings
from ferry.store.blob import BlobKey, open_shared_cache
from ferry.store.cas import ContentStore
from fetch.local_server import LocalServer
from support.s3servers import PART_SIZE, S3Server, use_credentials

pytestmark = [pytest.mark.s3, pytest.mark.timeout(120)]


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def bucket_url(seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    use_credentials(monkeypatch)
    return f"s3://{seaweedfs.bucket}/c-{uuid.uuid4().hex[:12]}"


def _machine(tmp_path: Path, name: str, bucket_url: str, endpoint: str) -> Settings:
    return Settings(
        data_dir=tmp_path / name,
        blob_store=bucket_url,
        s3_endpoint_url=endpoint,
        s3_part_size=PART_SIZE,
        retries=0,
    )


async def _fetch(settings: Settings, requests: list[FetchRequest]) -> tuple[int, int]:
    """Fetch into the machine's cache; (files from the registry, files from a cache)."""
    store = ContentStore(settings.blob_dir)
    async with open_downloads(settings, store) as downloads:
        report = await downloads.fetcher().fetch_all(requests)
    report.raise_for_failures()
    for request in requests:
        assert store.verify(request.digest), request.name
    fetched = sum(1 for r in report.results if not r.from_cache)
    return fetched, report.from_cache


async def test_a_second_machine_reads_the_bucket_not_the_registry(
    server: LocalServer, seaweedfs: S3Server, bucket_url: str, tmp_path: Path
) -> None:
    small = server.serve("small.whl", _blob(1, 20_000))
    big = server.serve("big.whl", _blob(2, 3 * PART_SIZE + 17))  # a multipart upload
    first = _machine(tmp_path, "a", bucket_url, seaweedfs.endpoint)
    second = _machine(tmp_path, "b", bucket_url, seaweedfs.endpoint)

    assert await _fetch(first, [small, big]) == (2, 0)
    # on leaving, the first machine's downloads were in the bucket's cache/ prefix
    async with open_shared_cache(first) as shared:  # type: ignore[union-attr]
        keys = {key async for key in shared.iter_keys()}
    assert keys == {BlobKey.sha256(small.digest), BlobKey.sha256(big.digest)}

    assert await _fetch(second, [small, big]) == (0, 2)
    assert server.hits(small.url) == 1 and server.hits(big.url) == 1


async def test_bytes_in_the_bucket_that_do_not_match_are_not_taken(
    server: LocalServer,
    seaweedfs: S3Server,
    bucket_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = _blob(3, 50_000)
    request = server.serve("x.whl", body)
    machine = _machine(tmp_path, "a", bucket_url, seaweedfs.endpoint)
    # someone with write access to the bucket put other bytes under the file's name
    shared = open_shared_cache(machine)
    assert shared is not None
    async with shared:
        s3 = await shared._s3()  # type: ignore[attr-defined]
        await s3.put_object(
            Bucket=seaweedfs.bucket,
            Key=shared.object_key(BlobKey.sha256(request.digest)),  # type: ignore[attr-defined]
            Body=b"\0" * len(body),
        )

    with caplog.at_level(logging.WARNING, logger="ferry.fetch.shared"):
        assert await _fetch(machine, [request]) == (1, 0)
    assert server.hits(request.url) == 1
    assert f"sha256:{request.digest} is corrupt, removed" in caplog.text
    # the registry's bytes replaced the wrong ones: the next machine takes them
    assert await _fetch(_machine(tmp_path, "b", bucket_url, seaweedfs.endpoint), [request]) == (
        0,
        1,
    )
    assert server.hits(request.url) == 1


async def test_an_unreachable_bucket_leaves_downloads_to_the_registry(
    server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    request = server.serve("y.whl", _blob(4, 10_000))
    # nothing listens on port 9 of 127.0.0.1
    machine = _machine(tmp_path, "a", "s3://no-bucket/c", "http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING, logger="ferry.fetch.backends"):
        assert await _fetch(machine, [request]) == (1, 0)
    assert "the shared cache is not used" in caplog.text


async def test_off_by_setting(
    server: LocalServer, seaweedfs: S3Server, bucket_url: str, tmp_path: Path
) -> None:
    request = server.serve("z.whl", _blob(5, 10_000))
    off = _machine(tmp_path, "a", bucket_url, seaweedfs.endpoint).model_copy(
        update={"shared_cache": False}
    )
    assert open_shared_cache(off) is None
    assert await _fetch(off, [request]) == (1, 0)
    on = _machine(tmp_path, "b", bucket_url, seaweedfs.endpoint)
    assert await _fetch(on, [request]) == (1, 0)  # the first machine shared nothing


async def test_a_long_running_process_opens_the_bucket_once(
    server: LocalServer,
    seaweedfs: S3Server,
    bucket_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service or worker hands its open bucket to every run (bucket_scope): no run opens
    a client of its own, and what the runs fetch is shared all the same."""
    from ferry.fetch import backends
    from ferry.fetch.shared import bucket_scope
    from ferry.store.blob import open_bucket

    files = [server.serve(f"f{i}.whl", _blob(10 + i, 30_000)) for i in range(3)]
    first = _machine(tmp_path, "a", bucket_url, seaweedfs.endpoint)
    bucket = await open_bucket(first)
    assert bucket is not None
    opened: list[Settings] = []
    real = backends.open_shared_cache
    monkeypatch.setattr(backends, "open_shared_cache", lambda s: opened.append(s) or real(s))
    try:
        with bucket_scope(bucket):
            for request in files:  # three runs, as three tasks would be
                assert await _fetch(first, [request]) == (1, 0)
        assert opened == []  # nobody opened a client of their own
        keys = {key async for key in bucket.iter_keys()}
        assert keys == {BlobKey.sha256(r.digest) for r in files}
    finally:
        await bucket.aclose()
    # outside the scope a run opens its own, as before
    assert await _fetch(_machine(tmp_path, "b", bucket_url, seaweedfs.endpoint), files) == (0, 3)
    assert len(opened) == 1
