"""The async download engine: many files, concurrently, into the content store.

Each file is streamed into a staging file of the :class:`~ferry.store.ContentStore` and
hashed on the way, so memory stays flat whatever the size. Only bytes whose digest matches
what the index promised are committed; a mismatch is an :class:`IntegrityError` and is
never retried, since a second copy from the same source proves nothing.

Transient failures (connection errors, timeouts, 5xx, 429) are retried with exponential
backoff and jitter, honouring ``Retry-After``. When the server gave a strong ``ETag``, a
retry after a partial body resumes with ``Range`` + ``If-Range``; the hash state of the
kept prefix stays in memory, so nothing is re-read. Otherwise the file restarts cleanly.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ferry.errors import FerryError, FetchError, IntegrityError
from ferry.fetch.progress import NullProgress, ProgressListener
from ferry.store.cas import CHUNK_SIZE, ContentStore, check_digest

__all__ = ["FetchReport", "FetchRequest", "FetchResult", "Fetcher"]

# Longer than this and a stuck download would look like a hang to the user.
_MAX_WAIT_S = 30.0

_RETRY_HINT = (
    "Check the network connection and proxy settings, then run again: "
    "files already fetched are kept in the store."
)
_INTEGRITY_HINT = (
    "The bytes served differ from what the index promised; do not install them. A proxy "
    "rewriting downloads or a mirror out of sync with its index are the usual causes."
)
_TLS_HINT = (
    "If your network uses its own certificate authority, point Ferry at its CA bundle "
    "(the cert setting) or set SSL_CERT_FILE."
)


@dataclass(frozen=True)
class FetchRequest:
    """One file to fetch: where from, and the digest (and size, if known) it must have.

    ``digest`` is hex of ``algorithm`` (sha256 for Python files; npm locks record sha512,
    or sha1 for very old entries); the blob is stored under that algorithm.

    ``url`` is ``http(s)://``, ``file://`` or a plain absolute path. ``name`` is only for
    display; it defaults to the last segment of the URL.
    """

    url: str
    digest: str
    size: int | None = None
    name: str = ""
    algorithm: str = "sha256"

    @property
    def key(self) -> tuple[str, str]:
        return (self.algorithm, self.digest)

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        tail = unquote(urlsplit(self.url).path.rstrip("/").rsplit("/", 1)[-1])
        return tail or self.digest[:12]


@dataclass
class FetchResult:
    """A blob that is in the store. ``bytes_fetched`` is its size, or 0 when it was cached."""

    request: FetchRequest
    path: Path
    bytes_fetched: int
    from_cache: bool


@dataclass
class FetchReport:
    """The outcome of :meth:`Fetcher.fetch_all`: one entry per distinct digest, in order."""

    results: list[FetchResult] = field(default_factory=list)
    failures: list[tuple[FetchRequest, FerryError]] = field(default_factory=list)

    @property
    def bytes_fetched(self) -> int:
        return sum(r.bytes_fetched for r in self.results)

    @property
    def from_cache(self) -> int:
        return sum(1 for r in self.results if r.from_cache)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        """Raise the first failure (an IntegrityError as is), naming every failed file."""
        if not self.failures:
            return
        _, error = self.failures[0]
        if isinstance(error, IntegrityError):
            raise error
        names = ", ".join(r.display_name for r, _ in self.failures)
        raise type(error)(
            f"{len(self.failures)} file(s) could not be fetched: {names}; first: {error.message}",
            hint=error.hint,
        )


class _TransientError(Exception):
    """An attempt failed in a way worth retrying; ``error`` is what the user sees if not."""

    def __init__(self, error: FetchError, *, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class _Partial:
    """The staging file of one download plus the running hash of what it holds."""

    def __init__(self, fh: BinaryIO, algorithm: str) -> None:
        self.fh = fh
        self.algorithm = algorithm
        self.hasher = hashlib.new(algorithm)
        self.written = 0
        self.etag: str | None = None
        self.attempts = 0

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.hasher.update(chunk)
        self.written += len(chunk)

    def reset(self) -> int:
        """Throw the kept bytes away; return how many there were."""
        dropped = self.written
        self.fh.seek(0)
        self.fh.truncate()
        self.hasher = hashlib.new(self.algorithm)
        self.written = 0
        self.etag = None
        return dropped


class Fetcher:
    """Fetches :class:`FetchRequest` s into a :class:`ContentStore`.

    One ``Fetcher`` belongs to one event loop. Two calls running at once may download the
    same blob twice; that wastes bandwidth but is safe, since commits are idempotent.
    """

    def __init__(
        self,
        store: ContentStore,
        client: httpx.AsyncClient,
        *,
        concurrency: int = 16,
        retries: int = 4,
        backoff: float = 0.5,
        listener: ProgressListener | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if retries < 0:
            raise ValueError(f"retries must not be negative, not {retries}")
        self._store = store
        self._client = client
        self._retries = retries
        self._backoff = wait_exponential_jitter(multiplier=backoff, max=_MAX_WAIT_S, jitter=backoff)
        self._listener: ProgressListener = listener or NullProgress()
        self._slots = asyncio.Semaphore(concurrency)

    async def fetch_all(self, requests: Sequence[FetchRequest]) -> FetchReport:
        """Fetch every distinct blob; failures are collected, never raised.

        Requests with the same digest are one blob: only the first is fetched and reported.
        """
        unique: dict[tuple[str, str], FetchRequest] = {}
        for request in requests:
            unique.setdefault(request.key, request)

        outcomes: dict[tuple[str, str], FetchResult | FerryError] = {}
        pending: list[FetchRequest] = []
        for key, request in unique.items():
            try:
                cached = self._cached(request)
            except FetchError as exc:
                outcomes[key] = exc
                continue
            if cached is None:
                pending.append(request)
            else:
                outcomes[key] = cached

        listener = self._listener
        listener.start(len(unique), sum(r.size or 0 for r in pending))
        try:
            for key, outcome in outcomes.items():
                name = unique[key].display_name
                if isinstance(outcome, FerryError):
                    listener.file_failed(name, outcome)
                else:
                    listener.file_done(name, from_cache=True)
            # A TaskGroup, unlike gather, cancels the siblings if one hits a bug, so no
            # orphaned download keeps writing after this call has returned.
            async with asyncio.TaskGroup() as group:
                tasks = [(r.key, group.create_task(self._settle(r))) for r in pending]
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

    async def fetch_one(self, request: FetchRequest) -> FetchResult:
        """Fetch a single blob, raising :class:`FetchError` / :class:`IntegrityError`.

        Reports ``advance`` / ``file_done`` / ``file_failed`` but not ``start`` / ``finish``,
        which belong to whoever drives the whole batch.
        """
        try:
            cached = self._cached(request)
        except FetchError as exc:
            self._listener.file_failed(request.display_name, exc)
            raise
        if cached is not None:
            self._listener.file_done(request.display_name, from_cache=True)
            return cached
        outcome = await self._settle(request)
        if isinstance(outcome, FerryError):
            raise outcome
        return outcome

    def _cached(self, request: FetchRequest) -> FetchResult | None:
        """The result for a blob already stored, None if it is not."""
        try:
            check_digest(request.digest, request.algorithm)
        except ValueError as exc:
            raise FetchError(
                f"{request.display_name}: refusing to fetch {_redact(request.url)}: {exc}",
                context=f"fetching {request.display_name}",
                hint="The index entry for this file is malformed; report it to the index.",
            ) from exc
        if not self._store.has(request.digest, request.size, request.algorithm):
            return None
        path = self._store.path_for(request.digest, request.algorithm)
        return FetchResult(request, path, 0, from_cache=True)

    async def _settle(self, request: FetchRequest) -> FetchResult | FerryError:
        """Download one blob and tell the listener; the error is returned, not raised."""
        name = request.display_name
        try:
            async with self._slots:
                result = await self._download(request)
        except FerryError as exc:
            self._listener.file_failed(name, exc)
            return exc
        self._listener.file_done(name, from_cache=result.from_cache)
        return result

    async def _download(self, request: FetchRequest) -> FetchResult:
        # Waiting for a slot can take a while; someone else may have stored it meanwhile.
        cached = self._cached(request)
        if cached is not None:
            return cached
        source = _local_source(request)
        try:
            if source is not None:
                return await self._copy_local(request, source)
            return await self._fetch_http(request)
        except OSError as exc:
            raise FetchError(
                f"{request.display_name}: cannot write to the store at {self._store.root}: "
                f"{exc.strerror or exc}",
                context=f"fetching {request.display_name}",
                hint="Check free space and permissions of the store directory.",
            ) from exc

    async def _copy_local(self, request: FetchRequest, source: Path) -> FetchResult:
        name = request.display_name
        try:
            src = source.open("rb")
        except OSError as exc:
            raise FetchError(
                f"{name}: cannot read {source}: {exc.strerror or exc}",
                context=f"copying {name} into the store",
                hint="Check that the file exists and is readable.",
            ) from exc
        hasher = hashlib.new(request.algorithm)
        copied = 0
        try:
            with src, self._store.open_staging() as (tmp, out):
                # Reading and hashing run in a thread so a slow disk never stalls downloads.
                while n := await asyncio.to_thread(_copy_chunk, src, out, hasher):
                    copied += n
                    self._listener.advance(name, n)
                    if request.size is not None and copied > request.size:
                        break
                self._check_integrity(request, source.as_uri(), copied, hasher.hexdigest())
                # fsync blocks: off the event loop, so other downloads keep streaming
                path = await asyncio.to_thread(
                    self._store.commit, tmp, request.digest, request.algorithm
                )
        except BaseException:
            self._listener.advance(name, -copied)
            raise
        return FetchResult(request, path, copied, from_cache=False)

    async def _fetch_http(self, request: FetchRequest) -> FetchResult:
        name = request.display_name
        with self._store.open_staging() as (tmp, fh):
            part = _Partial(fh, request.algorithm)
            try:
                try:
                    async for attempt in AsyncRetrying(
                        stop=stop_after_attempt(self._retries + 1),
                        wait=self._wait,
                        retry=retry_if_exception_type(_TransientError),
                        reraise=True,
                    ):
                        with attempt:
                            await self._attempt(request, part)
                except _TransientError as exc:
                    raise FetchError(
                        f"{exc.error.message} (gave up after {part.attempts} attempts)",
                        context=exc.error.context,
                        hint=exc.error.hint or _RETRY_HINT,
                    ) from (exc.__cause__ or exc)
                self._check_integrity(request, request.url, part.written, part.hasher.hexdigest())
                # fsync blocks: off the event loop, so other downloads keep streaming
                path = await asyncio.to_thread(
                    self._store.commit, tmp, request.digest, request.algorithm
                )
            except BaseException:
                self._listener.advance(name, -part.written)
                raise
        return FetchResult(request, path, part.written, from_cache=False)

    async def _attempt(self, request: FetchRequest, part: _Partial) -> None:
        name = request.display_name
        url = _redact(request.url)
        part.attempts += 1
        # Identity, and raw bytes below: the hash is of the file as stored on the server.
        headers = {"Accept-Encoding": "identity"}
        resuming = part.written > 0 and part.etag is not None
        if resuming:
            headers["Range"] = f"bytes={part.written}-"
            headers["If-Range"] = part.etag or ""
        elif part.written:
            self._listener.advance(name, -part.reset())

        try:
            async with self._client.stream("GET", request.url, headers=headers) as resp:
                status = resp.status_code
                if status == 206 and resuming:
                    if _content_range_start(resp) != part.written:
                        self._listener.advance(name, -part.reset())
                        raise _TransientError(
                            _fetch_error(name, f"{url} answered a resume with the wrong range")
                        )
                elif status == 200:
                    if part.written:
                        # If-Range failed: the file changed on the server, start over.
                        self._listener.advance(name, -part.reset())
                    _check_announced_size(request, resp)
                elif status == 416 and resuming:
                    self._listener.advance(name, -part.reset())
                    raise _TransientError(_fetch_error(name, f"{url} refused to resume (416)"))
                else:
                    raise _status_error(request, resp)
                part.etag = _strong_etag(resp) or (part.etag if status == 206 else None)
                async for chunk in _raw_chunks(resp):
                    part.write(chunk)
                    self._listener.advance(name, len(chunk))
                    if request.size is not None and part.written > request.size:
                        # Don't let a wrong file fill the disk before the hash check.
                        break
        except httpx.TransportError as exc:
            raise _transport_error(name, url, exc) from exc
        except httpx.InvalidURL as exc:
            raise FetchError(
                f"{name}: invalid URL {url}: {exc}",
                context=f"fetching {name}",
                hint="The index entry for this file is malformed.",
            ) from exc
        except httpx.HTTPError as exc:
            # TooManyRedirects, DecodingError and the like: retrying will not change them.
            raise _fetch_error(name, f"{url}: {exc}") from exc

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, _MAX_WAIT_S)
        return self._backoff(state)

    def _check_integrity(
        self, request: FetchRequest, source: str, nbytes: int, actual: str
    ) -> None:
        name = request.display_name
        if request.size is not None and nbytes != request.size:
            # The hash of a cut-off or overlong body says nothing useful; the size does.
            got = f"more than {request.size}" if nbytes > request.size else str(nbytes)
            problem = (
                f"expected {request.size} bytes ({request.algorithm} {request.digest}), got {got}"
            )
        elif actual != request.digest:
            problem = f"expected {request.algorithm} {request.digest}, got {actual}"
        else:
            return
        raise IntegrityError(
            f"{name}: {_redact(source)} does not match the index: {problem}",
            context=f"verifying {name}",
            hint=_INTEGRITY_HINT,
        )


async def _raw_chunks(resp: httpx.Response) -> AsyncIterator[bytes]:
    if resp.is_stream_consumed:
        # Only responses built in memory (httpx.MockTransport in tests) arrive already
        # read, and aiter_raw() refuses those.
        yield resp.content
        return
    async for chunk in resp.aiter_raw():
        yield chunk


def _copy_chunk(src: BinaryIO, dst: BinaryIO, hasher: hashlib._Hash) -> int:
    chunk = src.read(CHUNK_SIZE)
    if chunk:
        hasher.update(chunk)
        dst.write(chunk)
    return len(chunk)


def _local_source(request: FetchRequest) -> Path | None:
    """The local path behind a ``file://`` URL or a plain absolute path; None for others."""
    url = request.url
    if "://" not in url and Path(url).is_absolute():
        return Path(url)
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return None
    if parts.netloc not in ("", "localhost"):
        raise FetchError(
            f"{request.display_name}: cannot fetch {url}: file URLs on another host "
            "are not supported",
            context=f"fetching {request.display_name}",
            hint="Mount the share and use a local path instead.",
        )
    return Path(url2pathname(parts.path))


def _fetch_error(name: str, message: str, *, hint: str | None = None) -> FetchError:
    return FetchError(f"{name}: {message}", context=f"fetching {name}", hint=hint)


def _status_error(request: FetchRequest, resp: httpx.Response) -> Exception:
    """Map an unwanted status to a retryable or a final error."""
    name = request.display_name
    status = resp.status_code
    what = f"HTTP {status} {resp.reason_phrase} from {_redact(str(resp.url))}".rstrip()
    if status == 429 or status >= 500:
        return _TransientError(
            _fetch_error(name, what, hint=_RETRY_HINT), retry_after=_retry_after(resp)
        )
    if status in (401, 403, 407):
        hint = (
            "The server wants credentials or denies access: check the index URL, its "
            "credentials (netrc, keyring) and the proxy settings."
        )
    elif status in (404, 410):
        hint = (
            "The file is no longer at this URL (deleted, or an index out of date); "
            "resolve again to pick a file that exists."
        )
    else:
        hint = "Check the index URL and that it serves files directly."
    return _fetch_error(name, what, hint=hint)


def _transport_error(name: str, url: str, exc: httpx.TransportError) -> Exception:
    if isinstance(exc, httpx.UnsupportedProtocol):
        return _fetch_error(
            name,
            f"unsupported URL {url}",
            hint="Only http(s)://, file:// URLs and absolute paths can be fetched.",
        )
    if _caused_by(exc, ssl.SSLCertVerificationError):
        # A certificate problem does not heal by itself; retrying only delays the hint.
        return _fetch_error(name, f"TLS certificate not trusted for {url}: {exc}", hint=_TLS_HINT)
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    else:
        reason = str(exc) or type(exc).__name__
    return _TransientError(_fetch_error(name, f"{url}: {reason}", hint=_RETRY_HINT))


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kind):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _strong_etag(resp: httpx.Response) -> str | None:
    # If-Range needs a strong validator (RFC 9110 §13.1.5); a weak one could splice two
    # different versions of the file together.
    etag: str | None = resp.headers.get("ETag")
    if etag is None or etag.startswith("W/"):
        return None
    return etag


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(?:\d+|\*)")


def _content_range_start(resp: httpx.Response) -> int | None:
    match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
    return int(match.group(1)) if match else None


def _check_announced_size(request: FetchRequest, resp: httpx.Response) -> None:
    if request.size is None:
        return
    announced = resp.headers.get("Content-Length")
    if announced is None or not announced.isdigit() or int(announced) == request.size:
        return
    name = request.display_name
    raise IntegrityError(
        f"{name}: {_redact(request.url)} announces {announced} bytes, the index promised "
        f"{request.size}",
        context=f"fetching {name}",
        hint=_INTEGRITY_HINT,
    )


_USERINFO = re.compile(r"(?<=://)[^/@]*@")


def _redact(url: str) -> str:
    """Hide credentials embedded in a URL before it reaches a message or a log."""
    return _USERINFO.sub("***@", url)
