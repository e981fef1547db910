"""A worker's hold on the task it runs: taken before the step (waiting while the task is
another live worker's, or while as many tasks run as ``max_concurrent_tasks`` allows),
renewed while it works, given back after. A worker that cannot renew (the lease expired
and another worker took the task, or the task is gone) stops the step at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import AsyncIterator

from ferry.db.leases import LeaseRepository, Taken
from ferry.db.threads import DbThreads

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id}: another worker holds it now")
        self.task_id = task_id


class Leases:
    def __init__(
        self,
        repo: LeaseRepository,
        db: DbThreads,
        holder: str,
        *,
        ttl: float,
        limit: int,
        poll: float = 1.0,
    ) -> None:
        self.repo = repo
        self.db = db
        self.holder = holder
        self.ttl = ttl
        self.limit = limit
        self.poll = poll

    @contextlib.asynccontextmanager
    async def hold(self, task_id: str) -> AsyncIterator[None]:
        # one name per hold, not per worker: two deliveries of one step to the same worker
        # (two of its threads) must not both hold the task
        holder = f"{self.holder}/{secrets.token_hex(4)}"
        while True:
            taken = await self.db.write(self.repo.take, task_id, holder, self.ttl, self.limit)
            if taken is Taken.YES:
                break
            # jittered, so that waiting workers do not all ask at once
            await asyncio.sleep(self.poll * (0.5 + random.random()))
        work = asyncio.current_task()
        assert work is not None
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._renew(task_id, holder, work, lost))
        try:
            yield
        except asyncio.CancelledError:
            if lost.is_set() and work.uncancel() == 0:
                raise LeaseLost(task_id) from None
            raise
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if not lost.is_set():
                try:
                    await self.db.write(self.repo.release, task_id, holder)
                except Exception:  # it expires on its own
                    log.exception("giving back the lease of task %s failed", task_id)

    async def _renew(
        self, task_id: str, holder: str, work: asyncio.Task[object], lost: asyncio.Event
    ) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                held = await self.db.write(self.repo.renew, task_id, holder, self.ttl)
            except Exception:  # the database away for a moment: try again before it expires
                log.exception("renewing the lease of task %s failed", task_id)
                continue
            if not held:
                log.warning("task %s: the lease was lost; stopping", task_id)
                lost.set()
                work.cancel()
                return
