"""Live events from a real task over /ws/tasks/{id}: statuses in order, progress with
bytes, a complete event; a late subscriber starts from the snapshot."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ferry.server.app import create_app
from ferry.settings import Settings
from server import signed_in

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})


def _wait(client: TestClient, task_id: str, *statuses: str) -> dict[str, Any]:
    # generous: resolving 150 packages on a loaded 2-core CI machine takes its time, and
    # how long is not what these tests are about
    deadline = time.monotonic() + 180
    while True:
        doc: dict[str, Any] = client.get(f"/api/tasks/{task_id}").json()
        if doc["status"] in statuses:
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"task stuck: {doc}")
        time.sleep(0.05)


def test_events_of_a_task(npm_settings: Settings) -> None:
    with TestClient(create_app(npm_settings)) as client:
        signed_in(client)
        created = client.post(
            "/api/tasks",
            files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
            data={"options": json.dumps({"node_version": "20", "os": "linux", "cpu": "x64"})},
        ).json()
        task_id = created["task_id"]
        _wait(client, task_id, "resolved")
        with client.websocket_connect(f"/ws/tasks/{task_id}") as ws:
            first = json.loads(ws.receive_text())
            assert first["type"] == "status" and first["status"] == "resolved"
            client.post(f"/api/tasks/{task_id}/download")
            events = []
            while True:
                event = json.loads(ws.receive_text())
                events.append(event)
                if event["type"] == "complete" or event.get("status") == "failed":
                    break
            # the task is over: the server closes the socket after its last event
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1000
        statuses = [e["status"] for e in events if e["type"] == "status"]
        assert statuses == ["downloading", "packing", "completed"]
        progress = [e for e in events if e["type"] == "progress"]
        assert progress and progress[-1]["bytes_done"] > 0 and progress[-1]["ecosystem"] == "npm"
        # the analysis said where it was, and the late watcher's snapshot still says it
        analysis = [e for e in events if e["type"] == "analysis"]
        assert [(e["ecosystem"], e["phase"]) for e in analysis] == [("npm", "done")]
        # the npm row is there before any byte, with the analysis's totals
        deps = client.get(f"/api/tasks/{task_id}/dependencies").json()
        first_row = progress[0]
        assert first_row["phase"] == "waiting" and first_row["bytes_done"] == 0
        assert (first_row["total"], first_row["bytes_total"]) == (
            deps["npm"]["count"],
            deps["npm"]["total_bytes"],
        )
        assert progress[-1]["bytes_done"] == progress[-1]["bytes_total"]
        assert any(e["type"] == "complete" for e in events)
        assert any(e["type"] == "log" and e["package_name"] for e in events)

        # a late subscriber gets the current state first
        with client.websocket_connect(f"/ws/tasks/{task_id}") as late:
            snapshot = json.loads(late.receive_text())
            assert snapshot["type"] == "status" and snapshot["status"] == "completed"
            rest = []
            with pytest.raises(WebSocketDisconnect):
                while True:
                    rest.append(json.loads(late.receive_text()))
            assert rest[-1]["type"] == "complete"


def test_many_files_are_coalesced(npm_settings: Settings, tmp_path_factory: Any) -> None:
    from support.npmregistry import LocalRegistry, build_tarball

    count = 150  # one progress event per file would be 150; coalesced, a few a second
    built = tmp_path_factory.mktemp("many")
    with LocalRegistry() as registry:
        for i in range(count):
            registry.publish(build_tarball(built, f"pkg-{i:03d}", "1.0.0"))
        settings = npm_settings.model_copy(update={"npm_registry": registry.url})
        package = json.dumps(
            {
                "name": "many",
                "version": "1.0.0",
                "dependencies": {f"pkg-{i:03d}": "1.0.0" for i in range(count)},
            }
        )
        with TestClient(create_app(settings)) as client:
            signed_in(client)
            created = client.post(
                "/api/tasks",
                files=[("files", ("package.json", package.encode(), "application/json"))],
                data={"options": json.dumps({"node_version": "20", "os": "linux", "cpu": "x64"})},
            ).json()
            task_id = created["task_id"]
            _wait(client, task_id, "resolved")
            with client.websocket_connect(f"/ws/tasks/{task_id}") as ws:
                json.loads(ws.receive_text())  # the snapshot
                started = time.monotonic()
                client.post(f"/api/tasks/{task_id}/download")
                events = []
                while True:
                    event = json.loads(ws.receive_text())
                    events.append(event)
                    if event["type"] == "status" and event["status"] in ("completed", "failed"):
                        break
                seconds = time.monotonic() - started
    progress = [e for e in events if e["type"] == "progress"]
    logs = [e for e in events if e["type"] == "log" and e["package_name"]]
    assert events[-1]["status"] == "completed"
    assert len(logs) == count  # one line per file, none lost
    # a few a second, whatever the number of files (the first goes out at once)
    assert 0 < len(progress) <= 4 * seconds + 3, (len(progress), seconds)
    assert progress[-1]["current"] == count
