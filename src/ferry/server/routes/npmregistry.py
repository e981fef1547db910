"""``/npm/``: the imported npm tarballs as a registry npm uses unchanged.

Packuments, full (``npm view``) and abbreviated (``application/vnd.npm.install-v1+json``,
what ``npm install`` asks for), built from each tarball's own package.json as kept at
import; ``dist-tags`` with ``latest`` the highest release; scoped names as npm sends them
(``@scope%2fname``, or unescaped); tarballs with Range and ETag from the kept store. A lock
whose ``resolved`` URLs name another registry installs with npm's
``replace-registry-host=always``: the tarball paths here are the public registry's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from ferry.auth.principal import Principal
from ferry.db.artifacts import ArtifactRecord, ArtifactRepository
from ferry.db.threads import DbThreads
from ferry.registry.versions import latest as versions_latest
from ferry.server.blobresponse import blob_response, file_responses
from ferry.server.problems import errors
from ferry.server.registryauth import registry_reader
from ferry.server.routes.simple import ProjectNotFound
from ferry.store.blob import BlobKey

__all__ = ["npm"]

ABBREVIATED = "application/vnd.npm.install-v1+json"
# the fields of a version an install needs (npm's abbreviated metadata format)
_INSTALL_FIELDS = (
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "libc",
    "deprecated",
    "funding",
    "_hasShrinkwrap",
)
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")

npm = APIRouter(prefix="/npm", tags=["registries"], responses=errors(401, 403))
Reader = Annotated[Principal | None, Depends(registry_reader)]


def _repo(request: Request) -> tuple[ArtifactRepository, DbThreads]:
    return request.app.state.artifacts, request.app.state.kept_db


@npm.get(
    "/{name:path}/-/{tarball}",
    response_model=None,
    responses={**file_responses("tarball"), **errors(404)},
    summary="A package's tarball",
)
async def tarball(request: Request, name: str, tarball: str, who: Reader) -> Response:
    del who
    artifacts, db = _repo(request)
    found = await db(artifacts.file, "npm", f"{name}/-/{tarball}")
    if found is None:
        raise ProjectNotFound(request.url.path)
    return await blob_response(
        request,
        request.app.state.kept.blobs,
        BlobKey.sha256(found.sha256),
        found.size,
        tarball,
        missing=lambda: ProjectNotFound(tarball),
    )


@npm.get(
    "/{name:path}",
    response_model=None,
    responses={
        200: {
            "description": "The packument: full, or abbreviated when Accept asks for it.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                ABBREVIATED: {"schema": {"type": "object"}},
            },
        },
        **errors(404),
    },
    summary="A package's packument",
)
async def packument(request: Request, name: str, who: Reader) -> Response:
    del who
    artifacts, db = _repo(request)
    files = await db(artifacts.files, "npm", name)
    if not files:
        raise ProjectNotFound(request.url.path)
    base = str(request.url_for("tarball", name=name, tarball="x")).removesuffix("/x")
    abbreviated = ABBREVIATED in request.headers.get("accept", "")
    versions = {f.version: _version(f, base, abbreviated=abbreviated) for f in files}
    latest = str(versions_latest("npm", versions))
    modified = max(f.created_at for f in files).isoformat()
    if abbreviated:
        doc: dict[str, Any] = {
            "name": name,
            "dist-tags": {"latest": latest},
            "modified": modified,
            "versions": versions,
        }
        return JSONResponse(doc, media_type=ABBREVIATED, headers={"Vary": "Accept"})
    times = {f.version: f.created_at.isoformat() for f in files}
    doc = {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": latest},
        "versions": versions,
        "time": {"created": min(times.values()), "modified": modified, **times},
    }
    for field in ("description", "license", "repository", "homepage", "keywords", "readme"):
        value = (versions[latest] or {}).get(field)
        if value is not None:
            doc[field] = value
    return JSONResponse(doc, headers={"Vary": "Accept"})


def _version(f: ArtifactRecord, base: str, *, abbreviated: bool) -> dict[str, Any]:
    manifest = dict(f.manifest or {})
    dist = {
        "tarball": f"{base}/{f.filename.rpartition('/')[2]}",
        "integrity": f.integrity,
        "shasum": f.shasum,
    }
    if abbreviated:
        doc = {k: manifest[k] for k in _INSTALL_FIELDS if k in manifest}
        scripts = manifest.get("scripts")
        if isinstance(scripts, dict) and any(s in scripts for s in _INSTALL_SCRIPTS):
            doc["hasInstallScript"] = True
    else:
        doc = manifest
        doc["_id"] = f"{f.name}@{f.version}"
    doc["name"], doc["version"], doc["dist"] = f.name, f.version, dist
    return doc
