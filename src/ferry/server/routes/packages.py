"""``/api/v1/packages``: the package store of seed 003, with its API shapes.

Upload streams the form's file into the blob store (``ferry.server.forms``), a row is
inserted once the blob is committed (``ferry.store.packages``). Or, where the store is a
bucket that checks digests, ``/uploads`` plans the upload and signs a PUT of the file
straight into it, and ``/uploads/complete`` records it from the plan's ticket once the
bucket has checked the bytes (docs/decisions.md, "Package files PUT straight into the
bucket"). Downloads stream the blob
with Range, ETag (the sha256) and If-None-Match, or redirect to a presigned URL of an S3
store when asked. Every reader sees every package; a package is deleted by an admin or by
the owner of the write token that uploaded it.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ferry.auth.links import signed_query, verify
from ferry.auth.principal import Principal
from ferry.auth.roles import Role
from ferry.db.packages import PackageNotFound, PackageQuery, PackageRecord, is_package_id
from ferry.server.blobresponse import blob_response, file_responses
from ferry.server.deps import (
    Audit,
    Reader,
    Writer,
    authenticated,
    bearer,
    client_address,
    require,
    router,
)
from ferry.server.forms import read_package_form
from ferry.server.problems import errors
from ferry.server.schemas import (
    DirectUpload,
    PackageDocument,
    PackageList,
    PackageUploadDone,
    PackageUploadPlan,
    PackageUploadStart,
    UploadTerms,
)
from ferry.store.blob import BlobKey, NoDirectUpload
from ferry.store.packages import (
    DESCRIPTION_MAX_BYTES,
    FIELD_LIMITS,
    PackageFields,
    PackageInvalid,
    PackageStore,
    PackageTooLarge,
    check_identifier,
    safe_filename,
)

PREFIX = "/api/v1/packages"
_FIELD = Annotated[str | None, Query(max_length=100)]

packages = router(prefix=PREFIX, tags=["packages"], responses=errors(401, 403))
# the download also takes a link signed for the one package instead of a token, so that a
# browser can follow it (ferry.auth.links): its router checks either itself
package_files = APIRouter(prefix=PREFIX, tags=["packages"], responses=errors(401, 403))


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
                        "sha256": {
                            "type": "string",
                            "pattern": "^[0-9a-f]{64}$",
                            "description": "The file's sha256, checked when the file "
                            "ends (422 and nothing stored if it differs). Sent before the "
                            "file, an S3 store also writes it straight to its final name "
                            "(see upload.sha256_first in the list).",
                        },
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

    async with contextlib.AsyncExitStack() as writers:
        fields, writer = await read_package_form(
            request, store.blobs, writers, max_bytes=limit, before_file=refuse_duplicate
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
    return _document(record, request)


@packages.post("/uploads", responses=errors(409, 413, 422))
async def start_upload(
    request: Request, store: Store, who: Writer, body: PackageUploadStart
) -> PackageUploadPlan:
    """Check an upload before its bytes are sent, and say how to send them: straight to
    the store where it can check them itself (an S3 bucket: a presigned PUT, then
    ``POST /uploads/complete`` with the ticket), else as the form of ``POST ""``."""
    settings = request.app.state.settings
    fields = _fields(body)
    if body.size == 0:
        raise PackageInvalid(params={"problem": "empty", "field": "file"})
    if body.size > settings.package_max_bytes:
        limit = str(settings.package_max_bytes)
        raise PackageTooLarge(params={"name": fields.filename, "limit": limit})
    await store.check_free(fields.name, fields.version, fields.platform, fields.arch)
    key = BlobKey.sha256(body.sha256)
    try:
        if not settings.package_direct_upload:
            raise NoDirectUpload("direct uploads are turned off (package_direct_upload)")
        if await store.blobs.has(key):
            # recording them for a client that only names them would hand it bytes it
            # never had: sent through the service, they prove themselves
            raise NoDirectUpload("the store has these bytes already")
        put = await store.blobs.presigned_put(key, body.size, _PUT_TTL)
    except NoDirectUpload as refused:
        return PackageUploadPlan(direct=None, ticket=None, reason=refused.reason)
    claim = {**asdict(fields), "size": body.size, "owner": who.owner}
    return PackageUploadPlan(
        direct=DirectUpload(
            method="PUT",
            url=put.url,
            headers=put.headers,
            expires_at=datetime.fromtimestamp(put.expires, UTC).isoformat(),
        ),
        ticket=_tickets(request).dumps(claim),
        reason=None,
    )


@packages.post("/uploads/complete", status_code=201, responses=errors(409, 422))
async def complete_upload(
    request: Request, store: Store, audit: Audit, who: Writer, body: PackageUploadDone
) -> PackageDocument:
    """Record a package whose file was PUT to the store as the plan said: 409
    package-upload-missing while the store holds no bytes it checked against its sha256."""
    try:
        claim = _tickets(request).loads(body.ticket, max_age=_TICKET_TTL)
    except SignatureExpired:
        raise PackageInvalid(params={"problem": "ticket-expired"}) from None
    except BadSignature:
        raise PackageInvalid(params={"problem": "ticket"}) from None
    if claim.get("owner") != who.owner:
        # another's ticket: the same answer as a forged one
        raise PackageInvalid(params={"problem": "ticket"})
    size = int(claim.pop("size"))
    del claim["owner"]
    record = await store.add_verified(PackageFields(**claim), size, who)
    await _audit(request, store, audit, who, "package.upload", record)
    return _document(record, request)


@packages.get("", responses=errors(422))
async def list_packages(
    request: Request,
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
    documents = [_document(r, request) for r in records]
    terms = UploadTerms(
        max_bytes=request.app.state.settings.package_max_bytes,
        sha256_first=store.blobs.digest_first,
    )
    return PackageList(packages=documents, total=total, page=page, size=size, upload=terms)


@packages.get("/{package_id}", responses=errors(404))
async def get_package(
    request: Request, store: Store, who: Reader, package_id: PackageId
) -> PackageDocument:
    del who
    return _document(await _found(store, package_id), request)


@package_files.get(
    "/{package_id}/download",
    # a bearer token, or none with a signed link (expires + signature)
    openapi_extra={"security": [{"HTTPBearer": []}, {}]},
    response_model=None,
    responses={**file_responses("file", redirect=True), **errors(404)},
)
async def download_package(
    request: Request,
    store: Store,
    package_id: PackageId,
    redirect: Annotated[
        bool, Query(description="Answer 307 to a presigned URL when the store has them.")
    ] = False,
    expires: Annotated[str | None, Query(max_length=12, description="From link_url.")] = None,
    signature: Annotated[str | None, Query(max_length=64, description="From link_url.")] = None,
) -> Response:
    if not _signed(request, package_id, expires, signature):
        await require(Role.READ)(await authenticated(request, await bearer(request)))
    record = await _found(store, package_id)
    return await blob_response(
        request,
        store.blobs,
        BlobKey.sha256(record.sha256),
        record.size,
        record.filename,
        missing=lambda: PackageNotFound(record.id),
        redirect=redirect,
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

# A PUT must start within the hour (S3 checks when it starts: a big one may run past it);
# its ticket is taken for an hour more. Bytes never recorded are collected after
# blob_staging_max_age, as an interrupted upload's.
_PUT_TTL = 3600
_TICKET_TTL = 2 * _PUT_TTL


def _tickets(request: Request) -> URLSafeTimedSerializer:
    # signed with the service's key, so that any replica can complete what another began
    return URLSafeTimedSerializer(_link_key(request), salt="ferry.package-upload")


def _fields(body: PackageUploadStart) -> PackageFields:
    """The start's fields, checked as the form's are, with the same messages."""
    values = {f: check_identifier(f, getattr(body, f)) for f in FIELD_LIMITS}
    if len(body.description.encode()) > DESCRIPTION_MAX_BYTES:
        limit = str(DESCRIPTION_MAX_BYTES)
        raise PackageInvalid(params={"problem": "long", "field": "description", "limit": limit})
    fallback = "-".join(values[f] for f in FIELD_LIMITS)
    return PackageFields(
        **values,
        description=body.description,
        filename=safe_filename(body.filename, fallback),
        sha256=body.sha256,
    )


async def _found(store: PackageStore, package_id: str) -> PackageRecord:
    record = await store.get(package_id)
    if record is None:
        raise PackageNotFound(package_id)
    return record


def _signed(request: Request, package_id: str, expires: str | None, signature: str | None) -> bool:
    """True if the query carries a valid link signed for this package."""
    if expires is None or signature is None:
        return False
    return verify(_link_key(request), package_id, expires, signature, purpose="package")


def _link_key(request: Request) -> bytes:
    return request.app.state.manager.link_key  # type: ignore[no-any-return]


def _document(r: PackageRecord, request: Request) -> PackageDocument:
    settings = request.app.state.settings
    query = signed_query(_link_key(request), r.id, settings.archive_link_ttl, purpose="package")
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
        link_url=f"{PREFIX}/{r.id}/download?{query}",
    )


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
