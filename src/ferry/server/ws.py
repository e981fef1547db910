"""`/ws/tasks/{task_id}`: a task's live events, one JSON text frame per TaskEvent.

A watcher first gets the task's snapshot (status, latest progress per ecosystem, recent
log lines), then every event as it happens, until it disconnects. Messages the client
sends are read (that is how a disconnect is noticed while the task is quiet) and
ignored. Keepalive is left to the server's websocket pings (uvicorn's
``--ws-ping-interval``), which proxies and browsers understand without our help.

Close codes: 4404 unknown task (after an error event), 1013 the watcher fell too far
behind (after an error event: reconnect), 1000 the task was deleted, 1001 shutdown,
1011 something went wrong on this side.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from ferry.tasks.events import EventHub, Subscription, TaskEvent

__all__ = ["CLOSE_OVERLOADED", "CLOSE_UNKNOWN_TASK", "add_websocket_routes"]

log = logging.getLogger(__name__)

CLOSE_UNKNOWN_TASK = 4404
CLOSE_OVERLOADED = 1013  # RFC 6455 "try again later"

# Sending to a client that has gone away fails differently per server: starlette raises
# WebSocketDisconnect or RuntimeError, uvicorn's ClientDisconnected is an OSError.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


def add_websocket_routes(
    app: FastAPI,
    hub_getter: Callable[[WebSocket], EventHub],
    exists: Callable[[str], Awaitable[bool]],
) -> None:
    """Register ``/ws/tasks/{task_id}`` on ``app``.

    ``hub_getter`` finds the hub at connection time (it lives in ``app.state``, made in
    the lifespan); ``exists`` tells whether a task id is known.
    """

    @app.websocket("/ws/tasks/{task_id}")
    async def task_events(websocket: WebSocket, task_id: str) -> None:
        # Accept before refusing: a close during the handshake reaches a browser as a
        # bare 403, with neither the code nor the reason.
        await websocket.accept()
        try:
            known = await exists(task_id)
        except Exception:
            log.exception("looking up task %s for a websocket failed", task_id)
            await _refuse(websocket, "the task could not be looked up", 1011, "internal error")
            return
        if not known:
            await _refuse(websocket, f"no task {task_id}", CLOSE_UNKNOWN_TASK, "task not found")
            return
        async with hub_getter(websocket).subscribe(task_id) as sub:
            if await _stream(websocket, sub):
                await _close_after(websocket, sub)


async def _refuse(websocket: WebSocket, message: str, code: int, reason: str) -> None:
    with contextlib.suppress(*_GONE):
        await websocket.send_text(TaskEvent.error(message).to_json())
        await websocket.close(code=code, reason=reason)


async def _stream(websocket: WebSocket, sub: Subscription) -> bool:
    """Send ``sub``'s events until the client leaves (False) or the hub ends the
    subscription (True)."""
    ended = False

    # An anyio task group, not asyncio.create_task + wait: starlette runs the endpoint
    # under anyio cancel scopes, and with bare asyncio tasks a cancellation arriving
    # as the client left (the TestClient's close does this) sometimes escaped the
    # scope as a CancelledError instead of ending the connection quietly.
    async with anyio.create_task_group() as group:

        async def send() -> None:
            nonlocal ended
            ended = await _send_events(websocket, sub)
            group.cancel_scope.cancel()

        async def receive() -> None:
            await _wait_for_disconnect(websocket)
            group.cancel_scope.cancel()

        group.start_soon(send)
        group.start_soon(receive)
    return ended


async def _close_after(websocket: WebSocket, sub: Subscription) -> None:
    if sub.overflowed:
        code, reason = CLOSE_OVERLOADED, "too far behind"
    elif sub.end_reason == "hub closed":
        code, reason = 1001, "server shutting down"
    elif sub.end_reason == "forgotten":
        code, reason = 1000, "task deleted"
    else:
        code, reason = 1011, "internal error"
    with contextlib.suppress(*_GONE):
        await websocket.close(code=code, reason=reason)


async def _send_events(websocket: WebSocket, sub: Subscription) -> bool:
    try:
        async for event in sub:
            await websocket.send_text(event.to_json())
    except _GONE:
        return False
    except Exception:
        # a bug must end this one connection, not surface as an exception group
        log.exception("streaming events of task %s failed", sub.task_id)
        return False
    return True


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except _GONE:
        return
