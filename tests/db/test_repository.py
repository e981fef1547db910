"""TaskRepository on SQLite and PostgreSQL: the same tests, both backends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, update

from ferry.db.engine import make_sessionmaker
from ferry.db.models import Task, TaskTransition
from ferry.db.repository import (
    InvalidTransition,
    TaskNotFound,
    TaskRecord,
    TaskRepository,
    new_task_id,
)
from ferry.errors import ExitCode, FerryError

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """One second later at every reading, so "newest first" never depends on the machine."""

    def __init__(self) -> None:
        self.now = START
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=1)
            return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(engine: Engine, clock: Clock) -> Iterator[TaskRepository]:
    yield TaskRepository(make_sessionmaker(engine), clock=clock)
    with engine.begin() as connection:
        connection.execute(delete(Task))


def _create(repo: TaskRepository, **kwargs: Any) -> TaskRecord:
    kwargs.setdefault("expires_at", None)
    return repo.create(new_task_id(), {"format": "zip"}, ["requirements.txt"], **kwargs)


def _move(repo: TaskRepository, task_id: str, *path: str) -> TaskRecord:
    record = repo.get(task_id)
    assert record is not None
    for status in path:
        record = repo.transition(task_id, status, "test", allowed_from=[record.status])
    return record


def _transition_rows(engine: Engine, task_id: str) -> int:
    with engine.connect() as connection:
        count = connection.scalar(
            select(func.count())
            .select_from(TaskTransition)
            .where(TaskTransition.task_id == task_id)
        )
    return count or 0


# create / get


def test_create_and_get(repo: TaskRepository) -> None:
    task_id = new_task_id()
    expires = START + timedelta(days=7)
    created = repo.create(
        task_id, {"format": "zip", "pythons": ["3.11"]}, ["a.txt", "b.toml"], expires_at=expires
    )
    assert created == repo.get(task_id)
    assert created.id == task_id
    assert created.status == "created"
    assert created.options == {"format": "zip", "pythons": ["3.11"]}
    assert created.files == ["a.txt", "b.toml"]
    assert created.progress == {}
    assert created.error is None
    assert created.dependencies is None
    assert (created.archive_path, created.archive_size, created.archive_sha256) == (None,) * 3
    assert created.created_at == created.updated_at == START + timedelta(seconds=1)
    assert created.started_at is created.completed_at is None
    assert created.expires_at == expires
    [first] = repo.transitions(task_id)
    assert (first.task_id, first.from_status, first.to_status, first.reason) == (
        task_id,
        None,
        "created",
        "created",
    )
    assert first.at == created.created_at


def test_get_unknown_is_none(repo: TaskRepository) -> None:
    assert repo.get(new_task_id()) is None
    with pytest.raises(TaskNotFound):
        repo.transitions(new_task_id())


def test_create_refuses_bad_input(repo: TaskRepository) -> None:
    with pytest.raises(ValueError, match="uuid4"):
        repo.create("../etc", {}, [], expires_at=None)
    with pytest.raises(ValueError, match="naive"):
        repo.create(new_task_id(), {}, [], expires_at=datetime(2026, 1, 1))


def test_records_are_frozen(repo: TaskRepository) -> None:
    record = _create(repo)
    with pytest.raises(AttributeError):
        record.status = "completed"  # type: ignore[misc]


# list


def test_list_pages_newest_first(repo: TaskRepository) -> None:
    ids = [_create(repo).id for _ in range(5)]
    newest_first = ids[::-1]

    page1, total = repo.list(1, 2)
    page2, _ = repo.list(2, 2)
    page3, _ = repo.list(3, 2)
    assert total == 5
    assert [r.id for r in page1 + page2 + page3] == newest_first
    assert len(page3) == 1
    assert repo.list(4, 2) == ([], 5)


def test_list_filters_by_status(repo: TaskRepository) -> None:
    a, b, c = (_create(repo).id for _ in range(3))
    _move(repo, a, "resolving")
    _move(repo, c, "resolving", "resolved")

    resolving, total = repo.list(1, 10, "resolving")
    assert ([r.id for r in resolving], total) == ([a], 1)
    created, total = repo.list(1, 10, status="created")
    assert ([r.id for r in created], total) == ([b], 1)
    assert repo.list(1, 10, "completed") == ([], 0)


def test_list_refuses_bad_arguments(repo: TaskRepository) -> None:
    with pytest.raises(ValueError):
        repo.list(0, 10)
    with pytest.raises(ValueError):
        repo.list(1, 0)
    with pytest.raises(ValueError, match="unknown task status"):
        repo.list(1, 10, "done")


# transitions


def test_transitions_are_recorded_with_timestamps(repo: TaskRepository) -> None:
    task = _create(repo)
    resolving = repo.transition(task.id, "resolving", "analysis started", allowed_from=["created"])
    assert resolving.status == "resolving"
    assert resolving.started_at == resolving.updated_at
    assert resolving.completed_at is None

    resolved = repo.transition(task.id, "resolved", "analysis finished", allowed_from=["resolving"])
    assert resolved.started_at == resolving.started_at  # only leaving 'created' sets it
    downloading = repo.transition(task.id, "downloading", "go", allowed_from={"resolved"})
    packing = repo.transition(task.id, "packing", "fetched", allowed_from=("downloading",))
    completed = repo.transition(task.id, "completed", "written", allowed_from=["packing"])
    assert completed.completed_at == completed.updated_at
    assert completed.started_at == resolving.started_at
    assert downloading.completed_at is packing.completed_at is None

    history = repo.transitions(task.id)
    assert [(t.from_status, t.to_status) for t in history] == [
        (None, "created"),
        ("created", "resolving"),
        ("resolving", "resolved"),
        ("resolved", "downloading"),
        ("downloading", "packing"),
        ("packing", "completed"),
    ]
    assert [t.reason for t in history][1:3] == ["analysis started", "analysis finished"]
    assert [t.at for t in history] == sorted(t.at for t in history)
    assert history[-1].at == completed.completed_at


@pytest.mark.parametrize("finished", ["completed", "failed", "cancelled"])
def test_finishing_sets_completed_at_and_a_retry_clears_it(
    repo: TaskRepository, finished: str
) -> None:
    task = _move(repo, _create(repo).id, "resolving")
    done = repo.transition(task.id, finished, "end", allowed_from=["resolving"])
    assert done.completed_at is not None
    again = repo.transition(task.id, "resolving", "retry", allowed_from=[finished])
    assert again.completed_at is None
    assert again.started_at == task.started_at


def test_refused_transition_is_a_409_and_changes_nothing(
    repo: TaskRepository, engine: Engine
) -> None:
    task = _create(repo)
    with pytest.raises(InvalidTransition) as caught:
        repo.transition(task.id, "completed", "too soon", allowed_from=["packing"])
    error = caught.value
    assert isinstance(error, FerryError)
    assert (error.code, error.http_status, error.exit_code) == (
        "task-invalid-transition",
        409,
        ExitCode.USAGE,
    )
    assert (error.task_id, error.current, error.to_status) == (task.id, "created", "completed")
    assert error.to_dict()["status"] == "created"
    assert "created" in error.message and "completed" in error.message
    assert repo.get(task.id) == task
    assert _transition_rows(engine, task.id) == 1


def test_transition_of_a_missing_task_is_a_404(repo: TaskRepository) -> None:
    with pytest.raises(TaskNotFound) as caught:
        repo.transition(new_task_id(), "resolving", "x", allowed_from=["created"])
    assert (caught.value.code, caught.value.http_status) == ("task-not-found", 404)


def test_transition_refuses_unknown_statuses(repo: TaskRepository) -> None:
    task = _create(repo)
    with pytest.raises(ValueError, match="unknown task status"):
        repo.transition(task.id, "done", "x", allowed_from=["created"])
    with pytest.raises(ValueError, match="unknown task status"):
        repo.transition(task.id, "resolving", "x", allowed_from=["new"])


def _race(calls: list[Callable[[], TaskRecord]]) -> tuple[list[TaskRecord], list[Exception]]:
    barrier = threading.Barrier(len(calls))
    wins: list[TaskRecord] = []
    losses: list[Exception] = []

    def run(call: Callable[[], TaskRecord]) -> None:
        barrier.wait()
        try:
            wins.append(call())
        except Exception as exc:
            losses.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return wins, losses


def test_racing_transitions_one_wins(repo: TaskRepository, engine: Engine) -> None:
    for _ in range(10):
        task = _create(repo)

        def resolve(task_id: str = task.id) -> TaskRecord:
            return repo.transition(task_id, "resolving", "worker", allowed_from=["created"])

        wins, losses = _race([resolve, resolve])
        assert len(wins) == 1, losses
        assert [type(e) for e in losses] == [InvalidTransition]
        assert isinstance(losses[0], InvalidTransition)
        assert losses[0].current == "resolving"
        assert _transition_rows(engine, task.id) == 2


def test_a_transition_waits_for_a_concurrent_writer_then_sees_its_status(
    repo: TaskRepository, engine: Engine
) -> None:
    """Deterministic version of the race: another connection holds the row (PostgreSQL) or
    the write lock (SQLite) and moves the task while our transition is in flight."""
    task = _create(repo)
    with engine.connect() as other:
        if engine.dialect.name == "sqlite":
            other.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            other.execute(select(Task.status).where(Task.id == task.id).with_for_update())
        other.execute(update(Task).where(Task.id == task.id).values(status="cancelled"))

        outcome: list[BaseException | TaskRecord] = []

        def attempt() -> None:
            try:
                outcome.append(
                    repo.transition(task.id, "resolving", "worker", allowed_from=["created"])
                )
            except Exception as exc:
                outcome.append(exc)

        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join(0.3)
        assert thread.is_alive(), "the transition should wait for the other writer"
        other.commit()
        thread.join(30)

    [result] = outcome
    assert isinstance(result, InvalidTransition)
    assert result.current == "cancelled"
    assert _transition_rows(engine, task.id) == 1


# update


def test_update_round_trips_nested_json(repo: TaskRepository) -> None:
    task = _create(repo)
    dependencies: dict[str, Any] = {
        "pypi": {
            "packages": [
                {"name": "numpy", "version": "2.1.0", "extras": [], "hashes": {"sha256": "ab"}},
                {"name": "naïve-pkg", "markers": None, "size": 2**40, "ratio": 0.25},
            ],
            "problems": [],
            "nested": {"a": {"b": {"c": [1, [2, [3, {"d": True}]]]}}},
        },
        "npm": None,
    }
    progress = {"pypi": {"total": 3, "completed": 1, "failed_packages": []}}
    updated = repo.update(task.id, dependencies=dependencies, progress=progress)
    assert updated.dependencies == dependencies
    assert updated.progress == progress
    assert updated.updated_at > task.updated_at
    fetched = repo.get(task.id)
    assert fetched is not None
    assert fetched.dependencies == dependencies
    assert fetched.status == "created"


def test_update_archive_fields_and_clear_error(repo: TaskRepository, engine: Engine) -> None:
    task = _create(repo)
    error = {"code": "resolution-failed", "message": "no", "problems": [{"kind": "x"}]}
    assert repo.update(task.id, error=error).error == error
    updated = repo.update(
        task.id,
        error=None,
        archive_path="/data/tasks/x/bundle.zip",
        archive_size=5 * 2**30,
        archive_sha256="0" * 64,
    )
    assert updated.error is None
    assert (updated.archive_path, updated.archive_size, updated.archive_sha256) == (
        "/data/tasks/x/bundle.zip",
        5 * 2**30,
        "0" * 64,
    )
    with engine.connect() as connection:
        # None is SQL NULL, not the JSON document 'null', so IS NULL queries find it
        assert connection.scalar(select(Task.id).where(Task.error.is_(None))) == task.id


def test_update_refuses_other_fields_and_missing_tasks(repo: TaskRepository) -> None:
    task = _create(repo)
    with pytest.raises(TypeError, match="status"):
        repo.update(task.id, status="completed")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="created_at"):
        repo.update(task.id, created_at=START)  # type: ignore[call-arg]
    with pytest.raises(TaskNotFound):
        repo.update(new_task_id(), progress={})
    assert repo.get(task.id) == task


# delete


def test_delete_removes_the_task_and_its_transitions(repo: TaskRepository, engine: Engine) -> None:
    task = _move(repo, _create(repo).id, "resolving", "failed")
    keep = _create(repo)
    assert _transition_rows(engine, task.id) == 3
    assert repo.delete(task.id) is True
    assert repo.get(task.id) is None
    assert _transition_rows(engine, task.id) == 0
    assert repo.delete(task.id) is False
    assert _transition_rows(engine, keep.id) == 1


def test_deleting_through_the_orm_cascades_too(repo: TaskRepository, engine: Engine) -> None:
    task = _move(repo, _create(repo).id, "resolving")
    with make_sessionmaker(engine).begin() as session:
        row = session.get(Task, task.id)
        assert row is not None
        assert [t.to_status for t in row.transitions] == ["created", "resolving"]
        session.delete(row)
    assert _transition_rows(engine, task.id) == 0


# datetimes


def test_datetimes_come_back_aware_utc(repo: TaskRepository) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    expires = datetime(2026, 6, 1, 9, 15, 30, 123456, tzinfo=india)
    task = _create(repo, expires_at=expires)
    fetched = repo.get(task.id)
    assert fetched is not None
    assert fetched.expires_at == expires
    assert fetched.expires_at is not None
    assert fetched.expires_at.tzinfo == UTC
    assert fetched.expires_at.utcoffset() == timedelta(0)
    assert fetched.expires_at.microsecond == 123456
    assert fetched.expires_at.hour == 3 and fetched.expires_at.minute == 45
    assert fetched.created_at.tzinfo == UTC
    [first] = repo.transitions(task.id)
    assert first.at.tzinfo == UTC

    later = repo.update(task.id, expires_at=datetime(2027, 1, 1, tzinfo=india))
    assert later.expires_at == datetime(2026, 12, 31, 18, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        repo.update(task.id, expires_at=datetime(2027, 1, 1))


# restart and expiry queries


def test_expired(repo: TaskRepository) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    past = _create(repo, expires_at=now - timedelta(days=1)).id
    exactly = _create(repo, expires_at=now).id
    # the same instant written in another zone: stored as UTC, so compared correctly
    elsewhere = _create(
        repo, expires_at=(now - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-8)))
    ).id
    _create(repo, expires_at=now + timedelta(seconds=1))
    _create(repo, expires_at=None)
    assert repo.expired(now) == [past, elsewhere, exactly]
    assert repo.expired(now - timedelta(days=2)) == []
    with pytest.raises(ValueError, match="naive"):
        repo.expired(datetime(2026, 5, 1))


def test_unfinished_are_the_tasks_a_dead_process_was_running(repo: TaskRepository) -> None:
    paths: dict[str, tuple[str, ...]] = {
        "created": (),
        "resolving": ("resolving",),
        "resolved": ("resolving", "resolved"),
        "downloading": ("resolving", "resolved", "downloading"),
        "paused": ("resolving", "resolved", "downloading", "paused"),
        "packing": ("resolving", "resolved", "downloading", "packing"),
        "completed": ("resolving", "resolved", "downloading", "packing", "completed"),
        "failed": ("resolving", "failed"),
        "cancelled": ("cancelled",),
    }
    ids = {status: _move(repo, _create(repo).id, *path).id for status, path in paths.items()}
    unfinished = repo.unfinished()
    # created: queued in the dead process's memory, so nobody else would ever start it
    expected = ["created", "resolving", "downloading", "packing"]
    assert [r.id for r in unfinished] == [ids[s] for s in expected]
    assert [r.status for r in unfinished] == expected
