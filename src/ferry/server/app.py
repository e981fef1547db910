"""The Ferry service: `create_app(settings)` builds everything from the settings given.

Routes stay thin: they parse the request, call the TaskManager (which calls the same
services as the CLI) and shape the answer. Every FerryError becomes a problem document
(`application/problem+json`) with its stable code and HTTP status, in one handler.

Every answer is declared with its model (`ferry.server.schemas`), errors included, and
the WebSocket's message model is added to the schema's components, so the web UI's types
are all generated from `/openapi.json`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, TypeAdapter, ValidationError

from ferry import __version__
from ferry.db.engine import make_engine, make_sessionmaker, upgrade
from ferry.db.repository import TaskRecord, TaskRepository
from ferry.errors import ExitCode, FerryError, UploadError, UsageError
from ferry.server.limits import BodyLimit
from ferry.server.schemas import (
    SOCKET_MODELS,
    DependenciesDocument,
    Health,
    ProblemDocument,
    TaskCreated,
    TaskDetail,
    TaskDocument,
    TaskList,
)
from ferry.server.ws import add_websocket_routes
from ferry.settings import Settings
from ferry.tasks.events import EventHub
from ferry.tasks.manager import TaskManager
from ferry.tasks.options import TaskOptions
from ferry.tasks.states import TaskStatus
from ferry.tasks.uploads import Upload

_RESERVED = ("type", "title", "status", "code", "message")
_PROBLEM_JSON = "application/problem+json"
_ERRORS = {
    400: "The request is not usable (bad options, no files, a name that is no manifest).",
    404: "No such task (it may have expired or been deleted).",
    409: "The task's status does not allow this now.",
    413: "An upload, or the whole request, is over the size limit.",
    415: "An upload is not a text manifest Ferry knows.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that answers these statuses with a problem document."""
    return {s: {"model": ProblemDocument, "description": _ERRORS[s]} for s in statuses}


# every JSON answer leaves out what its document leaves out, as it always did
_JSON: dict[str, Any] = {"response_model_exclude_unset": True}


class TaskNotResolved(FerryError):
    code = "task-not-resolved"
    exit_code = ExitCode.USAGE
    http_status = 409


class TaskNotCompleted(FerryError):
    code = "task-not-completed"
    exit_code = ExitCode.USAGE
    http_status = 409


def problem(http_status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document; an error's own field that clashes with one of the
    standard members (a task's ``status``) is kept under ``task_<name>``."""
    body: dict[str, Any] = {
        "type": f"urn:ferry:{code}",
        "title": message,
        "status": http_status,
        "code": code,
        "message": message,
    }
    for key, value in extra.items():
        body[f"task_{key}" if key in _RESERVED else key] = value
    return JSONResponse(body, status_code=http_status, media_type="application/problem+json")


def get_manager(request: Request) -> TaskManager:
    return request.app.state.manager  # type: ignore[no-any-return]


# module level: FastAPI reads these annotations as strings (postponed evaluation)
Manager = Annotated[TaskManager, Depends(get_manager)]


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
        repo = TaskRepository(make_sessionmaker(engine))
        hub = EventHub()
        app.state.hub = hub
        manager = TaskManager(settings, repo, hub=hub)
        app.state.manager = manager
        await manager.clean_expired()
        await manager.recover()
        cleaner = asyncio.create_task(_clean_periodically(manager, settings.cleanup_interval))
        try:
            yield
        finally:
            cleaner.cancel()
            await asyncio.gather(cleaner, return_exceptions=True)
            await manager.close()
            hub.close()
            engine.dispose()

    app = FastAPI(
        title="Ferry",
        version=__version__,
        lifespan=lifespan,
        description="Bundle tasks: upload manifests, look at the tree, download "
        "everything verified, take one archive that installs offline.",
    )

    # a whole request may carry a few manifests at the per-file limit, plus form overhead
    app.add_middleware(BodyLimit, max_bytes=settings.upload_max_bytes * 8 + 64 * 1024)

    @app.exception_handler(FerryError)
    async def ferry_error(_request: Request, exc: FerryError) -> JSONResponse:
        extra = {k: v for k, v in exc.to_dict().items() if k not in ("code", "message")}
        return problem(exc.http_status, exc.code, exc.message, **extra)

    _publish_socket_models(app)

    async def exists(task_id: str) -> bool:
        record = await asyncio.to_thread(app.state.manager.repo.get, task_id)
        return record is not None

    add_websocket_routes(app, lambda ws: ws.app.state.hub, exists)

    @app.get("/metrics", response_model=None)
    async def metrics(m: Manager) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(m.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", **_JSON)
    async def health() -> Health:
        return Health(status="ok", version=__version__)

    @app.post("/api/tasks", status_code=201, responses=_errors(400, 413, 415), **_JSON)
    async def create_task(
        m: Manager,
        files: Annotated[list[UploadFile], File(description="Manifests to bundle.")],
        options: Annotated[
            str, Form(description="TaskOptions (see its schema) as a JSON object.")
        ] = "{}",
    ) -> TaskCreated:
        parsed = _options(options)
        uploads = []
        for upload in files:
            # read one byte past the limit: enough to refuse, never the whole of a huge body
            data = await upload.read(m.settings.upload_max_bytes + 1)
            uploads.append(Upload(upload.filename or "", data))
        record = await m.create(uploads, parsed)
        return TaskCreated(
            task_id=record.id,
            status=TaskStatus(record.status),
            files=record.files,
            created_at=record.created_at.isoformat(),
        )

    @app.get("/api/tasks", **_JSON)
    async def list_tasks(
        m: Manager,
        # bounded: an offset past 64 bits is a database error, not an empty page
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        size: Annotated[int, Query(ge=1, le=200)] = 20,
        status: Annotated[TaskStatus | None, Query()] = None,
    ) -> TaskList:
        records, total = await asyncio.to_thread(
            m.repo.list, page, size, str(status) if status else None
        )
        return TaskList(tasks=[_task_doc(m, r) for r in records], total=total, page=page, size=size)

    @app.get("/api/tasks/{task_id}", responses=_errors(404), **_JSON)
    async def get_task(m: Manager, task_id: str) -> TaskDetail:
        fields = _task_fields(m, await _record(m, task_id))
        transitions = await asyncio.to_thread(m.repo.transitions, task_id)
        fields["transitions"] = [
            {"from": t.from_status, "to": t.to_status, "reason": t.reason, "at": t.at.isoformat()}
            for t in transitions
        ]
        return TaskDetail.model_validate(fields)

    @app.get("/api/tasks/{task_id}/dependencies", responses=_errors(404, 409), **_JSON)
    async def dependencies(m: Manager, task_id: str) -> DependenciesDocument:
        record = await _record(m, task_id)
        if record.dependencies is None:
            raise TaskNotResolved(f"task {task_id} is {record.status}: no dependency tree yet")
        return DependenciesDocument.model_validate({"task_id": task_id, **record.dependencies})

    @app.post(
        "/api/tasks/{task_id}/download", status_code=202, responses=_errors(404, 409), **_JSON
    )
    async def download(m: Manager, task_id: str) -> TaskDocument:
        return _task_doc(m, await m.start_download(task_id))

    @app.post("/api/tasks/{task_id}/cancel", responses=_errors(404, 409), **_JSON)
    async def cancel(m: Manager, task_id: str) -> TaskDocument:
        return _task_doc(m, await m.cancel(task_id))

    @app.post("/api/tasks/{task_id}/pause", responses=_errors(404, 409), **_JSON)
    async def pause(m: Manager, task_id: str) -> TaskDocument:
        return _task_doc(m, await m.pause(task_id))

    @app.post("/api/tasks/{task_id}/resume", status_code=202, responses=_errors(404, 409), **_JSON)
    async def resume(m: Manager, task_id: str) -> TaskDocument:
        return _task_doc(m, await m.resume(task_id))

    @app.post("/api/tasks/{task_id}/retry", status_code=202, responses=_errors(404, 409), **_JSON)
    async def retry(m: Manager, task_id: str) -> TaskDocument:
        return _task_doc(m, await m.retry(task_id))

    @app.get(
        "/api/tasks/{task_id}/archive",
        response_model=None,
        response_class=FileResponse,
        responses={
            200: {
                "description": "The bundle archive (zip, tar.gz or tar.zst).",
                "content": {"application/octet-stream": {"schema": {"format": "binary"}}},
            },
            **_errors(404, 409),
        },
    )
    async def archive(m: Manager, task_id: str) -> Response:
        record = await _record(m, task_id)
        if record.status != TaskStatus.COMPLETED or not record.archive_path:
            raise TaskNotCompleted(f"task {task_id} is {record.status}: no archive yet")

        path = Path(record.archive_path)
        filename = f"ferry-{task_id[:12]}{''.join(path.suffixes)}"
        return FileResponse(path, filename=filename, media_type="application/octet-stream")

    @app.delete(
        "/api/tasks/{task_id}", status_code=204, response_model=None, responses=_errors(404)
    )
    async def delete(m: Manager, task_id: str) -> Response:
        if not await m.delete(task_id):
            return problem(404, "task-not-found", f"no task {task_id}")
        return Response(status_code=204)

    _mount_ui(app, settings)
    return app


def _ui_dir(settings: Settings) -> Path | None:
    """The built web UI: `ui_dir` in the settings, else web/dist of a source checkout."""
    if settings.ui_dir is not None:
        return settings.ui_dir
    checkout = Path(__file__).resolve().parents[3] / "web" / "dist"
    return checkout if (checkout / "index.html").is_file() else None


def _mount_ui(app: FastAPI, settings: Settings) -> None:
    ui = _ui_dir(settings)
    if ui is not None and (ui / "index.html").is_file():
        # mounted last: /api, /ws, /docs, /health and /metrics keep their routes
        app.mount("/", StaticFiles(directory=ui, html=True), name="ui")
        return

    @app.get("/", include_in_schema=False)
    async def no_ui() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>Ferry</title><p>The web UI is not built here: run "
            "<code>scripts/start.sh</code> (it builds <code>web/</code>), or use the API at "
            "<a href='/docs'>/docs</a>.</p>"
        )


async def _clean_periodically(manager: TaskManager, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await manager.clean_expired()
        except Exception:  # a failed sweep must not end the service; the next one retries
            logging.getLogger("ferry.server").exception("expiry cleanup failed")


def _options(raw: str) -> TaskOptions:
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise UsageError(f"options: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise UsageError("options must be a JSON object")
    try:
        return TaskOptions.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        raise UploadError(f"options.{field}: {first['msg']}") from None


async def _record(m: TaskManager, task_id: str) -> TaskRecord:
    from ferry.db.repository import TaskNotFound

    record = await asyncio.to_thread(m.repo.get, task_id)
    if record is None:
        raise TaskNotFound(task_id)
    return record


def _task_doc(m: TaskManager, r: TaskRecord) -> TaskDocument:
    return TaskDocument.model_validate(_task_fields(m, r))


def _task_fields(m: TaskManager, r: TaskRecord) -> dict[str, Any]:
    """A task document's fields as stored: validated into a model by the caller."""
    live = m.progress.get(r.id)
    progress = (
        live.state
        if live is not None and r.status in ("downloading", "packing")
        else (r.progress or {})
    )
    return {
        "task_id": r.id,
        "status": r.status,
        "files": r.files,
        "options": r.options,
        "progress": progress,
        "error": r.error,
        "archive_url": f"/api/tasks/{r.id}/archive" if r.status == "completed" else None,
        "archive_size": r.archive_size,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat() if r.updated_at else None,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "completed_at": r.completed_at.isoformat() if r.completed_at else None,
    }


def _publish_socket_models(app: FastAPI) -> None:
    """Extend ``app.openapi()``: problem documents under their own media type, and the
    WebSocket's message models in ``components.schemas`` (OpenAPI has no place for a
    socket's messages, but the UI's types are generated from this schema all the same)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        _problem_media_type(schema)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in SOCKET_MODELS:
            _add_component(components, model)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_media_type(schema: dict[str, Any]) -> None:
    """FastAPI files every declared answer under application/json; a problem document is
    sent as application/problem+json."""
    ref = f"#/components/schemas/{ProblemDocument.__name__}"
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for answer in operation.get("responses", {}).values():
                content = answer.get("content", {})
                if content.get("application/json", {}).get("schema", {}).get("$ref") == ref:
                    content[_PROBLEM_JSON] = content.pop("application/json")


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> None:
    found = TypeAdapter(model).json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    named = {**found.pop("$defs", {}), model.__name__: found}
    for name, definition in named.items():
        known = components.setdefault(name, definition)
        if known != definition:
            raise RuntimeError(f"two different schemas named {name} in the OpenAPI document")
