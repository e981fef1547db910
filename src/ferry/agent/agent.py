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
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ferry.agent.state import (
    DOWNLOADING,
    ERROR,
    READY,
    VERIFYING,
    Installed,
    Registry,
    TaskLock,
    clean_stale_locks,
)
from ferry.errors import FerryError, FetchError, UsageError
from ferry.fetch.backends import open_downloads
from ferry.fetch.progress import ProgressListener
from ferry.fetch.request import FetchRequest
from ferry.filehash import sha256_of_file
from ferry.models.names import check_model_id, check_path, check_version
from ferry.settings import Settings, load_settings
from ferry.store.cas import ContentStore

__all__ = ["Agent", "ModelNotAvailableError"]

TASK_LOCK_TIMEOUT = 30 * 60.0  # seed 004: a large model takes its time


class ModelNotAvailableError(FerryError):
    """``reason``: ``not_installed``, ``downloading``, ``verifying`` or ``error``."""

    code = "model-not-available"

    def __init__(self, model_id: str, version: str, reason: str, detail: str | None = None) -> None:
        self.model_id, self.version, self.reason = model_id, version, reason
        said = f": {detail}" if detail else ""
        super().__init__(f"model {model_id}@{version} is not available: {reason}{said}")


class Agent:
    def __init__(
        self,
        root: Path,
        server: str,
        token: str | None,
        settings: Settings | None = None,
    ) -> None:
        self.root = root
        self.server = server.rstrip("/")
        self.token = token
        base = settings or load_settings(None, data_dir=root / ".ferry")
        # seed 004: three files at a time, three retries; the engine's own downloader
        self.settings = base.model_copy(
            update={"concurrency": 3, "retries": 3, "fetch_backend": "native"}
        )
        self.registry = Registry(root)
        root.mkdir(parents=True, exist_ok=True)
        self.cleaned = clean_stale_locks(root)
        if self.cleaned:
            self._forget_stale()

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
    ) -> Installed:
        check_model_id(model_id)
        if version is not None:
            check_version(version)  # before a word goes to the server
        doc = await self._catalog(model_id)
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
        self.registry.put(entry)
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
        store = ContentStore(self.settings.blob_dir)
        try:
            async with open_downloads(self.settings, store, auth=auth) as downloads:
                report = await downloads.fetcher(listener).fetch_all(requests)
        except FerryError as exc:
            return self._failed(entry, exc.message)
        if report.failures:
            names = ", ".join(r.display_name for r, _ in report.failures)
            return self._failed(
                entry,
                f"{len(report.failures)} files failed ({names}): {report.failures[0][1].message}",
            )
        entry.status = VERIFYING
        self.registry.put(entry)
        if not await asyncio.to_thread(self._complete, entry):
            return self._failed(entry, "a file is missing or of another size after the download")
        entry.status = READY
        entry.error = None
        self.registry.put(entry)
        return entry

    def _failed(self, entry: Installed, reason: str) -> Installed:
        entry.status = ERROR
        entry.error = reason
        self.registry.put(entry)
        return entry

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
            held = self.registry.get(model_id, version)
            if held is None:
                return False
            self.registry.drop(model_id, version)
            await asyncio.to_thread(shutil.rmtree, held.path, True)
            return True
        finally:
            lock.release()

    # -- internals

    async def _catalog(self, model_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                answer = await client.get(f"{self.server}/api/models/{quote(model_id)}")
        except httpx.HTTPError as exc:
            raise FetchError(f"could not reach {self.server}: {exc}") from exc
        if answer.status_code == 404:
            raise UsageError(f"{self.server} has no model {model_id}")
        if answer.status_code != 200:
            raise FetchError(f"{self.server} answered HTTP {answer.status_code} for {model_id}")
        return answer.json()  # type: ignore[no-any-return]

    def _forget_stale(self) -> None:
        """Versions left downloading by a process that died: marked error (their files
        that arrived whole, and the partial pieces, stay for the next install)."""

        def edit(entries: dict[str, Installed]) -> None:
            for e in entries.values():
                if e.status in (DOWNLOADING, VERIFYING):
                    e.status, e.error = ERROR, "the install was interrupted; install again"

        self.registry.change(edit)
