"""Real BitTorrent peers for the tests: libtorrent sessions on 127.0.0.1, each with its
own port, taking a ``.torrent`` Ferry handed out."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import libtorrent as lt

SETTINGS: dict[str, Any] = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    # every peer is 127.0.0.1 here; on a real network each node has its own address
    "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.peer
    | lt.alert_category.storage,
}


class Peer:
    def __init__(
        self,
        torrent: bytes,
        directory: Path,
        *,
        web_seed: bool = True,
        tracker: bool = True,
        lies_about: bytes | None = None,
    ) -> None:
        """A peer downloading (or, with ``lies_about``, claiming to seed those bytes
        without a check: a peer that serves corrupt pieces)."""
        self.session = lt.session(SETTINGS)
        self.directory = directory
        self.info = lt.torrent_info(lt.bdecode(torrent))
        params = lt.add_torrent_params()
        params.ti = self.info
        params.save_path = str(directory)
        if not web_seed:
            params.url_seeds = []
            params.flags |= lt.torrent_flags.override_web_seeds
        if not tracker:
            params.trackers = []
            params.flags |= lt.torrent_flags.override_trackers
        if lies_about is not None:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / self.info.name()).write_bytes(lies_about)
            params.have_pieces = [True] * self.info.num_pieces()
            params.flags |= lt.torrent_flags.no_verify_files
        self.handle = self.session.add_torrent(params)
        self.hash_failures = 0
        self.banned = 0
        self.flushed = False

    @property
    def port(self) -> int:
        return int(self.session.listen_port())

    def connect(self, other: Peer) -> None:
        self.handle.connect_peer(("127.0.0.1", other.port))

    def poll(self) -> None:
        for alert in self.session.pop_alerts():
            if isinstance(alert, lt.hash_failed_alert):
                self.hash_failures += 1
            if isinstance(alert, lt.peer_ban_alert):
                self.banned += 1
            if isinstance(alert, lt.cache_flushed_alert):
                self.flushed = True

    @property
    def done(self) -> bool:
        return bool(self.handle.status().is_seeding)

    def wait(self, timeout: float = 60) -> None:
        """Until the file is whole and on disk: libtorrent checks pieces from its write
        buffer, so "seeding" can come before the last blocks are written."""
        deadline = time.monotonic() + timeout
        while not self.done:
            self.poll()
            status = self.handle.status()
            assert time.monotonic() < deadline, (status.state, status.progress, status.num_peers)
            time.sleep(0.05)
        self.flushed = False
        self.handle.flush_cache()
        while not self.flushed:
            assert time.monotonic() < deadline, "the cache was never flushed"
            time.sleep(0.05)
            self.poll()

    def sha256(self) -> str:
        return hashlib.sha256((self.directory / self.info.name()).read_bytes()).hexdigest()

    def close(self) -> None:
        self.session.remove_torrent(self.handle)


def published_torrent(server: Any, admin: str, reader: str, data: bytes) -> bytes:
    """Publish ``data`` as acme/big 1.0's model.bin on ``server`` (a support.serve.Server)
    and return its .torrent as a reader gets it."""
    # here, not at the top: models.conftest is the models tests' conftest, loaded by
    # pytest for them; a module-level import would load it for every user of Peer
    from models.conftest import publish

    publish(server, admin, "acme/big", "1.0", {"model.bin": data})
    headers = {"Authorization": f"Bearer {reader}"}
    (doc,) = httpx.get(
        f"{server.base}/api/v1/torrents",
        params={"repo_id": "acme/big"},
        headers=headers,
        timeout=60,
    ).json()["torrents"]
    return httpx.get(
        server.base + urlsplit(doc["torrent_url"]).path, headers=headers, timeout=60
    ).content
