"""Fixtures several service test modules share: the app in-process with an admin's client,
and a client on each database backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from db import BACKENDS, fresh_database
from ferry.server.app import create_app
from ferry.settings import Settings
from server import STARTUP_S, api_client
from support.auth import bearer, issue


@pytest.fixture
async def sqlite_app(npm_settings: Settings, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The service (lifespan run) on a SQLite file, with the local index and registry."""
    settings = npm_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'f.db'}"})
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=STARTUP_S):
        yield application


@pytest.fixture
async def sqlite_api(sqlite_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client of :func:`sqlite_app`."""
    transport = httpx.ASGITransport(app=sqlite_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://ferry", headers=bearer(issue(sqlite_app))
    ) as client:
        yield client


@pytest.fixture(params=BACKENDS)
async def api_each_database(
    request: pytest.FixtureRequest, npm_settings: Settings, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client of the service on SQLite and on PostgreSQL (a fresh schema)."""
    with fresh_database(request.param, tmp_path) as url:
        settings = npm_settings.model_copy(update={"database_url": url})
        async with api_client(settings) as client:
            yield client
