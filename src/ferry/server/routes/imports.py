"""``/api/imports``: bundles into the registries through the service, as ``ferry import``
does on the data directory.

``POST /api/imports?filename=NAME`` (write role) takes the bundle as the request body,
streamed to the import work directory, then imported whole or not at all; a refusal is
a 422 naming the member, field or package. ``GET /api/imports`` lists what was imported.

The same ``POST`` with a JSON body ``{"path": NAME}`` (admin role) imports, in place, the
bundle of that plain file name in the ``import_dir`` the operator set
(:mod:`ferry.registry.importdir`: never a path, never a link leading out of it, 403 while
the setting is unset); ``GET /api/imports/available`` (admin) lists the bundles there.
That directory is the only place on its own disk the service opens for a request.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ferry.auth.principal import Principal
from ferry.auth.roles import Role
from ferry.bundle.archive import SUPPORTED_FORMATS, format_from_name
from ferry.db.artifacts import ImportRecord
from ferry.errors import NotAllowed, UploadTooLargeError, UsageError
from ferry.registry.importdir import available_bundles, bundle_in
from ferry.registry.importer import import_bundle
from ferry.server.deps import Admin, Reader, Writer, router
from ferry.server.problems import errors
from ferry.server.schemas import (
    AvailableBundle,
    AvailableBundles,
    ImportDocument,
    ImportFromServer,
    ImportList,
    ProblemDocument,
)

__all__ = ["PREFIX", "imports"]

PREFIX = "/api/imports"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,200}")
_JSON_MAX = 16 * 1024  # {"path": NAME} is never this long

_PATH_FORM_403 = {
    "model": ProblemDocument,
    "description": "The token's role does not allow this (importing from the server's "
    "disk needs the admin role), or the operator has not set import_dir.",
}

imports = router(prefix=PREFIX, tags=["imports"], responses=errors(401, 403))


@imports.post(
    "",
    status_code=201,
    responses={
        **errors(400, 413, 422),
        403: _PATH_FORM_403,
        404: {
            "model": ProblemDocument,
            "description": "(JSON) No bundle of that name in the import directory.",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"format": "binary"}},
                "application/json": {"schema": ImportFromServer.model_json_schema()},
            },
        }
    },
)
async def post_import(
    request: Request,
    who: Writer,
    filename: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The uploaded bundle's file name; its ending says the format "
            "(.zip, .tar.gz, .tar.zst). Needed with an application/octet-stream body.",
        ),
    ] = None,
) -> ImportDocument:
    """Import a bundle; 201 with what it added (a bundle imported before adds nothing and
    says so).

    ``application/octet-stream`` (write role): the body is the bundle, named by
    ``filename``. ``application/json`` (admin role): ``{"path": NAME}`` imports the bundle
    of that plain file name in the server's import_dir in place, without an upload."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json":
        return await _import_from_server(request, who)
    if filename is None:
        raise UsageError(
            "filename: the bundle's file name is needed with an uploaded body "
            '(or send {"path": NAME} as application/json to import one on the server)'
        )
    if _NAME.fullmatch(filename) is None or format_from_name(Path(filename)) is None:
        raise UsageError(
            f"filename {filename[:100]!r}: a plain file name ending in "
            f"{', '.join('.' + f for f in SUPPORTED_FORMATS)}"
        )
    settings = request.app.state.settings
    work = settings.data_dir / "imports"
    upload = await asyncio.to_thread(_upload_dir, work)
    try:
        path = upload / filename
        with path.open("wb") as out:
            async for chunk in request.stream():
                await asyncio.to_thread(out.write, chunk)
        record = await _import(request, path, who)
    finally:
        await asyncio.to_thread(_remove, upload)
    return _document(record)


async def _import_from_server(request: Request, who: Principal) -> ImportDocument:
    if not who.role.allows(Role.ADMIN):
        raise NotAllowed(params={"role": Role.ADMIN, "has": who.role})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _JSON_MAX:
            raise UploadTooLargeError(params={"limit": str(_JSON_MAX)})
    try:
        asked = ImportFromServer.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
    directory = request.app.state.settings.import_dir
    path = await asyncio.to_thread(bundle_in, directory, asked.path)
    return _document(await _import(request, path, who))


async def _import(request: Request, path: Path, who: Principal) -> ImportRecord:
    settings = request.app.state.settings
    return await import_bundle(
        path,
        request.app.state.kept,
        request.app.state.artifacts,
        request.app.state.kept_db,
        work_dir=settings.data_dir / "imports",
        max_bytes=settings.import_max_bytes,
        owner=who.owner,
        token_id=who.token_id,
    )


@imports.get("")
async def list_imports(request: Request, who: Reader) -> ImportList:
    """Every bundle imported, oldest first."""
    del who
    records = await request.app.state.kept_db(request.app.state.artifacts.imports)
    return ImportList(imports=[_document(r) for r in records])


@imports.get("/available", responses={403: _PATH_FORM_403, **errors(401)})
async def list_available(request: Request, who: Admin) -> AvailableBundles:
    """The bundles in the server's import_dir that ``POST /api/imports`` with
    ``{"path": NAME}`` takes, newest first; ``enabled`` false when the operator has not
    set import_dir."""
    del who
    directory = request.app.state.settings.import_dir
    if directory is None:
        return AvailableBundles(enabled=False, bundles=[])
    found = await asyncio.to_thread(available_bundles, directory)
    return AvailableBundles(
        enabled=True,
        bundles=[
            AvailableBundle(name=b.name, size=b.size, modified_at=b.modified_at.isoformat())
            for b in found
        ],
    )


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
