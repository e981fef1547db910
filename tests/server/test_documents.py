"""The response models (`ferry.server.schemas`) describe the JSON the service always sent:
no field dropped, none added, nothing renamed; and the WebSocket's message model matches
the events the hub sends."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ferry.server.routes.tasks import task_fields
from ferry.server.schemas import ProblemDocument, TaskCreated, TaskEventMessage
from ferry.tasks.events import TaskEvent
from ferry.tasks.manager import TaskManager
from server import wait_for_status

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def app(sqlite_app: FastAPI) -> FastAPI:
    return sqlite_app


@pytest.fixture
def api(sqlite_api: httpx.AsyncClient) -> httpx.AsyncClient:
    return sqlite_api


async def _create(api: httpx.AsyncClient, options: dict[str, Any], **named: str) -> str:
    files = [("files", (name, text.encode(), "text/plain")) for name, text in named.items()]
    response = await api.post("/api/tasks", files=files, data={"options": json.dumps(options)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == set(TaskCreated.model_fields)
    return str(body["task_id"])


async def _stored(app: FastAPI, task_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The task document's fields and the dependencies as stored, before any model."""
    manager: TaskManager = app.state.manager
    record = await asyncio.to_thread(manager.repo.get, task_id)
    assert record is not None
    # through JSON, as the answer goes: tuples become lists, and so on
    fields = json.loads(json.dumps(task_fields(manager, record)))
    return fields, record.dependencies


def _unsigned(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with its archive link's signed query left out: it expires a fixed time
    after the moment the document is made, and two made a second apart differ there."""
    url = doc.get("archive_url")
    return {**doc, "archive_url": url.partition("?")[0]} if url else doc


async def _same_task(api: httpx.AsyncClient, app: FastAPI, task_id: str) -> dict[str, Any]:
    doc = (await api.get(f"/api/tasks/{task_id}")).json()
    fields, _ = await _stored(app, task_id)
    transitions = doc.pop("transitions")
    assert _unsigned(doc) == _unsigned(fields)
    assert all(set(t) == {"from", "to", "reason", "at"} for t in transitions)
    listed = (await api.get("/api/tasks")).json()["tasks"]
    mine = [_unsigned(t) for t in listed if t["task_id"] == task_id]
    assert mine == [_unsigned(fields)]
    return doc


async def test_task_and_dependency_documents_are_the_stored_json(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    package = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})
    options = {
        "platforms": ["manylinux_2_28_x86_64"],
        "python_version": "3.11",
        "node_version": "20",
        "os": "linux",
        "cpu": "x64",
    }
    task_id = await _create(
        api, options, **{"requirements.txt": "dep==1.0\nlib==2.0\n", "package.json": package}
    )
    doc = await wait_for_status(api, task_id, "resolved", "failed")
    assert doc["status"] == "resolved", doc["error"]
    await _same_task(api, app, task_id)

    deps = (await api.get(f"/api/tasks/{task_id}/dependencies")).json()
    _, stored = await _stored(app, task_id)
    assert stored is not None and stored["npm"]["tree"] and stored["python"]["targets"]
    assert deps == {"task_id": task_id, **stored}

    answer = await api.post(f"/api/tasks/{task_id}/download")
    assert answer.status_code == 202 and answer.json()["status"] == "downloading"
    doc = await wait_for_status(api, task_id, "completed", "failed")
    assert doc["status"] == "completed", doc["error"]
    assert doc["progress"]["npm"]["completed"] > 0
    await _same_task(api, app, task_id)


async def test_a_failed_tasks_error_keeps_every_field(api: httpx.AsyncClient, app: FastAPI) -> None:
    task_id = await _create(api, {}, **{"requirements.txt": "dep\nnot valid !!\n"})
    doc = await wait_for_status(api, task_id, "failed")
    assert {"code", "message", "file", "line", "reason"} <= set(doc["error"])
    await _same_task(api, app, task_id)


async def test_problem_documents_keep_their_own_fields(api: httpx.AsyncClient) -> None:
    missing = await api.get("/api/tasks/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    body = missing.json()
    assert body["task_id"] == "nope" and body["hint"]
    parsed = ProblemDocument.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_unset=True) == body

    task_id = await _create(api, {}, **{"requirements.txt": "dep==1.0\n"})
    await wait_for_status(api, task_id, "resolved", "failed")
    refused = (await api.post(f"/api/tasks/{task_id}/resume")).json()
    assert refused["code"] == "task-invalid-transition"
    assert refused["status"] == 409 and refused["task_status"] in ("resolved", "failed")
    assert ProblemDocument.model_validate(refused).model_dump(exclude_unset=True) == refused


async def test_the_schema_declares_answers_errors_and_socket_messages(
    api: httpx.AsyncClient,
) -> None:
    schema = (await api.get("/openapi.json")).json()
    problem = {"$ref": "#/components/schemas/ProblemDocument"}
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/tasks/{task_id}"):
            continue
        for operation in operations.values():
            answer = operation["responses"]["404"]
            assert answer["content"] == {"application/problem+json": {"schema": problem}}, path
    ok = schema["paths"]["/api/tasks/{task_id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskDetail"
    }

    message = schema["components"]["schemas"]["TaskEventMessage"]
    names = [f.name for f in dataclasses.fields(TaskEvent)]
    assert message["required"] == names
    assert message["properties"]["status"]["anyOf"][0] == {
        "$ref": "#/components/schemas/TaskStatus"
    }


@pytest.mark.parametrize(
    "event",
    [
        TaskEvent.status_changed("resolving", "analysis started"),
        TaskEvent.log("fetched a-1.0.tgz", package_name="a", ecosystem="npm", phase="x"),
        TaskEvent.error("no task t1"),
        TaskEvent.complete("archive written"),
        TaskEvent(type="progress", ecosystem="pypi", current=1, total=2, speed=1.5, eta=0.5),
    ],
)
def test_socket_messages_match_their_model(event: TaskEvent) -> None:
    assert list(TaskEventMessage.model_fields) == [f.name for f in dataclasses.fields(TaskEvent)]
    sent = json.loads(event.to_json())
    assert TaskEventMessage.model_validate(sent).model_dump(mode="json") == sent
