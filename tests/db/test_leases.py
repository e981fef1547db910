"""Workers' leases on tasks, on SQLite and PostgreSQL: one holder per task, at most the
limit held at once (also when many workers ask at the same moment), an expired lease free
for another worker, a lost one not renewable; and the uploads kept with each task."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, delete

from ferry.db.engine import make_sessionmaker
from ferry.db.leases import LeaseRepository, Taken
from ferry.db.models import Task, TaskLease
from ferry.db.repository import TaskRepository, utcnow


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def tasks(engine: Engine) -> Iterator[TaskRepository]:
    yield TaskRepository(make_sessionmaker(engine))
    with engine.begin() as connection:
        connection.execute(delete(TaskLease))
        connection.execute(delete(Task))


def _task(tasks: TaskRepository, uploads: list[tuple[str, bytes]] | None = None) -> str:
    task_id = uuid.uuid4().hex
    tasks.create(task_id, {}, [n for n, _ in uploads or []], expires_at=None, uploads=uploads or [])
    return task_id


def test_one_holder_per_task_and_a_renewal_by_the_holder(
    engine: Engine, tasks: TaskRepository
) -> None:
    clock = Clock()
    leases = LeaseRepository(make_sessionmaker(engine), clock=clock)
    task = _task(tasks)
    assert leases.take(task, "w1", 30, limit=5) is Taken.YES
    assert leases.take(task, "w2", 30, limit=5) is Taken.BUSY
    assert leases.take(task, "w1", 30, limit=5) is Taken.YES  # its own: renewed
    assert leases.holders() == {task: "w1"}
    clock.now += timedelta(seconds=20)
    assert leases.renew(task, "w1", 30)
    assert not leases.renew(task, "w2", 30)
    clock.now += timedelta(seconds=20)  # 40 s after taking, 20 after renewing: still held
    assert leases.take(task, "w2", 30, limit=5) is Taken.BUSY
    leases.release(task, "w2")  # not its own: nothing happens
    assert leases.holders() == {task: "w1"}
    leases.release(task, "w1")
    assert leases.take(task, "w2", 30, limit=5) is Taken.YES


def test_an_expired_lease_goes_to_another_worker_and_cannot_be_renewed(
    engine: Engine, tasks: TaskRepository
) -> None:
    clock = Clock()
    leases = LeaseRepository(make_sessionmaker(engine), clock=clock)
    task = _task(tasks)
    assert leases.take(task, "dead", 30, limit=5) is Taken.YES
    clock.now += timedelta(seconds=31)
    assert leases.holders() == {}
    assert leases.take(task, "w2", 30, limit=5) is Taken.YES
    assert not leases.renew(task, "dead", 30)
    assert leases.holders() == {task: "w2"}


def test_a_late_renewal_keeps_a_task_nobody_else_took(
    engine: Engine, tasks: TaskRepository
) -> None:
    clock = Clock()
    leases = LeaseRepository(make_sessionmaker(engine), clock=clock)
    slow, other = _task(tasks), _task(tasks)
    assert leases.take(slow, "w1", 30, limit=5) is Taken.YES
    clock.now += timedelta(seconds=45)  # the machine was busy: renewed 15 s late
    assert leases.take(other, "w2", 30, limit=5) is Taken.YES  # another task meanwhile
    assert leases.renew(slow, "w1", 30)
    assert leases.holders() == {slow: "w1", other: "w2"}


def test_the_limit_counts_live_leases_only(engine: Engine, tasks: TaskRepository) -> None:
    clock = Clock()
    leases = LeaseRepository(make_sessionmaker(engine), clock=clock)
    a, b, c = _task(tasks), _task(tasks), _task(tasks)
    assert leases.take(a, "w1", 30, limit=2) is Taken.YES
    assert leases.take(b, "w2", 10, limit=2) is Taken.YES
    assert leases.take(c, "w3", 30, limit=2) is Taken.FULL
    clock.now += timedelta(seconds=11)  # b's holder died
    assert leases.take(c, "w3", 30, limit=2) is Taken.YES
    assert leases.take(b, "w2", 30, limit=2) is Taken.FULL


def test_workers_asking_at_once_never_pass_the_limit(engine: Engine, tasks: TaskRepository) -> None:
    leases = LeaseRepository(make_sessionmaker(engine))
    ids = [_task(tasks) for _ in range(12)]
    results: dict[str, Taken] = {}
    start = threading.Barrier(len(ids))

    def take(task_id: str) -> None:
        start.wait()
        for _ in range(20):  # SQLite may say "locked" to a writer that waited too long
            try:
                results[task_id] = leases.take(task_id, f"w-{task_id[:6]}", 30, limit=3)
                return
            except Exception as exc:
                if "locked" not in str(exc):
                    raise

    threads = [threading.Thread(target=take, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.value for r in results.values()) == ["full"] * 9 + ["yes"] * 3
    assert len(leases.holders()) == 3


def test_a_deleted_task_takes_its_lease_along(engine: Engine, tasks: TaskRepository) -> None:
    leases = LeaseRepository(make_sessionmaker(engine))
    task = _task(tasks)
    assert leases.take(task, "w1", 30, limit=5) is Taken.YES
    assert tasks.delete(task)
    assert leases.holders() == {}
    assert not leases.renew(task, "w1", 30)


def test_uploads_are_kept_with_the_task(engine: Engine, tasks: TaskRepository) -> None:
    files = [("requirements.txt", b"app==1.0\n"), ("package.json", b"{}\n")]
    task = _task(tasks, files)
    assert tasks.uploads(task) == sorted(files)
    assert tasks.uploads(uuid.uuid4().hex) == []
    assert tasks.delete(task)
    assert tasks.uploads(task) == []


def test_stuck_tasks_are_those_quiet_and_held_by_nobody(
    engine: Engine, tasks: TaskRepository
) -> None:
    clock = Clock()
    tasks = TaskRepository(make_sessionmaker(engine), clock=clock)
    leases = LeaseRepository(make_sessionmaker(engine), clock=clock)
    quiet, held, done = _task(tasks), _task(tasks), _task(tasks)
    tasks.transition(done, "cancelled", "test", allowed_from={"created"})
    assert leases.take(held, "w1", 3600, limit=5) is Taken.YES
    clock.now += timedelta(minutes=20)
    recent = _task(tasks)
    assert tasks.stuck(clock.now - timedelta(minutes=10)) == [(quiet, "created")]
    leases.release(held, "w1")
    stuck = tasks.stuck(clock.now - timedelta(minutes=10))
    assert sorted(stuck) == sorted([(quiet, "created"), (held, "created")])
    assert recent not in {t for t, _ in stuck}
