"""The agent's BitTorrent side (seed 002): a model's large files from the swarm (other nodes
and Ferry's web seed), given up for plain HTTP when the swarm stops moving, and seeded to
the nodes after.

libtorrent does the protocol; this module only feeds it the ``.torrent`` files Ferry hands
out and watches it from the event loop. Pieces are checked by libtorrent against their
SHA-1 as they arrive (a peer sending bad ones is banned); whole files are checked against
the catalog's sha256 by the agent before they are placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libtorrent as lt

from ferry.fetch.progress import NullProgress, ProgressListener

__all__ = ["SwarmFile", "SwarmOptions", "fetch_from_swarm", "seed", "sessions_retired"]

log = logging.getLogger(__name__)

_POLL_S = 0.2

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
    web_seed: bool = True  # Ferry's file route as a peer of last resort (BEP 19)
    upload_limit: int = 0  # bytes per second, 0: none
    download_limit: int = 0


@dataclass(frozen=True)
class SwarmFile:
    name: str  # the file's path in its version, for the progress bars
    torrent: bytes
    staging: Path  # a directory of its own: libtorrent writes the file there


def _session(options: SwarmOptions) -> Any:
    return lt.session(
        {
            "listen_interfaces": options.listen,
            # private torrents: peers come from Ferry's tracker only
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            # nodes behind one NAT share an address
            "allow_multiple_connections_per_ip": True,
            # the "stopped" announce is a courtesy: the tracker forgets silent peers anyway
            "stop_tracker_timeout": 1,
            "upload_rate_limit": options.upload_limit,
            "download_rate_limit": options.download_limit,
            "alert_mask": lt.alert_category.error | lt.alert_category.status,
        }
    )


def _params(f: SwarmFile, save_path: Path, options: SwarmOptions, *, seeding: bool) -> Any:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(f.torrent)
    params.save_path = str(save_path)
    if not options.web_seed:
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
    session = _session(options)
    handles: dict[str, Any] = {}
    done: dict[str, Path] = {}
    seen: dict[str, int] = {}
    try:
        seeds: dict[str, list[str]] = {}
        for f in files:
            f.staging.mkdir(parents=True, exist_ok=True)
            handles[f.name] = session.add_torrent(_params(f, f.staging, options, seeding=False))
            seeds[f.name] = list(handles[f.name].url_seeds())
            seen[f.name] = 0
        moved_at = time.monotonic()
        while len(done) < len(files):
            await asyncio.sleep(_POLL_S)
            for f in files:
                if f.name in done:
                    continue
                status = handles[f.name].status()
                if options.web_seed:
                    _origin_as_last_resort(handles[f.name], status, seeds[f.name])
                if status.total_wanted_done > seen[f.name]:
                    listener.advance(f.name, status.total_wanted_done - seen[f.name])
                    seen[f.name] = status.total_wanted_done
                    moved_at = time.monotonic()
                if status.is_seeding:
                    done[f.name] = f.staging / handles[f.name].torrent_file().name()
            if time.monotonic() - moved_at > options.stall_timeout:
                left = [f.name for f in files if f.name not in done]
                log.warning("the swarm stopped moving on %s: plain HTTP instead", ", ".join(left))
                for f in files:
                    if f.name not in done:
                        listener.advance(f.name, -seen[f.name])
                break
    finally:
        _retire(session, list(handles.values()))
    for f in files:
        if f.name not in done:
            await asyncio.to_thread(shutil.rmtree, f.staging, True)
    return done


def _origin_as_last_resort(handle: Any, status: Any, urls: list[str]) -> None:
    """Ferry's web seed only while the peers this node sees do not hold a whole copy
    between them: what a peer has is taken from the peer, so a fleet starting together
    takes about one copy from the origin, and a swarm that thins out (peers gone) brings
    the origin back."""
    held = set(handle.url_seeds())
    if status.distributed_copies >= 1.0:
        for url in held:
            handle.remove_url_seed(url)
    else:
        for url in urls:
            if url not in held:
                handle.add_url_seed(url)


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
