"""Use cases for Node projects: resolve for a target, fetch every tarball verified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ferry.ecosystems.npm.model import NpmResolution
from ferry.ecosystems.npm.npmcli import find_npm
from ferry.ecosystems.npm.resolver import NpmContext, resolve_npm
from ferry.ecosystems.npm.sources import cached_npm_sources, with_project_registries
from ferry.fetch import FetchReport, FetchRequest
from ferry.fetch.backends import open_downloads
from ferry.fetch.http import build_client
from ferry.fetch.progress import NullProgress, ProgressListener
from ferry.manifests.confine import check_npm_urls
from ferry.manifests.npm import NpmInput, parse_npm_manifests
from ferry.services.confinement import Confinement, runner_for
from ferry.settings import Settings
from ferry.stages import Stages, no_stages
from ferry.store.cas import ContentStore
from ferry.targets import NodeTarget


@asynccontextmanager
async def open_npm_context(
    settings: Settings, confinement: Confinement | None = None
) -> AsyncIterator[NpmContext]:
    npm = find_npm(settings.npm_binary)
    sources = await asyncio.to_thread(cached_npm_sources, settings, npm)
    store = ContentStore(settings.blob_dir)
    policy = confinement.policy if confinement is not None else None
    async with (
        build_client(
            cert=sources.cafile,
            proxy=sources.proxy,
            timeout=settings.timeout,
            max_connections=max(settings.concurrency, 8),
            http2=settings.http2,
            policy=policy,
        ) as client,
        open_downloads(
            settings, store, cert=sources.cafile, proxy=sources.proxy, policy=policy
        ) as downloads,
    ):
        yield NpmContext(
            npm,
            sources,
            runner_for(settings, confinement),
            client,
            store,
            concurrency=settings.concurrency,
            downloads=downloads,
        )


async def resolve_node_project(
    settings: Settings,
    manifests: list[Path],
    target: NodeTarget,
    *,
    include_dev: bool = False,
    all_platforms: bool = False,
    ctx: NpmContext | None = None,
    sizes: bool = True,
    confinement: Confinement | None = None,
    stages: Stages = no_stages,
) -> NpmResolution:
    npm_input: NpmInput = await asyncio.to_thread(parse_npm_manifests, manifests)
    if npm_input.npmrc is not None and settings.ignore_manifest_indexes:
        npm_input.npmrc.drop_registries()
    if confinement is not None:
        # every dependency URL, git host, local path, lock `resolved` URL and .npmrc
        # registry, before npm or Ferry goes anywhere
        check_npm_urls(npm_input, confinement.policy)
    options = {"include_dev": include_dev, "all_platforms": all_platforms, "sizes": sizes}
    if ctx is not None:
        return await resolve_npm(
            _with_project(ctx, npm_input, settings), npm_input, target, stages=stages, **options
        )
    async with open_npm_context(settings, confinement) as own:
        return await resolve_npm(
            _with_project(own, npm_input, settings), npm_input, target, stages=stages, **options
        )


def _with_project(ctx: NpmContext, npm_input: NpmInput, settings: Settings) -> NpmContext:
    return replace(ctx, sources=with_project_registries(ctx.sources, npm_input.npmrc, settings))


@dataclass
class NpmFetched:
    report: FetchReport
    paths: dict[str, Path]  # lock path (node_modules/...) -> verified tarball


def tarball_requests(resolution: NpmResolution) -> list[FetchRequest]:
    requests = []
    for pkg in resolution.packages:
        if pkg.resolved is None or pkg.integrity is None:
            continue  # reported as a problem by the resolver
        requests.append(
            FetchRequest(
                url=pkg.resolved,
                digest=pkg.integrity.hex,
                name=pkg.filename,
                algorithm=pkg.integrity.algorithm,
            )
        )
    return requests


async def fetch_tarballs(
    settings: Settings,
    ctx: NpmContext,
    resolution: NpmResolution,
    listener: ProgressListener | None = None,
) -> NpmFetched:
    requests = tarball_requests(resolution)
    if ctx.downloads is not None:
        report = await ctx.downloads.fetcher(listener or NullProgress()).fetch_all(requests)
    else:
        async with open_downloads(
            settings, ctx.store, cert=ctx.sources.cafile, proxy=ctx.sources.proxy
        ) as downloads:
            report = await downloads.fetcher(listener or NullProgress()).fetch_all(requests)
    by_key = {r.request.key: r.path for r in report.results}
    paths: dict[str, Path] = {}
    for pkg in resolution.packages:
        if pkg.integrity is not None:
            path = by_key.get((pkg.integrity.algorithm, pkg.integrity.hex))
            if path is not None:
                paths[pkg.path] = path
                pkg.size = path.stat().st_size
    return NpmFetched(report, paths)
