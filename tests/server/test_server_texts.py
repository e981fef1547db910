"""What the server writes for a person carries a stable code and the parameters its English
message was made of (``ferry.texts``), so the web UI can say it in the reader's language:
problems, error answers, a failed task's error, and the task events' log lines. The list
of codes the web checks its catalog against (web/src/serverCodes.json) is in step."""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import ferry
from ferry.errors import FerryError, ManifestError
from ferry.problems import Problem
from ferry.tasks.events import EventHub, HubProgress, Subscription, TaskEvent
from ferry.texts import ERRORS, EVENTS, PROBLEMS, names, render
from server import upload_files, wait_for_status

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
TASK = "0" * 32


# the codes list and the templates


def test_the_web_codes_list_is_in_step() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from server_codes import codes_text
    finally:
        sys.path.pop(0)
    committed = ROOT / "web" / "src" / "serverCodes.json"
    assert committed.is_file(), "run .venv/bin/python scripts/server_codes.py"
    assert json.loads(committed.read_text()) == json.loads(codes_text()), (
        "web/src/serverCodes.json is stale: run .venv/bin/python scripts/server_codes.py, "
        "then give web/src/serverText.ts an English and a Chinese text for what changed"
    )


def _all_subclasses(cls: type[FerryError]) -> list[type[FerryError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def test_every_error_code_has_texts_and_a_frame_for_any_message() -> None:
    # every module loaded, so that every FerryError subclass is known
    for info in pkgutil.walk_packages(ferry.__path__, "ferry."):
        if ".migrations" not in info.name and "templates" not in info.name:
            importlib.import_module(info.name)
    codes = {c.code for c in [FerryError, *_all_subclasses(FerryError)]}
    assert len(codes) > 20
    assert codes <= ERRORS.keys(), codes - ERRORS.keys()
    # a FerryError raised with a message only sends it as ``detail``
    for code in codes:
        assert "{detail}" in ERRORS[code], code


def test_event_codes_are_not_error_codes() -> None:
    # an event's code is looked up among both (an error event carries its error's code)
    assert not EVENTS.keys() & ERRORS.keys()


@pytest.mark.parametrize("texts", [PROBLEMS, ERRORS, EVENTS], ids=["problem", "error", "event"])
def test_each_template_is_reachable(texts: dict[str, tuple[str, ...]]) -> None:
    # the first template that fits wins: one with the same parameters as an earlier one
    # is never chosen unless the earlier one is narrowed by a condition
    for code, templates in texts.items():
        for i, later in enumerate(templates):
            for earlier in templates[:i]:
                if names(earlier) == names(later):
                    assert "=" in earlier, (code, earlier, later)


def test_a_problem_is_made_from_its_template() -> None:
    problem = Problem.of(
        "warning", "yanked", {"package": "lib", "version": "2.0", "reason": "broken"}
    )
    assert problem.message == "lib 2.0 is yanked: broken"
    assert problem.to_dict()["params"] == {"package": "lib", "version": "2.0", "reason": "broken"}
    # a part given as None picks the template without it
    plain = Problem.of("warning", "yanked", {"package": "lib", "version": "2.0", "reason": None})
    assert plain.message == "lib 2.0 is yanked" and plain.params == {
        "package": "lib",
        "version": "2.0",
    }
    # a condition selects the wording and shows nothing itself
    refused = Problem.of(
        "error", "no-file-for-target", {"package": "a", "version": "1", "refused": "wheel"}
    )
    assert refused.message == "a 1 has no sdist and wheels are refused (--no-binary)"
    with pytest.raises(ValueError, match="no text"):
        Problem.of("warning", "yanked", {"package": "lib"})
    with pytest.raises(KeyError):
        Problem.of("warning", "no-such-kind", {})


def test_every_problem_in_the_source_is_made_with_its_params() -> None:
    # Problem(...) with a message written out would send no params: the web would fall
    # back to English for it
    direct = []
    for path in (ROOT / "src" / "ferry").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Problem"
            ):
                direct.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert direct == []


def test_an_error_keeps_its_params() -> None:
    error = ManifestError("requirements.txt", "bad line", line=3)
    assert error.message == "requirements.txt:3: bad line"
    assert error.to_dict()["params"] == {
        "file": "requirements.txt",
        "line": "3",
        "reason": "bad line",
    }
    assert FerryError("something").to_dict()["params"] == {"detail": "something"}
    timed_out = FerryError(params={"limit": "time"})
    assert timed_out.message == "the task ran past its time limit"
    assert timed_out.code == "ferry-error"  # the code stays what it was
    assert render("x", ("{a} and {b}",), {"a": "1", "b": "2"}) == "1 and 2"


# task events


async def _drain(sub: Subscription) -> list[TaskEvent]:
    events: list[TaskEvent] = []
    while sub.pending():
        events.append(await sub.__anext__())
    return events


async def test_log_lines_carry_their_code_and_params() -> None:
    hub = EventHub(progress_interval=0)
    listener = HubProgress(hub, TASK)
    async with hub.subscribe(TASK) as sub:
        for phase in ("resolving", "fetching npm", "packing"):
            listener.announce(phase)
        listener.start(3, 300)
        listener.file_done("a.tgz", from_cache=True, nbytes=100)
        listener.file_done("b.tgz", from_cache=False)
        listener.file_failed("c.tgz", FerryError("HTTP 404"))
        events = [e for e in await _drain(sub) if e.type == "log"]
    said = [(e.code, e.params, e.message) for e in events]
    assert said == [
        ("phase-resolving", {}, "resolving"),
        ("phase-fetching", {"ecosystem": "npm"}, "fetching npm"),
        ("phase-packing", {}, "packing"),
        ("file-cached", {"name": "a.tgz"}, "cached a.tgz"),
        ("file-fetched", {"name": "b.tgz"}, "fetched b.tgz"),
        ("file-failed", {"name": "c.tgz", "reason": "HTTP 404"}, "failed c.tgz: HTTP 404"),
    ]
    doc = json.loads(events[-1].to_json())
    assert doc["code"] == "file-failed" and doc["params"]["reason"] == "HTTP 404"
    # an event without a code still sends both fields
    bare = json.loads(TaskEvent.log("hello").to_json())
    assert bare["code"] is None and bare["params"] is None


async def test_a_watcher_left_behind_is_told_so_with_a_code() -> None:
    hub = EventHub(progress_interval=0, max_queue=3)
    async with hub.subscribe(TASK) as sub:
        for i in range(5):
            hub.publish(TASK, TaskEvent.log(f"line {i}"))
        events = await _drain(sub)
    assert events[-1].code == "socket-behind" and events[-1].params == {"limit": "3"}
    assert "reconnect" in (events[-1].message or "")


# the service


@pytest.fixture
def app(sqlite_app: FastAPI) -> FastAPI:
    return sqlite_app


@pytest.fixture
def api(sqlite_api: httpx.AsyncClient) -> httpx.AsyncClient:
    return sqlite_api


async def test_error_answers_carry_their_params(api: httpx.AsyncClient) -> None:
    def said(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
        return body["code"], body["params"]

    assert said((await api.get(f"/api/tasks/{TASK}")).json()) == (
        "task-not-found",
        {"task_id": TASK},
    )
    assert said((await api.get("/api/nothing-here")).json()) == (
        "not-found",
        {"path": "/api/nothing-here"},
    )
    binary = await api.post("/api/tasks", files=upload_files(**{"requirements.txt": b"a\0b"}))
    assert binary.status_code == 415
    assert said(binary.json()) == (
        "upload-unsupported",
        {"name": "requirements.txt", "content": "binary"},
    )
    assert binary.json()["message"] == "requirements.txt: binary content, not a text manifest"
    unknown = await api.post("/api/tasks", files=upload_files(**{"notes.docx": "x"}))
    assert said(unknown.json()) == ("upload-unsupported", {"name": "notes.docx"})
    anonymous = await api.get("/api/tasks", headers={"Authorization": ""})
    assert said(anonymous.json()) == ("auth-required", {})


async def test_a_failed_tasks_error_and_its_events_keep_code_and_params(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    files = upload_files(**{"requirements.txt": "dep\nnot valid !!\n"})
    created = await api.post("/api/tasks", files=files, data={"options": "{}"})
    task_id = created.json()["task_id"]
    doc = await wait_for_status(api, task_id, "failed")
    error = doc["error"]
    assert error["code"] == "manifest-invalid"
    # the uploaded name, never the server's path, in the params as in the message
    assert error["params"]["file"] == "requirements.txt" and error["params"]["line"] == "2"
    assert error["message"] == render(error["code"], ERRORS[error["code"]], error["params"])

    # what a watcher of the task is told: the error, and why the status changed
    events = app.state.hub.snapshot(task_id)
    failed = next(e for e in events if e.type == "error")
    assert (failed.code, failed.params) == ("manifest-invalid", error["params"])
    status = next(e for e in events if e.type == "status")
    assert status.status == "failed" and status.code == "manifest-invalid"


async def test_a_resolution_failure_sends_problems_with_params(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    package = json.dumps({"name": "d", "version": "1.0.0", "dependencies": {"nope": "^1.0.0"}})
    options = {"node_version": "20", "os": "linux", "cpu": "x64"}
    files = upload_files(**{"package.json": package})
    created = await api.post("/api/tasks", files=files, data={"options": json.dumps(options)})
    task_id = created.json()["task_id"]
    doc = await wait_for_status(api, task_id, "failed")
    assert (doc["error"]["code"], doc["error"]["params"]) == ("resolution-failed", {})
    problems = doc["error"]["problems"]
    assert problems and all(p["params"] for p in problems)
    first = problems[0]
    assert first["kind"] in PROBLEMS
    # npm's own words, as a parameter: shown verbatim in any language
    assert first["message"] == first["params"]["output"]
    deps = (await api.get(f"/api/tasks/{task_id}/dependencies")).json()
    assert deps["npm"]["problems"][0]["params"] == first["params"]
    # the status change says why with a code
    await asyncio.sleep(0)
    status = [e for e in app.state.hub.snapshot(task_id) if e.type == "status"]
    assert status[-1].code == "resolution-has-errors"
