"""``/simple/``: the imported Python files as a package index pip and uv use unchanged.

PEP 503 HTML and PEP 691 JSON, chosen by the ``Accept`` header as pip and uv send it;
PEP 658/714 core metadata (each wheel's METADATA, kept at import) at ``<file>.metadata``;
PEP 700's ``versions``, ``size`` and ``upload-time``; ``requires-python`` and yanked status.
Names are normalized (PEP 503): another spelling is redirected to the normal one. Files
are served from the kept store under ``/files/pypi/<sha256>/<filename>``, with Range and
ETag, linked relatively so that a proxy in front may mount the index under any path.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from packaging.utils import canonicalize_name

from ferry.auth.principal import Principal
from ferry.db.artifacts import ArtifactRecord, ArtifactRepository
from ferry.db.threads import DbThreads
from ferry.errors import ExitCode, FerryError
from ferry.registry.versions import pep440_key
from ferry.server.blobresponse import blob_response, file_responses
from ferry.server.problems import errors
from ferry.server.registryauth import registry_reader
from ferry.store.blob import BlobKey

__all__ = ["simple"]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.1"  # PEP 700

simple = APIRouter(tags=["registries"], responses=errors(401, 403))
_PAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "HTML (PEP 503) or JSON (PEP 691), as the Accept header prefers.",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            HTML_V1: {"schema": {"type": "string"}},
            JSON_V1: {"schema": {"type": "object"}},
        },
    },
}
_FILE = {**file_responses("file"), **errors(404)}
Reader = Annotated[Principal | None, Depends(registry_reader)]


class ProjectNotFound(FerryError):
    code = "registry-not-found"
    exit_code = ExitCode.USAGE
    http_status = 404

    def __init__(self, path: str) -> None:
        super().__init__(params={"path": path[:200]})


def _repo(request: Request) -> tuple[ArtifactRepository, DbThreads]:
    return request.app.state.artifacts, request.app.state.kept_db


@simple.get(
    "/simple/", response_model=None, responses=_PAGE, summary="The projects the index holds"
)
async def project_list(request: Request, who: Reader) -> Response:
    del who
    artifacts, db = _repo(request)
    names = await db(artifacts.projects, "pypi")
    if _wants_json(request):
        doc = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
        return _json(doc)
    links = "".join(f'<a href="{html.escape(n)}/">{html.escape(n)}</a><br/>\n' for n in names)
    return _html(request, "Simple index", links)


@simple.get(
    "/simple/{project}/",
    response_model=None,
    responses={**_PAGE, 301: {"description": "To the normalized name."}, **errors(404)},
    summary="A project's files",
)
async def project_page(request: Request, project: str, who: Reader) -> Response:
    del who
    normal = canonicalize_name(project)
    if normal != project:
        return RedirectResponse(f"../{normal}/", status_code=301)
    artifacts, db = _repo(request)
    files = await db(artifacts.files, "pypi", normal)
    if not files:
        raise ProjectNotFound(request.url.path)
    versions = sorted({f.version for f in files}, key=pep440_key)
    if _wants_json(request):
        doc = {
            "meta": {"api-version": API_VERSION},
            "name": normal,
            "versions": versions,
            "files": [_file_json(f) for f in files],
        }
        return _json(doc)
    links = "".join(_file_link(f) for f in files)
    return _html(request, f"Links for {normal}", links)


@simple.get("/simple/{project}", include_in_schema=False)
async def without_slash(project: str) -> RedirectResponse:
    # pip and uv always ask with the slash; a person typing the URL may not
    return RedirectResponse(f"{project}/", status_code=301)


@simple.get(
    "/files/pypi/{sha256}/{filename}",
    response_model=None,
    responses=_FILE,
    summary="A file of the index, or its core metadata (<file>.metadata)",
)
async def file(request: Request, sha256: str, filename: str, who: Reader) -> Response:
    del who
    artifacts, db = _repo(request)
    wanted = filename.removesuffix(".metadata")
    found = await db(artifacts.file, "pypi", wanted)
    if found is None or found.sha256 != sha256:
        raise ProjectNotFound(request.url.path)
    blobs = request.app.state.kept.blobs
    if wanted != filename:
        if found.metadata_sha256 is None:
            raise ProjectNotFound(request.url.path)
        key = BlobKey.sha256(found.metadata_sha256)
        size = await blobs.size(key)
        return await blob_response(
            request, blobs, key, size, filename, missing=lambda: ProjectNotFound(filename)
        )
    return await blob_response(
        request,
        blobs,
        BlobKey.sha256(found.sha256),
        found.size,
        found.filename,
        missing=lambda: ProjectNotFound(filename),
    )


def _href(f: ArtifactRecord) -> str:
    # relative to /simple/<project>/
    return f"../../files/pypi/{f.sha256}/{f.filename}"


def _file_json(f: ArtifactRecord) -> dict[str, Any]:
    metadata: dict[str, str] | bool = (
        {"sha256": f.metadata_sha256} if f.metadata_sha256 is not None else False
    )
    return {
        "filename": f.filename,
        "url": _href(f),
        "hashes": {"sha256": f.sha256},
        "requires-python": f.requires_python,
        "core-metadata": metadata,
        "dist-info-metadata": metadata,  # the name PEP 658 first gave it; older pips ask
        # a reason, or True when yanked without one (an empty string would read as "not")
        "yanked": (f.yanked or True) if f.yanked is not None else False,
        "size": f.size,
        "upload-time": f.upload_time or f.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def _file_link(f: ArtifactRecord) -> str:
    attributes = [f'href="{html.escape(_href(f))}#sha256={f.sha256}"']
    if f.requires_python:
        attributes.append(f'data-requires-python="{html.escape(f.requires_python)}"')
    if f.metadata_sha256:
        value = f"sha256={f.metadata_sha256}"
        attributes.append(f'data-dist-info-metadata="{value}" data-core-metadata="{value}"')
    if f.yanked is not None:
        attributes.append(f'data-yanked="{html.escape(f.yanked)}"')
    return f"<a {' '.join(attributes)}>{html.escape(f.filename)}</a><br/>\n"


def _wants_json(request: Request) -> bool:
    """PEP 691's negotiation: the JSON form when it is preferred to every HTML form."""
    best_json = best_html = 0.0
    for part in request.headers.get("accept", "").split(","):
        kind, _, rest = part.strip().partition(";")
        quality = 1.0
        for parameter in rest.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = kind.strip().lower()
        if kind == JSON_V1:
            best_json = max(best_json, quality)
        elif kind in (HTML_V1, "text/html", "*/*"):
            best_html = max(best_html, quality)
    return best_json > 0 and best_json >= best_html


def _json(doc: dict[str, Any]) -> JSONResponse:
    return JSONResponse(doc, media_type=JSON_V1, headers={"Vary": "Accept"})


def _html(request: Request, title: str, body: str) -> HTMLResponse:
    accept = request.headers.get("accept", "").lower()
    media = HTML_V1 if HTML_V1 in accept else "text/html"
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}</body>\n</html>\n"
    )
    return HTMLResponse(page, media_type=media, headers={"Vary": "Accept"})
