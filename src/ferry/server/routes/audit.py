"""``/api/audit``: who did what, newest first (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ferry.server.deps import Admin, Audit, Manager, router
from ferry.server.problems import errors
from ferry.server.schemas import AuditEntry, AuditPage

audit = router(prefix="/api/audit", tags=["audit"], responses=errors(401, 403))


@audit.get("")
async def audit_log(
    m: Manager,
    who: Admin,
    log: Audit,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
) -> AuditPage:
    entries, total = await m.db(
        lambda: log.list(page, size, actor=actor, action=action, target=target)
    )
    return AuditPage(
        entries=[AuditEntry.model_validate(e.to_dict()) for e in entries],
        total=total,
        page=page,
        size=size,
    )
