"""Per-token quotas: tasks queued or at work, tasks created per hour, archive bytes kept.

A token's own limits (``ferry token create --max-…``) win over the service's defaults
(``token_max_*`` settings). An admin token is bound by its own limits only.
"""

from __future__ import annotations

from datetime import timedelta

from ferry.auth.principal import Principal
from ferry.db.audit import AuditLog
from ferry.db.repository import TaskRepository, utcnow
from ferry.db.threads import DbThreads
from ferry.errors import Hint, QuotaExceeded
from ferry.settings import Settings

CREATE_ACTION = "task.create"


def _limit(own: int | None, default: int | None, admin: bool) -> int | None:
    return own if own is not None else (None if admin else default)


async def check_can_start(
    principal: Principal,
    repo: TaskRepository,
    settings: Settings,
    db: DbThreads,
    *,
    starting: int = 1,
) -> None:
    """Refuse more work when the token already has its fill queued or under way, or keeps
    its fill of archives."""
    if principal.token_id is None:
        return
    q = principal.quotas
    active_limit = _limit(q.max_active_tasks, settings.token_max_active_tasks, principal.is_admin)
    disk_limit = _limit(q.max_disk_bytes, settings.token_max_disk_bytes, principal.is_admin)
    if active_limit is None and disk_limit is None:
        return
    active, disk = await db(repo.usage, principal.token_id)
    if active_limit is not None and active + starting > active_limit:
        raise QuotaExceeded(
            params={"active": active, "limit": active_limit},
            hint=Hint("quota-active"),
        )
    if disk_limit is not None and disk >= disk_limit:
        raise QuotaExceeded(
            params={"disk": disk, "limit": disk_limit},
            hint=Hint("quota-disk"),
        )


async def check_can_create(
    principal: Principal,
    repo: TaskRepository,
    audit: AuditLog,
    settings: Settings,
    db: DbThreads,
) -> None:
    await check_can_start(principal, repo, settings, db)
    if principal.token_id is None:
        return
    q = principal.quotas
    hourly = _limit(q.max_tasks_per_hour, settings.token_max_tasks_per_hour, principal.is_admin)
    if hourly is None:
        return
    since = utcnow() - timedelta(hours=1)
    made = await db(audit.count_since, CREATE_ACTION, principal.token_id, since)
    if made >= hourly:
        error = QuotaExceeded(
            params={"made": made, "limit": hourly},
            hint=Hint("quota-hourly"),
        )
        error.headers = {"Retry-After": "600"}
        raise error
