"""A token bucket for bytes: bandwidth limits for the whole engine or for one batch.

Written here rather than taken from a library: the rate limiters on PyPI count operations
and refuse an ``acquire`` larger than their bucket, while a download hands over chunks of
whatever size the socket produced, and a limit of 10 KB/s must still take a 64 KB chunk.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["RateLimit", "parse_rate", "shared_limit"]

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_rate(text: str) -> int:
    """``"10M"`` → bytes per second, like aria2's and curl's ``--limit-rate``; ``0`` is none."""
    value = text.strip().upper().removesuffix("B").removesuffix("/S")
    unit = value[-1:] if value[-1:] in _UNITS and value[-1:] != "" else ""
    number = value[: -len(unit)] if unit else value
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(
            f"not a rate: {text!r} (a number of bytes per second, optionally with K, M or G)"
        ) from None
    if amount < 0:
        raise ValueError(f"a rate cannot be negative: {text!r}")
    return int(amount * _UNITS[unit])


class RateLimit:
    """At most ``rate`` bytes per second on average, with a burst of ``burst`` bytes.

    ``consume(n)`` returns at once while tokens last and otherwise sleeps just long enough;
    the bucket may go negative, so a chunk larger than the burst is paid for afterwards
    instead of being refused.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate = float(rate)
        # A quarter of a second of traffic: smooth enough for a progress bar, few wake-ups.
        self.burst = float(burst if burst is not None else max(rate / 4, 64 * 1024))
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def consume(self, nbytes: int) -> None:
        if nbytes <= 0:
            return
        # The lock makes waiters queue in order, so one fast stream cannot starve the rest.
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= nbytes
            if self._tokens < 0:
                await asyncio.sleep(-self._tokens / self.rate)


_SHARED: dict[tuple[int, float], RateLimit] = {}


def shared_limit(rate: float) -> RateLimit:
    """The process-wide limit of ``rate`` bytes/s on the running event loop.

    The ``limit_rate`` setting caps everything a process downloads, however many engines
    (one per service task) are at work; a task's own limit is a :class:`Batch`'s.
    """
    key = (id(asyncio.get_running_loop()), float(rate))
    limit = _SHARED.get(key)
    if limit is None:
        limit = _SHARED[key] = RateLimit(rate)
    return limit
