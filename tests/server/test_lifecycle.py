"""Pause, resume, retry of failed files, expiry, and recovery after a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conftest import Dists, Npm
from ferry.settings import Settings
from server import api_client, upload_files, wait_for_status

pytestmark = pytest.mark.timeout(120)

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
NODE = {"node_version": "20", "os": "linux", "cpu": "x64"}


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings) as client:
        yield client


@pytest.fixture
async def api(npm_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(npm_settings):
        yield client


async def _resolved_task(api: httpx.AsyncClient) -> str:
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"package.json": PACKAGE}),
        data={"options": json.dumps(NODE)},
    )
    task_id: str = response.json()["task_id"]
    doc = await wait_for_status(api, task_id, "resolved", "failed")
    assert doc["status"] == "resolved", doc["error"]
    return task_id


async def test_pause_and_resume(api: httpx.AsyncClient, npmreg: Npm) -> None:
    task_id = await _resolved_task(api)
    npmreg.registry.delay(0.3)  # slow enough to pause mid-download
    await api.post(f"/api/tasks/{task_id}/download")
    paused = await api.post(f"/api/tasks/{task_id}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    await asyncio.sleep(0.5)
    assert (await api.get(f"/api/tasks/{task_id}")).json()["status"] == "paused"
    assert (await api.post(f"/api/tasks/{task_id}/pause")).status_code == 409
    npmreg.registry.delay(0)
    assert (await api.post(f"/api/tasks/{task_id}/resume")).status_code == 202
    doc = await wait_for_status(api, task_id, "completed", "failed")
    assert doc["status"] == "completed", doc["error"]


async def test_retry_fetches_only_what_failed(api: httpx.AsyncClient, npmreg: Npm) -> None:
    task_id = await _resolved_task(api)
    npmreg.registry.fail("dep", "1.0.0", times=50, status=503)
    await api.post(f"/api/tasks/{task_id}/download")
    failed = await wait_for_status(api, task_id, "failed", "completed")
    assert failed["status"] == "failed" and failed["error"]["code"] == "fetch-failed"
    assert [p["name"] for p in failed["progress"]["npm"]["failed_packages"]] == ["dep-1.0.0.tgz"]
    # why, with the code and params the page says it by in the reader's language
    (why,) = failed["progress"]["npm"]["failed_packages"]
    assert why["code"] == "fetch-failed" and why["params"] == {"detail": why["error"]}
    assert "HTTP 503" in why["error"]
    assert (failed["error"]["hint_code"], failed["error"]["hint_params"]) == ("retry", {})
    gets_before = {p for m, p in npmreg.registry.requests if p.endswith(".tgz")}

    npmreg.registry.fail("dep", "1.0.0", times=0)
    npmreg.registry.clear_log()
    assert (await api.post(f"/api/tasks/{task_id}/retry")).status_code == 202
    done = await wait_for_status(api, task_id, "completed", "failed")
    assert done["status"] == "completed", done["error"]
    fetched = [p for m, p in npmreg.registry.requests if m == "GET" and p.endswith(".tgz")]
    assert fetched == ["/dep/-/dep-1.0.0.tgz"]  # app and lib were kept from the first run
    assert gets_before >= {"/app/-/app-1.0.0.tgz", "/lib/-/lib-2.0.0.tgz"}


async def test_retry_needs_a_failed_task(api: httpx.AsyncClient) -> None:
    task_id = await _resolved_task(api)
    response = await api.post(f"/api/tasks/{task_id}/retry")
    assert response.status_code == 409 and response.json()["code"] == "task-invalid-transition"


async def test_expired_tasks_are_removed_at_start(npm_settings: Settings) -> None:
    short = npm_settings.model_copy(update={"task_expiry": 0.01})
    task_id = ""
    async for api in _client(short):
        task_id = await _resolved_task(api)
    await asyncio.sleep(0.05)
    async for api in _client(short):  # a restart sweeps expired tasks and their files
        assert (await api.get(f"/api/tasks/{task_id}")).status_code == 404
    assert not (short.tasks_dir / task_id).exists()


async def test_unfinished_download_goes_on_after_restart(
    npm_settings: Settings, npmreg: Npm, pyindex: Dists
) -> None:
    task_id = ""
    async for api in _client(npm_settings):
        task_id = await _resolved_task(api)
        npmreg.registry.delay(5)  # the download hangs: the "server" stops mid-way
        await api.post(f"/api/tasks/{task_id}/download")
        await asyncio.sleep(0.3)
        status: dict[str, Any] = (await api.get(f"/api/tasks/{task_id}")).json()
        assert status["status"] == "downloading"
    npmreg.registry.delay(0)
    async for api in _client(npm_settings):  # start again: the task resumes by itself
        doc = await wait_for_status(api, task_id, "completed", "failed")
        assert doc["status"] == "completed", doc["error"]


async def test_a_task_queued_when_the_server_stopped_is_analysed_after_restart(
    npm_settings: Settings,
) -> None:
    """Queued (created) in the stopped process's memory: no one else would ever start it."""
    task_id = ""
    async for api in _client(npm_settings):
        api.app.state.manager._slots = asyncio.Semaphore(0)  # type: ignore[attr-defined]
        created = await api.post(
            "/api/tasks",
            files=upload_files(**{"package.json": PACKAGE}),
            data={"options": json.dumps(NODE)},
        )
        task_id = created.json()["task_id"]
        await asyncio.sleep(0.2)
        assert (await api.get(f"/api/tasks/{task_id}")).json()["status"] == "created"
    async for api in _client(npm_settings):
        doc = await wait_for_status(api, task_id, "resolved", "failed")
        assert doc["status"] == "resolved", doc["error"]


async def test_periodic_sweep_removes_expired_tasks(npm_settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    from ferry.db.engine import make_engine, make_sessionmaker
    from ferry.db.repository import TaskRepository

    swept = npm_settings.model_copy(update={"cleanup_interval": 0.2})
    async for api in _client(swept):
        task_id = await _resolved_task(api)
        engine = make_engine(swept.effective_database_url)
        try:  # the task's time is up now; the running service's sweep must notice
            TaskRepository(make_sessionmaker(engine)).update(
                task_id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        finally:
            engine.dispose()
        for _ in range(100):
            if (await api.get(f"/api/tasks/{task_id}")).status_code == 404:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the expired task was not swept while running")
        assert not (swept.tasks_dir / task_id).exists()


async def test_a_tasks_bandwidth_limit_reaches_its_downloads(
    api: httpx.AsyncClient, npmreg: Npm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.fetch import dispatch

    seen: list[float | None] = []
    real = dispatch.current_batch

    def spy() -> Any:
        batch = real()
        seen.append(batch.limit.rate if batch is not None and batch.limit else None)
        return batch

    monkeypatch.setattr(dispatch, "current_batch", spy)
    options = {**NODE, "limit_rate": "2M", "auto_download": True}
    response = await api.post(
        "/api/tasks",
        files=upload_files(**{"package.json": PACKAGE}),
        data={"options": json.dumps(options)},
    )
    doc = await wait_for_status(api, response.json()["task_id"], "completed", "failed")
    assert doc["status"] == "completed", doc["error"]
    assert float(2 << 20) in seen  # the tarballs were fetched under the task's own limit
