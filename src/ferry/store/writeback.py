"""Start writing a file's pages to disk while it is still being written.

A big file written and then fsynced waits at the fsync for everything the page cache
gathered (about a second per 2 GB on a fast disk, more on a slow one). Asking the kernel to
begin write-back of each piece as soon as it is written (Linux ``sync_file_range`` with
``SYNC_FILE_RANGE_WRITE``, which does not wait) spreads that work over the transfer, so the
final fsync has only the last pieces left. It is only a head start: the fsync still decides
what is durable, and where the call does not exist :func:`start_writeback` does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["start_writeback"]

_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_call = _sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing ``[offset, offset + length)`` of ``fd`` to disk, without
    waiting for it. Flush a buffered file object first: only what reached the kernel counts.
    A failure is ignored (the caller's fsync reports what matters)."""
    if _call is not None and length > 0:
        _call(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
