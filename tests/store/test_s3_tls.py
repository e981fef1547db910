"""The S3 store over HTTPS (SeaweedFS with a certificate from a CA of the test's own,
trusted the way AWS tools are told to: ``AWS_CA_BUNDLE``), and how each part is signed:
without its payload's SHA-256 over HTTPS, with it over plain HTTP.

What was signed is read off the requests as they leave (botocore's ``before-send`` event),
and the blobs are read back from the server, so a store that skipped a step it should not
(or signed over TLS what TLS already guards) fails here."""

from __future__ import annotations

import asyncio
import hashlib
import random
import ssl
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ferry.store.blob import BlobKey, BlobStoreError
from ferry.store.blob.s3 import S3BlobStore
from support.s3servers import PART_SIZE, S3Server, use_credentials

pytestmark = [pytest.mark.s3, pytest.mark.timeout(120)]


def _fetch(url: str, trust: ssl.SSLContext) -> bytes:
    with urllib.request.urlopen(url, context=trust, timeout=30) as answer:
        return bytes(answer.read())


def _store(server: S3Server) -> S3BlobStore:
    return S3BlobStore(
        f"s3://{server.bucket}/tls-{uuid.uuid4().hex[:12]}",
        endpoint_url=server.endpoint,
        region="us-east-1",
        part_size=PART_SIZE,
        max_attempts=1,
    )


async def _watched(store: S3BlobStore) -> list[tuple[str, str]]:
    """(operation, X-Amz-Content-SHA256) of every request the store sends from now on."""
    sent: list[tuple[str, str]] = []

    def record(request: Any, event_name: str, **_: Any) -> None:
        header = request.headers.get("X-Amz-Content-SHA256", b"")
        value = header.decode() if isinstance(header, bytes) else str(header)
        sent.append((event_name.rsplit(".", 1)[-1], value))

    client = await store._s3()
    client.meta.events.register("before-send.s3", record)
    return sent


@pytest.fixture
async def tls_store(
    seaweedfs_tls: S3Server, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[S3BlobStore]:
    use_credentials(monkeypatch)
    assert seaweedfs_tls.ca_file is not None
    monkeypatch.setenv("AWS_CA_BUNDLE", str(seaweedfs_tls.ca_file))
    async with _store(seaweedfs_tls) as store:
        yield store


async def test_over_https_parts_are_sent_unsigned_and_the_blob_is_whole(
    tls_store: S3BlobStore, seaweedfs_tls: S3Server
) -> None:
    sent = await _watched(tls_store)
    data = random.Random(6).randbytes(2 * PART_SIZE + 12345)
    async with tls_store.open_writer() as writer:
        for at in range(0, len(data), 1 << 20):
            await writer.write(data[at : at + (1 << 20)])
        info = await writer.commit()

    assert info.key == BlobKey.sha256(hashlib.sha256(data).hexdigest())
    parts = [value for op, value in sent if op == "UploadPart"]
    assert len(parts) == 3
    assert set(parts) == {"UNSIGNED-PAYLOAD"}
    back = b"".join([chunk async for chunk in tls_store.read(info.key)])
    assert back == data
    # a presigned URL is https too, and opens with the same CA
    url = await tls_store.presigned_url(info.key, 60)
    assert url is not None and url.startswith("https://127.0.0.1:")
    trust = ssl.create_default_context(cafile=str(seaweedfs_tls.ca_file))
    assert await asyncio.to_thread(_fetch, url, trust) == data


async def test_over_plain_http_every_part_is_signed_with_its_sha256(
    seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_credentials(monkeypatch)
    data = random.Random(7).randbytes(PART_SIZE + 99)
    async with _store(seaweedfs) as store:
        sent = await _watched(store)
        async with store.open_writer() as writer:
            await writer.write(data[:PART_SIZE])
            await writer.write(data[PART_SIZE:])
            info = await writer.commit()
        back = b"".join([chunk async for chunk in store.read(info.key)])

    assert back == data
    parts = [value for op, value in sent if op == "UploadPart"]
    assert parts == [hashlib.sha256(p).hexdigest() for p in (data[:PART_SIZE], data[PART_SIZE:])]


async def test_a_certificate_nobody_vouched_for_is_refused_with_the_endpoint_named(
    seaweedfs_tls: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no AWS_* variable but the credentials (so no AWS_CA_BUNDLE): the CA is trusted by nobody
    use_credentials(monkeypatch)
    with pytest.raises(BlobStoreError) as refused:
        async with _store(seaweedfs_tls) as store:
            await store.has(BlobKey.sha256("0" * 64))
    message = str(refused.value)
    assert seaweedfs_tls.endpoint.removeprefix("https://") in message
    assert "certificate" in message.lower()
