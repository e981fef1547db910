"""``GET /api/tasks/{id}/archive``: the bundle, streamed from the kept store with Range,
ETag (its sha256) and If-None-Match, or a presigned redirect on S3 (``redirect=1``).

The one route that also takes a signed link instead of a bearer token (see
``ferry.auth.links``): a browser downloads the archive by following the task document's
``archive_url``. Without a valid signature it needs a token that may read the task.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from ferry.auth.links import verify
from ferry.auth.principal import Principal
from ferry.auth.roles import Role
from ferry.db.repository import TaskNotFound
from ferry.server.blobresponse import blob_response, file_responses
from ferry.server.deps import Manager, TaskId, authenticated, bearer, require
from ferry.server.problems import errors
from ferry.server.routes.tasks import archive_name, owned
from ferry.states import TaskStatus
from ferry.store.blob import BlobKey
from ferry.tasks.manager import TaskNotCompleted

archive = APIRouter(prefix="/api/tasks", tags=["tasks"])


async def _reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return await require(Role.READ)(await authenticated(request, credentials))


@archive.get(
    "/{task_id}/archive",
    # a bearer token, or none with a signed link (expires + signature)
    openapi_extra={"security": [{"HTTPBearer": []}, {}]},
    response_model=None,
    response_class=FileResponse,
    responses={
        **file_responses("bundle archive (zip, tar.gz or tar.zst)", redirect=True),
        **errors(401, 403, 404, 409, 422),
    },
)
async def get_archive(
    request: Request,
    m: Manager,
    task_id: TaskId,
    expires: Annotated[str | None, Query(max_length=12, description="From archive_url.")] = None,
    signature: Annotated[str | None, Query(max_length=64, description="From archive_url.")] = None,
    redirect: Annotated[
        bool, Query(description="Answer 307 to a presigned URL when the store has them.")
    ] = False,
) -> Response:
    if expires and signature and verify(m.link_key, task_id, expires, signature):
        record = await m.get(task_id)
    else:
        credentials = await bearer(request)
        who = await _reader(request, credentials)
        record = await owned(m, who, task_id)
    if record.status != TaskStatus.COMPLETED or not record.archive_path:
        raise TaskNotCompleted(params={"task_id": task_id, "current": record.status})
    filename = archive_name(task_id, record.archive_path)
    if record.archive_key and m.kept is not None and record.archive_size is not None:
        return await blob_response(
            request,
            m.kept.blobs,
            BlobKey.parse(record.archive_key),
            record.archive_size,
            filename,
            missing=lambda: TaskNotFound(task_id),
            redirect=redirect,
        )
    # written before archives were kept in the blob store: still in the task's directory
    path = Path(record.archive_path)
    if not await asyncio.to_thread(path.is_file):
        raise TaskNotFound(task_id)
    return FileResponse(path, filename=filename, media_type="application/octet-stream")
