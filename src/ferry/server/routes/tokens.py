"""``/api/tokens``: the admin's view of ``ferry token`` (create, list, revoke), and
``/api/tokens/me``, every token's view of itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import Response

from ferry.auth.principal import Quotas
from ferry.auth.roles import Role
from ferry.auth.tokens import parse_duration
from ferry.db.tokens import TokenRepository
from ferry.server.deps import Admin, Audit, Manager, Reader, client_address, router
from ferry.server.problems import errors
from ferry.server.schemas import TokenCreate, TokenCreated, TokenInfo, TokenList, TokenSelf
from ferry.services.tokens import Actor, create_token, revoke_token

tokens = router(prefix="/api/tokens", tags=["tokens"], responses=errors(401, 403))


def _repo(request: Request) -> TokenRepository:
    return request.app.state.tokens  # type: ignore[no-any-return]


@tokens.post("", status_code=201, responses=errors(400, 422))
async def create(
    request: Request, m: Manager, body: TokenCreate, who: Admin, audit: Audit
) -> TokenCreated:
    """A new token, shown in this answer only."""
    lifetime = parse_duration(body.expires) if body.expires else None
    quotas = Quotas(body.max_active_tasks, body.max_tasks_per_hour, body.max_disk_bytes)
    actor = Actor(who.owner, who.token_id, client_address(request))
    issued = await m.db.write(
        lambda: create_token(
            _repo(request),
            audit,
            actor,
            name=body.name,
            role=Role(body.role),
            owner=body.owner,
            lifetime=lifetime,
            quotas=quotas,
        )
    )
    return TokenCreated.model_validate({**issued.record.to_dict(), "token": issued.token})


@tokens.get("")
async def list_tokens(
    request: Request,
    m: Manager,
    who: Admin,
    revoked: Annotated[bool, Query(description="Include revoked tokens.")] = False,
) -> TokenList:
    records = await m.db(lambda: _repo(request).list(include_revoked=revoked))
    return TokenList(tokens=[TokenInfo.model_validate(r.to_dict()) for r in records])


@tokens.get("/me")
async def who_am_i(who: Reader) -> TokenSelf:
    """The token this request came with: its name, owner and role (never the token)."""
    return TokenSelf(id=who.token_id, name=who.name, owner=who.owner, role=who.role.value)


@tokens.delete("/{token_id}", status_code=204, response_model=None, responses=errors(404, 422))
async def revoke(
    request: Request,
    m: Manager,
    who: Admin,
    audit: Audit,
    token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
) -> Response:
    """Revoke a token: it stops working at once on this server."""
    actor = Actor(who.owner, who.token_id, client_address(request))
    record = await m.db.write(revoke_token, _repo(request), audit, actor, token_id)
    request.app.state.auth.forget(record.id)
    return Response(status_code=204)
