"""The status of many aria2 downloads, polled together a few times a second.

One ``system.multicall`` of ``aria2.tellStatus`` per round covers every download being
watched, however many there are; each download's coroutine waits for the next round and
reads its own status. A round in which aria2 does not answer asks the owner to recover
(restart the daemon); the GIDs of a dead daemon then read as unknown (None), which tells
their downloads to submit themselves again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ferry.errors import FetchError
from ferry.fetch.aria2.rpc import Aria2RPC, RPCError, RPCUnavailable

__all__ = ["Status", "StatusMonitor"]

_KEYS = ["gid", "status", "totalLength", "completedLength", "errorCode", "errorMessage"]


@dataclass(frozen=True)
class Status:
    """What ``aria2.tellStatus`` says about one download."""

    gid: str
    status: str  # active, waiting, paused, error, complete, removed
    total: int
    completed: int
    error_code: int = 0
    error_message: str = ""

    @property
    def finished(self) -> bool:
        return self.status in ("complete", "error", "removed")

    @classmethod
    def parse(cls, gid: str, raw: Any) -> Status:
        if not isinstance(raw, dict):
            raise ValueError(f"not a status: {raw!r:.200}")
        return cls(
            gid=gid,
            status=str(raw.get("status", "")),
            total=int(raw.get("totalLength") or 0),
            completed=int(raw.get("completedLength") or 0),
            error_code=int(raw.get("errorCode") or 0),
            error_message=str(raw.get("errorMessage") or ""),
        )


class StatusMonitor:
    """Polls ``aria2.tellStatus`` for the watched GIDs every ``interval`` seconds.

    ``rpc`` returns the current client (it changes when the daemon restarts); ``recover``
    is awaited when aria2 does not answer and may raise to fail every waiter.
    """

    def __init__(
        self,
        rpc: Callable[[], Aria2RPC],
        *,
        interval: float = 0.25,
        recover: Callable[[FetchError], Awaitable[None]] | None = None,
    ) -> None:
        self._rpc = rpc
        self._interval = interval
        self._recover = recover
        self._watched: set[str] = set()
        # The round each status was read in, so a waiter never takes an older one.
        self._statuses: dict[str, tuple[int, Status | None]] = {}
        self._count = 0
        self._round = asyncio.Event()
        self._error: FetchError | None = None
        self._task: asyncio.Task[None] | None = None

    def watch(self, gid: str) -> None:
        self._watched.add(gid)
        self._statuses.pop(gid, None)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="aria2-status")

    def forget(self, gid: str) -> None:
        self._watched.discard(gid)
        self._statuses.pop(gid, None)

    async def next(self, gid: str) -> Status | None:
        """The status of ``gid`` after the next round; None if aria2 does not know it."""
        if gid not in self._watched:
            self.watch(gid)
        asked = self._count
        while True:
            await self._round.wait()
            if self._error is not None:
                raise self._error
            entry = self._statuses.get(gid)
            if entry is not None and entry[0] > asked:
                return entry[1]

    def wake(self) -> None:
        """End the current round early (the daemon restarted: statuses are stale)."""
        for gid in self._watched:
            self._statuses[gid] = (self._count + 1, None)
        self._tick()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        self._watched.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _tick(self) -> None:
        # Waiters hold the event they awaited: set it, then give later waiters a new one.
        self._count += 1
        done, self._round = self._round, asyncio.Event()
        done.set()

    async def _poll(self) -> None:
        while self._watched:
            gids = list(self._watched)
            self._error = None
            try:
                answers = await self._rpc().multicall(
                    [("aria2.tellStatus", (gid, _KEYS)) for gid in gids]
                )
            except RPCUnavailable as exc:
                answers = [None] * len(gids)
                if self._recover is not None:
                    try:
                        await self._recover(exc)
                    except FetchError as fatal:
                        self._error = fatal
                else:
                    self._error = exc
            except RPCError as exc:
                answers = [None] * len(gids)
                self._error = exc
            except Exception as exc:  # a bug here must fail the downloads, not hang them
                answers = [None] * len(gids)
                self._error = FetchError(f"polling aria2 failed: {exc!r}")
            for gid, answer in zip(gids, answers, strict=True):
                if gid in self._watched:
                    self._statuses[gid] = (self._count + 1, _status(gid, answer))
            self._tick()
            await asyncio.sleep(self._interval)


def _status(gid: str, answer: Any) -> Status | None:
    if answer is None or isinstance(answer, RPCError):
        return None  # "GID ... is not found": a restarted daemon, or removed results
    try:
        return Status.parse(gid, answer)
    except (TypeError, ValueError):
        return None
