"""`/ws/tasks/{task_id}`: a task's live events, one JSON text frame per TaskEvent.

Who is watching is checked first, without the token ever being put in a URL (where
proxies and logs keep it): a client that can set headers sends ``Authorization: Bearer``
with the handshake; a browser, which cannot, sends ``{"type": "auth", "token": "…"}`` as
its first message, within 10 seconds. A task of another owner is an unknown task.

A watcher then gets the task's snapshot (status, latest progress per ecosystem, recent
log lines, the final error or completion; after a restart, rebuilt from the database),
then every event as it happens. The socket is closed once the task is completed or
cancelled, after the last event. Messages the client sends later are read (that is how a
disconnect is noticed while the task is quiet) and ignored. Keepalive is left to the
server's websocket pings (uvicorn's ``--ws-ping-interval``).

Close codes: 4401 not authenticated, 4404 unknown task (each after an error event), 1013
the watcher fell too far behind (after an error event: reconnect), 1000 the task was
completed, cancelled or deleted, 1001 shutdown, 1011 something went wrong on this side.
"""

from __future__ import annotations

import contextlib
import json
import logging

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from ferry.auth.authenticator import Authenticator
from ferry.auth.principal import LOCAL_ADMIN, Principal
from ferry.db.repository import TaskRecord, is_task_id
from ferry.states import FINISHED, TaskStatus
from ferry.tasks.events import EventHub, Subscription, TaskEvent
from ferry.tasks.manager import TaskManager

__all__ = [
    "CLOSE_NOT_AUTHENTICATED",
    "CLOSE_OVERLOADED",
    "CLOSE_UNKNOWN_TASK",
    "add_websocket_routes",
]

log = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_UNKNOWN_TASK = 4404
CLOSE_OVERLOADED = 1013  # RFC 6455 "try again later"
AUTH_TIMEOUT = 10.0
# once a task is here it never changes again: its watchers are done
_OVER = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED})

# Sending to a client that has gone away fails differently per server: starlette raises
# WebSocketDisconnect or RuntimeError, uvicorn's ClientDisconnected is an OSError.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


def add_websocket_routes(app: FastAPI) -> None:
    """Register ``/ws/tasks/{task_id}`` on ``app`` (its hub, manager and authenticator
    live in ``app.state``, made in the lifespan)."""

    @app.websocket("/ws/tasks/{task_id}")
    async def task_events(websocket: WebSocket, task_id: str) -> None:
        # Accept before refusing: a close during the handshake reaches a browser as a
        # bare 403, with neither the code nor the reason.
        await websocket.accept()
        state = websocket.app.state
        try:
            who = await _authenticate(websocket, state.auth, state.settings.no_auth)
            if who is None:
                await _refuse(
                    websocket,
                    ("socket-unauthenticated", {}),
                    CLOSE_NOT_AUTHENTICATED,
                    "unauthorized",
                )
                return
            record = await _visible(state.manager, who, task_id)
        except Exception:
            log.exception("opening a websocket for task %s failed", task_id[:64])
            await _refuse(websocket, ("socket-lookup-failed", {}), 1011, "internal error")
            return
        if record is None:
            await _refuse(
                websocket,
                ("task-not-found", {"task_id": task_id[:64]}),
                CLOSE_UNKNOWN_TASK,
                "task not found",
            )
            return
        hub: EventHub = state.hub
        hub.seed(record.id, _snapshot_of(record))
        async with hub.subscribe(record.id) as sub:
            if await _stream(websocket, sub):
                await _close_after(websocket, sub)


async def _authenticate(
    websocket: WebSocket, auth: Authenticator, no_auth: bool
) -> Principal | None:
    if no_auth:
        return LOCAL_ADMIN
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        try:
            with anyio.fail_after(AUTH_TIMEOUT):
                first = await websocket.receive_text()
            message = json.loads(first)
        except (TimeoutError, ValueError, KeyError, RuntimeError, WebSocketDisconnect):
            return None
        if not isinstance(message, dict) or message.get("type") != "auth":
            return None
        scheme, token = "bearer", str(message.get("token", ""))
    if scheme.lower() != "bearer" or not token:
        return None
    return await auth.authenticate(token.strip())


async def _visible(manager: TaskManager, who: Principal, task_id: str) -> TaskRecord | None:
    if not is_task_id(task_id):
        return None
    record = await manager.db(manager.repo.get, task_id, with_dependencies=False)
    if record is None or not who.may_see(record.owner):
        return None
    return record


def _snapshot_of(record: TaskRecord) -> list[TaskEvent]:
    """What the hub is told about a task it has not heard of since this process started
    (a restart, or another replica did the work): its status, stored progress, and the
    final completion or error."""
    events = [TaskEvent.status_changed(record.status)]
    for ecosystem, counts in (record.progress or {}).items():
        if isinstance(counts, dict):
            events.append(
                TaskEvent(
                    type="progress",
                    ecosystem=ecosystem,
                    current=int(counts.get("completed", 0)) + int(counts.get("failed", 0)),
                    total=counts.get("total"),
                    bytes_done=counts.get("bytes_done"),
                    bytes_total=counts.get("bytes_total"),
                )
            )
    if record.status == TaskStatus.COMPLETED:
        events.append(
            TaskEvent.complete(code="archive-written", params={"size": record.archive_size})
        )
    elif record.status in FINISHED and record.error:
        error = record.error
        message = str(error.get("message", record.status))
        params = error.get("params")
        if isinstance(params, dict) and isinstance(error.get("code"), str):
            events.append(TaskEvent.error(message, code=error["code"], params=params))
        else:
            # stored before errors kept their params: the message alone
            events.append(TaskEvent.error(message))
    return events


async def _refuse(
    websocket: WebSocket,
    said: tuple[str, dict[str, object | None]],
    code: int,
    reason: str,
) -> None:
    """``said``: the error event's code and params (ferry.texts.ERRORS)."""
    with contextlib.suppress(*_GONE):
        event = TaskEvent.error(code=said[0], params=said[1])
        await websocket.send_text(event.to_json())
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
    if sub.end_reason == "over":
        code, reason = 1000, "task finished"
    elif sub.overflowed:
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
    over = False
    try:
        async for event in sub:
            await websocket.send_text(event.to_json())
            if event.type == "complete" or (
                event.type == "status" and event.status == TaskStatus.CANCELLED
            ):
                over = True
            elif event.type == "status" and event.status not in _OVER:
                over = False  # not over after all (a snapshot of a task that went on)
            if over and sub.pending() == 0:
                sub.close()
                sub.end_reason = "over"
                return True
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
