"""``/api/imports``: bundles into the registries through the service, as ``ferry import``
does on the data directory.

``POST /api/imports?filename=NAME`` (write role) takes the bundle as the request body,
streamed to the import work directory, then imported whole or not at all; a refusal is
a 422 naming the member, field or package. ``GET /api/imports`` lists what was imported.
Only an uploaded bundle is taken: the service never opens a path on its own disk that a
request names.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import Query, Request

from ferry.bundle.archive import SUPPORTED_FORMATS, format_from_name
from ferry.db.artifacts import ImportRecord
from ferry.errors import UsageError
from ferry.registry.importer import import_bundle
from ferry.server.deps import Reader, Writer, router
from ferry.server.problems import errors
from ferry.server.schemas import ImportDocument, ImportList

__all__ = ["PREFIX", "imports"]

PREFIX = "/api/imports"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,200}")

imports = router(prefix=PREFIX, tags=["imports"], responses=errors(401, 403))


@imports.post(
    "",
    status_code=201,
    responses=errors(400, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"format": "binary"}}},
        }
    },
)
async def post_import(
    request: Request,
    who: Writer,
    filename: Annotated[
        str,
        Query(
            max_length=200,
            description="The bundle's file name; its ending says the format "
            "(.zip, .tar.gz, .tar.zst).",
        ),
    ],
) -> ImportDocument:
    """Import the bundle sent as the body; 201 with what it added (a bundle imported
    before adds nothing and says so)."""
    if _NAME.fullmatch(filename) is None or format_from_name(Path(filename)) is None:
        raise UsageError(
            f"filename {filename[:100]!r}: a plain file name ending in "
            f"{', '.join('.' + f for f in SUPPORTED_FORMATS)}"
        )
    settings = request.app.state.settings
    kept = request.app.state.kept
    work = settings.data_dir / "imports"
    upload = await asyncio.to_thread(_upload_dir, work)
    try:
        path = upload / filename
        with path.open("wb") as out:
            async for chunk in request.stream():
                await asyncio.to_thread(out.write, chunk)
        record = await import_bundle(
            path,
            kept,
            request.app.state.artifacts,
            request.app.state.kept_db,
            work_dir=work,
            max_bytes=settings.import_max_bytes,
            owner=who.owner,
            token_id=who.token_id,
        )
    finally:
        await asyncio.to_thread(_remove, upload)
    return _document(record)


@imports.get("")
async def list_imports(request: Request, who: Reader) -> ImportList:
    """Every bundle imported, oldest first."""
    del who
    records = await request.app.state.kept_db(request.app.state.artifacts.imports)
    return ImportList(imports=[_document(r) for r in records])


def _document(r: ImportRecord) -> ImportDocument:
    return ImportDocument(
        id=r.id,
        filename=r.filename,
        archive_sha256=r.archive_sha256,
        archive_size=r.archive_size,
        file_count=r.file_count,
        new_count=0 if r.repeated else r.new_count,
        repeated=r.repeated,
        owner=r.owner,
        created_at=r.created_at.isoformat(),
    )


def _upload_dir(work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="upload-", dir=work))


def _remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
