"""Token use cases shared by ``ferry token`` (on a data directory) and the admin API:
create (the token is returned once and never stored), list, revoke. Each is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ferry.auth.principal import Quotas
from ferry.auth.roles import Role
from ferry.auth.tokens import check_name, hash_token, new_token
from ferry.db.audit import AuditLog
from ferry.db.repository import utcnow
from ferry.db.tokens import TokenNotFound, TokenRecord, TokenRepository
from ferry.errors import Hint, UsageError


@dataclass(frozen=True)
class Actor:
    """Who is doing it, for the audit log."""

    name: str
    token_id: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, to the one who asked
    record: TokenRecord


def create_token(
    tokens: TokenRepository,
    audit: AuditLog,
    actor: Actor,
    *,
    name: str,
    role: Role,
    owner: str | None = None,
    lifetime: timedelta | None = None,
    quotas: Quotas | None = None,
) -> IssuedToken:
    check_name("name", name)
    owner = check_name("owner", owner) if owner else name
    token = new_token()
    record = tokens.create(
        name=name,
        owner=owner,
        role=role,
        token_hash=hash_token(token),
        created_by=actor.name,
        expires_at=utcnow() + lifetime if lifetime else None,
        quotas=quotas,
    )
    audit.record(
        "token.create",
        actor=actor.name,
        token_id=actor.token_id,
        target=record.id,
        address=actor.address,
        detail={"name": name, "owner": owner, "role": str(role)},
    )
    return IssuedToken(token, record)


def revoke_token(
    tokens: TokenRepository, audit: AuditLog, actor: Actor, id_or_name: str
) -> TokenRecord:
    """Revoke by id, or by name when exactly one unrevoked token has it."""
    found = tokens.find(id_or_name)
    if not found:
        raise TokenNotFound(
            f"no unrevoked token with id or name {id_or_name!r}",
            hint=Hint("token-list"),
        )
    if len(found) > 1:
        ids = ", ".join(t.id for t in found)
        raise UsageError(
            f"{len(found)} tokens are named {id_or_name!r} ({ids})", hint=Hint("token-revoke-by-id")
        )
    record = tokens.revoke(found[0].id)
    audit.record(
        "token.revoke",
        actor=actor.name,
        token_id=actor.token_id,
        target=record.id,
        address=actor.address,
        detail={"name": record.name, "owner": record.owner},
    )
    return record
