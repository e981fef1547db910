"""ferry.heap: with glibc's thresholds raised, a loop that reads a few 1 MiB pieces, then
drops them all (what a transfer's buffers do) reuses the same memory instead of faulting in
new pages for every piece: glibc's defaults give the heap's free top back to the kernel
once it is past twice the biggest piece seen, and fault it in again on the next round.

Each case runs in its own interpreter: the thresholds are a process's for good."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's"
)

_LOOP = """
import os, resource, sys
if sys.argv[1] == "tuned":
    from ferry.heap import keep_freed_buffers
    assert keep_freed_buffers()
zero = os.open("/dev/zero", os.O_RDONLY)
def run(rounds):
    for _ in range(rounds):
        # a few pieces in flight at once, then all dropped: what a transfer's buffers do
        pieces = [os.read(zero, 1 << 20) for _ in range(4)]
        del pieces
run(10)  # the heap grows to what the loop needs
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
run(250)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _LOOP, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_freed_pieces_are_reused_not_faulted_in_again() -> None:
    tuned = _faults("tuned")
    plain = _faults("plain")
    # 1,000 MiB went through: 256,000 pages if each piece were new memory
    assert tuned < 256, f"{tuned} page faults with the thresholds raised"
    assert plain > 50_000, f"glibc's defaults: {plain} faults (raised: {tuned})"


def test_keep_freed_buffers_says_so_and_is_done_once() -> None:
    from ferry import heap

    assert heap.keep_freed_buffers() is True
    assert heap.keep_freed_buffers() is True
