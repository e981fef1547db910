"""A Hugging Face–compatible endpoint on each node (``ferry agent serve``), so programs that
use ``huggingface_hub`` get the agent's bytes with no change but ``HF_ENDPOINT``:

    HF_ENDPOINT=http://127.0.0.1:8765 HF_TOKEN=$READ_TOKEN python serve_model.py

What the client asks about a repository (model info, the tree, paths-info, a file's
``HEAD``) goes to the Ferry service with the client's own token, and the service's answer
comes back as it was: Ferry decides who may read what, and what a revision is. A file's
``GET`` is asked of the service the same way (``HEAD``), then answered from this node: the
version is installed first (through the swarm with ``--p2p``, each file checked against the
catalog), then the file is served from local disk, Range and all, with the service's
headers (``X-Repo-Commit``, ``ETag``, ``X-Linked-*``). Datasets are passed through. With a
swarm, the node also seeds what it holds for as long as the endpoint runs.

It listens on 127.0.0.1 unless told otherwise: it is the node's own door, for the node's
programs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from ferry.agent.agent import Agent
from ferry.errors import FerryError, FetchError
from ferry.models.names import ModelNameError, check_model_id, check_path

__all__ = ["make_hub"]

log = logging.getLogger(__name__)

# what the service says of a file that the node's answer carries on
_KEPT_HEADERS = (
    "etag",
    "x-repo-commit",
    "x-linked-etag",
    "x-linked-size",
    "content-disposition",
    "accept-ranges",
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


def make_hub(agent: Agent) -> Starlette:
    client = httpx.AsyncClient(timeout=httpx.Timeout(60, read=600))

    def upstream_url(request: Request) -> str:
        """The service's URL of what was asked: always the service's own host, whatever a
        client wrote as its request target (an absolute one included)."""
        raw = request.scope["raw_path"].decode("latin-1")
        if not raw.startswith("/"):
            raw = "/" + raw.split("://", 1)[-1].partition("/")[2]
        return f"{agent.server}/{raw.lstrip('/')}"

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # with a swarm, the node serves its models to the other nodes while it runs
        stop = asyncio.Event()
        seeding = asyncio.create_task(agent.seed(stop=stop)) if agent.swarm else None
        try:
            yield
        finally:
            stop.set()
            if seeding is not None:
                await asyncio.gather(seeding, return_exceptions=True)
            await client.aclose()

    async def forward(request: Request) -> Response:
        """The service's answer to the same request, with the client's own token."""
        headers = _pass_headers(request)
        body = await request.body()
        query = request.url.query
        upstream = client.build_request(
            request.method,
            upstream_url(request) + (f"?{query}" if query else ""),
            headers=headers,
            content=body or None,
        )
        answer = await client.send(upstream, stream=True)
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP},
            background=BackgroundTask(answer.aclose),
        )

    async def resolve(request: Request) -> Response:
        found = _model_file(request.scope["raw_path"].decode("latin-1"))
        if request.method == "HEAD" or found is None:
            return await forward(request)
        repo, path = found
        head = await client.head(upstream_url(request), headers=_pass_headers(request))
        if head.status_code >= 400:
            return Response(
                head.content,
                status_code=head.status_code,
                headers={k: v for k, v in head.headers.items() if k.lower() not in _HOP},
            )
        commit = head.headers.get("x-repo-commit", "")
        try:
            local = await _installed(agent, repo, commit, path)
        except FerryError as exc:
            log.warning("%s@%s: %s; from the service instead", repo, commit, exc.message)
            return await forward(request)
        kept = {k: v for k, v in head.headers.items() if k.lower() in _KEPT_HEADERS}
        return FileResponse(local, headers=kept, media_type="application/octet-stream")

    return Starlette(
        routes=[
            Route("/api/{rest:path}", forward, methods=["GET", "POST", "HEAD"]),
            Route("/{rest:path}", resolve, methods=["GET", "HEAD"]),
        ],
        lifespan=lifespan,
    )


def _pass_headers(request: Request) -> dict[str, str]:
    wanted = ("authorization", "range", "if-none-match", "if-range", "accept", "content-type")
    return {k: v for k, v in request.headers.items() if k.lower() in wanted}


def _model_file(raw_path: str) -> tuple[str, str] | None:
    """(repo, file path) of ``/{repo}/resolve/{revision}/{path}``; None for anything else
    (datasets too: they come from the service)."""
    parts = [unquote(p) for p in raw_path.split("?")[0].strip("/").split("/")]
    if "resolve" not in parts[:3] or parts[0] == "datasets":
        return None
    at = parts.index("resolve")
    repo, rest = "/".join(parts[:at]), parts[at + 2 :]
    try:
        check_model_id(repo)
        path = check_path("/".join(rest))
    except (ModelNameError, FerryError):
        return None
    return repo, path


async def _installed(agent: Agent, repo: str, commit: str, path: str) -> Path:
    """The local file ``path`` of the version whose commit is ``commit``, installed first
    if it is not here yet."""
    doc: dict[str, Any] = await agent.catalog(repo)
    version = next(
        (v["version"] for v in doc.get("versions", []) if v.get("commit") == commit), None
    )
    if version is None:  # published since the cached answer: ask again
        doc = await agent.catalog(repo, refresh=True)
        version = next(
            (v["version"] for v in doc.get("versions", []) if v.get("commit") == commit), None
        )
    if version is None:
        raise FetchError(f"no version of {repo} has commit {commit}")
    entry = await agent.install(repo, version)
    if entry.status != "ready":
        raise FetchError(f"{repo} {version} is {entry.status}: {entry.error}")
    local = Path(entry.path) / path
    if not local.is_file():
        raise FetchError(f"{repo} {version} has no file {path}")
    return local
