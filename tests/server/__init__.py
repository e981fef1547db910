"""The service's tests; what several of them share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ferry.settings import Settings

# Seconds the in-process service may take to start. asgi-lifespan's default, 5, was passed
# on a loaded machine, and its cancellation of a start under way once hung a test for
# its whole timeout: a start is never cut short here.
STARTUP_S = 120.0


async def wait_for_status(api: httpx.AsyncClient, task_id: str, *statuses: str) -> dict[str, Any]:
    """The task's document once its status is one of ``statuses`` (30 s at most)."""
    for _ in range(600):
        doc = (await api.get(f"/api/tasks/{task_id}")).json()
        if doc["status"] in statuses:
            return doc  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} stuck in {doc['status']}")


@asynccontextmanager
async def api_client(
    settings: Settings, *, role: str = "admin", owner: str = "tester"
) -> AsyncIterator[httpx.AsyncClient]:
    """The service in-process (lifespan run), and a client holding a token of ``role``."""
    from asgi_lifespan import LifespanManager

    from ferry.server.app import create_app
    from support.auth import bearer, issue

    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=STARTUP_S) as manager:
        token = issue(app, role, owner)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ferry", headers=bearer(token)
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def app_of(api: httpx.AsyncClient) -> Any:
    """The app behind a client of :func:`api_client`."""
    return api.app  # type: ignore[attr-defined]


async def kept_keys(api: httpx.AsyncClient) -> list[Any]:
    """The keys of every blob in the kept store (packages, archives) of the client's app."""
    return [key async for key in app_of(api).state.packages.blobs.iter_keys()]


def signed_in(client: Any, role: str = "admin", owner: str = "tester") -> Any:
    """A started TestClient that now sends a token of ``role`` with every request."""
    from support.auth import bearer, issue

    client.headers.update(bearer(issue(client.app, role, owner)))
    return client


def upload_files(**named: str | bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    """``files=`` for an upload: each name with its text (or bytes)."""
    return [
        ("files", (name, data.encode() if isinstance(data, str) else data, "text/plain"))
        for name, data in named.items()
    ]
