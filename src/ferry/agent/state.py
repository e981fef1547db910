"""What a node agent keeps on disk: ``registry.json`` (what is installed where, in what
state) and the locks that keep two processes from installing the same version at once.

``registry.json`` is only ever replaced whole (written beside it, fsync'd, renamed over
it), under a lock of its own, so a reader sees the old or the new file, never half of
one, and a crash at any moment leaves one of them.

A task lock is a file holding ``{pid, timestamp, model_id, version, timeout}`` and an
``flock`` on it: the kernel drops the flock when its process dies however it dies, so a
lock whose flock can be taken is stale whatever its file says, and is cleaned at start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import ConfigError
from ferry.fsutil import fsync_dir

__all__ = [
    "Installed",
    "Registry",
    "TaskLock",
    "clean_stale_locks",
    "flocked",
    "read_state",
    "write_bytes_atomic",
    "write_json_atomic",
]

READY, DOWNLOADING, VERIFYING, ERROR = "ready", "downloading", "verifying", "error"
# Stopped by ``ferry agent pause``: the pieces that arrived stay for the resume.
PAUSED = "paused"


@dataclass
class Installed:
    model_id: str
    version: str
    status: str
    path: str
    commit: str = ""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path → sha256, size
    error: str | None = None
    updated_at: float = 0.0


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "registry.json"
        self._lock = root / ".registry.lock"

    def read(self) -> dict[str, Installed]:
        doc = read_state(self.path, "models", dict)
        try:
            return {key: Installed(**value) for key, value in doc.items()}
        except TypeError as exc:
            raise _damaged(self.path, exc) from None

    def get(self, model_id: str, version: str) -> Installed | None:
        return self.read().get(_key(model_id, version))

    def change(self, edit: Callable[[dict[str, Installed]], None]) -> None:
        """Read, ``edit`` in place, and replace the file, under the registry's lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        with flocked(self._lock):
            entries = self.read()
            edit(entries)
            doc = {"version": 1, "models": {k: asdict(v) for k, v in sorted(entries.items())}}
            write_json_atomic(self.path, doc)

    def put(self, entry: Installed) -> None:
        entry.updated_at = time.time()

        def edit(entries: dict[str, Installed]) -> None:
            entries[_key(entry.model_id, entry.version)] = entry

        self.change(edit)

    def drop(self, model_id: str, version: str) -> None:
        def edit(entries: dict[str, Installed]) -> None:
            entries.pop(_key(model_id, version), None)

        self.change(edit)


def _key(model_id: str, version: str) -> str:
    return f"{model_id}@{version}"


class TaskLock:
    """The lock of one (model, version) install."""

    def __init__(self, root: Path, model_id: str, version: str, timeout: float) -> None:
        self.path = root / ".locks" / (_key(model_id, version).replace("/", "--") + ".lock")
        self.model_id, self.version, self.timeout = model_id, version, timeout
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        info = {
            "pid": os.getpid(),
            "timestamp": time.time(),
            "model_id": self.model_id,
            "version": self.version,
            "timeout": self.timeout,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text() or "null")  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def clean_stale_locks(root: Path) -> list[dict[str, Any]]:
    """Remove every lock no live process holds (its flock can be taken); what they said."""
    cleaned = []
    for path in sorted((root / ".locks").glob("*.lock")):
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # held: an install under way in another process
            try:
                cleaned.append(json.loads(path.read_text() or "{}"))
            except ValueError:
                cleaned.append({})
            path.unlink()
        finally:
            os.close(fd)
    return cleaned


def read_state(path: Path, field: str, kind: type[Any]) -> Any:
    """``field`` of one of the agent's JSON files (empty when there is no file yet); a file
    damaged by hand or by another program is an error naming it, never read as empty (that
    would forget what is installed)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return kind()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(path, exc) from None
    value = doc.get(field, kind()) if isinstance(doc, dict) else None
    if not isinstance(value, kind):
        raise _damaged(path, f"{field!r} is not a JSON {kind.__name__}")
    return value


def _damaged(path: Path, why: object) -> ConfigError:
    return ConfigError(
        f"{path}: not a file the agent wrote ({why})",
        hint="Move it aside; the agent starts a new one (reinstall what it listed).",
    )


def write_json_atomic(path: Path, doc: object) -> None:
    """Replace ``path`` whole: written beside it, fsync'd, renamed over it."""
    write_bytes_atomic(path, json.dumps(doc, indent=2).encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    staging = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    with staging.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    staging.replace(path)
    fsync_dir(path.parent)


@contextlib.contextmanager
def flocked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
