"""Use cases shared by the CLI and (later) the API: resolve Python manifests, bundle them."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from ferry.ecosystems.npm.model import NpmResolution
from ferry.ecosystems.pypi.index import IndexClient
from ferry.ecosystems.pypi.metacache import MetadataCache
from ferry.ecosystems.pypi.model import ArtifactFile, Resolution
from ferry.ecosystems.pypi.options import PythonOptions
from ferry.ecosystems.pypi.resolver import ResolveContext, annotate, choose, resolve
from ferry.ecosystems.pypi.sources import IndexSources, discover_sources
from ferry.ecosystems.pypi.uv import find_uv
from ferry.errors import ExitCode, FerryError, Hint
from ferry.fetch import FetchReport, FetchRequest
from ferry.fetch.backends import Downloader, Downloads, open_downloads
from ferry.fetch.http import build_client
from ferry.fetch.progress import NullProgress, ProgressListener
from ferry.manifests import RUNTIME_ONLY, parse_manifests
from ferry.manifests.confine import check_python_urls
from ferry.manifests.model import TRUSTED, PythonInput, Selection
from ferry.services.confinement import Confinement, runner_for
from ferry.settings import Settings
from ferry.stages import Stages, no_stages
from ferry.store.cas import ContentStore
from ferry.targets import PythonTarget


@dataclass
class ResolveOutcome:
    pyinput: PythonInput
    resolution: Resolution
    sources: IndexSources
    seconds: float = 0.0
    options: PythonOptions = field(default_factory=PythonOptions)


@dataclass
class BundleOutcome:
    resolve: ResolveOutcome | None  # the Python half, when there is one
    archive: Path
    archive_size: int
    files: int
    bytes_fetched: int
    from_cache: int
    timings: dict[str, float] = field(default_factory=dict)
    npm: NpmResolution | None = None
    archive_sha256: str = ""
    # a delta bundle's files left out (the far side holds them): how many, how many bytes
    present_files: int = 0
    present_bytes: int = 0


def _sources_for(settings: Settings, pyinput: PythonInput) -> IndexSources:
    """Machine configuration, then the manifests' own index lines (as pip applies them),
    with Ferry's settings above both."""
    sources = discover_sources(settings)
    if settings.index_url is None and pyinput.index_url:
        sources = replace(
            sources,
            index_url=pyinput.index_url.rstrip("/") + "/",
            origin={**sources.origin, "index_url": "manifest"},
        )
    extra = tuple(u.rstrip("/") + "/" for u in pyinput.extra_index_urls)
    links = tuple(pyinput.find_links)
    if extra or links:
        sources = replace(
            sources,
            extra_index_urls=tuple(dict.fromkeys(sources.extra_index_urls + extra)),
            find_links=tuple(dict.fromkeys(sources.find_links + links)),
            strategy="unsafe-best-match" if extra else sources.strategy,
        )
    return sources


class Session:
    """What one resolve/bundle run holds open: the HTTP client, the store, the fetcher."""

    def __init__(
        self,
        settings: Settings,
        sources: IndexSources,
        client: httpx.AsyncClient,
        downloads: Downloads,
        store: ContentStore,
        confinement: Confinement | None = None,
    ) -> None:
        self.settings = settings
        self.confinement = confinement
        self.sources = sources
        self.client = client
        self.downloads = downloads
        self.store = store
        self.index = IndexClient(client, retries=settings.retries)
        self.fetcher = self.make_fetcher()
        # Files the resolver had to download (no PEP 658 metadata, sdists): they count as
        # fetched by this run, not as found in the cache, when the bundle is made.
        self.fetched_during_resolve: dict[str, int] = {}

    def make_fetcher(self, listener: ProgressListener | None = None) -> Downloader:
        return self.downloads.fetcher(listener)

    async def get_file(self, file: ArtifactFile, name: str) -> Path:
        result = await self.fetcher.fetch_one(
            FetchRequest(url=file.url, digest=file.sha256, size=file.size, name=file.filename)
        )
        if not result.from_cache:
            self.fetched_during_resolve[file.sha256] = result.bytes_fetched
        return result.path

    def local_file(self, sha256: str) -> Path | None:
        return self.store.path_for(sha256) if self.store.has(sha256) else None

    def context(self, options: PythonOptions | None = None) -> ResolveContext:
        confinement = self.confinement
        return ResolveContext(
            options=options or PythonOptions(),
            uv=find_uv(self.settings.uv_binary),
            sources=self.sources,
            runner=runner_for(self.settings, confinement),
            builds=confinement is None or confinement.builds,
            index=self.index,
            metadata_cache=MetadataCache(self.settings.cache_dir / "metadata"),
            get_file=self.get_file,
            local_file=self.local_file,
            lazy_metadata_min_bytes=self.settings.metadata_range_min_bytes,
            http_retries=self.settings.retries,
        )


@asynccontextmanager
async def open_session(
    settings: Settings, sources: IndexSources, confinement: Confinement | None = None
) -> AsyncIterator[Session]:
    policy = confinement.policy if confinement is not None else None
    store = ContentStore(settings.blob_dir)
    # A killed run leaves staging files behind; an hour is longer than any single download.
    await asyncio.to_thread(store.clean_staging)
    async with (
        build_client(
            cert=sources.cert,
            proxy=sources.proxy,
            timeout=settings.timeout,
            max_connections=max(settings.concurrency, 8),
            http2=settings.http2,
            policy=policy,
        ) as client,
        open_downloads(
            settings, store, cert=sources.cert, proxy=sources.proxy, policy=policy
        ) as downloads,
    ):
        yield Session(settings, sources, client, downloads, store, confinement)


async def resolve_python(
    settings: Settings,
    manifests: list[Path],
    targets: list[PythonTarget],
    selection: Selection = RUNTIME_ONLY,
    *,
    session: Session | None = None,
    groups_elsewhere: frozenset[str] = frozenset(),
    confinement: Confinement | None = None,
    options: PythonOptions | None = None,
    stages: Stages = no_stages,
) -> ResolveOutcome:
    pyinput = await _read(
        manifests, selection, groups_elsewhere, confinement, settings.ignore_manifest_indexes
    )
    sources = _sources_for(settings, pyinput)
    chosen = (options or PythonOptions()).over(pyinput.file_options)
    started = time.perf_counter()
    if session is not None:
        resolution = await resolve(session.context(chosen), pyinput, targets, stages)
    else:
        async with open_session(settings, sources, confinement) as own:
            resolution = await resolve(own.context(chosen), pyinput, targets, stages)
    return ResolveOutcome(pyinput, resolution, sources, time.perf_counter() - started, chosen)


@dataclass
class PythonPrepared:
    """The Python half of a bundle: resolved, every file fetched and verified."""

    outcome: ResolveOutcome
    paths: dict[str, Path]  # sha256 -> verified file
    reports: list[FetchReport]
    fetched_during_resolve: dict[str, int]

    @property
    def bytes_fetched(self) -> int:
        return sum(r.bytes_fetched for r in self.reports) + sum(
            self.fetched_during_resolve.values()
        )

    @property
    def from_cache(self) -> int:
        return sum(r.from_cache for r in self.reports)


async def prepare_python(
    settings: Settings,
    manifests: list[Path],
    targets: list[PythonTarget],
    selection: Selection,
    *,
    listener: ProgressListener | None,
    announce: Callable[[str], None],
    timings: dict[str, float],
    groups_elsewhere: frozenset[str] = frozenset(),
    confinement: Confinement | None = None,
    options: PythonOptions | None = None,
) -> PythonPrepared:
    """Resolve, then fetch every chosen file into the store (verified).

    Raises ResolutionFailed when resolution has errors: a bundle that cannot install is
    worse than none.
    """
    t0 = time.perf_counter()
    pyinput = await _read(
        manifests, selection, groups_elsewhere, confinement, settings.ignore_manifest_indexes
    )
    sources = _sources_for(settings, pyinput)
    chosen = (options or PythonOptions()).over(pyinput.file_options)
    async with open_session(settings, sources, confinement) as session:
        ctx = session.context(chosen)
        # Versions and files first, then every file at once (with the progress bars), and
        # the tree last, read from the verified files: no metadata round trips per package.
        resolution = await choose(ctx, pyinput, targets)
        timings["resolve"] = timings.get("resolve", 0.0) + time.perf_counter() - t0
        _stop_on_errors(ResolveOutcome(pyinput, resolution, sources, timings["resolve"], chosen))
        announce("fetching pypi")
        fetcher = session.make_fetcher(listener or NullProgress())
        t1 = time.perf_counter()
        reports = [await fetcher.fetch_all(_requests(resolution.unique_files(), set()))]
        timings["fetch"] = timings.get("fetch", 0.0) + time.perf_counter() - t1
        reports[-1].raise_for_failures()

        announce("resolving")
        t2 = time.perf_counter()
        await annotate(ctx, pyinput, resolution)
        timings["resolve"] += time.perf_counter() - t2
        outcome = ResolveOutcome(pyinput, resolution, sources, timings["resolve"], chosen)
        _stop_on_errors(outcome)
        files = resolution.unique_files()
        done = {r.request.digest for r in reports[0].results}
        if set(files) - done:  # the build backends of sdists, found while annotating
            announce("fetching pypi")
            t3 = time.perf_counter()
            reports.append(await fetcher.fetch_all(_requests(files, done)))
            timings["fetch"] += time.perf_counter() - t3
            reports[-1].raise_for_failures()
    paths = {r.request.digest: r.path for report in reports for r in report.results}
    paths.update({sha: session.store.path_for(sha) for sha in session.fetched_during_resolve})
    return PythonPrepared(outcome, paths, reports, session.fetched_during_resolve)


async def _read(
    manifests: list[Path],
    selection: Selection,
    groups_elsewhere: frozenset[str],
    confinement: Confinement | None,
    ignore_indexes: bool = False,
) -> PythonInput:
    """The manifests parsed (by a service task's rules), every place they name checked
    against the task's egress policy before anything is fetched."""
    rules = confinement.rules if confinement is not None else TRUSTED
    pyinput = await asyncio.to_thread(
        functools.partial(
            parse_manifests, manifests, selection, elsewhere=groups_elsewhere, rules=rules
        )
    )
    if ignore_indexes:
        pyinput.drop_indexes()
    if confinement is not None:
        check_python_urls(pyinput, confinement.policy)
    return pyinput


def _requests(files: dict[str, ArtifactFile], skip: set[str]) -> list[FetchRequest]:
    return [
        FetchRequest(url=f.url, digest=sha, size=f.size, name=f.filename)
        for sha, f in sorted(files.items(), key=lambda kv: kv[1].filename)
        if sha not in skip
    ]


def _stop_on_errors(outcome: ResolveOutcome) -> None:
    if outcome.resolution.has_errors:
        first = next(p for p in outcome.resolution.all_problems if p.severity == "error")
        failure = IndexUnreachable if outcome.resolution.unreachable else ResolutionFailed
        raise failure(outcome, first.message)


class ResolutionFailed(FerryError):
    """Bundling stopped because resolution reported errors; carries them for display."""

    code = "resolution-failed"
    exit_code = ExitCode.RESOLUTION

    def __init__(
        self, outcome: ResolveOutcome | None, message: str, npm: NpmResolution | None = None
    ) -> None:
        super().__init__(message, hint=Hint("resolve-cli"))
        self.outcome = outcome
        self.npm = npm


class IndexUnreachable(ResolutionFailed):
    """Resolution stopped because an index could not be reached: the network's failure,
    not the manifests'."""

    code = "index-unreachable"
    exit_code = ExitCode.NETWORK
