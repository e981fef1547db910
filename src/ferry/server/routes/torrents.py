"""Peer-to-peer (seed 002): the torrents API and Ferry's tracker.

- ``GET /api/v1/torrents?repo_id&filename&commit_hash``: the torrents of a version's large
  files (``commit_hash`` a commit or version name, the default version without it; a
  ``filename`` that is asked for gets a torrent whatever its size), made on first ask;
- ``POST /api/v1/publish`` (write role): make and publish one file's torrent; an
  ``info_hash``, ``file_size`` or ``piece_length`` sent along must be what Ferry makes of
  the bytes it holds (409 otherwise), so nobody can point a swarm at other bytes;
- ``GET /api/v1/torrents/{info_hash}/torrent``: the ``.torrent``, its announce URL carrying
  the asking token as passkey and Ferry's file URL as web seed (BEP 19);
- ``GET /announce/{passkey}``: the tracker (see :mod:`ferry.p2p.tracker`). Not in the
  OpenAPI schema: BitTorrent clients speak it, in bencode, with the token in the path.
"""

from __future__ import annotations

import json
import posixpath
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ferry.auth.authenticator import Authenticator
from ferry.auth.principal import LOCAL_ADMIN
from ferry.auth.roles import Role
from ferry.db.catalog import CatalogRepository, ModelConflict, ModelNotFound, ModelRecord
from ferry.db.threads import DbThreads
from ferry.db.torrents import PeerRecord, TorrentRecord, TorrentRepository
from ferry.errors import UsageError
from ferry.models.names import check_model_id, check_path
from ferry.p2p.maker import TorrentMaker
from ferry.p2p.torrent import full_torrent, magnet_link
from ferry.p2p.tracker import AnnounceError, failure, parse_announce, reply
from ferry.server.deps import Reader, Writer, router
from ferry.server.problems import errors

__all__ = ["torrents", "tracker"]

torrents = router(tags=["p2p"], responses=errors(401, 403))
tracker = APIRouter(include_in_schema=False)

RepoType = Literal["model", "dataset"]
_TORRENT = {
    200: {
        "description": "The .torrent (bencoded).",
        "content": {"application/x-bittorrent": {"schema": {"type": "string", "format": "binary"}}},
    },
    **errors(404),
}


def _parts(
    request: Request,
) -> tuple[CatalogRepository, TorrentRepository, TorrentMaker, DbThreads]:
    state = request.app.state
    return state.catalog, state.torrents, state.torrent_maker, state.kept_db


async def _version(
    request: Request, repo_type: str, repo_id: str, commit_hash: str | None
) -> tuple[ModelRecord, Any]:
    check_model_id(repo_id)
    catalog, _, _, db = _parts(request)
    model = await db(catalog.get, repo_type, repo_id)
    if model is None:
        raise ModelNotFound(f"no {repo_type} {repo_id}")
    version = model.resolve(commit_hash or "main")
    if version is None:
        raise ModelNotFound(f"{repo_id} has no version or commit {commit_hash}")
    return model, version


def _document(request: Request, record: TorrentRecord) -> dict[str, Any]:
    name = posixpath.basename(record.path)
    return {
        "repo_id": record.model_id,
        "repo_type": record.kind,
        "filename": record.path,
        "commit_hash": record.commit,
        "info_hash": record.info_hash,
        "magnet_link": magnet_link(record.info_hash, name, record.size),
        "file_size": record.size,
        "piece_length": record.piece_length,
        "sha256": record.sha256,
        "created_at": record.created_at.isoformat(),
        "created_by": record.owner,
        "torrent_url": str(request.url_for("torrent_file", info_hash=record.info_hash)),
    }


@torrents.get(
    "/api/v1/torrents",
    summary="The torrents of a model version's files (seed 002)",
    responses=errors(400, 404),
)
async def list_torrents(
    request: Request,
    who: Reader,
    repo_id: Annotated[str, Query(max_length=200)],
    filename: Annotated[str | None, Query(max_length=1024)] = None,
    commit_hash: Annotated[str | None, Query(max_length=64)] = None,
    repo_type: RepoType = "model",
) -> dict[str, Any]:
    model, version = await _version(request, repo_type, repo_id, commit_hash)
    maker = _parts(request)[2]
    if filename is not None:
        found = version.file(check_path(filename))
        if found is None:
            raise ModelNotFound(f"{repo_id} {version.version} has no file {filename}")
        files = [found]
    else:
        files = [f for f in version.files if maker.wanted(f)]
    made = [await maker.ensure(model, version, f, owner=who.owner) for f in files]
    return {"torrents": [_document(request, r) for r in made]}


@torrents.post(
    "/api/v1/publish",
    summary="Make and publish a file's torrent (write role; seed 002)",
    responses=errors(400, 404, 409),
)
async def publish(request: Request, who: Writer) -> dict[str, Any]:
    try:
        doc = json.loads(await request.body())
    except ValueError:
        raise UsageError("the body must be JSON: {repo_id, filename, commit_hash}") from None
    if not isinstance(doc, dict):
        raise UsageError("the body must be a JSON object: {repo_id, filename, commit_hash}")
    repo_id, filename = doc.get("repo_id"), doc.get("filename")
    commit_hash, repo_type = doc.get("commit_hash"), doc.get("repo_type", "model")
    for key, value in (("repo_id", repo_id), ("filename", filename)):
        if not isinstance(value, str) or not value:
            raise UsageError(f"{key}: a string is needed")
    if commit_hash is not None and not isinstance(commit_hash, str):
        raise UsageError("commit_hash: a string")
    if repo_type not in ("model", "dataset"):
        raise UsageError("repo_type: model or dataset")
    assert isinstance(repo_id, str) and isinstance(filename, str)
    model, version = await _version(request, repo_type, repo_id, commit_hash)
    found = version.file(check_path(filename))
    if found is None:
        raise ModelNotFound(f"{repo_id} {version.version} has no file {filename}")
    made = await _parts(request)[2].ensure(model, version, found, owner=who.owner)
    said = {"info_hash": made.info_hash, "file_size": made.size, "piece_length": made.piece_length}
    for key, value in said.items():
        if key in doc and doc[key] != value:
            raise ModelConflict(
                f"{key} {str(doc[key])[:80]} is not the torrent of {repo_id} {filename} "
                f"at {version.commit}: Ferry makes {value} of the bytes it holds"
            )
    return {"success": True, "torrent": _document(request, made)}


@torrents.get(
    "/api/v1/torrents/{info_hash}/torrent",
    name="torrent_file",
    summary="A .torrent: Ferry's tracker with your token as passkey, Ferry as web seed",
    response_class=Response,
    responses=_TORRENT,
)
async def torrent_file(request: Request, info_hash: str, who: Reader) -> Response:
    del who
    _, repo, _, db = _parts(request)
    record = None
    if len(info_hash) == 40 and all(c in "0123456789abcdef" for c in info_hash):
        record = await db(repo.by_info_hash, info_hash)
    if record is None:
        raise ModelNotFound("no torrent with that info hash")
    token = _bearer(request) or "-"
    base = str(request.base_url).rstrip("/")
    prefix = "/datasets" if record.kind == "dataset" else ""
    path = f"{prefix}/{quote(record.model_id)}/resolve/{record.commit}/{quote(record.path)}"
    # BitTorrent clients send no headers of their own to a web seed: the token goes as the
    # URL's user name, which they send as HTTP Basic, as the file routes accept it
    scheme, _, host = base.partition("://")
    web_seed = (
        f"{scheme}://ferry:{quote(token, safe='')}@{host}{path}" if token != "-" else base + path
    )
    body = full_torrent(record.info, announce=f"{base}/announce/{token}", web_seed=web_seed)
    name = posixpath.basename(record.path)
    return Response(
        body,
        media_type="application/x-bittorrent",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.torrent"},
    )


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


@tracker.get("/announce/{passkey}")
async def announce(request: Request, passkey: str) -> Response:
    state = request.app.state
    settings = state.settings
    if settings.no_auth:
        principal = LOCAL_ADMIN
    else:
        auth: Authenticator = state.auth
        found = await auth.authenticate(passkey) if len(passkey) <= 200 else None
        if found is None:
            return _fail("the passkey is no Ferry token: fetch the .torrent again", 401)
        principal = found
    if not principal.role.allows(Role.READ):
        return _fail("this token may not read", 403)
    try:
        said = parse_announce(request.scope.get("query_string", b""))
    except AnnounceError as exc:
        return _fail(str(exc))
    repo: TorrentRepository = state.torrents
    db: DbThreads = state.kept_db
    if await db(repo.by_info_hash, said.info_hash) is None:
        return _fail("Ferry made no torrent with this info hash")
    if request.client is None:
        return _fail("no peer address")
    peer = PeerRecord(said.peer_id, request.client.host, said.port, said.left)
    interval = settings.tracker_interval
    swarm = await db.write(
        lambda: repo.announce(
            said.info_hash,
            peer,
            uploaded=said.uploaded,
            downloaded=said.downloaded,
            owner=principal.owner,
            stopped=said.event == "stopped",
            ttl=timedelta(seconds=3 * interval),
            want=said.want,
        )
    )
    body = reply(
        [(p.ip, p.port) for p in swarm.peers],
        complete=swarm.complete,
        incomplete=swarm.incomplete,
        interval=interval,
    )
    return Response(body, media_type="text/plain")


def _fail(reason: str, status: int = 200) -> Response:
    # BEP 3: a tracker's refusal is a bencoded failure reason (with 200, which every
    # client reads); refusals of the token keep their HTTP status as every route does
    return Response(failure(reason), status_code=status, media_type="text/plain")
