"""What both download backends share: batches, the cache check, one download per file.

A backend (the native :class:`~ferry.fetch.engine.Fetcher`, or
:class:`~ferry.fetch.aria2.Aria2Fetcher`) subclasses :class:`Dispatcher` and implements
:meth:`Dispatcher._obtain`: get one file into place. Everything around it is here, once:
deduplicating a batch, answering from the content store, reporting to the listener,
turning failures into report entries, and letting two callers that want the same file at
the same time share one download.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from tenacity import wait_exponential_jitter

from ferry.egress import EgressPolicy, EgressRefused
from ferry.errors import FerryError, FetchError, Hint, LocalWriteError
from ferry.fetch.control import Batch, Cancelled, current_batch
from ferry.fetch.failures import redact
from ferry.fetch.progress import NullProgress, ProgressListener
from ferry.fetch.request import FetchReport, FetchRequest, FetchResult
from ferry.fetch.slots import PrioritySlots
from ferry.fetch.transfer import Segmenting
from ferry.store.cas import ContentStore, check_digest

__all__ = ["Dispatcher"]

# Longer than this and a stuck download would look like a hang to the user.
_MAX_WAIT_S = 30.0


class Dispatcher:
    """The batch-level half of a download backend; see the module docstring."""

    # A service task's egress policy (``ferry.egress``): URLs it refuses are never tried.
    policy: EgressPolicy | None = None

    def __init__(
        self,
        store: ContentStore,
        listener: ProgressListener | None,
        *,
        concurrency: int,
        retries: int,
        backoff: float,
        segmenting: Segmenting | None,
        mirrors: Mapping[str, Sequence[str]] | None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if retries < 0:
            raise ValueError(f"retries must not be negative, not {retries}")
        self._store = store
        self._listener: ProgressListener = listener or NullProgress()
        self._inflight: dict[tuple[str, str], _Shared] = {}
        self._files = PrioritySlots(concurrency)  # files in flight, by priority
        self._retries = retries
        self._wait = wait_exponential_jitter(multiplier=backoff, max=_MAX_WAIT_S, jitter=backoff)
        self._segmenting = segmenting or Segmenting()
        self._mirrors = dict(mirrors or {})

    @property
    def listener(self) -> ProgressListener:
        return self._listener

    async def fetch_all(
        self, requests: Sequence[FetchRequest], *, batch: Batch | None = None
    ) -> FetchReport:
        """Fetch every distinct file; failures are collected, never raised.

        Requests for the same file are one: only the first is fetched and reported.
        Without ``batch``, the batch of the surrounding :func:`batch_scope` applies.
        """
        batch = batch or current_batch()
        unique: dict[tuple[str, str], FetchRequest] = {}
        for request in requests:
            unique.setdefault(request.key, request)

        outcomes: dict[tuple[str, str], FetchResult | FerryError] = {}
        pending: list[FetchRequest] = []
        for key, request in unique.items():
            try:
                cached = self._cached(request)
            except FerryError as exc:
                outcomes[key] = exc
                continue
            if cached is None:
                pending.append(request)
            else:
                outcomes[key] = cached

        listener = self._listener
        # files already in place count toward the total, so that the share done is true
        in_place = sum(_size(o) for o in outcomes.values() if isinstance(o, FetchResult))
        listener.start(len(unique), sum(r.size or 0 for r in pending) + in_place)
        try:
            for key, outcome in outcomes.items():
                name = unique[key].display_name
                if isinstance(outcome, FerryError):
                    listener.file_failed(name, outcome)
                else:
                    listener.file_done(name, from_cache=True, nbytes=_size(outcome))
            # A TaskGroup, unlike gather, cancels the siblings if one hits a bug, so no
            # orphaned download keeps writing after this call has returned.
            async with asyncio.TaskGroup() as group:
                tasks = [(r.key, group.create_task(self._settle(r, batch))) for r in pending]
            outcomes.update((key, task.result()) for key, task in tasks)
        finally:
            listener.finish()

        report = FetchReport()
        for key, request in unique.items():
            outcome = outcomes[key]
            if isinstance(outcome, FerryError):
                report.failures.append((request, outcome))
            else:
                report.results.append(outcome)
        return report

    async def fetch_one(self, request: FetchRequest, *, batch: Batch | None = None) -> FetchResult:
        """Fetch a single file, raising :class:`FetchError` / :class:`IntegrityError`.

        Reports ``advance`` / ``file_done`` / ``file_failed`` but not ``start`` / ``finish``,
        which belong to whoever drives the whole batch.
        """
        batch = batch or current_batch()
        try:
            cached = self._cached(request)
        except FerryError as exc:
            self._listener.file_failed(request.display_name, exc)
            raise
        if cached is not None:
            self._listener.file_done(request.display_name, from_cache=True, nbytes=_size(cached))
            return cached
        outcome = await self._settle(request, batch)
        if isinstance(outcome, FerryError):
            raise outcome
        return outcome

    # ---- one file -----------------------------------------------------------------------

    def _cached(self, request: FetchRequest) -> FetchResult | None:
        """The result for a file already in place, None if it is not."""
        if request.digest:
            try:
                check_digest(request.digest, request.algorithm)
            except ValueError as exc:
                raise FetchError(
                    f"{request.display_name}: refusing to fetch {redact(request.url)}: {exc}",
                    context=f"fetching {request.display_name}",
                    hint=Hint("index-entry-malformed"),
                ) from exc
        elif request.dest is None:
            raise FetchError(
                f"{request.display_name}: no digest to store it under",
                context=f"fetching {request.display_name}",
            )
        if request.dest is not None:
            return None  # copied from the store, if there, by the download itself
        if not self._store.has(request.digest, request.size, request.algorithm):
            return None
        path = self._store.path_for(request.digest, request.algorithm)
        return FetchResult(request, path, 0, from_cache=True, digest=request.digest)

    async def _settle(self, request: FetchRequest, batch: Batch | None) -> FetchResult | FerryError:
        """Fetch one file and tell the listener; the error is returned, not raised."""
        name = request.display_name
        try:
            self._urls(request)  # refused before anything, local copies included
            result = await self._join(request, batch)
        except FerryError as exc:
            self._listener.file_failed(name, exc)
            return exc
        except OSError as exc:
            error = LocalWriteError(
                f"{name}: cannot write {exc.filename or self._store.root}: {exc.strerror or exc}",
                context=f"fetching {name}",
                hint=Hint("disk"),
            )
            self._listener.file_failed(name, error)
            return error
        # a copy from the store advanced nothing: its bytes are done all the same
        nbytes = _size(result) if result.from_cache else 0
        self._listener.file_done(name, from_cache=result.from_cache, nbytes=nbytes)
        return result

    async def _join(self, request: FetchRequest, batch: Batch | None) -> FetchResult:
        """Download ``request``, or wait for the download of the same file under way."""
        key = request.key
        while True:
            shared = self._inflight.get(key)
            owner = shared is None
            if shared is None:
                shared = self._inflight[key] = _Shared(
                    asyncio.create_task(self._obtain(request, batch))
                )
                shared.task.add_done_callback(self._forget(key))
            shared.waiters += 1
            try:
                result = await asyncio.shield(shared.task)
            except Cancelled:
                if owner or (batch is not None and batch.is_cancelled(key)):
                    raise
                continue  # the other batch gave it up; this one still wants it
            except asyncio.CancelledError:
                shared.waiters -= 1
                if shared.waiters == 0:
                    shared.task.cancel()
                    # Let it put its bytes and control file in order before this returns.
                    await asyncio.wait([shared.task])
                raise
            shared.waiters -= 1
            if result.request is request:
                return result
            return FetchResult(request, result.path, 0, from_cache=True, digest=result.digest)

    def _forget(self, key: tuple[str, str]) -> Callable[[asyncio.Task[FetchResult]], None]:
        def forget(_task: asyncio.Task[FetchResult]) -> None:
            self._inflight.pop(key, None)

        return forget

    async def _obtain(self, request: FetchRequest, batch: Batch | None) -> FetchResult:
        """Put one file in place (the backend's own work)."""
        raise NotImplementedError

    def _urls(self, request: FetchRequest) -> list[str]:
        """The request's URL, its mirrors, then the ``mirrors`` setting's, in that order;
        under a policy, only those it allows (EgressRefused when none is left)."""
        urls = list(request.urls)
        for prefix, alternatives in self._mirrors.items():
            for url in request.urls:
                if url.startswith(prefix):
                    urls += [alt + url[len(prefix) :] for alt in alternatives]
        urls = list(dict.fromkeys(urls))
        if self.policy is None:
            return urls
        allowed = [u for u in urls if self.policy.refusal(u) is None]
        if not allowed:
            raise EgressRefused(
                f"{request.display_name}: {self.policy.refusal(urls[0])}",
                context=f"fetching {request.display_name}",
                hint=Hint("egress"),
            )
        return allowed

    def _backoff(self, failures: int) -> float:
        """Seconds before the next try after ``failures`` in a row (exponential, jittered)."""
        return float(self._wait(_Attempt(failures)))  # type: ignore[arg-type]


class _Shared:
    """A download several callers wait for; cancelled when the last of them gives up."""

    def __init__(self, task: asyncio.Task[FetchResult]) -> None:
        self.task = task
        self.waiters = 0


class _Attempt:
    """The one field of tenacity's retry state its wait strategies read."""

    def __init__(self, number: int) -> None:
        self.attempt_number = number


def _size(result: FetchResult) -> int:
    """The size of a file in place: the index's word for it, else the file's own."""
    if result.request.size is not None:
        return result.request.size
    try:
        return result.path.stat().st_size
    except OSError:
        return 0
