"""``ferry worker``: runs the task steps the API replicas send, with the same TaskManager
code as the one-process service.

One process, one asyncio loop (in a thread of its own) where every task it runs works,
and ``threads`` Dramatiq worker threads, each waiting on one step at a time: how many steps
this process takes at once. Which may actually work at once is the leases' concern
(``max_concurrent_tasks`` across every worker).

On SIGTERM or SIGINT it stops taking steps; the steps under way are stopped (their files
so far stay in the store, their leases are given back) and go back to the queue for any
worker. A SIGKILL gives the same in the end: the broker hands the steps to another worker
once this one's heartbeat is missed, and the leases expire.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from ferry.db.leases import LeaseRepository
from ferry.errors import ConfigError
from ferry.jobs.broker import Interrupted, make_broker, queue_name, queued_jobs
from ferry.jobs.leases import Leases
from ferry.jobs.relay import Relay
from ferry.parts import open_parts
from ferry.services.confinement import service_box
from ferry.settings import Settings
from ferry.tasks.events import EventHub
from ferry.tasks.manager import TaskManager

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, settings: Settings, *, threads: int, config_file: Path | None) -> None:
        if not settings.task_queue:
            raise ConfigError(
                "ferry worker needs the task_queue setting (a redis:// URL) to take tasks from",
                hint="Set FERRY_TASK_QUEUE, and the same on every `ferry serve` replica.",
            )
        self.settings = settings
        self.threads = threads
        self.config_file = config_file
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._loop = asyncio.new_event_loop()
        self._stopping = threading.Event()
        self._inflight: set[concurrent.futures.Future[str]] = set()
        # what _open opened, closed in reverse by _close (every part, even after a failure)
        self._stack = contextlib.AsyncExitStack()
        self.manager: TaskManager | None = None

    def run(self) -> None:
        """Until SIGTERM or SIGINT."""
        loop_thread = threading.Thread(target=self._loop.run_forever, name="ferry-worker-loop")
        loop_thread.start()
        try:
            broker = make_broker(self.settings, run=self._step)
            self._call(self._open(broker))
            worker = dramatiq.Worker(
                broker, queues={queue_name(self.settings)}, worker_threads=self.threads
            )
            # a worker holds no more steps than it can start: the others stay in the
            # queue for the next idle worker
            worker.queue_prefetch = self.threads
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self._stopping.set())
            worker.start()
            log.info("ferry worker %s: %d threads on %s", self.holder, self.threads, broker)
            self._stopping.wait()
            log.info("stopping: the steps under way go back to the queue")
            for future in list(self._inflight):
                future.cancel()
            worker.stop(timeout=30_000)
            broker.close()
        finally:
            try:
                self._call(self._close())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                loop_thread.join(10)

    def stop(self) -> None:
        self._stopping.set()

    def _call(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def _step(self, task_id: str, step: str) -> None:
        """A Dramatiq worker thread's: one step, run in the loop; returns when it is over."""
        if self._stopping.is_set() or self.manager is None:
            raise Interrupted()
        future = asyncio.run_coroutine_threadsafe(self.manager.run_step(task_id, step), self._loop)
        self._inflight.add(future)
        try:
            outcome = future.result()
        except concurrent.futures.CancelledError:
            raise Interrupted() from None
        finally:
            self._inflight.discard(future)
        log.info("task %s, step %s: %s", task_id, step, outcome)
        if outcome == "lost":
            # another worker may hold it now, or nobody: the step goes back to the queue,
            # and whoever takes it next finds out from the lease and the status
            raise Interrupted()

    async def _open(self, broker: RedisBroker) -> None:
        settings = self.settings
        # the parts a replica opens (ferry/parts.py), closed last
        parts = await self._stack.enter_async_context(open_parts(settings))
        relay = Relay(settings.task_queue, settings.task_queue_prefix)
        relay.start()
        self._stack.push_async_callback(relay.aclose)
        leases = Leases(
            LeaseRepository(parts.sessions),
            parts.db,
            self.holder,
            ttl=settings.task_lease_seconds,
            limit=settings.max_concurrent_tasks,
        )
        manager = TaskManager(
            settings,
            parts.tasks,
            hub=EventHub(relay=relay.event),
            box=await service_box(settings, self.config_file),
            db=parts.db,
            kept=parts.kept,
            jobs=queued_jobs(settings, relay, leases, broker),
            shared_bucket=parts.shared,
        )
        self._stack.push_async_callback(manager.close)
        relay.listen(on_stop=lambda task_id: self._stop_task(manager, task_id))
        self.manager = manager

    def _stop_task(self, manager: TaskManager, task_id: str) -> None:
        self._loop.create_task(manager.stop_here(task_id))

    async def _close(self) -> None:
        try:
            await self._stack.aclose()
        except Exception:
            log.exception("closing the worker")
