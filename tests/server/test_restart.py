"""A real `ferry serve`, killed with SIGKILL mid-download and started again: the task
continues from the files already verified and completes with a correct archive."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Npm
from ferry.settings import Settings
from support.serve import Server, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _status(server: Server, task_id: str) -> dict[str, Any]:
    return server.client.get(f"/api/tasks/{task_id}").json()  # type: ignore[no-any-return]


def _wait(server: Server, task_id: str, *statuses: str, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        doc = _status(server, task_id)
        if doc["status"] in statuses:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"stuck in {doc['status']}")


def test_sigkill_mid_download_then_restart(
    npm_settings: Settings, npmreg: Npm, servers: list[Server], tmp_path: Path
) -> None:
    port = free_port()
    first = Server(npm_settings, port)
    servers.append(first)
    created = first.client.post(
        "/api/tasks",
        files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
        data={
            "options": json.dumps(
                {"node_version": "20", "os": "linux", "cpu": "x64", "format": "zip"}
            )
        },
    ).json()
    task_id = created["task_id"]
    _wait(first, task_id, "resolved")

    npmreg.registry.delay(1.0)  # each tarball takes a second: time to kill mid-way
    npmreg.registry.clear_log()
    first.client.post(f"/api/tasks/{task_id}/download").raise_for_status()
    deadline = time.monotonic() + 20
    while not any(p.endswith(".tgz") for _, p in npmreg.registry.requests):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.3)  # the first tarballs are verified and stored by now
    first.kill()
    assert _status_after_kill(npm_settings, task_id) == "downloading"
    blobs = npm_settings.blob_dir / "sha512"
    kept = {p.name for p in blobs.rglob("*") if p.is_file()}
    assert 0 < len(kept) < 3

    npmreg.registry.delay(0)
    npmreg.registry.clear_log()
    second = Server(npm_settings, port)
    servers.append(second)
    doc = _wait(second, task_id, "completed", "failed")
    assert doc["status"] == "completed", doc["error"]
    fetched_again = [p for m, p in npmreg.registry.requests if p.endswith(".tgz")]
    assert len(fetched_again) == 3 - len(kept)  # what was verified before is not fetched

    # the signed link alone is enough, as for a browser following it
    archive = httpx.get(f"{second.base}{doc['archive_url']}", timeout=10).content
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        root = zf.namelist()[0].split("/")[0]
        for line in zf.read(f"{root}/SHA256SUMS").decode().splitlines():
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(zf.read(f"{root}/{name}")).hexdigest() == digest


def _status_after_kill(settings: Settings, task_id: str) -> str:
    from ferry.db.engine import make_engine, make_sessionmaker
    from ferry.db.repository import TaskRepository

    engine = make_engine(settings.effective_database_url)
    try:
        record = TaskRepository(make_sessionmaker(engine)).get(task_id)
        assert record is not None
        return record.status
    finally:
        engine.dispose()


def test_a_task_finished_before_a_restart_still_sends_its_snapshot(
    npm_settings: Settings, npmreg: Npm, servers: list[Server]
) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    port = free_port()
    first = Server(npm_settings, port)
    servers.append(first)
    created = first.client.post(
        "/api/tasks",
        files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
        data={"options": json.dumps({"node_version": "20", "os": "linux", "cpu": "x64"})},
    ).json()
    task_id = created["task_id"]
    _wait(first, task_id, "resolved")
    first.client.post(f"/api/tasks/{task_id}/download").raise_for_status()
    _wait(first, task_id, "completed")
    first.stop()

    second = Server(npm_settings, port)  # a fresh process: its event hub knows nothing
    servers.append(second)
    url = f"ws://127.0.0.1:{port}/ws/tasks/{task_id}"
    with connect(url, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "auth", "token": second.token}))
        events = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                events.append(json.loads(socket.recv(timeout=10)))
    assert events[0]["type"] == "status" and events[0]["status"] == "completed"
    progress = [e for e in events if e["type"] == "progress"]
    assert progress and progress[0]["ecosystem"] == "npm" and progress[0]["current"] == 3
    assert events[-1]["type"] == "complete"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
