"""Running Ferry's async work from synchronous code (the CLI), on the fastest loop here.

uvloop (libuv) runs the download engine's callbacks with less overhead than asyncio's own
loop: 500 small files from a loopback index took 1.31-1.57 s instead of 1.54-1.68 s
(`ferry fetch`, bench/run_fetch.py's small case). It is not available on Windows, where
asyncio's loop is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    return uvloop.run(coro)
