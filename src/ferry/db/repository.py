"""Bundle tasks in the database: the only code that reads or writes the task tables.

Synchronous on purpose (the service calls it through ``asyncio.to_thread``); every method
is one transaction and returns frozen records, never ORM objects, so nothing outside can
lazy-load or write back by accident.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import CursorResult, delete, func, literal, select, update
from sqlalchemy.orm import Session, defer, sessionmaker

from ferry.db.models import Task, TaskFile, TaskLease, TaskTransition, UTCDateTime
from ferry.errors import ExitCode, FerryError, Hint
from ferry.states import FINISHED, TaskStatus

# What a restart finds half done: work that was running, or queued, in a process that is
# gone. (paused and resolved wait for a person, not for the dead process.)
ACTIVE = frozenset(
    {TaskStatus.CREATED, TaskStatus.RESOLVING, TaskStatus.DOWNLOADING, TaskStatus.PACKING}
)

# What counts against a token's concurrent-task quota: work queued or under way.
BUSY = frozenset(
    {TaskStatus.CREATED, TaskStatus.RESOLVING, TaskStatus.DOWNLOADING, TaskStatus.PACKING}
)

# Under PostgreSQL the row lock makes the first attempt final; under SQLite a concurrent
# writer can move the row between our read and our conditional write, so look again.
_TRANSITION_ATTEMPTS = 3


class TaskNotFound(FerryError):
    code = "task-not-found"
    exit_code = ExitCode.USAGE
    http_status = 404

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(
            hint=Hint("task-not-found"),
            params={"task_id": task_id},
        )

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["task_id"] = self.task_id
        return out


class InvalidTransition(FerryError):
    code = "task-invalid-transition"
    exit_code = ExitCode.USAGE
    http_status = 409

    def __init__(self, task_id: str, current: str, to_status: str) -> None:
        self.task_id = task_id
        self.current = current
        self.to_status = to_status
        super().__init__(params={"task_id": task_id, "current": current, "requested": to_status})

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out.update(task_id=self.task_id, status=self.current, requested=self.to_status)
        return out


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    status: str
    options: dict[str, Any]
    files: list[str]
    error: dict[str, Any] | None
    progress: dict[str, Any]
    dependencies: dict[str, Any] | None
    archive_path: str | None
    archive_size: int | None
    archive_sha256: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    owner: str | None = None
    token_id: str | None = None
    project_name: str | None = None
    package_count: int | None = None
    archive_key: str | None = None

    @classmethod
    def of(cls, task: Task, *, with_dependencies: bool = True) -> TaskRecord:
        return cls(
            id=task.id,
            status=task.status,
            options=task.options,
            files=task.files,
            error=task.error,
            progress=task.progress,
            dependencies=task.dependencies if with_dependencies else None,
            archive_path=task.archive_path,
            archive_size=task.archive_size,
            archive_sha256=task.archive_sha256,
            created_at=task.created_at,
            updated_at=task.updated_at,
            started_at=task.started_at,
            completed_at=task.completed_at,
            expires_at=task.expires_at,
            owner=task.owner,
            token_id=task.token_id,
            project_name=task.project_name,
            package_count=task.package_count,
            archive_key=task.archive_key,
        )


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    id: int
    task_id: str
    from_status: str | None
    to_status: str
    reason: str
    at: datetime

    @classmethod
    def of(cls, row: TaskTransition) -> TransitionRecord:
        return cls(
            id=row.id,
            task_id=row.task_id,
            from_status=row.from_status,
            to_status=row.to_status,
            reason=row.reason,
            at=row.at,
        )


class TaskUpdate(TypedDict, total=False):
    """The fields ``update`` may set. Status is not one: it changes only by ``transition``."""

    progress: dict[str, Any]
    dependencies: dict[str, Any] | None
    error: dict[str, Any] | None
    archive_path: str | None
    archive_size: int | None
    archive_sha256: str | None
    archive_key: str | None
    expires_at: datetime | None
    project_name: str | None
    package_count: int | None


_UPDATABLE = frozenset(TaskUpdate.__annotations__)


def new_task_id() -> str:
    return uuid.uuid4().hex


def is_task_id(value: str) -> bool:
    """A task id as Ferry makes them: 32 lowercase hex digits, nothing else (it becomes a
    directory name)."""
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None, name: str) -> None:
    # Checked here as well as in UTCDateTime so the caller gets a plain ValueError, not one
    # wrapped in SQLAlchemy's StatementError halfway through a flush.
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} {value!r} is naive: pass a timezone-aware datetime")


def _status(value: str) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        raise ValueError(f"unknown task status {value!r}") from None


class TaskRepository:
    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def create(
        self,
        task_id: str,
        options: dict[str, Any],
        files: builtins.list[str],
        *,
        expires_at: datetime | None,
        owner: str | None = None,
        token_id: str | None = None,
        uploads: Iterable[tuple[str, bytes]] = (),
    ) -> TaskRecord:
        """A new task in ``created``; ``uploads`` (name, bytes) are kept with it, for a
        worker on another machine to start from."""
        if not is_task_id(task_id):
            raise ValueError(f"task id {task_id!r} is not a uuid4 hex string")
        _aware(expires_at, "expires_at")
        now = self._clock()
        task = Task(
            id=task_id,
            status=TaskStatus.CREATED.value,
            options=options,
            files=builtins.list(files),
            error=None,
            progress={},
            dependencies=None,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            owner=owner,
            token_id=token_id,
        )
        with self._sessions.begin() as session:
            session.add(task)
            session.add_all(TaskFile(task_id=task_id, name=n, data=d) for n, d in uploads)
            session.add(
                TaskTransition(
                    task_id=task_id,
                    from_status=None,
                    to_status=TaskStatus.CREATED.value,
                    reason="created",
                    at=now,
                )
            )
            session.flush()
            return self._reload(session, task_id)

    def get(self, task_id: str, *, with_dependencies: bool = True) -> TaskRecord | None:
        """The task; without its dependency tree (``dependencies`` None) when not asked
        for: the tree of a large project is most of the row, and most readers never look."""
        options = [] if with_dependencies else [defer(Task.dependencies)]
        with self._sessions() as session:
            task = session.get(Task, task_id, options=options)
            if task is None:
                return None
            return TaskRecord.of(task, with_dependencies=with_dependencies)

    def uploads(self, task_id: str) -> builtins.list[tuple[str, bytes]]:
        """The files the task was created with, by name."""
        with self._sessions() as session:
            rows = session.execute(
                select(TaskFile.name, TaskFile.data)
                .where(TaskFile.task_id == task_id)
                .order_by(TaskFile.name)
            )
            return [(name, bytes(data)) for name, data in rows]

    def detail(self, task_id: str) -> tuple[TaskRecord, builtins.list[TransitionRecord]] | None:
        """The task (without its tree) and its status history, in one session."""
        with self._sessions() as session:
            task = session.get(Task, task_id, options=[defer(Task.dependencies)])
            if task is None:
                return None
            rows = session.scalars(
                select(TaskTransition)
                .where(TaskTransition.task_id == task_id)
                .order_by(TaskTransition.id)
            )
            transitions = [TransitionRecord.of(r) for r in rows]
            return TaskRecord.of(task, with_dependencies=False), transitions

    def list(
        self,
        page: int = 1,
        size: int = 20,
        status: str | None = None,
        *,
        owner: str | None = None,
    ) -> tuple[builtins.list[TaskRecord], int]:
        """Page ``page`` (from 1) of ``size`` tasks, newest first, and how many there are;
        only ``owner``'s when one is given."""
        if page < 1 or size < 1:
            raise ValueError(f"page {page} of size {size}: both start at 1")
        where = [] if status is None else [Task.status == _status(status).value]
        if owner is not None:
            where.append(Task.owner == owner)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(Task).where(*where)) or 0
            tasks = session.scalars(
                select(Task)
                .options(defer(Task.dependencies))
                .where(*where)
                # id breaks ties so pages never overlap when two tasks share a timestamp
                .order_by(Task.created_at.desc(), Task.id.desc())
                .offset((page - 1) * size)
                .limit(size)
            )
            return [TaskRecord.of(t, with_dependencies=False) for t in tasks], total

    def transition(
        self, task_id: str, to_status: str, reason: str, *, allowed_from: Iterable[str]
    ) -> TaskRecord:
        """Move the task to ``to_status`` if it is now in one of ``allowed_from``; record why.

        Two callers racing for the same move (two workers, a worker and a cancel) get one
        success and one ``InvalidTransition``: the row is locked (PostgreSQL) and the write
        only applies if the status is still the one that was checked (both backends).
        """
        target = _status(to_status)
        allowed = {_status(s).value for s in allowed_from}
        for _ in range(_TRANSITION_ATTEMPTS):
            with self._sessions.begin() as session:
                current = session.scalar(
                    select(Task.status).where(Task.id == task_id).with_for_update()
                )
                if current is None:
                    raise TaskNotFound(task_id)
                if current not in allowed:
                    raise InvalidTransition(task_id, current, target.value)
                now = self._clock()
                values: dict[str, Any] = {
                    "status": target.value,
                    "updated_at": now,
                    # A task back to work after failing (a retry) is no longer complete.
                    "completed_at": now if target in FINISHED else None,
                }
                if current == TaskStatus.CREATED:
                    # COALESCE keeps the first start should a task ever be put back to created.
                    # The literal is typed, or the bare datetime would skip UTCDateTime.
                    values["started_at"] = func.coalesce(
                        Task.started_at, literal(now, UTCDateTime())
                    )
                result = session.execute(
                    update(Task)
                    .where(Task.id == task_id, Task.status == current)
                    .values(values)
                    .execution_options(synchronize_session=False)
                )
                if _rowcount(result) == 0:
                    continue  # moved (or deleted) since we read it: decide again
                session.add(
                    TaskTransition(
                        task_id=task_id,
                        from_status=current,
                        to_status=target.value,
                        reason=reason,
                        at=now,
                    )
                )
                session.flush()
                return self._reload(session, task_id)
        current = self._current_status(task_id)
        if current is None:
            raise TaskNotFound(task_id)
        raise InvalidTransition(task_id, current, target.value)

    def update(self, task_id: str, **fields: Unpack[TaskUpdate]) -> TaskRecord:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise TypeError(f"cannot update task field(s) {', '.join(sorted(unknown))}")
        _aware(fields.get("expires_at"), "expires_at")
        with self._sessions.begin() as session:
            result = session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values({**fields, "updated_at": self._clock()})
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) == 0:
                raise TaskNotFound(task_id)
            return self._reload(session, task_id)

    def delete(self, task_id: str) -> bool:
        """Remove the task and, through ON DELETE CASCADE, its transitions."""
        with self._sessions.begin() as session:
            result = session.execute(
                delete(Task).where(Task.id == task_id).execution_options(synchronize_session=False)
            )
            return _rowcount(result) > 0

    def expired(self, now: datetime) -> builtins.list[str]:
        """Ids of tasks whose ``expires_at`` is at or before ``now``, whatever their status."""
        _aware(now, "now")
        with self._sessions() as session:
            return builtins.list(
                session.scalars(
                    select(Task.id)
                    .where(Task.expires_at.is_not(None), Task.expires_at <= now)
                    .order_by(Task.expires_at, Task.id)
                )
            )

    def archive_keys(self) -> set[str]:
        """Every blob key a task's archive is kept under."""
        with self._sessions() as session:
            return set(
                session.scalars(select(Task.archive_key).where(Task.archive_key.is_not(None)))
            )

    def archive_references(self, key: str) -> int:
        """How many tasks keep their archive under ``key``."""
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count()).select_from(Task).where(Task.archive_key == key)
                )
                or 0
            )

    def unfinished(self) -> builtins.list[TaskRecord]:
        """Tasks a previous process was working on when it stopped, oldest first."""
        with self._sessions() as session:
            tasks = session.scalars(
                select(Task)
                .where(Task.status.in_(sorted(s.value for s in ACTIVE)))
                .order_by(Task.created_at, Task.id)
            )
            return [TaskRecord.of(t) for t in tasks]

    def stuck(self, before: datetime) -> builtins.list[tuple[str, str]]:
        """(id, status) of tasks waiting or at work that no worker holds (no live lease)
        and whose row has not changed since ``before``: with workers, those whose step the
        queue lost."""
        _aware(before, "before")
        now = self._clock()
        held = (
            select(TaskLease.task_id)
            .where(TaskLease.task_id == Task.id, TaskLease.expires_at > now)
            .exists()
        )
        with self._sessions() as session:
            rows = session.execute(
                select(Task.id, Task.status)
                .where(
                    Task.status.in_(sorted(s.value for s in ACTIVE)),
                    Task.updated_at < before,
                    ~held,
                )
                .order_by(Task.created_at, Task.id)
            )
            return [(task_id, status) for task_id, status in rows]

    def usage(self, token_id: str) -> tuple[int, int]:
        """(tasks at work or waiting to start, bytes of archives kept) for one token: what
        its quotas are measured against."""
        busy = sorted(s.value for s in BUSY)
        with self._sessions() as session:
            active = session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.token_id == token_id, Task.status.in_(busy))
            )
            disk = session.scalar(
                select(func.coalesce(func.sum(Task.archive_size), 0)).where(
                    Task.token_id == token_id
                )
            )
            return int(active or 0), int(disk or 0)

    def transitions(self, task_id: str) -> builtins.list[TransitionRecord]:
        with self._sessions() as session:
            if session.get(Task, task_id) is None:
                raise TaskNotFound(task_id)
            rows = session.scalars(
                select(TaskTransition)
                .where(TaskTransition.task_id == task_id)
                .order_by(TaskTransition.id)
            )
            return [TransitionRecord.of(r) for r in rows]

    def _current_status(self, task_id: str) -> str | None:
        with self._sessions() as session:
            return session.scalar(select(Task.status).where(Task.id == task_id))

    @staticmethod
    def _reload(session: Session, task_id: str) -> TaskRecord:
        # populate_existing: values written by UPDATE statements (not through the ORM
        # object) and defaults filled in by the database must be read back, not cached.
        task = session.get(Task, task_id, populate_existing=True)
        if task is None:
            raise TaskNotFound(task_id)
        return TaskRecord.of(task)


def _rowcount(result: Any) -> int:
    # Session.execute is typed as returning Result; DML gives the CursorResult subclass.
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
