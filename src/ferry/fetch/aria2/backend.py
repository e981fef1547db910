"""The aria2 download backend: :class:`Aria2Fetcher`, the native engine's twin over aria2c.

Same public methods, events and guarantees as :class:`ferry.fetch.engine.Fetcher`; only
the HTTP transfer is aria2's. For each file: the content store first (a cache hit makes no
aria2 call), then a download of the same file already under way is joined, then the file
is handed to aria2 (``aria2.addUri``: the URL and its mirrors, ``checksum`` so aria2
verifies too, a partial file under ``store.root / "aria2"`` or next to ``dest``). One
``system.multicall`` of ``aria2.tellStatus`` a few times a second follows every download;
``completedLength`` becomes ``advance`` events. A finished file is hashed again here and
only then fsynced and renamed into place; a mismatch is an :class:`IntegrityError` and its
bytes are deleted.

Retries are Ferry's, as in the native engine: aria2 gives up on the first failure, and a
transient one (a 5xx, a timeout, a reset) is submitted again after a back-off, resuming
from the bytes and control file aria2 left on disk. A batch is paused, resumed and
cancelled with ``aria2.forcePause`` / ``aria2.unpause`` / ``aria2.forceRemove``. If the
daemon dies, it is restarted and the unfinished downloads are submitted again.

What aria2 cannot do that the native engine does: hand out connections by priority
(here the priority only orders which files are handed to aria2 first), cap connections
per host across files, send ``If-Range`` (a file changed on the server mid-download is
caught by the digest, as an error, instead of restarted), share one bandwidth limit
between a batch's files by demand (each running file gets an equal share instead),
honour ``Retry-After``, or keep mirrors strictly for failures (a split download may use
a mirror alongside the primary URL). It fetches neither ``file://`` URLs nor local
paths: those are copied here, as the native engine does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from ferry.egress import EgressRefused, origin_of
from ferry.errors import FerryError, FetchError, Hint, IntegrityError
from ferry.fetch.aria2.controlfile import control_path, kept_bytes
from ferry.fetch.aria2.daemon import Aria2Daemon, DaemonOptions
from ferry.fetch.aria2.failures import Kind, classify
from ferry.fetch.aria2.monitor import Status, StatusMonitor
from ferry.fetch.aria2.rpc import RPCError, RPCUnavailable
from ferry.fetch.control import Batch, Cancelled, Paused
from ferry.fetch.dispatch import Dispatcher
from ferry.fetch.failures import integrity_error, redact
from ferry.fetch.local import copy_in, local_source
from ferry.fetch.partial import PartialBusy, PartialFile
from ferry.fetch.progress import ProgressListener
from ferry.fetch.request import FetchRequest, FetchResult
from ferry.fetch.transfer import Segmenting
from ferry.fetch.verify import check, digest_algorithm, hash_file, place
from ferry.store.cas import ContentStore

__all__ = ["Aria2Fetcher"]

_ARIA2_SUFFIX = ".ferry-aria2"
# The native engine's name for its partial files: taking its lock (flock on that file)
# means a native and an aria2 process sharing a store never download the same file twice.
_NATIVE_SUFFIX = ".ferry-part"
_SCHEMES = ("http", "https")
_CHECKSUM = {"sha1": "sha-1", "sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}
_MIN_SPLIT = 1 << 20
_MAX_PER_SERVER = 16


@dataclass(eq=False)
class _Job:
    """One file's download in aria2, across pauses, retries and daemon restarts."""

    request: FetchRequest
    path: Path  # where aria2 writes it (its control file is next to it)
    gid: str | None = None
    generation: int = 0  # of the daemon that issued ``gid``
    paused: bool = False
    started: bool = False
    reported: int = 0  # bytes the listener has been told about
    kept: int = 0  # bytes on disk from an earlier run, not fetched by this one
    attempts: int = 0
    limit: int = 0  # the max-download-limit given to aria2, 0 for none


class Aria2Fetcher(Dispatcher):
    """Fetches :class:`FetchRequest` s into a :class:`ContentStore` through aria2c.

    Owns an :class:`Aria2Daemon` (started on the first download, stopped by
    :meth:`aclose`), unless one is passed in as ``daemon``; then ``binary``, ``state_dir``,
    ``rate_limit``, ``cert``, ``proxy``, ``timeout`` and ``trust_env`` are that daemon's
    business. One ``Aria2Fetcher`` belongs to one event loop.
    """

    def __init__(
        self,
        store: ContentStore,
        *,
        binary: Path | str | None = None,
        state_dir: Path | None = None,
        concurrency: int = 16,
        retries: int = 4,
        backoff: float = 0.5,
        listener: ProgressListener | None = None,
        segmenting: Segmenting | None = None,
        rate_limit: float | None = None,
        cert: Path | None = None,
        proxy: str | None = None,
        timeout: float = 60.0,
        mirrors: Mapping[str, Sequence[str]] | None = None,
        trust_env: bool = True,
        poll_interval: float = 0.25,
        health_interval: float | None = 1.0,
        daemon: Aria2Daemon | None = None,
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
        self._partial_dir = store.root / "aria2"
        self._following: dict[int, int] = {}  # batch id -> its files running in aria2
        self._owns_daemon = daemon is None
        if daemon is None:
            connections = self._segmenting.connections
            daemon = Aria2Daemon(
                state_dir or store.root / "aria2-state",
                binary=binary,
                options=DaemonOptions(
                    max_concurrent_downloads=concurrency,
                    split=connections,
                    max_connection_per_server=connections,
                    min_split_size=self._segmenting.min_size,
                    # aria2's --timeout is how long a connection may send nothing:
                    # the stall limit, where that is the shorter
                    timeout=min(timeout, self._segmenting.stall),
                    connect_timeout=min(timeout, 30.0),
                    ca_certificate=cert,
                    proxy=proxy,
                    max_overall_download_limit=int(rate_limit or 0),
                    trust_env=trust_env,
                ),
            )
        self._daemon = daemon
        self._health_interval = health_interval
        self._monitor = StatusMonitor(
            lambda: self._daemon.rpc, interval=poll_interval, recover=self._recover
        )
        daemon.add_restart_listener(self._monitor.wake)

    @property
    def daemon(self) -> Aria2Daemon:
        return self._daemon

    async def __aenter__(self) -> Aria2Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop following downloads, and stop the daemon if this fetcher started it."""
        await self._monitor.aclose()
        self._daemon.remove_restart_listener(self._monitor.wake)
        if self._owns_daemon:
            await self._daemon.aclose()

    async def _obtain(self, request: FetchRequest, batch: Batch | None) -> FetchResult:
        name = request.display_name
        job = _Job(request, self._partial_path(request))
        try:
            while True:
                if batch is not None:
                    await batch.wait_until_runnable(request.key, name)
                async with self._files.hold(request.priority):
                    cached = self._cached(request)
                    if cached is not None:
                        await self._remove(job)  # paused, and meanwhile stored by another
                        return cached
                    try:
                        return await self._download(job, batch)
                    except Paused:
                        continue  # give the slot back until the batch resumes
        except Cancelled:
            # Cancelled while paused: aria2 still holds it. Its bytes go, as a cancelled
            # file's do (a file this run never started keeps what an earlier run left).
            await self._remove(job)
            if job.started:
                self._discard(job)
            raise
        except (FerryError, OSError):
            with contextlib.suppress(FerryError):
                await self._remove(job)  # kept on disk for next time, but not running
            raise
        except asyncio.CancelledError:
            # The caller gave up: aria2 must stop too, but the bytes stay for next time.
            with contextlib.suppress(FerryError):
                await self._remove(job)
            raise

    async def _download(self, job: _Job, batch: Batch | None) -> FetchResult:
        request = job.request
        store = self._store
        in_store = request.digest and store.has(request.digest, request.size, request.algorithm)
        if request.dest is not None and in_store:
            blob = store.path_for(request.digest, request.algorithm)
            return await copy_in(store, request, blob, self._listener, cached=True)
        source = local_source(request)
        if source is not None:
            return await copy_in(store, request, source, self._listener, cached=False)
        scheme = urlsplit(request.url).scheme.lower()
        if scheme not in _SCHEMES:
            raise FetchError(
                f"{request.display_name}: unsupported URL {redact(request.url)}",
                context=f"fetching {request.display_name}",
                hint=Hint("url-schemes"),
            )
        # Another process (the server and a CLI run sharing a store, with either backend)
        # may be fetching the same file: the native engine's partial file is its lock.
        guard_path = self._guard_path(request)
        guard_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                guard = PartialFile.open(guard_path, "|".join(request.key))
                break
            except PartialBusy:
                await asyncio.sleep(0.2)
                cached = self._cached(request) if request.dest is None else None
                if cached is not None:
                    return cached
        try:
            if request.dest is None:
                cached = self._cached(request)
                if cached is not None:
                    return cached
            return await self._transfer(job, batch)
        finally:
            # aria2 keeps its own bytes (.ferry-aria2 / store/aria2): the native partial
            # only served as the lock, and whatever it held is superseded.
            guard.discard()

    def _partial_path(self, request: FetchRequest) -> Path:
        if request.dest is not None:
            return request.dest.with_name(request.dest.name + _ARIA2_SUFFIX)
        return self._partial_dir / f"{request.algorithm}-{request.digest}"

    def _guard_path(self, request: FetchRequest) -> Path:
        if request.dest is not None:
            return request.dest.with_name(request.dest.name + _NATIVE_SUFFIX)
        return self._store.root / "partial" / f"{request.algorithm}-{request.digest}"

    # ---- one file, in aria2 -------------------------------------------------------------

    async def _transfer(self, job: _Job, batch: Batch | None) -> FetchResult:
        """Drive ``job`` in aria2 until it is in place; retries transient failures."""
        request = job.request
        name = request.display_name
        failures = 0
        while True:
            before = job.reported
            await self._submit(job, batch)
            status = await self._follow(job, batch)
            if status is None:
                job.gid = None  # lost with a dead daemon: submit it again, no attempt spent
                continue
            if status.status == "complete" or (
                status.status == "error" and _all_there(job, status)
            ):
                # An error with every byte there is aria2 refusing them (its checksum fails
                # as error 1 for a body without a length): Ferry's own check decides.
                return await self._complete(job)
            await self._remove(job, finished=True)
            if status.status == "removed":
                raise FetchError(
                    f"{name}: the download was removed from aria2 by someone else",
                    context=f"fetching {name}",
                    hint=Hint("aria2-removed"),
                )
            failure = classify(name, request.url, status.error_code, status.error_message)
            if failure.kind is Kind.INTEGRITY:
                raise await self._reject(job)
            if failure.kind is Kind.FINAL:
                raise self._with_mirrors(request, failure.error)
            if failure.kind is Kind.RESTART:
                self._discard(job)
                failures += 1
            else:
                # A download that made progress before it broke has not failed as such: a
                # flaky link still gets the file, a dead one is given up on.
                failures = 0 if job.reported > before else failures + 1
            if failures > self._retries:
                error = failure.error
                raise FetchError(
                    f"{error.message} (gave up after {job.attempts} attempts)",
                    context=error.context,
                    hint=error.hint,
                )
            await asyncio.sleep(self._backoff(failures))

    async def _submit(self, job: _Job, batch: Batch | None) -> None:
        """Hand ``job`` to aria2: resume it if it is paused there, else add it."""
        request = job.request
        if batch is not None:
            batch.checkpoint(request.key, request.display_name)
        daemon = self._daemon
        if not daemon.running:
            await self._start_daemon()
        if job.gid is not None and job.generation == daemon.generation:
            if not job.paused:
                return
            try:
                await self._call("aria2.unpause", job.gid)
                job.paused = False
                return
            except RPCError:
                self._monitor.forget(job.gid)  # gone (the daemon restarted): add it again
        job.gid = None
        job.paused = False
        await asyncio.to_thread(self._prepare, job)
        generation = daemon.generation
        gid = await self._call("aria2.addUri", self._urls(request), self._options(job, batch))
        if not isinstance(gid, str):
            raise FetchError(f"aria2.addUri answered {gid!r:.100}, not a GID")
        job.gid, job.generation = gid, generation
        job.attempts += 1
        job.limit = 0
        self._monitor.watch(gid)

    def _prepare(self, job: _Job) -> None:
        job.path.parent.mkdir(parents=True, exist_ok=True)
        if job.path.exists() and not control_path(job.path).exists():
            # Without its control file aria2 would take the file's length as downloaded,
            # but a split download leaves holes: start over.
            job.path.unlink()
        if not job.started:
            job.started = True
            job.kept = kept_bytes(job.path)

    def _options(self, job: _Job, batch: Batch | None) -> dict[str, str]:
        request = job.request
        options = {"dir": str(job.path.parent), "out": job.path.name}
        connections = 1
        if request.digest:
            options["checksum"] = f"{_CHECKSUM[request.algorithm]}={request.digest}"
            # Without a digest, pieces from different connections could not be trusted.
            # With a size, as many connections as the native engine would open.
            seg = self._segmenting
            connections = seg.connections if request.size is None else seg.workers(request.size)
        options["split"] = str(connections)
        options["max-connection-per-server"] = str(min(_MAX_PER_SERVER, connections))
        options["min-split-size"] = str(max(_MIN_SPLIT, self._segmenting.min_size))
        if batch is not None and batch.limit is not None:
            job.limit = self._share(batch)
            options["max-download-limit"] = str(job.limit)
        return options

    async def _follow(self, job: _Job, batch: Batch | None) -> Status | None:
        """Report ``job`` 's progress until it finishes; None if aria2 lost it.

        Raises :class:`Paused` / :class:`Cancelled` when its batch says so, and an
        :class:`IntegrityError` as soon as the size is known to be wrong.
        """
        request = job.request
        name = request.display_name
        batch_id = id(batch)
        self._following[batch_id] = self._following.get(batch_id, 0) + 1
        try:
            while True:
                gid = job.gid
                assert gid is not None
                status = await self._monitor.next(gid)
                if status is None or job.generation != self._daemon.generation:
                    self._monitor.forget(gid)
                    return None
                self._progress(job, status)
                size = request.size
                if (
                    size is not None
                    and status.status != "error"
                    and ((status.total and status.total != size) or status.completed > size)
                ):
                    await self._remove(job)
                    self._discard(job)
                    got = status.total if status.total else f"at least {status.completed}"
                    raise integrity_error(
                        name,
                        f"{redact(request.url)} does not match: expected {size} "
                        f"bytes ({digest_algorithm(request)} {request.digest})",
                        found=f"{got} bytes",
                    )
                if status.finished:
                    return status
                if batch is None:
                    continue
                if batch.is_cancelled(request.key):
                    await self._remove(job)
                    self._discard(job)
                    raise Cancelled(f"{name}: cancelled", context=f"fetching {name}")
                if batch.is_paused(request.key):
                    if status.status != "paused":
                        try:
                            await self._call("aria2.forcePause", gid)
                        except RPCError:
                            continue  # it finished meanwhile; the next round says how
                    job.paused = True
                    raise Paused(name)
                if batch.limit is not None:
                    await self._rebalance(job, batch)
        finally:
            self._following[batch_id] -= 1
            if not self._following[batch_id]:
                del self._following[batch_id]

    def _progress(self, job: _Job, status: Status) -> None:
        if status.total == 0 and status.completed == 0:
            return  # not started yet: its control file is not read until it starts
        delta = status.completed - job.reported
        if delta:
            self._listener.advance(job.request.display_name, delta)
            job.reported = status.completed

    async def _complete(self, job: _Job) -> FetchResult:
        """Verify what aria2 finished and move it into place."""
        request = job.request
        await self._remove(job, finished=True)  # forget its result
        algorithm = digest_algorithm(request)
        try:
            actual, size = await asyncio.to_thread(hash_file, job.path, algorithm)
        except OSError as exc:
            raise FetchError(
                f"{request.display_name}: cannot read {job.path}: {exc.strerror or exc}",
                context=f"verifying {request.display_name}",
                hint=Hint("aria2-file-gone"),
            ) from exc
        if size != job.reported:
            self._listener.advance(request.display_name, size - job.reported)
            job.reported = size
        try:
            check(request, size, algorithm, actual)
        except IntegrityError:
            self._discard(job)
            raise
        dest = await asyncio.to_thread(place, self._store, request, job.path)
        control_path(job.path).unlink(missing_ok=True)
        return FetchResult(request, dest, max(size - job.kept, 0), from_cache=False, digest=actual)

    async def _reject(self, job: _Job) -> IntegrityError:
        """aria2's checksum failed: the error names the digest it got; the bytes go."""
        request = job.request
        algorithm = digest_algorithm(request)
        error: IntegrityError | None = None
        try:
            actual, size = await asyncio.to_thread(hash_file, job.path, algorithm)
            check(request, size, algorithm, actual)
        except IntegrityError as exc:
            error = exc
        except OSError:
            pass
        self._discard(job)
        return error or integrity_error(
            request.display_name,
            f"{redact(request.url)} does not match: aria2's {algorithm} check failed",
        )

    async def _remove(self, job: _Job, *, finished: bool = False) -> None:
        """Take ``job`` out of aria2 (its bytes stay on disk) and wait until it is out.

        A ``finished`` download only has its result forgotten.
        """
        gid, job.gid = job.gid, None
        job.paused = False
        if gid is None:
            return
        self._monitor.forget(gid)
        if job.generation != self._daemon.generation or not self._daemon.running:
            return
        if not finished:
            await self._force_remove(gid)
        with contextlib.suppress(RPCError):
            await self._call("aria2.removeDownloadResult", gid)

    async def _force_remove(self, gid: str) -> None:
        with contextlib.suppress(RPCError):
            await self._call("aria2.forceRemove", gid)
        # forceRemove returns at once; aria2 stops writing the file a moment later.
        for _ in range(100):
            try:
                answer = await self._call("aria2.tellStatus", gid, ["status"])
            except RPCError:
                break
            if not isinstance(answer, dict) or answer.get("status") in (
                "removed",
                "complete",
                "error",
            ):
                break
            await asyncio.sleep(0.05)

    def _discard(self, job: _Job) -> None:
        """Delete aria2's bytes of ``job`` and take back what they counted for."""
        job.path.unlink(missing_ok=True)
        control_path(job.path).unlink(missing_ok=True)
        if job.reported:
            self._listener.advance(job.request.display_name, -job.reported)
            job.reported = 0

    # ---- the daemon ---------------------------------------------------------------------

    async def _start_daemon(self) -> None:
        await self._daemon.start()
        if self._owns_daemon and self._health_interval:
            self._daemon.start_health_check(self._health_interval)

    async def _recover(self, _error: FetchError) -> None:
        """aria2 did not answer: restart it if it is dead (its owners resubmit)."""
        await self._daemon.ensure_running()

    async def _call(self, method: str, *params: Any) -> Any:
        """One RPC call; if aria2 does not answer, recover it and try again."""
        for attempt in range(3):
            try:
                return await self._daemon.rpc.call(method, *params)
            except RPCUnavailable as exc:
                if attempt == 2:
                    raise
                await self._recover(exc)
        raise AssertionError("unreachable")

    # ---- bandwidth shares ---------------------------------------------------------------

    def _share(self, batch: Batch) -> int:
        assert batch.limit is not None
        running = max(1, self._following.get(id(batch), 0))
        return max(1, int(batch.limit.rate / running))

    async def _rebalance(self, job: _Job, batch: Batch) -> None:
        share = self._share(batch)
        if job.gid is not None and share != job.limit:
            with contextlib.suppress(RPCError):
                await self._call("aria2.changeOption", job.gid, {"max-download-limit": str(share)})
            job.limit = share

    # ---- small things -------------------------------------------------------------------

    def _urls(self, request: FetchRequest) -> list[str]:
        # aria2 is only handed what it can fetch.
        urls = [u for u in super()._urls(request) if urlsplit(u).scheme.lower() in _SCHEMES]
        if self.policy is None:
            return urls
        # aria2 resolves names itself: Ferry cannot check the address it connects to, so
        # under a policy it only gets the operator's own origins (exempt from that check).
        trusted = [
            u for u in urls if (o := origin_of(u)) is not None and self.policy.is_trusted(*o[1:])
        ]
        if urls and not trusted:
            raise EgressRefused(
                f"{request.display_name}: aria2 cannot check the address it connects to, so "
                "it fetches only from configured indexes and registries",
                hint=Hint("egress-aria2"),
            )
        return trusted

    def _with_mirrors(
        self, request: FetchRequest, error: FetchError | IntegrityError
    ) -> FetchError | IntegrityError:
        mirrors = self._urls(request)[1:]
        if not mirrors:
            return error
        tried = ", ".join(redact(m) for m in mirrors)
        return type(error)(
            f"{error.message} (mirrors failed too: {tried})", context=error.context, hint=error.hint
        )


def _all_there(job: _Job, status: Status) -> bool:
    size = job.request.size if job.request.size is not None else status.total
    return size > 0 and status.completed >= size
