"""Bearer tokens in the database: the only code that reads or writes ``api_tokens``.

Synchronous like the task repository (the service calls it through ``asyncio.to_thread``);
every method is one transaction and returns frozen records. The token itself never
reaches this module: callers hash it first (``ferry.auth.tokens.hash_token``).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from ferry.auth.principal import Principal, Quotas
from ferry.auth.roles import Role
from ferry.auth.tokens import new_token_id
from ferry.db.models import ApiToken
from ferry.db.repository import utcnow
from ferry.errors import ExitCode, FerryError


class TokenNotFound(FerryError):
    code = "token-not-found"
    exit_code = ExitCode.USAGE
    http_status = 404


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    owner: str
    role: Role
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    quotas: Quotas

    @classmethod
    def of(cls, row: ApiToken) -> TokenRecord:
        return cls(
            id=row.id,
            name=row.name,
            owner=row.owner,
            role=Role(row.role),
            created_at=row.created_at,
            created_by=row.created_by,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            quotas=Quotas(row.max_active_tasks, row.max_tasks_per_hour, row.max_disk_bytes),
        )

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def principal(self) -> Principal:
        return Principal(self.id, self.name, self.owner, self.role, self.quotas)

    def to_dict(self) -> dict[str, object]:
        """What lists show: everything but the hash (the token itself was never kept)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "role": str(self.role),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "last_used_at": iso(self.last_used_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "max_active_tasks": self.quotas.max_active_tasks,
            "max_tasks_per_hour": self.quotas.max_tasks_per_hour,
            "max_disk_bytes": self.quotas.max_disk_bytes,
        }


class TokenRepository:
    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def create(
        self,
        *,
        name: str,
        owner: str,
        role: Role,
        token_hash: str,
        created_by: str,
        expires_at: datetime | None = None,
        quotas: Quotas | None = None,
    ) -> TokenRecord:
        quotas = quotas or Quotas(None, None, None)
        row = ApiToken(
            id=new_token_id(),
            name=name,
            owner=owner,
            role=str(role),
            token_hash=token_hash,
            created_at=self._clock(),
            created_by=created_by,
            expires_at=expires_at,
            max_active_tasks=quotas.max_active_tasks,
            max_tasks_per_hour=quotas.max_tasks_per_hour,
            max_disk_bytes=quotas.max_disk_bytes,
        )
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return TokenRecord.of(row)

    def by_hash(self, token_hash: str) -> TokenRecord | None:
        with self._sessions() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
            return None if row is None else TokenRecord.of(row)

    def get(self, token_id: str) -> TokenRecord | None:
        with self._sessions() as session:
            row = session.get(ApiToken, token_id)
            return None if row is None else TokenRecord.of(row)

    def list(self, *, include_revoked: bool = False) -> builtins.list[TokenRecord]:
        query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        with self._sessions() as session:
            return [TokenRecord.of(r) for r in session.scalars(query)]

    def find(self, id_or_name: str) -> builtins.list[TokenRecord]:
        """Unrevoked tokens whose id or name is ``id_or_name`` (names need not be unique)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ApiToken)
                .where(
                    ApiToken.revoked_at.is_(None),
                    (ApiToken.id == id_or_name) | (ApiToken.name == id_or_name),
                )
                .order_by(ApiToken.created_at)
            )
            return [TokenRecord.of(r) for r in rows]

    def revoke(self, token_id: str) -> TokenRecord:
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise TokenNotFound(params={"token": token_id})
            if row.revoked_at is None:
                row.revoked_at = now
            session.flush()
            return TokenRecord.of(row)

    def touch(self, token_id: str, at: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id)
                .values(last_used_at=at)
                .execution_options(synchronize_session=False)
            )

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(ApiToken)) or 0
