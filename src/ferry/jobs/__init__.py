"""Tasks on workers (``ferry worker``) instead of inside the API process, when the
``task_queue`` setting names a Redis: Dramatiq carries the steps, Redis pub/sub the events
and stop requests, and database leases make sure each task runs on one worker at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ferry.jobs.leases import Leases

__all__ = ["Jobs"]


@dataclass(frozen=True)
class Jobs:
    """What a TaskManager needs when its tasks run on workers."""

    send: Callable[[str, str], Awaitable[None]]  # (task id, step) to the queue
    stop: Callable[[str], None]  # ask whichever worker runs the task to stop it
    leases: Leases | None = None  # a worker's: it runs steps; None: an API replica
