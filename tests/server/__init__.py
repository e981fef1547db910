"""The service's tests; what several of them share."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def wait_for_status(api: httpx.AsyncClient, task_id: str, *statuses: str) -> dict[str, Any]:
    """The task's document once its status is one of ``statuses`` (30 s at most)."""
    for _ in range(600):
        doc = (await api.get(f"/api/tasks/{task_id}")).json()
        if doc["status"] in statuses:
            return doc  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} stuck in {doc['status']}")
