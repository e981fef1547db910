"""``/api/v1/packages``: the package store of seed 003, with its API shapes.

Upload streams the form's file into the blob store (``ferry.server.forms``), a row is
inserted once the blob is committed (``ferry.store.packages``); downloads stream the blob
with Range, ETag (the sha256) and If-None-Match, or redirect to a presigned URL of an S3
store when asked. Every reader sees every package; a package is deleted by an admin or by
the owner of the write token that uploaded it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from ferry.auth.principal import Principal
from ferry.db.packages import PackageNotFound, PackageQuery, PackageRecord, is_package_id
from ferry.server.deps import Audit, Reader, Writer, client_address, router
from ferry.server.forms import read_package_form
from ferry.server.problems import errors
from ferry.server.schemas import PackageDocument, PackageList
from ferry.store.blob import BlobKey, BlobNotFound
from ferry.store.packages import PackageStore, RangeNotSatisfiable

log = logging.getLogger(__name__)

PREFIX = "/api/v1/packages"
# how long a presigned URL from ?redirect=1 lives
_PRESIGN_SECONDS = 300.0
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")
_FIELD = Annotated[str | None, Query(max_length=100)]

packages = router(prefix=PREFIX, tags=["packages"], responses=errors(401, 403))


async def get_store(request: Request) -> PackageStore:
    return request.app.state.packages  # type: ignore[no-any-return]


Store = Annotated[PackageStore, Depends(get_store)]


async def _package_id(
    package_id: Annotated[str, PathParam(description="32 lowercase hex digits.")],
) -> str:
    if not is_package_id(package_id):
        raise PackageNotFound(package_id[:64])
    return package_id


PackageId = Annotated[str, Depends(_package_id)]

_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "name", "version", "platform", "arch"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "maxLength": 100},
                        "version": {"type": "string", "maxLength": 64},
                        "platform": {"type": "string", "maxLength": 32},
                        "arch": {"type": "string", "maxLength": 32},
                        "description": {"type": "string", "maxLength": 10240},
                    },
                }
            }
        },
    }
}


@packages.post(
    "",
    status_code=201,
    openapi_extra=_FORM_SCHEMA,
    responses=errors(409, 413, 422),
)
async def upload_package(
    request: Request, store: Store, audit: Audit, who: Writer
) -> PackageDocument:
    """Store a file under its name, version, platform and arch (multipart: ``file``,
    ``name``, ``version``, ``platform``, ``arch``, ``description``)."""
    limit = request.app.state.settings.package_max_bytes

    async def refuse_duplicate(key: dict[str, str]) -> None:
        await store.check_free(key["name"], key["version"], key["platform"], key["arch"])

    async with store.blobs.open_writer() as writer:
        fields = await read_package_form(
            request, writer, max_bytes=limit, before_file=refuse_duplicate
        )
        record = await store.add(writer, fields, who)
    await _audit(
        request,
        store,
        audit,
        who,
        "package.upload",
        record,
    )
    return _document(record)


@packages.get("", responses=errors(422))
async def list_packages(
    store: Store,
    who: Reader,
    name: _FIELD = None,
    version: _FIELD = None,
    platform: _FIELD = None,
    arch: _FIELD = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Found in the name or description.")
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 20,
    sort: Literal["name", "version", "created"] = "created",
    order: Literal["asc", "desc"] = "desc",
) -> PackageList:
    """Packages matching every filter given, a page at a time (newest first by default)."""
    del who
    query = PackageQuery(name=name, version=version, platform=platform, arch=arch, q=q)
    records, total = await store.db(
        lambda: store.repo.list(query, page=page, size=size, sort=sort, order=order)
    )
    return PackageList(packages=[_document(r) for r in records], total=total, page=page, size=size)


@packages.get("/{package_id}", responses=errors(404))
async def get_package(store: Store, who: Reader, package_id: PackageId) -> PackageDocument:
    del who
    return _document(await _found(store, package_id))


@packages.get(
    "/{package_id}/download",
    response_model=None,
    responses={
        200: {
            "description": "The file.",
            "content": {"application/octet-stream": {"schema": {"format": "binary"}}},
        },
        206: {
            "description": "The byte range asked for.",
            "content": {"application/octet-stream": {"schema": {"format": "binary"}}},
        },
        304: {"description": "If-None-Match named this file's ETag."},
        307: {"description": "With redirect=1 and an S3 store: its presigned URL."},
        416: {"description": "The range is outside the file."},
        **errors(404),
    },
)
async def download_package(
    request: Request,
    store: Store,
    who: Reader,
    package_id: PackageId,
    redirect: Annotated[
        bool, Query(description="Answer 307 to a presigned URL when the store has them.")
    ] = False,
) -> Response:
    del who
    record = await _found(store, package_id)
    key = BlobKey.sha256(record.sha256)
    etag = f'"{record.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": _disposition(record.filename),
        "Cache-Control": "private, max-age=0, must-revalidate",
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    if redirect:
        url = await store.blobs.presigned_url(key, _PRESIGN_SECONDS)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"ETag": etag})
    size = record.size
    asked = request.headers.get("range")
    if_range = request.headers.get("if-range")
    span = None
    if asked is not None and (if_range is None or if_range.strip() == etag):
        span = _parse_range(asked, size)
    start, end = span if span is not None else (0, size)
    body = store.blobs.read(key, start, end)
    try:
        first = await anext(body)
    except BlobNotFound:
        log.error("package %s: its blob %s is missing from the store", record.id, key)
        raise PackageNotFound(record.id) from None
    except StopAsyncIteration:
        first = b""
    headers["Content-Length"] = str(end - start)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        _stream(first, body),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )


@packages.delete("/{package_id}", status_code=204, response_model=None, responses=errors(404))
async def delete_package(
    request: Request, store: Store, audit: Audit, who: Writer, package_id: PackageId
) -> Response:
    """Remove the package (its uploader or an admin), and its bytes unless another
    package has the same."""
    record = await _found(store, package_id)
    if not await store.delete(record, who):
        raise PackageNotFound(package_id)
    await _audit(request, store, audit, who, "package.delete", record)
    return Response(status_code=204)


# ---- helpers ------------------------------------------------------------------------------


async def _found(store: PackageStore, package_id: str) -> PackageRecord:
    record = await store.get(package_id)
    if record is None:
        raise PackageNotFound(package_id)
    return record


def _document(r: PackageRecord) -> PackageDocument:
    return PackageDocument(
        id=r.id,
        name=r.name,
        version=r.version,
        platform=r.platform,
        arch=r.arch,
        description=r.description,
        filename=r.filename,
        size=r.size,
        sha256=r.sha256,
        owner=r.owner,
        created_at=r.created_at.isoformat(),
        download_url=f"{PREFIX}/{r.id}/download",
    )


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as ``[start, end)``; None to send the whole file (a header that
    does not parse, or several ranges: RFC 9110 lets a server ignore those);
    :class:`RangeNotSatisfiable` when it parses but no byte of the file is in it."""
    found = _RANGE.fullmatch(header.strip())
    if found is None or not (found[1] or found[2]):
        return None
    if found[1]:
        start = int(found[1])
        last = int(found[2]) if found[2] else None
        if last is not None and last < start:
            return None
        if start >= size:
            raise RangeNotSatisfiable(header, size)
        return start, size if last is None else min(last + 1, size)
    suffix = int(found[2])
    if suffix == 0:
        raise RangeNotSatisfiable(header, size)
    return max(0, size - suffix), size


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _disposition(filename: str) -> str:
    """``attachment`` with an ASCII name every client takes, and the real one (RFC 6266)."""
    plain = re.sub(r"[^A-Za-z0-9._+~-]", "_", filename) or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _stream(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(rest):  # type: ignore[type-var]
        if first:
            yield first
        async for chunk in rest:
            yield chunk


async def _audit(
    request: Request,
    store: PackageStore,
    audit: Audit,
    who: Principal,
    action: str,
    record: PackageRecord,
) -> None:
    await store.db.write(
        lambda: audit.record(
            action,
            actor=who.owner,
            token_id=who.token_id,
            target=record.id,
            address=client_address(request),
            detail={
                "name": record.name,
                "version": record.version,
                "platform": record.platform,
                "arch": record.arch,
                "size": record.size,
                "sha256": record.sha256,
            },
        )
    )
