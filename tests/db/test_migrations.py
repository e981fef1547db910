"""The migrations build exactly what the models describe, on SQLite and PostgreSQL.

``test_models_and_migrations_agree`` is the CI gate: change a model without a migration
(or the other way round) and it fails, as ``alembic upgrade head && alembic check`` would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, Integer, MetaData, inspect, text
from sqlalchemy import exc as sa_exc

from db import BACKENDS, fresh_database
from ferry.db.engine import SCRIPT_LOCATION, alembic_config, check_drift, make_engine, upgrade
from ferry.db.models import NAMING_CONVENTION, Base

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _versions(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def test_migrations_ship_inside_the_package() -> None:
    root = files("ferry.db") / "migrations"
    assert SCRIPT_LOCATION == "ferry.db:migrations"
    assert (root / "env.py").is_file()
    assert (root / "script.py.mako").is_file()
    assert (root / "versions" / "0001_tasks.py").is_file()
    assert (root / "versions" / "0002_tokens_and_audit.py").is_file()
    assert (root / "versions" / "0003_task_summary.py").is_file()
    assert (root / "versions" / "0004_packages.py").is_file()
    assert (root / "versions" / "0005_archive_key.py").is_file()
    assert (root / "versions" / "0006_imports.py").is_file()
    assert (root / "versions" / "0008_torrents.py").is_file()
    assert (root / "versions" / "0009_workers.py").is_file()
    assert HEAD == "0009"


def test_upgrade_from_empty_then_again(empty_url: str) -> None:
    assert _tables(empty_url) == set()
    upgrade(empty_url)
    assert _tables(empty_url) == {
        "alembic_version",
        "tasks",
        "task_transitions",
        "api_tokens",
        "audit_events",
        "packages",
        "imports",
        "artifacts",
        "models",
        "model_versions",
        "model_files",
        "model_uploads",
        "model_usage",
        "torrents",
        "tracker_peers",
        "task_files",
        "task_leases",
    }
    upgrade(empty_url)  # every start calls it
    assert _versions(empty_url) == [HEAD]


def test_upgrade_takes_an_engine(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        upgrade(engine)
    finally:
        engine.dispose()
    assert _versions(empty_url) == [HEAD]


def test_tasks_made_before_tokens_survive_the_upgrade(empty_url: str) -> None:
    """A database from before 0002 keeps its tasks; they have no owner, so only an admin
    sees them."""
    command.upgrade(alembic_config(empty_url), "0001")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tasks (id, status, options, files, progress, created_at, "
                    "updated_at) VALUES (:id, 'completed', '{}', '[]', '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": "a" * 32},
            )
    finally:
        engine.dispose()
    upgrade(empty_url)
    from ferry.db.engine import make_sessionmaker
    from ferry.db.repository import TaskRepository

    engine = make_engine(empty_url)
    try:
        record = TaskRepository(make_sessionmaker(engine)).get("a" * 32)
    finally:
        engine.dispose()
    assert record is not None and record.status == "completed" and record.owner is None
    assert _versions(empty_url) == [HEAD]


def _columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_task_summary_columns_up_and_down(empty_url: str) -> None:
    """0003 adds the list's project name and package count; tasks analysed before it get
    their count from the tree they keep (no name: that is in their files), tasks without a
    tree none; going back to 0002 drops both columns and keeps the tasks."""
    command.upgrade(alembic_config(empty_url), "0002")
    assert {"project_name", "package_count"}.isdisjoint(_columns(empty_url, "tasks"))
    tree = {
        "python": {
            # one package on two targets counts once; per ecosystem, summed
            "targets": [
                {"packages": [{"name": "dep", "version": "1.0"}]},
                {"packages": [{"name": "dep", "version": "1.0"}, {"name": "x", "version": "2"}]},
            ]
        },
        "npm": {"packages": [{"name": "dep", "version": "1.0.0"}]},
    }
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            for task_id, deps in (("a" * 32, json.dumps(tree)), ("b" * 32, None)):
                connection.execute(
                    text(
                        "INSERT INTO tasks (id, status, options, files, progress, dependencies,"
                        " created_at, updated_at) VALUES (:id, 'resolved', '{}', '[]', '{}',"
                        " :deps, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"id": task_id, "deps": deps},
                )
    finally:
        engine.dispose()

    upgrade(empty_url)
    from ferry.db.engine import make_sessionmaker
    from ferry.db.repository import TaskRepository

    engine = make_engine(empty_url)
    try:
        repo = TaskRepository(make_sessionmaker(engine))
        analysed, fresh = repo.get("a" * 32), repo.get("b" * 32)
        assert analysed is not None and fresh is not None
        assert (analysed.package_count, analysed.project_name) == (3, None)
        assert (fresh.package_count, fresh.project_name) == (None, None)
        repo.update("a" * 32, project_name="n" * 100, package_count=7)
        listed, _ = repo.list()
        assert {(r.project_name, r.package_count) for r in listed} == {
            ("n" * 100, 7),
            (None, None),
        }
    finally:
        engine.dispose()
    assert check_drift(empty_url) == []

    command.downgrade(alembic_config(empty_url), "0002")
    assert {"project_name", "package_count"}.isdisjoint(_columns(empty_url, "tasks"))
    assert _versions(empty_url) == ["0002"]
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM tasks")) == 2
    finally:
        engine.dispose()
    upgrade(empty_url)
    assert {"project_name", "package_count"} <= _columns(empty_url, "tasks")


def _start_together(url: str, starters: int = 3) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(starters)

    def start() -> None:
        try:
            barrier.wait()
            upgrade(url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_processes_starting_together_migrate_once(empty_url: str) -> None:
    assert _start_together(empty_url) == []
    assert _versions(empty_url) == [HEAD]


def test_starting_together_on_a_new_sqlite_file_never_fails(tmp_path: Path) -> None:
    # Switching a new file to WAL fails at once ("database is locked", no busy wait) when
    # another connection opens it meanwhile: one start in five failed so. Twenty fresh
    # files make a regression show.
    for attempt in range(20):
        url = f"sqlite:///{tmp_path / f'ferry-{attempt}.db'}"
        assert _start_together(url, starters=4) == [], attempt
        assert _versions(url) == [HEAD]


def test_models_and_migrations_agree(empty_url: str) -> None:
    upgrade(empty_url)
    assert check_drift(empty_url) == []
    command.check(alembic_config(empty_url))  # what `alembic check` runs; raises on drift


def _models_copy() -> MetaData:
    copy = MetaData(naming_convention=NAMING_CONVENTION)
    for table in Base.metadata.tables.values():
        table.to_metadata(copy)
    return copy


def test_drift_is_detected(empty_url: str) -> None:
    assert {op[0] for op in check_drift(empty_url)} == {"add_table", "add_index"}

    upgrade(empty_url)
    altered = _models_copy()
    tasks = altered.tables["tasks"]
    tasks.append_column(Column("priority", Integer, nullable=True))
    Index(None, tasks.c.priority)
    diff = check_drift(empty_url, altered)
    assert [op[0] for op in diff] == ["add_column", "add_index"]
    assert diff[0][2:4] == ("tasks", tasks.c.priority)

    missing = _models_copy()
    missing.remove(missing.tables["task_transitions"])
    assert [op[0] for op in check_drift(empty_url, missing)] == ["remove_index", "remove_table"]


def test_packages_table_up_and_down(empty_url: str) -> None:
    """0004 adds the package store's table, one row per name, version, platform and arch
    (the database refuses a second: concurrent uploads rely on it); going back to 0003
    drops it and nothing else."""
    command.upgrade(alembic_config(empty_url), "0003")
    assert "packages" not in _tables(empty_url)
    command.upgrade(alembic_config(empty_url), "0004")
    row = (
        "INSERT INTO packages (id, name, version, platform, arch, description, filename, size,"
        " sha256, owner, created_at) VALUES (:id, 'agent', '1.0', 'linux', :arch, '', 'f', 1,"
        " :sha, 'o', CURRENT_TIMESTAMP)"
    )
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(row), {"id": "a" * 32, "arch": "amd64", "sha": "0" * 64})
            connection.execute(text(row), {"id": "b" * 32, "arch": "arm64", "sha": "0" * 64})
        with pytest.raises(sa_exc.IntegrityError), engine.begin() as connection:
            connection.execute(text(row), {"id": "c" * 32, "arch": "amd64", "sha": "1" * 64})
    finally:
        engine.dispose()
    command.downgrade(alembic_config(empty_url), "0003")
    assert _tables(empty_url) == {
        "alembic_version",
        "tasks",
        "task_transitions",
        "api_tokens",
        "audit_events",
    }
    assert _versions(empty_url) == ["0003"]


def test_downgrade_to_nothing_and_back(empty_url: str) -> None:
    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    assert _tables(empty_url) == {"alembic_version"}
    upgrade(empty_url)
    assert check_drift(empty_url) == []
