"""``/api/registry/packages``: what the far side's registries hold, for people (the UI's
Browse page) rather than for pip and npm.

The list is paged and searched by the database; each package's latest version is the
ecosystem's own (:mod:`ferry.registry.versions`). A package's page has every version with
its files, the import that brought each, and the URLs pip, uv and npm are pointed at,
relative to the server (a proxy in front may change the origin, never the path). npm's
scoped names work in the path as they are (``/api/registry/packages/npm/@scope/name``) or
escaped as npm escapes them (``@scope%2fname``); a PyPI name in any spelling finds its
normalized project.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Path as PathParam
from fastapi import Query, Request
from packaging.utils import canonicalize_name

from ferry.db.artifacts import ArtifactRepository, HeldFile
from ferry.db.threads import DbThreads
from ferry.registry.versions import latest, newest_first
from ferry.server.deps import Reader, router
from ferry.server.problems import errors
from ferry.server.routes.simple import ProjectNotFound
from ferry.server.schemas import (
    RegistryFile,
    RegistryInstall,
    RegistryPackage,
    RegistryPackageDetail,
    RegistryPackageList,
    RegistryVersion,
)

__all__ = ["PREFIX", "browse"]

PREFIX = "/api/registry/packages"
Ecosystem = Literal["pypi", "npm"]

browse = router(prefix=PREFIX, tags=["registries"], responses=errors(401, 403))


def _repo(request: Request) -> tuple[ArtifactRepository, DbThreads]:
    return request.app.state.artifacts, request.app.state.kept_db


@browse.get("", responses=errors(422))
async def list_held(
    request: Request,
    who: Reader,
    ecosystem: Annotated[Ecosystem | None, Query(description="Both when left out.")] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Anywhere in the name, case ignored.")
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RegistryPackageList:
    """The packages the registries hold, by name: versions, the latest, files, bytes."""
    del who
    artifacts, db = _repo(request)
    found, total = await db(
        artifacts.browse,
        ecosystem,
        (q or "").strip() or None,
        offset=(page - 1) * per_page,
        limit=per_page,
    )
    return RegistryPackageList(
        packages=[
            RegistryPackage(
                ecosystem=p.ecosystem,  # type: ignore[arg-type]
                name=p.name,
                version_count=len(p.versions),
                latest_version=latest(p.ecosystem, p.versions),
                file_count=p.file_count,
                total_size=p.total_size,
            )
            for p in found
        ],
        total=total,
        page=page,
        per_page=per_page,
    )


@browse.get("/{ecosystem}/{name:path}", responses=errors(404, 422))
async def held_package(
    request: Request,
    who: Reader,
    ecosystem: Ecosystem,
    name: Annotated[
        str,
        PathParam(
            max_length=214,
            description="PyPI: any spelling of the name; npm: the name, a scoped one as "
            "@scope/name or @scope%2fname.",
        ),
    ],
) -> RegistryPackageDetail:
    """One package: every version (newest first) with its files and the import that
    brought each, and where pip, uv or npm find it."""
    del who
    artifacts, db = _repo(request)
    held = canonicalize_name(name) if ecosystem == "pypi" else name
    files = await db(artifacts.project_files, ecosystem, held)
    if not files:
        raise ProjectNotFound(request.url.path)
    by_version: dict[str, list[HeldFile]] = {}
    for f in files:
        by_version.setdefault(f.artifact.version, []).append(f)
    ordered = newest_first(ecosystem, by_version)
    return RegistryPackageDetail(
        ecosystem=ecosystem,
        name=held,
        version_count=len(ordered),
        latest_version=latest(ecosystem, ordered),
        file_count=len(files),
        total_size=sum(f.artifact.size for f in files),
        versions=[
            RegistryVersion(version=v, files=[_file(ecosystem, f) for f in by_version[v]])
            for v in ordered
        ],
        install=_install(ecosystem, held),
    )


def _install(ecosystem: Ecosystem, name: str) -> RegistryInstall:
    if ecosystem == "pypi":
        return RegistryInstall(index_url="/simple/", package_url=f"/simple/{quote(name)}/")
    return RegistryInstall(index_url="/npm/", package_url=f"/npm/{quote(name, safe='@/')}")


def _file(ecosystem: Ecosystem, held: HeldFile) -> RegistryFile:
    a = held.artifact
    if ecosystem == "pypi":
        url = f"/files/pypi/{a.sha256}/{quote(a.filename)}"
    else:  # the registry's tarball path: <name>/-/<tarball>
        url = f"/npm/{quote(a.filename, safe='@/')}"
    return RegistryFile(
        filename=a.filename if ecosystem == "pypi" else a.filename.rpartition("/")[2],
        size=a.size,
        sha256=a.sha256,
        yanked=a.yanked,
        upload_time=a.upload_time,
        requires_python=a.requires_python,
        url=url,
        import_id=a.import_id,
        import_filename=held.import_filename,
        imported_at=held.imported_at.isoformat(),
    )
