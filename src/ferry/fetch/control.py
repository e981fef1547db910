"""Pause, resume and cancel for a batch of downloads, or for one file in it.

A :class:`Batch` is handed to :meth:`Fetcher.fetch_all`. Downloads look at it between
chunks: a paused file gives its connections back and waits (its bytes stay on disk, so
resuming continues with a ``Range`` request); a cancelled file stops and its partial bytes
are deleted. The batch may also carry its own bandwidth limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Iterator
from contextvars import ContextVar

from ferry.errors import FetchError
from ferry.fetch.ratelimit import RateLimit

__all__ = ["Batch", "Cancelled", "Paused", "batch_scope", "current_batch"]

# The batch of the task being worked on (a service task's downloads), for fetches that are
# not handed one explicitly: every fetch inside the scope shares its limit and controls.
_current: ContextVar[Batch | None] = ContextVar("ferry_fetch_batch", default=None)


def current_batch() -> Batch | None:
    return _current.get()


@contextlib.contextmanager
def batch_scope(batch: Batch) -> Iterator[Batch]:
    """Make ``batch`` the one fetches in this context (and tasks it starts) belong to."""
    token = _current.set(batch)
    try:
        yield batch
    finally:
        _current.reset(token)


class Paused(Exception):
    """Raised inside a download when its batch or file was paused; handled by the engine."""


class Cancelled(FetchError):
    """A file (or its whole batch) was cancelled before it finished."""


class Batch:
    """Controls for one group of downloads; keys are :attr:`FetchRequest.key` values."""

    def __init__(self, *, rate_limit: float | None = None) -> None:
        self.limit = RateLimit(rate_limit) if rate_limit else None
        self._paused_all = False
        self._cancelled_all = False
        self._paused: set[Hashable] = set()
        self._cancelled: set[Hashable] = set()
        self._changed = asyncio.Event()

    def pause(self, key: Hashable | None = None) -> None:
        if key is None:
            self._paused_all = True
        else:
            self._paused.add(key)
        self._signal()

    def resume(self, key: Hashable | None = None) -> None:
        if key is None:
            self._paused_all = False
            self._paused.clear()
        else:
            self._paused.discard(key)
        self._signal()

    def cancel(self, key: Hashable | None = None) -> None:
        if key is None:
            self._cancelled_all = True
        else:
            self._cancelled.add(key)
        self._signal()

    def is_paused(self, key: Hashable) -> bool:
        return self._paused_all or key in self._paused

    def is_cancelled(self, key: Hashable) -> bool:
        return self._cancelled_all or key in self._cancelled

    def checkpoint(self, key: Hashable, name: str) -> None:
        """Raise :class:`Cancelled` or :class:`Paused` if the file should stop now."""
        if self.is_cancelled(key):
            raise Cancelled(f"{name}: cancelled", context=f"fetching {name}")
        if self.is_paused(key):
            raise Paused(name)

    async def wait_until_runnable(self, key: Hashable, name: str) -> None:
        """Return when the file may run; raise :class:`Cancelled` if it never will."""
        while True:
            self.checkpoint_cancel(key, name)
            if not self.is_paused(key):
                return
            self._changed.clear()
            await self._changed.wait()

    def checkpoint_cancel(self, key: Hashable, name: str) -> None:
        if self.is_cancelled(key):
            raise Cancelled(f"{name}: cancelled", context=f"fetching {name}")

    def _signal(self) -> None:
        # Wake every waiter; each re-checks its own key. A new Event per change would
        # strand waiters holding the old one.
        self._changed.set()
