"""The hostile user's tools: a real `ferry serve` (the service as deployed, first-start
admin token and all), a way to upload anything and wait for the verdict, and a canary:
a server on 127.0.0.1 whose every request is a breach, answering bytes that must never
show up anywhere."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from conftest import Npm
from ferry.settings import Settings
from support.serve import Server, free_port
from support.served import ServedOnLoopback

CANARY_BYTES = b"CANARY-SECRET-0f6b4ba-do-not-leak"


class _CanaryHandler(BaseHTTPRequestHandler):
    server_version = "canary"

    def do_GET(self) -> None:
        self.server.owner._record_request("GET", self.path, self.headers)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(CANARY_BYTES)))
        self.end_headers()
        self.wfile.write(CANARY_BYTES)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Canary(ServedOnLoopback):
    def __init__(self) -> None:
        super().__init__(_CanaryHandler)
        self._server.owner = self  # type: ignore[attr-defined]

    def _record_request(self, method: str, path: str, headers: Any) -> None:
        with self._log_lock:
            self._log.append((method, path))

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


@pytest.fixture
def canary() -> Iterator[Canary]:
    with Canary() as server:
        yield server


@pytest.fixture
def service(npm_settings: Settings, npmreg: Npm) -> Iterator[Server]:
    started = Server(npm_settings, free_port())
    try:
        yield started
    finally:
        started.stop()


def submit(
    server: Server,
    files: dict[str, str | bytes],
    options: dict[str, Any] | None = None,
    *,
    until: tuple[str, ...] = ("resolved", "failed"),
) -> dict[str, Any]:
    """Upload ``files`` as a task and wait for one of ``until``; the task document, with
    its dependency document (when it has one) under ``"dependencies"``."""
    answer = server.client.post(
        "/api/tasks",
        files=[
            ("files", (name, data.encode() if isinstance(data, str) else data, "text/plain"))
            for name, data in files.items()
        ],
        data={"options": json.dumps(options or {"python_version": "3.11"})},
    )
    assert answer.status_code == 201, answer.text
    task_id = answer.json()["task_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        doc = server.client.get(f"/api/tasks/{task_id}").json()
        if doc["status"] in until:
            deps = server.client.get(f"/api/tasks/{task_id}/dependencies")
            doc["dependencies"] = deps.json() if deps.status_code == 200 else None
            return doc  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never reached {until}: {doc['status']}")


def everything_said(server: Server, doc: dict[str, Any]) -> str:
    """Every byte the service says about a task: document, dependencies, socket, list."""
    task_id = doc["task_id"]
    parts = [json.dumps(doc)]
    parts.append(server.client.get("/api/tasks", params={"size": 200}).text)
    with server.client.stream("GET", f"/api/tasks/{task_id}") as answer:
        parts.append(answer.read().decode())
    return "\n".join(parts)
