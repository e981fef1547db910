"""What the service keeps: task archives in the kept blob store beside packages, served
from there, released with the last row naming them, and collected when a crash left them
unnamed."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from db import fresh_database
from ferry.settings import Settings
from ferry.store.blob import BlobKey, BlobStore
from ferry.store.kept import KeptStore
from server import api_client, upload_files, wait_for_status
from support.s3servers import PART_SIZE, S3Server, use_credentials

pytestmark = pytest.mark.timeout(120)

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
NODE = {"node_version": "20", "os": "linux", "cpu": "x64"}


@pytest.fixture
async def api(npm_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(npm_settings) as client:
        yield client


def _kept(api: httpx.AsyncClient) -> KeptStore:
    return api.app.state.kept  # type: ignore[attr-defined,no-any-return]


async def _keys(blobs: BlobStore) -> set[BlobKey]:
    return {key async for key in blobs.iter_keys()}


async def _completed_task(api: httpx.AsyncClient) -> dict[str, object]:
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"package.json": PACKAGE}),
        data={"options": json.dumps({**NODE, "auto_download": True})},
    )
    assert response.status_code == 201, response.text
    doc = await wait_for_status(api, response.json()["task_id"], "completed", "failed")
    assert doc["status"] == "completed", doc["error"]
    return doc


async def _upload(api: httpx.AsyncClient, data: bytes, version: str = "1") -> httpx.Response:
    return await api.post(
        "/api/v1/packages",
        files={"file": ("bundle.zip", data)},
        data={"name": "bundle", "version": version, "platform": "any", "arch": "any"},
    )


async def test_an_archive_is_kept_in_the_store_and_served_from_it(
    api: httpx.AsyncClient, npm_settings: Settings
) -> None:
    doc = await _completed_task(api)
    task_id = str(doc["task_id"])
    key = BlobKey.sha256(str(doc["archive_sha256"]))
    kept = _kept(api)
    assert await _keys(kept.blobs) == {key}
    # moved, not copied: the task's directory no longer holds the archive
    assert not list((npm_settings.tasks_dir / task_id).glob("bundle.*"))

    url = f"/api/tasks/{task_id}/archive"
    whole = await api.get(url)
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == key.digest
    assert whole.headers["etag"] == f'"{key.digest}"'
    assert whole.headers["content-disposition"].startswith('attachment; filename="ferry-')
    ranged = await api.get(url, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == whole.content[10:20]
    unchanged = await api.get(url, headers={"If-None-Match": whole.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    past = await api.get(url, headers={"Range": f"bytes={len(whole.content)}-"})
    assert past.status_code == 416
    # a local store has no presigned URLs: the redirect asked for is not possible, the file is
    assert (await api.get(url, params={"redirect": 1})).content == whole.content

    assert (await api.delete(f"/api/tasks/{task_id}")).status_code == 204
    assert await _keys(kept.blobs) == set()


async def test_an_archive_a_package_also_names_outlives_the_task(api: httpx.AsyncClient) -> None:
    doc = await _completed_task(api)
    url = f"/api/tasks/{doc['task_id']}/archive"
    archive = (await api.get(url)).content
    kept = _kept(api)
    # someone keeps the bundle as a package too: the same bytes, one blob
    package = (await _upload(api, archive)).json()
    assert await _keys(kept.blobs) == {BlobKey.sha256(package["sha256"])}

    # the package goes while the task's archive has its bytes: they stay
    assert (await api.delete(f"/api/v1/packages/{package['id']}")).status_code == 204
    assert (await api.get(url)).content == archive

    # the task goes while a package has them: they stay
    package = (await _upload(api, archive, version="2")).json()
    assert (await api.delete(f"/api/tasks/{doc['task_id']}")).status_code == 204
    assert (await api.get(package["download_url"])).content == archive

    assert (await api.delete(f"/api/v1/packages/{package['id']}")).status_code == 204
    assert await _keys(kept.blobs) == set()


async def test_collection_takes_only_blobs_no_row_names(api: httpx.AsyncClient) -> None:
    kept = _kept(api)
    named = (await _upload(api, b"a package's bytes")).json()
    # what a crash between storing and recording leaves: bytes no row names
    async with kept.blobs.open_writer() as writer:
        await writer.write(b"left by a crash")
        orphan = (await writer.commit()).key

    young = await kept.collect(min_age=3600)
    assert (young.removed, young.young) == (0, 1)
    assert await _keys(kept.blobs) == {orphan, BlobKey.sha256(named["sha256"])}

    dry = await kept.collect(min_age=0, dry_run=True)
    assert dry.removed == 1 and orphan in await _keys(kept.blobs)

    done = await kept.collect(min_age=0)
    assert (done.removed, done.freed) == (1, len(b"left by a crash"))
    assert await _keys(kept.blobs) == {BlobKey.sha256(named["sha256"])}
    assert (await api.get(named["download_url"])).content == b"a package's bytes"


@pytest.mark.s3
async def test_on_s3_the_archive_is_in_the_bucket_and_redirects(
    seaweedfs: S3Server, npm_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_credentials(monkeypatch)
    with fresh_database("sqlite", tmp_path) as url:
        settings = npm_settings.model_copy(
            update={
                "database_url": url,
                "blob_store": f"s3://{seaweedfs.bucket}/a-{uuid.uuid4().hex[:12]}",
                "s3_endpoint_url": seaweedfs.endpoint,
                "s3_part_size": PART_SIZE,
            }
        )
        async with api_client(settings) as api:
            doc = await _completed_task(api)
            key = BlobKey.sha256(str(doc["archive_sha256"]))
            assert await _keys(_kept(api).blobs) == {key}
            archive_url = f"/api/tasks/{doc['task_id']}/archive"
            whole = await api.get(archive_url)
            assert hashlib.sha256(whole.content).hexdigest() == key.digest
            moved = await api.get(archive_url, params={"redirect": 1})
            assert moved.status_code == 307
            async with httpx.AsyncClient() as anyone:  # the presigned URL needs no token
                fetched = await anyone.get(moved.headers["location"])
            assert fetched.content == whole.content
            assert (await api.delete(f"/api/tasks/{doc['task_id']}")).status_code == 204
            assert await _keys(_kept(api).blobs) == set()
