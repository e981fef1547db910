"""The cache's second tier: a bucket that machines sharing it fill and read.

Every bundle still needs its files on this machine's disk (the resolvers read them and the
archive is written from them), so the local cache stays the first tier. Before a download
a file missing there is looked for in the shared tier and, if found, streamed into the
local cache, checked against its digest on the way (the bucket is trusted no more than a
registry). After it, what came from a registry is uploaded to the shared tier in the
background, so the next machine needing it reads it from the bucket.

The shared tier is an optimisation, never a source of failure: anything wrong with it is
logged and the file comes from its registry as it would have without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterator, Sequence

from ferry.errors import FerryError, IntegrityError
from ferry.fetch.control import Batch
from ferry.fetch.downloader import Downloader
from ferry.fetch.request import FetchReport, FetchRequest, FetchResult
from ferry.store.blob import BlobKey, BlobStore, LocalBlobStore
from ferry.store.cas import ContentStore

__all__ = ["SharedCache", "SharedFetcher"]

log = logging.getLogger(__name__)

# lookups and transfers to the bucket at once: enough to hide its round trips
_PARALLEL = 8


# A process that runs many downloads (a service, a worker) opens the bucket once and names it
# here around each task's work: opening an S3 client (and checking the bucket) for every
# run cost 60-220 ms of CPU each, twice per task (bench/RESULTS.md, the scale bench).
_OPEN_BUCKET: contextvars.ContextVar[BlobStore | None] = contextvars.ContextVar(
    "ferry_shared_bucket", default=None
)


@contextlib.contextmanager
def bucket_scope(bucket: BlobStore | None) -> Iterator[None]:
    """Within this, downloads use ``bucket`` (already open) as the shared tier instead of
    opening their own; None changes nothing."""
    token = _OPEN_BUCKET.set(bucket) if bucket is not None else None
    try:
        yield
    finally:
        if token is not None:
            _OPEN_BUCKET.reset(token)


def scoped_bucket() -> BlobStore | None:
    return _OPEN_BUCKET.get()


class SharedCache:
    """One run's link to the shared tier: pulls before downloads, pushes after them."""

    def __init__(self, local: ContentStore, shared: BlobStore) -> None:
        self.local = local
        self.shared = shared
        self._local_blobs = LocalBlobStore(local)
        self._limit = asyncio.Semaphore(_PARALLEL)
        self._pushes: set[asyncio.Task[None]] = set()
        self._pushed: set[BlobKey] = set()
        self.pulled = 0
        self.pushed = 0

    async def pull(self, requests: Sequence[FetchRequest]) -> int:
        """Bring what the local cache lacks and the shared tier has; how many came."""
        wanted = {}
        for request in requests:
            key = _key(request)
            if key is not None and not self.local.has(key.digest, request.size, key.algorithm):
                wanted[key] = request.size
        got = await asyncio.gather(*(self._pull_one(k, s) for k, s in wanted.items()))
        count = sum(got)
        self.pulled += count
        return count

    async def _pull_one(self, key: BlobKey, size: int | None) -> bool:
        async with self._limit:
            try:
                info = await self.shared.stat(key)
                if info is None or (size is not None and info.size != size):
                    return False
                async with self._local_blobs.open_writer(expect=key) as writer:
                    reader = self.shared.read(key)
                    async with contextlib.aclosing(reader) as chunks:  # type: ignore[type-var]
                        async for chunk in chunks:
                            await writer.write(chunk)
                    await writer.commit()
            except IntegrityError as exc:
                # bytes under a digest's name that do not hash to it are wrong for everyone:
                # removed, so that this run's download replaces them
                where = self.shared.location
                log.warning("shared cache %s: %s is corrupt, removed: %s", where, key, exc)
                with contextlib.suppress(FerryError, OSError):
                    await self.shared.delete(key)
                return False
            except (FerryError, OSError, LookupError, ValueError) as exc:
                where = self.shared.location
                log.warning("shared cache %s: cannot read %s: %s", where, key, exc)
                return False
            # already the bucket's: no need to send it back after the download
            self._pushed.add(key)
            return True

    def push(self, results: Sequence[FetchResult]) -> None:
        """Send what came from a registry to the shared tier, in the background."""
        for result in results:
            if result.from_cache:
                continue
            key = _key(result.request, result.digest)
            if key is None or key in self._pushed:
                continue
            self._pushed.add(key)
            task = asyncio.create_task(self._push_one(result, key))
            self._pushes.add(task)
            task.add_done_callback(self._pushes.discard)

    async def _push_one(self, result: FetchResult, key: BlobKey) -> None:
        async with self._limit:
            try:
                await self.shared.put_file(result.path, key)
            except (FerryError, OSError) as exc:
                where = self.shared.location
                log.warning("shared cache %s: cannot keep %s: %s", where, key, exc)
                return
            self.pushed += 1

    async def drain(self) -> None:
        """Wait for the uploads under way (a run's end: its files are then shared)."""
        while self._pushes:
            await asyncio.gather(*list(self._pushes), return_exceptions=True)


class SharedFetcher:
    """A download backend with the shared tier in front of it and behind it."""

    def __init__(self, inner: Downloader, cache: SharedCache) -> None:
        self.inner = inner
        self.cache = cache

    async def fetch_all(
        self, requests: Sequence[FetchRequest], *, batch: Batch | None = None
    ) -> FetchReport:
        await self.cache.pull(requests)
        report = await self.inner.fetch_all(requests, batch=batch)
        self.cache.push(report.results)
        return report

    async def fetch_one(self, request: FetchRequest, *, batch: Batch | None = None) -> FetchResult:
        await self.cache.pull([request])
        result = await self.inner.fetch_one(request, batch=batch)
        self.cache.push([result])
        return result


def _key(request: FetchRequest, digest: str = "") -> BlobKey | None:
    """The blob key a request's file is kept under; None when its digest is not known."""
    value = request.digest or digest
    if not value:
        return None
    algorithm = request.algorithm if request.digest else "sha256"
    try:
        return BlobKey(algorithm, value)
    except ValueError:
        return None
