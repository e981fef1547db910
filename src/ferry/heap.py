"""Keep the memory a big transfer frees for the next piece, instead of handing it back.

A transfer of gigabytes allocates a buffer for every piece it receives (256 KiB from a
socket read, 1 MiB buffers, S3 parts) and frees it a moment later. glibc's malloc serves
allocations past its mmap threshold (128 KiB at first) with fresh ``mmap`` pages and gives
free memory at the top of its heap back to the kernel past its trim threshold, so such a
loop keeps asking the kernel for new pages: every 4 KiB page faulted in and zeroed again.
Where the machine hands freed memory back to its host (a VM whose balloon reports free
pages, as the one the benchmarks ran on), each new page is slower still: a 2 GB upload
took 96,000-107,000 page faults in the server and 0.4-0.8 s more CPU than with the
thresholds below (2026-12-06, by hand: ``curl -F`` of 2 GB to a local ``ferry serve``,
alternating with and without; 8-1,900 faults with them).

With the thresholds raised, freed buffers stay in the heap and are reused. What is kept is
bounded by the peak a transfer needed (a few buffers per transfer), not by its size: the
server's peak RSS is measured by the same bench.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_buffers"]

# mallopt's parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's ceiling for the mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): buffers up
# to an S3 part of 32 MiB come from the heap
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024

_done = False


def keep_freed_buffers() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); False where the
    C library is not glibc, or refused."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt to speak of)
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 on success
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done
