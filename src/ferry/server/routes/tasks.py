"""``/api/tasks``: create bundle tasks, look at them, control them, delete them.

Routes stay thin: they check who asks (``deps``), call the TaskManager (which calls the
same services as the CLI), record what was done in the audit log, and shape the answer.
A task belongs to the owner of the token that created it; anyone else but an admin is
told there is no such task (404, not 403: ids are not confirmed to strangers).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError

from ferry.auth.links import signed_query
from ferry.auth.principal import Principal
from ferry.db.repository import TaskNotFound, TaskRecord
from ferry.errors import UploadError, UsageError
from ferry.server.deps import (
    Audit,
    Manager,
    Reader,
    TaskId,
    Writer,
    client_address,
    router,
)
from ferry.server.problems import errors
from ferry.server.schemas import (
    DependenciesDocument,
    TaskCreated,
    TaskDetail,
    TaskDocument,
    TaskList,
)
from ferry.states import TaskStatus
from ferry.tasks import quotas
from ferry.tasks.manager import TaskManager, TaskNotResolved
from ferry.tasks.options import TaskOptions
from ferry.tasks.uploads import Upload

# every JSON answer leaves out what its document leaves out, as it always did
JSON: dict[str, Any] = {"response_model_exclude_unset": True}
# the options form field: far more than any real options object needs
_MAX_OPTIONS = 64 * 1024

tasks = router(prefix="/api/tasks", tags=["tasks"], responses=errors(401, 403))


@tasks.post("", status_code=201, responses=errors(400, 413, 415, 422, 429), **JSON)
async def create_task(
    request: Request,
    m: Manager,
    audit: Audit,
    who: Writer,
    files: Annotated[list[UploadFile], File(description="Manifests to bundle.")],
    options: Annotated[
        str, Form(description="TaskOptions (see its schema) as a JSON object.")
    ] = "{}",
) -> TaskCreated:
    parsed = parse_options(options)
    if parsed.registry is not None and parsed.registry not in m.settings.registries:
        known = ", ".join(sorted(m.settings.registries))
        raise UploadError(
            params={
                "registry": repr(parsed.registry[:100]),
                "known": known or "none",
            }
        )
    await quotas.check_can_create(who, m.repo, audit, m.settings, m.db)
    uploads = []
    for upload in files:
        # read one byte past the limit: enough to refuse, never the whole of a huge body
        data = await upload.read(m.settings.upload_max_bytes + 1)
        uploads.append(Upload(upload.filename or "", data))
    record = await m.create(uploads, parsed, owner=who.owner, token_id=who.token_id)
    await _audit(request, m, audit, who, "task.create", record.id, files=record.files)
    return TaskCreated(
        task_id=record.id,
        status=TaskStatus(record.status),
        files=record.files,
        created_at=record.created_at.isoformat(),
    )


@tasks.get("", **JSON)
async def list_tasks(
    m: Manager,
    who: Reader,
    # bounded: an offset past 64 bits is a database error, not an empty page
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 20,
    status: Annotated[TaskStatus | None, Query()] = None,
) -> TaskList:
    """The caller's tasks, newest first (an admin's: everyone's)."""
    owner = None if who.is_admin else who.owner
    records, total = await m.db(
        lambda: m.repo.list(page, size, str(status) if status else None, owner=owner)
    )
    docs = [task_document(m, r, who) for r in records]
    return TaskList(tasks=docs, total=total, page=page, size=size)


@tasks.get("/{task_id}", responses=errors(404, 422), **JSON)
async def get_task(m: Manager, who: Reader, task_id: TaskId) -> TaskDetail:
    found = await m.db(m.repo.detail, task_id)
    if found is None or not who.may_see(found[0].owner):
        raise TaskNotFound(task_id)
    record, transitions = found
    fields = task_fields(m, record, who)
    fields["transitions"] = [
        {"from": t.from_status, "to": t.to_status, "reason": t.reason, "at": t.at.isoformat()}
        for t in transitions
    ]
    return TaskDetail.model_validate(fields)


@tasks.get("/{task_id}/dependencies", responses=errors(404, 409, 422), **JSON)
async def dependencies(m: Manager, who: Reader, task_id: TaskId) -> DependenciesDocument:
    record = await owned(m, who, task_id, with_dependencies=True)
    if record.dependencies is None:
        raise TaskNotResolved(params={"task_id": task_id, "current": record.status})
    return DependenciesDocument.model_validate({"task_id": task_id, **record.dependencies})


@tasks.post("/{task_id}/download", status_code=202, responses=errors(404, 409, 422, 429), **JSON)
async def download(
    request: Request, m: Manager, audit: Audit, who: Writer, task_id: TaskId
) -> TaskDocument:
    return await _control(
        request, m, audit, who, task_id, "download", m.start_download, starts_work=True
    )


@tasks.post("/{task_id}/cancel", responses=errors(404, 409, 422), **JSON)
async def cancel(
    request: Request, m: Manager, audit: Audit, who: Writer, task_id: TaskId
) -> TaskDocument:
    return await _control(request, m, audit, who, task_id, "cancel", m.cancel, starts_work=False)


@tasks.post("/{task_id}/pause", responses=errors(404, 409, 422), **JSON)
async def pause(
    request: Request, m: Manager, audit: Audit, who: Writer, task_id: TaskId
) -> TaskDocument:
    return await _control(request, m, audit, who, task_id, "pause", m.pause, starts_work=False)


@tasks.post("/{task_id}/resume", status_code=202, responses=errors(404, 409, 422, 429), **JSON)
async def resume(
    request: Request, m: Manager, audit: Audit, who: Writer, task_id: TaskId
) -> TaskDocument:
    return await _control(request, m, audit, who, task_id, "resume", m.resume, starts_work=True)


@tasks.post("/{task_id}/retry", status_code=202, responses=errors(404, 409, 422, 429), **JSON)
async def retry(
    request: Request, m: Manager, audit: Audit, who: Writer, task_id: TaskId
) -> TaskDocument:
    return await _control(request, m, audit, who, task_id, "retry", m.retry, starts_work=True)


@tasks.delete("/{task_id}", status_code=204, response_model=None, responses=errors(404, 422))
async def delete(
    request: Request, m: Manager, audit: Audit, who: Writer, task_id: TaskId
) -> Response:
    await owned(m, who, task_id)
    if not await m.delete(task_id):
        raise TaskNotFound(task_id)
    await _audit(request, m, audit, who, "task.delete", task_id)
    return Response(status_code=204)


async def _control(
    request: Request,
    m: TaskManager,
    audit: Audit,
    who: Principal,
    task_id: str,
    action: str,
    run: Callable[[str], Awaitable[TaskRecord]],
    *,
    starts_work: bool,
) -> TaskDocument:
    """Every control of a task the same way: the caller's task (else a 404), the token's
    quota when it puts the task back to work, the manager's own action, the audit log."""
    await owned(m, who, task_id)
    if starts_work:
        await quotas.check_can_start(who, m.repo, m.settings, m.db)
    record = await run(task_id)
    await _audit(request, m, audit, who, f"task.{action}", task_id)
    return task_document(m, record, who)


# ---- shared with the archive route and the socket ---------------------------------------


async def owned(
    m: TaskManager, who: Principal, task_id: str, *, with_dependencies: bool = False
) -> TaskRecord:
    """The task, if ``who`` may see it; otherwise exactly what a missing one gives. Its
    dependency tree only when asked for."""
    record = await m.db(m.repo.get, task_id, with_dependencies=with_dependencies)
    if record is None or not who.may_see(record.owner):
        raise TaskNotFound(task_id)
    return record


def parse_options(raw: str) -> TaskOptions:
    if len(raw) > _MAX_OPTIONS:
        raise UsageError(f"options: {len(raw)} characters; at most {_MAX_OPTIONS}")
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise UsageError(f"options: invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:  # thousands of nested brackets
        raise UsageError("options: nested too deeply") from None
    if not isinstance(data, dict):
        raise UsageError("options must be a JSON object")
    try:
        return TaskOptions.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        raise UploadError(params={"field": field, "reason": first["msg"]}) from None
    except RecursionError:
        raise UsageError("options: nested too deeply") from None


def archive_name(task_id: str, archive_path: str | None) -> str:
    """The name the archive downloads as: ferry-<id>.zip / .tar.gz / .tar.zst."""
    suffixes = "".join(Path(archive_path).suffixes) if archive_path else ""
    return f"ferry-{task_id[:12]}{suffixes}"


def task_document(m: TaskManager, r: TaskRecord, who: Principal) -> TaskDocument:
    return TaskDocument.model_validate(task_fields(m, r, who))


def task_fields(m: TaskManager, r: TaskRecord, who: Principal | None = None) -> dict[str, Any]:
    del who  # every field is the caller's to see once ``owned`` let them see the task
    """A task document's fields as stored: validated into a model by the caller."""
    live = m.progress.get(r.id)
    progress = (
        live.state
        if live is not None and r.status in ("downloading", "packing")
        else (r.progress or {})
    )
    archive_url = None
    if r.status == "completed":
        # signed for this one file, so that a browser can follow it as a plain link
        query = signed_query(m.link_key, r.id, m.settings.archive_link_ttl)
        archive_url = f"/api/tasks/{r.id}/archive?{query}"
    return {
        "task_id": r.id,
        "status": r.status,
        "files": r.files,
        "options": r.options,
        "progress": progress,
        "error": r.error,
        "archive_url": archive_url,
        "archive_size": r.archive_size,
        "archive_name": archive_name(r.id, r.archive_path) if archive_url else None,
        "archive_sha256": r.archive_sha256 if archive_url else None,
        "expires_at": r.expires_at.isoformat() if r.expires_at else None,
        "owner": r.owner,
        "project_name": r.project_name,
        "package_count": r.package_count,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat() if r.updated_at else None,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "completed_at": r.completed_at.isoformat() if r.completed_at else None,
    }


async def _audit(
    request: Request,
    m: TaskManager,
    audit: Audit,
    who: Principal,
    action: str,
    target: str,
    **detail: Any,
) -> None:
    await m.db.write(
        lambda: audit.record(
            action,
            actor=who.owner,
            token_id=who.token_id,
            target=target,
            address=client_address(request),
            detail=detail,
        )
    )
