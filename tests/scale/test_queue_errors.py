"""A replica whose Redis is away: a new task is refused with 503 and nothing of it is kept;
a download asked for fails the task (a retry later sends it again). A replica that sends
its steps to workers never runs one itself. And one without secret_key refuses to start."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ferry.db.repository import TaskRepository
from ferry.errors import ConfigError
from ferry.server.app import create_app
from ferry.settings import Settings
from support.auth import bearer, issue
from support.serve import free_port

PACKAGE = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"app": "^1.0.0"}})


@pytest.fixture
async def replica(npm_settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = npm_settings.model_copy(
        update={"task_queue": dead, "secret_key": "k" * 64, "retries": 0}
    )
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ferry", headers=bearer(issue(application))
        ) as client:
            client.app = application  # type: ignore[attr-defined]
            yield client


async def test_a_task_is_refused_when_the_queue_is_away(replica: httpx.AsyncClient) -> None:
    answer = await replica.post(
        "/api/tasks",
        files=[("files", ("package.json", PACKAGE.encode(), "application/json"))],
        data={"options": json.dumps({"node_version": "20"})},
    )
    assert answer.status_code == 503, answer.text
    problem = answer.json()
    assert problem["code"] == "queue-unavailable"
    assert "task queue cannot be reached" in problem["message"]
    assert problem["hint_code"] == "queue-retry"
    listed = (await replica.get("/api/tasks")).json()
    assert listed["total"] == 0  # nothing kept
    repo: TaskRepository = replica.app.state.manager.repo  # type: ignore[attr-defined]
    assert repo.list()[1] == 0


def test_a_replica_without_a_secret_key_refuses_to_start(npm_settings: Settings) -> None:
    settings = npm_settings.model_copy(update={"task_queue": "redis://127.0.0.1:6379/0"})
    with pytest.raises(ConfigError, match="secret_key"):
        create_app(settings)


def test_task_queue_must_be_a_redis_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="redis://"):
        Settings(data_dir=tmp_path, task_queue="amqp://127.0.0.1:5672/")


def test_a_message_naming_no_known_step_is_dropped_not_retried(npm_settings: Settings) -> None:
    from ferry.jobs.broker import ACTOR, STEPS, make_broker

    ran: list[tuple[str, str]] = []
    settings = npm_settings.model_copy(update={"task_queue": "redis://127.0.0.1:6379/0"})
    broker = make_broker(settings, run=lambda task_id, step: ran.append((task_id, step)))
    try:
        actor = broker.get_actor(ACTOR)
        actor.fn("t1", "format-disk")  # returns: Dramatiq acks it, no retry
        assert ran == []
        actor.fn("t1", STEPS[0])
        assert ran == [("t1", STEPS[0])]
    finally:
        broker.close()
