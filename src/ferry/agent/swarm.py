"""The agent's BitTorrent side (seed 002): a model's large files from the swarm (other nodes,
and Ferry for the pieces no node has yet), given up for plain HTTP when the swarm stops
moving, and seeded to the nodes after.

libtorrent does the protocol; this module feeds it the ``.torrent`` files Ferry hands out
and watches it from the event loop. Ferry's file route (the torrent's BEP 19 web seed) is
not handed to libtorrent: its web-seed client takes from the origin whatever the node
lacks, so twenty nodes starting together took about two copies from it (bench/RESULTS.md).
Instead :class:`_Origin` takes from it, with HTTP ``Range`` requests, only pieces that no
connected peer holds, split between the nodes (each node computes the same split from the
peer ids it sees), so the origin sends about one copy and the nodes trade the rest. The
bytes go to libtorrent with ``add_piece``, which checks them like a peer's and announces
them.

Pieces are checked by libtorrent against their SHA-1 as they arrive (a peer sending bad
ones is banned); whole files are checked against the catalog's sha256 by the agent before
they are placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import libtorrent as lt

from ferry.fetch.http import build_client
from ferry.fetch.progress import NullProgress, ProgressListener
from ferry.fetch.ratelimit import RateLimit

__all__ = ["SwarmFile", "SwarmOptions", "fetch_from_swarm", "seed", "sessions_retired"]

log = logging.getLogger(__name__)

_POLL_S = 0.2

# Taking pieces from the origin (see _Origin). Requests at once per file: while peers are
# connected one (twenty nodes make twenty streams: more only made the origin's link, a
# shared queue, lose more and send less); alone, the origin is the only source.
_STREAMS = 1
_STREAMS_ALONE = 4
# The pieces are split between the nodes in blocks of about this many bytes, one request
# each (each piece handed to libtorrent as soon as its bytes are in): a request per 256 KiB
# piece left the origin's link idle between requests.
_BLOCK = 1 << 20
# Nodes learn of each other from the tracker and connect within a moment: until then the
# split of the pieces would be made on a partial view (and several nodes would take the
# same pieces). The origin waits until the tracker has answered and the peers it counts
# are connected, at least _SETTLE_S and at most _WARMUP_S.
_SETTLE_S = 0.5
_WARMUP_S = 3.0
# A ring that just changed may not be the one the other nodes see: one piece per request
# until it has held this long.
_STABLE_S = 1.0
# A node done with its own pieces helps the node before it in the ring, one piece at a time
# from the back of that node's list, while more than a block is left there (the front one
# is the one that node is fetching). A node that has received nothing for this long also
# takes pieces of nodes further back
# in the ring (gone quiet, or slow): those of the node two places back after twice this
# long, and so on.
_HANDOFF_S = 2.0
# Nothing received for this long: peers may hold the pieces and still not give them
# (choked): any missing piece is taken from the origin.
_STUCK_S = 10.0
# A piece handed to libtorrent that it still does not have after this long (its hash
# failed, or the write did): asked for again.
_ADDED_WAIT_S = 20.0
_RETRIES = 4
# The start of every Ferry agent's peer id: the split of the origin's pieces is among the
# nodes that run this code; another client in the swarm takes no share.
_FINGERPRINT = "-FY0100-"

# Sessions done with, paused, never destroyed: libtorrent's session destructor joins its
# network thread while Python holds the GIL, and was seen to wait for minutes there (20
# nodes in network namespaces, after every download had finished). A paused session sends
# nothing; the process's exit ends it (the CLI leaves with os._exit once one exists).
_RETIRED: list[Any] = []


def sessions_retired() -> bool:
    return bool(_RETIRED)


def _retire(session: Any, handles: Sequence[Any]) -> None:
    for handle in handles:
        with contextlib.suppress(Exception):
            session.remove_torrent(handle)
    with contextlib.suppress(Exception):
        session.pause()
    _RETIRED.append(session)


@dataclass(frozen=True)
class SwarmOptions:
    listen: str = "0.0.0.0:6881"  # libtorrent tries the next ports when it is taken
    stall_timeout: float = 30.0  # seconds without a byte before plain HTTP takes over
    web_seed: bool = True  # Ferry's file route (BEP 19) for the pieces no peer has
    upload_limit: int = 0  # bytes per second, 0: none
    # bytes per second from peers, and as much again from the origin (two limiters: the
    # peers' is libtorrent's own)
    download_limit: int = 0


@dataclass(frozen=True)
class SwarmFile:
    name: str  # the file's path in its version, for the progress bars
    torrent: bytes
    staging: Path  # a directory of its own: libtorrent writes the file there


def _peer_id() -> str:
    """A whole peer id of our own (libtorrent takes a 20-byte fingerprint as the id): the
    same bytes the other nodes see in the handshake, which the split of the origin's pieces
    between the nodes is computed from."""
    return _FINGERPRINT + secrets.token_hex(6)


def _session(options: SwarmOptions, peer_id: str | None = None) -> Any:
    return lt.session(
        {
            "listen_interfaces": options.listen,
            "peer_fingerprint": peer_id or _peer_id(),
            # private torrents: peers come from Ferry's tracker only
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            # TCP only: uTP moves every 1.4 KB packet through libtorrent's own thread, and
            # on a LAN its yielding to other traffic buys nothing
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            # nodes behind one NAT share an address
            "allow_multiple_connections_per_ip": True,
            # the "stopped" announce is a courtesy: the tracker forgets silent peers anyway
            "stop_tracker_timeout": 1,
            "upload_rate_limit": options.upload_limit,
            "download_rate_limit": options.download_limit,
            "alert_mask": lt.alert_category.error
            | lt.alert_category.status
            | lt.alert_category.peer
            | lt.alert_category.storage,
        }
    )


def _note(alerts: Sequence[Any]) -> None:
    """Say what went wrong with pieces: a corrupt one (from a peer, banned for it, or from
    the origin) is taken again, but someone should know."""
    for alert in alerts:
        if isinstance(alert, lt.hash_failed_alert | lt.peer_ban_alert):
            log.warning("%s", alert.message())


def _params(f: SwarmFile, save_path: Path, options: SwarmOptions, *, seeding: bool) -> Any:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(f.torrent)
    params.save_path = str(save_path)
    # never libtorrent's web-seed client: a downloading node takes from Ferry what no peer
    # has itself (_Origin), and a seeder has nothing to fetch
    params.url_seeds = []
    params.flags |= lt.torrent_flags.override_web_seeds
    if seeding:
        # checked against the catalog's sha256 when installed: no need to read it all again
        # before serving (libtorrent still checks each piece the first time it sends it)
        params.flags |= lt.torrent_flags.seed_mode
    return params


async def fetch_from_swarm(
    files: Sequence[SwarmFile],
    options: SwarmOptions,
    listener: ProgressListener | None = None,
) -> dict[str, Path]:
    """Download ``files`` together; the name → downloaded file of those that completed.
    A file the swarm stops moving on for ``stall_timeout`` seconds is given up (its bytes
    deleted): the caller fetches it over HTTP."""
    listener = listener or NullProgress()
    if not files:
        return {}
    me = _peer_id()
    session = _session(options, me)
    handles: dict[str, Any] = {}
    done: dict[str, Path] = {}
    seen: dict[str, int] = {}
    feeding: list[asyncio.Task[None]] = []
    client = build_client(timeout=30.0, max_connections=2 * _STREAMS_ALONE * len(files))
    limit = RateLimit(options.download_limit) if options.download_limit > 0 else None
    try:
        for f in files:
            f.staging.mkdir(parents=True, exist_ok=True)
            handles[f.name] = handle = session.add_torrent(
                _params(f, f.staging, options, seeding=False)
            )
            seen[f.name] = 0
            url = _web_seed(f.torrent)
            if options.web_seed and url is not None:
                origin = _Origin(handle, url, me.encode(), client, limit)
                feeding.append(asyncio.create_task(origin.run(), name=f"origin {f.name}"))
        moved_at = time.monotonic()
        flushing: dict[str, float] = {}  # file → when its flush was asked for
        while len(done) < len(files):
            await asyncio.sleep(_POLL_S)
            alerts = session.pop_alerts()
            _note(alerts)
            flushed = [a.handle for a in alerts if isinstance(a, lt.cache_flushed_alert)]
            for f in files:
                if f.name in done:
                    continue
                status = handles[f.name].status()
                if status.total_wanted_done > seen[f.name]:
                    listener.advance(f.name, status.total_wanted_done - seen[f.name])
                    seen[f.name] = status.total_wanted_done
                    moved_at = time.monotonic()
                if not status.is_seeding:
                    continue
                # every piece checked, but not every block written yet: libtorrent hashes
                # from its write buffer. The file is read (sha256) once it says so.
                if f.name not in flushing:
                    handles[f.name].flush_cache()
                    flushing[f.name] = time.monotonic()
                elif handles[f.name] in flushed or time.monotonic() - flushing[f.name] > 30:
                    done[f.name] = f.staging / handles[f.name].torrent_file().name()
                moved_at = time.monotonic()
            if time.monotonic() - moved_at > options.stall_timeout:
                left = [f.name for f in files if f.name not in done]
                log.warning("the swarm stopped moving on %s: plain HTTP instead", ", ".join(left))
                for f in files:
                    if f.name not in done:
                        listener.advance(f.name, -seen[f.name])
                break
    finally:
        for task in feeding:
            task.cancel()
        await asyncio.gather(*feeding, return_exceptions=True)
        await client.aclose()
        _retire(session, list(handles.values()))
    for f in files:
        if f.name not in done:
            await asyncio.to_thread(shutil.rmtree, f.staging, True)
    return done


def _web_seed(torrent: bytes) -> str | None:
    """The file URL Ferry put in the torrent's url-list, for a single-file torrent (the
    only kind Ferry makes: the URL is the file's, BEP 19)."""
    doc: Any = lt.bdecode(torrent)
    urls = doc.get(b"url-list") if isinstance(doc, dict) else None
    if isinstance(urls, bytes):
        urls = [urls]
    info = doc.get(b"info", {}) if isinstance(doc, dict) else {}
    if not urls or not isinstance(urls[0], bytes) or b"files" in info:
        return None
    url = urls[0].decode()
    return None if url.endswith("/") else url


class _OriginRefused(Exception):
    """The origin said no (401, 403, 404, ...): asking again will not help."""


class _Origin:
    """Takes from Ferry the pieces of one torrent that no connected peer has, and hands
    them to libtorrent.

    The Ferry nodes downloading the torrent that see each other form a ring, ordered by
    peer id (every node computes the same ring from the ids in the handshakes): of ``n``
    nodes, the one at place ``k`` owns blocks ``k``, ``k + n``, ``k + 2n``... (a block: a
    few adjacent pieces, see _BLOCK) and takes them from the origin front to back, a block
    per request, re-checking right before each request that no peer has gained its pieces
    meanwhile; the nodes trade the rest. A node done with its own helps the node before it
    in the ring from the back of that one's list (so the two meet once, at the end), and
    when nothing has arrived for a while it takes pieces of nodes further back (one gone
    or stuck). A node leaving the ring moves the split, which costs at most
    the pieces in flight. Alone, a node takes everything, starting at a place of its own
    (should it only think it is alone, it does not take what another lone node takes).
    """

    def __init__(
        self,
        handle: Any,
        url: str,
        me: bytes,
        client: httpx.AsyncClient,
        limit: RateLimit | None,
    ) -> None:
        self.handle = handle
        parts = urlsplit(url)
        # the token travels as the URL's user (BEP 19 clients send it as HTTP Basic); kept
        # out of the URL that may end up in a log
        self.auth = (
            httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
            if parts.username or parts.password
            else None
        )
        self.url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.me = me
        self.client = client
        self.limit = limit
        info = handle.torrent_file()
        self.pieces = int(info.num_pieces())
        self.piece_length = int(info.piece_length())
        self.size = int(info.total_size())
        self.block = max(1, _BLOCK // self.piece_length)  # pieces
        self.claimed: dict[int, float] = {}  # piece → when this node took it on
        self.ring: tuple[bytes, ...] = ()
        self.ring_at = 0.0  # when it last changed
        self.lists: dict[tuple[int, int], list[int]] = {}
        self.started = self.moved_at = time.monotonic()
        self.settled = False
        self.had = 0
        self.fetched = 0  # bytes the origin sent this node

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker(slot)) for slot in range(_STREAMS_ALONE)]
        try:
            await asyncio.gather(*workers)
        except _OriginRefused as exc:
            log.warning("Ferry refused the pieces of %s: %s", self.url, exc)
        except Exception:  # a fault here must not pass unseen: the stall fallback follows
            log.exception("taking pieces of %s from the origin", self.url)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            log.info("%s: %d bytes from the origin", self.url, self.fetched)

    async def _worker(self, slot: int) -> None:
        while True:
            run = self._pick(slot)
            if run is None:
                return  # the torrent is whole
            if not run:
                await asyncio.sleep(_POLL_S)
                continue
            try:
                await self._take(run)
            except (httpx.HTTPError, OSError) as exc:
                log.info("pieces %s from the origin: %s", run, exc)
                for index in run:  # those not handed over
                    self.claimed.pop(index, None)
                await asyncio.sleep(1.0)

    def _pick(self, slot: int) -> list[int] | None:
        """The next pieces (adjacent) for ``slot`` to take from the origin, claimed; [] for
        none now; None once the torrent is whole."""
        status = self.handle.status()
        if status.is_seeding:
            return None
        now = time.monotonic()
        if status.total_wanted_done > self.had:
            self.had, self.moved_at = status.total_wanted_done, now
        if not self._settled(status, now):
            return []
        if slot >= (_STREAMS_ALONE if status.num_peers == 0 else _STREAMS):
            return []
        quiet = now - self.moved_at
        have = status.pieces
        available = self.handle.piece_availability()
        if len(have) != self.pieces or len(available) != self.pieces:
            return []  # checking, or whole since the status was taken (libtorrent says [])
        for index, at in list(self.claimed.items()):
            if have[index] or now - at > _ADDED_WAIT_S:
                del self.claimed[index]

        def wanted(index: int) -> bool:  # nobody here has it: the origin must send it
            return (
                not have[index]
                and index not in self.claimed
                and (not available[index] or quiet >= _STUCK_S)
            )

        place, n = self._ring()
        chosen = next((i for i in self._list(place, n) if wanted(i)), None)
        if chosen is None and n > 1:
            # done with mine: the node before me, from the back of its list
            left = [i for i in self._list((place - 1) % n, n) if wanted(i)]
            if len(left) > self.block:
                return self._claim([left[-1]], now)
        if chosen is None and quiet >= 2 * _HANDOFF_S:
            # nothing arriving: nodes further back in the ring, nearest first
            reach = int(quiet // _HANDOFF_S)
            ranked = sorted(((place - i // self.block) % n, i) for i in range(self.pieces))
            chosen = next((i for r, i in ranked if r <= reach and wanted(i)), None)
            return [] if chosen is None else self._claim([chosen], now)
        if chosen is None:
            return []
        run = [chosen]
        if now - self.ring_at >= _STABLE_S:
            while len(run) < self.block:
                following = run[-1] + 1
                if following >= self.pieces or not wanted(following):
                    break
                if n > 1 and following // self.block != chosen // self.block:
                    break  # the next node's
                run.append(following)
        return self._claim(run, now)

    def _claim(self, run: list[int], now: float) -> list[int]:
        for index in run:
            self.claimed[index] = now
        return run

    def _list(self, place: int, n: int) -> list[int]:
        """The pieces of the node at ``place`` of ``n``, in the order it takes them."""
        key = (place, n)
        if key not in self.lists:
            if n == 1:  # alone, or seeing nobody yet: from a place of this node's own
                start = int.from_bytes(hashlib.blake2b(self.me, digest_size=8).digest())
                start = start % self.pieces
                self.lists[key] = [*range(start, self.pieces), *range(start)]
            else:
                every = range(self.pieces)
                self.lists[key] = [i for i in every if (i // self.block) % n == place]
        return self.lists[key]

    def _settled(self, status: Any, now: float) -> bool:
        """Whether this node knows the peers it is going to know, for the split."""
        if not self.settled:
            waited = now - self.started
            trackers = self.handle.trackers()
            answered = any(t.get("start_sent") or t.get("fails") for t in trackers)
            # the nodes the tracker counts in the swarm, this one among them
            counted = max(
                (t.get("scrape_incomplete", 0) + t.get("scrape_complete", 0) for t in trackers),
                default=0,
            )
            self.settled = waited >= _WARMUP_S or (
                waited >= _SETTLE_S
                and answered
                and status.connect_candidates == 0
                and status.num_peers >= counted - 1
            )
        return self.settled

    def _ring(self) -> tuple[int, int]:
        """This node's place in the ring of Ferry nodes downloading the torrent that it is
        connected to (by peer id), and their number."""
        ids = {self.me}
        for p in self.handle.get_peer_info():
            if p.flags & (lt.peer_info.seed | lt.peer_info.handshake | lt.peer_info.connecting):
                continue
            pid = p.pid.to_bytes()
            if pid.startswith(_FINGERPRINT.encode()):
                ids.add(pid)
        ring = tuple(sorted(ids))
        if ring != self.ring:
            self.ring, self.ring_at = ring, time.monotonic()
        return ring.index(self.me), len(ring)

    async def _take(self, run: list[int]) -> None:
        """Pieces ``run`` (adjacent) from the origin, each handed to libtorrent as soon as
        its bytes are in and taken off ``run``; a transient error is retried for the rest."""
        for attempt in range(_RETRIES):
            try:
                await self._stream(run)
                return
            except (httpx.TransportError, httpx.HTTPStatusError):
                if attempt == _RETRIES - 1:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)

    async def _stream(self, run: list[int]) -> None:
        start = run[0] * self.piece_length
        end = min((run[-1] + 1) * self.piece_length, self.size)
        headers = {"Range": f"bytes={start}-{end - 1}"}
        auth = self.auth or httpx.USE_CLIENT_DEFAULT
        async with self.client.stream("GET", self.url, headers=headers, auth=auth) as answer:
            if answer.status_code in (429, 500, 502, 503, 504):
                raise httpx.HTTPStatusError(
                    f"HTTP {answer.status_code}", request=answer.request, response=answer
                )
            if answer.status_code != 206:
                # a 200 would be the whole file: never read it
                raise _OriginRefused(f"HTTP {answer.status_code} to a range request")
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if self.limit is not None:
                    await self.limit.consume(len(chunk))
                while run and len(body) >= self._length(run[0]):
                    length = self._length(run[0])
                    # libtorrent checks it against the piece's SHA-1, writes it and tells
                    # the peers; a piece that fails is asked for again (_ADDED_WAIT_S)
                    self.handle.add_piece(run[0], bytes(body[:length]), 0)
                    self.claimed[run[0]] = time.monotonic()
                    self.fetched += length
                    del body[:length]
                    del run[0]
                if not run:
                    return
        raise httpx.RemoteProtocolError(f"the origin's answer ended {len(run)} pieces short")

    def _length(self, index: int) -> int:
        return min(self.piece_length, self.size - index * self.piece_length)


async def seed(
    files: Callable[[], Sequence[tuple[SwarmFile, Path]]],
    options: SwarmOptions,
    *,
    until: Callable[[int, int], bool],
    report: Callable[[dict[str, int]], None] | None = None,
    refresh: float = 5.0,
) -> dict[str, int]:
    """Serve what ``files()`` names (each a torrent and the directory its file lies in) to
    the swarm, asking it again every ``refresh`` seconds (what was installed meanwhile joins;
    what was removed leaves), until ``until(bytes uploaded, bytes served)`` says enough;
    bytes uploaded per file."""
    session = _session(options)
    handles: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    uploaded: dict[str, int] = {}
    asked = -refresh
    try:
        while True:
            if time.monotonic() - asked >= refresh:
                asked = time.monotonic()
                wanted = {f.name: (f, where) for f, where in files()}
                for name in set(handles) - set(wanted):
                    session.remove_torrent(handles.pop(name))
                for name, (f, where) in wanted.items():
                    if name not in handles:
                        handles[name] = session.add_torrent(
                            _params(f, where, options, seeding=True)
                        )
                        sizes[name] = handles[name].torrent_file().total_size()
            # libtorrent adds up a torrent's traffic once a second: the last count is read
            # after that tick, so bytes sent just before a stop are not lost
            finishing = until(sum(uploaded.values()), sum(sizes.values()))
            if finishing:
                await asyncio.sleep(1.2)
            for name, handle in handles.items():
                uploaded[name] = handle.status().total_payload_upload
            if report is not None:
                report(dict(uploaded))
            if finishing or until(sum(uploaded.values()), sum(sizes.values())):
                return uploaded
            await asyncio.sleep(_POLL_S * 5)
    finally:
        _retire(session, list(handles.values()))
