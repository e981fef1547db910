"""Databases for the persistence tests: a SQLite file, or a fresh PostgreSQL schema.

Every test here runs on both. PostgreSQL is required, not optional: CI has it, and a test
that silently skips when it is missing would let a PostgreSQL-only bug through.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

# Read at import: the autouse isolation fixture clears FERRY_* variables before each test.
POSTGRES_URL = os.environ.get(
    "FERRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database: a new SQLite file in ``directory``, or a new PostgreSQL schema
    (dropped afterwards) that the returned URL puts first on the search_path, so parallel
    runs against one server never see each other's tables."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'ferry.db'}"
        return
    assert backend == "postgresql", backend
    schema = f"ferry_test_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        try:
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        except OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is unreachable at {POSTGRES_URL} ({exc.orig}); these tests need "
                "it. Start it or point FERRY_TEST_POSTGRES_URL at one.",
                pytrace=False,
            )
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
