"""The node agent (seed 004): models from a Ferry service onto this machine, each file
checked, and a path for the programs that use them.

    agent = Agent(Path("/var/lib/ferry-agent"), "http://ferry:8000", token)
    await agent.install("acme/tiny")              # the default version
    agent.get_model_path("acme/tiny")             # a path, or ModelNotAvailableError

An install takes the version's task lock (a second process installing the same version
waits for it, then finds it ready); marks it ``downloading`` in ``registry.json``; places
the files an installed version already has with the same sha256 by a hard link (an update
fetches only what changed); fetches the rest through Ferry's fetch engine (3 files at a
time, 3 retries, pieces resumed after a crash, every byte checked against the catalog's
sha256 as it arrives); then marks it ``ready``. A failure keeps the files that arrived
whole and marks the version ``error`` with the reason. Locks whose process died are
cleaned when an agent starts.

Around that: the catalog's documents are cached for ``manifest_ttl`` seconds
(:mod:`ferry.agent.manifests`); installs can be queued with priorities, paused and resumed
from another process (:mod:`ferry.agent.queue`, :meth:`Agent.run_queue`); and every change
of a version's state is handed to the ``on_change`` callbacks, so a program serving the
model can load a new version the moment it is ``ready``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import libtorrent as lt

from ferry.agent.manifests import DEFAULT_TTL, ManifestCache
from ferry.agent.queue import InstallQueue, Queued
from ferry.agent.state import (
    DOWNLOADING,
    ERROR,
    PAUSED,
    READY,
    VERIFYING,
    Installed,
    Registry,
    TaskLock,
    clean_stale_locks,
    write_bytes_atomic,
    write_json_atomic,
)
from ferry.agent.swarm import SwarmFile, SwarmOptions, fetch_from_swarm, seed
from ferry.egress import EgressRefused
from ferry.errors import FerryError, FetchError, LocalWriteError, UsageError
from ferry.fetch.backends import open_downloads
from ferry.fetch.control import Cancelled
from ferry.fetch.progress import NullProgress, ProgressListener
from ferry.fetch.request import FetchRequest
from ferry.filehash import sha256_of_file
from ferry.models.names import check_model_id, check_path, check_version
from ferry.p2p.torrent import info_hash_of
from ferry.settings import Settings, load_settings
from ferry.store.cas import ContentStore

__all__ = ["Agent", "ModelNotAvailableError"]

TASK_LOCK_TIMEOUT = 30 * 60.0  # seed 004: a large model takes its time
_POLL_S = 0.25  # how often an install looks whether it was paused
# a queued install whose server was away is tried again after 10 s, 20 s, … at most 5 min
_RETRY_FIRST_S, _RETRY_MAX_S = 10.0, 300.0

log = logging.getLogger(__name__)

OnChange = Callable[[Installed], None]


class ModelNotAvailableError(FerryError):
    """``reason``: ``not_installed``, ``downloading``, ``verifying`` or ``error``."""

    code = "model-not-available"

    def __init__(self, model_id: str, version: str, reason: str, detail: str | None = None) -> None:
        self.model_id, self.version, self.reason = model_id, version, reason
        said = f": {detail}" if detail else ""
        super().__init__(f"model {model_id}@{version} is not available: {reason}{said}")


def _is_info_hash(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value)
    )


def _info_hash_of(torrent: bytes) -> str | None:
    """The info hash a ``.torrent`` really has (what the listing said is not trusted)."""
    doc: Any = lt.bdecode(torrent)
    info = doc.get(b"info") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        return None
    return info_hash_of(bytes(lt.bencode(info)))


def _write_once(path: Path, data: bytes) -> None:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)


def _place_checked(file: Path, request: FetchRequest) -> bool:
    """Move a file the swarm gave into its place if its sha256 is the catalog's."""
    if file.stat().st_size != request.size or sha256_of_file(file) != request.digest:
        file.unlink()
        return False
    assert request.dest is not None
    request.dest.parent.mkdir(parents=True, exist_ok=True)
    file.replace(request.dest)
    return True


def _worth_again(error: FerryError) -> bool:
    """A failure another round may cure: the network's, not bad bytes, a full disk, a
    refused address or a cancel."""
    return isinstance(error, FetchError) and not isinstance(
        error, (LocalWriteError, EgressRefused, Cancelled)
    )


class _Moved:
    """Passes fetch events on, counting the bytes that arrived."""

    def __init__(self, inner: ProgressListener | None) -> None:
        self.inner = inner or NullProgress()
        self.nbytes = 0

    def start(self, total_files: int, total_bytes: int) -> None:
        self.inner.start(total_files, total_bytes)

    def advance(self, name: str, nbytes: int) -> None:
        self.nbytes += max(nbytes, 0)
        self.inner.advance(name, nbytes)

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        self.inner.file_done(name, from_cache=from_cache, nbytes=nbytes)

    def file_failed(self, name: str, error: FerryError) -> None:
        self.inner.file_failed(name, error)

    def finish(self) -> None:
        self.inner.finish()


class Agent:
    def __init__(
        self,
        root: Path,
        server: str,
        token: str | None,
        settings: Settings | None = None,
        *,
        manifest_ttl: float = DEFAULT_TTL,
        on_change: OnChange | None = None,
        swarm: SwarmOptions | None = None,
    ) -> None:
        self.root = root
        self.swarm = swarm  # None: plain HTTP only
        self.server = server.rstrip("/")
        self.token = token
        self.callbacks: list[OnChange] = [on_change] if on_change else []
        base = settings or load_settings(None, data_dir=root / ".ferry")
        # seed 004: three files at a time, three retries; the engine's own downloader
        self.settings = base.model_copy(
            update={"concurrency": 3, "retries": 3, "fetch_backend": "native"}
        )
        self.registry = Registry(root)
        self.queue = InstallQueue(root)
        self.manifests = ManifestCache(root, manifest_ttl)
        root.mkdir(parents=True, exist_ok=True)
        self.cleaned = clean_stale_locks(root)
        if self.cleaned:
            self._forget_stale({(c.get("model_id"), c.get("version")) for c in self.cleaned})

    # -- reading

    def get_model_path(self, model_id: str, version: str | None = None) -> Path:
        """The directory of an installed version (the default one the agent installed
        last when no version is given)."""
        check_model_id(model_id)
        entries = [e for e in self.registry.read().values() if e.model_id == model_id]
        if version is not None:
            entries = [e for e in entries if e.version == version]
        if not entries:
            raise ModelNotAvailableError(model_id, version or "default", "not_installed")
        entry = max(entries, key=lambda e: (e.status == READY, e.updated_at))
        if entry.status == PAUSED:
            # seed 004's four reasons: a paused download is a download not finished
            raise ModelNotAvailableError(model_id, entry.version, DOWNLOADING, "paused")
        if entry.status != READY:
            raise ModelNotAvailableError(model_id, entry.version, entry.status, entry.error)
        return Path(entry.path)

    def list(self) -> list[Installed]:
        return sorted(self.registry.read().values(), key=lambda e: (e.model_id, e.version))

    # -- installing

    async def install(
        self,
        model_id: str,
        version: str | None = None,
        *,
        listener: ProgressListener | None = None,
        wait: float = TASK_LOCK_TIMEOUT,
        refresh: bool = False,
    ) -> Installed:
        """Install ``version`` (the default one if None). ``refresh`` asks the server even
        when the cached catalog document is fresh (an update wants the newest default).
        Installing a version lifts a pause on it."""
        check_model_id(model_id)
        if version is not None:
            check_version(version)  # before a word goes to the server
        doc = await self._catalog(model_id, refresh=refresh)
        name = version or doc.get("default_version")
        if not isinstance(name, str):
            raise UsageError(f"{model_id} has no published version")
        check_version(name)
        found = next((v for v in doc.get("versions", []) if v.get("version") == name), None)
        if found is None:
            raise UsageError(f"{model_id} has no version {name}")
        files = {f["path"]: f for f in found["files"]}
        for path in files:
            check_path(path)
        lock = TaskLock(self.root, model_id, name, TASK_LOCK_TIMEOUT)
        deadline = time.monotonic() + wait
        while not lock.try_acquire():
            # another process installs it: wait for it, then take what it made
            if time.monotonic() > deadline:
                raise ModelNotAvailableError(
                    model_id, name, DOWNLOADING, "another install holds it"
                )
            await asyncio.sleep(0.2)
        try:
            held = self.registry.get(model_id, name)
            if held is not None and held.status == READY and self._complete(held):
                return held
            if self.queue.is_paused(model_id, name):
                self.queue.set_paused(model_id, name, False)
            return await self._install(
                model_id, name, str(found.get("commit", "")), files, listener
            )
        finally:
            lock.release()

    async def _install(
        self,
        model_id: str,
        version: str,
        commit: str,
        files: dict[str, dict[str, Any]],
        listener: ProgressListener | None,
    ) -> Installed:
        target = self.root / "models" / model_id / version
        entry = Installed(
            model_id,
            version,
            DOWNLOADING,
            str(target),
            commit,
            {p: {"sha256": f["sha256"], "size": f["size_bytes"]} for p, f in files.items()},
        )
        self._put(entry)
        await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
        requests = []
        for path, f in files.items():
            dest = target / path
            if await asyncio.to_thread(self._reuse, dest, f["sha256"], f["size_bytes"]):
                continue
            url = f"{self.server}/storage/models/{quote(model_id)}/{quote(version)}/{quote(path)}"
            requests.append(
                FetchRequest(
                    url=url, digest=f["sha256"], size=f["size_bytes"], name=path, dest=dest
                )
            )
        parts = urlsplit(self.server)
        auth = {f"{parts.scheme}://{parts.netloc}": f"Bearer {self.token}"} if self.token else None
        if self.swarm is not None and requests:
            swarming = asyncio.create_task(
                self._from_swarm(model_id, version, entry, requests, listener)
            )
            if await self._paused_while(swarming, model_id, version):
                entry.status = PAUSED
                self._put(entry)
                return entry
            requests = swarming.result()
        store = ContentStore(self.settings.blob_dir)
        stalled = 0
        while requests:
            moved = _Moved(listener)
            try:
                async with open_downloads(self.settings, store, auth=auth) as downloads:
                    fetching = asyncio.create_task(downloads.fetcher(moved).fetch_all(requests))
                    if await self._paused_while(fetching, model_id, version):
                        entry.status = PAUSED
                        self._put(entry)
                        return entry
                    report = fetching.result()
            except FerryError as exc:
                return self._failed(entry, exc.message)
            if not report.failures:
                break
            # A server restarted under a long download breaks every connection at once,
            # more often than the engine's own retries allow for. A round that moved bytes
            # has not failed as such: the files that did not arrive go again, from where
            # they stopped, until rounds stop moving (bytes that do not match, never).
            stalled = 0 if moved.nbytes > 0 else stalled + 1
            first = report.failures[0][1]
            final = any(not _worth_again(e) for _, e in report.failures)
            if final or stalled > self.settings.retries:
                names = ", ".join(r.display_name for r, _ in report.failures)
                return self._failed(
                    entry, f"{len(report.failures)} files failed ({names}): {first.message}"
                )
            requests = [request for request, _ in report.failures]
            await asyncio.sleep(min(_RETRY_MAX_S, 2.0**stalled))
        entry.status = VERIFYING
        self._put(entry)
        if not await asyncio.to_thread(self._complete, entry):
            return self._failed(entry, "a file is missing or of another size after the download")
        entry.status = READY
        entry.error = None
        self._put(entry)
        return entry

    async def _paused_while(self, fetching: asyncio.Task[Any], model_id: str, version: str) -> bool:
        """Wait for ``fetching``; if the install is paused first, stop it (the engine keeps
        the pieces that arrived) and say so."""
        stamp = None
        while not fetching.done():
            now = self.queue.stamp()
            if now != stamp:
                stamp = now
                if await asyncio.to_thread(self.queue.is_paused, model_id, version):
                    fetching.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await fetching
                    return True
            await asyncio.wait([fetching], timeout=_POLL_S)
        return False

    def _failed(self, entry: Installed, reason: str) -> Installed:
        entry.status = ERROR
        entry.error = reason
        self._put(entry)
        return entry

    def _put(self, entry: Installed) -> None:
        """Record ``entry`` and tell the callbacks; a callback's failure is logged, never
        the install's."""
        self.registry.put(entry)
        for callback in self.callbacks:
            try:
                callback(copy.deepcopy(entry))
            except Exception:
                log.exception(
                    "an on_change callback failed for %s@%s", entry.model_id, entry.version
                )

    def _reuse(self, dest: Path, sha256: str, size: int) -> bool:
        """Place a file another installed version has with these bytes (a hard link, a
        copy across file systems); True if placed."""
        if dest.is_file() and dest.stat().st_size == size and sha256_of_file(dest) == sha256:
            return True
        for other in self.registry.read().values():
            if other.status != READY:
                continue
            for path, f in other.files.items():
                if f["sha256"] != sha256:
                    continue
                source = Path(other.path) / path
                if not source.is_file() or source.stat().st_size != size:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    dest.unlink()
                try:
                    os.link(source, dest)
                except OSError:
                    shutil.copy2(source, dest)
                return True
        return False

    def _complete(self, entry: Installed) -> bool:
        return all(
            (Path(entry.path) / p).is_file() and (Path(entry.path) / p).stat().st_size == f["size"]
            for p, f in entry.files.items()
        )

    async def remove(self, model_id: str, version: str) -> bool:
        check_model_id(model_id)
        check_version(version)
        lock = TaskLock(self.root, model_id, version, TASK_LOCK_TIMEOUT)
        if not lock.try_acquire():
            raise ModelNotAvailableError(model_id, version, DOWNLOADING, "an install holds it")
        try:
            self.queue.drop((model_id, version))
            held = self.registry.get(model_id, version)
            if held is None:
                return False
            self.registry.drop(model_id, version)
            await asyncio.to_thread(shutil.rmtree, held.path, True)
            return True
        finally:
            lock.release()

    # -- the swarm

    async def _from_swarm(
        self,
        model_id: str,
        version: str,
        entry: Installed,
        requests: builtins.list[FetchRequest],
        listener: ProgressListener | None,
    ) -> builtins.list[FetchRequest]:
        """Take what the swarm gives of ``requests`` (each file then checked against the
        catalog's sha256 and placed); the requests left for plain HTTP."""
        assert self.swarm is not None
        wanted = {r.name: r for r in requests}
        offered = {
            p: t for p, t in (await self._torrents(model_id, version)).items() if p in wanted
        }
        for path, (info_hash, data) in offered.items():
            kept = self.root / "torrents" / f"{info_hash}.torrent"
            await asyncio.to_thread(_write_once, kept, data)
            entry.files[path]["info_hash"] = info_hash  # what `ferry agent seed` serves
        if not offered:
            return requests
        self._put(entry)
        chosen = [
            SwarmFile(path, data, self.root / ".swarm" / info_hash)
            for path, (info_hash, data) in offered.items()
        ]
        got = await fetch_from_swarm(chosen, self.swarm, listener)
        placed = set()
        for path, file in got.items():
            request = wanted[path]
            if await asyncio.to_thread(_place_checked, file, request):
                placed.add(path)
            else:
                log.warning("%s from the swarm is not the catalog's bytes: over HTTP", path)
        for path in offered:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(shutil.rmtree, self.root / ".swarm" / offered[path][0])
        return [r for r in requests if r.name not in placed]

    async def _torrents(self, model_id: str, version: str) -> dict[str, tuple[str, bytes]]:
        """path → (info hash, .torrent) of the version's files the server has torrents
        of; nothing when it has none or cannot say (plain HTTP then)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        found: dict[str, tuple[str, bytes]] = {}
        try:
            async with httpx.AsyncClient(headers=headers, timeout=120) as client:
                listing = await client.get(
                    f"{self.server}/api/v1/torrents",
                    params={"repo_id": model_id, "commit_hash": version},
                )
                if listing.status_code != 200:
                    log.info(
                        "no torrents of %s %s (HTTP %s)", model_id, version, listing.status_code
                    )
                    return {}
                for doc in listing.json().get("torrents", []):
                    path, info_hash = doc.get("filename"), doc.get("info_hash")
                    if not isinstance(path, str) or not _is_info_hash(info_hash):
                        continue
                    check_path(path)
                    answer = await client.get(f"{self.server}/api/v1/torrents/{info_hash}/torrent")
                    if answer.status_code == 200 and _info_hash_of(answer.content) == info_hash:
                        found[path] = (info_hash, answer.content)
        except (httpx.HTTPError, ValueError, UsageError) as exc:
            log.warning("torrents of %s %s: %s; plain HTTP", model_id, version, exc)
            return {}
        return found

    async def seed(
        self,
        *,
        duration: float | None = None,
        ratio: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> dict[str, int]:
        """Serve every installed file that has a torrent to the swarm (versions installed
        meanwhile, by this process or another, join within seconds), until ``stop`` is
        set, ``duration`` seconds have passed, or ``ratio`` times their size went up;
        bytes uploaded per file. ``seeding/<pid>.json`` says what is served meanwhile."""
        assert self.swarm is not None
        started = time.monotonic()
        # one file per seeding process: `ferry agent seed` and an install's --seed-for may
        # both run, and `status` and `stop` see each
        state = self.root / "seeding" / f"{os.getpid()}.json"
        state.parent.mkdir(exist_ok=True)

        def until(uploaded: int, served: int) -> bool:
            return (
                (stop is not None and stop.is_set())
                or (duration is not None and time.monotonic() - started >= duration)
                or (ratio is not None and served > 0 and uploaded >= ratio * served)
            )

        def report(uploaded: dict[str, int]) -> None:
            doc = {
                "pid": os.getpid(),
                "started_at": time.time() - (time.monotonic() - started),
                "files": uploaded,
            }
            write_json_atomic(state, doc)

        try:
            return await seed(self._seedable, self.swarm, until=until, report=report)
        finally:
            with contextlib.suppress(FileNotFoundError):
                state.unlink()

    def _seedable(self) -> builtins.list[tuple[SwarmFile, Path]]:
        """Each ready file with a kept torrent, and the directory it lies in."""
        files: builtins.list[tuple[SwarmFile, Path]] = []
        for e in self.registry.read().values():
            if e.status != READY:
                continue
            for path, f in e.files.items():
                kept = self.root / "torrents" / f"{f.get('info_hash')}.torrent"
                if f.get("info_hash") and kept.is_file():
                    name = f"{e.model_id}@{e.version}/{path}"
                    torrent = SwarmFile(name, kept.read_bytes(), kept.parent)
                    files.append((torrent, (Path(e.path) / path).parent))
        return files

    # -- the queue

    def enqueue(self, model_id: str, version: str | None = None, priority: int = 0) -> Queued:
        check_model_id(model_id)
        if version is not None:
            check_version(version)
        return self.queue.add(model_id, version, priority)

    def pause(self, model_id: str, version: str | None = None) -> int:
        """Pause the matching installs, queued or under way in any process."""
        check_model_id(model_id)
        if version is not None:
            check_version(version)
        return self.queue.set_paused(model_id, version, True)

    def resume(self, model_id: str, version: str | None = None) -> int:
        check_model_id(model_id)
        if version is not None:
            check_version(version)
        return self.queue.set_paused(model_id, version, False)

    async def run_queue(
        self,
        *,
        parallel: int = 1,
        watch: bool = False,
        stop: asyncio.Event | None = None,
        listener: ProgressListener | None = None,
    ) -> builtins.list[Installed]:
        """Install what the queue holds, ``parallel`` models at a time, best first; what
        each install ended as. Without ``watch`` it returns once nothing runnable is left
        (paused entries, and those whose server was away, stay queued); with it, it waits
        for more, and retries those, until ``stop`` is set. ``stop`` lets the installs
        under way finish and starts no more."""
        if parallel < 1:
            raise UsageError(f"parallel must be at least 1, not {parallel}")
        stop = stop or asyncio.Event()
        running: dict[tuple[str, str | None], asyncio.Task[Installed]] = {}
        ended: builtins.list[Installed] = []
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                if not stop.is_set():
                    runnable = await asyncio.to_thread(self.queue.runnable, set(running))
                    for queued in runnable[: max(0, parallel - len(running))]:
                        running[queued.key] = asyncio.create_task(
                            self.install(queued.model_id, queued.version, listener=listener)
                        )
                if not running and (stop.is_set() or not watch):
                    return ended
                waits: set[asyncio.Future[Any]] = {stopping, *running.values()}
                await asyncio.wait(waits, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                for key, task in list(running.items()):
                    if task.done():
                        del running[key]
                        ended.extend(await asyncio.to_thread(self._settle, key, task))
        finally:
            stopping.cancel()
            for task in running.values():  # only when run_queue itself is cancelled
                task.cancel()

    def _settle(
        self, key: tuple[str, str | None], task: asyncio.Task[Installed]
    ) -> builtins.list[Installed]:
        error = task.exception()
        if error is None:
            entry = task.result()
            if entry.status != PAUSED:  # a paused one stays queued for its resume
                self.queue.drop(key)
            return [entry]
        if isinstance(error, FetchError):
            # the server away: the entry stays, tried again later, waiting longer each time
            attempts = self.queue.failed(key, error.message, _RETRY_FIRST_S, _RETRY_MAX_S)
            log.warning("%s: %s (attempt %d)", key[0], error.message, attempts)
            return []
        self.queue.drop(key)  # no such model or version: nothing to wait for
        if isinstance(error, FerryError):
            log.error("%s: %s", key[0], error.message)
            return []
        raise error

    # -- internals

    async def catalog(self, model_id: str, *, refresh: bool = False) -> dict[str, Any]:
        """The catalog's document of ``model_id`` (versions, their commits and files), as
        an install reads it: cached for ``manifest_ttl`` seconds."""
        check_model_id(model_id)
        return await self._catalog(model_id, refresh=refresh)

    async def _catalog(self, model_id: str, *, refresh: bool = False) -> dict[str, Any]:
        """The catalog's document of ``model_id``: the cached one while it is fresh, else
        the server's; the last one known when the server cannot be reached."""
        if not refresh and (cached := self.manifests.get(model_id)) is not None:
            return cached
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                answer = await client.get(f"{self.server}/api/models/{quote(model_id)}")
        except httpx.HTTPError as exc:
            known = self.manifests.get(model_id, max_age=float("inf"))
            if known is not None:
                log.warning(
                    "%s unreachable (%s): using the cached catalog of %s",
                    self.server,
                    exc,
                    model_id,
                )
                return known
            raise FetchError(f"could not reach {self.server}: {exc}") from exc
        if answer.status_code == 404:
            raise UsageError(f"{self.server} has no model {model_id}")
        if answer.status_code != 200:
            raise FetchError(f"{self.server} answered HTTP {answer.status_code} for {model_id}")
        doc = answer.json()
        if not isinstance(doc, dict):
            raise FetchError(f"{self.server}: the catalog of {model_id} is not a JSON object")
        await asyncio.to_thread(self.manifests.put, model_id, doc)
        return doc

    def _forget_stale(self, stale: set[tuple[Any, Any]]) -> None:
        """Versions left downloading by a process that died: marked error (their files
        that arrived whole, and the partial pieces, stay for the next install). Another
        process's install under way holds its lock, so it is not among them."""

        def edit(entries: dict[str, Installed]) -> None:
            for e in entries.values():
                if e.status in (DOWNLOADING, VERIFYING) and (e.model_id, e.version) in stale:
                    e.status, e.error = ERROR, "the install was interrupted; install again"

        self.registry.change(edit)
