"""Connection slots handed out by priority: the engine's global and per-host limits.

``asyncio.Semaphore`` wakes waiters first come, first served; a download engine wants a
small manifest queued after a hundred wheels to get the next free connection, so waiters
here are ordered by ``(priority, arrival)``: lower priority values go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator

__all__ = ["PrioritySlots", "SlotPool"]


class PrioritySlots:
    """A semaphore of ``size`` slots whose waiters are woken in priority order."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self.size = size
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def in_use(self) -> int:
        return self.size - self._free

    def try_acquire(self) -> bool:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self, priority: int = 0) -> None:
        if self.try_acquire():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Woken and cancelled in the same breath: pass the slot on.
                self.release()
            else:
                self._waiters = [w for w in self._waiters if w[2] is not future]
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1

    @contextlib.asynccontextmanager
    async def hold(self, priority: int = 0) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()


class SlotPool:
    """Global connection slots plus a cap per host, taken together.

    The host slot is taken first: a request waiting for a busy host must not sit on one
    of the global slots that requests to other hosts could use.
    """

    def __init__(self, total: int, per_host: int) -> None:
        self.total = PrioritySlots(total)
        self.per_host_size = per_host
        self._hosts: dict[str, PrioritySlots] = {}

    def host(self, host: str) -> PrioritySlots:
        slots = self._hosts.get(host)
        if slots is None:
            slots = self._hosts[host] = PrioritySlots(self.per_host_size)
        return slots

    @contextlib.asynccontextmanager
    async def connection(self, host: str, priority: int = 0) -> AsyncIterator[None]:
        async with self.host(host).hold(priority), self.total.hold(priority):
            yield

    def try_connection(self, host: str) -> bool:
        """Take both slots without waiting, or neither."""
        host_slots = self.host(host)
        if not host_slots.try_acquire():
            return False
        if not self.total.try_acquire():
            host_slots.release()
            return False
        return True

    def release_connection(self, host: str) -> None:
        self.total.release()
        self.host(host).release()
