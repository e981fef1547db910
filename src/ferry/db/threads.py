"""The threads database calls run on, apart from every other blocking call.

The repositories are synchronous (SQLAlchemy sessions), so the service calls them in
threads. With ``asyncio.to_thread`` they shared the default executor (six threads on two
cores) with everything else tasks do in threads: parsing manifests, asking npm for its
configuration, setting up the resolver box, hashing. And reads shared threads with
writes: thirty tasks created at once are sixty commits that SQLite takes one at a time,
and every thread waited for the write lock while reads queued behind them (a
``GET /api/tasks/{id}`` took up to 2 s, bench/RESULTS.md). Reads and writes each have
threads of their own: in WAL mode readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")


class DbThreads:
    """``await db(fn, ...)`` reads; ``await db.write(fn, ...)`` anything that commits."""

    def __init__(self, readers: int = 6, writers: int = 2) -> None:
        self._reads = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="ferry-db-read")
        self._writes = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="ferry-db-write")

    async def __call__(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reads, functools.partial(fn, *args, **kwargs))

    async def write(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writes, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)
        self._writes.shutdown(wait=False, cancel_futures=True)
