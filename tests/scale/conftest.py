"""The scaled-out service of these tests (see ``scale.Cluster``)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from db import fresh_database
from ferry.settings import Settings
from scale import Cluster
from support.s3servers import S3Server, use_credentials

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def cluster(
    npm_settings: Settings,
    seaweedfs: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cluster]:
    use_credentials(monkeypatch)  # the processes take them from the environment
    prefix = f"t{uuid.uuid4().hex[:12]}"
    with fresh_database("postgresql", tmp_path) as database_url:
        env = {
            "FERRY_DATABASE_URL": database_url,
            "FERRY_TASK_QUEUE": REDIS_URL,
            "FERRY_TASK_QUEUE_PREFIX": prefix,
            "FERRY_BLOB_STORE": f"s3://{seaweedfs.bucket}/{prefix}",
            "FERRY_S3_ENDPOINT_URL": seaweedfs.endpoint,
            "FERRY_SECRET_KEY": secrets.token_hex(32),
            # a dead worker is noticed quickly here
            "FERRY_WORKER_HEARTBEAT_TIMEOUT": "5",
            "FERRY_TASK_LEASE_SECONDS": "6",
        }
        running = Cluster(npm_settings, tmp_path / "cluster", env)
        try:
            yield running
        finally:
            running.close()
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
            client.close()
