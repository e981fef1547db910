"""The audit log: who created, controlled or deleted what, and every token issued or
revoked, with time and address. Append-only from the service's side.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ferry.db.models import AuditEvent
from ferry.db.repository import utcnow


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    token_id: str | None
    action: str
    target: str | None
    address: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: AuditEvent) -> AuditRecord:
        return cls(
            row.id,
            row.at,
            row.actor,
            row.token_id,
            row.action,
            row.target,
            row.address,
            row.detail or {},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "token_id": self.token_id,
            "action": self.action,
            "target": self.target,
            "address": self.address,
            "detail": self.detail,
        }


class AuditLog:
    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def record(
        self,
        action: str,
        *,
        actor: str,
        token_id: str | None,
        target: str | None = None,
        address: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._sessions.begin() as session:
            session.add(
                AuditEvent(
                    at=self._clock(),
                    actor=actor[:100],
                    token_id=token_id,
                    action=action,
                    target=target[:100] if target else None,
                    address=address[:64] if address else None,
                    detail=detail or {},
                )
            )

    def list(
        self,
        page: int = 1,
        size: int = 50,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
    ) -> tuple[builtins.list[AuditRecord], int]:
        """Page ``page`` of the log, newest first, and how many entries match."""
        where = []
        if actor is not None:
            where.append(AuditEvent.actor == actor)
        if action is not None:
            where.append(AuditEvent.action == action)
        if target is not None:
            where.append(AuditEvent.target == target)
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
            rows = session.scalars(
                select(AuditEvent)
                .where(*where)
                .order_by(AuditEvent.id.desc())
                .offset((page - 1) * size)
                .limit(size)
            )
            return [AuditRecord.of(r) for r in rows], total

    def count_since(self, action: str, token_id: str, since: datetime) -> int:
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(
                        AuditEvent.action == action,
                        AuditEvent.token_id == token_id,
                        AuditEvent.at >= since,
                    )
                )
                or 0
            )
