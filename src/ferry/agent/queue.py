"""The node agent's install queue (``queue.json``): what to install next, in what order,
and which installs are paused.

Seed 004 asks for a download queue with priorities, and pause and resume. The queue is a
file in the agent's directory, so ``ferry agent queue``, ``pause`` and ``resume`` from one
shell steer ``ferry agent run`` (or an install) in another: the installing process reads
the file while it downloads, and stops a paused install at once, keeping the pieces that
arrived for the resume.

Order: the highest ``priority`` first, then first come first served. A running install is
not pre-empted by a later, higher one: pausing it frees its place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ferry.agent.state import flocked, read_state, write_json_atomic
from ferry.errors import ConfigError

__all__ = ["InstallQueue", "Queued"]


@dataclass
class Queued:
    model_id: str
    version: str | None  # None: the model's default version, as the server names it then
    priority: int = 0
    enqueued_at: float = 0.0
    paused: bool = False
    error: str | None = None  # the last attempt's, when the server could not be reached
    attempts: int = 0  # such attempts in a row
    not_before: float = 0.0  # when such an entry is tried again

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.model_id, self.version)

    def matches(self, model_id: str, version: str | None) -> bool:
        """An entry for the default version matches every version of its model, and a
        request without a version matches every entry of the model."""
        if self.model_id != model_id:
            return False
        return self.version is None or version is None or self.version == version


class InstallQueue:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "queue.json"
        self._lock = root / ".queue.lock"

    def read(self) -> list[Queued]:
        try:
            entries = [Queued(**e) for e in read_state(self.path, "queue", list)]
        except TypeError as exc:
            raise ConfigError(f"{self.path}: not a queue the agent wrote ({exc})") from None
        return sorted(entries, key=lambda e: (-e.priority, e.enqueued_at))

    def stamp(self) -> float:
        """Changes whenever the file is replaced: a cheap test for a reader that polls."""
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def change(self, edit: Callable[[list[Queued]], list[Queued]]) -> list[Queued]:
        self.root.mkdir(parents=True, exist_ok=True)
        with flocked(self._lock):
            entries = edit(self.read())
            write_json_atomic(self.path, {"version": 1, "queue": [asdict(e) for e in entries]})
            return entries

    def add(self, model_id: str, version: str | None, priority: int = 0) -> Queued:
        """Queue an install; queueing one again sets its priority and lifts a pause."""
        added = Queued(model_id, version, priority, time.time())

        def edit(entries: list[Queued]) -> list[Queued]:
            for e in entries:
                if e.key == added.key:
                    e.priority, e.paused = priority, False
                    e.error, e.attempts, e.not_before = None, 0, 0.0
                    added.enqueued_at = e.enqueued_at
                    return entries
            return [*entries, added]

        self.change(edit)
        return added

    def set_paused(self, model_id: str, version: str | None, paused: bool) -> int:
        """Pause (or resume) every entry that matches; how many did. Pausing an install
        that is not queued (a plain ``ferry agent install`` at work) queues it paused, so
        the installing process sees it and a resume finds it."""
        count = 0

        def edit(entries: list[Queued]) -> list[Queued]:
            nonlocal count
            for e in entries:
                if e.matches(model_id, version):
                    e.paused, e.not_before = paused, 0.0
                    count += 1
            if paused and count == 0:
                entries.append(Queued(model_id, version, 0, time.time(), paused=True))
                count = 1
            return entries

        self.change(edit)
        return count

    def is_paused(self, model_id: str, version: str) -> bool:
        return any(e.paused and e.matches(model_id, version) for e in self.read())

    def drop(self, key: tuple[str, str | None]) -> None:
        self.change(lambda entries: [e for e in entries if e.key != key])

    def failed(self, key: tuple[str, str | None], error: str, first: float, most: float) -> int:
        """Record a failed attempt; the next waits ``first`` seconds, twice that after
        another, up to ``most``. How many attempts failed in a row."""
        attempts = 0

        def edit(entries: list[Queued]) -> list[Queued]:
            nonlocal attempts
            for e in entries:
                if e.key == key:
                    e.attempts += 1
                    attempts = e.attempts
                    e.error = error
                    e.not_before = time.time() + min(most, first * 2 ** (e.attempts - 1))
            return entries

        self.change(edit)
        return attempts

    def runnable(self, running: set[tuple[str, str | None]]) -> list[Queued]:
        """What may start now, best first."""
        now = time.time()
        return [
            e for e in self.read() if not e.paused and e.key not in running and e.not_before <= now
        ]
