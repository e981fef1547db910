"""What the server writes for a person carries a stable code and the parameters its English
message was made of (``ferry.texts``), so the web UI can say it in the reader's language:
problems, error answers and their hints, a failed task's error, the files a download gave
up on, and the task events' log lines. The list of codes the web checks its catalog
against (web/src/serverCodes.json) is in step."""

from __future__ import annotations

import ast
import asyncio
import copy
import importlib
import json
import pickle
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import ferry
from ferry.errors import FerryError, FetchError, Hint, ManifestError
from ferry.problems import Problem
from ferry.server.schemas import EcosystemProgress, TaskError
from ferry.tasks.events import EventHub, HubProgress, Subscription, TaskEvent
from ferry.tasks.progress import TaskProgress
from ferry.texts import ERRORS, EVENTS, HINTS, PROBLEMS, names, render
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
    listed = json.loads(committed.read_text())
    assert listed == json.loads(codes_text()), (
        "web/src/serverCodes.json is stale: run .venv/bin/python scripts/server_codes.py, "
        "then give web/src/serverText.ts an English and a Chinese text for what changed"
    )
    assert listed.keys() == {"problem", "error", "event", "hint"}
    assert listed["hint"].keys() == HINTS.keys()


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


@pytest.mark.parametrize(
    "texts", [PROBLEMS, ERRORS, EVENTS, HINTS], ids=["problem", "error", "event", "hint"]
)
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


# hints


def test_a_hint_is_its_english_text_and_keeps_its_code_and_params() -> None:
    hint = Hint("choose-one", choices="3.11, 3.12")
    assert hint == "Choose one of 3.11, 3.12." and isinstance(hint, str)
    assert (hint.code, hint.params) == ("choose-one", {"choices": "3.11, 3.12"})
    # a condition picks the wording; a part given as None is left out
    assert Hint("tls", env="no").endswith("(the cert setting).")
    assert Hint("tls", env=None).endswith("or set SSL_CERT_FILE.")
    with pytest.raises(ValueError, match="no text"):
        Hint("choose-one")
    with pytest.raises(KeyError):
        Hint("no-such-hint")
    # copied or pickled (an error crossing a process), it is still the same hint
    for again in (copy.deepcopy(hint), pickle.loads(pickle.dumps(hint))):
        assert type(again) is Hint and again == hint and again.params == hint.params

    error = FetchError("a.whl: HTTP 404", hint=Hint("http-gone"))
    doc = error.to_dict()
    # the English hint is where it always was, a plain string; its code and params beside it
    assert doc["hint"] == HINTS["http-gone"][0] and type(doc["hint"]) is str
    assert (doc["hint_code"], doc["hint_params"]) == ("http-gone", {})
    assert json.loads(json.dumps(doc)) == doc
    # handed on when one error is remade into another
    again = FetchError(f"{error.message} (mirrors failed too)", hint=error.hint)
    assert again.to_dict()["hint_code"] == "http-gone"
    # a hint in plain English (the CLI's own) is sent without a code
    plain = FerryError("x", hint="Use zip.").to_dict()
    assert plain["hint"] == "Use zip." and "hint_code" not in plain and "hint_params" not in plain
    assert "hint" not in FerryError("x").to_dict()


# Hints that only the CLI or the service's start gives: no page shows them, so they stay
# English-only. Anything else the service can raise must give its hint as a Hint.
ENGLISH_ONLY_HINTS = (
    "src/ferry/cli/",  # the CLI's own checks of its arguments, `ferry token` over HTTP
    "src/ferry/services/download.py",  # `ferry fetch`
    "src/ferry/fetch/inputfile.py",  # `ferry fetch -i LIST`
    "src/ferry/push/",  # `ferry push`: a client of registries the service never talks to
    "src/ferry/models/pull.py",  # `ferry models pull` and `ferry bundle --model`
    "src/ferry/models/carry.py",
    "src/ferry/agent/",  # the node agent, a program on each node (`ferry agent`)
    "src/ferry/settings.py:config_file_in_use",  # the settings file, read at start
    "src/ferry/settings.py:load_settings",
    "src/ferry/server/app.py",  # a service that refuses to start
    "src/ferry/jobs/worker.py",  # a worker that refuses to start
    "src/ferry/sandbox/bwrap.py",  # the resolver box, built at the service's start
    "src/ferry/services/confinement.py",
    "src/ferry/errors.py",  # the errors themselves: they hand on what they are given
)


def _function_of(tree: ast.Module) -> dict[ast.AST, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The innermost function around every node (nodes at module level are left out)."""
    inside: dict[ast.AST, ast.FunctionDef | ast.AsyncFunctionDef] = {}

    def visit(node: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if function is not None:
                inside[child] = function
            nested = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
            visit(child, nested or function)

    visit(tree, None)
    return inside


def _coded(
    value: ast.expr, module: ModuleType, function: ast.FunctionDef | ast.AsyncFunctionDef | None
) -> bool:
    """Is this ``hint=`` value a Hint (or None), as far as the source shows?"""
    if isinstance(value, ast.Constant):
        return value.value is None
    if isinstance(value, ast.Call):
        return isinstance(value.func, ast.Name) and value.func.id == "Hint"
    if isinstance(value, ast.Attribute):
        return value.attr == "hint"  # another error's hint, handed on
    if isinstance(value, ast.BoolOp):
        return all(_coded(v, module, function) for v in value.values)
    if isinstance(value, ast.Name):
        if function is not None:
            args = function.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if arg.arg == value.id:
                    shown = ast.unparse(arg.annotation) if arg.annotation else ""
                    return shown in ("Hint", "Hint | None")
            assigned = [
                node.value
                for node in ast.walk(function)
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets)
            ]
            if assigned:
                return all(_coded(v, module, function) for v in assigned)
        return isinstance(getattr(module, value.id, None), Hint)
    return False


def test_every_hint_the_service_can_give_has_a_code() -> None:
    # hint="..." would reach the page in English whatever its language: a hint is
    # declared in ferry.texts.HINTS and given as Hint(code, **params)
    bare = []
    for path in sorted((ROOT / "src" / "ferry").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        if "/migrations/" in where or where.startswith(ENGLISH_ONLY_HINTS):
            continue
        name = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        module = importlib.import_module(name.removesuffix(".__init__"))
        tree = ast.parse(path.read_text())
        functions = _function_of(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg != "hint":
                    continue
                function = functions.get(node)
                if f"{where}:{function.name if function else ''}" in ENGLISH_ONLY_HINTS:
                    continue
                if not _coded(keyword.value, module, function):
                    bare.append(f"{where}:{node.lineno}: hint={ast.unparse(keyword.value)}")
    assert bare == []


def test_the_english_only_hints_are_the_ones_listed() -> None:
    # the list above names places that do give plain-English hints; one that no longer does
    # is taken off it, so the exemption cannot quietly cover new code
    for entry in ENGLISH_ONLY_HINTS:
        if entry == "src/ferry/errors.py":
            continue
        file, _, function = entry.partition(":")
        paths = sorted((ROOT / file).rglob("*.py")) if file.endswith("/") else [ROOT / file]
        found = False
        for path in paths:
            tree = ast.parse(path.read_text())
            scopes = [
                n
                for n in ast.walk(tree)
                if not function
                or (isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function)
            ]
            found = found or any(
                isinstance(k, ast.keyword)
                and k.arg == "hint"
                and isinstance(k.value, ast.Constant | ast.JoinedStr | ast.BinOp)
                for scope in scopes
                for k in ast.walk(scope)
            )
        assert found, entry


def test_every_hint_code_is_given_somewhere() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "ferry").rglob("*.py"))
    unused = [code for code in HINTS if f'Hint("{code}"' not in source]
    assert unused == []


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


def test_a_failed_file_keeps_the_code_and_params_of_why() -> None:
    progress = TaskProgress()
    progress.ecosystem = "npm"
    progress.start(2, 0)
    error = FetchError(params={"url": "https://r.example/a.tgz", "status": "404"})
    progress.file_failed("a.tgz", error)
    failed = progress.state["npm"]["failed_packages"]
    assert failed == [
        {
            "name": "a.tgz",
            "error": "https://r.example/a.tgz answered HTTP 404",
            "code": "fetch-failed",
            "params": {"url": "https://r.example/a.tgz", "status": "404"},
        }
    ]
    row = {**progress.state["npm"]}
    assert EcosystemProgress.model_validate(row).failed_packages[0].code == "fetch-failed"
    # a task stored before failed files kept their code still reads
    row["failed_packages"] = [{"name": "a.tgz", "error": "HTTP 404"}]
    old = EcosystemProgress.model_validate(row).failed_packages[0]
    assert (old.error, old.code, old.params) == ("HTTP 404", None, None)
    # and an error stored before hints had codes
    stored = TaskError.model_validate({"code": "fetch-failed", "message": "x", "hint": "Retry."})
    assert (stored.hint, stored.hint_code, stored.hint_params) == ("Retry.", None, None)


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


async def test_error_answers_carry_their_hints_code_and_params(api: httpx.AsyncClient) -> None:
    def hint(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
        code, params = body["hint_code"], body["hint_params"]
        # the English hint is made from them, as the message is from the error's
        assert body["hint"] == render(code, HINTS[code], params)
        return code, params

    assert hint((await api.get(f"/api/tasks/{TASK}")).json()) == ("task-not-found", {})
    unknown = await api.post("/api/tasks", files=upload_files(**{"notes.docx": "x"}))
    assert hint(unknown.json()) == ("upload-accepted", {})
    odd = await api.post("/api/tasks", files=upload_files(**{"a:b.txt": "x"}))
    assert odd.json()["code"] == "upload-invalid"
    assert hint(odd.json()) == ("upload-plain-name", {})
    anonymous = await api.get("/api/tasks", headers={"Authorization": ""})
    assert hint(anonymous.json()) == ("send-token", {})
    refused = await api.get("/api/tasks", headers={"Authorization": "Bearer ferry_nope"})
    assert hint(refused.json()) == ("new-token", {})


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


async def test_a_failed_tasks_error_keeps_its_hints_code_and_params(
    api: httpx.AsyncClient,
) -> None:
    files = upload_files(**{"requirements.txt": "-e git+https://example.org/a/b.git#egg=b\n"})
    created = await api.post("/api/tasks", files=files, data={"options": "{}"})
    doc = await wait_for_status(api, created.json()["task_id"], "failed")
    error = doc["error"]
    assert error["code"] == "requirement-unsupported"
    assert (error["hint_code"], error["hint_params"]) == ("carry", {})
    assert error["hint"] == HINTS["carry"][0]

    # a hint with params: the versions to choose from
    options = {"python_version": "2.7", "platforms": ["win_amd64"]}
    files = upload_files(**{"requirements.txt": "flask\n"})
    created = await api.post("/api/tasks", files=files, data={"options": json.dumps(options)})
    error = (await wait_for_status(api, created.json()["task_id"], "failed"))["error"]
    assert error["code"] == "target-invalid" and error["hint_code"] == "choose-one"
    assert "3.12" in error["hint_params"]["choices"]
    assert error["hint"] == f"Choose one of {error['hint_params']['choices']}."


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
