"""Limits: request size, tasks at once (the rest queue in order), time, disk."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from conftest import Npm
from ferry.settings import Settings
from server import api_client, upload_files, wait_for_status

pytestmark = pytest.mark.timeout(120)

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
NODE = json.dumps({"node_version": "20", "os": "linux", "cpu": "x64"})


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings) as client:
        yield client


async def test_huge_body_is_refused_before_it_is_read(npm_settings: Settings) -> None:
    async for api in _client(npm_settings):
        body = b"x" * (20 * 1024 * 1024)
        response = await api.post("/api/tasks", files=upload_files(**{"requirements.txt": body}))
        assert response.status_code == 413 and response.json()["code"] == "upload-too-large"
        assert (await api.get("/api/tasks")).json()["total"] == 0
    assert not npm_settings.tasks_dir.exists() or not any(npm_settings.tasks_dir.iterdir())


async def test_tasks_queue_beyond_the_limit(npm_settings: Settings, npmreg: Npm) -> None:
    one_at_a_time = npm_settings.model_copy(update={"max_concurrent_tasks": 1})
    async for api in _client(one_at_a_time):
        npmreg.registry.delay(0.4)  # the first analysis holds the only slot for a while
        ids = []
        for _ in range(2):
            created = await api.post(
                "/api/tasks",
                files=upload_files(**{"package.json": PACKAGE}),
                data={"options": NODE},
            )
            ids.append(created.json()["task_id"])
        await asyncio.sleep(0.2)
        statuses = [(await api.get(f"/api/tasks/{i}")).json()["status"] for i in ids]
        assert statuses == ["resolving", "created"]  # the second waits its turn
        npmreg.registry.delay(0)
        for task_id in ids:
            assert (await wait_for_status(api, task_id, "resolved", "failed"))[
                "status"
            ] == "resolved"


async def test_task_timeout(npm_settings: Settings, npmreg: Npm) -> None:
    quick = npm_settings.model_copy(update={"task_timeout": 0.5})
    async for api in _client(quick):
        npmreg.registry.delay(2)
        created = await api.post(
            "/api/tasks", files=upload_files(**{"package.json": PACKAGE}), data={"options": NODE}
        )
        doc = await wait_for_status(api, created.json()["task_id"], "failed", "resolved")
        assert doc["status"] == "failed" and "time limit" in doc["error"]["message"]
        npmreg.registry.delay(0)


async def test_disk_budget(npm_settings: Settings) -> None:
    small = npm_settings.model_copy(update={"task_disk_bytes": 100})
    async for api in _client(small):
        created = await api.post(
            "/api/tasks", files=upload_files(**{"package.json": PACKAGE}), data={"options": NODE}
        )
        task_id = created.json()["task_id"]
        await wait_for_status(api, task_id, "resolved")
        await api.post(f"/api/tasks/{task_id}/download")
        doc = await wait_for_status(api, task_id, "failed", "completed")
        assert doc["status"] == "failed" and "100-byte limit" in doc["error"]["message"]
