"""A bundle task's life: which status may follow which. Pure.

created → resolving → resolved → downloading ⇄ paused
                                  downloading → packing → completed
any unfinished state → failed | cancelled
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    CREATED = "created"
    RESOLVING = "resolving"
    RESOLVED = "resolved"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    PACKING = "packing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
UNFINISHED = frozenset(TaskStatus) - FINISHED

# to_status -> the statuses it may follow
ALLOWED_FROM: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.RESOLVING: frozenset({TaskStatus.CREATED}),
    TaskStatus.RESOLVED: frozenset({TaskStatus.RESOLVING}),
    # from failed: a retry, which fetches only what the store does not hold yet
    TaskStatus.DOWNLOADING: frozenset({TaskStatus.RESOLVED, TaskStatus.PAUSED, TaskStatus.FAILED}),
    TaskStatus.PAUSED: frozenset({TaskStatus.DOWNLOADING}),
    TaskStatus.PACKING: frozenset({TaskStatus.DOWNLOADING}),
    TaskStatus.COMPLETED: frozenset({TaskStatus.PACKING}),
    TaskStatus.FAILED: UNFINISHED,
    TaskStatus.CANCELLED: UNFINISHED,
}


def allowed_from(to: TaskStatus) -> frozenset[str]:
    return frozenset(str(s) for s in ALLOWED_FROM.get(to, frozenset()))
