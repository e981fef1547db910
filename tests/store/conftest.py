"""The blob store under test, once per backend: this machine's disk, SeaweedFS, moto.

The servers (``seaweedfs`` and ``moto``, fixtures of tests/conftest.py) start once per
session, on demand (a run of ``-m "not s3"`` starts none), and each test gets a prefix of
its own in their bucket, so tests never see each other's blobs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ferry.settings import Settings
from ferry.store.blob import BlobStore, open_blob_store
from support.s3servers import PART_SIZE, S3Server, use_credentials

BACKENDS = [
    "local",
    pytest.param("seaweedfs", marks=pytest.mark.s3),
    pytest.param("moto", marks=pytest.mark.s3),
]
S3_BACKENDS = [
    pytest.param("seaweedfs", marks=pytest.mark.s3),
    pytest.param("moto", marks=pytest.mark.s3),
]


def _settings(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    data_dir = tmp_path / "data"
    if backend == "local":
        return Settings(data_dir=data_dir)
    server: S3Server = request.getfixturevalue(backend)
    use_credentials(monkeypatch)
    return Settings(
        data_dir=data_dir,
        blob_store=f"s3://{server.bucket}/t-{uuid.uuid4().hex[:12]}",
        s3_endpoint_url=server.endpoint,
        s3_part_size=PART_SIZE,
    )


@pytest.fixture(params=BACKENDS)
def blob_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    return _settings(request, request.param, tmp_path, monkeypatch)


@pytest.fixture(params=S3_BACKENDS)
def s3_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    return _settings(request, request.param, tmp_path, monkeypatch)


@pytest.fixture
async def store(blob_settings: Settings) -> AsyncIterator[BlobStore]:
    async with open_blob_store(blob_settings) as opened:
        yield opened


@pytest.fixture
async def s3_store(s3_settings: Settings) -> AsyncIterator[BlobStore]:
    async with open_blob_store(s3_settings) as opened:
        yield opened
