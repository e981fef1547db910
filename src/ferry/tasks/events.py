"""Live task events: a per-task publish/subscribe hub for the websocket route.

The task manager publishes what happens to a task (status changes, progress, one log
line per file, a final error or completion); every websocket watching that task gets it.
Everything here runs on the event loop's thread: nothing blocks, nothing needs a lock.

Progress is coalesced: a download reports on every chunk, thousands of times a second,
while a browser only needs a few updates a second. The hub keeps the newest pending
progress per (task, ecosystem) and hands it out at most every ``progress_interval``
seconds. Other events are never dropped; a subscriber that cannot keep up is cut off
with a final error event, so a stuck client costs neither the publisher nor memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self

from ferry.errors import FerryError
from ferry.fetch.progress import ProgressListener
from ferry.states import FINISHED
from ferry.texts import Params, clean, event_text

__all__ = [
    "EventHub",
    "EventType",
    "HubProgress",
    "Subscription",
    "TaskEvent",
]

log = logging.getLogger(__name__)

EventType = Literal["progress", "analysis", "log", "status", "error", "complete"]
# the latest of these per ecosystem is all a watcher needs: coalesced, kept in the snapshot
_COALESCED = ("progress", "analysis")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _said(
    message: str | None, code: str | None, params: Mapping[str, object | None] | None
) -> tuple[str | None, str | None, Params | None]:
    """(message, code, params): with a code, the message is made from its template
    (:mod:`ferry.texts`) unless one is given, e.g. an error's own."""
    if code is None:
        return message, None, None
    sent = clean(params or {})
    return (message if message is not None else event_text(code, sent)), code, sent


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEvent:
    """One message to the watchers of a task; every field is always present in the JSON
    (null when it does not apply) so clients can rely on one shape.

    ``code`` and ``params`` are what ``message`` was made of (:mod:`ferry.texts`), for a
    reader in another language: an error event's code (and a failed status event's) is
    its error's code, any other event's one of ``EVENTS``."""

    type: EventType
    phase: str | None = None
    current: int | None = None
    total: int | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None
    speed: float | None = None  # bytes per second
    eta: float | None = None  # seconds
    message: str | None = None
    package_name: str | None = None
    timestamp: str = field(default_factory=_now)
    ecosystem: str | None = None
    status: str | None = None
    code: str | None = None
    params: Params | None = field(default=None, hash=False)

    @classmethod
    def status_changed(
        cls,
        status: str,
        reason: str | None = None,
        *,
        code: str | None = None,
        params: Mapping[str, object | None] | None = None,
    ) -> TaskEvent:
        message, code, sent = _said(reason, code, params)
        return cls(type="status", status=str(status), message=message, code=code, params=sent)

    @classmethod
    def log(
        cls,
        message: str | None = None,
        *,
        code: str | None = None,
        params: Mapping[str, object | None] | None = None,
        package_name: str | None = None,
        ecosystem: str | None = None,
        phase: str | None = None,
    ) -> TaskEvent:
        message, code, sent = _said(message, code, params)
        return cls(
            type="log",
            message=message,
            package_name=package_name,
            ecosystem=ecosystem,
            phase=phase,
            code=code,
            params=sent,
        )

    @classmethod
    def error(
        cls,
        message: str | None = None,
        *,
        status: str | None = None,
        code: str | None = None,
        params: Mapping[str, object | None] | None = None,
    ) -> TaskEvent:
        message, code, sent = _said(message, code, params)
        return cls(type="error", message=message, status=status, code=code, params=sent)

    @classmethod
    def complete(
        cls,
        message: str | None = None,
        *,
        status: str = "completed",
        code: str | None = None,
        params: Mapping[str, object | None] | None = None,
    ) -> TaskEvent:
        message, code, sent = _said(message, code, params)
        return cls(type="complete", message=message, status=status, code=code, params=sent)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in _FIELDS}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TaskEvent:
        """The event :meth:`to_dict` gave (from another process); unknown keys ignored."""
        return cls(**{f.name: doc[f.name] for f in _FIELDS if f.name in doc})


_FIELDS = fields(TaskEvent)


class Subscription:
    """One watcher's stream of a task's events: first the snapshot, then live events.

    Iterate it (``async for event in sub``); iteration ends once the subscription is
    closed, by the watcher (:meth:`close`) or by the hub (overflow, task forgotten, hub
    closed). Events the hub queued before ending it are still delivered.
    """

    def __init__(self, hub: EventHub, task_id: str, max_queue: int) -> None:
        self.task_id = task_id
        self._hub = hub
        self._max_queue = max_queue
        self._queue: deque[TaskEvent] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self.overflowed = False
        self.end_reason: str | None = None

    @property
    def closed(self) -> bool:
        return self._ended

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        """Stop watching; idempotent. Whatever was queued is thrown away."""
        self._queue.clear()
        self._end("closed")
        self._hub._detach(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> TaskEvent:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._ended:
                raise StopAsyncIteration
            # single-threaded: nothing can be queued between the checks above and clear()
            self._wakeup.clear()
            await self._wakeup.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # the hub's side

    def _preload(self, events: list[TaskEvent]) -> None:
        # the snapshot is bounded by the hub's history sizes, so it skips the cap
        self._queue.extend(events)
        if events:
            self._wakeup.set()

    def _push(self, event: TaskEvent) -> bool:
        """Queue ``event``; False when that overflowed the queue and ended the stream."""
        if self._ended:
            return False
        if len(self._queue) >= self._max_queue:
            # Dropping the backlog frees its memory now; a gap makes the rest of it
            # useless anyway, and a reconnect starts again from a fresh snapshot.
            self._queue.clear()
            self._queue.append(
                TaskEvent.error(code="socket-behind", params={"limit": self._max_queue})
            )
            self.overflowed = True
            self._end("overflow")
            return False
        self._queue.append(event)
        self._wakeup.set()
        return True

    def _end(self, reason: str) -> None:
        if not self._ended:
            self._ended = True
            self.end_reason = reason
        self._wakeup.set()


@dataclass(eq=False)
class _Topic:
    task_id: str
    subscribers: list[Subscription] = field(default_factory=list)
    status: TaskEvent | None = None
    # the latest analysis and progress event per (type, ecosystem), as delivered
    progress: dict[tuple[str, str | None], TaskEvent] = field(default_factory=dict)
    logs: deque[TaskEvent] = field(default_factory=deque)
    final: TaskEvent | None = None  # the last error or complete event
    pending: dict[tuple[str, str | None], TaskEvent] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    timer_loop: asyncio.AbstractEventLoop | None = None
    last_flush: float = float("-inf")

    def empty(self) -> bool:
        return not (
            self.subscribers
            or self.status
            or self.progress
            or self.logs
            or self.final
            or self.pending
        )


# What a hub hands every event it delivers (and None for a task forgotten) besides its own
# watchers: the broker's channel, when tasks run on workers (ferry.jobs.relay)
Relay = Callable[[str, "TaskEvent | None"], None]


class EventHub:
    """Per-task publish/subscribe for asyncio. Call it from the event loop's thread.

    With a ``relay``, every event delivered (progress at most every ``progress_interval``
    per ecosystem, as to a watcher) is also handed to it: a worker's events reach the API
    replicas' hubs that way, whose watchers may be anywhere."""

    def __init__(
        self,
        *,
        progress_interval: float = 0.25,
        log_history: int = 200,
        max_queue: int = 10_000,
        relay: Relay | None = None,
    ) -> None:
        self.progress_interval = progress_interval
        self.log_history = log_history
        self.max_queue = max_queue
        self.relay = relay
        self._topics: dict[str, _Topic] = {}

    def _topic(self, task_id: str) -> _Topic:
        topic = self._topics.get(task_id)
        if topic is None:
            topic = self._topics[task_id] = _Topic(task_id)
        return topic

    def subscribe(self, task_id: str) -> Subscription:
        """A new stream of ``task_id``'s events, starting with :meth:`snapshot`.

        Snapshot and registration happen without an await in between, so a watcher sees
        every event exactly once: either folded into the snapshot or live after it.
        """
        sub = Subscription(self, task_id, self.max_queue)
        topic = self._topic(task_id)
        sub._preload(self._snapshot(topic))
        topic.subscribers.append(sub)
        return sub

    def seed(self, task_id: str, events: list[TaskEvent]) -> None:
        """What to tell watchers of a task this hub has heard nothing about (a restart):
        kept as its history, delivered to nobody. A known task's history wins."""
        if task_id in self._topics:
            return
        topic = _Topic(task_id)
        for event in events:
            if event.type == "status":
                topic.status = event
            elif event.type in _COALESCED:
                topic.progress[(event.type, event.ecosystem)] = event
            elif event.type == "log":
                topic.logs.append(event)
            else:
                topic.final = event
        self._topics[task_id] = topic

    def publish(self, task_id: str, event: TaskEvent) -> None:
        """Hand ``event`` to the task's watchers. Never blocks and never raises: a
        broken watcher or a bug here must not fail the task that reports."""
        try:
            topic = self._topic(task_id)
            if event.type in _COALESCED:
                topic.pending[(event.type, event.ecosystem)] = event
                self._schedule(topic)
                return
            if event.type != "log":
                # the final numbers must reach a watcher before "completed"/"failed".
                # Logs do not force this: one log per file would defeat the rate limit,
                # and a progress event a little after its file's log line is harmless.
                self._flush(topic)
            if event.type == "log":
                topic.logs.append(event)
                while len(topic.logs) > self.log_history:
                    topic.logs.popleft()
            elif event.type == "status":
                topic.status = event
                if event.status not in FINISHED:
                    # a retried task is running again: its old failure is history
                    topic.final = None
            else:
                topic.final = event
            self._deliver(topic, event)
        except Exception:
            log.exception("publishing an event for task %s failed", task_id)

    def snapshot(self, task_id: str) -> list[TaskEvent]:
        """What a late watcher is told first: the latest status, the latest progress per
        ecosystem, the last ``log_history`` log lines, then the final error or
        completion if there was one. Progress still pending (at most
        ``progress_interval`` old) is not in it: it follows at the next flush."""
        topic = self._topics.get(task_id)
        return self._snapshot(topic) if topic is not None else []

    def forget(self, task_id: str) -> None:
        """Drop a task's history and end its watchers' streams (the task was deleted)."""
        if self.relay is not None:
            self._relay(task_id, None)
        topic = self._topics.pop(task_id, None)
        if topic is None:
            return
        if topic.timer is not None:
            topic.timer.cancel()
        for sub in topic.subscribers:
            sub._end("forgotten")
        topic.subscribers.clear()

    def release(self, task_id: str) -> None:
        """Send what is still pending of a task and drop its history without telling
        anyone (a worker done with the task: the replicas' hubs keep theirs)."""
        topic = self._topics.pop(task_id, None)
        if topic is not None:
            self._flush(topic)
            for sub in topic.subscribers:
                sub._end("released")

    def close(self) -> None:
        """End every stream (the server is shutting down) and drop all history."""
        for task_id in list(self._topics):
            topic = self._topics.pop(task_id)
            if topic.timer is not None:
                topic.timer.cancel()
            for sub in topic.subscribers:
                sub._end("hub closed")

    def subscriber_count(self, task_id: str) -> int:
        topic = self._topics.get(task_id)
        return len(topic.subscribers) if topic is not None else 0

    # inside

    def _snapshot(self, topic: _Topic) -> list[TaskEvent]:
        events: list[TaskEvent] = []
        if topic.status is not None:
            events.append(topic.status)
        events.extend(topic.progress.values())
        events.extend(topic.logs)
        if topic.final is not None:
            events.append(topic.final)
        return events

    def _schedule(self, topic: _Topic) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # no loop to wait on (a synchronous caller): deliver now rather than never
            self._flush(topic)
            return
        if topic.timer is not None:
            if topic.timer_loop is loop:
                return  # a flush is already due; it will take the newest pending event
            # armed on a loop that is gone (a hub outliving one test's loop): it never fires
            topic.timer.cancel()
            topic.timer = None
        delay = topic.last_flush + self.progress_interval - time.monotonic()
        if delay <= 0:
            # the first update after a quiet spell goes out at once: low latency
            self._flush(topic)
        else:
            topic.timer = loop.call_later(delay, self._timer_fired, topic)
            topic.timer_loop = loop

    def _timer_fired(self, topic: _Topic) -> None:
        topic.timer = None
        try:
            self._flush(topic)
        except Exception:
            log.exception("flushing task progress failed")

    def _flush(self, topic: _Topic) -> None:
        if topic.timer is not None:
            topic.timer.cancel()
            topic.timer = None
        if not topic.pending:
            return
        pending = list(topic.pending.values())
        topic.pending.clear()
        topic.last_flush = time.monotonic()
        for event in pending:
            topic.progress[(event.type, event.ecosystem)] = event
            self._deliver(topic, event)

    def _relay(self, task_id: str, event: TaskEvent | None) -> None:
        assert self.relay is not None
        try:
            self.relay(task_id, event)
        except Exception:
            log.exception("relaying an event of task %s failed", task_id)

    def _deliver(self, topic: _Topic, event: TaskEvent) -> None:
        if self.relay is not None:
            self._relay(topic.task_id, event)
        dropped: list[Subscription] = []
        for sub in topic.subscribers:
            try:
                if not sub._push(event):
                    dropped.append(sub)
            except Exception:
                log.exception("a task event watcher failed; dropping it")
                sub._end("failed")
                dropped.append(sub)
        for sub in dropped:
            topic.subscribers.remove(sub)

    def _detach(self, sub: Subscription) -> None:
        topic = self._topics.get(sub.task_id)
        if topic is None:
            return
        if sub in topic.subscribers:
            topic.subscribers.remove(sub)
        # a watcher of a task that never reported leaves nothing behind
        if topic.empty():
            del self._topics[sub.task_id]


# the phases :func:`ferry.services.bundle.bundle` announces, and their codes in
# ferry.texts.EVENTS ("fetching <ecosystem>" is "phase-fetching")
_PHASES = {"resolving": "phase-resolving", "packing": "phase-packing"}


@dataclass
class _Counts:
    waiting: bool = False
    total: int = 0
    completed: int = 0
    failed: int = 0
    bytes_done: int = 0
    # of bytes_done, what was in place already: not part of the speed
    bytes_cached: int = 0
    bytes_total: int = 0
    # (time, bytes_done) samples over the last window, for a speed that follows changes
    samples: deque[tuple[float, int]] = field(default_factory=deque)


class HubProgress:
    """A :class:`~ferry.fetch.progress.ProgressListener` that publishes to an EventHub.

    Publishes a progress event on every call (the hub coalesces them) and a log event
    per finished or failed file, for one task and the current ``ecosystem``. Every call
    is forwarded to ``inner`` first (the manager's in-memory counts), so wrapping it
    changes nothing for its readers.
    """

    def __init__(
        self,
        hub: EventHub,
        task_id: str,
        *,
        inner: ProgressListener | None = None,
        ecosystem: str = "pypi",
        window: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.task_id = task_id
        self.inner = inner
        self.phase: str | None = None
        self.window = window
        self._clock = clock
        self._counts: dict[str, _Counts] = {}
        self._ecosystem = ecosystem
        self.ecosystem = ecosystem  # through the setter, so that ``inner`` agrees

    @property
    def ecosystem(self) -> str:
        return self._ecosystem

    @ecosystem.setter
    def ecosystem(self, value: str) -> None:
        self._ecosystem = value
        # the manager's Progress attributes its counts the same way; keep them in step
        if self.inner is not None and hasattr(self.inner, "ecosystem"):
            self.inner.ecosystem = value

    def announce(self, name: str) -> None:
        """The ``phase`` callback of :func:`ferry.services.bundle.bundle`: "resolving",
        "fetching <ecosystem>", "packing"."""
        self.phase = name
        code: str | None = _PHASES.get(name)
        params: dict[str, object | None] = {}
        if name.startswith("fetching "):
            self.ecosystem = name.split(" ", 1)[1]
            code, params = "phase-fetching", {"ecosystem": self.ecosystem}
        event = TaskEvent.log(
            name if code is None else None,
            code=code,
            params=params,
            phase=name,
            # "resolving" and "packing" belong to no one ecosystem: the last one fetched
            # would label the npm resolution "pypi"
            ecosystem=self._ecosystem if name.startswith("fetching ") else None,
        )
        self.hub.publish(self.task_id, event)

    def plan(self, expected: dict[str, tuple[int, int]]) -> None:
        """Tell watchers every ecosystem's row from the start: "waiting", with the
        analysis's totals (``{eco: (files, bytes)}``), until the engine starts on it."""
        plan = getattr(self.inner, "plan", None)
        if plan is not None:
            plan(expected)
        for eco, (files, nbytes) in expected.items():
            counts = self._counts.setdefault(eco, _Counts(waiting=True))
            if counts.waiting:
                counts.total, counts.bytes_total = files, nbytes
            self.hub.publish(self.task_id, self._event(eco, counts, None))

    # ProgressListener

    def start(self, total_files: int, total_bytes: int) -> None:
        if self.inner is not None:
            self.inner.start(total_files, total_bytes)
        counts = self._current()
        if counts.waiting:
            # the engine's own count replaces the analysis's estimate; its byte total
            # only when it knows sizes (as TaskProgress.start)
            counts.waiting, counts.total = False, 0
            if total_bytes:
                counts.bytes_total = 0
        counts.total += total_files
        counts.bytes_total += total_bytes
        self._progress(None)

    def advance(self, name: str, nbytes: int) -> None:
        if self.inner is not None:
            self.inner.advance(name, nbytes)
        self._current().bytes_done += nbytes
        self._progress(name)

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        if self.inner is not None:
            self.inner.file_done(name, from_cache=from_cache, nbytes=nbytes)
        counts = self._current()
        counts.completed += 1
        if from_cache:
            counts.bytes_done += nbytes
            counts.bytes_cached += nbytes
        self.hub.publish(
            self.task_id,
            TaskEvent.log(
                code="file-cached" if from_cache else "file-fetched",
                params={"name": name},
                package_name=name,
                ecosystem=self._ecosystem,
                phase=self.phase,
            ),
        )
        self._progress(name)

    def file_failed(self, name: str, error: FerryError) -> None:
        if self.inner is not None:
            self.inner.file_failed(name, error)
        self._current().failed += 1
        self.hub.publish(
            self.task_id,
            TaskEvent.log(
                code="file-failed",
                params={"name": name, "reason": error.message},
                package_name=name,
                ecosystem=self._ecosystem,
                phase=self.phase,
            ),
        )
        self._progress(name)

    def finish(self) -> None:
        if self.inner is not None:
            self.inner.finish()
        counts = self._current()
        # what arrived is the true size once an estimate fell short
        counts.bytes_total = max(counts.bytes_total, counts.bytes_done)
        self._progress(None)

    # inside

    def _current(self) -> _Counts:
        return self._counts.setdefault(self._ecosystem, _Counts())

    def _speed(self, counts: _Counts) -> float | None:
        now = self._clock()
        samples = counts.samples
        # Keep about ten samples a second: overwrite the newest one until 0.1 s has
        # passed since the one before it, so chunk-sized calls do not grow the window.
        fetched = counts.bytes_done - counts.bytes_cached
        if len(samples) >= 2 and now - samples[-2][0] < 0.1:
            samples[-1] = (now, fetched)
        else:
            samples.append((now, fetched))
        while len(samples) > 2 and now - samples[1][0] >= self.window:
            samples.popleft()
        if len(samples) < 2:
            return None
        (t0, b0), (t1, b1) = samples[0], samples[-1]
        if t1 - t0 <= 0:
            return None
        # a retry's negative advance can make the window's difference negative
        return max(0.0, (b1 - b0) / (t1 - t0))

    def _progress(self, package_name: str | None) -> None:
        self.hub.publish(self.task_id, self._event(self._ecosystem, self._current(), package_name))

    def _event(self, eco: str, counts: _Counts, package_name: str | None) -> TaskEvent:
        speed = None if counts.waiting else self._speed(counts)
        eta: float | None = None
        if speed and counts.bytes_total > 0:
            eta = max(0, counts.bytes_total - counts.bytes_done) / speed
        return TaskEvent(
            type="progress",
            # a row the engine has not reached yet says so
            phase="waiting" if counts.waiting else self.phase,
            ecosystem=eco,
            current=counts.completed + counts.failed,
            total=counts.total,
            bytes_done=counts.bytes_done,
            bytes_total=counts.bytes_total,
            speed=speed,
            eta=eta,
            package_name=package_name,
        )
