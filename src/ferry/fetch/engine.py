"""The async download engine: many files, concurrently, into the content store.

For each file the engine looks in the content store first, then joins a download of the
same file already under way (in this process, or, through a lock file, in another), and
only then downloads it: from its URL, falling back to its mirrors in order, through a
:class:`~ferry.fetch.transfer.Transfer` that streams (large files over several
connections) into a partial file on disk while :class:`~ferry.fetch.hashing.FollowingHash`
hashes it. Only bytes whose digest and size match what was promised are moved into place
(fsync, then an atomic rename); a mismatch is an :class:`IntegrityError`, never retried,
and its bytes are deleted. A download that fails for any other reason, is paused, or is
killed keeps its bytes and control file, and the next attempt resumes from them.

Connections are limited globally and per host and handed out by priority; files in
flight are limited by ``concurrency``; bandwidth by a global and a per-batch limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from ferry.errors import FetchError, IntegrityError
from ferry.fetch.control import Batch, Cancelled, Paused
from ferry.fetch.dispatch import Dispatcher
from ferry.fetch.hashing import FollowingHash
from ferry.fetch.local import copy_in, local_source
from ferry.fetch.partial import PartialBusy, PartialFile
from ferry.fetch.progress import ProgressListener
from ferry.fetch.ratelimit import shared_limit
from ferry.fetch.request import FetchReport, FetchRequest, FetchResult
from ferry.fetch.slots import SlotPool
from ferry.fetch.transfer import Segmenting, Transfer
from ferry.fetch.verify import check, digest_algorithm, hash_file
from ferry.fetch.wire import Wire, as_wire
from ferry.store.cas import ContentStore

if TYPE_CHECKING:
    import httpx

__all__ = ["FetchReport", "FetchRequest", "FetchResult", "Fetcher", "Segmenting"]

_PART_SUFFIX = ".ferry-part"


class Fetcher(Dispatcher):
    """Fetches :class:`FetchRequest` s into a :class:`ContentStore` (or to their ``dest``)
    over ``session``: an aiohttp session (see :func:`ferry.fetch.session.open_session`),
    or an httpx client, which speaks HTTP/2 where the server offers it.

    One ``Fetcher`` belongs to one event loop; calls running at once share its limits,
    and two calls wanting the same file share one download of it.
    """

    def __init__(
        self,
        store: ContentStore,
        session: aiohttp.ClientSession | httpx.AsyncClient | Wire,
        *,
        concurrency: int = 16,
        retries: int = 4,
        backoff: float = 0.5,
        listener: ProgressListener | None = None,
        segmenting: Segmenting | None = None,
        max_connections: int | None = None,
        max_connections_per_host: int | None = None,
        rate_limit: float | None = None,
        mirrors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(
            store,
            listener,
            concurrency=concurrency,
            retries=retries,
            backoff=backoff,
            segmenting=segmenting,
            mirrors=mirrors,
        )
        self._wire = as_wire(session)
        connections = max_connections or max(concurrency, self._segmenting.connections)
        self._pool = SlotPool(connections, max_connections_per_host or connections)
        # One limit for the whole process: every engine (each task's) shares it.
        self._limit = shared_limit(rate_limit) if rate_limit else None
        self._dirs: set[Path] = set()

    async def _obtain(self, request: FetchRequest, batch: Batch | None) -> FetchResult:
        name = request.display_name
        reported = False  # the bytes on disk were shown to the listener before a pause
        while True:
            if batch is not None:
                try:
                    await batch.wait_until_runnable(request.key, name)
                except Cancelled:
                    # Cancelled while paused: its bytes on disk go too.
                    self._discard_partial(request)
                    raise
            async with self._files.hold(request.priority):
                # Waiting for a slot can take a while; someone else may have stored it.
                cached = self._cached(request)
                if cached is not None:
                    return cached
                try:
                    return await self._download(request, batch, reported=reported)
                except Paused:
                    reported = True
                    continue  # give the slot back until the batch resumes

    def _discard_partial(self, request: FetchRequest) -> None:
        path = self._partial_path(request)
        try:
            partial = PartialFile.open(path, "|".join(request.key))
        except (PartialBusy, FileNotFoundError):
            return
        self._listener.advance(request.display_name, -partial.kept)
        partial.discard()

    async def _download(
        self, request: FetchRequest, batch: Batch | None, *, reported: bool = False
    ) -> FetchResult:
        store = self._store
        in_store = request.digest and store.has(request.digest, request.size, request.algorithm)
        if request.dest is not None and in_store:
            blob = store.path_for(request.digest, request.algorithm)
            return await copy_in(store, request, blob, self._listener, cached=True)
        # under a policy a local path is only read when the operator configured its place
        local = self.policy is None or self.policy.refusal(request.url) is None
        source = local_source(request) if local else None
        if source is not None:
            return await copy_in(store, request, source, self._listener, cached=False)
        partial_path = self._partial_path(request)
        self._ensure_dir(partial_path.parent)
        while True:
            try:
                partial = PartialFile.open(partial_path, "|".join(request.key))
                break
            except PartialBusy:
                # Another process (the server and a CLI run sharing a store) is fetching
                # the same file: wait for it, then take its result.
                await asyncio.sleep(0.2)
                done = await self._finished_elsewhere(request)
                if done is not None:
                    return done
        return await self._fetch_http(request, partial, batch, reported=reported)

    async def _finished_elsewhere(self, request: FetchRequest) -> FetchResult | None:
        if request.dest is None:
            return self._cached(request)
        dest = request.dest
        if not dest.is_file() or dest.with_name(dest.name + _PART_SUFFIX).exists():
            return None
        algorithm = digest_algorithm(request)
        digest, _size = await asyncio.to_thread(hash_file, dest, algorithm)
        if request.digest and digest != request.digest:
            return None
        return FetchResult(request, dest, 0, from_cache=True, digest=digest)

    def _ensure_dir(self, folder: Path) -> None:
        if folder not in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(folder)

    def _partial_path(self, request: FetchRequest) -> Path:
        if request.dest is not None:
            return request.dest.with_name(request.dest.name + _PART_SUFFIX)
        return self._store.root / "partial" / f"{request.algorithm}-{request.digest}"

    async def _fetch_http(
        self,
        request: FetchRequest,
        partial: PartialFile,
        batch: Batch | None,
        *,
        reported: bool = False,
    ) -> FetchResult:
        name = request.display_name
        algorithm = digest_algorithm(request)
        hasher = FollowingHash(partial, algorithm)
        kept = partial.kept
        if kept:
            if not reported:
                self._listener.advance(name, kept)
            hasher.catch_up()  # hash what a previous run left while this one goes on
        limits = [limit for limit in (self._limit, batch.limit if batch else None) if limit]
        keep = False
        try:
            errors: list[FetchError] = []
            for url in self._urls(request):
                transfer = Transfer(
                    wire=self._wire,
                    pool=self._pool,
                    url=url,
                    name=name,
                    key=request.key,
                    size=request.size,
                    partial=partial,
                    hasher=hasher,
                    listener=self._listener,
                    limits=limits,
                    batch=batch,
                    retries=self._retries,
                    backoff=self._backoff,
                    segmenting=self._segmenting,
                    needs_validator=not request.digest,
                    priority=request.priority,
                )
                try:
                    await transfer.run()
                    break
                except IntegrityError:
                    raise
                except (Paused, Cancelled):
                    raise
                except FetchError as exc:
                    errors.append(exc)
            else:
                keep = True
                raise _all_failed(errors)
            digest = await hasher.hexdigest()
            size = partial.total if partial.total is not None else partial.kept
            check(request, size, algorithm, digest)
            dest = request.dest or self._store.path_for(request.digest, request.algorithm)
            fetched = size - kept
            await asyncio.to_thread(partial.finish, dest)
            return FetchResult(request, dest, max(fetched, 0), from_cache=False, digest=digest)
        except Paused:
            keep = True
            raise
        except IntegrityError:
            self._listener.advance(name, -partial.kept)
            raise
        except Cancelled:
            self._listener.advance(name, -partial.kept)
            raise
        except asyncio.CancelledError:
            keep = True
            raise
        finally:
            await hasher.aclose()
            if keep and partial.kept:
                partial.save(force=True)
                partial.close()
            elif not partial.closed:  # not finished: its bytes go
                partial.discard()


def _all_failed(errors: list[FetchError]) -> FetchError:
    first = errors[0]
    if len(errors) == 1:
        return first
    others = "; ".join(e.message for e in errors[1:])
    return type(first)(
        f"{first.message} (mirrors failed too: {others})", context=first.context, hint=first.hint
    )
