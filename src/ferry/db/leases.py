"""Which worker runs which task (``task_leases``): with the files each task was created
with (``task_files``, kept by the task repository), what lets any worker take any task,
and no two workers the same one.

A lease is the task's and the service's at once: at most one per task (its primary key),
and at most ``limit`` live ones in all, which is how ``max_concurrent_tasks`` holds across
every worker. Taking one is one transaction; on PostgreSQL it is serialised by a
transaction-scoped advisory lock, so two workers counting at once cannot both take the last
slot; on SQLite it begins as the one writer.

An expired lease stays its holder's until another worker takes that task: a holder whose
renewal came late (a loaded machine, the database away for a moment) keeps its task when
nobody else wanted it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.models import TaskLease
from ferry.db.repository import utcnow

# an arbitrary constant: the advisory lock every lease-taking transaction waits on
_ADVISORY_KEY = 0x5F3E_7A11


class Taken(enum.Enum):
    YES = "yes"
    BUSY = "busy"  # another live holder runs this task
    FULL = "full"  # as many tasks run as the limit allows


class LeaseRepository:
    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def take(self, task_id: str, holder: str, ttl: float, limit: int) -> Taken:
        """Hold ``task_id`` for ``ttl`` seconds if nobody else does and fewer than
        ``limit`` tasks are held; a holder taking its own lease again renews it."""
        now = self._clock()
        with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
            elif dialect == "sqlite":
                # pysqlite would BEGIN only at the INSERT, after the count was read outside
                # any transaction: begin as the writer, before reading
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            current = session.get(TaskLease, task_id, populate_existing=True)
            if current is not None and current.expires_at > now:
                if current.holder != holder:
                    return Taken.BUSY
                current.expires_at = now + timedelta(seconds=ttl)
                return Taken.YES
            live = session.scalar(
                select(func.count())
                .select_from(TaskLease)
                .where(TaskLease.expires_at > now, TaskLease.task_id != task_id)
            )
            if (live or 0) >= limit:
                return Taken.FULL
            if current is not None:  # its holder stopped renewing: the task is free
                session.delete(current)
                session.flush()
            session.add(
                TaskLease(task_id=task_id, holder=holder, expires_at=now + timedelta(seconds=ttl))
            )
            return Taken.YES

    def renew(self, task_id: str, holder: str, ttl: float) -> bool:
        """Extend the lease; False when it is no longer ``holder``'s (another worker took
        the task after it expired, or the task was deleted)."""
        now = self._clock()
        with self._sessions.begin() as session:
            result = session.execute(
                update(TaskLease)
                .where(TaskLease.task_id == task_id, TaskLease.holder == holder)
                .values(expires_at=now + timedelta(seconds=ttl))
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0))

    def release(self, task_id: str, holder: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                delete(TaskLease)
                .where(TaskLease.task_id == task_id, TaskLease.holder == holder)
                .execution_options(synchronize_session=False)
            )

    def holders(self) -> dict[str, str]:
        """Task id → holder of every live lease."""
        now = self._clock()
        with self._sessions() as session:
            rows = session.execute(
                select(TaskLease.task_id, TaskLease.holder).where(TaskLease.expires_at > now)
            )
            return {task_id: holder for task_id, holder in rows}
