"""Task events and stop requests between processes, over Redis pub/sub.

Every process that changes a task publishes the event on ``<prefix>:events``; every API
replica subscribes and feeds its own hub, whose watchers (WebSockets) may have connected to
any replica. Pause, cancel and delete publish ``<prefix>:control``; the worker running the
task stops it. Pub/sub keeps nothing: a replica that was down missed the live events, and
its watchers start from the task's row (status, progress) like after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ferry.tasks.events import TaskEvent

log = logging.getLogger(__name__)

# events waiting to be sent; past this a stuck Redis costs events, never the task's memory
_OUTBOX = 10_000


class Relay:
    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self.events = f"{prefix}:events"
        self.control = f"{prefix}:control"
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(_OUTBOX)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Begin sending (call from the event loop the relay serves)."""
        self._tasks.append(asyncio.create_task(self._send(), name="ferry-relay-send"))

    def event(self, task_id: str, event: TaskEvent | None) -> None:
        """A hub's relay: queued, sent in order by the sender task. None: forgotten."""
        doc = {"task_id": task_id, "event": None if event is None else event.to_dict()}
        self._put(self.events, doc)

    def stop(self, task_id: str) -> None:
        self._put(self.control, {"stop": task_id})

    def listen(
        self,
        *,
        on_event: Callable[[str, TaskEvent | None], None] | None = None,
        on_stop: Callable[[str], None] | None = None,
    ) -> None:
        """Subscribe (in the background, reconnecting) to events, stop requests, or both."""
        channels = [c for c, f in ((self.events, on_event), (self.control, on_stop)) if f]
        self._tasks.append(
            asyncio.create_task(self._listen(channels, on_event, on_stop), name="ferry-relay")
        )

    async def aclose(self) -> None:
        # what is queued goes out first, within a moment
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), 2.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._redis.aclose()

    def _put(self, channel: str, doc: dict[str, Any]) -> None:
        try:
            self._outbox.put_nowait((channel, json.dumps(doc, separators=(",", ":"))))
        except asyncio.QueueFull:
            log.warning("Redis is not keeping up: an event on %s was dropped", channel)

    async def _send(self) -> None:
        delay = 0.1
        while True:
            channel, data = await self._outbox.get()
            while True:
                try:
                    await self._redis.publish(channel, data)
                    delay = 0.1
                    self._outbox.task_done()
                    break
                except RedisError as exc:
                    log.warning("publishing to %s failed (%s): again in %.1fs", channel, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

    async def _listen(
        self,
        channels: list[str],
        on_event: Callable[[str, TaskEvent | None], None] | None,
        on_stop: Callable[[str], None] | None,
    ) -> None:
        delay = 0.1
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(*channels)
                    delay = 0.1
                    async for message in pubsub.listen():
                        self._dispatch(message, on_event, on_stop)
            except RedisError as exc:
                log.warning("listening on Redis failed (%s): again in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _dispatch(
        self,
        message: dict[str, Any],
        on_event: Callable[[str, TaskEvent | None], None] | None,
        on_stop: Callable[[str], None] | None,
    ) -> None:
        try:
            channel = message["channel"].decode()
            doc = json.loads(message["data"])
            if channel == self.events and on_event is not None:
                event = doc["event"]
                on_event(str(doc["task_id"]), None if event is None else TaskEvent.from_dict(event))
            elif channel == self.control and on_stop is not None:
                on_stop(str(doc["stop"]))
        except Exception:  # one bad message must not end the subscription
            log.exception("a message on Redis could not be handled")
