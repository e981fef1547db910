"""What every blob store promises, checked on each backend: this machine's disk, and real
S3 servers on 127.0.0.1 (SeaweedFS, moto). See ``conftest.py`` for how they start."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
import tracemalloc
from pathlib import Path

import httpx
import pytest

from ferry.errors import ConfigError, IntegrityError
from ferry.settings import Settings, load_settings
from ferry.store import ContentStore
from ferry.store.blob import (
    BlobInfo,
    BlobKey,
    BlobNotFound,
    BlobRangeError,
    BlobStore,
    BlobStoreError,
    LocalBlobStore,
    open_blob_store,
)
from ferry.store.blob.s3 import S3BlobStore
from support.s3servers import (
    ACCESS_KEY,
    PART_SIZE,
    SECRET_KEY,
    S3Server,
    free_ports,
    use_credentials,
)

MiB = 1024**2


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _key(data: bytes) -> BlobKey:
    return BlobKey.sha256(hashlib.sha256(data).hexdigest())


async def _write(
    store: BlobStore,
    data: bytes,
    *,
    piece: int = 100_003,
    expect: BlobKey | None = None,
    expect_at_commit: BlobKey | None = None,
    algorithm: str = "sha256",
) -> BlobKey:
    # odd-sized pieces: writes never line up with the store's buffer or part boundaries
    async with store.open_writer(expect=expect, algorithm=algorithm) as writer:
        for at in range(0, len(data), piece):
            await writer.write(data[at : at + piece])
        info = await writer.commit(expect_at_commit)
    assert info.size == len(data)
    return info.key


async def _read(
    store: BlobStore, key: BlobKey, start: int | None = None, end: int | None = None
) -> bytes:
    out = bytearray()
    async with contextlib.aclosing(store.read(key, start, end)) as chunks:
        async for chunk in chunks:
            out += chunk
    return bytes(out)


async def _keys(store: BlobStore) -> set[BlobKey]:
    return {key async for key in store.iter_keys()}


async def _leftovers(store: BlobStore) -> list[str]:
    """What interrupted writes may leave: staging files, unfinished uploads, tmp objects."""
    if isinstance(store, LocalBlobStore):
        staging = store.content_store.staging_dir
        return sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []
    assert isinstance(store, S3BlobStore)
    client = await store._s3()  # the test looks behind the interface on purpose
    prefix = store.object_key(_key(b""))[: -len(_key(b"").relpath)]
    uploads = await client.list_multipart_uploads(Bucket=store.bucket, Prefix=prefix)
    tmp = await client.list_objects_v2(Bucket=store.bucket, Prefix=prefix + "tmp/")
    return sorted(
        [f"upload {u['Key']}" for u in uploads.get("Uploads", [])]
        + [f"object {o['Key']}" for o in tmp.get("Contents", [])]
    )


# -- writing and reading ---------------------------------------------------------------------


async def test_write_commit_read_back(store: BlobStore) -> None:
    data = _data(300_000)
    key = _key(data)
    async with store.open_writer() as writer:
        await writer.write(data[:1000])
        await writer.write(memoryview(data)[1000:200_000])
        await writer.write(bytearray(data[200_000:]))
        assert writer.size == len(data)
        assert not await store.has(key)  # nothing is visible before the commit
        info = await writer.commit()
    assert info.key == key
    assert info.size == len(data)
    assert not writer.deduplicated
    assert await store.has(key)
    assert await store.has(key, size=len(data))
    assert not await store.has(key, size=len(data) + 1)
    assert await store.stat(key) == info
    assert await store.size(key) == len(data)
    assert await _read(store, key) == data
    assert await _keys(store) == {key}
    assert await _leftovers(store) == []


async def test_empty_blob(store: BlobStore) -> None:
    key = await _write(store, b"")
    assert key == _key(b"")
    assert await store.size(key) == 0
    assert await _read(store, key) == b""
    assert await _read(store, key, 0, 0) == b""
    assert await _read(store, key, 0) == b""
    with pytest.raises(BlobRangeError):
        await _read(store, key, 1)


async def test_other_digest_algorithms(store: BlobStore) -> None:
    data = b"an npm tarball"
    info_key = await _write(store, data, algorithm="sha512")
    assert info_key == BlobKey("sha512", hashlib.sha512(data).hexdigest())
    assert await _read(store, info_key) == data
    assert await _keys(store) == {info_key}


async def test_ranged_reads(store: BlobStore) -> None:
    data = _data(3 * MiB + 12_345)  # more than one read chunk
    key = await _write(store, data)
    size = len(data)
    assert await _read(store, key, 10, 20) == data[10:20]
    assert await _read(store, key, 1_000_000) == data[1_000_000:]  # open end
    assert await _read(store, key, None, 5) == data[:5]
    assert await _read(store, key, 0, size) == data
    assert await _read(store, key, size - 1) == data[-1:]
    assert await _read(store, key, size) == b""  # at the end: nothing left, no error
    assert await _read(store, key, 500, 500) == b""
    for start, end in [(size + 1, None), (10, size + 1), (size, size + 1), (size + 5, size + 9)]:
        with pytest.raises(BlobRangeError, match="past the end") as caught:
            await _read(store, key, start, end)
        assert str(key) in str(caught.value)
        assert f"{size} bytes" in str(caught.value)
    for start, end in [(-1, None), (20, 10)]:
        with pytest.raises(BlobRangeError, match="invalid range"):
            await _read(store, key, start, end)


async def test_missing_blob(store: BlobStore) -> None:
    key = _key(b"never stored")
    assert not await store.has(key)
    assert await store.stat(key) is None
    with pytest.raises(BlobNotFound, match=str(key)):
        await store.size(key)
    with pytest.raises(BlobNotFound, match=str(key)):
        await _read(store, key)
    with pytest.raises(BlobNotFound):
        await _read(store, key, 5, 10)
    with pytest.raises(BlobNotFound):
        await _read(store, key, 0, 0)


async def test_reader_closed_early_releases_the_blob(store: BlobStore) -> None:
    data = _data(4 * MiB)
    key = await _write(store, data)
    async with contextlib.aclosing(store.read(key)) as chunks:
        first = await anext(chunks)
    assert data.startswith(first)
    assert await _read(store, key, 7, 9) == data[7:9]  # the store is still fine to use


# -- aborts, crashes, deduplication ----------------------------------------------------------


async def test_aborted_writer_leaves_nothing(store: BlobStore) -> None:
    data = _data(7 * MiB)  # past one part: an S3 multipart upload is under way
    writer = store.open_writer()
    await writer.write(data)
    await writer.abort()
    await writer.abort()  # twice is harmless
    with pytest.raises(RuntimeError, match="aborted"):
        await writer.write(b"more")
    with pytest.raises(RuntimeError, match="aborted"):
        await writer.commit()

    with pytest.raises(ZeroDivisionError):
        async with store.open_writer() as writer:
            await writer.write(data)
            raise ZeroDivisionError  # any failure in the block aborts the write

    assert not await store.has(_key(data))
    assert await _keys(store) == set()
    assert await _leftovers(store) == []
    assert await store.clean_staging(0) == 0


async def test_what_a_crashed_writer_left_is_cleaned(blob_settings: Settings) -> None:
    data = _data(7 * MiB)
    async with open_blob_store(blob_settings) as crashed, open_blob_store(blob_settings) as other:
        writer = crashed.open_writer()
        await writer.write(data)  # ... and the process dies here
        assert await _leftovers(other) != []
        # another process's sweep leaves what is younger than its limit alone
        assert await other.clean_staging(3600) == 0
        assert await _leftovers(other) != []
        # while this process's own sweep never takes what it is still writing
        assert await crashed.clean_staging(0) == 0
        assert await other.clean_staging(0) >= 1
        assert await _leftovers(other) == []
        assert await _keys(other) == set()
        await writer.abort()


async def test_same_bytes_are_stored_once(store: BlobStore) -> None:
    for data in (b"small and common", _data(12 * MiB, seed=3)):  # one PUT; multipart
        key = _key(data)
        assert await _write(store, data) == key
        async with store.open_writer() as writer:
            await writer.write(data)
            assert (await writer.commit()).key == key
        assert writer.deduplicated
        assert await _read(store, key) == data
    assert len(await _keys(store)) == 2
    assert await _leftovers(store) == []


async def test_concurrent_writers_of_the_same_bytes(store: BlobStore) -> None:
    data = _data(11 * MiB, seed=10)
    key = _key(data)
    keys = await asyncio.gather(
        _write(store, data), _write(store, data), _write(store, data, expect=key)
    )
    assert keys == [key, key, key]
    assert await _read(store, key) == data
    assert await _keys(store) == {key}
    assert await _leftovers(store) == []


async def test_cancelled_writer_leaves_nothing(store: BlobStore) -> None:
    block = _data(MiB, seed=11)
    started = asyncio.Event()

    async def upload() -> None:
        async with store.open_writer() as writer:
            while True:  # an endless source: only the cancellation ends it
                await writer.write(block)
                if writer.size >= 7 * MiB:
                    started.set()

    task = asyncio.create_task(upload())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _keys(store) == set()
    assert await _leftovers(store) == []


@pytest.mark.parametrize("when", ["open", "commit"])
async def test_bytes_that_do_not_match_the_expected_digest(store: BlobStore, when: str) -> None:
    for data in (b"tampered", _data(6 * MiB, seed=4)):
        promised = _key(b"what the index promised")
        promise = {"expect" if when == "open" else "expect_at_commit": promised}
        with pytest.raises(IntegrityError, match=str(promised)) as caught:
            await _write(store, data, **promise)
        assert caught.value.found == str(_key(data))
        assert not await store.has(promised)
        assert not await store.has(_key(data))
    assert await _keys(store) == set()
    assert await _leftovers(store) == []
    # a digest promised at commit that the bytes do hash to: stored as without it
    data = _data(6 * MiB, seed=5)
    assert await _write(store, data, expect_at_commit=_key(data)) == _key(data)
    assert await _read(store, _key(data)) == data


# -- big blobs -------------------------------------------------------------------------------


async def test_multipart_blob_round_trips(store: BlobStore, tmp_path: Path) -> None:
    data = _data(12 * MiB + 17, seed=5)  # three parts of 5 MiB, the last short
    key = _key(data)
    # digest unknown until the end (staged, then copied into place)
    assert await _write(store, data, piece=1 * MiB + 1) == key
    assert hashlib.sha256(await _read(store, key)).hexdigest() == key.digest
    assert await _read(store, key, 5 * MiB - 3, 5 * MiB + 3) == data[5 * MiB - 3 : 5 * MiB + 3]
    await store.delete(key)
    # digest known up front (straight to the final name)
    assert await _write(store, data, expect=key) == key
    assert await _read(store, key) == data
    await store.delete(key)
    # a file already verified
    path = tmp_path / "big.whl"
    path.write_bytes(data)
    info = await store.put_file(path, key)
    assert (info.key, info.size) == (key, len(data))
    assert await _read(store, key) == data
    assert await store.put_file(path, key) == info  # again: already there
    assert path.read_bytes() == data  # copied, never moved
    assert await _keys(store) == {key}
    assert await _leftovers(store) == []


async def test_multipart_copy_past_the_single_copy_limit(s3_store: BlobStore) -> None:
    assert isinstance(s3_store, S3BlobStore)
    # what S3 does past 5 GiB (UploadPartCopy in parts), at a size a test can afford
    s3_store.copy_threshold = 6 * MiB
    s3_store.copy_part_size = 5 * MiB
    data = _data(12 * MiB, seed=6)
    key = await _write(s3_store, data)
    assert await _read(s3_store, key) == data
    assert await _leftovers(s3_store) == []


_BIG_BLOCKS = 200  # of 1 MiB: 40 parts of 5 MiB


async def test_streaming_keeps_memory_flat(store: BlobStore) -> None:
    block = _data(MiB, seed=8)
    expected = hashlib.sha256()
    for _ in range(_BIG_BLOCKS):
        expected.update(block)
    tracemalloc.start()
    try:
        async with store.open_writer() as writer:
            for _ in range(_BIG_BLOCKS):
                await writer.write(block)
            info = await writer.commit()
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read_back = hashlib.sha256()
        async with contextlib.aclosing(store.read(info.key)) as chunks:
            async for chunk in chunks:
                read_back.update(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.key.digest == expected.hexdigest()
    assert read_back.hexdigest() == expected.hexdigest()
    assert info.size == _BIG_BLOCKS * MiB
    # about one part in memory, never the blob: 200 MiB went through each way
    assert write_peak < 2 * PART_SIZE, write_peak
    assert read_peak < PART_SIZE, read_peak


# -- the rest of the interface ---------------------------------------------------------------


async def test_delete(store: BlobStore) -> None:
    kept = await _write(store, b"kept")
    gone = await _write(store, b"gone")
    await store.delete(gone)
    assert not await store.has(gone)
    with pytest.raises(BlobNotFound):
        await _read(store, gone)
    await store.delete(gone)  # nothing there: no error
    assert await _keys(store) == {kept}
    assert await _read(store, kept) == b"kept"


async def test_iter_keys(store: BlobStore) -> None:
    written = {await _write(store, f"blob {i}".encode()) for i in range(5)}
    written.add(await _write(store, b"sha512 blob", algorithm="sha512"))
    assert await _keys(store) == written


async def test_iter_blobs_gives_sizes_and_when_they_were_stored(store: BlobStore) -> None:
    before = time.time() - 5  # an S3 server's clock and LastModified's whole seconds
    small = await _write(store, b"small")
    big = await _write(store, _data(300_000, seed=3))
    listed = {info.key: info async for info in store.iter_blobs()}
    assert set(listed) == {small, big}
    assert listed[small].size == 5
    assert listed[big].size == 300_000
    for info in listed.values():
        assert info.modified is not None
        assert before <= info.modified <= time.time() + 5


async def test_move_file_takes_the_file(store: BlobStore, tmp_path: Path) -> None:
    data = _data(1_500_000, seed=4)
    key = _key(data)
    info = await store.move_file(_file(tmp_path / "archive.zip", data), key)
    assert info == BlobInfo(key, len(data))
    assert not (tmp_path / "archive.zip").exists()
    assert await _read(store, key) == data
    # the same bytes again: stored once, and the second file is taken all the same
    await store.move_file(_file(tmp_path / "again.zip", data), key)
    assert not (tmp_path / "again.zip").exists()
    assert await _keys(store) == {key}
    assert await _leftovers(store) == []


async def test_presigned_url_is_fetched_by_a_plain_http_client(s3_store: BlobStore) -> None:
    data = _data(100_000, seed=9)
    key = await _write(s3_store, data)
    url = await s3_store.presigned_url(key, 60)
    assert url is not None
    assert SECRET_KEY not in url
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=10-19"})
    assert whole.status_code == 200
    assert whole.content == data
    assert part.status_code == 206
    assert part.content == data[10:20]
    with pytest.raises(ValueError):
        await s3_store.presigned_url(key, 8 * 24 * 3600)


async def test_local_store_has_no_presigned_url(tmp_path: Path) -> None:
    async with LocalBlobStore(tmp_path / "blobs") as store:
        key = await _write(store, b"x")
        assert await store.presigned_url(key, 60) is None


# -- when the store cannot be used -----------------------------------------------------------


def _no_secret(error: BaseException) -> None:
    text = f"{error} {error!r} {getattr(error, 'hint', '')}"
    assert SECRET_KEY not in text
    assert ACCESS_KEY not in text


async def test_missing_bucket_is_named_with_its_endpoint(s3_settings: Settings) -> None:
    settings = s3_settings.model_copy(update={"blob_store": "s3://no-such-bucket/p"})
    with pytest.raises(BlobStoreError) as caught:
        async with open_blob_store(settings):
            pass
    message = str(caught.value)
    assert "'no-such-bucket'" in message
    assert str(settings.s3_endpoint_url) in message
    assert "does not exist" in message
    _no_secret(caught.value)
    # the same on first use, without `async with`
    store = open_blob_store(settings)
    with pytest.raises(BlobStoreError, match="no-such-bucket"):
        await store.has(_key(b"x"))
    await store.aclose()


async def test_unreachable_endpoint_is_named_with_its_bucket(s3_settings: Settings) -> None:
    (port,) = free_ports(1)  # nothing listens there
    endpoint = f"http://127.0.0.1:{port}"
    settings = s3_settings.model_copy(update={"s3_endpoint_url": endpoint, "retries": 0})
    with pytest.raises(BlobStoreError) as caught:
        async with open_blob_store(settings):
            pass
    message = str(caught.value)
    assert endpoint in message
    assert "ferry-blobs" in message
    assert "cannot reach" in message
    _no_secret(caught.value)


@pytest.mark.s3
async def test_refused_credentials_are_not_repeated(
    seaweedfs: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SeaweedFS checks signatures (moto takes any credentials)
    use_credentials(monkeypatch)
    wrong = SECRET_KEY + "-wrong"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    settings = Settings(
        data_dir=tmp_path,
        blob_store=f"s3://{seaweedfs.bucket}/p",
        s3_endpoint_url=seaweedfs.endpoint,
        retries=0,
    )
    with pytest.raises(BlobStoreError, match="refused access") as caught:
        async with open_blob_store(settings):
            pass
    assert seaweedfs.endpoint in str(caught.value)
    assert seaweedfs.bucket in str(caught.value)
    assert wrong not in f"{caught.value} {caught.value!r} {caught.value.hint}"
    _no_secret(caught.value)


# -- settings and the existing store ---------------------------------------------------------


def test_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        blob_store="s3://my-bucket/ferry/blobs/",
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_part_size=8 * MiB,
    )
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert store.bucket == "my-bucket"
    assert store.part_size == 8 * MiB
    assert store.object_key(_key(b"")) == "ferry/blobs/" + _key(b"").relpath
    assert store.location == "s3://my-bucket/ferry/blobs at http://127.0.0.1:9000"

    local = open_blob_store(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalBlobStore)
    assert local.content_store.root == Settings(data_dir=tmp_path).store_dir

    for bad in (
        "http://bucket/x",
        "s3://",
        "s3://Bad_Bucket",
        "s3://b/../x",
        "s3://key:secret@bucket",
    ):
        with pytest.raises(ConfigError, match="blob_store"):
            load_settings(data_dir=tmp_path, blob_store=bad)
    with pytest.raises(ConfigError, match="credentials"):
        load_settings(data_dir=tmp_path, s3_endpoint_url="http://key:secret@127.0.0.1:9000")
    with pytest.raises(ConfigError, match="s3_part_size"):
        load_settings(data_dir=tmp_path, s3_part_size=1024)


async def test_local_store_reads_and_writes_the_content_stores_files(tmp_path: Path) -> None:
    cas = ContentStore(tmp_path / "blobs")
    old = hashlib.sha256(b"fetched before").hexdigest()
    cas.add_file(_file(tmp_path / "a", b"fetched before"))
    async with LocalBlobStore(tmp_path / "blobs") as store:
        assert await _read(store, BlobKey.sha256(old)) == b"fetched before"
        new = await _write(store, b"stored after")
        assert store.path_for(new) == cas.path_for(new.digest)
    assert cas.verify(new.digest)
    assert cas.has(new.digest, size=len(b"stored after"))


def test_blob_keys() -> None:
    key = _key(b"")
    assert BlobKey.parse(str(key)) == key
    assert key.relpath == f"sha256/{key.digest[:2]}/{key.digest[2:4]}/{key.digest}"
    for algorithm, digest in [
        ("sha256", "../" * 21 + "x"),
        ("sha256", key.digest.upper()),
        ("md5", "0" * 32),
    ]:
        with pytest.raises(ValueError):
            BlobKey(algorithm, digest)
    with pytest.raises(ValueError):
        BlobKey.parse(key.digest)


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
