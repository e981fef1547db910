"""Models and datasets (seed 004) over HTTP, in the shapes both their readers know.

Seed 004's catalog: ``GET /api/models`` (search, task, pages), ``GET /api/models/{id}``,
``GET /api/model-usage/ranking``, ``GET /storage/models/{id}/{version}/{path}``.

The Hugging Face Hub's protocol, so that ``huggingface_hub`` and ``transformers`` with
``HF_ENDPOINT`` pointed here work unchanged: ``/api/{models,datasets}/{repo}`` and
``.../revision/{rev}`` (``model_info``), ``.../tree/{rev}/{path}`` (``Link`` pages),
``POST .../paths-info/{rev}``, and ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` (and
``/datasets/...``) with ``X-Repo-Commit``, ``ETag``/``X-Linked-Etag`` (sha256 for LFS-sized
files, the git blob id for small ones), ``X-Linked-Size``, Range; a 404 says which of
``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound`` in ``X-Error-Code``. A revision
is ``main`` (the default version), a version's name, or its 40-hex commit; the clients
send it percent-encoded (``refs%2Fpr%2F1``), so paths are split on the raw path.

Publishing (write role): ``PUT /api/models/{repo}/versions/{version}/files/{path}`` with
the file as the body (``Content-Length`` required), then
``POST /api/models/{repo}/versions/{version}/publish`` listing the version's files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from ferry.auth.principal import Principal
from ferry.auth.roles import Role
from ferry.db.catalog import (
    CatalogRepository,
    FileRecord,
    ModelRecord,
    NewFile,
    VersionRecord,
)
from ferry.db.threads import DbThreads
from ferry.errors import Hint, NotAllowed, NotAuthenticated, UsageError
from ferry.models.documents import hub_entry, model_document, oid_of
from ferry.models.hashing import GitBlobHasher
from ferry.models.names import ModelNameError, check_model_id, check_path, check_version
from ferry.server.blobresponse import blob_response, file_responses
from ferry.server.deps import require
from ferry.server.problems import errors
from ferry.server.registryauth import registry_reader
from ferry.store.blob import BlobKey

__all__ = ["hub"]

log = logging.getLogger(__name__)

hub = APIRouter(tags=["models"], responses=errors(401, 403))
_JSON: dict[str, Any] = {"application/json": {"schema": {}}}
# the Hub's clients read its own 404 (X-Error-Code), not a problem document
# (a path no route takes at all, a newline in it say, is the service's problem document)
_MISSING: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "RepoNotFound, RevisionNotFound or EntryNotFound (X-Error-Code).",
        "content": {**_JSON, "application/problem+json": {"schema": {}}},
    }
}
_READ = {200: {"description": "JSON.", "content": _JSON}, **_MISSING}
_FILE = {**file_responses("file"), **_MISSING}
_POSTED = {
    200: {"description": "paths-info: the entries found.", "content": _JSON},
    201: {"description": "publish: the version, now visible.", "content": _JSON},
    **_MISSING,
    **errors(400, 409, 413),
}
_PUT = {
    201: {"description": "The file, kept until its version is published.", "content": _JSON},
    **_MISSING,
    **errors(400, 409, 413),
}
Reader = Annotated[Principal | None, Depends(registry_reader)]
Writer = Annotated[Principal, Depends(require(Role.WRITE))]
KINDS = {"models": "model", "datasets": "dataset"}
_TREE_PAGE = 1000


class HubNotFound(Exception):
    """A 404 the Hub's clients understand: ``code`` goes in ``X-Error-Code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.message},
            status_code=404,
            # a header is Latin-1: what a stranger put in the path is escaped
            headers={
                "X-Error-Code": self.code,
                "X-Error-Message": self.message.encode("ascii", "backslashreplace").decode(),
            },
        )


def _catalog(request: Request) -> tuple[CatalogRepository, DbThreads]:
    return request.app.state.catalog, request.app.state.kept_db


def _segments(request: Request, skip: int) -> list[str]:
    """The path's parts after the first ``skip``, each percent-decoded on its own (so an
    encoded ``/`` stays inside its part)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    parts = raw.decode("latin-1").split("?")[0].strip("/").split("/")
    return [unquote(p) for p in parts[skip:]]


def _split_repo(parts: list[str], keywords: tuple[str, ...]) -> tuple[str, str | None, list[str]]:
    """(repo id, keyword, what follows) for ``org/name/keyword/...`` or
    ``name/keyword/...``; keyword None when the path is the repo id alone."""
    if len(parts) >= 3 and parts[2] in keywords:
        return f"{parts[0]}/{parts[1]}", parts[2], parts[3:]
    if len(parts) >= 2 and parts[1] in keywords:
        return parts[0], parts[1], parts[2:]
    if 1 <= len(parts) <= 2:
        return "/".join(parts), None, []
    raise HubNotFound("RepoNotFound", "no such endpoint")


async def _model(request: Request, kind: str, repo: str) -> ModelRecord:
    try:
        check_model_id(repo)
    except ModelNameError as exc:
        raise HubNotFound("RepoNotFound", exc.message) from None
    catalog, db = _catalog(request)
    found = await db(catalog.get, kind, repo)
    if found is None or not found.versions:
        raise HubNotFound("RepoNotFound", f"Repository {repo} not found")
    return found


def _revision(model: ModelRecord, revision: str) -> VersionRecord:
    found = model.resolve(revision)
    if found is None:
        raise HubNotFound("RevisionNotFound", f"Invalid rev id: {revision}")
    return found


# -- the catalog (seed 004) and model_info


@hub.get("/api/model-usage/ranking", summary="Models by how often they were fetched")
async def ranking(
    request: Request, who: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict[str, Any]]:
    del who
    catalog, db = _catalog(request)
    rows = await db(catalog.ranking, "model", limit)
    return [{"model_id": m, "request_count": n, "rank": i} for i, (m, n) in enumerate(rows, 1)]


async def _list(
    request: Request, kind: str, search: str | None, task: str | None, page: int, size: int
) -> JSONResponse:
    catalog, db = _catalog(request)
    records, total = await db(
        lambda: catalog.list(kind, search=search, task=task, offset=(page - 1) * size, limit=size)
    )
    docs = [model_document(r, r.resolve("main")) for r in records]
    headers = {"X-Total-Count": str(total)}
    if page * size < total:
        following = request.url.include_query_params(page=page + 1, limit=size)
        headers["Link"] = f'<{following}>; rel="next"'
    return JSONResponse(docs, headers=headers)


@hub.get("/api/models", response_model=None, summary="Models with a published version")
async def list_models(
    request: Request,
    who: Reader,
    search: Annotated[str | None, Query(max_length=100)] = None,
    task: Annotated[str | None, Query(max_length=64, alias="pipeline_tag")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    del who
    return await _list(request, "model", search, task, page, limit)


@hub.get("/api/datasets", response_model=None, summary="Datasets with a published version")
async def list_datasets(
    request: Request,
    who: Reader,
    search: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    del who
    return await _list(request, "dataset", search, None, page, limit)


@hub.get(
    "/api/models/{rest:path}",
    response_model=None,
    responses=_READ,
    summary="A model, a revision of it, or its tree",
)
@hub.get(
    "/api/datasets/{rest:path}",
    response_model=None,
    responses=_READ,
    summary="A dataset, a revision of it, or its tree",
)
async def repo_get(request: Request, rest: str, who: Reader) -> Response:
    del who, rest
    parts = _segments(request, 1)
    kind = KINDS[parts[0]]
    try:
        repo, keyword, after = _split_repo(parts[1:], ("revision", "tree"))
        model = await _model(request, kind, repo)
        blobs = request.query_params.get("blobs", "").lower() in ("1", "true")
        if keyword is None:
            return JSONResponse(model_document(model, _revision(model, "main"), blobs=blobs))
        if not after:
            raise HubNotFound("RevisionNotFound", "no revision given")
        version = _revision(model, after[0])
        if keyword == "revision":
            return JSONResponse(model_document(model, version, blobs=blobs))
        return _tree(request, version, "/".join(after[1:]))
    except HubNotFound as missing:
        return missing.response()


def _tree(request: Request, version: VersionRecord, path: str) -> Response:
    recursive = request.query_params.get("recursive", "").lower() in ("1", "true")
    prefix = f"{path}/" if path else ""
    if path and version.file(path) is not None:
        raise HubNotFound("EntryNotFound", f"{path} is a file, not a folder")
    entries: list[dict[str, Any]] = []
    folders: set[str] = set()
    for f in version.files:
        if not f.path.startswith(prefix):
            continue
        tail = f.path[len(prefix) :]
        parts = tail.split("/")
        for depth in range(1, len(parts)):
            folder = prefix + "/".join(parts[:depth])
            if (recursive or depth == 1) and folder not in folders:
                folders.add(folder)
                entries.append({"type": "directory", "oid": _folder_oid(folder), "path": folder})
        if recursive or len(parts) == 1:
            entries.append(hub_entry(f))
    if path and not entries:
        raise HubNotFound("EntryNotFound", f"{path} does not exist at {version.version}")
    entries.sort(key=lambda e: e["path"])
    try:
        cursor = int(request.query_params.get("cursor", "0"))
    except ValueError:
        cursor = 0
    page = entries[cursor : cursor + _TREE_PAGE]
    headers = {}
    if cursor + _TREE_PAGE < len(entries):
        following = request.url.include_query_params(cursor=cursor + _TREE_PAGE)
        headers["Link"] = f'<{following}>; rel="next"'
    return JSONResponse(page, headers=headers)


def _folder_oid(path: str) -> str:
    return hashlib.sha1(f"tree\0{path}".encode(), usedforsecurity=False).hexdigest()


@hub.post(
    "/api/models/{rest:path}",
    response_model=None,
    responses=_POSTED,
    summary="paths-info, or publish a version (write role)",
)
@hub.post(
    "/api/datasets/{rest:path}",
    response_model=None,
    responses=_POSTED,
    summary="paths-info, or publish a version (write role)",
)
async def repo_post(request: Request, rest: str, who: Reader) -> Response:
    del rest
    parts = _segments(request, 1)
    kind = KINDS[parts[0]]
    try:
        repo, keyword, after = _split_repo(parts[1:], ("paths-info", "versions"))
    except HubNotFound as missing:
        return missing.response()
    if keyword == "versions" and len(after) == 2 and after[1] == "publish":
        if who is None:
            raise NotAuthenticated(params={}, hint=Hint("send-token"))
        if not who.role.allows(Role.WRITE):
            raise NotAllowed(params={"role": Role.WRITE, "has": who.role})
        return await _publish(request, kind, repo, after[0], who)
    if keyword != "paths-info" or len(after) != 1:
        return HubNotFound("RepoNotFound", "no such endpoint").response()
    try:
        model = await _model(request, kind, repo)
        version = _revision(model, after[0])
    except HubNotFound as missing:
        return missing.response()
    form = await request.form()
    wanted = [str(p) for p in form.getlist("paths")]
    found: list[dict[str, Any]] = []
    for path in wanted:
        f = version.file(path)
        if f is not None:
            found.append(hub_entry(f))
        elif any(x.path.startswith(path.rstrip("/") + "/") for x in version.files):
            found.append({"type": "directory", "oid": _folder_oid(path), "path": path})
    return JSONResponse(found)


# -- files


@hub.api_route(
    "/{a}/resolve/{rest:path}",
    methods=["GET"],
    response_model=None,
    responses=_FILE,
    summary="A file of a revision, as huggingface_hub fetches it",
)
@hub.api_route(
    "/{a}/{b}/resolve/{rest:path}",
    methods=["GET"],
    response_model=None,
    responses=_FILE,
    summary="A file of a revision, as huggingface_hub fetches it",
)
@hub.api_route(
    "/datasets/{a}/resolve/{rest:path}",
    methods=["GET"],
    response_model=None,
    responses=_FILE,
    summary="A file of a revision, as huggingface_hub fetches it",
)
@hub.api_route(
    "/datasets/{a}/{b}/resolve/{rest:path}",
    methods=["GET"],
    response_model=None,
    responses=_FILE,
    summary="A file of a revision, as huggingface_hub fetches it",
)
async def resolve(request: Request, who: Reader) -> Response:
    """A file of a revision, as ``hf_hub_download`` fetches it."""
    del who
    parts = _segments(request, 0)
    kind = "model"
    if parts and parts[0] == "datasets":
        kind, parts = "dataset", parts[1:]
    at = parts.index("resolve")
    repo, after = "/".join(parts[:at]), parts[at + 1 :]
    try:
        model = await _model(request, kind, repo)
        if not after:
            raise HubNotFound("RevisionNotFound", "no revision given")
        version = _revision(model, after[0])
        path = "/".join(after[1:])
        f = version.file(path)
        if f is None:
            raise HubNotFound("EntryNotFound", f"{path} does not exist at {version.version}")
    except HubNotFound as missing:
        return missing.response()
    return await _file_response(request, model, version, f)


async def _file_response(
    request: Request, model: ModelRecord, version: VersionRecord, f: FileRecord
) -> Response:
    oid = oid_of(f)
    extra = {
        "X-Repo-Commit": version.commit,
        "X-Linked-Etag": f'"{oid}"',
        "X-Linked-Size": str(f.size),
    }
    answer = await blob_response(
        request,
        request.app.state.kept.blobs,
        BlobKey.sha256(f.sha256),
        f.size,
        f.path.rpartition("/")[2],
        missing=lambda: HubNotFound("EntryNotFound", f.path),
        etag=oid,
        extra=extra,
    )
    if answer.status_code in (200, 206) and not request.scope.get("ferry.head"):
        sent = int(answer.headers.get("content-length", 0))
        request.app.state.manager.metrics.model_bytes_served.labels(model.kind).inc(sent)
    # one use per download: not a HEAD, a 304, nor each later piece of a ranged fetch
    whole = answer.status_code == 200 or answer.headers.get("content-range", "").startswith(
        "bytes 0-"
    )
    # (methods.HeadAsGet routes a HEAD here as a GET, and marks it)
    if whole and not request.scope.get("ferry.head"):
        catalog, db = _catalog(request)
        try:
            await db.write(catalog.count_use, model.kind, model.model_id)
        except Exception:  # a count is not worth a failed download
            log.exception("could not count a use of %s", model.model_id)
    return answer


@hub.get(
    "/storage/models/{rest:path}",
    response_model=None,
    responses=_FILE,
    summary="A file of a model version (seed 004)",
)
async def storage(request: Request, rest: str, who: Reader) -> Response:
    del who, rest
    parts = _segments(request, 2)
    catalog, db = _catalog(request)
    # org/name/version/path or name/version/path: the id that exists decides
    for width in (2, 1):
        if len(parts) < width + 2:
            continue
        repo = "/".join(parts[:width])
        try:
            check_model_id(repo)
        except ModelNameError:
            continue
        model = await db(catalog.get, "model", repo)
        if model is None:
            continue
        version = model.version(parts[width])
        path = "/".join(parts[width + 1 :])
        f = version.file(path) if version is not None else None
        if version is None or f is None:
            break
        return await _file_response(request, model, version, f)
    return JSONResponse(
        {"error": {"code": "model-file-not-found", "message": "no such model file"}},
        status_code=404,
    )


# -- publishing


@hub.put(
    "/api/models/{rest:path}",
    response_model=None,
    responses=_PUT,
    summary="Upload a file of an unpublished version (write role)",
)
@hub.put(
    "/api/datasets/{rest:path}",
    response_model=None,
    responses=_PUT,
    summary="Upload a file of an unpublished version (write role)",
)
async def upload_file(request: Request, rest: str, who: Writer) -> JSONResponse:
    del rest
    parts = _segments(request, 1)
    kind = KINDS[parts[0]]
    try:
        repo, keyword, after = _split_repo(parts[1:], ("versions",))
    except HubNotFound as missing:
        return missing.response()
    if keyword != "versions" or len(after) < 3 or after[1] != "files":
        raise UsageError("PUT .../versions/{version}/files/{path}")
    check_model_id(repo)
    version = check_version(after[0])
    path = check_path("/".join(after[2:]))
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise UsageError("send the file with its Content-Length (no chunked bodies)")
    size = int(length)
    settings = request.app.state.settings
    if size > settings.package_max_bytes:
        raise UsageError(f"{path}: {size} bytes is over package_max_bytes")
    catalog, db = _catalog(request)
    model = await db.write(lambda: catalog.ensure_model(kind, repo, owner=who.owner))
    _may_change(model, who)
    kept = request.app.state.kept
    git = GitBlobHasher(size)
    received = 0
    async with kept.blobs.open_writer() as writer:
        async for chunk in request.stream():
            received += len(chunk)
            if received > size:
                raise UsageError(f"{path}: the body is longer than its Content-Length")
            await asyncio.to_thread(git.update, chunk)
            await writer.write(chunk)
        if received != size:
            raise UsageError(f"{path}: {received} bytes arrived of {size}")
        if size == 0:
            await writer.write(b"")
        info = await writer.commit()
    file = FileRecord(path, size, info.key.digest, git.hexdigest())
    # under the digest's lock: a release of the same bytes must see this row
    async with kept.locks.hold(info.key):
        replaced = await db.write(
            lambda: catalog.stage_upload(kind, repo, version, file, owner=who.owner)
        )
    if replaced is not None:
        await kept.release(BlobKey.sha256(replaced))
    return JSONResponse(
        {"path": path, "size": size, "sha256": file.sha256, "oid": file.git_sha1}, status_code=201
    )


async def _publish(
    request: Request, kind: str, repo: str, version_name: str, who: Principal
) -> JSONResponse:
    check_model_id(repo)
    version_name = check_version(version_name)
    try:
        doc = json.loads(await request.body())
    except ValueError:
        raise UsageError('the body must be JSON: {"files": [{"path", "sha256", "size"}]}') from None
    listed = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(listed, list) or not listed:
        raise UsageError("files: a non-empty list of {path, sha256, size}")
    files: list[NewFile] = []
    seen: set[str] = set()
    for i, entry in enumerate(listed):
        if not isinstance(entry, dict):
            raise UsageError(f"files[{i}] is not an object")
        path = check_path(str(entry.get("path", "")))
        sha256, size = entry.get("sha256"), entry.get("size")
        if (
            not isinstance(sha256, str)
            or len(sha256) != 64
            or not all(c in "0123456789abcdef" for c in sha256)
        ):
            raise UsageError(f"files[{i}].sha256 is not a lowercase hex sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UsageError(f"files[{i}].size is not a byte count")
        if path in seen:
            raise UsageError(f"files[{i}]: {path} is listed twice")
        seen.add(path)
        files.append(NewFile(path, sha256, size))
    catalog, db = _catalog(request)
    meta = {k: doc.get(k) for k in ("name", "task")}
    languages = doc.get("languages")
    model = await db.write(
        lambda: catalog.ensure_model(
            kind,
            repo,
            owner=who.owner,
            name=meta["name"] if isinstance(meta["name"], str) else None,
            task=meta["task"] if isinstance(meta["task"], str) else None,
            languages=[str(x) for x in languages] if isinstance(languages, list) else None,
        )
    )
    _may_change(model, who)
    record = await db.write(
        lambda: catalog.publish(
            kind,
            repo,
            version_name,
            files,
            owner=who.owner,
            make_default=bool(doc.get("default", True)),
        )
    )
    # its large files' torrents, so the first node to ask does not wait (routes/torrents.py)
    request.app.state.torrent_maker.start(model, record, record.files, who.owner)
    return JSONResponse(
        {
            "id": repo,
            "version": record.version,
            "commit": record.commit,
            "size_bytes": record.size,
            "files": len(record.files),
        },
        status_code=201,
    )


def _may_change(model: ModelRecord, who: Principal) -> None:
    if model.owner != who.owner and not who.role.allows(Role.ADMIN):
        raise NotAllowed(
            f"{model.model_id} belongs to {model.owner}: only they or an admin publish to it"
        )
