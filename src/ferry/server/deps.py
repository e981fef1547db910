"""What routes depend on, as ``Annotated`` aliases: the task manager, the principal a
request acts for (the one place tokens are checked), and a task id from the path. All
``async def``: FastAPI runs a plain ``def`` dependency in a thread, a hand-off per request
that cost more than the work itself.

Every router is built with ``dependencies=[Depends(authenticated)]`` (see ``routers``), so a
new route cannot forget authentication; routes that need more than reading ask for
``Writer`` or ``Admin``. The principal is looked up once per request (FastAPI caches the
``authenticated`` dependency for every alias that builds on it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ferry.auth.authenticator import Authenticator
from ferry.auth.principal import LOCAL_ADMIN, Principal
from ferry.auth.roles import Role
from ferry.db.audit import AuditLog
from ferry.db.repository import TaskNotFound, is_task_id
from ferry.errors import Hint, NotAllowed, NotAuthenticated
from ferry.tasks.manager import TaskManager

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `ferry token create` (or the admin token printed at the "
    "first start), sent as `Authorization: Bearer <token>`.",
)


async def get_manager(request: Request) -> TaskManager:
    return request.app.state.manager  # type: ignore[no-any-return]


async def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit  # type: ignore[no-any-return]


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if request.app.state.settings.no_auth:
        return LOCAL_ADMIN
    if credentials is None:
        raise NotAuthenticated(
            params={},
            hint=Hint("send-token"),
        )
    auth: Authenticator = request.app.state.auth
    principal = await auth.authenticate(credentials.credentials)
    if principal is None:
        raise NotAuthenticated(
            params={"token": "refused"},
            hint=Hint("new-token"),
        )
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.role.allows(role):
            raise NotAllowed(params={"role": role, "has": principal.role})
        return principal

    check.__name__ = f"require_{role}"
    return check


def router(**kwargs: object) -> APIRouter:
    """An APIRouter whose every route needs a valid token (at least the read role)."""
    return APIRouter(dependencies=[Depends(authenticated)], **kwargs)  # type: ignore[arg-type]


Manager = Annotated[TaskManager, Depends(get_manager)]
Audit = Annotated[AuditLog, Depends(get_audit)]
Reader = Annotated[Principal, Depends(require(Role.READ))]
Writer = Annotated[Principal, Depends(require(Role.WRITE))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


async def task_id_param(
    task_id: Annotated[str, PathParam(description="32 lowercase hex digits (anything else: 404).")],
) -> str:
    """A task id from the path, checked before it reaches a query or a directory name:
    anything Ferry could not have made is no such task."""
    if not is_task_id(task_id):
        raise TaskNotFound(task_id[:64])
    return task_id


TaskId = Annotated[str, Depends(task_id_param)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None
