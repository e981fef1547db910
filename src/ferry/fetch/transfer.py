"""One file from one URL into a :class:`PartialFile`: a single stream, or many ranges.

A small file (or one from a server without ``Range``) is one ``GET``. A large one is cut
into pieces fetched in order by several connections at once, each piece a bounded
``Range`` request guarded by ``If-Range``; the pieces are handed out in file order so the
hash can follow close behind the download (see :mod:`ferry.fetch.hashing`). Every
connection retries on its own, resuming its piece where it stopped.

No connection idles while another still has far to go: one that finds nothing left to
hand out takes the second half of the largest range still being fetched (as aria2 does),
and the connection it was taken from stops at the new end of its own. A slow connection
so keeps a small share of the file. A connection that delivers no byte for
``Segmenting.stall`` seconds mid-body is dropped and its range resumed on a fresh one,
instead of waiting out the read timeout.

A split costs CPU on both ends (more requests, and a hash that must read back the pieces
that land ahead of it), and it buys nothing where one connection already brings the file
as fast as the machine can take it (a LAN, loopback). So a large file starts on one
connection, the others waiting: they join only once that connection is measured slower
than ``Segmenting.enough_rate`` over a short window (a server or path that holds each
connection back, a slow start), or at once when ``enough_rate`` is 0.

When the size is unknown the first request asks for the first piece only: a ``206`` tells
the total and that ranges work, a ``200`` means the server ignores ``Range`` and its body
is simply read as the whole file. A ``200`` to a later range means the file changed on the
server (``If-Range`` failed): everything is dropped and the file restarts as one stream.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ferry.errors import FetchError, Hint
from ferry.fetch.control import Batch
from ferry.fetch.failures import (
    RETRY_HINT,
    TransientError,
    content_range,
    fetch_error,
    http_status_error,
    integrity_error,
    redact,
    retry_after,
    tls_error,
    validator,
)
from ferry.fetch.hashing import FollowingHash
from ferry.fetch.partial import PartialFile, Piece
from ferry.fetch.progress import ProgressListener
from ferry.fetch.ratelimit import RateLimit
from ferry.fetch.slots import SlotPool
from ferry.fetch.wire import Answer, Failure, Wire, WireError

__all__ = ["Segmenting", "Transfer"]

_MIN_PIECE = 4 << 20
_MAX_PIECE = 64 << 20
# Taking half a range costs a request: below this, finishing it where it is costs less.
_MIN_STEAL = 1 << 20
# Seconds over which the one connection of a large file is measured before more join it.
_RAMP_WINDOW = 0.5
# A file that changes on the server this many times during one download is not worth
# chasing; the user hears about it instead.
_MAX_RESTARTS = 3


@dataclass(frozen=True)
class Segmenting:
    """When and how a large file is fetched over several connections at once."""

    connections: int = 8
    min_size: int = 16 << 20  # each connection gets at least this much of the file
    min_piece: int = _MIN_PIECE
    max_piece: int = _MAX_PIECE
    # a range is split for an idle connection only when each half is at least this
    min_steal: int = _MIN_STEAL
    # seconds without a byte, mid-body, before a connection is given up for a fresh one
    stall: float = 15.0
    # bytes/s one connection must fall short of before the others join it; 0: they all
    # start at once
    enough_rate: int = 0

    def workers(self, total: int) -> int:
        return max(1, min(self.connections, total // self.min_size))

    def piece_size(self, total: int) -> int:
        # Four pieces per connection keep the connections busy to the end while the
        # hash follows in order; more would only cost requests.
        workers = self.workers(total)
        return min(self.max_piece, max(self.min_piece, math.ceil(total / (workers * 4))))


class _FileChanged(Exception):
    """The server's copy changed mid-download (or it stopped honouring ``Range``)."""


class Transfer:
    """Fills ``partial`` with the bytes at ``url``; raises FetchError / IntegrityError,
    or :class:`~ferry.fetch.control.Paused` / ``Cancelled`` from the batch."""

    def __init__(
        self,
        *,
        wire: Wire,
        pool: SlotPool,
        url: str,
        name: str,
        key: object,
        size: int | None,
        partial: PartialFile,
        hasher: FollowingHash,
        listener: ProgressListener,
        limits: Sequence[RateLimit],
        batch: Batch | None,
        retries: int,
        backoff: Callable[[int], float],
        segmenting: Segmenting,
        needs_validator: bool,
        priority: int,
    ) -> None:
        self.wire = wire
        self.pool = pool
        self.url = url
        self.host = urlsplit(url).netloc
        self.name = name
        self.key = key
        self.size = size
        self.partial = partial
        self.hasher = hasher
        self.listener = listener
        self.limits = limits
        self.batch = batch
        self.retries = retries
        self.backoff = backoff
        self.segmenting = segmenting
        # Without a digest to check at the end, pieces are only trusted with a validator.
        self.needs_validator = needs_validator
        self.may_segment = segmenting.connections > 1
        self.priority = priority
        self.attempts = 0
        self.steals = 0  # ranges split for an idle connection (tests and logs read it)
        self._ranges_known = asyncio.Event()
        self._ranges_ok = False
        # Set once the file is worth more than one connection (see _ramp).
        self._widen = asyncio.Event()
        self._receiving = asyncio.Event()
        self._received = 0

    @functools.cached_property
    def shown_url(self) -> str:
        """The URL as messages show it (credentials hidden); only needed when it fails."""
        return redact(self.url)

    # ---- the whole file ---------------------------------------------------------------

    async def run(self) -> None:
        for _ in range(_MAX_RESTARTS):
            for piece in self.partial.pieces:
                piece.claimed = False
            try:
                await self._run_once()
                return
            except _FileChanged:
                self._drop()
                self.may_segment = False
        raise fetch_error(
            self.name,
            f"{self.shown_url} kept changing while it was downloaded",
            hint=Hint("file-changing"),
        )

    async def _run_once(self) -> None:
        partial = self.partial
        if partial.pieces:
            # A resumed plan of several pieces already proved the server honours ranges.
            self._ranges_ok = len(partial.pieces) > 1
        else:
            self._plan_fresh()
        if len(partial.pieces) == 1 and self._probing(partial.pieces[0]):
            # Size unknown: the first connection asks for the first piece, and the others
            # start on the rest as soon as its answer tells the size and that ranges work,
            # not once its whole piece has arrived.
            await self._crew(self.segmenting.connections)
        elif len(partial.pieces) == 1:
            self._ranges_known.set()
            async with self.pool.connection(self.host, self.priority):
                await self._drive(partial.pieces[0])
        if len(partial.pieces) > 1 and not partial.complete:
            if self._ranges_ok:
                self._ranges_known.set()
            # every connection the file is worth, even with fewer pieces left (a resumed
            # download): the extra ones take halves of the ranges still to fetch
            await self._crew(self.segmenting.workers(partial.total or 0))
        if not partial.complete:
            raise fetch_error(self.name, f"{self.shown_url} ended before the whole file arrived")

    def _probing(self, piece: Piece) -> bool:
        """Would the request for ``piece`` be the first range of a file of unknown size?"""
        return self.may_segment and self.partial.total is None and not piece.done

    def _plan_fresh(self) -> None:
        size = self.size
        if size is not None and self.may_segment and self.segmenting.workers(size) > 1:
            self.partial.plan(size, self.segmenting.piece_size(size))
        else:
            self.partial.plan(size, None)

    async def _crew(self, workers: int) -> None:
        """Run ``workers`` connections over the pieces until every piece is complete."""

        async def worker(index: int) -> None:
            if index > 0:
                await self._ranges_known.wait()
                if not self._ranges_ok or index >= self.segmenting.workers(self.partial.total or 0):
                    return
                await self._widen.wait()
            # Extra connections queue behind other files' first connection.
            async with self.pool.connection(self.host, self.priority + (index > 0)):
                while (piece := self._claim()) is not None:
                    await self._drive(piece)

        tasks = [asyncio.create_task(worker(i)) for i in range(max(1, workers))]
        if workers > 1:
            tasks.append(asyncio.create_task(self._ramp()))
        try:
            pending: set[asyncio.Task[None]] = set(tasks)
            while pending and not self.partial.complete:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    error = task.exception()
                    if error is not None:
                        raise error
        finally:
            # Connections still queueing for a slot have nothing left to do; a failed
            # one takes the others down with it (their bytes stay on disk).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _ramp(self) -> None:
        """Let the file's other connections start once one is seen to be too slow.

        The rate is smoothed over the windows (each counts half): a connection held back
        by the server or the path is slow in every window, while a dip of one window (the
        disk's write-back throttling a writer, a busy CPU) is local, and more connections
        would not cure it."""
        enough = self.segmenting.enough_rate
        if enough <= 0:
            self._widen.set()
            return
        await self._receiving.wait()
        smoothed: float | None = None
        while not self._widen.is_set():
            mark, began = self._received, time.monotonic()
            await asyncio.sleep(_RAMP_WINDOW)
            rate = (self._received - mark) / (time.monotonic() - began)
            smoothed = rate if smoothed is None else (smoothed + rate) / 2
            if smoothed < enough:
                self._widen.set()

    def _claim(self) -> Piece | None:
        for piece in self.partial.pieces:
            if not piece.complete and not piece.claimed:
                piece.claimed = True
                return piece
        return self._steal()

    def _steal(self) -> Piece | None:
        """The second half of the largest range another connection is still fetching, as
        a piece of its own (claimed); None when no range is worth splitting."""
        pieces = self.partial.pieces
        busy = [p for p in pieces if p.claimed and p.end is not None and not p.complete]
        victim = max(busy, key=lambda p: p.remaining or 0, default=None)
        left = victim.remaining if victim is not None else None
        if victim is None or left is None or left < 2 * self.segmenting.min_steal:
            return None
        assert victim.end is not None
        middle = victim.pos + left // 2
        taken = Piece(middle, victim.end, claimed=True)
        # the victim's connection sees its new end at its next chunk and stops there
        victim.end = middle
        # kept in file order: the hash and the control file walk the pieces in order
        pieces.insert(pieces.index(victim) + 1, taken)
        self.steals += 1
        return taken

    def _drop(self) -> None:
        dropped = self.partial.reset()
        self.hasher.restart()
        if dropped:
            self.listener.advance(self.name, -dropped)

    # ---- one piece, with retries ------------------------------------------------------

    async def _drive(self, piece: Piece) -> None:
        failures = 0
        while not piece.complete:
            before = self.partial.kept
            try:
                piece = await self._attempt(piece)
                if piece.end is None:
                    return  # a body of unknown length ends when the server says so
            except TransientError as exc:
                # A connection that made progress before it broke has not failed as such:
                # a flaky link still gets the file, a dead one is given up on.
                failures = 0 if self.partial.kept > before else failures + 1
                if failures > self.retries:
                    raise FetchError(
                        f"{exc.error.message} (gave up after {self.attempts} attempts)",
                        context=exc.error.context,
                        hint=exc.error.hint or RETRY_HINT,
                    ) from (exc.__cause__ or exc)
                wait = exc.retry_after if exc.retry_after is not None else self.backoff(failures)
                await asyncio.sleep(wait)
            finally:
                # A finished piece is worth recording at once, unless it finished the file
                # (whose control file is about to be deleted anyway).
                self.partial.save(force=piece.complete and not self.partial.complete)

    async def _attempt(self, piece: Piece) -> Piece:
        """One request for the rest of ``piece``; returns the piece the body went into."""
        self.attempts += 1
        if self.batch is not None:
            self.batch.checkpoint(self.key, self.name)
        headers = {"Accept-Encoding": "identity"}  # the hash is of the file as stored
        partial = self.partial
        segmented = len(partial.pieces) > 1
        probing = not segmented and self._probing(piece)
        ranged = segmented or piece.done > 0 or probing
        if piece.done > 0 and not segmented and partial.validator is None:
            # Nothing to prove the server still has the same file: start over.
            self._drop()
            partial.plan(self.size, None)
            piece = partial.pieces[0]
            ranged = probing
        if ranged:
            # One stream asks for the rest of the file; a piece for exactly its bytes.
            last = str(piece.end - 1) if segmented and piece.end is not None else ""
            if probing and piece.done == 0:
                last = str(self.segmenting.min_size - 1)
            headers["Range"] = f"bytes={piece.pos}-{last}"
            if partial.validator is not None:
                headers["If-Range"] = partial.validator
        # what this request asks for: the piece's end may move below it (a split) while
        # the request waits for a connection or streams
        asked_end = piece.end
        try:
            async with self.wire.get(self.url, headers) as resp:
                piece = self._accept(resp, piece, ranged=ranged, probing=probing)
                await self._receive(resp, piece, asked_end=asked_end if ranged else piece.end)
        except WireError as exc:
            raise self._failure(exc) from exc
        if piece.end is None:
            piece.end = piece.pos
            partial.total = piece.end
        elif not piece.complete:
            raise TransientError(
                fetch_error(self.name, f"{self.shown_url} ended the body early", hint=RETRY_HINT)
            )
        return piece

    def _failure(self, exc: WireError) -> Exception:
        url = self.shown_url
        if exc.kind is Failure.TLS:
            return tls_error(self.name, url, exc)
        if exc.kind is Failure.UNSUPPORTED:
            return fetch_error(
                self.name,
                f"unsupported URL {url}",
                hint=Hint("url-schemes"),
            )
        if exc.kind is Failure.INVALID_URL:
            return fetch_error(self.name, f"invalid URL {url}: {exc}", hint=Hint("url-malformed"))
        if exc.kind is Failure.REFUSED:
            from ferry.egress import EgressRefused

            return EgressRefused(
                f"{self.name}: {exc.reason}",
                hint=Hint("egress"),
            )
        if exc.kind is Failure.TRANSIENT:
            # Cut bodies, resets, refused connections and stalled reads: worth a retry.
            return TransientError(fetch_error(self.name, f"{url}: {exc}", hint=RETRY_HINT))
        # Too many redirects and the like: retrying will not change them.
        return fetch_error(self.name, f"{url}: {exc}")

    def _accept(self, resp: Answer, piece: Piece, *, ranged: bool, probing: bool) -> Piece:
        """Check the answer's status and headers; return the piece its body fills."""
        partial = self.partial
        segmented = len(partial.pieces) > 1
        status = resp.status
        if status == 200:
            if len(partial.pieces) > 1:
                if self._ranges_known.is_set():
                    raise _FileChanged
                # The first range request of a fresh plan: the server ignores Range.
                self._ranges_known.set()
            elif piece.done:
                self._drop()  # the file changed (If-Range failed): start over
            self._ranges_known.set()
            total = resp.content_length
            self._check_total(total)
            partial.plan(total if total is not None else self.size, None)
            partial.validator = validator(resp.headers)
            # The same piece object goes on, so a retry of this connection resumes it.
            whole = partial.pieces[0]
            piece.start, piece.end, piece.done, piece.claimed = whole.start, whole.end, 0, True
            partial.pieces[0] = piece
            return piece
        if status == 206 and ranged:
            span = content_range(resp.headers)
            if span is None or span[0] != piece.pos:
                raise TransientError(
                    fetch_error(self.name, f"{self.shown_url} answered with the wrong range")
                )
            total = span[2]
            self._check_total(total)
            fresh = validator(resp.headers)
            if partial.validator is not None and fresh is not None and fresh != partial.validator:
                raise _FileChanged
            partial.validator = partial.validator or fresh
            if self.needs_validator and partial.validator is None and (probing or segmented):
                # Pieces of a file with no digest to check and no validator to keep them
                # consistent could be spliced from two versions: one stream instead.
                raise _FileChanged
            if probing and total is not None:
                partial.total = total
                piece.end = min(span[1] + 1, total)
                if total > piece.end:
                    partial.pieces += _pieces_after(
                        piece.end, total, self.segmenting.piece_size(total)
                    )
            elif piece.end is None and total is not None:
                piece.end = total
                partial.total = total
            self._ranges_ok = True
            self._ranges_known.set()
            return piece
        if status == 416 and ranged:
            if probing:
                # An empty file has no byte 0 to give; ask for it plainly.
                self.may_segment = False
                partial.plan(self.size, None)
                raise TransientError(fetch_error(self.name, "empty file"), retry_after=0)
            self._drop()
            raise TransientError(
                fetch_error(self.name, f"{self.shown_url} refused to resume (416)")
            )
        raise http_status_error(
            self.name,
            status,
            resp.url,
            reason=resp.reason,
            retry_after=retry_after(resp.headers),
        )

    def _check_total(self, total: int | None) -> None:
        if self.size is not None and total is not None and total != self.size:
            raise integrity_error(
                self.name,
                f"{self.shown_url} announces another size than the {self.size} bytes expected",
                found=f"{total} bytes",
            )

    async def _receive(self, resp: Answer, piece: Piece, *, asked_end: int | None) -> None:
        """Write the body into ``piece``. ``asked_end`` is the end the request asked for:
        a piece whose end has moved below it since was split for another connection."""
        partial = self.partial
        async for chunk in _stall_guarded(resp.chunks, self.segmenting.stall, self._stalled):
            if self.batch is not None:
                self.batch.checkpoint(self.key, self.name)
            remaining = piece.remaining
            stolen = piece.end is not None and asked_end is not None and piece.end < asked_end
            if remaining is not None and len(chunk) > remaining:
                if not stolen:
                    # Don't let a wrong file fill the disk before the hash check.
                    raise integrity_error(
                        self.name,
                        f"{self.shown_url} sends more than the {piece.end} bytes expected",
                    )
                chunk = chunk[:remaining]
            if chunk:
                offset = piece.pos
                partial.write(piece, chunk)
                self._received += len(chunk)
                self._receiving.set()
                self.hasher.feed(offset, chunk)
                self.listener.advance(self.name, len(chunk))
                partial.save()
                for limit in self.limits:
                    await limit.consume(len(chunk))
            if stolen and piece.complete:
                # The rest of this body is another connection's now: leaving it unread
                # closes this connection, which costs less than reading what is thrown away.
                return
        # No early break once the piece is complete: a body read to its end lets the
        # connection go back to the pool (keep-alive) instead of being closed.

    def _stalled(self) -> Exception:
        return TransientError(
            fetch_error(
                self.name,
                f"{self.shown_url} sent nothing for {self.segmenting.stall:g} s",
                hint=RETRY_HINT,
            ),
            # the server is not overloaded, the connection is dead: a fresh one at once
            retry_after=0,
        )


async def _stall_guarded(
    chunks: AsyncIterator[bytes], stall: float, stalled: Callable[[], Exception]
) -> AsyncIterator[bytes]:
    """``chunks``, raising ``stalled()`` when the next one takes longer than ``stall`` s:
    a connection left open with no bytes is given up long before the read timeout."""
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(stall):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise stalled() from None
        yield chunk


def _pieces_after(start: int, total: int, size: int) -> list[Piece]:
    return [Piece(s, min(s + size, total)) for s in range(start, total, size)]
